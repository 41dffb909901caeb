"""Re-anchoring the time line: device restarts, clock jumps and lone far-off timestamps."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anyppg.sdk.accounting import Accounting, Timeline
from anyppg.sdk.pipeline import Pipeline
from anyppg.sdk.samples import SampleBlock

RATE = 50.0
N = 10  # samples per block: 0.2 s


def _block(i: int, *, t_offset: float = 0.0, seq: int | None = None, phase: int = 0) -> SampleBlock:
    """Block ``i`` of a regular stream; ``t_offset`` shifts the device clock, ``phase`` the samples."""
    ppg = np.sin(np.arange(i * N, (i + 1) * N) / 7.0 + phase)
    return SampleBlock(i * N / RATE + t_offset, RATE, ppg, seq=(i if seq is None else seq) & 0xFFFF)


def _delivered_t0(deliveries) -> list[float]:
    return [round(d.block.t0, 6) for d in deliveries if not d.fill]


def test_a_device_restart_resumes_delivery_within_one_block():
    acc = Accounting()
    tl = Timeline(acc)
    for i in range(50):  # 10 s of stream, seq 0..49
        tl.push(_block(i))
    # The device reboots: its clock and sequence numbers start again at 0, with new samples.
    assert tl.push(_block(0, phase=1)) == []  # held: one block cannot move the time line
    out = tl.push(_block(1, phase=1))
    assert _delivered_t0(out) == [0.0, 0.2] and out[0].restart
    assert _delivered_t0(tl.push(_block(2, phase=1))) == [0.4]
    assert acc.reanchors == 1 and acc.dropped_total == 0
    (gap,) = acc.gaps
    assert (gap.start, gap.end, gap.missing, gap.reason) == (10.0, 0.0, 0, "restart")
    assert acc.received == acc.delivered == 530


def test_a_restart_does_not_look_like_duplicates_of_the_first_blocks():
    """Same times and sequence numbers as the stream's first blocks, other samples: not duplicates."""
    acc = Accounting()
    tl = Timeline(acc)
    for i in range(5):
        tl.push(_block(i))
    delivered = [t for i in range(3) for t in _delivered_t0(tl.push(_block(i, phase=2)))]
    assert delivered == [0.0, 0.2, 0.4] and acc.reanchors == 1 and acc.dropped_total == 0


def test_a_lone_far_future_timestamp_is_dropped_and_does_not_poison_the_time_line():
    acc = Accounting()
    tl = Timeline(acc)
    for i in range(5):
        tl.push(_block(i))
    tl.push(_block(5, t_offset=1e6))  # one valid frame 11.6 days ahead
    delivered = [t for i in range(6, 10) for t in _delivered_t0(tl.push(_block(i)))]
    assert delivered == [1.2, 1.4, 1.6, 1.8]  # the next block continues the old time line
    assert acc.dropped == {"outlier": 10} and acc.reanchors == 0
    assert [(g.start, g.end, g.missing) for g in acc.gaps] == [(1.0, 1.2, 10)]  # where block 5 was
    assert acc.is_balanced()


def test_a_lone_far_past_timestamp_is_dropped():
    acc = Accounting()
    tl = Timeline(acc)
    for i in range(20, 25):
        tl.push(_block(i))
    tl.push(_block(3, phase=5))  # a block stamped 4.4 s in the past
    assert _delivered_t0(tl.push(_block(25))) == [5.0]
    assert acc.dropped == {"outlier": 10} and acc.gaps == []


@pytest.mark.parametrize("step_s", [3600.0, -3600.0, 5.0])
def test_a_clock_step_with_consecutive_sequence_numbers_is_a_clock_jump(step_s):
    acc = Accounting()
    tl = Timeline(acc)
    for i in range(100, 110):
        tl.push(_block(i))
    out = [d for i in range(110, 115) for d in tl.push(_block(i, t_offset=step_s))]
    assert len(out) == 5 and out[0].restart
    (gap,) = acc.gaps
    assert (gap.reason, gap.missing) == ("clock_jump", 0)
    assert gap.end - gap.start == pytest.approx(step_s)
    assert acc.reanchors == 1 and acc.delivered == 150 and acc.dropped_total == 0


