"""The anyppg open wire protocol, version 1: frames, sample formats, channel layout, CRC, MTU sizing.

One frame is one self-describing block of multichannel samples. The same bytes travel over a serial
link (frames back to back, found again by :class:`~anyppg.firmware_bridge.deframer.Deframer`) and as
BLE notifications (exactly one frame per notification, so a frame must fit in ``MTU - 3`` bytes).
``docs/protocol.md`` is the specification; this module and ``c/anyppg_frame.c`` implement it.

Envelope (all integers little-endian)::

    offset  size  field
    0       2     sync          0xA5 0x5A
    2       1     version       1
    3       1     frame type    1 data, 2 device info, 3 control command
    4       2     length        N, bytes of body that follow (not counting the CRC)
    6       N     body
    6+N     2     CRC-16/CCITT-FALSE over bytes 2 .. 6+N (version through end of body)

Data body::

    0   2   sequence number      u16, +1 per data frame, wraps 65535 -> 0
    2   8   timestamp            u64, device clock in µs, of the frame's FIRST sample
    10  4   sample rate          u32, millihertz (125 Hz -> 125000)
    14  1   sample format        0 int16, 1 int24, 2 float32
    15  1   channel count        C, 1..16
    16  4   scale                float32, physical units per count (value = raw * scale)
    20  C   channel ids          u8 each, see :class:`Channel`
    20+C    samples              n x C values, sample-major (s0c0 s0c1 .. s1c0 ..)

Example::

    >>> import numpy as np
    >>> frame = DataFrame(seq=7, timestamp_us=1_000_000, sample_rate_hz=125.0,
    ...                   channels=(Channel.PPG_GREEN,), fmt=SampleFormat.INT16,
    ...                   samples=np.array([[1], [2], [3]]))
    >>> DataFrame.from_bytes(bytes(frame)) == frame
    True
"""

from __future__ import annotations

import binascii
import enum
import functools
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from anyppg.firmware_bridge.errors import (
    CRCError,
    FieldRangeError,
    FrameLengthError,
    UnknownChannelError,
    UnknownFrameTypeError,
    UnsupportedVersionError,
)

__all__ = [
    "DATA_HEADER_SIZE",
    "ENVELOPE_OVERHEAD",
    "HEADER_SIZE",
    "MAX_BODY_SIZE",
    "MAX_CHANNELS",
    "PROTOCOL_VERSION",
    "SYNC",
    "Channel",
    "DataFrame",
    "FrameEncoder",
    "FrameType",
    "SampleFormat",
    "crc16",
    "decode_envelope",
    "encode_envelope",
    "frame_size",
    "max_samples_per_frame",
    "rate_to_millihertz",
]

SYNC = b"\xa5\x5a"
"""The two bytes that open every frame."""
PROTOCOL_VERSION = 1
HEADER_SIZE = 6
"""Sync, version, type and length: the bytes before the body."""
ENVELOPE_OVERHEAD = HEADER_SIZE + 2
"""Bytes a frame adds around its body (header + CRC)."""
DATA_HEADER_SIZE = 20
"""Fixed part of a data body, before the channel ids."""
MAX_CHANNELS = 16
MAX_BODY_SIZE = 8192
"""Largest body a v1 receiver must accept (bytes); longer length fields are rejected as corrupt."""
ATT_NOTIFICATION_OVERHEAD = 3
"""An ATT notification carries at most ``MTU - 3`` bytes of value (opcode + handle)."""

_ENVELOPE = struct.Struct("<2sBBH")
_DATA_HEADER = struct.Struct("<HQIBBf")
_CRC = struct.Struct("<H")
_U64_MAX = 2**64 - 1
_U32_MAX = 2**32 - 1


