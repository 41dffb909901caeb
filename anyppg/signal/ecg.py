"""ECG beats for labels: R-peak times over a whole recording (gaps tolerated) and beat matching.

:func:`ecg_rpeak_times` runs :func:`anyppg.signal.ecg_findpeaks` on each NaN-free stretch of a
recording and returns times in seconds; :func:`match_beats` scores detected beats against reference
beats (sensitivity, positive predictive value) within a tolerance, after removing a constant lag
between the two time bases when asked. Together they are how ECG-derived heart-rate labels are made
and checked (``docs/data.md`` gives the detector's numbers on annotated MIMIC beats).

Example:
    >>> import anyppg
    >>> sim = anyppg.simulate(30, heart_rate=70, seed=2)
    >>> found = ecg_rpeak_times(sim.ecg, sim.ecg_rate)
    >>> m = match_beats(found, sim.r_peaks)
    >>> m.sensitivity, m.ppv
    (1.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anyppg.signal._checks import InvalidParameterError, check_rate
from anyppg.signal.peaks import ecg_findpeaks
from anyppg.signal.runs import finite_runs

__all__ = ["BeatMatch", "ecg_rpeak_times", "estimate_lag", "match_beats"]

MIN_STRETCH_S = 2.0
"""Shortest NaN-free stretch of ECG searched for beats (s); shorter ones cannot be filtered."""


def ecg_rpeak_times(
    ecg: np.ndarray, sampling_rate: float, *, min_stretch_s: float = MIN_STRETCH_S
) -> np.ndarray:
    """R-peak times (s from the first sample) of an ECG that may contain NaN gaps.

    Each NaN-free stretch of at least ``min_stretch_s`` is cleaned and searched with
    :func:`anyppg.signal.ecg_findpeaks` (method ``"gradient"``, zero-phase, so peaks are not shifted).

    Args:
        ecg: ECG samples, shape (n,), any unit; NaN marks missing samples.
        sampling_rate: its rate (Hz), at least 50 Hz.
        min_stretch_s: shorter stretches are skipped (s).

    Returns:
        Sorted float64 times (s); empty when no stretch is long enough or no beat is found.

    Raises:
        InvalidSignalError: ``ecg`` is not a 1-D numeric array.
        UnsupportedRateError: the rate is below 50 Hz.
    """
    fs = check_rate(sampling_rate, what="ECG R-peak detection", at_least=50.0)
    x = np.asarray(ecg, dtype=np.float64)
    if x.ndim != 1:
        from anyppg.errors import InvalidSignalError

        raise InvalidSignalError(f"ECG must have shape (n,); got {x.shape}")
    found = [(a + ecg_findpeaks(x[a:b], fs)) / fs for a, b in finite_runs(x) if (b - a) / fs >= min_stretch_s]
    return np.concatenate(found).astype(np.float64) if found else np.zeros(0)


@dataclass(frozen=True)
class BeatMatch:
    """Detected beats scored against reference beats.

    Attributes:
        true_positives: reference beats with a detected beat within the tolerance (one-to-one).
        false_positives: detected beats matched to no reference beat.
        false_negatives: reference beats matched to no detected beat.
        lag_s: the constant lag removed from the detected times before matching (s).
        tolerance_s: the matching tolerance (s).
    """

    true_positives: int
    false_positives: int
    false_negatives: int
    lag_s: float
    tolerance_s: float

    @property
    def sensitivity(self) -> float:
        """TP / (TP + FN); NaN without reference beats."""
        n = self.true_positives + self.false_negatives
        return self.true_positives / n if n else float("nan")

    @property
    def ppv(self) -> float:
        """Positive predictive value TP / (TP + FP); NaN without detected beats."""
        n = self.true_positives + self.false_positives
        return self.true_positives / n if n else float("nan")


def estimate_lag(detected_s: np.ndarray, reference_s: np.ndarray, *, max_lag_s: float = 0.4) -> float:
    """The constant offset (s) to subtract from ``detected_s`` so it lines up with ``reference_s``.

    The mode (8 ms bins, refined by the median inside the modal bin and its neighbours) of all
    differences detected - reference within ``max_lag_s``. Two time bases of one recording can differ
    by a fixed delay (MIMIC's shipped beats lag its exported ECG by 0.1-0.25 s); heart rate
    does not depend on it, beat matching does. When the lag is close to half an RR interval, the
    lag to the previous or the next beat can win: both line the sequences up.

    Args:
        detected_s: detected beat times (s).
        reference_s: reference beat times (s).
        max_lag_s: differences further apart are ignored (s).

    Returns:
        The lag (s); 0.0 when no pair is close enough.
    """
    det = np.sort(np.asarray(detected_s, dtype=np.float64))
    ref = np.sort(np.asarray(reference_s, dtype=np.float64))
    if len(det) == 0 or len(ref) == 0:
        return 0.0
    lo = np.searchsorted(ref, det - max_lag_s, side="left")
    hi = np.searchsorted(ref, det + max_lag_s, side="right")
    diffs = np.concatenate(
        [det[i] - ref[a:b] for i, (a, b) in enumerate(zip(lo, hi, strict=True)) if b > a] or [[]]
    )
    if len(diffs) == 0:
        return 0.0
    width = 0.008
    edges = np.arange(-max_lag_s, max_lag_s + width, width)
    counts, _ = np.histogram(diffs, bins=edges)
    k = int(np.argmax(counts))
    near = diffs[(diffs >= edges[max(k - 1, 0)]) & (diffs < edges[min(k + 2, len(edges) - 1)])]
    return float(np.median(near))


def match_beats(
    detected_s: np.ndarray,
    reference_s: np.ndarray,
    *,
    tolerance_s: float = 0.05,
    align: bool = False,
) -> BeatMatch:
    """Match detected beats one-to-one to reference beats within ``tolerance_s``.

    Beats are paired greedily in time order (each reference beat takes the nearest unused detected
    beat inside the tolerance), as beat-detector evaluations (ANSI/AAMI EC57 style) do.

    Args:
        detected_s: detected beat times (s).
        reference_s: reference beat times (s).
        tolerance_s: largest distance of a match (s); 0.05 s is a common choice for R-peaks.
        align: first remove the constant lag of :func:`estimate_lag` from ``detected_s``.

    Returns:
        The counts and the lag that was removed.

    Raises:
        InvalidParameterError: ``tolerance_s`` is not a positive number.
    """
    if not tolerance_s > 0:
        raise InvalidParameterError("tolerance_s", tolerance_s, "a number of seconds > 0")
    det = np.sort(np.asarray(detected_s, dtype=np.float64))
    ref = np.sort(np.asarray(reference_s, dtype=np.float64))
    lag = estimate_lag(det, ref) if align else 0.0
    det = det - lag
    used = np.zeros(len(det), dtype=bool)
    tp = 0
    for t in ref:
        a = int(np.searchsorted(det, t - tolerance_s, side="left"))
        b = int(np.searchsorted(det, t + tolerance_s, side="right"))
        if a >= b:
            continue
        free = np.flatnonzero(~used[a:b])
        if len(free) == 0:
            continue
        j = a + int(free[np.argmin(np.abs(det[a + free] - t))])
        used[j] = True
        tp += 1
    return BeatMatch(
        true_positives=tp,
        false_positives=int(len(det) - tp),
        false_negatives=int(len(ref) - tp),
        lag_s=lag,
        tolerance_s=float(tolerance_s),
    )
