"""Errors of the wire codecs: the anyppg protocol, HRS, PLX and Polar PMD.

All of them derive from :class:`anyppg.errors.ProtocolError` (itself a ``ValueError``), so a reader
can catch one type. Each carries the facts of the failure as attributes.
"""

from __future__ import annotations

from collections.abc import Iterable

from anyppg.errors import ProtocolError

__all__ = [
    "CRCError",
    "FieldRangeError",
    "FrameLengthError",
    "PmdCommandError",
    "ProtocolError",
    "UnknownChannelError",
    "UnknownFrameTypeError",
    "UnsupportedVersionError",
]


class FrameLengthError(ProtocolError):
    """A packet is shorter or longer than its format allows.

    Attributes:
        what: the packet kind (``"anyppg frame"``, ``"HRS measurement"``, ...).
        length: the length that was found (bytes).
        expected: the accepted length or range, in words (``"28..8192"``, ``"at least 2"``).
    """

    def __init__(self, what: str, length: int, expected: str) -> None:
        super().__init__(f"{what}: length {length} bytes; expected {expected}")
        self.what = what
        self.length = length
        self.expected = expected


class CRCError(ProtocolError):
    """A frame's CRC does not match its content.

    Attributes:
        expected: the CRC computed over the received bytes.
        received: the CRC carried by the frame.
    """

    def __init__(self, expected: int, received: int) -> None:
        super().__init__(f"CRC mismatch: frame carries 0x{received:04X}, content gives 0x{expected:04X}")
        self.expected = expected
        self.received = received


class UnknownFrameTypeError(ProtocolError):
    """A frame (or a Polar PMD frame / measurement) type is not one this codec knows.

    Attributes:
        what: which type field (``"anyppg frame type"``, ``"PMD measurement type"``, ...).
        frame_type: the type number that was found.
        known: the type numbers that are understood.
    """

    def __init__(self, what: str, frame_type: int, known: Iterable[int]) -> None:
        self.known = tuple(sorted(known))
        known_text = ", ".join(str(k) for k in self.known) or "none"
        super().__init__(f"unknown {what} {frame_type}; known: {known_text}")
        self.what = what
        self.frame_type = frame_type


class UnknownChannelError(ProtocolError):
    """A channel id in a frame or an info packet is not in :class:`~.protocol.Channel`.

    Attributes:
        channel_id: the id that was found.
    """

    def __init__(self, channel_id: int) -> None:
        super().__init__(f"unknown channel id {channel_id} (0x{channel_id:02X})")
        self.channel_id = channel_id


class UnsupportedVersionError(ProtocolError):
    """A frame or info packet uses a protocol version this codec does not speak.

    Attributes:
        version: the version that was found.
        supported: the versions this codec speaks.
    """

    def __init__(self, version: int, supported: Iterable[int]) -> None:
        self.supported = tuple(supported)
        super().__init__(
            f"protocol version {version} is not supported; supported: {', '.join(map(str, self.supported))}"
        )
        self.version = version


class FieldRangeError(ProtocolError):
    """A field value is outside the range its wire encoding (or its meaning) allows.

    Attributes:
        field: the field's name.
        value: the value that was given or found.
        expected: the accepted range or set, in words.
    """

    def __init__(self, field: str, value: object, expected: str) -> None:
        super().__init__(f"{field} = {value!r} is out of range; expected {expected}")
        self.field = field
        self.value = value
        self.expected = expected


class PmdCommandError(ProtocolError):
    """A Polar device answered a PMD control-point command with an error code.

    Attributes:
        op_code: the command's op code (1 get settings, 2 start, 3 stop, ...).
        measurement_type: the measurement the command was about (0 ECG, 1 PPG, 2 ACC, ...).
        error_code: the device's error code (see ``anyppg.firmware_bridge.polar.PmdError``).
    """

    def __init__(self, op_code: int, measurement_type: int, error_code: int, error_name: str) -> None:
        super().__init__(
            f"PMD command 0x{op_code:02X} for measurement type {measurement_type} failed: "
            f"{error_name} (error code {error_code})"
        )
        self.op_code = op_code
        self.measurement_type = measurement_type
        self.error_code = error_code