def crc16(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR.

    ``crc16(b"123456789") == 0x29B1`` (the catalogue check value).

    Args:
        data: the bytes to checksum.
        crc: the running CRC, to continue over several chunks.
    """
    return binascii.crc_hqx(data, crc)


class FrameType(enum.IntEnum):
    """Byte 3 of a frame: what the body holds."""

    DATA = 1
    """Samples: :class:`DataFrame`."""
    INFO = 2
    """Device description: :class:`~anyppg.firmware_bridge.gatt.DeviceInfo` (serial link)."""
    CONTROL = 3
    """Host command: :class:`~anyppg.firmware_bridge.gatt.ControlCommand` (serial link)."""


class SampleFormat(enum.IntEnum):
    """How one sample value is stored on the wire (little-endian)."""

    INT16 = 0
    INT24 = 1
    FLOAT32 = 2

    @property
    def size(self) -> int:
        """Bytes per value."""
        return _FORMAT_SIZE[self]

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype :attr:`DataFrame.samples` has for this format."""
        return np.dtype(_FORMAT_DTYPE[self])

    @property
    def limits(self) -> tuple[float, float]:
        """Smallest and largest value the format stores."""
        return _FORMAT_LIMITS[self]


_FORMAT_SIZE = {SampleFormat.INT16: 2, SampleFormat.INT24: 3, SampleFormat.FLOAT32: 4}
_FORMAT_DTYPE = {SampleFormat.INT16: "<i2", SampleFormat.INT24: "<i4", SampleFormat.FLOAT32: "<f4"}
_FORMAT_LIMITS = {
    SampleFormat.INT16: (-(2**15), 2**15 - 1),
    SampleFormat.INT24: (-(2**23), 2**23 - 1),
    SampleFormat.FLOAT32: (-math.inf, math.inf),
}


class Channel(enum.IntEnum):
    """Channel ids (one byte each in a frame's channel layout).

    Ids are grouped by kind: 0x01-0x0F optical, 0x10-0x1F electrical, 0x20-0x2F motion, 0x30-0x3F other.
    """

    PPG_GREEN = 0x01
    PPG_RED = 0x02
    PPG_IR = 0x03
    PPG_AMBIENT = 0x04
    """Photodiode reading with all LEDs off (ambient light); subtract it from the LED channels."""
    PPG_GREEN_2 = 0x05
    PPG_GREEN_3 = 0x06
    PPG_BLUE = 0x07
    ECG = 0x10
    ACC_X = 0x20
    ACC_Y = 0x21
    ACC_Z = 0x22
    GYRO_X = 0x23
    GYRO_Y = 0x24
    GYRO_Z = 0x25
    TEMPERATURE = 0x30

    @property
    def default_unit(self) -> str:
        """The unit a device reports this channel in unless its info packet says otherwise."""
        if self <= 0x0F:
            return "counts"
        if self == Channel.ECG:
            return "uV"
        if self in (Channel.ACC_X, Channel.ACC_Y, Channel.ACC_Z):
            return "mg"
        if self in (Channel.GYRO_X, Channel.GYRO_Y, Channel.GYRO_Z):
            return "mdps"
        return "degC"

    @property
    def is_ppg(self) -> bool:
        """True for optical (PPG) channels, ambient included."""
        return self <= 0x0F

    @classmethod
    def from_id(cls, channel_id: int) -> Channel:
        """The channel with wire id ``channel_id``.

        Raises:
            UnknownChannelError: the id is not defined.
        """
        try:
            return cls(channel_id)
        except ValueError:
            raise UnknownChannelError(channel_id) from None


_FORMATS = tuple(SampleFormat)


@functools.lru_cache(maxsize=256)
def _channel_layout(ids: bytes) -> tuple[Channel, ...]:
    """The channel tuple of a layout's wire ids (cached: a stream repeats one layout).

    Raises:
        UnknownChannelError: an id is not defined.
    """
    return tuple(Channel.from_id(c) for c in ids)


# --- envelope ---------------------------------------------------------------------------------------


def encode_envelope(frame_type: int, body: bytes) -> bytes:
    """Wrap ``body`` in sync, version, type, length and CRC.

    Raises:
        FrameLengthError: the body is longer than :data:`MAX_BODY_SIZE`.
        FieldRangeError: ``frame_type`` does not fit in a byte.
    """
    if not 0 <= frame_type <= 0xFF:
        raise FieldRangeError("frame_type", frame_type, "0..255")
    if len(body) > MAX_BODY_SIZE:
        raise FrameLengthError("anyppg frame body", len(body), f"at most {MAX_BODY_SIZE}")
    head = _ENVELOPE.pack(SYNC, PROTOCOL_VERSION, frame_type, len(body))
    crc = crc16(body, crc16(head[2:]))
    return b"".join((head, body, _CRC.pack(crc)))


def decode_envelope(frame: bytes | bytearray | memoryview) -> tuple[int, bytes]:
    """Check one complete frame and return ``(frame_type, body)``.

    The frame type is returned as a plain int: checking it is the caller's job.

    Raises:
        FrameLengthError: the buffer is shorter than the header or its length field says.
        FieldRangeError: the sync bytes are wrong.
        UnsupportedVersionError: the version byte is not 1.
        CRCError: the CRC does not match.
    """
    frame = bytes(frame)
    if len(frame) < ENVELOPE_OVERHEAD:
        raise FrameLengthError("anyppg frame", len(frame), f"at least {ENVELOPE_OVERHEAD}")
    sync, version, frame_type, length = _ENVELOPE.unpack_from(frame)
    if sync != SYNC:
        raise FieldRangeError("sync", sync.hex(), SYNC.hex())
    if version != PROTOCOL_VERSION:
        raise UnsupportedVersionError(version, (PROTOCOL_VERSION,))
    if length > MAX_BODY_SIZE:
        raise FrameLengthError("anyppg frame body", length, f"at most {MAX_BODY_SIZE}")
    if len(frame) != length + ENVELOPE_OVERHEAD:
        raise FrameLengthError(
            "anyppg frame", len(frame), f"{length + ENVELOPE_OVERHEAD} (length field {length})"
        )
    (received,) = _CRC.unpack_from(frame, HEADER_SIZE + length)
    computed = crc16(memoryview(frame)[2 : HEADER_SIZE + length])
    if computed != received:
        raise CRCError(computed, received)
    return frame_type, frame[HEADER_SIZE : HEADER_SIZE + length]


# --- sizing -----------------------------------------------------------------------------------------


def frame_size(n_samples: int, n_channels: int, fmt: SampleFormat) -> int:
    """Bytes of a data frame holding ``n_samples`` x ``n_channels`` values in ``fmt``."""
    return ENVELOPE_OVERHEAD + DATA_HEADER_SIZE + n_channels + n_samples * n_channels * SampleFormat(fmt).size


def max_samples_per_frame(mtu: int | None, n_channels: int, fmt: SampleFormat) -> int:
    """Most samples (per channel) a data frame can carry.

    Args:
        mtu: the negotiated ATT MTU (bytes); a notification carries ``mtu - 3`` bytes. ``None`` sizes
            for a serial link, where only :data:`MAX_BODY_SIZE` bounds a frame.
        n_channels: channels per sample (1..16).
        fmt: the sample format.

    Raises:
        FieldRangeError: ``n_channels`` is out of range, or the MTU is too small for even one sample
            (``expected`` names the smallest MTU that works).
    """
    if not 1 <= n_channels <= MAX_CHANNELS:
        raise FieldRangeError("n_channels", n_channels, f"1..{MAX_CHANNELS}")
    per_sample = n_channels * SampleFormat(fmt).size
    body_room = MAX_BODY_SIZE - DATA_HEADER_SIZE - n_channels
    if mtu is not None:
        body_room = min(
            body_room, mtu - ATT_NOTIFICATION_OVERHEAD - ENVELOPE_OVERHEAD - DATA_HEADER_SIZE - n_channels
        )
    n = body_room // per_sample
    if n < 1:
        need = frame_size(1, n_channels, fmt) + ATT_NOTIFICATION_OVERHEAD
        raise FieldRangeError("mtu", mtu, f"at least {need} for {n_channels} x {SampleFormat(fmt).name}")
    return n


# --- data frames ------------------------------------------------------------------------------------


def rate_to_millihertz(rate_hz: float) -> int:
    """The wire encoding of a sampling rate: u32 millihertz (125 Hz -> 125000, 25.6 Hz -> 25600).

    Raises:
        FieldRangeError: the rate is not finite, not positive, or rounds outside 1..2**32-1 mHz.
    """
    if not math.isfinite(rate_hz) or rate_hz <= 0:
        raise FieldRangeError("sample_rate_hz", rate_hz, "a finite rate > 0 Hz")
    mhz = round(rate_hz * 1000)
    if not 1 <= mhz <= _U32_MAX:
        raise FieldRangeError("sample_rate_hz", rate_hz, f"0.001..{_U32_MAX / 1000:g} Hz")
    return mhz


def _decode_values(raw: memoryview | bytes, fmt: SampleFormat, n_channels: int) -> np.ndarray:
    if fmt is SampleFormat.INT24:
        triples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        padded = np.zeros((triples.shape[0], 4), dtype=np.uint8)
        padded[:, 1:] = triples
        values = padded.view("<i4")[:, 0] >> 8  # arithmetic shift sign-extends bit 23
    else:
        values = np.frombuffer(raw, dtype=fmt.dtype).copy()
    return values.reshape(-1, n_channels)


def _encode_values(samples: np.ndarray, fmt: SampleFormat) -> bytes:
    if fmt is SampleFormat.INT24:
        return samples.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    return samples.astype(fmt.dtype, copy=False).tobytes()


def _check_samples(samples: object, n_channels: int, fmt: SampleFormat) -> np.ndarray:
    arr = np.asarray(samples)
    if arr.ndim == 1 and n_channels == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] != n_channels or arr.shape[0] < 1:
        raise FieldRangeError("samples.shape", arr.shape, f"(n >= 1, {n_channels})")
    if fmt is SampleFormat.FLOAT32:
        return arr.astype(fmt.dtype, copy=False)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise FieldRangeError("samples", "non-integer values", f"integers for {fmt.name}")
    elif arr.dtype.kind not in "iu":
        raise FieldRangeError("samples.dtype", str(arr.dtype), f"integers for {fmt.name}")
    lo, hi = fmt.limits
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise FieldRangeError(
            "samples", f"[{arr.min()}, {arr.max()}]", f"{int(lo)}..{int(hi)} for {fmt.name}"
        )
    return arr.astype(fmt.dtype)


