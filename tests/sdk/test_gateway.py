"""The gateway: many simulated devices in one event loop give the results and the exact accounting
each would give alone, blocks handed over together preprocess as one block at a time would, and a
gateway that cannot keep up says so (``lagging`` results, a warning, back-pressure drops counted)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import numpy as np
import pytest

import anyppg
from anyppg.sdk.gateway import Gateway, serve
from anyppg.sdk.pipeline import Pipeline
from anyppg.sdk.samples import SampleBlock

FAULTY = [
    "sim:?seed=1&duration=40&drop=0.05&dup=0.03&reorder=0.03",
    "sim:?seed=2&duration=40&rate=25&hr=110",
    "sim:?seed=3&duration=40&motion=0.6&disconnect_at=21&down=3",
]


def _fields(r: Any) -> tuple:
    return (r.t_start, r.t_end, r.heart_rate, r.heart_rate_peaks, r.heart_rate_model, r.quality, r.filled)


async def _alone(url: str, model: Any) -> tuple[list, Any]:
    async with anyppg.connect(url) as device:
        results = [r async for r in device.infer(model)]
        return results, device


@pytest.fixture(scope="module")
def model():
    from anyppg.sdk.cmd_stream import resolve_model

    return resolve_model("default")


def test_every_stream_gets_what_it_would_get_alone(model):
    urls = [f"{u}&speed=max" for u in FAULTY]

    async def main():
        got: dict[str, list] = {u: [] for u in urls}
        async with Gateway(urls, model) as gw:
            async for r in gw.results():
                got[r.device].append(r)
            streams = gw.streams
        return got, streams

    got, streams = asyncio.run(main())
    for url, stream in zip(urls, streams, strict=True):
        alone, device = asyncio.run(_alone(url, model))
        assert len(got[url]) == len(alone) > 5 and stream.windows == len(alone)
        for a, b in zip(got[url], alone, strict=True):
            assert _fields(a) == _fields(b)
            np.testing.assert_array_equal(a.window, b.window)
            np.testing.assert_array_equal(a.embedding, b.embedding)
            assert not a.lagging
        acc, truth = stream.device.accounting, stream.device.transport.truth
        assert acc.to_dict() == device.accounting.to_dict()
        assert acc.is_balanced()
        assert acc.received == truth["samples_sent"] - truth["samples_dropped"] + truth["samples_duplicated"]
        assert stream.done and stream.error is None and stream.lag_s == 0.0  # speed=max: not paced


def test_push_many_accounts_each_block_and_preprocesses_them_as_one():
    sim = anyppg.simulate(40, ppg_rate=50.0, seed=6)
    blocks = [
        SampleBlock(i / 50, 50.0, sim.ppg[i : i + 10], sim.acc[i : i + 10], seq=i // 10)
        for i in range(0, 2000, 10)
    ]
    received = (
        blocks[:30] + blocks[31:60] + [blocks[58]] + blocks[62:61:-1] + blocks[61:62] + blocks[63:]
    )  # gap, dup, swap
    one, many = Pipeline("a"), Pipeline("b")
    by_one = [r for b in received for r in one.push(b)]
    rng = np.random.default_rng(0)
    by_many, i = [], 0
    while i < len(received):
        k = int(rng.integers(1, 12))
        by_many += many.push_many(received[i : i + k])
        i += k
    by_one += one.flush()
    by_many += many.flush()
    assert len(by_many) == len(by_one) > 5
    for a, b in zip(by_many, by_one, strict=True):
        assert _fields(a) == _fields(b)
        np.testing.assert_array_equal(a.window, b.window)
    assert many.accounting.to_dict() == one.accounting.to_dict()
    assert many.push_many([]) == []


class _SlowModel:
    """The shipped model, made slower than the streams need: a gateway that cannot keep up."""

    def __init__(self, model: Any, seconds: float) -> None:
        self._model, self._seconds = model, seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        time.sleep(self._seconds)  # CPU the gateway does not have: the event loop is held
        return self._model.run(x)


def test_an_overloaded_gateway_flags_lagging_streams(model, caplog):
    # 3 streams at 25x real time need 37.5 windows/s; at >= 40 ms per window the gateway manages 25.
    urls = [f"sim:?seed={i}&duration=60&speed=25" for i in range(3)]
    caplog.set_level(logging.WARNING, logger="anyppg.sdk.gateway")
    results: list = []
    summaries = asyncio.run(serve(urls, _SlowModel(model, 0.04), results.append, lag_threshold_s=0.3))
    assert any(r.lagging for r in results)
    assert "behind real time" in caplog.text
    for s in summaries:
        assert s.accounting.is_balanced() and s.accounting.delivered == s.accounting.received
        assert s.max_lag_s is not None and s.max_lag_s > 0.3 and s.lagging_episodes >= 1
        assert s.lagging_windows == sum(r.lagging for r in results if r.device == s.device)


def test_a_live_source_whose_queue_overflows_drops_its_oldest_blocks_and_counts_them():
    # A 1 s tick and room for 4 blocks, while each device sends 100 blocks a second (25x real time).
    urls = [f"sim:?seed={i}&duration=30&speed=25" for i in range(2)]
    results: list = []
    summaries = asyncio.run(serve(urls, None, results.append, tick_s=1.0, queue_blocks=4))
    for s in summaries:
        acc = s.accounting
        assert acc.dropped["backpressure"] > 0 and acc.is_balanced()
        assert acc.received == 30 * 64  # every sample sent was received: delivered or counted


def test_a_gateway_that_keeps_up_flags_nothing(model):
    urls = [f"sim:?seed={i}&duration=20&speed=10" for i in range(2)]
    results: list = []
    summaries = asyncio.run(serve(urls, model, results.append))
    assert results and not any(r.lagging for r in results)
    for s in summaries:
        assert s.accounting.is_balanced() and s.accounting.dropped_total == 0
        assert s.max_lag_s is not None and s.lagging_episodes == 0 and s.to_dict()["lagging_windows"] == 0


def test_each_summary_says_how_its_stream_looked_both_ways_up(model):
    """The gateway's pipelines watch the pulse's polarity as a single stream's does (one line in the
    summary); the simulator's pulse is upright, one stream declared inverted looks upside down."""
    urls = [f"sim:?seed={i}&duration=30&speed=max" for i in range(2)]
    upright = asyncio.run(serve(urls, model, lambda r: None))
    flipped = asyncio.run(serve(urls[:1], model, lambda r: None, polarity="inverted"))
    assert [s.to_dict()["polarity_check"]["polarity"] for s in upright] == ["normal", "normal"]
    assert flipped[0].to_dict()["polarity_check"]["polarity"] == "inverted"


