"""Polar Measurement Data (PMD): data frames and control-point packets of Verity Sense, OH1, H10...

Data frames arrive as notifications on the PMD data characteristic::

    0       measurement type (0 ECG, 1 PPG, 2 ACC, ...)
    1..8    u64 timestamp of the LAST sample, ns since 2000-01-01T00:00:00 (the Polar epoch)
    9       frame type: bit 7 = compressed (delta) frame, bits 0-6 = frame type number
    10..    content

Raw content is sample after sample of little-endian signed channel values. Compressed content is a
reference sample (each channel ``ceil(resolution / 8)`` bytes, sign-extended at ``resolution`` bits)
followed by delta blocks ``[bit width u8][sample count u8][packed deltas]``; deltas are ``bit width``-bit
signed fields read least-significant bit first, channel by channel, and each sample is the previous
one plus its deltas (as Polar's own SDK reads them).

Commands are written to the control point and answered by indications there::

    request:  [op code, measurement type, (setting id, count, value...)...]
    response: [0xF0, op code, measurement type, error code, more, parameters...]

Example (the raw PPG frame of Polar's SDK unit test)::

    >>> f = PmdDataFrame.from_bytes(bytes.fromhex("01 00943577 00000000 00") + bytes.fromhex(
    ...     "010203 040506 ffff7f 000000 ffffff 0fefef 000080 0fefef"))
    >>> f.measurement_type.name, f.timestamp_ns, f.samples.tolist()
    ('PPG', 2000000000, [[197121, 394500, 8388607, 0], [-1, -1052913, -8388608, -1052913]])
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from anyppg.firmware_bridge.errors import (
    FieldRangeError,
    FrameLengthError,
    PmdCommandError,
    UnknownFrameTypeError,
)

__all__ = [
    "PMD_CONTROL_POINT_UUID",
    "PMD_DATA_UUID",
    "PMD_SERVICE_UUID",
    "POLAR_EPOCH_UNIX_NS",
    "PmdCommand",
    "PmdDataFrame",
    "PmdError",
    "PmdFrameLayout",
    "PmdMeasurementType",
    "PmdOpCode",
    "PmdResponse",
    "PmdSetting",
    "PmdStreamEncoder",
    "decode_settings",
    "encode_settings",
    "pmd_layout",
    "polar_to_unix_ns",
    "sample_times_ns",
    "unix_to_polar_ns",
]

PMD_SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL_POINT_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
POLAR_EPOCH_UNIX_NS = 946_684_800 * 10**9
"""2000-01-01T00:00:00Z in ns since the Unix epoch: the zero of PMD timestamps."""

_HEADER = struct.Struct("<BQB")
HEADER_SIZE = _HEADER.size  # 10
_COMPRESSED = 0x80
_RESPONSE_CODE = 0xF0


def polar_to_unix_ns(timestamp_ns: int) -> int:
    """PMD time (ns since 2000-01-01) to Unix time (ns since 1970-01-01)."""
    return timestamp_ns + POLAR_EPOCH_UNIX_NS


def unix_to_polar_ns(unix_ns: int) -> int:
    """Unix time (ns) to PMD time (ns since 2000-01-01)."""
    return unix_ns - POLAR_EPOCH_UNIX_NS


class PmdMeasurementType(enum.IntEnum):
    """Byte 0 of a data frame, byte 1 of a command."""

    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAG = 6
    SDK_MODE = 9


class PmdFrameLayout(NamedTuple):
    """How the content of one (measurement type, frame type, compressed) frame is laid out.

    Attributes:
        channels: values per sample (PPG type 0: ppg0, ppg1, ppg2, ambient).
        bits: bits per value: the byte size of raw values, the resolution of compressed ones.
    """

    channels: int
    bits: int


_LAYOUTS: dict[tuple[PmdMeasurementType, int, bool], PmdFrameLayout] = {
    (PmdMeasurementType.PPG, 0, False): PmdFrameLayout(4, 24),
    (PmdMeasurementType.PPG, 0, True): PmdFrameLayout(4, 22),  # Verity Sense default stream
    (PmdMeasurementType.ECG, 0, False): PmdFrameLayout(1, 24),  # H10, µV
    (PmdMeasurementType.ACC, 0, False): PmdFrameLayout(3, 8),
    (PmdMeasurementType.ACC, 1, False): PmdFrameLayout(3, 16),  # H10, mg
    (PmdMeasurementType.ACC, 2, False): PmdFrameLayout(3, 24),
    (PmdMeasurementType.ACC, 0, True): PmdFrameLayout(3, 16),
    (PmdMeasurementType.ACC, 1, True): PmdFrameLayout(3, 16),  # Verity Sense, counts x factor
}


def pmd_layout(measurement_type: int, frame_type: int, compressed: bool) -> PmdFrameLayout:
    """The content layout of a frame kind.

    Raises:
        UnknownFrameTypeError: this codec does not decode that kind (the message names it and lists
            the frame types it knows for the measurement).
    """
    mtype = _measurement_type(measurement_type)
    layout = _LAYOUTS.get((mtype, frame_type, compressed))
    if layout is None:
        known = [ft | (_COMPRESSED if c else 0) for (m, ft, c) in _LAYOUTS if m is mtype]
        kind = "compressed" if compressed else "raw"
        raise UnknownFrameTypeError(f"PMD {mtype.name} {kind} frame type", frame_type, known)
    return layout


def _measurement_type(value: int) -> PmdMeasurementType:
    try:
        return PmdMeasurementType(value)
    except ValueError:
        raise UnknownFrameTypeError(
            "PMD measurement type", value, [int(m) for m in PmdMeasurementType]
        ) from None


# --- raw and delta content --------------------------------------------------------------------------


def _sign_extend(values: np.ndarray, bits: int) -> np.ndarray:
    values = values.astype(np.int64) & ((np.int64(1) << bits) - 1)
    sign = np.int64(1) << (bits - 1)
    return (values ^ sign) - sign


def _decode_ints(content: bytes, n_values: int, n_bytes: int, bits: int) -> np.ndarray:
    raw = np.frombuffer(content, dtype=np.uint8, count=n_values * n_bytes).reshape(n_values, n_bytes)
    weights = np.int64(1) << (8 * np.arange(n_bytes, dtype=np.int64))
    return _sign_extend(raw.astype(np.int64) @ weights, bits)


def _encode_ints(values: np.ndarray, n_bytes: int) -> bytes:
    v = values.astype(np.int64).reshape(-1)
    shifts = 8 * np.arange(n_bytes, dtype=np.int64)
    return ((v[:, None] >> shifts) & 0xFF).astype(np.uint8).tobytes()


def _decode_delta(content: bytes, channels: int, resolution: int) -> np.ndarray:
    ref_bytes = math.ceil(resolution / 8)
    need = ref_bytes * channels
    if len(content) < need:
        raise FrameLengthError(
            "PMD compressed frame", len(content) + HEADER_SIZE, f"at least {need + HEADER_SIZE}"
        )
    rows = [_decode_ints(content, channels, ref_bytes, resolution).reshape(1, channels)]
    pos = need
    while pos < len(content):
        if pos + 2 > len(content):
            raise FrameLengthError(
                "PMD compressed frame", len(content) + HEADER_SIZE, f"a 2-byte delta block header at {pos}"
            )
        width, count = content[pos], content[pos + 1]
        if not 1 <= width <= 32:
            raise FieldRangeError("PMD delta bit width", width, "1..32")
        n_bytes = math.ceil(count * width * channels / 8)
        block = content[pos + 2 : pos + 2 + n_bytes]
        if len(block) < n_bytes:
            raise FrameLengthError(
                "PMD compressed frame",
                len(content) + HEADER_SIZE,
                f"{pos + 2 + n_bytes + HEADER_SIZE} (delta block of {count} x {channels} x {width} bits)",
            )
        bits = np.unpackbits(np.frombuffer(block, dtype=np.uint8), bitorder="little")
        fields = bits[: count * channels * width].reshape(count * channels, width).astype(np.int64)
        deltas = _sign_extend(fields @ (np.int64(1) << np.arange(width, dtype=np.int64)), width)
        rows.append(deltas.reshape(count, channels))
        pos += 2 + n_bytes
    # the first row is the reference sample, the others deltas: a running sum restores the samples
    return np.cumsum(np.concatenate(rows), axis=0)


def _min_width(deltas: np.ndarray) -> int:
    if deltas.size == 0:
        return 1
    hi = int(deltas.max())
    lo = int(deltas.min())
    return max(1, hi.bit_length() + 1, (~lo).bit_length() + 1)


def _encode_delta(samples: np.ndarray, resolution: int, max_block: int = 255) -> bytes:
    out = [_encode_ints(samples[0], math.ceil(resolution / 8))]
    deltas = np.diff(samples.astype(np.int64), axis=0)
    for start in range(0, deltas.shape[0], max_block):
        block = deltas[start : start + max_block]
        width = _min_width(block)
        fields = block.reshape(-1) & ((np.int64(1) << width) - 1)
        bits = ((fields[:, None] >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8).reshape(-1)
        out.append(bytes((width, block.shape[0])))
        out.append(np.packbits(bits, bitorder="little").tobytes())  # ceil(count * width * channels / 8)
    return b"".join(out)


# --- data frames ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PmdDataFrame:
    """One PMD data notification.

    Attributes:
        measurement_type: ECG, PPG, ACC...
        timestamp_ns: time of the LAST sample, ns since 2000-01-01 (see :func:`polar_to_unix_ns`).
        frame_type: frame type number (0..127) without the compressed bit.
        compressed: delta-compressed content (byte 9 bit 7).
        samples: raw values, int64, shape ``(n, channels)``; physical units need the stream's factor
            (ACC) or are µV (ECG) / counts (PPG).

    Raises:
        FieldRangeError, UnknownFrameTypeError: on construction, when a field does not fit.
    """

    measurement_type: PmdMeasurementType
    timestamp_ns: int
    frame_type: int
    compressed: bool
    samples: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "measurement_type", _measurement_type(int(self.measurement_type)))
        if not 0 <= self.timestamp_ns < 2**64:
            raise FieldRangeError("timestamp_ns", self.timestamp_ns, "0..2**64-1 ns")
        if not 0 <= self.frame_type <= 0x7F:
            raise FieldRangeError("frame_type", self.frame_type, "0..127")
        layout = pmd_layout(self.measurement_type, self.frame_type, self.compressed)
        samples = np.asarray(self.samples)
        if samples.ndim != 2 or samples.shape[1] != layout.channels or samples.shape[0] < 1:
            raise FieldRangeError("samples.shape", samples.shape, f"(n >= 1, {layout.channels})")
        if samples.dtype.kind not in "iu":
            raise FieldRangeError("samples.dtype", str(samples.dtype), "integers")
        lo, hi = -(1 << (layout.bits - 1)), (1 << (layout.bits - 1)) - 1
        if samples.min() < lo or samples.max() > hi:
            raise FieldRangeError("samples", f"[{samples.min()}, {samples.max()}]", f"{lo}..{hi}")
        object.__setattr__(self, "samples", samples.astype(np.int64))

    @property
    def layout(self) -> PmdFrameLayout:
        """Channels and bits of this frame kind."""
        return pmd_layout(self.measurement_type, self.frame_type, self.compressed)

    @property
    def n_samples(self) -> int:
        """Samples in this frame."""
        return int(self.samples.shape[0])

    def sample_times_ns(
        self, previous_timestamp_ns: int | None = None, sample_rate_hz: float | None = None
    ) -> np.ndarray:
        """Time of each sample (ns, Polar epoch); see :func:`sample_times_ns`."""
        return sample_times_ns(self.timestamp_ns, self.n_samples, previous_timestamp_ns, sample_rate_hz)

    def __bytes__(self) -> bytes:
        layout = self.layout
        head = _HEADER.pack(
            self.measurement_type,
            self.timestamp_ns,
            self.frame_type | (_COMPRESSED if self.compressed else 0),
        )
        if self.compressed:
            return head + _encode_delta(self.samples, layout.bits)
        return head + _encode_ints(self.samples, layout.bits // 8)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> PmdDataFrame:
        """Decode one data notification.

        Raises:
            FrameLengthError: the frame is shorter than its header, or its content does not hold
                whole samples / whole delta blocks.
            UnknownFrameTypeError: the measurement type or the frame type is one this codec does not
                decode (the error names it).
            FieldRangeError: a delta block has an impossible bit width.
        """
        data = bytes(data)
        if len(data) < HEADER_SIZE + 1:
            raise FrameLengthError("PMD data frame", len(data), f"at least {HEADER_SIZE + 1}")
        mtype, timestamp, ftype_byte = _HEADER.unpack_from(data)
        compressed = bool(ftype_byte & _COMPRESSED)
        frame_type = ftype_byte & 0x7F
        layout = pmd_layout(mtype, frame_type, compressed)
        content = data[HEADER_SIZE:]
        if compressed:
            samples = _decode_delta(content, layout.channels, layout.bits)
        else:
            per_sample = layout.channels * layout.bits // 8
            if len(content) % per_sample:
                raise FrameLengthError(
                    "PMD data frame", len(data), f"{HEADER_SIZE} + a multiple of {per_sample} (whole samples)"
                )
            n = len(content) // per_sample
            samples = _decode_ints(content, n * layout.channels, layout.bits // 8, layout.bits)
            samples = samples.reshape(n, layout.channels)
        frame = object.__new__(cls)
        for name, value in (
            ("measurement_type", PmdMeasurementType(mtype)),
            ("timestamp_ns", timestamp),
            ("frame_type", frame_type),
            ("compressed", compressed),
            ("samples", samples),
        ):
            object.__setattr__(frame, name, value)
        return frame

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PmdDataFrame):
            return NotImplemented
        return (
            self.measurement_type == other.measurement_type
            and self.timestamp_ns == other.timestamp_ns
            and self.frame_type == other.frame_type
            and self.compressed == other.compressed
            and np.array_equal(self.samples, other.samples)
        )

    __hash__ = None  # type: ignore[assignment]


def sample_times_ns(
    timestamp_ns: int,
    n_samples: int,
    previous_timestamp_ns: int | None = None,
    sample_rate_hz: float | None = None,
) -> np.ndarray:
    """Per-sample times (ns, float64) of a frame whose LAST sample is at ``timestamp_ns``.

    With the previous frame's timestamp the ``n`` samples are spread evenly over the interval since it
    (the device clock's own rate, as Polar's SDK does); without it (the first frame, or after a gap) they
    are spaced by the nominal ``sample_rate_hz`` backwards from the last one.

    Raises:
        FieldRangeError: neither a usable previous timestamp nor a sample rate was given.
    """
    if previous_timestamp_ns is not None and 0 < previous_timestamp_ns < timestamp_ns:
        step = (timestamp_ns - previous_timestamp_ns) / n_samples
        return previous_timestamp_ns + step * np.arange(1, n_samples + 1)
    if sample_rate_hz is None or not sample_rate_hz > 0:
        raise FieldRangeError(
            "sample_rate_hz",
            sample_rate_hz,
            "a rate > 0 Hz when there is no earlier timestamp to interpolate from",
        )
    return timestamp_ns - (1e9 / sample_rate_hz) * np.arange(n_samples - 1, -1, -1)


class PmdStreamEncoder:
    """Cuts a sample stream into PMD data frames that each fit one notification (the device side).

    Args:
        measurement_type, frame_type, compressed: the frame kind (e.g. PPG, 0, True for Verity Sense).
        sample_rate_hz: sampling rate (Hz), 55 or 135 for Verity Sense PPG.
        mtu: negotiated ATT MTU; a frame is at most ``mtu - 3`` bytes.
        max_samples: cap on samples per frame.

    Raises:
        UnknownFrameTypeError: the frame kind has no layout here.
        FieldRangeError: the MTU cannot hold one sample.
    """

    def __init__(
        self,
        measurement_type: PmdMeasurementType,
        frame_type: int,
        compressed: bool,
        sample_rate_hz: float,
        *,
        mtu: int = 232,
        max_samples: int = 255,
    ) -> None:
        self.measurement_type = _measurement_type(int(measurement_type))
        self.frame_type = frame_type
        self.compressed = compressed
        self.layout = pmd_layout(self.measurement_type, frame_type, compressed)
        self.sample_rate_hz = float(sample_rate_hz)
        self.room = mtu - 3
        self.max_samples = max_samples
        value_bytes = math.ceil(self.layout.bits / 8) * self.layout.channels
        if self.room < HEADER_SIZE + value_bytes:
            raise FieldRangeError("mtu", mtu, f"at least {HEADER_SIZE + value_bytes + 3}")

    def encode(self, samples: np.ndarray, first_sample_ns: int) -> list[bytes]:
        """Frames for a block of samples whose first sample was taken at ``first_sample_ns``.

        Each frame carries the time of its last sample, as a Polar device does.

        Raises:
            FieldRangeError: the samples do not fit the frame kind.
        """
        samples = np.asarray(samples)
        period = 1e9 / self.sample_rate_hz
        out: list[bytes] = []
        start = 0
        while start < samples.shape[0]:
            n = self._fit(samples[start:])
            chunk = samples[start : start + n]
            frame = PmdDataFrame(
                self.measurement_type,
                round(first_sample_ns + (start + n - 1) * period),
                self.frame_type,
                self.compressed,
                chunk,
            )
            out.append(bytes(frame))
            start += n
        return out

    def _fit(self, rest: np.ndarray) -> int:
        n = min(self.max_samples, rest.shape[0])
        if not self.compressed:
            per_sample = self.layout.channels * self.layout.bits // 8
            return max(1, min(n, (self.room - HEADER_SIZE) // per_sample))
        lo, hi = 1, n  # the largest n whose compressed frame fits (size grows with n)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            size = HEADER_SIZE + len(_encode_delta(rest[:mid], self.layout.bits))
            if size <= self.room:
                lo = mid
            else:
                hi = mid - 1
        return lo


# --- control point ----------------------------------------------------------------------------------


class PmdOpCode(enum.IntEnum):
    """Control-point op codes."""

    GET_MEASUREMENT_SETTINGS = 0x01
    REQUEST_MEASUREMENT_START = 0x02
    STOP_MEASUREMENT = 0x03
    GET_SDK_MODE_SETTINGS = 0x04
    GET_MEASUREMENT_STATUS = 0x05


class PmdSetting(enum.IntEnum):
    """Setting ids in start requests and settings responses."""

    SAMPLE_RATE = 0  # Hz, u16
    RESOLUTION = 1  # bits, u16
    RANGE = 2  # g or deg/s, u16
    RANGE_MILLIUNIT = 3  # i32
    CHANNELS = 4  # u8
    FACTOR = 5  # float32, reported by the device only


_SETTING_FORMATS = {
    PmdSetting.SAMPLE_RATE: struct.Struct("<H"),
    PmdSetting.RESOLUTION: struct.Struct("<H"),
    PmdSetting.RANGE: struct.Struct("<H"),
    PmdSetting.RANGE_MILLIUNIT: struct.Struct("<i"),
    PmdSetting.CHANNELS: struct.Struct("<B"),
    PmdSetting.FACTOR: struct.Struct("<f"),
}


class PmdError(enum.IntEnum):
    """Error codes of control-point responses."""

    SUCCESS = 0
    INVALID_OP_CODE = 1
    INVALID_MEASUREMENT_TYPE = 2
    NOT_SUPPORTED = 3
    INVALID_LENGTH = 4
    INVALID_PARAMETER = 5
    ALREADY_IN_STATE = 6
    INVALID_RESOLUTION = 7
    INVALID_SAMPLE_RATE = 8
    INVALID_RANGE = 9
    INVALID_MTU = 10
    INVALID_NUMBER_OF_CHANNELS = 11
    INVALID_STATE = 12
    DEVICE_IN_CHARGER = 13


SettingValues = Mapping[PmdSetting, int | float | Sequence[int | float]]


def encode_settings(settings: SettingValues) -> bytes:
    """``(setting id, count, value...)`` records, in setting-id order.

    Raises:
        FieldRangeError: a value does not fit its setting's encoding.
    """
    out = bytearray()
    for setting in sorted(settings, key=int):
        fmt = _SETTING_FORMATS[PmdSetting(setting)]
        values = settings[setting]
        seq = list(values) if isinstance(values, Sequence) else [values]
        if not 1 <= len(seq) <= 255:
            raise FieldRangeError(f"{PmdSetting(setting).name} count", len(seq), "1..255")
        out += bytes((setting, len(seq)))
        for v in seq:
            try:
                out += fmt.pack(v)
            except struct.error:
                raise FieldRangeError(
                    PmdSetting(setting).name, v, f"a value for struct format {fmt.format!r}"
                ) from None
    return bytes(out)


def decode_settings(data: bytes) -> dict[PmdSetting, tuple[int | float, ...]]:
    """Parse ``(setting id, count, value...)`` records (a settings response's parameters).

    Raises:
        UnknownFrameTypeError: a setting id is unknown (its value size cannot be known).
        FrameLengthError: a record is cut short.
    """
    out: dict[PmdSetting, tuple[int | float, ...]] = {}
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise FrameLengthError("PMD settings", len(data), f"a 2-byte record header at {pos}")
        try:
            setting = PmdSetting(data[pos])
        except ValueError:
            raise UnknownFrameTypeError("PMD setting id", data[pos], [int(s) for s in PmdSetting]) from None
        count = data[pos + 1]
        fmt = _SETTING_FORMATS[setting]
        end = pos + 2 + count * fmt.size
        if end > len(data):
            raise FrameLengthError("PMD settings", len(data), f"at least {end} ({count} x {setting.name})")
        out[setting] = tuple(v for (v,) in fmt.iter_unpack(data[pos + 2 : end]))
        pos = end
    return out


@dataclass(frozen=True)
class PmdCommand:
    """A control-point request.

    Attributes:
        op_code: what to do.
        measurement_type: which stream.
        settings: for a start request: the chosen value of each setting (one value each).

    Raises:
        FieldRangeError: on construction, settings given to an op code that takes none.
    """

    op_code: PmdOpCode
    measurement_type: PmdMeasurementType
    settings: Mapping[PmdSetting, int | float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "op_code", PmdOpCode(self.op_code))
        object.__setattr__(self, "measurement_type", _measurement_type(int(self.measurement_type)))
        if self.settings and self.op_code is not PmdOpCode.REQUEST_MEASUREMENT_START:
            raise FieldRangeError("settings", dict(self.settings), f"none for {self.op_code.name}")

    @classmethod
    def get_settings(cls, measurement_type: PmdMeasurementType) -> PmdCommand:
        """Ask which settings a measurement supports (answered with settings records)."""
        return cls(PmdOpCode.GET_MEASUREMENT_SETTINGS, measurement_type)

    @classmethod
    def start(cls, measurement_type: PmdMeasurementType, **settings: int | float) -> PmdCommand:
        """Start request, e.g. ``PmdCommand.start(PmdMeasurementType.PPG, sample_rate=55, resolution=22,
        channels=4)`` (keyword names are :class:`PmdSetting` names in lower case)."""
        chosen = {PmdSetting[name.upper()]: value for name, value in settings.items()}
        return cls(PmdOpCode.REQUEST_MEASUREMENT_START, measurement_type, chosen)

    @classmethod
    def stop(cls, measurement_type: PmdMeasurementType) -> PmdCommand:
        """Stop a measurement."""
        return cls(PmdOpCode.STOP_MEASUREMENT, measurement_type)

    @classmethod
    def get_sdk_mode_settings(cls, measurement_type: PmdMeasurementType) -> PmdCommand:
        """Ask which settings a measurement supports in SDK mode (op 0x04; answered like 0x01)."""
        return cls(PmdOpCode.GET_SDK_MODE_SETTINGS, measurement_type)

    @classmethod
    def enable_sdk_mode(cls) -> PmdCommand:
        """Enter SDK mode, ``[0x02, 0x09]``: the wider rate/range options (Verity Sense 135 Hz PPG).

        Devices refuse it (INVALID_STATE) while a measurement runs: stop the streams first.
        """
        return cls(PmdOpCode.REQUEST_MEASUREMENT_START, PmdMeasurementType.SDK_MODE)

    @classmethod
    def disable_sdk_mode(cls) -> PmdCommand:
        """Leave SDK mode, ``[0x03, 0x09]``."""
        return cls(PmdOpCode.STOP_MEASUREMENT, PmdMeasurementType.SDK_MODE)

    def __bytes__(self) -> bytes:
        return bytes((self.op_code, self.measurement_type)) + encode_settings(self.settings)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> PmdCommand:
        """Decode a control-point write (the device side).

        Raises:
            FrameLengthError: fewer than 2 bytes, or settings cut short.
            FieldRangeError: unknown op code, or a setting with more than one value.
            UnknownFrameTypeError: unknown measurement type or setting id.
        """
        data = bytes(data)
        if len(data) < 2:
            raise FrameLengthError("PMD command", len(data), "at least 2")
        try:
            op = PmdOpCode(data[0])
        except ValueError:
            raise FieldRangeError("PMD op code", data[0], f"one of {[int(o) for o in PmdOpCode]}") from None
        settings = decode_settings(data[2:])
        for setting, values in settings.items():
            if len(values) != 1:
                raise FieldRangeError(f"{setting.name} count", len(values), "1 in a request")
        return cls(op, _measurement_type(data[1]), {s: v[0] for s, v in settings.items()})


@dataclass(frozen=True)
class PmdResponse:
    """A control-point response (indication): ``[0xF0, op code, type, error, more, parameters...]``.

    Attributes:
        op_code: the op code answered (an int when the device answers one this codec does not know).
        measurement_type: the measurement type as the device echoes it (an int, unchecked).
        error: :class:`PmdError` (an int when unknown).
        more: the device has more response packets for this command.
        parameters: the rest (settings records for GET_MEASUREMENT_SETTINGS).
    """

    op_code: PmdOpCode | int
    measurement_type: int
    error: PmdError | int = PmdError.SUCCESS
    more: bool = False
    parameters: bytes = b""

    @property
    def ok(self) -> bool:
        """The device accepted the command."""
        return self.error == PmdError.SUCCESS

    @property
    def settings(self) -> dict[PmdSetting, tuple[int | float, ...]]:
        """The parameters parsed as settings records (GET_MEASUREMENT_SETTINGS / SDK mode).

        Raises:
            UnknownFrameTypeError, FrameLengthError: the parameters are not settings records.
        """
        return decode_settings(self.parameters)

    def raise_for_error(self) -> None:
        """Raise if the device refused the command.

        Raises:
            PmdCommandError: ``error`` is not SUCCESS (names the op code, type and error).
        """
        if not self.ok:
            name = self.error.name if isinstance(self.error, PmdError) else "unknown error"
            raise PmdCommandError(int(self.op_code), int(self.measurement_type), int(self.error), name)

    def __bytes__(self) -> bytes:
        return bytes(
            (_RESPONSE_CODE, self.op_code, self.measurement_type, self.error, int(self.more))
        ) + bytes(self.parameters)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> PmdResponse:
        """Decode a control-point indication.

        Raises:
            FrameLengthError: fewer than 5 bytes.
            FieldRangeError: the first byte is not the response code 0xF0.
        """
        data = bytes(data)
        if len(data) < 5:
            raise FrameLengthError("PMD control point response", len(data), "at least 5")
        if data[0] != _RESPONSE_CODE:
            raise FieldRangeError("PMD response code", data[0], "0xF0")
        op: PmdOpCode | int
        err: PmdError | int
        try:
            op = PmdOpCode(data[1])
        except ValueError:
            op = data[1]
        try:
            err = PmdError(data[3])
        except ValueError:
            err = data[3]
        return cls(op, data[2], err, bool(data[4]), data[5:])
