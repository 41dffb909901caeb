"""Polar PMD: data frames and control-point packets against the byte vectors of Polar's own SDK tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anyppg.firmware_bridge.errors import (
    FieldRangeError,
    FrameLengthError,
    PmdCommandError,
    UnknownFrameTypeError,
)
from anyppg.firmware_bridge.polar import (
    POLAR_EPOCH_UNIX_NS,
    PmdCommand,
    PmdDataFrame,
    PmdError,
    PmdMeasurementType,
    PmdOpCode,
    PmdResponse,
    PmdSetting,
    PmdStreamEncoder,
    decode_settings,
    encode_settings,
    polar_to_unix_ns,
)

# The vectors below are the frames of polarofficial/polar-ble-sdk's Android unit tests
# (PpgDataTest.kt, EcgDataTest.kt, AccDataTest.kt, PmdSettingTest.kt,
# BlePmdClientControlPointResponseTest.kt) with the values those tests expect.
HEADER_2E9 = "00943577 00000000"  # timestamp 2,000,000,000 ns after the Polar epoch
PPG_RAW_TYPE0 = "01" + HEADER_2E9 + "00" + "010203 040506 ffff7f 000000 ffffff 0fefef 000080 0fefef"
PPG_COMPRESSED_TYPE0 = (
    "01"
    + HEADER_2E9
    + "80"
    + (
        "2C2D00 C27700 D3D2FF 3D88FF 0A29"
        "B2F0EE3411B2ECEE7411B1E8FEB411B1E8FEB411B1E0FE3412B0DC0E7512B0D80EB512AFD41EF512AFD01E3513AECC2E75"
        "13AEC82EB513ADC43EF513ADBC3E7514ADBC3E7514ACB84EB514ACB44EF514ABB05E3515AAAC6E7515AAA86EB515AAA46E"
        "F515A9A07E3516A99C7E7516A8988EB516A7949EF516A7909E3517A78C9E7517A688AEB517A588BEB517A580BE3518A47C"
        "CE7518A478CEB518A378DEB518A270EE3519A26CEE7519A26CEE7519A168FEB519A0600E361A9F601E361A9F5C1E761A9F"
        "581EB61A9D543EF61A"
    )
)
ECG_RAW_TYPE0 = "00" + HEADER_2E9 + "00" + "0280FF 028000"
ACC_RAW_TYPE1_PREFIX = "02" + HEADER_2E9 + "01" + "F7FF FFFF E703 F8FF FEFF E503"
ACC_COMPRESSED_TYPE0 = (
    "02"
    + HEADER_2E9
    + "80"
    + (
        "7107 F06A 9E8D 0A38"
        "BE5CBEBA2F96B3EE4BE5ADFB42B9EBBE4CFEBA2F92BFEE4BE4B1FB12B9ECBD3C3EBB2F8FD3DE4BE3B5F7D2B8EDBD307E7B"
        "2F8BE3CE8BE2BAF7A2B8EEBC20BE7B2F88F3CECBE1BDEF52F8EFBC18FE3B2F8403BFCBE0C2EF32B8F0BB044EBC2E8113AF"
        "0BE0C6EFF2F7F1B9FC7DBC2E7D279F4BDFCAEBC2F7F2B8ECCD7C2E7B378F4BDECEE392F7F3B8E00DFD2D774B7FCBDDD2DF"
        "6237F5B7D44DBD2D745B6FCBDCD7D73237F6B5C88D7D2D716B4F4BDCDCD3F236F7B4BCDDFD2C6F7B3F4BDBE0CFD236F8B2"
        "B02DBE2C6C8F1FCBDAE3C7A276F9"
    )
)


def frame(hex_: str) -> PmdDataFrame:
    return PmdDataFrame.from_bytes(bytes.fromhex(hex_))


def test_raw_ppg_type0():
    f = frame(PPG_RAW_TYPE0)
    assert f.measurement_type is PmdMeasurementType.PPG and f.frame_type == 0 and not f.compressed
    assert f.timestamp_ns == 2_000_000_000
    assert f.samples.tolist() == [[197121, 394500, 8388607, 0], [-1, -1052913, -8388608, -1052913]]
    assert bytes(f) == bytes.fromhex(PPG_RAW_TYPE0)


def test_compressed_ppg_type0_reads_deltas_lsb_first():
    f = frame(PPG_COMPRESSED_TYPE0)
    assert f.compressed and f.frame_type == 0 and f.timestamp_ns == 2_000_000_000
    assert f.samples.shape == (1 + 41, 4)  # reference sample + one block of 41 deltas
    assert f.samples[0].tolist() == [11564, 30658, -11565, -30659]
    assert (f.samples[1] - f.samples[0]).tolist() == [178, -68, -178, 68]  # MSB-first would give -309
    # re-encoding picks its own (narrower) delta width; the samples survive exactly
    again = PmdDataFrame.from_bytes(bytes(f))
    assert again == f and len(bytes(f)) <= len(bytes.fromhex(PPG_COMPRESSED_TYPE0))


def test_raw_ecg_type0_in_microvolts():
    f = frame(ECG_RAW_TYPE0)
    assert f.measurement_type is PmdMeasurementType.ECG
    assert f.samples[:, 0].tolist() == [-32766, 32770]


def test_raw_acc_type1():
    f = frame(ACC_RAW_TYPE1_PREFIX)
    assert f.samples.tolist() == [[-9, -1, 999], [-8, -2, 997]]


def test_compressed_acc_type0():
    f = frame(ACC_COMPRESSED_TYPE0)
    assert f.samples.shape == (1 + 56, 3)
    assert f.samples[0].tolist() == [1905, 27376, -29282]
    assert (f.samples[1] - f.samples[0]).tolist() == [190, -105, -85]
    factor = 2.44e-4  # the stream's FACTOR setting: counts to g; Polar's test bounds |acc| <= 8 g
    assert np.all(np.abs(f.samples * factor) <= 8)


def test_timestamps_belong_to_the_last_sample():
    f = frame(PPG_COMPRESSED_TYPE0)
    times = f.sample_times_ns(previous_timestamp_ns=100)
    assert times[-1] == 2_000_000_000
    assert times[0] == pytest.approx(100 + (2_000_000_000 - 100) / 42)  # Polar's deltaFromTimeStamps
    first = f.sample_times_ns(sample_rate_hz=55.0)  # no previous frame: nominal rate backwards
    assert first[-1] == 2_000_000_000
    assert np.allclose(np.diff(first), 1e9 / 55)
    with pytest.raises(FieldRangeError, match="sample_rate_hz"):
        f.sample_times_ns()


def test_polar_epoch():
    assert POLAR_EPOCH_UNIX_NS == 946_684_800_000_000_000  # 2000-01-01T00:00:00Z
    assert polar_to_unix_ns(0) == POLAR_EPOCH_UNIX_NS


# --- bad input --------------------------------------------------------------------------------------


def test_unknown_frame_types_are_named():
    raw = bytearray.fromhex(PPG_RAW_TYPE0)
    raw[9] = 0x05
    with pytest.raises(UnknownFrameTypeError) as info:
        PmdDataFrame.from_bytes(raw)
    assert info.value.frame_type == 5 and "PPG raw frame type 5" in str(info.value)
    assert 0 in info.value.known and 0x80 in info.value.known
    raw[0] = 0x07
    with pytest.raises(UnknownFrameTypeError, match="PMD measurement type 7"):
        PmdDataFrame.from_bytes(raw)


def test_truncated_frames_are_typed():
    with pytest.raises(FrameLengthError):
        PmdDataFrame.from_bytes(bytes.fromhex(PPG_RAW_TYPE0)[:-1])
    with pytest.raises(FrameLengthError, match="delta block"):
        PmdDataFrame.from_bytes(bytes.fromhex(PPG_COMPRESSED_TYPE0)[:-3])
    with pytest.raises(FrameLengthError):
        PmdDataFrame.from_bytes(bytes.fromhex(PPG_COMPRESSED_TYPE0)[:15])
    with pytest.raises(FrameLengthError):
        PmdDataFrame.from_bytes(b"\x01\x00")
    bad_width = bytearray.fromhex(PPG_COMPRESSED_TYPE0)
    bad_width[22] = 40
    with pytest.raises(FieldRangeError, match="bit width"):
        PmdDataFrame.from_bytes(bad_width)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=120))
def test_random_bytes_raise_only_protocol_errors(data):
    try:
        f = PmdDataFrame.from_bytes(data)
    except (FrameLengthError, FieldRangeError, UnknownFrameTypeError):
        return
    assert PmdDataFrame.from_bytes(bytes(f)).samples.shape == f.samples.shape


# --- the encoder the emulator uses -------------------------------------------------------------------


def ppg_like(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 55
    pulse = (20000 * np.sin(2 * np.pi * 1.2 * t))[:, None]
    base = np.array([[300_000, 310_000, 305_000, -1000]])
    return (base + pulse * np.array([1, 0.9, 1.1, 0.0]) + rng.normal(0, 50, (n, 4))).astype(np.int64)


@pytest.mark.parametrize("rate", [55.0, 135.0])
def test_verity_style_compressed_stream(rate):
    samples = ppg_like(600, int(rate))
    enc = PmdStreamEncoder(PmdMeasurementType.PPG, 0, True, rate, mtu=232)
    t0 = 123_456_789_000
    frames = enc.encode(samples, first_sample_ns=t0)
    assert all(len(f) <= 229 for f in frames)
    decoded = [PmdDataFrame.from_bytes(f) for f in frames]
    assert all(f.compressed for f in decoded)
    np.testing.assert_array_equal(np.concatenate([f.samples for f in decoded]), samples)
    # the per-sample times rebuilt the Polar way land on the nominal grid
    times, prev = [], None
    for f in decoded:
        times.append(f.sample_times_ns(previous_timestamp_ns=prev, sample_rate_hz=rate))
        prev = f.timestamp_ns
    np.testing.assert_allclose(np.concatenate(times), t0 + np.arange(600) * 1e9 / rate, atol=1.0)
    assert len(frames) < 600 * 12 / 219  # compression beats raw int24 frames


def test_raw_stream_and_mtu_floor():
    enc = PmdStreamEncoder(PmdMeasurementType.ECG, 0, False, 130.0, mtu=100)
    frames = enc.encode(np.arange(-100, 100).reshape(-1, 1), first_sample_ns=0)
    assert [len(f) for f in frames] == [10 + 29 * 3] * 6 + [10 + 26 * 3]
    with pytest.raises(FieldRangeError, match="mtu"):
        PmdStreamEncoder(PmdMeasurementType.PPG, 0, False, 55.0, mtu=23)


def test_constructor_range_checks():
    with pytest.raises(FieldRangeError, match="samples"):
        PmdDataFrame(PmdMeasurementType.PPG, 0, 0, True, np.full((2, 4), 1 << 22))
    with pytest.raises(FieldRangeError, match="shape"):
        PmdDataFrame(PmdMeasurementType.PPG, 0, 0, False, np.zeros((2, 3), dtype=int))
    with pytest.raises(UnknownFrameTypeError):
        PmdDataFrame(PmdMeasurementType.PPI, 0, 0, False, np.zeros((1, 1), dtype=int))


# --- control point ----------------------------------------------------------------------------------


def test_start_ecg_request_matches_the_well_known_h10_bytes():
    # "02 00 00 01 82 00 01 01 0E 00": start ECG, sample rate 130 Hz, resolution 14 bits
    cmd = PmdCommand.start(PmdMeasurementType.ECG, sample_rate=130, resolution=14)
    assert bytes(cmd).hex() == "02000001820001010e00"
    assert PmdCommand.from_bytes(bytes(cmd)) == cmd


def test_verity_ppg_start_and_stop():
    cmd = PmdCommand.start(PmdMeasurementType.PPG, sample_rate=55, resolution=22, channels=4)
    assert bytes(cmd).hex() == "0201" "00013700" "01011600" "040104"  # fmt: skip
    assert bytes(PmdCommand.stop(PmdMeasurementType.PPG)) == b"\x03\x01"
    assert bytes(PmdCommand.get_settings(PmdMeasurementType.ACC)) == b"\x01\x02"


def test_sdk_mode_commands_are_start_and_stop_of_measurement_type_9():
    # as Polar documents them (polar-ble-sdk #438): enable [0x02, 0x09], disable [0x03, 0x09]
    assert bytes(PmdCommand.enable_sdk_mode()) == b"\x02\x09"
    assert bytes(PmdCommand.disable_sdk_mode()) == b"\x03\x09"
    assert bytes(PmdCommand.get_sdk_mode_settings(PmdMeasurementType.PPG)) == b"\x04\x01"
    assert PmdCommand.from_bytes(b"\x02\x09") == PmdCommand.enable_sdk_mode()
    answer = PmdResponse.from_bytes(bytes.fromhex("f0020900" "00"))  # fmt: skip
    assert answer.ok and answer.op_code is PmdOpCode.REQUEST_MEASUREMENT_START
    assert answer.measurement_type == PmdMeasurementType.SDK_MODE


def test_settings_records_from_polar():
    raw = bytes.fromhex("000134000101100002 04f500f401e803d007 040103".replace(" ", ""))
    settings = decode_settings(raw)
    assert settings == {
        PmdSetting.SAMPLE_RATE: (52,),
        PmdSetting.RESOLUTION: (16,),
        PmdSetting.RANGE: (245, 500, 1000, 2000),
        PmdSetting.CHANNELS: (3,),
    }
    assert encode_settings(settings) == raw
    milli = decode_settings(bytes.fromhex("0302ffffffffff000000" "01010e00"))  # fmt: skip
    assert milli == {PmdSetting.RANGE_MILLIUNIT: (-1, 255), PmdSetting.RESOLUTION: (14,)}
    factor = decode_settings(bytes.fromhex("0501") + np.float32(2.44e-4).tobytes())
    assert math.isclose(factor[PmdSetting.FACTOR][0], 2.44e-4, rel_tol=1e-6)


def test_responses_from_polar():
    ok = PmdResponse.from_bytes(bytes.fromhex("f001020000ffffff"))
    assert ok.op_code is PmdOpCode.GET_MEASUREMENT_SETTINGS and ok.measurement_type == 2
    assert ok.ok and not ok.more and ok.parameters == b"\xff\xff\xff"
    ok.raise_for_error()
    failed = PmdResponse.from_bytes(bytes.fromhex("f001060700"))
    assert failed.error is PmdError.INVALID_RESOLUTION and failed.parameters == b""
    with pytest.raises(PmdCommandError) as info:
        failed.raise_for_error()
    assert (info.value.op_code, info.value.measurement_type, info.value.error_code) == (1, 6, 7)
    assert "INVALID_RESOLUTION" in str(info.value)
    assert bytes(failed) == bytes.fromhex("f001060700")


def test_settings_response_round_trip():
    params = encode_settings(
        {PmdSetting.SAMPLE_RATE: (55, 135), PmdSetting.RESOLUTION: 22, PmdSetting.CHANNELS: 4}
    )
    resp = PmdResponse(PmdOpCode.GET_MEASUREMENT_SETTINGS, PmdMeasurementType.PPG, parameters=params)
    back = PmdResponse.from_bytes(bytes(resp))
    assert back.settings[PmdSetting.SAMPLE_RATE] == (55, 135)


def test_bad_control_point_packets():
    with pytest.raises(FieldRangeError, match="response code"):
        PmdResponse.from_bytes(bytes.fromhex("f101020000"))
    with pytest.raises(FrameLengthError):
        PmdResponse.from_bytes(b"\xf0\x01")
    with pytest.raises(FieldRangeError, match="op code"):
        PmdCommand.from_bytes(b"\x09\x01")
    with pytest.raises(UnknownFrameTypeError, match="setting id 9"):
        decode_settings(b"\x09\x01\x00")
    with pytest.raises(FrameLengthError):
        decode_settings(b"\x00\x02\x37\x00")
    with pytest.raises(FieldRangeError):
        PmdCommand(PmdOpCode.STOP_MEASUREMENT, PmdMeasurementType.PPG, {PmdSetting.SAMPLE_RATE: 55})
    with pytest.raises(FieldRangeError, match="SAMPLE_RATE"):
        encode_settings({PmdSetting.SAMPLE_RATE: 70000})
