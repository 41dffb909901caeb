"""Pulse oximeter (PLX) measurements and the IEEE-11073 SFLOAT/FLOAT number formats."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anyppg.firmware_bridge.errors import FieldRangeError, FrameLengthError
from anyppg.firmware_bridge.plx import (
    DeviceSensorStatus,
    MeasurementStatus,
    PlxContinuousMeasurement,
    PlxSpotCheckMeasurement,
)
from anyppg.firmware_bridge.sfloat import (
    Special,
    decode_float,
    decode_sfloat,
    encode_float,
    encode_sfloat,
    float_special,
    sfloat_special,
)

# --- SFLOAT / FLOAT: the special values and worked numbers of IEEE 11073-20601 ----------------------


@pytest.mark.parametrize(
    ("raw", "special"),
    [(0x07FF, Special.NAN), (0x0800, Special.NRES), (0x07FE, Special.POSITIVE_INFINITY),
     (0x0802, Special.NEGATIVE_INFINITY), (0x0801, Special.RESERVED)],
)  # fmt: skip
def test_sfloat_special_values(raw, special):
    assert sfloat_special(raw) is special
    value = decode_sfloat(raw)
    if special is Special.POSITIVE_INFINITY:
        assert value == math.inf
    elif special is Special.NEGATIVE_INFINITY:
        assert value == -math.inf
    else:
        assert math.isnan(value)
    assert encode_sfloat(special) == raw


@pytest.mark.parametrize(
    ("raw", "special"),
    [(0x007FFFFF, Special.NAN), (0x00800000, Special.NRES), (0x007FFFFE, Special.POSITIVE_INFINITY),
     (0x00800002, Special.NEGATIVE_INFINITY), (0x00800001, Special.RESERVED)],
)  # fmt: skip
def test_float_special_values(raw, special):
    assert float_special(raw) is special
    assert encode_float(special) == raw


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (0x0048, 72.0),  # exponent 0, mantissa 72
        (0xF3D2, 97.8),  # exponent -1, mantissa 978
        (0xFFFF, -0.1),  # exponent -1, mantissa -1
        (0x2019, 2500.0),  # exponent 2, mantissa 25
        (0xE7FF, 20.47),  # exponent -2, mantissa 2047: an ordinary number when the exponent is not 0
        (0x0000, 0.0),
    ],
)
def test_sfloat_numbers(raw, value):
    assert decode_sfloat(raw) == value
    assert sfloat_special(raw) is None


def test_float_numbers():
    assert decode_float(0xFF00016E) == 36.6  # exponent -1, mantissa 366: a body temperature in °C
    assert decode_float(0x00000001) == 1.0
    assert decode_float(0xFE7FFFFD) == pytest.approx(83886.05)  # exponent -2, largest ordinary mantissa


@settings(max_examples=100, deadline=None)
@given(st.floats(-2045, 2045, allow_nan=False), st.integers(0, 2))
def test_sfloat_round_trip_keeps_the_requested_decimals(x, decimals):
    value = round(x, decimals)
    if abs(value) * 10**decimals > 2045:
        with pytest.raises(FieldRangeError):
            encode_sfloat(value, precision=decimals)
        return
    assert decode_sfloat(encode_sfloat(value, precision=decimals)) == pytest.approx(value, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9))
def test_encode_picks_the_most_precise_exponent(x):
    decoded = decode_sfloat(encode_sfloat(x))
    assert decoded == pytest.approx(x, rel=5e-3, abs=1e-8)  # 3 significant digits (mantissa <= 2045)
    decoded32 = decode_float(encode_float(x))
    assert decoded32 == pytest.approx(x, rel=1e-6, abs=1e-12)


def test_encode_out_of_range_and_bad_raw():
    with pytest.raises(FieldRangeError):
        encode_sfloat(1e30)
    with pytest.raises(FieldRangeError):
        decode_sfloat(0x10000)


# --- PLX continuous measurement ---------------------------------------------------------------------


def test_minimal_measurement_bytes():
    # flags 0, SpO2 97.8 % (0xF3D2), PR 72 bpm (0x0048)
    raw = bytes.fromhex("00" "d2f3" "4800")  # fmt: skip
    m = PlxContinuousMeasurement.from_bytes(raw)
    assert (m.spo2, m.pulse_rate) == (97.8, 72.0)
    assert m.spo2_fast is None and m.measurement_status is None
    assert bytes(m) == raw


def test_all_fields_present():
    raw = bytes.fromhex(
        "1f"  # every optional field
        "6100" "3c00"  # SpO2 97, PR 60
        "6200" "3d00"  # fast: 98, 61
        "6000" "3b00"  # slow: 96, 59
        "a000"  # measurement status: ongoing (bit 5) + validated (bit 7)
        "280000"  # device status: poor signal (bit 3) + low perfusion (bit 5)
        "f3f0"  # PAI 24.3 %
    )  # fmt: skip
    m = PlxContinuousMeasurement.from_bytes(raw)
    assert (m.spo2_fast, m.pulse_rate_fast, m.spo2_slow, m.pulse_rate_slow) == (98, 61, 96, 59)
    assert m.measurement_status == MeasurementStatus.MEASUREMENT_ONGOING | MeasurementStatus.VALIDATED_DATA
    assert m.device_sensor_status == (
        DeviceSensorStatus.INADEQUATE_SIGNAL_DETECTED | DeviceSensorStatus.LOW_PERFUSION_DETECTED
    )
    assert m.pulse_amplitude_index == 24.3
    assert bytes(m) == raw


def test_unavailable_readings_decode_to_nan_and_inf():
    raw = bytes.fromhex("00" "ff07" "fe07")  # SpO2 NaN, PR +INF  # fmt: skip
    m = PlxContinuousMeasurement.from_bytes(raw)
    assert math.isnan(m.spo2) and m.pulse_rate == math.inf
    assert bytes(m) == raw
    nres = PlxContinuousMeasurement.from_bytes(bytes.fromhex("00" "0008" "0208"))  # fmt: skip
    assert math.isnan(nres.spo2) and nres.pulse_rate == -math.inf


# Vectors of an independent implementation: Stanford Spezi's SpeziBluetooth PLX tests (MIT), which
# write SFLOATs with exponent -1 / -2 where this codec prefers exponent 0: values must agree, bytes need not.
MS, DSS = MeasurementStatus, DeviceSensorStatus
SPEZI_CONTINUOUS = [
    ([0, 232, 243, 132, 243], dict(spo2=100, pulse_rate=90)),
    ([0, 100, 0, 90, 0], dict(spo2=100, pulse_rate=90)),
    ([28, 95, 0, 90, 0, 32, 0, 0, 0, 0, 87, 240],
     dict(spo2=95, pulse_rate=90, measurement_status=MS.MEASUREMENT_ONGOING, device_sensor_status=0,
          pulse_amplitude_index=8.7)),
    ([31, 222, 243, 202, 243, 202, 243, 90, 245, 212, 243, 178, 242, 32, 1, 0, 0, 0, 122, 227],
     dict(spo2=99, pulse_rate=97, spo2_fast=97, pulse_rate_fast=137, spo2_slow=98, pulse_rate_slow=69,
          measurement_status=MS.MEASUREMENT_ONGOING | MS.FULLY_QUALIFIED_DATA, device_sensor_status=0,
          pulse_amplitude_index=8.9)),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "fields"), SPEZI_CONTINUOUS)
def test_independent_implementation_vectors(raw, fields):
    m = PlxContinuousMeasurement.from_bytes(bytes(raw))
    assert m == PlxContinuousMeasurement(**fields)
    assert PlxContinuousMeasurement.from_bytes(bytes(m)) == m


def test_independent_spot_check_vector():
    raw = bytes([15, 172, 243, 190, 245, 232, 7, 11, 29, 23, 8, 57, 32, 64, 34, 0, 0, 102, 227])
    m = PlxSpotCheckMeasurement.from_bytes(raw)
    assert m == PlxSpotCheckMeasurement(
        spo2=94,
        pulse_rate=147,
        timestamp=dt.datetime(2024, 11, 29, 23, 8, 57),
        measurement_status=MS.MEASUREMENT_ONGOING | MS.QUESTIONABLE_MEASUREMENT_DETECTED,
        device_sensor_status=DSS.EQUIPMENT_MALFUNCTION_DETECTED | DSS.LOW_PERFUSION_DETECTED,
        pulse_amplitude_index=8.7,
    )


@pytest.mark.parametrize("flags", range(32))
def test_every_flag_combination(flags):
    sizes = {0x01: 4, 0x02: 4, 0x04: 2, 0x08: 3, 0x10: 2}
    body = bytes((flags,)) + bytes.fromhex("6100" "3c00")  # fmt: skip
    for bit, size in sizes.items():
        if flags & bit:
            body += bytes([0x01] + [0x00] * (size - 1))
    m = PlxContinuousMeasurement.from_bytes(body)
    assert (m.spo2_fast is not None) == bool(flags & 0x01)
    assert (m.spo2_slow is not None) == bool(flags & 0x02)
    assert (m.measurement_status is not None) == bool(flags & 0x04)
    assert (m.device_sensor_status is not None) == bool(flags & 0x08)
    assert (m.pulse_amplitude_index is not None) == bool(flags & 0x10)
    assert bytes(m) == body
    with pytest.raises(FrameLengthError):
        PlxContinuousMeasurement.from_bytes(body[:-1])
    with pytest.raises(FrameLengthError, match="left over"):
        PlxContinuousMeasurement.from_bytes(body + b"\x00")


def test_truncation_names_the_missing_field():
    with pytest.raises(FrameLengthError, match="SpO2 fast"):
        PlxContinuousMeasurement.from_bytes(bytes.fromhex("01" "6100" "3c00"))  # fmt: skip
    with pytest.raises(FrameLengthError, match="flags"):
        PlxContinuousMeasurement.from_bytes(b"")


def test_construction_checks():
    with pytest.raises(FieldRangeError, match="both values"):
        PlxContinuousMeasurement(97, 60, spo2_fast=98)
    with pytest.raises(FieldRangeError):
        PlxContinuousMeasurement(97, 60, device_sensor_status=1 << 24)
    with pytest.raises(FieldRangeError, match="pulse_rate"):
        bytes(PlxContinuousMeasurement(97, 1e12))


# --- PLX spot-check ---------------------------------------------------------------------------------


def test_spot_check_with_timestamp():
    raw = bytes.fromhex(
        "13"  # timestamp + measurement status + device clock not set
        "6200" "4b00"  # SpO2 98, PR 75
        "ea07" "0b" "19" "17" "3b" "05"  # 2026-11-25 23:59:05
        "8000"  # validated data
    )  # fmt: skip
    m = PlxSpotCheckMeasurement.from_bytes(raw)
    assert (m.spo2, m.pulse_rate) == (98, 75)
    assert m.timestamp == dt.datetime(2026, 11, 25, 23, 59, 5)
    assert m.measurement_status == MeasurementStatus.VALIDATED_DATA
    assert m.device_clock_not_set
    assert bytes(m) == raw
    with pytest.raises(FieldRangeError, match="timestamp"):
        PlxSpotCheckMeasurement.from_bytes(raw[:5] + bytes.fromhex("ea070d01000000") + raw[12:])


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=24))
def test_random_bytes_give_only_protocol_errors(data):
    for cls in (PlxContinuousMeasurement, PlxSpotCheckMeasurement):
        try:
            m = cls.from_bytes(data)
        except (FrameLengthError, FieldRangeError):
            continue
        assert cls.from_bytes(bytes(m)) == m