@dataclass(frozen=True, eq=False)
class DataFrame:
    """One data frame: ``n`` samples of ``len(channels)`` channels taken at ``sample_rate_hz``.

    Attributes:
        seq: sequence number, 0..65535, +1 per frame, wraps.
        timestamp_us: device time of the first sample (µs, device clock; 0..2**64-1).
        sample_rate_hz: sampling rate (Hz); the wire carries it in millihertz.
        channels: the channel layout, in the order of the sample columns.
        fmt: how values are stored on the wire.
        samples: raw values, shape ``(n, len(channels))``, dtype ``fmt.dtype``.
        scale: physical units per count (the unit is the device's, see ``DeviceInfo.units``); the wire
            carries it as float32, so it is rounded to float32 on construction.

    Raises:
        FieldRangeError: on construction, when a field does not fit its wire encoding.
    """

    seq: int
    timestamp_us: int
    sample_rate_hz: float
    channels: tuple[Channel, ...]
    fmt: SampleFormat
    samples: np.ndarray = field(repr=False)
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.seq <= 0xFFFF:
            raise FieldRangeError("seq", self.seq, "0..65535")
        if not 0 <= self.timestamp_us <= _U64_MAX:
            raise FieldRangeError("timestamp_us", self.timestamp_us, "0..2**64-1 µs")
        rate_to_millihertz(self.sample_rate_hz)
        channels = tuple(Channel.from_id(int(c)) for c in self.channels)
        if not 1 <= len(channels) <= MAX_CHANNELS:
            raise FieldRangeError("channels", len(channels), f"1..{MAX_CHANNELS} channels")
        fmt = SampleFormat(self.fmt)
        if not math.isfinite(self.scale):
            raise FieldRangeError("scale", self.scale, "a finite float32")
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "fmt", fmt)
        object.__setattr__(self, "scale", float(np.float32(self.scale)))
        object.__setattr__(self, "samples", _check_samples(self.samples, len(channels), fmt))

    @property
    def n_samples(self) -> int:
        """Samples per channel in this frame."""
        return int(self.samples.shape[0])

    @property
    def values(self) -> np.ndarray:
        """Samples in physical units (``samples * scale``), float64, shape ``(n, channels)``."""
        return self.samples.astype(np.float64) * self.scale

    @property
    def end_timestamp_us(self) -> float:
        """Device time one sample period after the last sample (µs): the next frame's expected start."""
        return self.timestamp_us + self.n_samples * 1e6 / self.sample_rate_hz

    def sample_times_us(self) -> np.ndarray:
        """Device time of each sample (µs, float64), from the first-sample timestamp and the rate."""
        return self.timestamp_us + np.arange(self.n_samples) * (1e6 / self.sample_rate_hz)

    def channel(self, which: Channel) -> np.ndarray:
        """Raw values of one channel, shape ``(n,)``.

        Raises:
            KeyError: the frame does not carry that channel.
        """
        try:
            return self.samples[:, self.channels.index(which)]
        except ValueError:
            raise KeyError(f"{which!r} not in frame channels {[c.name for c in self.channels]}") from None

    def body(self) -> bytes:
        """The data body (what the envelope wraps)."""
        head = _DATA_HEADER.pack(
            self.seq,
            self.timestamp_us,
            rate_to_millihertz(self.sample_rate_hz),
            self.fmt,
            len(self.channels),
            self.scale,
        )
        return b"".join((head, bytes(self.channels), _encode_values(self.samples, self.fmt)))

    def __bytes__(self) -> bytes:
        return encode_envelope(FrameType.DATA, self.body())

    @classmethod
    def from_body(cls, body: bytes | bytearray | memoryview) -> DataFrame:
        """Decode a data body (the bytes inside the envelope).

        Raises:
            FrameLengthError: the body is too short, or its sample bytes are not whole samples.
            FieldRangeError: the format or channel count is out of range.
            UnknownChannelError: a channel id is not defined.
        """
        n_body = len(body)
        if n_body < DATA_HEADER_SIZE + 1:
            raise FrameLengthError("anyppg data body", n_body, f"at least {DATA_HEADER_SIZE + 1}")
        seq, ts, rate_mhz, fmt_id, n_ch, scale = _DATA_HEADER.unpack_from(body)
        if fmt_id > 2:
            raise FieldRangeError("sample format", fmt_id, "0 (int16), 1 (int24) or 2 (float32)")
        if not 1 <= n_ch <= MAX_CHANNELS:
            raise FieldRangeError("channel count", n_ch, f"1..{MAX_CHANNELS}")
        if rate_mhz == 0:
            raise FieldRangeError("sample rate", 0, "> 0 mHz")
        fmt = _FORMATS[fmt_id]
        start = DATA_HEADER_SIZE + n_ch
        n_value_bytes = n_body - start
        per_sample = n_ch * fmt.size
        if n_value_bytes < per_sample or n_value_bytes % per_sample:
            raise FrameLengthError(
                "anyppg data body", n_body, f"{start} + a multiple of {per_sample} ({n_ch} x {fmt.name})"
            )
        channels = _channel_layout(bytes(body[DATA_HEADER_SIZE:start]))
        if not math.isfinite(scale):
            raise FieldRangeError("scale", scale, "a finite float32")
        frame = object.__new__(cls)  # the fields are valid by construction: skip __post_init__'s checks
        frame.__dict__.update(
            seq=seq,
            timestamp_us=ts,
            sample_rate_hz=rate_mhz / 1000,
            channels=channels,
            fmt=fmt,
            samples=_decode_values(memoryview(body)[start:], fmt, n_ch),
            scale=float(scale),
        )
        return frame

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> DataFrame:
        """Decode one complete frame (envelope and data body).

        Raises:
            FrameLengthError, CRCError, UnsupportedVersionError: the envelope is bad.
            UnknownFrameTypeError: the frame is not a data frame.
            FieldRangeError, UnknownChannelError: the body is bad.
        """
        frame_type, body = decode_envelope(data)
        if frame_type != FrameType.DATA:
            raise UnknownFrameTypeError("anyppg data frame type", frame_type, (FrameType.DATA,))
        return cls.from_body(body)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataFrame):
            return NotImplemented
        return (
            self.seq == other.seq
            and self.timestamp_us == other.timestamp_us
            and rate_to_millihertz(self.sample_rate_hz) == rate_to_millihertz(other.sample_rate_hz)
            and self.channels == other.channels
            and self.fmt == other.fmt
            and self.scale == other.scale
            and self.samples.shape == other.samples.shape
            and np.array_equal(self.samples, other.samples, equal_nan=self.fmt is SampleFormat.FLOAT32)
        )

    __hash__ = None  # type: ignore[assignment]


