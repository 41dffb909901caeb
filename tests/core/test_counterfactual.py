"""anyppg.signal.counterfactual: a segment rebuilt from one of its own beats, regular or AF-like."""

from __future__ import annotations

import numpy as np
import pytest

import anyppg
from anyppg.signal import ppg_clean, ppg_findpeaks
from anyppg.signal.counterfactual import median_beat, rhythm_counterfactuals

FS = 100.0


def _intervals(x: np.ndarray) -> np.ndarray:
    return np.diff(ppg_findpeaks(ppg_clean(x, FS), FS, clean=False)) / FS


def test_regular_and_irregular_segments_keep_one_real_beat_and_change_only_its_timing() -> None:
    sim = anyppg.simulate(10.0, heart_rate=75.0, hrv=0.08, ppg_rate=FS, seed=2)
    segment = sim.ppg.astype(np.float64)
    beat, median = median_beat(segment, FS)
    assert median == pytest.approx(FS * 60 / 75, rel=0.1) and beat.shape[0] == pytest.approx(median, abs=3)
    regular, irregular = rhythm_counterfactuals(segment, FS, np.random.default_rng(0))
    assert regular.shape == irregular.shape == segment.shape
    reg, irr = _intervals(regular), _intervals(irregular)
    assert np.all(np.abs(reg - median / FS) <= 1.5 / FS)  # every beat at the median interval
    cv = irr.std() / irr.mean()
    assert 0.1 < cv < 0.25  # an AF-like spread (0.7-1.3 x, uniform: 0.17)
    assert _intervals(segment).std() / _intervals(segment).mean() < cv
    # the beat is the segment's own, stretched by at most a few samples to the median interval
    n = beat.shape[0]
    assert np.corrcoef(regular[:n], beat)[0, 1] > 0.98 and np.corrcoef(irregular[:n], beat)[0, 1] > 0.8


def test_too_few_beats_leave_a_segment_out() -> None:
    assert median_beat(np.zeros(1000), FS) is None
    assert rhythm_counterfactuals(np.zeros(1000), FS, np.random.default_rng(0)) is None
