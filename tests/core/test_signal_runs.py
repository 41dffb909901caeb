"""``anyppg.signal.runs``: the one finder of runs the code base shares, against a plain loop."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from anyppg.signal.runs import finite_runs, true_runs


def _loop_runs(mask: list[bool]) -> list[tuple[int, int]]:
    out, start = [], None
    for i, m in enumerate([*mask, False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append((start, i))
            start = None
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), max_size=60))
def test_true_runs_match_a_loop(mask: list[bool]) -> None:
    starts, stops = true_runs(np.array(mask, dtype=bool))
    assert list(zip(starts.tolist(), stops.tolist(), strict=True)) == _loop_runs(mask)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.5, np.nan, np.inf]), max_size=60), st.integers(1, 5))
def test_finite_runs_are_the_runs_of_finite_samples_at_least_min_len_long(
    values: list[float], n: int
) -> None:
    x = np.array(values, dtype=np.float64)
    expected = [(a, b) for a, b in _loop_runs(np.isfinite(x).tolist()) if b - a >= n]
    got = finite_runs(x, min_len=n)
    assert got == expected and all(type(v) is int for run in got for v in run)


def test_edges_empty_all_and_none() -> None:
    assert [r.tolist() for r in true_runs(np.zeros(0, bool))] == [[], []]
    assert [r.tolist() for r in true_runs(np.ones(4, bool))] == [[0], [4]]
    assert finite_runs(np.full(3, np.nan)) == []
