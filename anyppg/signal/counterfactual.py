"""Counterfactual rhythms from real beats: one beat of a segment, re-timed regular or irregular.

AF is a rhythm, irregular beat timing; a classifier that learnt it from a few patients can learn
their pulse shapes instead. Rebuilding a segment from one of its own beats separates the two: the
**regular** version keeps the shape and removes the rhythm (the beat repeated at the segment's median
interval), the **irregular** one gives the same shape an AF-like rhythm (intervals drawn uniformly
from :data:`IRREGULAR_RANGE` times the median). ``benchmarks/bench_rhythm_shape.py`` scores the
shipped heads on them; :class:`anyppg.quantization.real_heads.HeadTrainConfig` ``counterfactual_p``
trains on them. :func:`paced_beat` re-paces a beat at any heart rate, as a heart changes its rate
(``benchmarks/bench_rate_range.py``, :func:`anyppg.trainer.heads.read_paced`).

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

__all__ = [
    "EJECTION_EXPONENT", "EJECTION_MAX", "EJECTION_SHARE", "IRREGULAR_RANGE", "MIN_BEATS", "median_beat",
    "paced", "paced_beat", "retimed", "rhythm_counterfactuals",
]  # fmt: skip

IRREGULAR_RANGE = (0.7, 1.3)
"""Interval factors of the irregular version (uniform): a coefficient of variation of 0.6 / sqrt(12)
= 0.17, inside AF's usual 0.15-0.25."""
MIN_BEATS = 4
"""Fewest beats (trough to trough) a segment needs for its median beat to be found."""
EJECTION_SHARE = 0.6
"""Share of a beat (trough to trough) :func:`paced_beat` keeps nearly as it is: the systolic upstroke, the
peak and the dicrotic wave; the rest is the diastolic run-off, which takes up a change of rate."""
EJECTION_EXPONENT = 0.5
""":func:`paced_beat` scales the kept part's length by ``(new rate / old rate) ** -EJECTION_EXPONENT``: it
shortens and lengthens much less than the beat, as a heart's systole does."""
EJECTION_MAX = 0.75
"""... but it takes at most this share of the new beat (a fast heart's systole fills most of it)."""


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


def paced(segment: np.ndarray, fs: float, bpm: float) -> np.ndarray | None:
    """``segment`` rebuilt at ``bpm`` from its median beat (:func:`median_beat`, :func:`paced_beat`),
    as long as ``segment``; None when it has too few beats."""
    found = median_beat(segment, fs)
    return None if found is None else paced_beat(found[0], fs, bpm, segment.shape[0])


def paced_beat(beat: np.ndarray, fs: float, bpm: float, n: int) -> np.ndarray:
    """``beat`` (trough to trough) repeated regularly every ``60 / bpm`` s, ``n`` samples.

    The beat's first :data:`EJECTION_SHARE` (upstroke, peak, dicrotic wave) is re-timed by
    ``(bpm / its own rate) ** -EJECTION_EXPONENT`` (at most :data:`EJECTION_MAX` of the new beat)
    and the diastolic run-off after it by whatever is left: a slow pulse is a normal pulse with a
    long run-off, a fast one a slightly quicker pulse with almost none, not the whole beat scaled.
    The beat is levelled first (the line from its first to its last sample taken off, its first
    value kept) so that the copies join without a step.
    """
    m = beat.shape[0]
    beat = np.asarray(beat, np.float64) - np.linspace(0.0, beat[-1] - beat[0], m)
    own_bpm = 60.0 * fs / (m - 1)
    interval = 60.0 * fs / bpm  # samples
    kept_in = EJECTION_SHARE * (m - 1)
    kept_out = min(kept_in * (bpm / own_bpm) ** -EJECTION_EXPONENT, EJECTION_MAX * interval)
    t = np.arange(n) % interval  # position inside the paced beat, samples
    src = np.where(
        t <= kept_out,
        t * kept_in / kept_out,
        kept_in + (t - kept_out) * (m - 1 - kept_in) / (interval - kept_out),
    )
    return np.interp(src, np.arange(m), beat)


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
