"""Fault injection for emulated devices: lost frames, corrupted bytes, dropped links -- seeded and counted.

A :class:`FaultInjector` sits between the frame encoder and the link. Each frame is dropped with
probability ``drop`` (it used its sequence number, so the receiver sees a gap), otherwise one byte of
after the envelope header is XOR-ed with a non-zero value with probability ``corrupt`` (the CRC-16
catches every single-byte error, so the receiver must reject it). ``disconnect_every`` asks the emulator to drop the link every
S seconds. Everything is counted in :class:`EmulatorStats` so a test can prove exact accounting:
``samples_sent - samples_dropped - samples_corrupted`` is what a correct receiver delivers.

Example::

    >>> spec = FaultSpec.parse("drop=0.01,corrupt=0.002,disconnect_every=30,seed=7")
    >>> spec.drop, spec.disconnect_every_s
    (0.01, 30.0)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from anyppg.errors import AnyPPGError

__all__ = ["EmulatorStats", "FaultInjector", "FaultSpec", "FaultSpecError"]


class FaultSpecError(AnyPPGError, ValueError):
    """A ``--faults`` value cannot be parsed.

    Attributes:
        spec: the text as given.
        reason: what is wrong, naming the accepted form.
    """

    def __init__(self, spec: str, reason: str) -> None:
        super().__init__(f"bad fault spec {spec!r}: {reason}")
        self.spec = spec
        self.reason = reason


@dataclass(frozen=True)
class FaultSpec:
    """Which faults to inject.

    Attributes:
        drop: probability (0..1) that a frame is lost.
        corrupt: probability (0..1) that one byte of a (not lost) frame is corrupted.
        disconnect_every_s: drop the link every this many seconds of wall time (None: never).
        seed: seed of the random draws (same seed, same faults on the same stream).
    """

    drop: float = 0.0
    corrupt: float = 0.0
    disconnect_every_s: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("drop", "corrupt"):
            p = getattr(self, name)
            if not (isinstance(p, int | float) and 0.0 <= p <= 1.0):
                raise FaultSpecError(f"{name}={p}", f"{name} must be a probability in 0..1")
        s = self.disconnect_every_s
        if s is not None and not (math.isfinite(s) and s > 0):
            raise FaultSpecError(
                f"disconnect_every={s}", "disconnect_every must be a positive number of seconds"
            )

    @property
    def any(self) -> bool:
        """True when at least one fault is enabled."""
        return self.drop > 0 or self.corrupt > 0 or self.disconnect_every_s is not None

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """Parse ``drop=P,corrupt=P,disconnect_every=S,seed=N`` (any subset; empty means none).

        Raises:
            FaultSpecError: an unknown key, a value that is not a number, or one out of range.
        """
        values: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or key not in ("drop", "corrupt", "disconnect_every", "seed"):
                raise FaultSpecError(
                    text, f"unknown item {item!r}; expected drop=P,corrupt=P,disconnect_every=S,seed=N"
                )
            try:
                number = int(value) if key == "seed" else float(value)
            except ValueError:
                raise FaultSpecError(text, f"{key}={value!r} is not a number") from None
            values["disconnect_every_s" if key == "disconnect_every" else key] = number
        try:
            return cls(**values)
        except FaultSpecError as exc:
            raise FaultSpecError(text, exc.reason) from None


@dataclass
class EmulatorStats:
    """What an emulated device did, for exact accounting on the receiving side.

    Attributes:
        frames_sent: data frames that left the encoder (dropped ones included).
        samples_sent: samples (per channel) in those frames.
        frames_dropped: frames lost on purpose; ``samples_dropped`` their samples.
        frames_corrupted: frames sent with one corrupted byte; ``samples_corrupted`` their samples.
        bytes_sent: bytes put on the link.
        disconnects: links dropped on purpose (``disconnect_every``).
        connections: links accepted (BLE) or sessions started.
        dropped_seqs, corrupted_seqs: sequence numbers of the dropped / corrupted frames.
    """

    frames_sent: int = 0
    samples_sent: int = 0
    frames_dropped: int = 0
    samples_dropped: int = 0
    frames_corrupted: int = 0
    samples_corrupted: int = 0
    bytes_sent: int = 0
    disconnects: int = 0
    connections: int = 0
    dropped_seqs: list[int] = field(default_factory=list)
    corrupted_seqs: list[int] = field(default_factory=list)

    @property
    def samples_intact(self) -> int:
        """Samples a correct receiver delivers: sent, minus dropped, minus corrupted."""
        return self.samples_sent - self.samples_dropped - self.samples_corrupted

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (``samples_intact`` included)."""
        out = asdict(self)
        out["samples_intact"] = self.samples_intact
        return out


class FaultInjector:
    """Applies a :class:`FaultSpec` to outgoing frames and counts everything in ``stats``.

    Args:
        spec: the faults (``FaultSpec()`` injects none and only counts).
        stats: where to count (a new :class:`EmulatorStats` when omitted).
        protected_prefix: leading bytes of a frame never corrupted (default: the anyppg envelope header,
            6 bytes). A corrupted length field would make a serial receiver swallow the next frames
            too; corrupting body or CRC costs exactly one frame, which keeps the accounting exact.
    """

    def __init__(
        self, spec: FaultSpec | None = None, stats: EmulatorStats | None = None, *, protected_prefix: int = 6
    ) -> None:
        self.spec = spec or FaultSpec()
        self.stats = stats if stats is not None else EmulatorStats()
        self.protected_prefix = protected_prefix
        self._rng = np.random.default_rng(self.spec.seed)

    def apply(self, frame: bytes, n_samples: int, seq: int) -> bytes | None:
        """The bytes to put on the link for one frame, or None when the frame is lost.

        Args:
            frame: the encoded frame.
            n_samples: samples (per channel) it carries.
            seq: its sequence number (recorded for dropped / corrupted frames).
        """
        stats = self.stats
        stats.frames_sent += 1
        stats.samples_sent += n_samples
        if self.spec.drop and self._rng.random() < self.spec.drop:
            stats.frames_dropped += 1
            stats.samples_dropped += n_samples
            stats.dropped_seqs.append(seq)
            return None
        if (
            self.spec.corrupt
            and len(frame) > self.protected_prefix
            and self._rng.random() < self.spec.corrupt
        ):
            position = int(self._rng.integers(self.protected_prefix, len(frame)))
            flip = int(self._rng.integers(1, 256))
            damaged = bytearray(frame)
            damaged[position] ^= flip
            frame = bytes(damaged)
            stats.frames_corrupted += 1
            stats.samples_corrupted += n_samples
            stats.corrupted_seqs.append(seq)
        stats.bytes_sent += len(frame)
        return frame
