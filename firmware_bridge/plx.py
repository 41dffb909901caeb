"""Bluetooth SIG Pulse Oximeter Service (0x1822): PLX Continuous (0x2A5F) and Spot-check (0x2A5E).

Values are IEEE-11073 SFLOATs (:mod:`.sfloat`): a missing or invalid reading arrives as NaN, NRes or
±INF and decodes to ``nan`` / ``±inf``. Layouts (little-endian):

Continuous (notify)::

    flags u8 | SpO2 | PR | [SpO2 fast | PR fast] (bit 0) | [SpO2 slow | PR slow] (bit 1)
             | [measurement status u16] (bit 2) | [device & sensor status u24] (bit 3)
             | [pulse amplitude index] (bit 4)

Spot-check (indicate)::

    flags u8 | SpO2 | PR | [timestamp: year u16, month, day, hours, minutes, seconds] (bit 0)
             | [measurement status u16] (bit 1) | [device & sensor status u24] (bit 2)
             | [pulse amplitude index] (bit 3)        (bit 4: device clock not set)

Example::

    >>> m = PlxContinuousMeasurement.from_bytes(bytes.fromhex("00d2f34800"))
    >>> m.spo2, m.pulse_rate
    (97.8, 72.0)
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import struct
from dataclasses import dataclass

from anyppg.firmware_bridge.errors import FieldRangeError, FrameLengthError
from anyppg.firmware_bridge.sfloat import decode_sfloat, encode_sfloat

__all__ = [
    "PLX_CONTINUOUS_MEASUREMENT_UUID",
    "PLX_FEATURES_UUID",
    "PLX_SERVICE_UUID",
    "PLX_SPOT_CHECK_MEASUREMENT_UUID",
    "DeviceSensorStatus",
    "MeasurementStatus",
    "PlxContinuousMeasurement",
    "PlxSpotCheckMeasurement",
]

PLX_SERVICE_UUID = "00001822-0000-1000-8000-00805f9b34fb"
PLX_SPOT_CHECK_MEASUREMENT_UUID = "00002a5e-0000-1000-8000-00805f9b34fb"
PLX_CONTINUOUS_MEASUREMENT_UUID = "00002a5f-0000-1000-8000-00805f9b34fb"
PLX_FEATURES_UUID = "00002a60-0000-1000-8000-00805f9b34fb"


class MeasurementStatus(enum.IntFlag):
    """PLX Measurement Status (u16); bits 0-4 are reserved."""

    MEASUREMENT_ONGOING = 1 << 5
    EARLY_ESTIMATED_DATA = 1 << 6
    VALIDATED_DATA = 1 << 7
    FULLY_QUALIFIED_DATA = 1 << 8
    DATA_FROM_MEASUREMENT_STORAGE = 1 << 9
    DATA_FOR_DEMONSTRATION = 1 << 10
    DATA_FOR_TESTING = 1 << 11
    CALIBRATION_ONGOING = 1 << 12
    MEASUREMENT_UNAVAILABLE = 1 << 13
    QUESTIONABLE_MEASUREMENT_DETECTED = 1 << 14
    INVALID_MEASUREMENT_DETECTED = 1 << 15


class DeviceSensorStatus(enum.IntFlag):
    """PLX Device and Sensor Status (u24); bits 16-23 are reserved."""

    EXTENDED_DISPLAY_UPDATE_ONGOING = 1 << 0
    EQUIPMENT_MALFUNCTION_DETECTED = 1 << 1
    SIGNAL_PROCESSING_IRREGULARITY_DETECTED = 1 << 2
    INADEQUATE_SIGNAL_DETECTED = 1 << 3
    POOR_SIGNAL_DETECTED = 1 << 4
    LOW_PERFUSION_DETECTED = 1 << 5
    ERRATIC_SIGNAL_DETECTED = 1 << 6
    NONPULSATILE_SIGNAL_DETECTED = 1 << 7
    QUESTIONABLE_PULSE_DETECTED = 1 << 8
    SIGNAL_ANALYSIS_ONGOING = 1 << 9
    SENSOR_INTERFERENCE_DETECTED = 1 << 10
    SENSOR_UNCONNECTED_TO_USER = 1 << 11
    UNKNOWN_SENSOR_CONNECTED = 1 << 12
    SENSOR_DISPLACED = 1 << 13
    SENSOR_MALFUNCTIONING = 1 << 14
    SENSOR_DISCONNECTED = 1 << 15


_SF = struct.Struct("<H")


class _Reader:
    """Sequential little-endian reader that names the field it ran out of bytes for."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int, field: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise FrameLengthError(self.what, len(self.data), f"at least {end} (for {field})")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def sfloat(self, field: str) -> float:
        return decode_sfloat(_SF.unpack(self.take(2, field))[0])

    def u16(self, field: str) -> int:
        return _SF.unpack(self.take(2, field))[0]

    def u24(self, field: str) -> int:
        return int.from_bytes(self.take(3, field), "little")

    def done(self) -> None:
        if self.pos != len(self.data):
            raise FrameLengthError(self.what, len(self.data), f"{self.pos} (bytes left over)")


