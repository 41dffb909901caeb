"""PPG signal quality: a template-matching quality index plus flags for hard failures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anyppg.errors import InvalidSignalError
from anyppg.signal._checks import InvalidParameterError, as_acc, check_positive, check_rate
from anyppg.signal.peaks import ppg_findpeaks
from anyppg.signal.segment import PPGSegment

FLAT_RUN_S = 0.5
"""A run of identical samples at least this long (s), not at the extremes, is a flat line."""

CLIP_FRACTION = 0.01
"""Clipping is flagged when more than this fraction of samples sits in plateaus at the extremes."""

MOTION_THRESHOLD = 0.1
"""Default motion threshold: RMS of the band-passed acceleration magnitude, in the acc's unit (g)."""

USABLE_SQI = 0.6
"""Windows with a quality index below this are not usable for the model."""


@dataclass(frozen=True)
class Quality:
    """Quality of one PPG segment.

    Attributes:
        sqi: signal quality index in [0, 1] from beat-template matching (see :func:`template_sqi`;
            0 when fewer than 3 beats are found).
        flat: a flat line (constant segment of at least 0.5 s, or no variation at all).
        clipping: more than 1 % of the samples sit in plateaus at the segment's maximum or minimum.
        nan: the segment contains NaN or inf samples.
        motion: the accelerometer shows movement above the threshold (False without acc).
        usable: no flag set (motion included) and ``sqi >= 0.6``.
        motion_level: RMS of the band-passed acceleration (acc unit), NaN without acc.
        clip_fraction: fraction of samples in plateaus at the extremes.
    """

    sqi: float
    flat: bool
    clipping: bool
    nan: bool
    motion: bool
    usable: bool
    motion_level: float = float("nan")
    clip_fraction: float = 0.0


def _longest_flat_run(x: np.ndarray, exclude: np.ndarray) -> int:
    same = np.concatenate([[False], np.diff(x) == 0])  # sample equals its predecessor
    same &= ~exclude
    if not same.any():
        return 0
    edges = np.diff(np.concatenate([[0], same.view(np.int8), [0]]))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max()) + 1


def _plateau_fraction(x: np.ndarray, at: np.ndarray) -> float:
    """Fraction of samples that are at an extreme and in a run of >= 3 equal samples."""
    same = np.concatenate([[False], np.diff(x) == 0]) & at
    if not same.any():
        return 0.0
    edges = np.diff(np.concatenate([[0], same.view(np.int8), [0]]))
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1) + 1
    return float(lengths[lengths >= 3].sum() / len(x))