def test_a_long_outage_is_a_gap_not_a_clock_jump():
    """Sequence numbers jumped with the clock: frames were lost, the gap has a sample estimate."""
    acc = Accounting()
    tl = Timeline(acc)
    for i in range(5):
        tl.push(_block(i))
    assert tl.push(_block(100)) == []  # 19 s ahead: waits for confirmation
    out = tl.push(_block(101))
    assert _delivered_t0(out) == [20.0, 20.2] and out[0].restart
    (gap,) = acc.gaps
    assert (gap.start, gap.end, gap.missing, gap.reason, gap.filled) == (1.0, 20.0, 950, "missing", False)
    assert acc.reanchors == 0


def test_a_jump_candidate_at_the_end_of_the_stream_is_delivered():
    acc = Accounting()
    tl = Timeline(acc)
    tl.push(_block(0))
    tl.push(_block(500))
    assert acc.pending == N
    assert _delivered_t0(tl.flush()) == [100.0]
    assert acc.pending == 0 and acc.delivered == 20


def test_reanchoring_is_logged_once(caplog):
    tl = Timeline(Accounting())
    with caplog.at_level(logging.WARNING, logger="anyppg.sdk.accounting"):
        for k in range(3):  # three restarts
            for i in range(3):
                tl.push(_block(i, phase=k))
    assert tl.acc.reanchors == 2
    assert sum("re-anchored" in r.message for r in caplog.records) == 1


def test_the_pipeline_keeps_producing_windows_after_a_restart():
    pipe = Pipeline("dev", None, hop_s=2.0)
    t = np.arange(int(30 * RATE)) / RATE
    ppg = np.sin(2 * np.pi * 1.2 * t)

    def blocks(offset_s: float, seq0: int):
        return [
            SampleBlock(offset_s + k * N / RATE, RATE, ppg[k * N : (k + 1) * N], seq=seq0 + k)
            for k in range(len(ppg) // N)
        ]

    first = [r for b in blocks(1000.0, 0) for r in pipe.push(b)]
    second = [r for b in blocks(0.0, 0) for r in pipe.push(b)]  # rebooted: clock back to 0
    second += pipe.flush()
    assert len(first) >= 8 and len(second) >= 8
    assert first[0].t_start >= 1000.0 and second[0].t_start < 5.0  # windows on the new time line
    assert pipe.accounting.reanchors == 1 and pipe.accounting.is_balanced()
    assert pipe.accounting.delivered == 2 * len(ppg)


def test_a_device_reboot_over_a_real_serial_link_resumes_within_one_frame():
    """Frames through a pty; the device restarts mid-stream (sequence and clock back to 0)."""
    import asyncio
    import os
    import pty
    import tty

    import anyppg
    from anyppg.errors import DeviceDisconnectedError
    from anyppg.firmware_bridge.protocol import Channel, FrameEncoder, SampleFormat
    from anyppg.sdk import ReconnectPolicy

    def frames(first_us: int, n: int, offset: int) -> list[bytes]:
        enc = FrameEncoder(RATE, (Channel.PPG_GREEN,), SampleFormat.INT16, max_samples=N)
        ppg = np.round(1000 * np.sin(np.arange(offset, offset + n * N) / 5.0)).astype(np.int16)
        return enc.encode(ppg, timestamp_us=first_us)

    before = frames(600_000_000, 30, 0)  # 10 min into the device's uptime
    after = frames(0, 30, 7)  # rebooted: seq 0, clock 0, new samples
    master, slave = pty.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    os.close(slave)

    async def main():
        blocks = []
        async with anyppg.connect(
            f"serial:{name}", reconnect=ReconnectPolicy(max_attempts=1, initial_delay_s=0.01)
        ) as device:

            async def feed():
                await asyncio.sleep(0.05)
                os.write(master, b"".join(before + after))
                await asyncio.sleep(0.2)
                os.close(master)

            feeder = asyncio.create_task(feed())
            try:
                async for block in device.samples():
                    blocks.append(block)
            except DeviceDisconnectedError:
                pass
            await feeder
            return blocks, device.accounting

    blocks, acc = asyncio.run(main())
    t0s = [round(b.t0, 3) for b in blocks]
    assert t0s[:30] == [round(600 + k * N / RATE, 3) for k in range(30)]
    assert t0s[30:] == [round(k * N / RATE, 3) for k in range(30)]  # the reboot's frames, all of them
    assert acc.reanchors == 1 and [g.reason for g in acc.gaps] == ["restart"]
    assert acc.received == acc.delivered == 60 * N and acc.pending == 0 and acc.dropped_total == 0


def test_a_rate_change_releases_what_is_held_and_starts_a_new_segment():
    acc = Accounting()
    tl = Timeline(acc)
    tl.push(_block(0))
    tl.push(_block(2))  # held: block 1 may still come
    slow = SampleBlock(0.6, 25.0, np.sin(np.arange(5) / 3.0), seq=3)
    out = tl.push(slow)
    assert [(round(d.block.t0, 3), d.fill, d.restart) for d in out] == [
        (0.2, True, False),  # the hole is declared at the old rate
        (0.4, False, False),
        (0.6, False, True),  # the new rate starts a segment
    ]
    assert acc.pending == 0 and acc.received == acc.delivered == 25


_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(-1e4, 1e4),
)


