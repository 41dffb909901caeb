"""Heart rate from PPG: per segment (``heart_rate``) and tracked across a stream (``HeartRateTracker``).

Motion suppression: walking or running shakes the sensor at the step rate, at half of it (arm
swing) and at their harmonics, and that artefact can dominate the PPG spectrum. When a 3-axis
accelerometer at the same rate is given, the spectral peaks of the acceleration and their
harmonics are notched out of the PPG spectrum before the heart-rate peak is chosen (the idea of
TROIKA-style spectral trackers). Each notch is as wide as the spectral leakage of the window
(about 1.25 / window length), so a heart rate within that distance of a motion frequency cannot be
seen in that window; the tracker then holds its estimate.

Tracking: the tracker acquires a first estimate from beat intervals (the time domain is not fooled
by a motion peak in the spectrum as easily), then only looks within a plausible change of the
previous estimate (a few bpm per second), weighted with a Gaussian prior, in the spirit of
BeliefPPG's transition prior. Spectral peak picking without a track prefers frequencies whose
second harmonic is present too, which is true of a pulse and not of most residual artefacts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import signal as sps

from anyppg.signal._checks import InvalidParameterError, as_acc, as_signal, check_positive, check_rate
from anyppg.signal.constants import HR_RANGE_BPM, MODEL_FS, PPG_BAND_HZ
from anyppg.signal.filters import ppg_bandpass_sos, sosfiltfilt
from anyppg.signal.peaks import ppg_findpeaks
from anyppg.signal.segment import PPGSegment

HRMethod = Literal["auto", "peaks", "spectral"]

MIN_HR_SEGMENT_S = 4.0
"""Shortest segment a heart rate is estimated from (s)."""

MOTION_RMS_G = 0.05
"""In ``heart_rate(method="auto")``, acceleration RMS (band-passed, in g) above which the segment is
treated as moving and the spectral, motion-suppressed estimate is used instead of peak intervals."""

_RESOLUTION_HZ = 1 / 120  # FFT bin spacing after zero padding: 0.5 bpm (peaks are interpolated)
_NOTCH_BINS = 1.25  # notch half-width in units of 1 / window length
_MOTION_DEPTH = 0.97  # fraction of PPG power removed at a motion frequency
_MOTION_PEAK_REL = 0.15  # acc peaks at least this strong relative to the largest are notched
_HARMONICS = (0.5, 1.0, 2.0, 3.0)  # multiples of each acc peak that are notched
_HALVE_ABOVE_BPM = 180.0  # see _acquire
_REGULAR = 0.7  # share of regular intervals for beats that may move a track to a harmonic


@dataclass(frozen=True)
class Spectrum:
    """A one-sided power spectrum: ``freqs`` (Hz) and ``power`` (arbitrary units, same length)."""

    freqs: np.ndarray
    power: np.ndarray


def _nfft(n: int, fs: float) -> int:
    return 1 << max(math.ceil(math.log2(max(n, fs / _RESOLUTION_HZ))), 1)


def _power(x: np.ndarray, fs: float) -> Spectrum:
    """Hann-windowed, zero-padded periodogram along axis 0; channels are normalised and summed."""
    x = x - x.mean(axis=0)
    win = np.hanning(len(x))
    if x.ndim == 2:
        win = win[:, None]
    n = _nfft(len(x), fs)
    p = np.abs(np.fft.rfft(x * win, n=n, axis=0)) ** 2
    if p.ndim == 2:
        p = (p / np.maximum(p.max(axis=0), np.finfo(float).tiny)).sum(axis=1)
    return Spectrum(np.fft.rfftfreq(n, 1 / fs), p)


def _acc_dynamic(acc: np.ndarray, fs: float) -> np.ndarray:
    """The acceleration with gravity and slow posture changes removed (0.5-8 Hz)."""
    if fs > 2 * PPG_BAND_HZ[1]:
        return sosfiltfilt(ppg_bandpass_sos(fs), acc)
    return sps.detrend(acc, axis=0)


def _segment_acc_dynamic(segment: PPGSegment) -> np.ndarray | None:
    """:func:`_acc_dynamic` of a segment's accelerometer, shared with its quality check (None: no acc)."""
    return segment.acc_bandpassed  # segments are above 16 Hz: the band-pass branch


