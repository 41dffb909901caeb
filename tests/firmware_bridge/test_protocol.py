"""The anyppg v1 wire format: CRC, frame layout byte for byte, sample formats, sizing, GATT packets."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anyppg.errors import ProtocolError
from anyppg.firmware_bridge.errors import (
    CRCError,
    FieldRangeError,
    FrameLengthError,
    UnknownChannelError,
    UnknownFrameTypeError,
    UnsupportedVersionError,
)
from anyppg.firmware_bridge.gatt import (
    ANYPPG_CONTROL_UUID,
    ANYPPG_DATA_UUID,
    ANYPPG_INFO_UUID,
    ANYPPG_SERVICE_UUID,
    ControlCommand,
    ControlOpcode,
    DeviceInfo,
    control_frame,
    info_frame,
)
from anyppg.firmware_bridge.protocol import (
    Channel,
    DataFrame,
    FrameEncoder,
    FrameType,
    SampleFormat,
    crc16,
    decode_envelope,
    encode_envelope,
    frame_size,
    max_samples_per_frame,
)


def crc16_bitwise(data: bytes) -> int:
    """CRC-16/CCITT-FALSE straight from its catalogue definition (poly 0x1021, init 0xFFFF, no reflection)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


# --- CRC --------------------------------------------------------------------------------------------


def test_crc_matches_the_catalogue_check_value():
    # "CRC-16/CCITT-FALSE" (a.k.a. CRC-16/IBM-3740) in the reveng CRC catalogue: check = 0x29B1.
    assert crc16(b"123456789") == 0x29B1
    assert crc16(b"") == 0xFFFF


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 300))
def test_crc_matches_bitwise_definition_and_chains(data, cut):
    assert crc16(data) == crc16_bitwise(data)
    assert crc16(data[cut:], crc16(data[:cut])) == crc16(data)


# --- the frame layout, byte for byte ---------------------------------------------------------------


def test_data_frame_bytes_follow_the_documented_layout():
    frame = DataFrame(
        seq=0x0102,
        timestamp_us=0x0123456789AB,
        sample_rate_hz=125.0,
        channels=(Channel.PPG_GREEN, Channel.PPG_AMBIENT),
        fmt=SampleFormat.INT24,
        samples=np.array([[1, -1], [0x7FFFFF, -0x800000]]),
        scale=0.5,
    )
    body = bytes.fromhex(
        "0201"  # seq 0x0102
        "ab89674523010000"  # timestamp µs, u64 LE
        "48e80100"  # 125000 mHz
        "01"  # int24
        "02"  # two channels
        "0000003f"  # 0.5 as float32 LE
        "0104"  # PPG_GREEN, PPG_AMBIENT
        "010000" "ffffff"  # sample 0: +1, -1
        "ffff7f" "000080"  # sample 1: max, min
    )  # fmt: skip
    head = b"\xa5\x5a\x01\x01" + struct.pack("<H", len(body))
    expected = head + body + struct.pack("<H", crc16_bitwise(head[2:] + body))
    assert bytes(frame) == expected
    assert DataFrame.from_bytes(expected) == frame
    assert len(expected) == frame_size(2, 2, SampleFormat.INT24)


@pytest.mark.parametrize(
    ("fmt", "values", "wire"),
    [
        (SampleFormat.INT16, [-32768, -1, 0, 32767], "0080" "ffff" "0000" "ff7f"),
        (SampleFormat.INT24, [-8388608, -2, 256, 8388607], "000080" "feffff" "000100" "ffff7f"),
        (SampleFormat.FLOAT32, [1.0, -2.5, 0.0, 1e-3], "0000803f" "000020c0" "00000000" "6f12833a"),
    ],
)  # fmt: skip
def test_sample_formats_are_little_endian_twos_complement(fmt, values, wire):
    frame = DataFrame(0, 0, 50.0, (Channel.ECG,), fmt, np.array(values).reshape(-1, 1))
    raw = bytes(frame)
    assert raw[6 + 21 : -2] == bytes.fromhex(wire)
    back = DataFrame.from_bytes(raw)
    np.testing.assert_array_equal(back.samples[:, 0], np.array(values, dtype=fmt.dtype))
    assert back.samples.dtype == fmt.dtype


def frames_strategy():
    @st.composite
    def build(draw):
        fmt = draw(st.sampled_from(list(SampleFormat)))
        n_ch = draw(st.integers(1, 6))
        channels = tuple(draw(st.lists(st.sampled_from(list(Channel)), min_size=n_ch, max_size=n_ch)))
        n = draw(st.integers(1, 40))
        lo, hi = fmt.limits
        if fmt is SampleFormat.FLOAT32:
            values = draw(
                st.lists(st.floats(width=32, allow_nan=False), min_size=n * n_ch, max_size=n * n_ch)
            )
        else:
            values = draw(st.lists(st.integers(int(lo), int(hi)), min_size=n * n_ch, max_size=n * n_ch))
        return DataFrame(
            seq=draw(st.integers(0, 0xFFFF)),
            timestamp_us=draw(st.integers(0, 2**64 - 1)),
            sample_rate_hz=draw(st.integers(1, 10_000_000)) / 1000,
            channels=channels,
            fmt=fmt,
            samples=np.array(values).reshape(n, n_ch),
            scale=draw(st.floats(-1e6, 1e6, width=32)),
        )

    return build()


