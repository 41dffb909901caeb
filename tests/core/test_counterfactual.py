"""anyppg.signal.counterfactual: a segment rebuilt from one of its own beats, regular or AF-like."""

from __future__ import annotations

import numpy as np
import pytest

import anyppg
from anyppg.signal import ppg_clean, ppg_findpeaks
from anyppg.signal.counterfactual import median_beat, paced, paced_beat, rhythm_counterfactuals

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


@pytest.mark.parametrize("bpm", [35.0, 50.0, 180.0, 220.0])
def test_a_paced_segment_beats_at_the_asked_rate_with_the_ejection_nearly_kept(bpm: float) -> None:
    segment = anyppg.simulate(10.0, heart_rate=75.0, hrv=0.02, ppg_rate=FS, seed=4).ppg.astype(np.float64)
    beat, _ = median_beat(segment, FS)
    y = paced_beat(beat, FS, bpm, 3000)
    assert y.shape == (3000,)
    # the same beat every 60 / bpm s: each whole beat's maximum at the same place, to within a sample
    period = FS * 60.0 / bpm
    starts = np.arange(int(3000 // period)) * period
    peaks = np.array([a + np.argmax(y[round(a) : round(a + period)]) for a in starts])
    np.testing.assert_allclose(peaks - starts, peaks[0], atol=1.0)
    # the ejection (upstroke to the systolic peak) scales by the square root of the rate change only
    own = 60.0 * FS / (beat.shape[0] - 1)
    rise = np.argmax(beat[: int(0.6 * beat.shape[0])])
    new_rise = np.argmax(y[: round(period)])
    expected = rise * min((bpm / own) ** -0.5, 0.75 * period / (0.6 * (beat.shape[0] - 1)))
    assert new_rise == pytest.approx(expected, abs=2.0)
    np.testing.assert_allclose(paced(segment, FS, bpm), paced_beat(beat, FS, bpm, segment.shape[0]))
