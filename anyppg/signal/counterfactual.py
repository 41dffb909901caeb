"""Counterfactual rhythms from real beats: one beat of a segment, re-timed regular or irregular.

AF is a rhythm, irregular beat timing; a classifier that learnt it from a few patients can learn
their pulse shapes instead. Rebuilding a segment from one of its own beats separates the two: the
**regular** version keeps the shape and removes the rhythm (the beat repeated at the segment's median
interval), the **irregular** one gives the same shape an AF-like rhythm (intervals drawn uniformly
from :data:`IRREGULAR_RANGE` times the median). ``benchmarks/bench_rhythm_shape.py`` scores the
shipped heads on them; :class:`anyppg.quantization.real_heads.HeadTrainConfig` ``counterfactual_p``
trains on them.

Example::

    >>> import numpy as np, anyppg
    >>> from anyppg.signal.counterfactual import rhythm_counterfactuals
    >>> ppg = anyppg.simulate(10, heart_rate=75, ppg_rate=100.0, seed=2).ppg
    >>> regular, irregular = rhythm_counterfactuals(ppg, 100.0, np.random.default_rng(0))
    >>> regular.shape == irregular.shape == ppg.shape
    True
"""

from __future__ import annotations

import itertools

import numpy as np

from anyppg.signal.filters import ppg_clean
from anyppg.signal.peaks import ppg_findpeaks

__all__ = ["IRREGULAR_RANGE", "MIN_BEATS", "median_beat", "retimed", "rhythm_counterfactuals"]

IRREGULAR_RANGE = (0.7, 1.3)
"""Interval factors of the irregular version (uniform): a coefficient of variation of 0.6 / sqrt(12)
= 0.17, inside AF's usual 0.15-0.25."""
MIN_BEATS = 4
"""Fewest beats (trough to trough) a segment needs for its median beat to be found."""


def median_beat(segment: np.ndarray, fs: float) -> tuple[np.ndarray, float] | None:
    """The segment's beat (its own samples, trough to trough) nearest its median beat interval, and
    that median interval in samples; None with fewer than :data:`MIN_BEATS` beats."""
    cleaned = ppg_clean(segment, fs)
    peaks = ppg_findpeaks(cleaned, fs, clean=False)
    if peaks.shape[0] < MIN_BEATS + 1:
        return None
    troughs = np.array([a + int(np.argmin(cleaned[a:b])) for a, b in itertools.pairwise(peaks)])
    lengths = np.diff(troughs)
    median = float(np.median(lengths))
    k = int(np.argmin(np.abs(lengths - median)))
    return np.asarray(segment[troughs[k] : troughs[k + 1]], dtype=np.float64), median


def retimed(beat: np.ndarray, intervals: np.ndarray, n: int) -> np.ndarray:
    """``beat`` stretched linearly to each of ``intervals`` (samples) in turn, joined, cut to ``n``
    samples (``intervals`` must cover ``n``)."""
    parts, total = [], 0
    for length in intervals:
        m = max(2, round(float(length)))
        parts.append(np.interp(np.linspace(0, beat.shape[0] - 1, m), np.arange(beat.shape[0]), beat))
        total += m
        if total >= n:
            break
    return np.concatenate(parts)[:n]


def rhythm_counterfactuals(
    segment: np.ndarray, fs: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray] | None:
    """The regular and the irregular version of ``segment`` built from its median beat, each as long
    as ``segment``; None when it has too few beats."""
    found = median_beat(segment, fs)
    if found is None:
        return None
    beat, median = found
    n = segment.shape[0]
    count = int(np.ceil(n / (median * IRREGULAR_RANGE[0]))) + 1
    regular = retimed(beat, np.full(count, median), n)
    irregular = retimed(beat, median * rng.uniform(*IRREGULAR_RANGE, count), n)
    return regular, irregular
