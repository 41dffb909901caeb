"""The anyppg BLE GATT profile: UUIDs, the device-info packet and the control commands.

One primary service with three characteristics:

========================  =======================  =====================================================
characteristic            properties               value
========================  =======================  =====================================================
data      (``…0002``)     notify                   one :class:`~.protocol.DataFrame` per notification
control   (``…0003``)     write (with response)    one :class:`ControlCommand`
info      (``…0004``)     read                     one :class:`DeviceInfo`
========================  =======================  =====================================================

On a serial link the same info and control packets travel inside frames of type
:attr:`~.protocol.FrameType.INFO` / :attr:`~.protocol.FrameType.CONTROL` (see :func:`info_frame`,
:func:`control_frame`). ``docs/protocol.md`` is the specification.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from anyppg.firmware_bridge.errors import FieldRangeError, FrameLengthError, UnsupportedVersionError
from anyppg.firmware_bridge.protocol import (
    MAX_CHANNELS,
    PROTOCOL_VERSION,
    Channel,
    FrameType,
    SampleFormat,
    encode_envelope,
    rate_to_millihertz,
)

__all__ = [
    "ANYPPG_CONTROL_UUID",
    "ANYPPG_DATA_UUID",
    "ANYPPG_INFO_UUID",
    "ANYPPG_SERVICE_UUID",
    "MAX_INFO_SIZE",
    "ControlCommand",
    "ControlOpcode",
    "DeviceInfo",
    "control_frame",
    "info_frame",
]

ANYPPG_SERVICE_UUID = "a4930001-b943-475c-ba75-2a395da0cc45"
ANYPPG_DATA_UUID = "a4930002-b943-475c-ba75-2a395da0cc45"
ANYPPG_CONTROL_UUID = "a4930003-b943-475c-ba75-2a395da0cc45"
ANYPPG_INFO_UUID = "a4930004-b943-475c-ba75-2a395da0cc45"
MAX_INFO_SIZE = 512
"""Largest value of an ATT attribute (Core spec Vol 3 Part F 3.2.9), hence of the info packet."""

_INFO_HEAD = struct.Struct("<BIBB")
_U32 = struct.Struct("<I")


def _pack_str(text: str, what: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise FieldRangeError(what, text, "at most 255 UTF-8 bytes")
    return bytes((len(raw),)) + raw


def _unpack_str(data: bytes, pos: int, what: str) -> tuple[str, int]:
    if pos >= len(data):
        raise FrameLengthError("device info", len(data), f"more than {pos} bytes (missing {what})")
    n = data[pos]
    end = pos + 1 + n
    if end > len(data):
        raise FrameLengthError("device info", len(data), f"at least {end} bytes ({what} of {n} bytes)")
    try:
        return data[pos + 1 : end].decode("utf-8"), end
    except UnicodeDecodeError:
        raise FieldRangeError(what, data[pos + 1 : end].hex(), "UTF-8 text") from None


@dataclass(frozen=True)
class DeviceInfo:
    """What a device streams: the value of the info characteristic.

    Layout: ``version u8 | sample rate u32 (mHz) | format u8 | C u8 | C channel ids | C units
    (u8 length + UTF-8 each) | firmware version (u8 length + UTF-8)``.

    Attributes:
        sample_rate_hz: current sampling rate (Hz).
        channels: channel layout of the data frames.
        fmt: sample format of the data frames.
        units: physical unit of each channel after ``scale`` (``"counts"``, ``"uV"``, ``"mg"``...);
            defaults to each channel's :attr:`~.protocol.Channel.default_unit`.
        firmware_version: free text, e.g. ``"1.2.0"``.
        protocol_version: the wire protocol the device speaks.

    Raises:
        FieldRangeError: on construction, when a field does not fit its encoding.
    """

    sample_rate_hz: float
    channels: tuple[Channel, ...]
    fmt: SampleFormat = SampleFormat.INT24
    units: tuple[str, ...] = ()
    firmware_version: str = ""
    protocol_version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        rate_to_millihertz(self.sample_rate_hz)
        channels = tuple(Channel.from_id(int(c)) for c in self.channels)
        if not 1 <= len(channels) <= MAX_CHANNELS:
            raise FieldRangeError("channels", len(channels), f"1..{MAX_CHANNELS} channels")
        units = tuple(self.units) or tuple(c.default_unit for c in channels)
        if len(units) != len(channels):
            raise FieldRangeError("units", len(units), f"one unit per channel ({len(channels)})")
        if not 0 <= self.protocol_version <= 0xFF:
            raise FieldRangeError("protocol_version", self.protocol_version, "0..255")
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "fmt", SampleFormat(self.fmt))
        object.__setattr__(self, "units", units)
        size = len(bytes(self))
        if size > MAX_INFO_SIZE:
            raise FieldRangeError("device info size", size, f"at most {MAX_INFO_SIZE} bytes")

    def __bytes__(self) -> bytes:
        parts = [
            _INFO_HEAD.pack(
                self.protocol_version, rate_to_millihertz(self.sample_rate_hz), self.fmt, len(self.channels)
            ),
            bytes(self.channels),
        ]
        parts += [_pack_str(u, "unit") for u in self.units]
        parts.append(_pack_str(self.firmware_version, "firmware_version"))
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> DeviceInfo:
        """Decode an info characteristic value (or the body of an INFO frame).

        Raises:
            FrameLengthError: the value is truncated or has bytes left over.
            UnsupportedVersionError: the device speaks another protocol version.
            FieldRangeError, UnknownChannelError: a field is invalid.
        """
        data = bytes(data)
        if len(data) < _INFO_HEAD.size:
            raise FrameLengthError("device info", len(data), f"at least {_INFO_HEAD.size}")
        version, rate_mhz, fmt_id, n_ch = _INFO_HEAD.unpack_from(data)
        if version != PROTOCOL_VERSION:
            raise UnsupportedVersionError(version, (PROTOCOL_VERSION,))
        if fmt_id > 2:
            raise FieldRangeError("sample format", fmt_id, "0 (int16), 1 (int24) or 2 (float32)")
        if rate_mhz == 0:
            raise FieldRangeError("sample rate", 0, "> 0 mHz")
        pos = _INFO_HEAD.size + n_ch
        if len(data) < pos:
            raise FrameLengthError("device info", len(data), f"at least {pos} ({n_ch} channel ids)")
        channels = tuple(Channel.from_id(c) for c in data[_INFO_HEAD.size : pos])
        units = []
        for _ in range(n_ch):
            unit, pos = _unpack_str(data, pos, "unit")
            units.append(unit)
        firmware, pos = _unpack_str(data, pos, "firmware_version")
        if pos != len(data):
            raise FrameLengthError("device info", len(data), f"{pos} (bytes left over)")
        return cls(rate_mhz / 1000, channels, SampleFormat(fmt_id), tuple(units), firmware, version)


class ControlOpcode(enum.IntEnum):
    """Byte 0 of a control command."""

    START = 0x01
    """Start streaming data frames."""
    STOP = 0x02
    """Stop streaming."""
    SET_RATE = 0x03
    """Change the sampling rate; parameter u32 millihertz. The device answers a rate it cannot do by
    rejecting the write (ATT error 0x80, BLE) or ignoring it (serial); the info packet shows the rate."""
    GET_INFO = 0x04
    """Serial links only: ask the device to send an INFO frame."""


@dataclass(frozen=True)
class ControlCommand:
    """A host-to-device command: the value written to the control characteristic.

    Layout: ``opcode u8`` then, for :attr:`ControlOpcode.SET_RATE` only, ``rate u32 (mHz)``.

    Attributes:
        opcode: what to do.
        sample_rate_hz: the requested rate (Hz) for ``SET_RATE``, else ``None``.

    Raises:
        FieldRangeError: on construction, when ``sample_rate_hz`` is missing, extra or out of range.
    """

    opcode: ControlOpcode
    sample_rate_hz: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "opcode", ControlOpcode(self.opcode))
        if self.opcode is ControlOpcode.SET_RATE:
            if self.sample_rate_hz is None:
                raise FieldRangeError("sample_rate_hz", None, "a rate in Hz for SET_RATE")
            rate_to_millihertz(self.sample_rate_hz)
        elif self.sample_rate_hz is not None:
            raise FieldRangeError("sample_rate_hz", self.sample_rate_hz, f"None for {self.opcode.name}")

    @classmethod
    def start(cls) -> ControlCommand:
        """Start streaming data frames."""
        return cls(ControlOpcode.START)

    @classmethod
    def stop(cls) -> ControlCommand:
        """Stop streaming."""
        return cls(ControlOpcode.STOP)

    @classmethod
    def set_rate(cls, sample_rate_hz: float) -> ControlCommand:
        """Ask for ``sample_rate_hz`` (Hz)."""
        return cls(ControlOpcode.SET_RATE, float(sample_rate_hz))

    @classmethod
    def get_info(cls) -> ControlCommand:
        """Ask for an INFO frame (serial links)."""
        return cls(ControlOpcode.GET_INFO)

    def __bytes__(self) -> bytes:
        if self.opcode is ControlOpcode.SET_RATE and self.sample_rate_hz is not None:
            return bytes((self.opcode,)) + _U32.pack(rate_to_millihertz(self.sample_rate_hz))
        return bytes((self.opcode,))

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> ControlCommand:
        """Decode a control write (or the body of a CONTROL frame).

        Raises:
            FrameLengthError: the length does not match the opcode.
            FieldRangeError: the opcode is unknown or the rate is 0.
        """
        data = bytes(data)
        if not data:
            raise FrameLengthError("control command", 0, "at least 1")
        try:
            opcode = ControlOpcode(data[0])
        except ValueError:
            raise FieldRangeError(
                "control opcode", data[0], f"one of {[int(o) for o in ControlOpcode]}"
            ) from None
        expected = 1 + _U32.size if opcode is ControlOpcode.SET_RATE else 1
        if len(data) != expected:
            raise FrameLengthError(f"control command {opcode.name}", len(data), str(expected))
        if opcode is ControlOpcode.SET_RATE:
            (mhz,) = _U32.unpack_from(data, 1)
            if mhz == 0:
                raise FieldRangeError("sample rate", 0, "> 0 mHz")
            return cls(opcode, mhz / 1000)
        return cls(opcode)


def info_frame(info: DeviceInfo) -> bytes:
    """An INFO frame for a serial link."""
    return encode_envelope(FrameType.INFO, bytes(info))


def control_frame(command: ControlCommand) -> bytes:
    """A CONTROL frame for a serial link."""
    return encode_envelope(FrameType.CONTROL, bytes(command))