def motion_frequencies(acc: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Dominant movement frequencies in an accelerometer segment.

    Args:
        acc: acceleration, shape (n, 3), at ``fs``.
        fs: rate (Hz).

    Returns:
        ``(freqs_hz, strengths)``: the spectral peaks between 0.4 and 8 Hz at least 15 % as strong
        as the largest, and their strength relative to it (the largest is 1).
    """
    return _motion_peaks(_acc_dynamic(acc, fs), fs)


def _motion_peaks(dynamic: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`motion_frequencies` of an acceleration already freed of gravity (``_acc_dynamic``)."""
    spec = _power(dynamic, fs)
    band = (spec.freqs >= 0.4) & (spec.freqs <= 8.0)
    power = np.where(band, spec.power, 0.0)
    top = float(power.max())
    if top <= 0:
        return np.empty(0), np.empty(0)
    peaks, props = sps.find_peaks(power, height=_MOTION_PEAK_REL * top)
    return spec.freqs[peaks], props["peak_heights"] / top


def motion_gain(freqs: np.ndarray, acc: np.ndarray, fs: float) -> np.ndarray:
    """Per-frequency gain in [0, 1] that notches the accelerometer's peaks and their harmonics.

    Args:
        freqs: increasing frequencies (Hz) at which to evaluate the gain.
        acc: accelerometer segment, shape (n, 3), at ``fs``; gravity is removed here.
        fs: rate (Hz).

    Returns:
        The gain, same length as ``freqs``; 1 away from motion frequencies.
    """
    return _notch_gain(freqs, _acc_dynamic(acc, fs), fs)


def _notch_gain(freqs: np.ndarray, dynamic: np.ndarray, fs: float) -> np.ndarray:
    """:func:`motion_gain` from an acceleration already freed of gravity (``_acc_dynamic``)."""
    half_width = _NOTCH_BINS * fs / len(dynamic)
    gain = np.ones_like(freqs, dtype=np.float64)
    freqs_hz, _ = _motion_peaks(dynamic, fs)
    for f0 in freqs_hz:  # every notch is deep: the PPG's coupling to each axis is unknown
        for k in _HARMONICS:
            lo, hi = np.searchsorted(freqs, [k * f0 - 3 * half_width, k * f0 + 3 * half_width])
            z = (freqs[lo:hi] - k * f0) / half_width
            gain[lo:hi] *= 1 - _MOTION_DEPTH * np.exp(-0.5 * z**4)  # flat-topped notch
    return gain


def _hr_spectrum(ppg: np.ndarray, fs: float, dynamic: np.ndarray | None) -> tuple[Spectrum, np.ndarray]:
    """The motion-notched PPG power spectrum, normalised to a maximum of 1, and the notch gain.

    ``dynamic``: the accelerometer freed of gravity (``_acc_dynamic``), or None."""
    spec = _power(ppg, fs)
    gain = np.ones_like(spec.freqs) if dynamic is None else _notch_gain(spec.freqs, dynamic, fs)
    power = spec.power * gain
    return Spectrum(spec.freqs, power / max(float(power.max()), np.finfo(float).tiny)), gain


def _harmonic_score(spec: Spectrum) -> np.ndarray:
    """Power at f plus half the power at 2f: favours a pulse (which has a second harmonic)."""
    doubled = np.interp(2 * spec.freqs, spec.freqs, spec.power, right=0.0)
    return spec.power + 0.5 * doubled


def _refined_bpm(freqs: np.ndarray, score: np.ndarray, i: int) -> float:
    """Frequency of bin ``i`` refined by parabolic interpolation, in bpm."""
    shift = 0.0
    if 0 < i < len(score) - 1 and np.isfinite(score[i - 1]) and np.isfinite(score[i + 1]):
        a, b, c = score[i - 1], score[i], score[i + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
    return float((freqs[i] + shift * (freqs[1] - freqs[0])) * 60)


def _local_maxima(score: np.ndarray, band: np.ndarray) -> np.ndarray:
    """Mask of the local maxima of ``score`` inside ``band`` (not at its edges): a maximum at the
    band's lower edge is the slope of drift or respiration, not a pulse."""
    idx = np.flatnonzero(band)
    out = np.zeros_like(band)
    if len(idx) < 3:
        return out
    inner = idx[1:-1]
    out[inner] = (score[inner] > score[inner - 1]) & (score[inner] >= score[inner + 1])
    return out


def _argmax_bpm(freqs: np.ndarray, score: np.ndarray, lo_bpm: float, hi_bpm: float) -> float:
    """The strongest local maximum of ``score`` between ``lo_bpm`` and ``hi_bpm``, refined (bpm)."""
    band = (freqs >= lo_bpm / 60) & (freqs <= hi_bpm / 60)
    peaks = _local_maxima(score, band)
    if not peaks.any():
        return math.nan
    masked = np.where(peaks, score, -np.inf)
    i = int(np.argmax(masked))
    return _refined_bpm(freqs, score, i) if masked[i] > 0 else math.nan


def _intervals_s(cleaned: np.ndarray, fs: float, peaks: np.ndarray | None = None) -> np.ndarray:
    """Inter-beat intervals (s) of a band-passed segment, every one (plausible or not).

    Peak times are refined to a fraction of a sample by parabolic interpolation, which matters at
    low sensor rates (one sample is 40 ms at 25 Hz, about 10 bpm at 120 bpm). ``peaks``:
    ``ppg_findpeaks(cleaned, fs, clean=False)`` when the caller already has them.
    """
    if peaks is None:
        peaks = ppg_findpeaks(cleaned, fs, clean=False)
    peaks = peaks[(peaks > 0) & (peaks < len(cleaned) - 1)]
    a, b, c = cleaned[peaks - 1], cleaned[peaks], cleaned[peaks + 1]
    denom = a - 2 * b + c
    shift = np.where(denom < 0, 0.5 * (a - c) / np.where(denom < 0, denom, -1.0), 0.0)
    return np.diff(peaks + np.clip(shift, -0.5, 0.5)) / fs


def _interval_bpm(
    cleaned: np.ndarray, fs: float, lo_bpm: float, hi_bpm: float, peaks: np.ndarray | None = None
) -> float:
    """60 / median plausible inter-beat interval of a band-passed segment; NaN under 2 intervals
    (see :func:`_intervals_s`)."""
    ibi = _intervals_s(cleaned, fs, peaks)
    ibi = ibi[(ibi >= 60 / hi_bpm) & (ibi <= 60 / lo_bpm)]
    return float(60 / np.median(ibi)) if len(ibi) >= 2 else math.nan


BEAT_REGULAR_TOLERANCE = 0.15
"""An inter-beat interval within this fraction of the median counts as regular (:func:`beat_evidence`)."""


def beat_evidence(
    cleaned: np.ndarray,
    fs: float,
    bpm_range: tuple[float, float] = HR_RANGE_BPM,
    peaks: np.ndarray | None = None,
) -> tuple[float, float]:
    """The beat-interval rate of a band-passed segment and how regular its beats are.

    HeartPy's evidence: 60 / the median plausible inter-beat interval, and the share of *all*
    intervals (plausible or not) within :data:`BEAT_REGULAR_TOLERANCE` of that median. A detector
    that skips or doubles beats now and then, or a window of noise, gives a low share; a pulse read
    beat by beat gives nearly 1. A rate from regular beats is not a harmonic of the pulse: half or
    twice it would need every other beat missed or an extra peak between every two.

    Args:
        cleaned: band-passed PPG segment, shape (n,).
        fs: its rate (Hz).
        bpm_range: plausible heart rates (bpm).
        peaks: ``ppg_findpeaks(cleaned, fs, clean=False)`` when the caller already has them.

    Returns:
        ``(bpm, regularity)``: NaN and 0 under three plausible intervals.
    """
    beats = _beat_intervals(cleaned, fs, bpm_range, peaks)
    if beats is None:
        return math.nan, 0.0
    _, median, regularity = beats
    return 60 / median, regularity


def _beat_intervals(
    cleaned: np.ndarray, fs: float, bpm_range: tuple[float, float], peaks: np.ndarray | None
) -> tuple[np.ndarray, float, float] | None:
    """The plausible inter-beat intervals (s), their median and the share of *all* intervals within
    :data:`BEAT_REGULAR_TOLERANCE` of it; None under three plausible intervals."""
    lo, hi = bpm_range
    ibi = _intervals_s(cleaned, fs, peaks)
    plausible = ibi[(ibi >= 60 / hi) & (ibi <= 60 / lo)]
    if len(plausible) < 3:
        return None
    median = float(np.median(plausible))
    return plausible, median, float((np.abs(ibi - median) <= BEAT_REGULAR_TOLERANCE * median).mean())


REGULAR_BEATS = 0.95
"""Share of a window's inter-beat intervals near their median above which :func:`regular_beat_rate`
reads the window beat by beat."""


def regular_beat_rate(
    cleaned: np.ndarray,
    fs: float,
    bpm_range: tuple[float, float] = HR_RANGE_BPM,
    peaks: np.ndarray | None = None,
) -> float:
    """60 / the *mean* inter-beat interval of a band-passed segment whose beats are regular, else NaN.

    The heart rate of a window is its beats per minute, 60 / the mean RR interval (how an ECG
    reference is read). Where every beat is found (at least :data:`REGULAR_BEATS` of all intervals
    within :data:`BEAT_REGULAR_TOLERANCE` of the median, three plausible intervals or more) the
    mean interval measures that directly, without a spectrum's resolution; anywhere else a missed or
    doubled beat would move the mean, so there is no value.

    Args:
        cleaned: band-passed PPG segment, shape (n,).
        fs: its rate (Hz).
        bpm_range: plausible heart rates (bpm).
        peaks: ``ppg_findpeaks(cleaned, fs, clean=False)`` when the caller already has them.
    """
    return beat_regularity(cleaned, fs, bpm_range, peaks)[1]


def beat_regularity(
    cleaned: np.ndarray,
    fs: float,
    bpm_range: tuple[float, float] = HR_RANGE_BPM,
    peaks: np.ndarray | None = None,
) -> tuple[float, float]:
    """``(regularity, rate)`` of a band-passed segment from one pass over its beats: the share of
    all intervals within :data:`BEAT_REGULAR_TOLERANCE` of the median plausible one (as
    :func:`beat_evidence`), and :func:`regular_beat_rate`'s value. Both NaN under three plausible
    intervals; the rate NaN too where the beats are not regular.

    Args: as :func:`regular_beat_rate`.
    """
    beats = _beat_intervals(cleaned, fs, bpm_range, peaks)
    if beats is None:
        return math.nan, math.nan
    plausible, _, regularity = beats
    return regularity, float(60 / plausible.mean()) if regularity >= REGULAR_BEATS else math.nan


def _pulse_floor(spec: Spectrum, lo: float, hi: float) -> float:
    """30 % of the strongest local maximum of the spectrum between ``lo`` and ``hi`` bpm (of the
    band's maximum when it has no local maximum): the least power of a peak that can be the pulse."""
    band = (spec.freqs >= lo / 60) & (spec.freqs <= hi / 60)
    peaks = _local_maxima(spec.power, band)
    return 0.3 * float(spec.power[peaks if peaks.any() else band].max())


def _peak_near(bpm: float, spec: Spectrum, lo: float, hi: float, floor: float | None = None) -> bool:
    """Whether the spectrum has a peak within 0.1 Hz of ``bpm`` of at least ``floor`` (default
    :func:`_pulse_floor`)."""
    if not math.isfinite(bpm):
        return False
    if floor is None:
        floor = _pulse_floor(spec, lo, hi)
    near = np.abs(spec.freqs - bpm / 60) <= 0.1
    return bool(near.any() and spec.power[near].max() >= floor)


def _confirmed(
    bpm: float, spec: Spectrum, gain: np.ndarray, lo: float, hi: float, floor: float | None = None
) -> bool:
    """Whether the motion-notched spectrum supports a rate: a peak within 0.1 Hz of it of at least
    30 % of the band's strongest local maximum (:func:`_pulse_floor`, :func:`_peak_near`); or, when
    the rate itself sits in a motion notch, such a peak at its second harmonic (within 0.06 Hz of
    twice the rate, so leakage from a nearby peak does not count, and not itself on a motion
    frequency). Outside notches a strong peak at twice a rate with a weak
    fundamental means the rate is half the truth (a beat detector skipping every other beat).
    ``floor``: the spectrum's :func:`_pulse_floor`, when the caller has it already."""
    if not math.isfinite(bpm):
        return False
    if floor is None:
        floor = _pulse_floor(spec, lo, hi)
    if _peak_near(bpm, spec, lo, hi, floor):
        return True
    f = bpm / 60
    second = np.flatnonzero(np.abs(spec.freqs - 2 * f) <= 0.25)
    if len(second) == 0 or np.interp(f, spec.freqs, gain) >= 0.5:
        return False
    i = second[int(np.argmax(spec.power[second]))]
    return bool(abs(spec.freqs[i] - 2 * f) <= 0.06 and spec.power[i] >= floor and gain[i] >= 0.5)


def _acquire(
    by_beats: float, spec: Spectrum, gain: np.ndarray, lo: float, hi: float, floor: float | None = None
) -> float:
    """A heart rate without a track: the beat-interval rate ``by_beats`` (``_interval_bpm``) when the
    motion-notched spectrum confirms it (at the rate or its second harmonic), else the spectral peak
    with the strongest second harmonic. ``floor``: as :func:`_confirmed`."""
    if _confirmed(by_beats, spec, gain, lo, hi, floor):
        return by_beats
    spectral = _argmax_bpm(spec.freqs, _harmonic_score(spec), lo, hi)
    # A fast peak whose half lies in a motion notch is most likely the second harmonic of a pulse
    # hidden under the motion (a pulse at 2x the step rate is far less common than one near it).
    if (
        spectral > _HALVE_ABOVE_BPM
        and spectral / 2 >= lo
        and np.interp(spectral / 120, spec.freqs, gain) < 0.5
    ):
        return spectral / 2
    return spectral


def _suspect_harmonic(
    fresh: float, track: float, source: str, track_seen: bool, tolerance: float = 0.08
) -> bool:
    """Whether a single-window estimate ``fresh`` may be only a harmonic of a good ``track``.

    ``source``: ``"regular"`` (beats, at least :data:`_REGULAR` of the intervals regular),
    ``"irregular"`` (beats, some skipped or doubled) or ``"spectrum"``. From the spectrum, a fall to
    under 60 % of the track is suspect (a sub-harmonic of a weak pulse, or drift: the rate does not
    fall that far in seconds). From irregular beats, a half or a third of the track is suspect (a
    detector that skips beats), and so is twice it while the spectrum has a peak at the track itself
    (``track_seen``: a detector that now and then counts the dicrotic wave as a beat; without that
    peak the track is the sub-harmonic); both within ``tolerance`` (relative). Regular beats are
    never suspect: they cannot be a harmonic of the pulse."""
    if source == "regular":
        return False
    if source == "spectrum":
        return fresh < 0.6 * track
    below = any(abs(fresh - k * track) <= tolerance * k * track for k in (1 / 3, 0.5))
    double = abs(fresh - 2 * track) <= tolerance * 2 * track
    return below or (double and track_seen)


def _bpm_range(bpm_range: tuple[float, float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in bpm_range)
    except (TypeError, ValueError):
        lo = hi = math.nan
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise InvalidParameterError("bpm_range", bpm_range, "(low, high) in bpm with 0 < low < high")
    return lo, hi


def heart_rate(
    signal: np.ndarray | PPGSegment,
    sampling_rate: float,
    *,
    acc: np.ndarray | None = None,
    method: HRMethod = "auto",
    bpm_range: tuple[float, float] = HR_RANGE_BPM,
) -> float:
    """Estimate the heart rate of a PPG segment (bpm).

    Methods:
        ``"peaks"``: 60 / median inter-beat interval of :func:`ppg_findpeaks`.
        ``"spectral"``: the PPG power spectrum's peak within ``bpm_range`` (favouring peaks with a
        second harmonic), after notching the accelerometer's frequencies when ``acc`` is given.
        ``"auto"``: ``"peaks"``, unless ``acc`` shows movement (RMS above :data:`MOTION_RMS_G`):
        then the beat-interval rate if the motion-notched spectrum confirms it (at the rate or its
        second harmonic), else the ``"spectral"`` estimate.

    Args:
        signal: raw PPG segment, shape (n,), at least 4 s long; or a :class:`PPGSegment`, whose
            band-passed signal, peaks and band-passed accelerometer are reused.
        sampling_rate: its rate (Hz), above 16 Hz (a segment's own rate).
        acc: optional accelerometer (g), shape (n, 3), same rate, to suppress motion artefacts
            (with a segment: None; the segment's accelerometer is used).
        method: see above.
        bpm_range: plausible heart rates (bpm).

    Returns:
        Heart rate in bpm, or NaN when no pulse is found (a flat segment, for example).

    Raises:
        InvalidSignalError: wrong dtype/shape, NaN/inf, or shorter than 4 s.
        UnsupportedRateError: rate not above 16 Hz.
        InvalidParameterError: unknown ``method``; with a segment, another rate or ``acc`` given too.

    Example:
        >>> import anyppg
        >>> sim = anyppg.simulate(30, heart_rate=84, hrv=0.0, seed=4)
        >>> round(heart_rate(sim.ppg, sim.ppg_rate))
        84
    """
    fs = check_rate(sampling_rate, what="PPG heart rate", minimum=2 * PPG_BAND_HZ[1])
    min_samples = round(MIN_HR_SEGMENT_S * fs)
    if isinstance(signal, PPGSegment):
        signal.check_rate(fs)
        if acc is not None:
            raise InvalidParameterError("acc", "an array", "None with a PPGSegment (it carries its own acc)")
        segment = signal
        as_signal(segment.signal, name="PPG segment", min_samples=min_samples, rate=fs)  # length check
    else:
        x = as_signal(signal, name="PPG segment", min_samples=min_samples, rate=fs)
        segment = PPGSegment(x, fs, acc=None if acc is None else as_acc(acc, len(x)))
    lo, hi = _bpm_range(bpm_range)
    if method not in ("auto", "peaks", "spectral"):
        raise InvalidParameterError("method", method, "'auto', 'peaks' or 'spectral'")
    if np.ptp(segment.signal) == 0:
        return math.nan
    cleaned = segment.cleaned
    dynamic = _segment_acc_dynamic(segment)
    moving = dynamic is not None and float(np.sqrt((dynamic**2).sum(axis=1).mean())) > MOTION_RMS_G
    if method == "peaks" or (method == "auto" and not moving):
        return _interval_bpm(cleaned, fs, lo, hi, segment.cleaned_peaks)
    spec, gain = _hr_spectrum(cleaned, fs, dynamic)
    if method == "auto":
        return _acquire(_interval_bpm(cleaned, fs, lo, hi, segment.cleaned_peaks), spec, gain, lo, hi)
    return _argmax_bpm(spec.freqs, _harmonic_score(spec), lo, hi)


class HeartRateTracker:
    """Track heart rate across consecutive (overlapping) PPG windows of a stream.

    Each :meth:`update` takes one band-passed window (``Window.filtered``) and optionally its
    accelerometer. The estimate is the beat-interval rate whenever the motion-notched spectrum
    confirms it and it lies within ``±(6 bpm + max_change_bpm_per_s * dt_s)`` of the previous
    estimate (the first estimate needs only the confirmation). Otherwise the spectrum is searched
    within that range, weighted by a Gaussian prior around the previous estimate. When single
    windows, each estimated on its own, agree on a rate away from the track for ``switch_after``
    windows in a row, the tracker jumps there (it had locked onto an artefact or a harmonic); a
    window whose own estimate may be a harmonic of the track (see :func:`_suspect_harmonic`: a
    spectral peak under 60 % of it, or half, a third or twice it from irregular beats) is left out
    of that count, so a detector that skips or doubles beats cannot pull a good track onto a
    harmonic (see :func:`beat_evidence`). The accelerometer's frequencies are notched only while it
    moves (RMS above :data:`MOTION_RMS_G`); spectral peaks are local maxima (the slope of drift at
    the band's edge is not a pulse).
    When that range holds no clear peak (less than 10 % of the spectrum's maximum, as when the
    heart rate sits in a motion notch) the estimate is held; after ``reacquire_after`` such windows
    in a row the tracker re-acquires from the whole spectrum.

    Args:
        sampling_rate: rate of the windows (Hz), 125 Hz for model windows.
        max_change_bpm_per_s: largest plausible heart-rate change (bpm per second).
        bpm_range: plausible heart rates (bpm).
        reacquire_after: held windows in a row before a global re-acquisition.
        switch_after: windows in a row whose own estimate agrees on another rate before a jump.

    Raises:
        UnsupportedRateError: rate not above 16 Hz.
        InvalidParameterError: non-positive ``max_change_bpm_per_s``, ``reacquire_after`` or
            ``switch_after``, or a bad ``bpm_range``.

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
        max_change_bpm_per_s: float = 2.0,
        bpm_range: tuple[float, float] = HR_RANGE_BPM,
        reacquire_after: int = 5,
        switch_after: int = 3,
    ) -> None:
        self.sampling_rate = check_rate(sampling_rate, what="heart-rate tracker", minimum=2 * PPG_BAND_HZ[1])
        self.max_change = check_positive("max_change_bpm_per_s", max_change_bpm_per_s)
        self.reacquire_after = int(check_positive("reacquire_after", reacquire_after))
        self.switch_after = int(check_positive("switch_after", switch_after))
        self.bpm_range = _bpm_range(bpm_range)
        self.reset()

    def reset(self) -> None:
        """Forget the track (after a gap or a new wearer)."""
        self.bpm: float = math.nan
        self.held = 0  # consecutive windows without a clear peak near the track
        self._rival = math.nan  # a single-window estimate away from the track, seen repeatedly
        self._rival_count = 0

    def _switch_to(
        self, fresh: float, reach: float, source: str = "regular", track_seen: bool = True
    ) -> bool:
        """Jump to ``fresh`` when single windows have agreed on it, away from the track, for
        ``switch_after`` windows in a row (the track had locked onto an artefact or a harmonic).

        A rival that may be only a harmonic of the track (:func:`_suspect_harmonic`, by where
        ``fresh`` came from: ``"regular"`` or ``"irregular"`` beats, or the ``"spectrum"``; and
        ``track_seen``, whether the spectrum has a peak at the track) neither
        counts nor resets the count: a detector that skips or doubles beats would otherwise pull a
        good track onto a harmonic of the pulse, while regular beats cannot be one."""
        if not math.isfinite(fresh) or abs(fresh - self.bpm) <= reach:
            self._rival, self._rival_count = math.nan, 0
            return False
        if _suspect_harmonic(fresh, self.bpm, source, track_seen):
            return False  # neither for nor against: the count waits for clearer windows
        if math.isfinite(self._rival) and abs(fresh - self._rival) <= reach:
            self._rival_count += 1
        else:
            self._rival, self._rival_count = fresh, 1
        self._rival = fresh
        if self._rival_count < self.switch_after:
            return False
        self.bpm, self.held, self._rival, self._rival_count = fresh, 0, math.nan, 0
        return True

    def update(
        self, filtered: np.ndarray | PPGSegment, acc: np.ndarray | None = None, *, dt_s: float = 2.0
    ) -> float:
        """Consume the next window; return the tracked heart rate (bpm, NaN until a pulse is seen).

        Args:
            filtered: band-passed PPG window, shape (n,), at ``sampling_rate``; or a
                :class:`PPGSegment` of it, whose peaks and band-passed accelerometer are reused.
            acc: optional accelerometer window, shape (n, 3), same rate (with a segment: None; the
                segment's accelerometer is used, see :meth:`PPGSegment.without_acc`).
            dt_s: time since the previous window's start (s), the hop.

        Raises:
            InvalidSignalError: wrong dtype/shape, NaN/inf, or shorter than 4 s.
            InvalidParameterError: with a segment, another rate than the tracker's, or ``acc`` too.
        """
        fs = self.sampling_rate
        min_samples = round(MIN_HR_SEGMENT_S * fs)
        if isinstance(filtered, PPGSegment):
            filtered.check_rate(fs)
            if acc is not None:
                raise InvalidParameterError(
                    "acc", "an array", "None with a PPGSegment (it carries its own acc)"
                )
            segment = filtered
            x = as_signal(segment.signal, name="PPG window", min_samples=min_samples, rate=fs)
        else:
            x = as_signal(filtered, name="PPG window", min_samples=min_samples, rate=fs)
            segment = PPGSegment(x, fs, acc=None if acc is None else as_acc(acc, len(x)))
        dt = check_positive("dt_s", dt_s)
        if np.ptp(x) == 0:
            return self.bpm
        dynamic = _segment_acc_dynamic(segment)
        if dynamic is not None and float(np.sqrt((dynamic**2).sum(axis=1).mean())) <= MOTION_RMS_G:
            dynamic = None  # a wrist at rest: notching its accelerometer's peaks only removes pulse
        spec, gain = _hr_spectrum(x, fs, dynamic)
        lo, hi = self.bpm_range
        by_beats = _interval_bpm(x, fs, lo, hi, segment.peaks)
        floor = _pulse_floor(spec, lo, hi)  # one per window, for every peak check below
        fresh = _acquire(by_beats, spec, gain, lo, hi, floor)  # this window alone, no track
        source = "spectrum"
        if fresh == by_beats:
            regular = beat_evidence(x, fs, self.bpm_range, segment.peaks)[1] >= _REGULAR
            source = "regular" if regular else "irregular"
        if math.isnan(self.bpm) or self.held >= self.reacquire_after:
            if math.isfinite(fresh):
                self.bpm, self.held, self._rival, self._rival_count = fresh, 0, math.nan, 0
            return self.bpm
        reach = 6.0 + self.max_change * dt
        track_seen = _peak_near(self.bpm, spec, lo, hi, floor)
        if self._switch_to(fresh, reach, source, track_seen):
            return self.bpm
        if abs(by_beats - self.bpm) <= reach and _confirmed(by_beats, spec, gain, lo, hi, floor):
            self.bpm, self.held = by_beats, 0  # beat intervals are the more precise estimate
            return self.bpm
        bpm = spec.freqs * 60
        near = (np.abs(bpm - self.bpm) <= reach) & (bpm >= lo) & (bpm <= hi)
        if not near.any() or spec.power[near].max() < 0.1:
            self.held += 1
            return self.bpm
        prior = np.exp(-0.5 * ((bpm - self.bpm) / reach) ** 2)
        score = np.where(near, spec.power * prior, -np.inf)
        self.bpm, self.held = _refined_bpm(spec.freqs, score, int(np.argmax(score))), 0
        return self.bpm
