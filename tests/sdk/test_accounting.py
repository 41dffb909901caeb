"""The timeline: gaps, duplicates, out-of-order blocks and the exact accounting invariant."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from anyppg.sdk.accounting import Accounting, Timeline
from anyppg.sdk.samples import SampleBlock

RATE = 50.0


def _block(i: int, n: int = 10, seq: int | None = None, acc: bool = False) -> SampleBlock:
    """Block number ``i`` of a regular stream of ``n``-sample blocks."""
    t0 = i * n / RATE
    ppg = np.sin(np.arange(i * n, (i + 1) * n) / 7.0)
    return SampleBlock(t0, RATE, ppg, np.ones((n, 3)) if acc else None, seq=i if seq is None else seq)


def test_regular_stream_is_delivered_whole():
    acc = Accounting()
    tl = Timeline(acc)
    restarts = [tl.push(_block(i))[1] for i in range(20)]
    assert restarts == [True] + [False] * 19
    assert (acc.received, acc.delivered, acc.dropped_total, acc.gaps) == (200, 200, 0, [])


def test_short_gap_is_filled_and_listed():
    acc = Accounting()
    tl = Timeline(acc, max_fill_s=0.5)
    tl.push(_block(0, acc=True))
    out, restart = tl.push(_block(2, acc=True))  # block 1 (10 samples = 0.2 s) lost
    assert not restart
    assert [len(b) for b in out] == [10, 10]
    fill = out[0]
    assert fill.t0 == 10 / RATE and fill.seq is None and fill.acc.shape == (10, 3)
    # the fill interpolates between the last delivered sample and the next real one
    assert np.all(np.diff(fill.ppg) * np.sign(out[1].ppg[0] - _block(0).ppg[-1]) >= 0)
    (gap,) = acc.gaps
    assert (gap.start, gap.end, gap.missing, gap.filled) == (0.2, 0.4, 10, True)
    assert (acc.received, acc.delivered, acc.filled) == (20, 20, 10)


def test_long_gap_restarts_the_segment():
    acc = Accounting()
    tl = Timeline(acc, max_fill_s=0.5)
    tl.push(_block(0))
    out, restart = tl.push(_block(10))  # 1.8 s missing
    assert restart and len(out) == 1
    assert acc.gaps[0].missing == 90 and not acc.gaps[0].filled


def test_duplicates_and_late_blocks_are_dropped_by_reason():
    acc = Accounting()
    tl = Timeline(acc)
    for i in (0, 1, 1, 3, 2, 4):  # a duplicate of 1, then 2 arrives after 3
        tl.push(_block(i))
    assert acc.dropped == {"duplicate": 10, "out_of_order": 10}
    assert acc.delivered == 40 and acc.received == 60
    assert [(g.start, g.end) for g in acc.gaps] == [(0.4, 0.6)]
    assert acc.is_balanced()


def test_non_finite_samples_are_invalid():
    acc = Accounting()
    tl = Timeline(acc)
    bad = SampleBlock(0.0, RATE, np.array([1.0, np.nan, 2.0]))
    assert tl.push(bad) == ([], False)
    assert acc.dropped["invalid"] == 3 and acc.is_balanced()


def test_disconnect_gap_is_labelled():
    acc = Accounting()
    tl = Timeline(acc)
    tl.push(_block(0))
    tl.mark_disconnect()
    tl.push(_block(50))
    tl.push(_block(60))
    assert [g.reason for g in acc.gaps] == ["disconnect", "missing"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.booleans()), min_size=1, max_size=60))
def test_accounting_is_exact_for_any_arrival_order(arrivals):
    """received == delivered + dropped, whatever order, repeats and losses the blocks come in."""
    acc = Accounting()
    tl = Timeline(acc, max_fill_s=0.3)
    delivered_real = 0
    for i, nan in arrivals:
        block = _block(i)
        if nan:
            block = SampleBlock(block.t0, RATE, np.full(10, np.nan), seq=i)
        out, _ = tl.push(block)
        delivered_real += sum(len(b) for b in out if b is block)
    assert acc.is_balanced()
    assert acc.received == 10 * len(arrivals)
    assert acc.delivered == delivered_real
    starts = [g.start for g in acc.gaps]
    assert starts == sorted(starts)