@settings(max_examples=60, deadline=None)
@given(frames_strategy())
def test_any_frame_round_trips(frame):
    raw = bytes(frame)
    assert len(raw) == frame_size(frame.n_samples, len(frame.channels), frame.fmt)
    assert DataFrame.from_bytes(raw) == frame


def test_values_and_times_use_scale_and_rate():
    frame = DataFrame(3, 1_000_000, 125.0, (Channel.PPG_RED,), SampleFormat.INT16, np.array([10, 20]), 0.25)
    np.testing.assert_allclose(frame.values[:, 0], [2.5, 5.0])
    np.testing.assert_allclose(frame.sample_times_us(), [1_000_000, 1_008_000])
    assert frame.end_timestamp_us == 1_016_000
    np.testing.assert_array_equal(frame.channel(Channel.PPG_RED), [10, 20])
    with pytest.raises(KeyError, match="PPG_GREEN"):
        frame.channel(Channel.PPG_GREEN)


# --- bad input: typed errors with fields -------------------------------------------------------------


def good_frame() -> bytes:
    return bytes(DataFrame(1, 2, 100.0, (Channel.PPG_GREEN,), SampleFormat.INT16, np.array([[5], [6]])))


def test_truncated_frame_names_its_length():
    raw = good_frame()
    with pytest.raises(FrameLengthError) as info:
        DataFrame.from_bytes(raw[:-1])
    assert info.value.length == len(raw) - 1 and str(len(raw)) in info.value.expected
    with pytest.raises(FrameLengthError):
        DataFrame.from_bytes(raw[:5])


def test_corrupt_byte_is_a_crc_error_with_both_values():
    raw = bytearray(good_frame())
    raw[10] ^= 0x40
    with pytest.raises(CRCError) as info:
        DataFrame.from_bytes(raw)
    assert info.value.received == struct.unpack("<H", raw[-2:])[0]
    assert info.value.expected == crc16_bitwise(bytes(raw[2:-2]))
    assert isinstance(info.value, ProtocolError) and isinstance(info.value, ValueError)


def test_other_version_and_type_are_named():
    body = DataFrame.from_bytes(good_frame()).body()
    v2 = bytearray(encode_envelope(FrameType.DATA, body))
    v2[2] = 2
    v2[-2:] = struct.pack("<H", crc16(v2[2:-2]))
    with pytest.raises(UnsupportedVersionError) as info:
        DataFrame.from_bytes(v2)
    assert info.value.version == 2 and info.value.supported == (1,)
    with pytest.raises(UnknownFrameTypeError) as info:
        DataFrame.from_bytes(encode_envelope(0x7E, body))
    assert info.value.frame_type == 0x7E and "126" in str(info.value)


def test_bad_body_fields_are_typed():
    body = bytearray(DataFrame.from_bytes(good_frame()).body())
    bad_fmt = bytearray(body)
    bad_fmt[14] = 3
    with pytest.raises(FieldRangeError, match="sample format"):
        DataFrame.from_bytes(encode_envelope(FrameType.DATA, bytes(bad_fmt)))
    bad_channel = bytearray(body)
    bad_channel[20] = 0xEE
    with pytest.raises(UnknownChannelError) as info:
        DataFrame.from_bytes(encode_envelope(FrameType.DATA, bytes(bad_channel)))
    assert info.value.channel_id == 0xEE
    with pytest.raises(FrameLengthError, match="multiple of 2"):
        DataFrame.from_bytes(encode_envelope(FrameType.DATA, bytes(body) + b"\x00"))
    with pytest.raises(FrameLengthError):
        decode_envelope(b"\xa5\x5a\x01\x01\xff\xff" + bytes(10))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"seq": 65536}, "seq"),
        ({"timestamp_us": -1}, "timestamp_us"),
        ({"sample_rate_hz": 0.0}, "sample_rate_hz"),
        ({"sample_rate_hz": float("nan")}, "sample_rate_hz"),
        ({"samples": np.array([[40000]])}, "samples"),
        ({"samples": np.array([[0.5]])}, "samples"),
        ({"samples": np.zeros((3, 2))}, "samples.shape"),
        ({"samples": np.zeros((0, 1))}, "samples.shape"),
        ({"channels": ()}, "channels"),
    ],
)
def test_constructor_range_checks(kwargs, field):
    args = {
        "seq": 0,
        "timestamp_us": 0,
        "sample_rate_hz": 25.0,
        "channels": (Channel.PPG_GREEN,),
        "fmt": SampleFormat.INT16,
        "samples": np.zeros((2, 1)),
    }
    args.update(kwargs)
    with pytest.raises(FieldRangeError) as info:
        DataFrame(**args)
    assert info.value.field == field


# --- sizing -----------------------------------------------------------------------------------------


