"""Bluetooth SIG Heart Rate Service (0x180D): the Heart Rate Measurement characteristic (0x2A37).

Every chest strap and most watches notify this. Layout (little-endian)::

    flags u8 | heart rate (u8, or u16 when flags bit 0) | [energy expended u16, kJ (bit 3)]
             | [RR-interval u16, 1/1024 s] x n (bit 4; as many as fill the notification)

Flag bits 1-2 are the sensor-contact status: ``0b0x`` not supported, ``0b10`` supported but no
contact, ``0b11`` contact. Bits 5-7 are reserved and ignored.

Example::

    >>> m = HeartRateMeasurement.from_bytes(bytes.fromhex("164a0004"))
    >>> m.heart_rate, m.sensor_contact, m.rr_intervals
    (74, True, (1.0,))
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from anyppg.firmware_bridge.errors import FieldRangeError, FrameLengthError

__all__ = [
    "BODY_SENSOR_LOCATION_UUID",
    "HEART_RATE_CONTROL_POINT_UUID",
    "HEART_RATE_MEASUREMENT_UUID",
    "HEART_RATE_SERVICE_UUID",
    "BodySensorLocation",
    "HeartRateMeasurement",
]

HEART_RATE_SERVICE_UUID = "0000180d-0000-1000-8000-00805f9b34fb"
HEART_RATE_MEASUREMENT_UUID = "00002a37-0000-1000-8000-00805f9b34fb"
BODY_SENSOR_LOCATION_UUID = "00002a38-0000-1000-8000-00805f9b34fb"
HEART_RATE_CONTROL_POINT_UUID = "00002a39-0000-1000-8000-00805f9b34fb"
RESET_ENERGY_EXPENDED = 0x01
"""The one Heart Rate Control Point command."""

_HR_UINT16 = 0x01
_CONTACT_DETECTED = 0x02
_CONTACT_SUPPORTED = 0x04
_ENERGY_PRESENT = 0x08
_RR_PRESENT = 0x10
_RR_UNIT_S = 1 / 1024


class BodySensorLocation(enum.IntEnum):
    """Value of the Body Sensor Location characteristic (0x2A38)."""

    OTHER = 0
    CHEST = 1
    WRIST = 2
    FINGER = 3
    HAND = 4
    EAR_LOBE = 5
    FOOT = 6


@dataclass(frozen=True)
class HeartRateMeasurement:
    """One Heart Rate Measurement notification.

    Attributes:
        heart_rate: heart rate (bpm), 0..65535.
        sensor_contact: True / False when the sensor reports contact, None when it does not support it.
        energy_expended: cumulative energy (kJ), 0..65535 (65535 means "at least"), or None.
        rr_intervals: beat-to-beat intervals (s), resolution 1/1024 s, each < 64 s.
        wide_format: send the heart rate as u16 even when it fits in a byte (heart rates above 255 bpm
            always use u16); kept so that decoding and re-encoding gives the same bytes.

    Raises:
        FieldRangeError: on construction, when a field does not fit its encoding.
    """

    heart_rate: int
    sensor_contact: bool | None = None
    energy_expended: int | None = None
    rr_intervals: tuple[float, ...] = ()
    wide_format: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.heart_rate <= 0xFFFF:
            raise FieldRangeError("heart_rate", self.heart_rate, "0..65535 bpm")
        if self.energy_expended is not None and not 0 <= self.energy_expended <= 0xFFFF:
            raise FieldRangeError("energy_expended", self.energy_expended, "0..65535 kJ")
        rr = tuple(float(x) for x in self.rr_intervals)
        for x in rr:
            if not 0 <= round(x * 1024) <= 0xFFFF:
                raise FieldRangeError("rr_intervals", x, "0..63.999 s")
        object.__setattr__(self, "rr_intervals", rr)

    @property
    def rr_intervals_ms(self) -> tuple[float, ...]:
        """RR intervals in milliseconds."""
        return tuple(x * 1000 for x in self.rr_intervals)

    def __bytes__(self) -> bytes:
        flags = 0
        wide = self.wide_format or self.heart_rate > 0xFF
        if wide:
            flags |= _HR_UINT16
        if self.sensor_contact is not None:
            flags |= _CONTACT_SUPPORTED | (_CONTACT_DETECTED if self.sensor_contact else 0)
        if self.energy_expended is not None:
            flags |= _ENERGY_PRESENT
        if self.rr_intervals:
            flags |= _RR_PRESENT
        out = bytearray((flags,))
        out += struct.pack("<H" if wide else "<B", self.heart_rate)
        if self.energy_expended is not None:
            out += struct.pack("<H", self.energy_expended)
        for x in self.rr_intervals:
            out += struct.pack("<H", round(x * 1024))
        return bytes(out)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> HeartRateMeasurement:
        """Decode a notification value.

        Raises:
            FrameLengthError: the value is shorter than its flags require, or RR bytes are odd.
        """
        data = bytes(data)
        if not data:
            raise FrameLengthError("HRS measurement", 0, "at least 2")
        flags = data[0]
        wide = bool(flags & _HR_UINT16)
        need = 1 + (2 if wide else 1) + (2 if flags & _ENERGY_PRESENT else 0)
        if len(data) < need:
            raise FrameLengthError("HRS measurement", len(data), f"at least {need} (flags 0x{flags:02X})")
        heart_rate = struct.unpack_from("<H", data, 1)[0] if wide else data[1]
        pos = 3 if wide else 2
        energy = None
        if flags & _ENERGY_PRESENT:
            energy = struct.unpack_from("<H", data, pos)[0]
            pos += 2
        rr: tuple[float, ...] = ()
        rest = len(data) - pos
        if flags & _RR_PRESENT:
            if rest % 2:
                raise FrameLengthError(
                    "HRS measurement", len(data), f"{pos} + a multiple of 2 (RR intervals)"
                )
            rr = tuple(v * _RR_UNIT_S for (v,) in struct.iter_unpack("<H", data[pos:]))
        elif rest:
            raise FrameLengthError("HRS measurement", len(data), f"{pos} (no RR intervals flagged)")
        contact = bool(flags & _CONTACT_DETECTED) if flags & _CONTACT_SUPPORTED else None
        return cls(heart_rate, contact, energy, rr, wide)
