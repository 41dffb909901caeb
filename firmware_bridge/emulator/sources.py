"""What an emulated wearable streams: the simulator or a real recording, as integer sensor counts.

A :class:`Source` holds the whole signal in memory as the device would digitise it -- PPG in ADC
counts, accelerometer in mg, both integers -- so a test can compare what a client decoded with
``source.block(start, n)`` sample for sample. The stream loops: sample ``i`` is ``ppg[i % len]``.

:class:`StreamClock` turns wall time into "samples due" for real-time or faster replay
(``speed=1`` real time, ``speed=10`` ten times faster, ``speed=None`` as fast as the link goes).

Example::

    >>> src = parse_source("recording:spkit-finger-ppg-1")  # doctest: +SKIP
    >>> src.rate_hz, src.channels, src.block(0, 3)  # doctest: +SKIP
    (128.0, (<Channel.PPG_GREEN: 1>,), array([[532], [532], [534]], dtype=int32))
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anyppg.errors import AnyPPGError, InvalidSignalError
from anyppg.firmware_bridge.protocol import Channel

__all__ = [
    "Source",
    "SourceSpecError",
    "StreamClock",
    "parse_source",
    "parse_speed",
    "recording_source",
    "simulator_source",
]

logger = logging.getLogger(__name__)

_INT24_MAX = 2**23 - 1
# A simulated photodiode: DC level and pulse amplitude (counts) of a 22-bit ADC.
_SIM_PPG_DC = 2**20
_SIM_PPG_AMPLITUDE = 2**15
_STANDARD_GRAVITY = 9.80665  # m/s^2 per g


class SourceSpecError(AnyPPGError, ValueError):
    """A ``--source`` / ``--speed`` value cannot be parsed.

    Attributes:
        spec: the text as given.
        reason: what is wrong, naming the accepted forms.
    """

    def __init__(self, spec: str, reason: str) -> None:
        super().__init__(f"bad source {spec!r}: {reason}")
        self.spec = spec
        self.reason = reason


def _to_counts(x: np.ndarray, what: str) -> tuple[np.ndarray, float, float]:
    """Integer counts for a float signal, and ``(offset, gain)`` with ``x ≈ (counts - offset) / gain``.

    Integer-valued signals that fit a signed 24-bit ADC are kept as they are (offset 0, gain 1), so a
    real recording's raw counts travel unchanged; others are rounded when their range fits and has at
    least 100 distinct counts, else mapped onto a simulated 22-bit photodiode (DC 2**20, ±2**15).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise InvalidSignalError(f"{what}: empty or not finite; cannot stream it")
    lo, hi = float(x.min()), float(x.max())
    if lo >= -_INT24_MAX and hi <= _INT24_MAX and hi - lo >= 100:
        return np.round(x).astype(np.int32), 0.0, 1.0
    centre = float(np.median(x))
    peak = max(float(np.max(np.abs(x - centre))), 1e-12)
    gain = _SIM_PPG_AMPLITUDE / peak
    counts = np.round(_SIM_PPG_DC + gain * (x - centre)).astype(np.int32)
    return counts, _SIM_PPG_DC - gain * centre, gain