def test_one_failing_device_does_not_stop_the_others(tmp_path):
    missing = tmp_path / "missing.npz"
    urls = ["sim:?seed=1&duration=20&speed=max", f"replay:{missing}?speed=max"]
    results: list = []
    summaries = asyncio.run(serve(urls, None, results.append))
    assert summaries[0].error is None and summaries[0].results > 0
    assert summaries[1].error and "missing.npz" in summaries[1].error


def test_gateway_arguments_are_checked():
    with pytest.raises(ValueError, match="at least one"):
        Gateway([])
    with pytest.raises(ValueError, match="tick_s"):
        Gateway(["sim:"], tick_s=0)


def test_wait_tick_returns_between_scheduler_rounds():
    async def main():
        async with Gateway(["sim:?seed=1&duration=20&speed=10"], None, tick_s=0.05) as gw:
            results = asyncio.create_task(_count(gw))
            await gw.wait_tick()
            first = gw.ticks
            await gw.wait_tick()
            assert gw.ticks == first + 1
            assert await results > 0
            await gw.wait_tick()  # every stream has ended: returns at once
            assert all(s.done for s in gw.streams)

    asyncio.run(main())


async def _count(gw: Gateway) -> int:
    return sum([1 async for _ in gw.results()])


def test_worker_processes_give_each_stream_what_one_process_gives():
    urls = [f"sim:?seed={i}&duration=30&speed=max&drop=0.02" for i in range(4)]
    one: list = []
    two: list = []
    single = asyncio.run(serve(urls, None, one.append))
    spread = asyncio.run(serve(urls, None, two.append, workers=2))
    assert [s.device for s in spread] == urls
    for a, b in zip(single, spread, strict=True):
        assert a.accounting.to_dict() == b.accounting.to_dict() and b.accounting.is_balanced()
        assert a.results == b.results > 0 and b.error is None
    for url in urls:
        mine = [_fields(r) for r in one if r.device == url]
        theirs = [_fields(r) for r in two if r.device == url]
        assert mine == theirs


def test_many_streams_falling_behind_at_once_make_one_warning_line(caplog):
    gw = Gateway([f"sim:?seed={i}" for i in range(8)], None, lag_threshold_s=1.0)
    caplog.set_level(logging.WARNING, logger="anyppg.sdk.gateway")
    for i, s in enumerate(gw.streams):
        s.lag_s, s.lagging = 1.5 + i, True
    gw._fell_behind = list(gw.streams)
    gw._log_fell_behind()
    (record,) = caplog.records
    assert (
        "8 streams fell behind real time" in record.message and "worst 8.5 s: sim:?seed=7" in record.message
    )
    assert "8 of 8 are behind" in record.message
