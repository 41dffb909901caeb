"""benchmarks/bench_tracker_clinical.py: its per-subject scoring and window alignment, on synthetic numbers
and the simulator (no data folder)."""

from __future__ import annotations

import numpy as np
import pytest

import anyppg


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("bench_tracker_clinical")


def test_scores_are_means_over_subjects_not_windows(bench) -> None:
    # subject a: 1,000 windows off by 1 bpm; subject b: 10 windows off by 5 bpm (and a missing one)
    per_subject = {
        "a": {m: [1.0] * 1000 for m in bench.METHODS},
        "b": {m: [5.0] * 10 + [float("nan")] for m in bench.METHODS},
    }
    out = bench.summarise(per_subject, ["a", "b"])
    e = out["sdk"]
    assert out["subjects"] == 2
    assert e["mean_subject_mae"] == 3.0
    assert e["pooled_mae"] == pytest.approx(1050 / 1010, abs=1e-3)
    assert e["windows"] == 1010
    assert e["worst_subject_mae"] == 5.0
    assert e["ci95"][0] >= 1.0 and e["ci95"][1] <= 5.0 and e["ci95"][0] < 3.0 < e["ci95"][1]


def test_direct_trackers_answer_every_window_of_each_part(bench) -> None:
    sim = anyppg.simulate(60.0, heart_rate=72, ppg_rate=125.0, seed=1)
    ppg = sim.ppg.copy()
    ppg[30 * 125 : 32 * 125] = np.nan  # a 2-s hole: two parts
    # windows end every 2 s from 12 s after each part's start (the preprocessor's first window):
    # part 1 (0-30 s) ends 12-30 s, part 2 (32-60 s) ends 44-60 s
    ends = np.array([12.0, 20.0, 30.0, 44.0, 60.0, 10.0, 42.0, 55.0, 61.0])
    values, cpu = bench.direct_trackers(ppg, 125.0, ends)
    for name in ("classic (first window)", "motion"):
        v = values[name]
        assert np.all(np.abs(v[:5] - 72) < 4), (name, v)
        assert np.isnan(v[5:]).all(), (name, v)  # no window ends there
        assert len(cpu[name]) == 10 + 9