@st.composite
def _hostile_blocks(draw) -> SampleBlock:
    n = draw(st.integers(0, 12))
    t0 = draw(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(0, 60).map(lambda k: k * 0.2))
    )
    rate = draw(st.sampled_from([RATE, RATE, RATE, 25.0, 5.0, 0.0, -1.0, float("nan"), 1e9]))
    ppg = np.array(draw(st.lists(_values, min_size=n, max_size=n)), dtype=np.float64)
    acc = None
    if draw(st.booleans()):
        acc = np.array(draw(st.lists(_values, min_size=3 * n, max_size=3 * n)), dtype=np.float64).reshape(
            n, 3
        )
    seq = draw(st.one_of(st.none(), st.integers(0, 0xFFFF)))
    return SampleBlock(t0, rate, ppg, acc, seq=seq)


@settings(max_examples=200, deadline=None)
@given(st.lists(_hostile_blocks(), min_size=1, max_size=30))
def test_hostile_blocks_never_raise_and_the_accounting_stays_exact(blocks):
    acc = Accounting()
    tl = Timeline(acc)
    delivered = 0
    for b in blocks:
        out = tl.push(b)
        delivered += sum(len(d.block) for d in out if not d.fill)
        assert acc.is_balanced()
        for d in out:
            assert np.all(np.isfinite(d.block.ppg)) and np.all(np.abs(d.block.ppg) <= 1e9)
            assert d.block.acc is None or np.all(np.isfinite(d.block.acc))
    delivered += sum(len(d.block) for d in tl.flush() if not d.fill)
    assert acc.is_balanced() and acc.pending == 0
    assert acc.received == sum(len(b) for b in blocks) and acc.delivered == delivered


def test_samples_held_for_reordering_are_handed_on_before_a_lost_link_is_reported():
    import asyncio

    import anyppg
    from anyppg.errors import DeviceDisconnectedError
    from anyppg.sdk import ReconnectPolicy

    async def main():
        blocks = []
        # seed 6: the block at 7.5 s is lost in transit, so the one after it is held when the link goes
        url = "sim:?duration=20&speed=max&disconnect_at=8&drop=0.3&seed=6"
        async with anyppg.connect(url, reconnect=ReconnectPolicy(max_attempts=0)) as device:
            with pytest.raises(DeviceDisconnectedError):
                async for block in device.samples():
                    blocks.append(block)
            return blocks, device.accounting

    blocks, acc = asyncio.run(main())
    assert acc.pending == 0 and acc.is_balanced()
    assert acc.delivered == sum(len(b) for b in blocks) > 0
    assert blocks[-1].t_end == pytest.approx(8.0)  # everything up to the link loss
    assert acc.gaps[-1].start == pytest.approx(7.5) and acc.gaps[-1].end == pytest.approx(7.75)