def _sf(value: float, field: str) -> bytes:
    try:
        return _SF.pack(encode_sfloat(value))
    except FieldRangeError:
        raise FieldRangeError(field, value, "a number an SFLOAT holds (|x| <= 2045e7)") from None


def _check_status(ms: int | None, dss: int | None) -> None:
    if ms is not None and not 0 <= ms <= 0xFFFF:
        raise FieldRangeError("measurement_status", ms, "0..0xFFFF")
    if dss is not None and not 0 <= dss <= 0xFFFFFF:
        raise FieldRangeError("device_sensor_status", dss, "0..0xFFFFFF")


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


@dataclass(frozen=True, eq=False)
class PlxContinuousMeasurement:
    """One PLX Continuous Measurement notification.

    Attributes:
        spo2: oxygen saturation (%), ``nan`` when the device has no valid value.
        pulse_rate: pulse rate (bpm), ``nan`` when invalid.
        spo2_fast, pulse_rate_fast: the fast-responding averages (% / bpm), or None (present together).
        spo2_slow, pulse_rate_slow: the slow-responding averages, or None (present together).
        measurement_status: :class:`MeasurementStatus` bits, or None.
        device_sensor_status: :class:`DeviceSensorStatus` bits, or None.
        pulse_amplitude_index: PAI (%), or None.

    Raises:
        FieldRangeError: on construction, when a fast/slow pair is half given or a status is too wide.
    """

    spo2: float
    pulse_rate: float
    spo2_fast: float | None = None
    pulse_rate_fast: float | None = None
    spo2_slow: float | None = None
    pulse_rate_slow: float | None = None
    measurement_status: MeasurementStatus | int | None = None
    device_sensor_status: DeviceSensorStatus | int | None = None
    pulse_amplitude_index: float | None = None

    def __post_init__(self) -> None:
        for name, a, b in (
            ("spo2_fast/pulse_rate_fast", self.spo2_fast, self.pulse_rate_fast),
            ("spo2_slow/pulse_rate_slow", self.spo2_slow, self.pulse_rate_slow),
        ):
            if (a is None) != (b is None):
                raise FieldRangeError(name, (a, b), "both values or neither")
        _check_status(self.measurement_status, self.device_sensor_status)
        if self.measurement_status is not None:
            object.__setattr__(self, "measurement_status", MeasurementStatus(self.measurement_status))
        if self.device_sensor_status is not None:
            object.__setattr__(self, "device_sensor_status", DeviceSensorStatus(self.device_sensor_status))

    def __bytes__(self) -> bytes:
        flags = 0
        body = [_sf(self.spo2, "spo2"), _sf(self.pulse_rate, "pulse_rate")]
        if self.spo2_fast is not None and self.pulse_rate_fast is not None:
            flags |= 0x01
            body += [_sf(self.spo2_fast, "spo2_fast"), _sf(self.pulse_rate_fast, "pulse_rate_fast")]
        if self.spo2_slow is not None and self.pulse_rate_slow is not None:
            flags |= 0x02
            body += [_sf(self.spo2_slow, "spo2_slow"), _sf(self.pulse_rate_slow, "pulse_rate_slow")]
        if self.measurement_status is not None:
            flags |= 0x04
            body.append(_SF.pack(int(self.measurement_status)))
        if self.device_sensor_status is not None:
            flags |= 0x08
            body.append(int(self.device_sensor_status).to_bytes(3, "little"))
        if self.pulse_amplitude_index is not None:
            flags |= 0x10
            body.append(_sf(self.pulse_amplitude_index, "pulse_amplitude_index"))
        return bytes((flags,)) + b"".join(body)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> PlxContinuousMeasurement:
        """Decode a notification value.

        Raises:
            FrameLengthError: the value is shorter than its flags require, or has bytes left over.
        """
        r = _Reader(bytes(data), "PLX continuous measurement")
        flags = r.take(1, "flags")[0]
        spo2, pr = r.sfloat("SpO2"), r.sfloat("PR")
        fast = (r.sfloat("SpO2 fast"), r.sfloat("PR fast")) if flags & 0x01 else (None, None)
        slow = (r.sfloat("SpO2 slow"), r.sfloat("PR slow")) if flags & 0x02 else (None, None)
        ms = r.u16("measurement status") if flags & 0x04 else None
        dss = r.u24("device and sensor status") if flags & 0x08 else None
        pai = r.sfloat("pulse amplitude index") if flags & 0x10 else None
        r.done()
        return cls(spo2, pr, *fast, *slow, ms, dss, pai)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PlxContinuousMeasurement):
            return NotImplemented
        floats = ("spo2", "pulse_rate", "spo2_fast", "pulse_rate_fast", "spo2_slow", "pulse_rate_slow")
        return (
            all(_same(getattr(self, f), getattr(other, f)) for f in floats)
            and _same(self.pulse_amplitude_index, other.pulse_amplitude_index)
            and self.measurement_status == other.measurement_status
            and self.device_sensor_status == other.device_sensor_status
        )

    __hash__ = None  # type: ignore[assignment]