def test_default_mtu_is_too_small_and_says_what_is_needed():
    with pytest.raises(FieldRangeError) as info:
        max_samples_per_frame(23, 1, SampleFormat.INT16)
    assert info.value.field == "mtu" and "at least 34" in info.value.expected


@pytest.mark.parametrize(
    ("mtu", "n_ch", "fmt", "expected"),
    [
        (247, 1, SampleFormat.INT16, 107),  # (244 - 8 - 20 - 1) // 2
        (247, 4, SampleFormat.INT24, 17),  # (244 - 32) // 12
        (185, 3, SampleFormat.FLOAT32, 12),  # (182 - 31) // 12
        (None, 1, SampleFormat.INT16, 4085),  # serial: (8192 - 21) // 2
    ],
)
def test_max_samples_per_frame(mtu, n_ch, fmt, expected):
    assert max_samples_per_frame(mtu, n_ch, fmt) == expected


@settings(max_examples=40, deadline=None)
@given(st.integers(64, 517), st.integers(1, 4), st.sampled_from(list(SampleFormat)))
def test_encoder_frames_fit_one_notification(mtu, n_ch, fmt):
    enc = FrameEncoder(55.0, [Channel.PPG_GREEN] * n_ch, fmt, mtu=mtu)
    frames = enc.encode(np.zeros((300, n_ch)), timestamp_us=0)
    assert all(len(f) <= mtu - 3 for f in frames)
    assert len(frames[0]) > mtu - 3 - n_ch * fmt.size  # and no room for one more sample is wasted


def test_encoder_keeps_one_time_line_and_wraps_seq():
    enc = FrameEncoder(
        128.0, (Channel.PPG_GREEN, Channel.ACC_X), SampleFormat.INT16, max_samples=32, first_seq=65534
    )
    samples = np.arange(200).reshape(100, 2)
    frames = [DataFrame.from_bytes(f) for f in enc.encode(samples, timestamp_us=10_000_000)]
    assert [f.seq for f in frames] == [65534, 65535, 0, 1]
    assert [f.timestamp_us for f in frames] == [10_000_000, 10_250_000, 10_500_000, 10_750_000]
    np.testing.assert_array_equal(np.concatenate([f.samples for f in frames]), samples)
    assert enc.seq == 2


# --- GATT packets -----------------------------------------------------------------------------------


def test_uuids_share_one_base():
    uuids = [ANYPPG_SERVICE_UUID, ANYPPG_DATA_UUID, ANYPPG_CONTROL_UUID, ANYPPG_INFO_UUID]
    assert len({u[8:] for u in uuids}) == 1
    assert [int(u[4:8], 16) for u in uuids] == [1, 2, 3, 4]


def test_device_info_bytes_and_round_trip():
    info = DeviceInfo(125.0, (Channel.PPG_GREEN, Channel.ECG), SampleFormat.INT24, firmware_version="1.2.0")
    assert info.units == ("counts", "uV")
    expected = bytes.fromhex("01" "48e80100" "01" "02" "0110") + b"\x06counts" + b"\x02uV" + b"\x051.2.0"  # fmt: skip
    assert bytes(info) == expected
    assert DeviceInfo.from_bytes(expected) == info
    with pytest.raises(FrameLengthError, match="left over"):
        DeviceInfo.from_bytes(expected + b"\x00")
    with pytest.raises(FrameLengthError, match="firmware_version"):
        DeviceInfo.from_bytes(expected[:-2])
    with pytest.raises(UnsupportedVersionError):
        DeviceInfo.from_bytes(b"\x09" + expected[1:])
    with pytest.raises(FieldRangeError, match="units"):
        DeviceInfo(125.0, (Channel.PPG_GREEN,), units=("a", "b"))


@pytest.mark.parametrize(
    ("command", "wire"),
    [
        (ControlCommand.start(), "01"),
        (ControlCommand.stop(), "02"),
        (ControlCommand.set_rate(125), "0348e80100"),
        (ControlCommand.set_rate(55.5), "03ccd80000"),
        (ControlCommand.get_info(), "04"),
    ],
)
def test_control_commands(command, wire):
    assert bytes(command).hex() == wire
    assert ControlCommand.from_bytes(bytes.fromhex(wire)) == command


def test_bad_control_commands():
    with pytest.raises(FieldRangeError) as info:
        ControlCommand.from_bytes(b"\x09")
    assert info.value.value == 9
    with pytest.raises(FrameLengthError):
        ControlCommand.from_bytes(b"\x03\x01")
    with pytest.raises(FrameLengthError):
        ControlCommand.from_bytes(b"\x01\x00")
    with pytest.raises(FieldRangeError):
        ControlCommand(ControlOpcode.SET_RATE)
    with pytest.raises(FieldRangeError):
        ControlCommand(ControlOpcode.STOP, 10.0)


def test_serial_info_and_control_frames():
    info = DeviceInfo(55.0, (Channel.PPG_GREEN,))
    assert decode_envelope(info_frame(info)) == (FrameType.INFO, bytes(info))
    assert decode_envelope(control_frame(ControlCommand.start())) == (FrameType.CONTROL, b"\x01")