class FrameEncoder:
    """Cuts a continuous sample stream into consecutive data frames (the device side).

    Keeps the sequence number (wrapping at 65535) and derives each frame's first-sample timestamp from
    the block's timestamp and the rate, so a receiver sees one unbroken time line.

    Args:
        sample_rate_hz: sampling rate (Hz).
        channels: channel layout.
        fmt: sample format on the wire.
        scale: physical units per count.
        mtu: ATT MTU the frames must fit (``mtu - 3`` bytes each); ``None`` for a serial link.
        max_samples: cap on samples per frame (for latency); the MTU bound still applies.
        first_seq: sequence number of the first frame.

    Raises:
        FieldRangeError: a parameter does not fit the wire format.

    Example::

        >>> enc = FrameEncoder(125.0, (Channel.PPG_GREEN,), SampleFormat.INT16, mtu=247)
        >>> frames = enc.encode(np.zeros((250, 1), dtype=np.int16), timestamp_us=0)
        >>> [len(f) for f in frames]
        [243, 243, 101]
    """

    def __init__(
        self,
        sample_rate_hz: float,
        channels: Sequence[Channel],
        fmt: SampleFormat = SampleFormat.INT24,
        scale: float = 1.0,
        *,
        mtu: int | None = None,
        max_samples: int | None = None,
        first_seq: int = 0,
    ) -> None:
        self.sample_rate_hz = float(sample_rate_hz)
        rate_to_millihertz(self.sample_rate_hz)
        self.channels = tuple(Channel.from_id(int(c)) for c in channels)
        self.fmt = SampleFormat(fmt)
        self.scale = float(scale)
        if not math.isfinite(self.scale):
            raise FieldRangeError("scale", scale, "a finite float32")
        limit = max_samples_per_frame(mtu, len(self.channels), self.fmt)
        if max_samples is not None:
            if max_samples < 1:
                raise FieldRangeError("max_samples", max_samples, ">= 1")
            limit = min(limit, max_samples)
        self.samples_per_frame = limit
        if not 0 <= first_seq <= 0xFFFF:
            raise FieldRangeError("first_seq", first_seq, "0..65535")
        self.seq = first_seq

    def encode(self, samples: np.ndarray, timestamp_us: int) -> list[bytes]:
        """Frames for a block of samples whose first sample was taken at ``timestamp_us`` (µs).

        Args:
            samples: shape ``(n, channels)`` (or ``(n,)`` for one channel).

        Raises:
            FieldRangeError: the block's shape or values do not fit the format.
        """
        arr = _check_samples(samples, len(self.channels), self.fmt)
        out = []
        period_us = 1e6 / self.sample_rate_hz
        for start in range(0, arr.shape[0], self.samples_per_frame):
            frame = DataFrame(
                seq=self.seq,
                timestamp_us=int(timestamp_us + round(start * period_us)),
                sample_rate_hz=self.sample_rate_hz,
                channels=self.channels,
                fmt=self.fmt,
                samples=arr[start : start + self.samples_per_frame],
                scale=self.scale,
            )
            out.append(bytes(frame))
            self.seq = (self.seq + 1) & 0xFFFF
        return out
