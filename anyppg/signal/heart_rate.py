"""Heart rate from PPG: per segment (``heart_rate``) and tracked across a stream (``HeartRateTracker``).

Motion suppression: walking or running shakes the sensor at the step rate and its harmonics, and
that artefact can dominate the PPG spectrum. When a 3-axis accelerometer at the same rate is given,
the spectral peaks of the acceleration and their harmonics are attenuated in the PPG spectrum
before the heart-rate peak is chosen (the idea of TROIKA / spectral-subtraction trackers). The
tracker adds continuity: the spectrum is weighted by a Gaussian prior around the previous estimate
(heart rate changes by a few bpm per second at most), in the spirit of BeliefPPG's transition prior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import signal as sps

from anyppg.signal._checks import InvalidParameterError, as_acc, as_signal, check_positive, check_rate
from anyppg.signal.constants import HR_RANGE_BPM, MODEL_FS
from anyppg.signal.filters import ppg_bandpass_sos, ppg_clean
from anyppg.signal.peaks import ppg_findpeaks

HRMethod = Literal["auto", "peaks", "spectral"]

MIN_HR_SEGMENT_S = 4.0
"""Shortest segment a heart rate is estimated from (s)."""

_RESOLUTION_HZ = 1 / 240  # FFT bin spacing after zero padding: 0.25 bpm
_MOTION_WIDTH_HZ = 0.06  # half-width of the attenuation around each motion frequency
_MOTION_DEPTH = 0.97  # fraction of PPG power removed at a motion frequency
_MOTION_PEAK_REL = 0.15  # acc peaks this strong relative to the largest are suppressed
_HARMONICS = (0.5, 1.0, 2.0, 3.0)


@dataclass(frozen=True)
class Spectrum:
    """A one-sided power spectrum: ``freqs`` (Hz) and ``power`` (arbitrary units, same length)."""

    freqs: np.ndarray
    power: np.ndarray


def _nfft(n: int, fs: float) -> int:
    return 1 << max(math.ceil(math.log2(max(n, fs / _RESOLUTION_HZ))), 1)


def _power(x: np.ndarray, fs: float) -> Spectrum:
    """Hann-windowed, zero-padded periodogram of ``x`` along axis 0; channels are summed."""
    x = x - x.mean(axis=0)
    win = np.hanning(len(x))
    if x.ndim == 2:
        win = win[:, None]
    n = _nfft(len(x), fs)
    p = np.abs(np.fft.rfft(x * win, n=n, axis=0)) ** 2
    if p.ndim == 2:
        p = (p / np.maximum(p.max(axis=0), np.finfo(float).tiny)).sum(axis=1)
    return Spectrum(np.fft.rfftfreq(n, 1 / fs), p)


def motion_gain(freqs: np.ndarray, acc: np.ndarray, fs: float) -> np.ndarray:
    """Per-frequency gain in [0, 1] that attenuates the accelerometer's peaks and their harmonics.

    Args:
        freqs: frequencies (Hz) at which to evaluate the gain.
        acc: accelerometer, shape (n, 3), at ``fs``; gravity and slow drift are removed first.
        fs: rate (Hz).

    Returns:
        The gain, same length as ``freqs``; 1 where there is no motion.
    """
    if fs > 2 * 8.0:
        acc = sps.sosfiltfilt(ppg_bandpass_sos(fs), acc, axis=0)
    spec = _power(acc, fs)
    if spec.power.max() <= 0:
        return np.ones_like(freqs)
    band = (spec.freqs >= 0.4) & (spec.freqs <= 8.0)
    power = np.where(band, spec.power, 0.0)
    peaks, props = sps.find_peaks(power, height=_MOTION_PEAK_REL * power.max())
    gain = np.ones_like(freqs)
    for f0, h in zip(spec.freqs[peaks], props["peak_heights"] / power.max(), strict=True):
        depth = _MOTION_DEPTH * min(1.0, 2 * h)
        for k in _HARMONICS:
            gain *= 1 - depth * np.exp(-0.5 * ((freqs - k * f0) / _MOTION_WIDTH_HZ) ** 2)
    return gain


def _hr_spectrum(ppg: np.ndarray, fs: float, acc: np.ndarray | None) -> Spectrum:
    spec = _power(ppg, fs)
    power = spec.power / max(float(spec.power.max()), np.finfo(float).tiny)
    if acc is not None:
        power = power * motion_gain(spec.freqs, acc, fs)
    return Spectrum(spec.freqs, power)


def _peak_bpm(spec: Spectrum, weight: np.ndarray | None, lo_bpm: float, hi_bpm: float) -> float:
    band = (spec.freqs >= lo_bpm / 60) & (spec.freqs <= hi_bpm / 60)
    score = spec.power * (weight if weight is not None else 1.0)
    score = np.where(band, score, -np.inf)
    i = int(np.argmax(score))
    if not np.isfinite(score[i]) or score[i] <= 0:
        return math.nan
    # Parabolic interpolation between neighbouring bins.
    if 0 < i < len(score) - 1 and np.isfinite(score[i - 1]) and np.isfinite(score[i + 1]):
        a, b, c = score[i - 1], score[i], score[i + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
    else:
        shift = 0.0
    return float((spec.freqs[i] + shift * (spec.freqs[1] - spec.freqs[0])) * 60)


def heart_rate(
    signal: np.ndarray,
    sampling_rate: float,
    *,
    acc: np.ndarray | None = None,
    method: HRMethod = "auto",
    bpm_range: tuple[float, float] = HR_RANGE_BPM,
) -> float:
    """Estimate the heart rate of a PPG segment (bpm).

    Methods:
        ``"peaks"``: 60 / median inter-beat interval of :func:`ppg_findpeaks`.
        ``"spectral"``: the largest peak of the PPG power spectrum within ``bpm_range``, after
        motion suppression when ``acc`` is given.
        ``"auto"``: ``"spectral"`` when ``acc`` is given, else ``"peaks"``.

    Args:
        signal: raw PPG segment, shape (n,), at least 4 s long.
        sampling_rate: its rate (Hz), above 16 Hz.
        acc: optional accelerometer, shape (n, 3), same rate, to suppress motion artefacts.
        method: see above.
        bpm_range: plausible heart rates (bpm).

    Returns:
        Heart rate in bpm, or NaN when no pulse is found (a flat segment, for example).

    Raises:
        InvalidSignalError: wrong dtype/shape, NaN/inf, or shorter than 4 s.
        UnsupportedRateError: rate not above 16 Hz.
        InvalidParameterError: unknown ``method``.

    Example:
        >>> import anyppg
        >>> sim = anyppg.simulate(30, heart_rate=84, seed=4)
        >>> round(heart_rate(sim.ppg, sim.ppg_rate))
        84
    """
    fs = check_rate(sampling_rate, what="PPG heart rate", minimum=16.0)
    x = as_signal(signal, name="PPG segment", min_samples=round(MIN_HR_SEGMENT_S * fs), rate=fs)
    a = None if acc is None else as_acc(acc, len(x))
    lo, hi = bpm_range
    if method == "auto":
        method = "spectral" if a is not None else "peaks"
    if np.ptp(x) == 0:
        return math.nan
    if method == "peaks":
        peaks = ppg_findpeaks(x, fs)
        ibi = np.diff(peaks) / fs
        ibi = ibi[(ibi >= 60 / hi) & (ibi <= 60 / lo)]
        return float(60 / np.median(ibi)) if len(ibi) else math.nan
    if method == "spectral":
        return _peak_bpm(_hr_spectrum(ppg_clean(x, fs), fs, a), None, lo, hi)
    raise InvalidParameterError("method", method, "'auto', 'peaks' or 'spectral'")


class HeartRateTracker:
    """Track heart rate across consecutive (overlapping) PPG windows of a stream.

    Each :meth:`update` takes one band-passed window (``Window.filtered``) and optionally its
    accelerometer; the PPG power spectrum is motion-suppressed (see the module docstring), weighted by
    a Gaussian prior centred on the previous estimate whose width grows with the time since it
    (``max_change_bpm_per_s``), and its peak is the new estimate. The prior has a floor, so a
    clearly dominant new peak can still win after a lost track.

    Args:
        sampling_rate: rate of the windows (Hz), 125 Hz for model windows.
        max_change_bpm_per_s: typical largest heart-rate change (bpm per second).
        bpm_range: plausible heart rates (bpm).

    Raises:
        UnsupportedRateError: rate not above 16 Hz.
        InvalidParameterError: non-positive ``max_change_bpm_per_s``.

    Example:
        >>> import anyppg
        >>> from anyppg.signal import preprocess_recording
        >>> sim = anyppg.simulate(40, heart_rate=66, seed=5)
        >>> tracker = HeartRateTracker()
        >>> hrs = [tracker.update(w.filtered, w.acc, dt_s=2.0) for w in preprocess_recording(sim.ppg, 125.0)]
        >>> abs(hrs[-1] - 66) < 3
        True
    """

    def __init__(
        self,
        sampling_rate: float = MODEL_FS,
        *,
        max_change_bpm_per_s: float = 3.0,
        bpm_range: tuple[float, float] = HR_RANGE_BPM,
    ) -> None:
        self.sampling_rate = check_rate(sampling_rate, what="heart-rate tracker", minimum=16.0)
        self.max_change = check_positive("max_change_bpm_per_s", max_change_bpm_per_s)
        self.bpm_range = bpm_range
        self.reset()

    def reset(self) -> None:
        """Forget the track (after a gap or a new wearer)."""
        self.bpm: float = math.nan

    def update(self, filtered: np.ndarray, acc: np.ndarray | None = None, *, dt_s: float = 2.0) -> float:
        """Consume the next window; return the tracked heart rate (bpm, NaN until a pulse is seen).

        Args:
            filtered: band-passed PPG window, shape (n,), at ``sampling_rate``.
            acc: optional accelerometer window, shape (n, 3), same rate.
            dt_s: time since the previous window's start (s), the hop.

        Raises:
            InvalidSignalError: wrong dtype/shape, NaN/inf, or shorter than 4 s.
        """
        fs = self.sampling_rate
        x = as_signal(filtered, name="PPG window", min_samples=round(MIN_HR_SEGMENT_S * fs), rate=fs)
        a = None if acc is None else as_acc(acc, len(x))
        if np.ptp(x) == 0:
            return self.bpm
        spec = _hr_spectrum(x, fs, a)
        weight = None
        if math.isfinite(self.bpm):
            sigma_hz = (5.0 + self.max_change * check_positive("dt_s", dt_s)) / 60
            weight = 0.05 + np.exp(-0.5 * ((spec.freqs - self.bpm / 60) / sigma_hz) ** 2)
        estimate = _peak_bpm(spec, weight, *self.bpm_range)
        if math.isfinite(estimate):
            self.bpm = estimate
        return self.bpm