@dataclass
class Source:
    """A looping multichannel integer signal: what the emulated sensor produces.

    Attributes:
        name: where it comes from (``"sim"``, ``"recording:spkit-finger-ppg-1"``).
        rate_hz: sampling rate (Hz).
        ppg: PPG in counts, shape ``(n,)``, int32.
        acc: accelerometer in mg, shape ``(n, 3)``, int32, or None when the source has none.
        beat_times_s: pulse (or R-peak) times in seconds from the start, when known (for RR intervals).
        hr_t_s, hr_bpm: heart-rate series (s, bpm) for the Heart Rate service.
        meta: provenance; ``ppg_offset`` / ``ppg_gain`` map counts back to the source's units.
    """

    name: str
    rate_hz: float
    ppg: np.ndarray
    acc: np.ndarray | None = None
    beat_times_s: np.ndarray | None = None
    hr_t_s: np.ndarray | None = None
    hr_bpm: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not math.isfinite(self.rate_hz) or self.rate_hz <= 0:
            raise InvalidSignalError(
                f"source rate must be a finite positive number of Hz, got {self.rate_hz}"
            )
        self.ppg = np.asarray(self.ppg, dtype=np.int32).reshape(-1)
        if self.ppg.size < 2:
            raise InvalidSignalError(f"source {self.name!r} has {self.ppg.size} samples; expected at least 2")
        if self.acc is not None:
            self.acc = np.asarray(self.acc, dtype=np.int32)
            if self.acc.shape != (self.ppg.size, 3):
                raise InvalidSignalError(f"acc has shape {self.acc.shape}; expected ({self.ppg.size}, 3)")

    @property
    def n_samples(self) -> int:
        """Samples in one loop of the source."""
        return int(self.ppg.size)

    @property
    def duration_s(self) -> float:
        """Length of one loop (s)."""
        return self.n_samples / self.rate_hz

    @property
    def channels(self) -> tuple[Channel, ...]:
        """Channel layout of :meth:`block`: green PPG, then x/y/z acceleration when present."""
        if self.acc is None:
            return (Channel.PPG_GREEN,)
        return (Channel.PPG_GREEN, Channel.ACC_X, Channel.ACC_Y, Channel.ACC_Z)

    def _indices(self, start: int, n: int) -> np.ndarray:
        return np.arange(start, start + n) % self.n_samples

    def block(self, start: int, n: int) -> np.ndarray:
        """Samples ``start .. start+n-1`` of the endless stream, shape ``(n, len(channels))``, int32."""
        idx = self._indices(start, n)
        if self.acc is None:
            return self.ppg[idx].reshape(-1, 1)
        return np.column_stack((self.ppg[idx], self.acc[idx]))

    def heart_rate_at(self, t_s: float) -> float | None:
        """Heart rate (bpm) at stream time ``t_s`` (s), looping with the signal; None when unknown."""
        if self.hr_t_s is None or self.hr_bpm is None or self.hr_bpm.size == 0:
            return None
        t = t_s % self.duration_s
        return float(np.interp(t, self.hr_t_s, self.hr_bpm))

    def beats_between(self, t0_s: float, t1_s: float) -> np.ndarray:
        """Beat times (s, stream time, increasing) in ``[t0_s, t1_s)``; empty when beats are unknown."""
        if self.beat_times_s is None or self.beat_times_s.size == 0 or t1_s <= t0_s:
            return np.empty(0)
        loop = self.duration_s
        first, last = int(t0_s // loop), int(t1_s // loop)
        out = [self.beat_times_s + k * loop for k in range(first, last + 1)]
        beats = np.concatenate(out)
        return beats[(beats >= t0_s) & (beats < t1_s)]

    def resampled(self, rate_hz: float) -> Source:
        """This source at another rate (linear interpolation, rounded to counts), e.g. Polar's 55 Hz."""
        if rate_hz == self.rate_hz:
            return self
        n_out = max(2, int(self.duration_s * rate_hz))
        t_out = np.arange(n_out) / rate_hz
        t_in = np.arange(self.n_samples) / self.rate_hz
        ppg = np.round(np.interp(t_out, t_in, self.ppg)).astype(np.int32)
        acc = None
        if self.acc is not None:
            acc = np.column_stack([np.round(np.interp(t_out, t_in, self.acc[:, k])) for k in range(3)])
        return Source(
            name=self.name,
            rate_hz=float(rate_hz),
            ppg=ppg,
            acc=acc,
            beat_times_s=self.beat_times_s,
            hr_t_s=self.hr_t_s,
            hr_bpm=self.hr_bpm,
            meta={**self.meta, "resampled_from_hz": self.rate_hz},
        )


def simulator_source(
    duration_s: float = 300.0,
    *,
    heart_rate: float = 70.0,
    motion: float = 0.0,
    rate_hz: float = 125.0,
    seed: int = 0,
) -> Source:
    """A source from ``anyppg.simulate``: PPG as a 22-bit photodiode, accelerometer in mg.

    Args:
        duration_s: length of one loop of the signal (s).
        heart_rate: mean heart rate (bpm).
        motion: motion-artefact level passed to the simulator (0 = at rest).
        rate_hz: PPG and accelerometer rate (Hz).
        seed: simulator seed (same seed, same samples).

    Raises:
        InvalidSignalError: the simulator returned something that cannot be streamed.
    """
    from anyppg.simulator import simulate

    sim = simulate(duration_s, heart_rate=heart_rate, motion=motion, ppg_rate=rate_hz, seed=seed)
    ppg = np.asarray(sim.ppg, dtype=np.float64)
    centre = float(np.median(ppg))
    gain = _SIM_PPG_AMPLITUDE / max(float(np.max(np.abs(ppg - centre))), 1e-12)
    counts = np.round(_SIM_PPG_DC + gain * (ppg - centre)).astype(np.int32)
    acc_mg = np.round(np.asarray(sim.acc, dtype=np.float64) * 1000.0).astype(np.int32)  # g -> mg
    return Source(
        name=f"sim:hr={heart_rate:g},motion={motion:g},seed={seed}",
        rate_hz=float(rate_hz),
        ppg=counts,
        acc=acc_mg,
        beat_times_s=np.asarray(sim.pulse_peaks, dtype=np.float64),
        hr_t_s=np.asarray(sim.r_peaks, dtype=np.float64),
        hr_bpm=np.asarray(sim.hr, dtype=np.float64),
        meta={"ppg_offset": _SIM_PPG_DC - gain * centre, "ppg_gain": gain, "acc_units": "mg", "seed": seed},
    )


def recording_source(name: str) -> Source:
    """A source replaying a packaged recording (``anyppg.recordings.load(name)``).

    Raw integer counts are streamed unchanged; accelerometer data in m/s² or g is converted to mg.

    Raises:
        RecordingNotFoundError: the recording is not installed (the message has the pip command).
        InvalidSignalError: the recording has no PPG.
    """
    from anyppg import recordings

    rec = recordings.load(name)
    if rec.ppg is None or not rec.ppg_fs:
        raise InvalidSignalError(f"recording {name!r} has no PPG to stream (it is an ECG recording)")
    counts, offset, gain = _to_counts(rec.ppg, f"recording {name!r} PPG")
    acc_mg = None
    if rec.acc is not None:
        unit = str(rec.meta.get("acc_units", "")).lower().replace(" ", "")
        factor = {"m/s^2": 1000.0 / _STANDARD_GRAVITY, "m/s2": 1000.0 / _STANDARD_GRAVITY, "g": 1000.0}.get(
            unit, 1.0
        )
        acc_mg = np.round(np.asarray(rec.acc, dtype=np.float64) * factor).astype(np.int32)
    return Source(
        name=f"recording:{name}",
        rate_hz=float(rec.ppg_fs),
        ppg=counts,
        acc=acc_mg,
        hr_t_s=None if rec.hr_t is None else np.asarray(rec.hr_t, dtype=np.float64),
        hr_bpm=None if rec.hr_bpm is None else np.asarray(rec.hr_bpm, dtype=np.float64),
        meta={
            "ppg_offset": offset,
            "ppg_gain": gain,
            "ppg_units": rec.meta.get("ppg_units"),
            "acc_units": "mg",
        },
    )


_SIM_KEYS = {"hr": float, "motion": float, "seed": int, "rate": float, "duration": float}


def parse_source(spec: str) -> Source:
    """Build a source from ``sim``, ``sim:hr=80,motion=0.5,seed=1,rate=125,duration=300`` or ``recording:NAME``.

    Raises:
        SourceSpecError: the text is not one of those forms.
        RecordingNotFoundError: the named recording is not installed.
    """
    kind, _, rest = spec.partition(":")
    if kind == "recording":
        if not rest:
            raise SourceSpecError(spec, "recording needs a name, e.g. recording:spkit-finger-ppg-1")
        return recording_source(rest)
    if kind != "sim":
        raise SourceSpecError(spec, "expected 'sim', 'sim:hr=80,seed=1' or 'recording:NAME'")
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in _SIM_KEYS:
            raise SourceSpecError(spec, f"unknown simulator option {item!r}; known: {', '.join(_SIM_KEYS)}")
        try:
            params[key] = _SIM_KEYS[key](value)
        except ValueError:
            raise SourceSpecError(spec, f"{key}={value!r} is not a {_SIM_KEYS[key].__name__}") from None
    return simulator_source(
        params.get("duration", 300.0),
        heart_rate=params.get("hr", 70.0),
        motion=params.get("motion", 0.0),
        rate_hz=params.get("rate", 125.0),
        seed=params.get("seed", 0),
    )


def parse_speed(text: str) -> float | None:
    """``"1"`` real time, ``"10"`` ten times faster, ``"max"`` as fast as possible (None).

    Raises:
        SourceSpecError: not a positive number or ``max``.
    """
    if text.strip().lower() == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise SourceSpecError(text, "speed must be a positive number or 'max'") from None
    if not math.isfinite(speed) or speed <= 0:
        raise SourceSpecError(text, "speed must be a positive number or 'max'")
    return speed


class StreamClock:
    """How many samples a device running at ``rate_hz`` has produced, ``speed`` times faster than life.

    Args:
        rate_hz: the sensor rate (Hz).
        speed: real-time multiple; None means no pacing (everything is always due).
        start: the wall time (s, e.g. ``loop.time()``) of sample 0.
    """

    def __init__(self, rate_hz: float, speed: float | None, start: float) -> None:
        self.rate_hz = rate_hz
        self.speed = speed
        self.start = start

    def due(self, now: float) -> int | None:
        """Samples produced by wall time ``now`` (s); None when unpaced."""
        if self.speed is None:
            return None
        return int((now - self.start) * self.rate_hz * self.speed)

    def time_of(self, sample: int) -> float:
        """Wall time (s) at which sample number ``sample`` is produced (``start`` when unpaced)."""
        if self.speed is None:
            return self.start
        return self.start + sample / (self.rate_hz * self.speed)
