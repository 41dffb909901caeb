"""The timeline: gaps, duplicates, reordering, late blocks and the exact accounting invariant."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from anyppg.sdk.accounting import Accounting, Gap, Timeline
from anyppg.sdk.samples import SampleBlock

RATE = 50.0


def _block(i: int, n: int = 10, seq: int | None = None, acc: bool = False) -> SampleBlock:
    """Block number ``i`` of a regular stream of ``n``-sample blocks (0.2 s each)."""
    t0 = i * n / RATE
    ppg = np.sin(np.arange(i * n, (i + 1) * n) / 7.0)
    return SampleBlock(t0, RATE, ppg, np.ones((n, 3)) if acc else None, seq=i if seq is None else seq)


def _blocks(deliveries) -> list[tuple[float, int, bool, bool]]:
    return [(round(d.block.t0, 6), len(d.block), d.restart, d.fill) for d in deliveries]


def test_regular_stream_is_delivered_whole():
    acc = Accounting()
    tl = Timeline(acc)
    restarts = [[d.restart for d in tl.push(_block(i))] for i in range(20)]
    assert restarts == [[True]] + [[False]] * 19
    assert (acc.received, acc.delivered, acc.dropped_total, acc.gaps, acc.pending) == (200, 200, 0, [], 0)


def test_short_gap_is_filled_and_listed():
    acc = Accounting()
    tl = Timeline(acc, max_fill_s=0.5, reorder_s=0.0)  # no waiting for a late block
    tl.push(_block(0, acc=True))
    out = tl.push(_block(2, acc=True))  # block 1 (10 samples = 0.2 s) lost
    assert _blocks(out) == [(0.2, 10, False, True), (0.4, 10, False, False)]
    fill = out[0].block
    assert fill.seq is None and fill.acc.shape == (10, 3)
    # the fill interpolates between the last delivered sample and the next real one
    assert np.all(np.diff(fill.ppg) * np.sign(out[1].block.ppg[0] - _block(0).ppg[-1]) >= 0)
    (gap,) = acc.gaps
    assert (gap.start, gap.end, gap.missing, gap.filled, gap.reason) == (0.2, 0.4, 10, True, "missing")
    assert (acc.received, acc.delivered, acc.filled) == (20, 20, 10)


def test_a_lost_block_is_declared_once_the_stream_is_past_the_reorder_window():
    acc = Accounting()
    tl = Timeline(acc, reorder_s=0.5)
    tl.push(_block(0))
    assert tl.push(_block(2)) == [] and acc.pending == 10  # held: block 1 may still come
    assert acc.is_balanced() and acc.received == 10  # a held block is not counted yet
    out = tl.push(_block(3))  # 0.6 s past the hole: block 1 is lost
    assert _blocks(out) == [(0.2, 10, False, True), (0.4, 10, False, False), (0.6, 10, False, False)]
    assert acc.pending == 0 and (acc.received, acc.delivered, acc.reordered) == (30, 30, 0)
    assert [(g.start, g.end, g.missing) for g in acc.gaps] == [(0.2, 0.4, 10)]


def test_long_gap_restarts_the_segment():
    acc = Accounting()
    tl = Timeline(acc, max_fill_s=0.5)
    tl.push(_block(0))
    out = tl.push(_block(8))  # 1.4 s missing: beyond the reorder window, within the jump tolerance
    assert _blocks(out) == [(1.6, 10, True, False)]
    assert acc.gaps[0].missing == 70 and not acc.gaps[0].filled


def test_late_blocks_within_the_window_are_reordered_and_duplicates_dropped():
    acc = Accounting()
    tl = Timeline(acc)
    out = []
    for i in (0, 1, 1, 3, 2, 4):  # a duplicate of 1, then 2 arrives after 3
        out += tl.push(_block(i))
    assert [d.block.t0 for d in out] == [0.0, 0.2, 0.4, 0.6, 0.8]  # in device-time order
    assert acc.dropped == {"duplicate": 10} and acc.reordered == 10 and acc.gaps == []
    assert acc.delivered == 50 and acc.received == 60 and acc.is_balanced()


def test_a_block_later_than_the_window_is_dropped_as_out_of_order():
    acc = Accounting()
    tl = Timeline(acc, reorder_s=0.3)
    for i in (0, 2, 3, 4, 1):  # block 1 comes 0.6 s after its slot was declared a gap
        tl.push(_block(i))
    assert acc.dropped == {"out_of_order": 10}
    assert [(g.start, g.end, g.filled) for g in acc.gaps] == [(0.2, 0.4, True)]
    assert acc.delivered == 40 and acc.is_balanced()


def test_a_repeated_block_after_a_jump_candidate_is_a_duplicate():
    acc = Accounting()
    tl = Timeline(acc)
    for i in range(3):
        tl.push(_block(i))
    tl.push(_block(1))  # an old notification repeated after a reconnect
    assert acc.dropped == {"duplicate": 10} and acc.reanchors == 0


def test_disconnect_gap_is_labelled_and_not_waited_on():
    acc = Accounting()
    tl = Timeline(acc)
    tl.push(_block(0))
    tl.mark_disconnect()
    assert len(tl.push(_block(2))) == 2  # a hole after a reconnect is a loss: no reordering wait
    tl.push(_block(8))
    assert [g.reason for g in acc.gaps] == ["disconnect", "missing"]


def test_flush_rules_on_everything_held():
    acc = Accounting()
    tl = Timeline(acc)
    tl.push(_block(0))
    tl.push(_block(2))
    assert acc.pending == 10
    assert _blocks(tl.flush()) == [(0.2, 10, False, True), (0.4, 10, False, False)]
    assert acc.pending == 0 and acc.received == acc.delivered == 20


def test_gaps_hold_plain_python_values_whatever_they_were_built_from():
    gap = Gap(np.float64(1.0), np.float64(2.5), np.int64(3), np.bool_(True), reason=np.str_("missing"))
    assert [type(v) for v in (gap.start, gap.end, gap.missing, gap.filled, gap.reason)] == [
        float,
        float,
        int,
        bool,
        str,
    ]
    acc = Accounting(gaps=[gap])
    acc.dropped["invalid"] += 1
    json.dumps(acc.to_dict())  # raises TypeError on any numpy value


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 3)), min_size=1, max_size=60))
def test_accounting_is_exact_for_any_arrival_order(arrivals):
    """received == delivered + dropped after every block, whatever order, repeats, losses and NaNs."""
    acc = Accounting()
    tl = Timeline(acc, max_fill_s=0.3)
    real = 0
    for i, kind in arrivals:
        block = _block(i)
        if kind == 1:  # all NaN
            block = SampleBlock(block.t0, RATE, np.full(10, np.nan), seq=i)
        elif kind == 2:  # NaN every third sample
            ppg = block.ppg.copy()
            ppg[::3] = np.nan
            block = SampleBlock(block.t0, RATE, ppg, seq=i)
        out = tl.push(block)
        real += sum(len(d.block) for d in out if not d.fill)
        assert acc.is_balanced()
        assert acc.received + acc.pending <= 10 * len(arrivals)
    real += sum(len(d.block) for d in tl.flush() if not d.fill)
    assert acc.is_balanced() and acc.pending == 0
    assert acc.received == 10 * len(arrivals)
    assert acc.delivered == real
    assert acc.filled == sum(g.missing for g in acc.gaps if g.filled)