_DATE_TIME = struct.Struct("<HBBBBB")


@dataclass(frozen=True, eq=False)
class PlxSpotCheckMeasurement:
    """One PLX Spot-check Measurement indication.

    Attributes:
        spo2: oxygen saturation (%).
        pulse_rate: pulse rate (bpm).
        timestamp: device time of the measurement (naive), or None.
        measurement_status, device_sensor_status, pulse_amplitude_index: as in the continuous one.
        device_clock_not_set: the device says its clock was never set (flag bit 4).

    Raises:
        FieldRangeError: on construction, when a status is too wide or the year is outside 1582..9999.
    """

    spo2: float
    pulse_rate: float
    timestamp: dt.datetime | None = None
    measurement_status: MeasurementStatus | int | None = None
    device_sensor_status: DeviceSensorStatus | int | None = None
    pulse_amplitude_index: float | None = None
    device_clock_not_set: bool = False

    def __post_init__(self) -> None:
        _check_status(self.measurement_status, self.device_sensor_status)
        if self.timestamp is not None and not 1582 <= self.timestamp.year <= 9999:
            raise FieldRangeError("timestamp.year", self.timestamp.year, "1582..9999")
        if self.measurement_status is not None:
            object.__setattr__(self, "measurement_status", MeasurementStatus(self.measurement_status))
        if self.device_sensor_status is not None:
            object.__setattr__(self, "device_sensor_status", DeviceSensorStatus(self.device_sensor_status))

    def __bytes__(self) -> bytes:
        flags = 0x10 if self.device_clock_not_set else 0
        body = [_sf(self.spo2, "spo2"), _sf(self.pulse_rate, "pulse_rate")]
        if self.timestamp is not None:
            flags |= 0x01
            t = self.timestamp
            body.append(_DATE_TIME.pack(t.year, t.month, t.day, t.hour, t.minute, t.second))
        if self.measurement_status is not None:
            flags |= 0x02
            body.append(_SF.pack(int(self.measurement_status)))
        if self.device_sensor_status is not None:
            flags |= 0x04
            body.append(int(self.device_sensor_status).to_bytes(3, "little"))
        if self.pulse_amplitude_index is not None:
            flags |= 0x08
            body.append(_sf(self.pulse_amplitude_index, "pulse_amplitude_index"))
        return bytes((flags,)) + b"".join(body)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> PlxSpotCheckMeasurement:
        """Decode an indication value.

        Raises:
            FrameLengthError: the value is shorter than its flags require, or has bytes left over.
            FieldRangeError: the timestamp is not a valid date and time.
        """
        r = _Reader(bytes(data), "PLX spot-check measurement")
        flags = r.take(1, "flags")[0]
        spo2, pr = r.sfloat("SpO2"), r.sfloat("PR")
        timestamp = None
        if flags & 0x01:
            fields = _DATE_TIME.unpack(r.take(_DATE_TIME.size, "timestamp"))
            try:
                timestamp = dt.datetime(*fields)
            except ValueError:
                raise FieldRangeError("timestamp", fields, "a valid date and time") from None
        ms = r.u16("measurement status") if flags & 0x02 else None
        dss = r.u24("device and sensor status") if flags & 0x04 else None
        pai = r.sfloat("pulse amplitude index") if flags & 0x08 else None
        r.done()
        return cls(spo2, pr, timestamp, ms, dss, pai, bool(flags & 0x10))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PlxSpotCheckMeasurement):
            return NotImplemented
        return (
            _same(self.spo2, other.spo2)
            and _same(self.pulse_rate, other.pulse_rate)
            and _same(self.pulse_amplitude_index, other.pulse_amplitude_index)
            and self.timestamp == other.timestamp
            and self.measurement_status == other.measurement_status
            and self.device_sensor_status == other.device_sensor_status
            and self.device_clock_not_set == other.device_clock_not_set
        )

    __hash__ = None  # type: ignore[assignment]