def clip_fraction(raw: np.ndarray) -> float:
    """Fraction of a raw PPG window's samples in plateaus (runs of >= 3 equal samples) at its maximum
    or minimum: a sensor or converter saturating at its rail. NaN/inf samples are left out.

    Only the raw samples show this: a band-pass turns a plateau into a smooth bump, so the check needs
    the device's values (``anyppg.signal.Window.raw`` in a stream), not the filtered window.

    Returns:
        The fraction, 0..1 (0 with fewer than 3 finite samples; 1 for a constant window).
    """
    x = np.asarray(raw, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.shape[0] < 3:
        return 0.0
    lo, hi = x.min(), x.max()
    return _plateau_fraction(x, (x == lo) | (x == hi)) if hi > lo else 1.0


def template_sqi(cleaned: np.ndarray, fs: float, *, peaks: np.ndarray | None = None) -> float:
    """Beat-template quality of a band-passed PPG segment, in [0, 1].

    Each beat (cut around its systolic peak, 40 % of the median interval before, 60 % after) is
    correlated with the average beat; the mean correlation ``r`` is rescaled to ``2 r - 1`` because
    band-limited noise, cut at its own maxima, already correlates at about 0.6. A clean pulse
    scores ~0.99, atrial fibrillation ~0.9, white noise ~0.2.

    ``peaks``: ``ppg_findpeaks(cleaned, fs, clean=False)`` when the caller already has them.
    """
    if peaks is None:
        peaks = ppg_findpeaks(cleaned, fs, clean=False)
    if len(peaks) < 3:
        return 0.0
    ibi = int(np.median(np.diff(peaks)))
    before, after = int(0.4 * ibi), int(0.6 * ibi)
    peaks = peaks[(peaks >= before) & (peaks + after <= len(cleaned))]
    if len(peaks) < 3:
        return 0.0
    beats = np.stack([cleaned[p - before : p + after] for p in peaks])
    beats = beats - beats.mean(axis=1, keepdims=True)
    template = beats.mean(axis=0)
    norms = np.linalg.norm(beats, axis=1) * np.linalg.norm(template)
    corr = np.where(norms > 0, beats @ template / np.where(norms > 0, norms, 1), 0.0)
    return float(np.clip(2 * corr.mean() - 1, 0, 1))


def ppg_quality(
    signal: np.ndarray | PPGSegment,
    sampling_rate: float,
    *,
    acc: np.ndarray | None = None,
    motion_threshold: float = MOTION_THRESHOLD,
) -> Quality:
    """Assess a raw PPG segment (a 10 s window, typically).

    Unlike the other functions, NaN/inf samples do not raise: they set ``nan`` (and the rest is
    assessed on the finite samples, linearly interpolated).

    Args:
        signal: raw PPG, shape (n,), at least 2 s; or a :class:`PPGSegment`, whose band-passed signal,
            peaks and band-passed accelerometer are reused (and computed there if not yet). The
            ``flat`` and ``clipping`` flags read the segment's own signal: built on band-passed samples
            (as the stream does), it cannot show a saturated sensor; :func:`clip_fraction` of the raw
            samples does.
        sampling_rate: its rate (Hz), above 16 Hz (a segment's own rate).
        acc: optional accelerometer, shape (n, 3), same rate, for the ``motion`` flag (with a
            segment: None; the segment's accelerometer is used).
        motion_threshold: RMS of the band-passed acceleration above which ``motion`` is set (acc unit).

    Returns:
        The :class:`Quality`.

    Raises:
        InvalidSignalError: wrong dtype or shape, shorter than 2 s, or no finite sample at all.
        UnsupportedRateError: rate not above 16 Hz.
        InvalidParameterError: with a segment, another rate than its own, or ``acc`` given too.

    Example:
        >>> import anyppg
        >>> sim = anyppg.simulate(10, seed=6)
        >>> q = ppg_quality(sim.ppg, sim.ppg_rate)
        >>> q.usable, q.sqi > 0.9
        (True, True)
    """
    fs = check_rate(sampling_rate, what="PPG quality", minimum=16.0)
    threshold = check_positive("motion_threshold", motion_threshold)
    if isinstance(signal, PPGSegment):
        signal.check_rate(fs)
        if acc is not None:
            raise InvalidParameterError("acc", "an array", "None with a PPGSegment (it carries its own acc)")
        if len(signal) < 2 * fs:
            raise InvalidSignalError(
                f"PPG segment is too short: {len(signal)} samples; at least 2 s ({2 * fs:g}) needed"
            )
        return _assess(signal, threshold, has_nan=False)
    x = np.asarray(signal)
    if x.dtype == bool or x.dtype.kind not in "iuf" or x.ndim != 1:
        raise InvalidSignalError(
            f"PPG segment must be a real 1-D array; got dtype {x.dtype}, shape {x.shape}"
        )
    if len(x) < 2 * fs:
        raise InvalidSignalError(
            f"PPG segment is too short: {len(x)} samples; at least 2 s ({2 * fs:g}) needed"
        )
    x = x.astype(np.float64)
    finite = np.isfinite(x)
    has_nan = not finite.all()
    if not finite.any():
        raise InvalidSignalError("PPG segment has no finite sample")
    if has_nan:
        idx = np.arange(len(x))
        x = np.interp(idx, idx[finite], x[finite])
    segment = PPGSegment(x, fs, acc=None if acc is None else as_acc(acc, len(x)))
    return _assess(segment, threshold, has_nan=has_nan)


def _assess(segment: PPGSegment, threshold: float, *, has_nan: bool) -> Quality:
    """:func:`ppg_quality` of a validated segment (NaN already interpolated, flagged by ``has_nan``)."""
    x, fs = segment.signal, segment.sampling_rate
    motion_level = float("nan")
    a = segment.acc_bandpassed
    if a is not None:
        motion_level = float(np.sqrt((a**2).sum(axis=1).mean()))
    motion = bool(motion_level > threshold)

    lo, hi = x.min(), x.max()
    at_extreme = (x == lo) | (x == hi)
    clipped = _plateau_fraction(x, at_extreme) if hi > lo else 1.0
    flat = bool(hi == lo or _longest_flat_run(x, at_extreme) >= FLAT_RUN_S * fs)
    clipping = bool(not flat and clipped > CLIP_FRACTION)
    sqi = 0.0 if flat else template_sqi(segment.cleaned, fs, peaks=segment.cleaned_peaks)
    usable = bool(not (has_nan or flat or clipping or motion) and sqi >= USABLE_SQI)
    return Quality(sqi, flat, clipping, has_nan, motion, usable, motion_level, clipped)
