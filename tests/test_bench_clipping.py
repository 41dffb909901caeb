"""benchmarks/bench_clipping.py on simulated sources (no data folder): the old rule's false flags on a
coarse converter, the new one's recall on a rail."""

from __future__ import annotations

import pytest

import anyppg


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("bench_clipping")


def test_plain_rule_counts_every_run_at_the_extremes(bench) -> None:
    import numpy as np

    x = np.array([0, 1, 5, 5, 5, 2, 0, 0, 0, 0, 3, 4], dtype=float)
    assert bench.plain_plateau_fraction(x) == pytest.approx(7 / 12)  # three at the max, four at the min


def test_check_separates_a_coarse_converter_from_a_rail(bench) -> None:
    sources = [
        (f"sim{i}", anyppg.simulate(60.0, heart_rate=hr, ppg_rate=100.0, seed=i).ppg, 100.0)
        for i, hr in enumerate((62.0, 88.0))
    ]
    (row,) = bench.check(sources, rates=(50.0,), steps=(64,))
    assert row["windows"] == 2 * 26 and row["cut_windows"] > 20
    assert row["false_flags_clip_fraction"] <= 0.05 < row["false_flags_plain"]
    assert row["recall_clip_fraction"] >= 0.8
