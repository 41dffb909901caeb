"""One process serving many device streams in real time, with lag made visible.

:class:`Gateway` runs N devices in one event loop (``anyppg stream URL URL ...`` uses it)::

    async with Gateway(["sim:?seed=1", "sim:?seed=2", "ble:AnyPPG-1234"], "default") as gw:
        async for r in gw.results():
            print(r.device, r.heart_rate, r.lagging)

How it scales:

- Each device keeps its own producer (the transport, reconnects with back-off) and a bounded queue:
  a live source whose queue is full drops its oldest block, counted as ``backpressure`` in the
  accounting; a file or a simulation at ``speed=max`` waits instead.
- One scheduler wakes every ``tick_s``, drains every queue and hands each stream's blocks to its
  :class:`~anyppg.sdk.pipeline.Pipeline` at once (:meth:`~anyppg.sdk.pipeline.Pipeline.push_many`):
  every block is accounted for on its own, then what the timeline delivers in a row is preprocessed
  as one chunk, so resampling, filtering and the Python cost per call are paid once per tick and
  stream, not once per BLE notification (a 64 Hz stream sends four 16-sample blocks a second). The
  windows are the same: preprocessing is chunk-size invariant. A result's ``latency_ms`` counts
  from the arrival of the first block of its tick.
- Inference stays one call per window: the shipped LiteRT int8 student has its batch fixed at 1
  (XNNPACK refuses to resize it) and one call costs about 0.17 ms, a few percent of a window's CPU
  (measured in ``docs/gateway.md``).

Lag: for a source paced in real time (live devices, ``sim:``/``replay:`` at a finite speed), the
gateway compares the device time it has processed with the wall clock, relative to the best it has
seen (so the radio's and the queue's usual latency count as zero). A stream more than
``lag_threshold_s`` behind is *lagging*: its results carry ``lagging=True``, a warning is logged
when it falls behind and an info line when it catches up, and :class:`GatewayStream` keeps the
current and the largest lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anyppg.errors import AnyPPGError
from anyppg.sdk.device import _DISCONNECTED, _END, Device, _resolve_model
from anyppg.sdk.pipeline import DEFAULT_QUALITY_THRESHOLD, Pipeline
from anyppg.sdk.polarity import Polarity
from anyppg.sdk.queues import BlockQueue
from anyppg.sdk.results import Result
from anyppg.sdk.samples import SampleBlock
from anyppg.sdk.summary import StreamSummary

__all__ = [
    "DEFAULT_LAG_THRESHOLD_S",
    "DEFAULT_TICK_S",
    "Gateway",
    "GatewayStream",
    "serve",
]

log = logging.getLogger(__name__)

DEFAULT_TICK_S = 0.5
"""How often the scheduler drains the queues, s: the most a block waits before preprocessing."""

DEFAULT_LAG_THRESHOLD_S = 2.0
"""A stream this far behind real time (s) is lagging (one window hop)."""

_LOG_EACH_UP_TO = 5  # streams falling behind in one round that get a warning line each
_MAX_HOLD_S = 0.02  # the scheduler lets the event loop run at least this often, s
_CLOCK_JUMP_S = 5.0  # a device clock stepping back more than this (s) re-anchors the lag reference


@dataclass(eq=False)
class GatewayStream:
    """One device served by a :class:`Gateway`, with its lag counters.

    Attributes:
        url: the device URL.
        device: the :class:`~anyppg.sdk.Device`.
        pipeline: its pipeline (its ``accounting`` is the device's).
        speed: the real-time multiple the source is paced at (1 for live devices); ``inf`` for a
            source that is not paced (``speed=max``), whose lag is not measured.
        lag_s: how far the last processed block trailed real time, s (0 when not measured).
        max_lag_s: the largest ``lag_s`` seen.
        lagging: whether ``lag_s`` is above the gateway's threshold now.
        lagging_episodes: how many times the stream fell behind.
        windows: results produced.
        done: the stream ended (its source finished, or it failed).
        error: the error that ended it, if any (one line).
    """

    url: str
    device: Device
    pipeline: Pipeline
    speed: float
    queue: BlockQueue
    lag_s: float = 0.0
    max_lag_s: float = 0.0
    lagging: bool = False
    lagging_episodes: int = 0
    windows: int = 0
    done: bool = False
    error: str | None = None
    _producer: asyncio.Task[None] | None = field(default=None, repr=False)
    _offset: float = math.inf  # min over blocks of (arrival - device time / speed), s
    _last_t_end: float | None = None


class Gateway:
    """Serves many devices in one event loop: connect, stream, infer, with lag made visible.

    Args:
        urls: device URLs (any scheme :func:`anyppg.connect` takes).
        model: a loaded model, a ``.tflite``/``.pte`` path, ``"default"`` (the shipped int8 student)
            or None (signal only); loaded once and shared by every stream.
        hop_s: step between windows, s.
        quality_threshold: minimum window quality (0..1) for the model to run.
        max_fill_s: gaps up to this long (s) are bridged by interpolation.
        tick_s: how often the queues are drained, s (see the module docstring).
        lag_threshold_s: lag above which a stream is ``lagging``, s.
        queue_blocks: capacity of each device's queue, in blocks.
        motion_model: the learned PPG + accelerometer heart-rate model, as ``Device.infer`` takes it
            (``"auto"``, the default, None / ``"none"``, a path, a loaded model); loaded once and
            shared, run only on streams with an accelerometer.
        polarity: which way up every stream's PPG goes to the model, as ``Device.infer`` takes it
            (``"normal"``, the default, or ``"inverted"``).
        **device_kwargs: passed to every :class:`~anyppg.sdk.Device` (``reconnect=``, ``backpressure=``).

    Raises:
        UnknownSchemeError, DeviceURLError: a URL cannot be parsed.
        ModelLoadError, ModelInputError: the model cannot be used.
        ValueError: no URL, or a non-positive ``tick_s`` / ``lag_threshold_s``.
    """

    def __init__(
        self,
        urls: Sequence[str],
        model: Any | str | Path | None = None,
        *,
        hop_s: float = 2.0,
        quality_threshold: float | None = None,
        max_fill_s: float = 0.5,
        tick_s: float = DEFAULT_TICK_S,
        lag_threshold_s: float = DEFAULT_LAG_THRESHOLD_S,
        queue_blocks: int = 256,
        motion_model: Any | str | Path | None = "auto",
        polarity: Polarity = "normal",
        **device_kwargs: Any,
    ) -> None:
        if not urls:
            raise ValueError("a gateway needs at least one device URL")
        if not (tick_s > 0 and lag_threshold_s > 0):
            raise ValueError(f"tick_s and lag_threshold_s must be > 0, got {tick_s}, {lag_threshold_s}")
        self.tick_s = float(tick_s)
        self.lag_threshold_s = float(lag_threshold_s)
        self.model = _resolve_model(model)
        from anyppg.sdk.motion_runtime import resolve_motion_model

        self.motion_model = resolve_motion_model(motion_model, self.model)
        threshold = DEFAULT_QUALITY_THRESHOLD if quality_threshold is None else quality_threshold
        self.streams: list[GatewayStream] = []
        for url in urls:
            device = Device(url, queue_blocks=queue_blocks, **device_kwargs)
            pipeline = Pipeline(
                device.name,
                self.model,
                hop_s=hop_s,
                quality_threshold=threshold,
                max_fill_s=max_fill_s,
                accounting=device.accounting,
                motion_model=self.motion_model,
                polarity=polarity,
            )
            speed = float(getattr(device.transport, "speed", 1.0))
            if not device.transport.live:
                speed = math.inf
            queue = BlockQueue(queue_blocks, device.backpressure)
            self.streams.append(GatewayStream(url, device, pipeline, speed, queue))
        self.ticks = 0
        """Scheduler rounds completed (every queue drained once per round)."""
        self._fell_behind: list[GatewayStream] = []  # this round's, logged together at its end
        self._tick_done = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------------------------

    async def __aenter__(self) -> Gateway:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open every link concurrently; a device that fails is marked done with its error (the
        others still stream)."""

        async def one(s: GatewayStream) -> None:
            try:
                await s.device.connect()
            except AnyPPGError as exc:
                s.done, s.error = True, str(exc)
                log.warning("%s: %s", s.url, exc)

        await asyncio.gather(*(one(s) for s in self.streams))

    async def close(self) -> None:
        """Stop every producer and close every link."""
        producers = [s._producer for s in self.streams if s._producer is not None and not s._producer.done()]
        for p in producers:
            p.cancel()
        for p in producers:
            with contextlib.suppress(asyncio.CancelledError):
                await p
        await asyncio.gather(*(s.device.disconnect() for s in self.streams), return_exceptions=True)
        for s in self.streams:
            s.device.accounting.corrupt_frames = s.device.transport.corrupt_frames

    # --- streaming ----------------------------------------------------------------------------------

    async def results(self) -> AsyncIterator[Result]:
        """Yield results of every stream as they are made, until every stream has ended.

        A stream that fails (its reconnects gave up, its file is corrupt) ends alone: its error is
        in :attr:`GatewayStream.error` and the others go on.
        """
        async for _, result in self.stream_results():
            yield result

    async def stream_results(self) -> AsyncIterator[tuple[GatewayStream, Result]]:
        """:meth:`results`, each with the :class:`GatewayStream` it belongs to."""
        for s in self.streams:
            if not s.done:
                # Device._produce: the transport loop with reconnects, into this stream's queue.
                s._producer = asyncio.create_task(s.device._produce(s.queue), name=f"anyppg-gateway {s.url}")
        loop = asyncio.get_running_loop()
        while not all(s.done for s in self.streams):
            started = yielded = loop.time()
            busy = False  # a stream that is not paced had data: do not sleep
            for s in self.streams:
                if s.done or not len(s.queue):
                    continue
                items = s.queue.drain()
                busy |= math.isinf(s.speed)
                for result in self._process(s, items):
                    yield s, result
                if loop.time() - yielded > _MAX_HOLD_S:  # let transports run (BLE callbacks, pacing)
                    await asyncio.sleep(0)
                    yielded = loop.time()
            elapsed = loop.time() - started
            self._log_fell_behind()
            self.ticks += 1
            self._tick_done.set()
            self._tick_done = asyncio.Event()
            await asyncio.sleep(0 if busy else max(0.0, self.tick_s - elapsed))
        self._tick_done.set()  # nothing left to wait for

    async def wait_tick(self) -> None:
        """Wait until the scheduler finishes its current round: every stream has then been drained
        at the same point (a benchmark measures between two such points). Returns at once when
        every stream has ended."""
        if not all(s.done for s in self.streams):
            await self._tick_done.wait()

    def _process(self, s: GatewayStream, items: list[Any]) -> list[Result]:
        out: list[Result] = []
        blocks: list[SampleBlock] = []
        for item in items:
            if isinstance(item, SampleBlock):
                blocks.append(item)
                continue
            out += self._push(s, blocks)
            blocks = []
            if item is _DISCONNECTED:
                s.pipeline.mark_disconnect()
            elif item is _END:
                out += self._finish(s, None)
            elif isinstance(item, BaseException):
                out += self._finish(s, item)
        out += self._push(s, blocks)
        s.windows += len(out)
        return out

    def _push(self, s: GatewayStream, blocks: list[SampleBlock]) -> list[Result]:
        if not blocks or s.done:
            return []
        s.device.accounting.corrupt_frames = s.device.transport.corrupt_frames
        self._update_lag(s, blocks)
        s.pipeline.lagging = s.lagging
        try:
            return s.pipeline.push_many(blocks)
        except AnyPPGError as exc:  # e.g. a rate the model cannot take: this stream ends, not the others
            return self._finish(s, exc)

    def _finish(self, s: GatewayStream, error: BaseException | None) -> list[Result]:
        out = s.pipeline.flush() if error is None else []  # what the reordering timeline still holds
        s.done = True
        if error is not None:
            s.error = str(error) if isinstance(error, AnyPPGError) else f"{type(error).__name__}: {error}"
            log.warning("%s: stream ended: %s", s.url, s.error)
        return out

    def _update_lag(self, s: GatewayStream, blocks: list[SampleBlock]) -> None:
        """Lag of the newest block: wall clock now minus when its device time was due."""
        if math.isinf(s.speed):
            return
        now = time.perf_counter()
        for b in blocks:
            if s._last_t_end is not None and b.t0 < s._last_t_end - _CLOCK_JUMP_S:
                s._offset = math.inf  # the device clock went back (a reboot): a new reference
            # The smallest (arrival - device time) seen is the stream's real-time reference; a clock
            # that jumps ahead lowers it at once.
            s._offset = min(s._offset, (b.arrival or now) - b.t_end / s.speed)
            s._last_t_end = b.t_end
        assert s._last_t_end is not None
        s.lag_s = max(0.0, now - (s._last_t_end / s.speed + s._offset))
        s.max_lag_s = max(s.max_lag_s, s.lag_s)
        behind = s.lag_s > self.lag_threshold_s
        if behind and not s.lagging:
            s.lagging_episodes += 1
            self._fell_behind.append(s)
        elif s.lagging and not behind:
            log.info("%s: caught up with real time (lag %.2f s)", s.url, s.lag_s)
        s.lagging = behind

    def _log_fell_behind(self) -> None:
        """One warning per stream that fell behind this round; one line for all when there are many."""
        fell, self._fell_behind = self._fell_behind, []
        if not fell:
            return
        if len(fell) <= _LOG_EACH_UP_TO:
            for s in fell:
                log.warning(
                    "%s: %.1f s behind real time (threshold %.1f s): the gateway is not keeping up",
                    s.url,
                    s.lag_s,
                    self.lag_threshold_s,
                )
            return
        worst = max(fell, key=lambda s: s.lag_s)
        log.warning(
            "%d streams fell behind real time (threshold %.1f s; worst %.1f s: %s); %d of %d are behind: "
            "the gateway is not keeping up",
            len(fell),
            self.lag_threshold_s,
            worst.lag_s,
            worst.url,
            sum(s.lagging for s in self.streams),
            len(self.streams),
        )


async def serve(
    urls: Sequence[str],
    model: Any | str | Path | None,
    emit: Callable[[Result], None],
    *,
    duration_s: float | None = None,
    workers: int = 1,
    **gateway_kwargs: Any,
) -> list[StreamSummary]:
    """Run a :class:`Gateway` over ``urls``, call ``emit(result)`` per result, return one summary per
    device (what ``anyppg stream`` prints), with each stream's lag counters.

    Args:
        urls: device URLs.
        model: as :class:`Gateway`.
        emit: called with every result, in the order they are made.
        duration_s: stop after this many seconds of wall clock (None: when every stream has ended).
        workers: processes to spread the devices over (one core each; see
            :mod:`anyppg.sdk.gateway_workers`); 1 runs the gateway in this event loop.
        **gateway_kwargs: passed to :class:`Gateway`.

    Raises:
        as :class:`Gateway`; RuntimeError: a worker process failed.
    """
    if workers > 1:
        from anyppg.sdk.gateway_workers import serve_in_workers

        return await serve_in_workers(
            urls, model, emit, workers=workers, duration_s=duration_s, **gateway_kwargs
        )
    start = time.perf_counter()
    gateway = Gateway(urls, model, **gateway_kwargs)
    summaries = [StreamSummary(s.url) for s in gateway.streams]

    async def pump() -> None:
        index = {id(s): summary for s, summary in zip(gateway.streams, summaries, strict=True)}
        async for stream, result in gateway.stream_results():
            index[id(stream)].add(result)
            emit(result)

    async with gateway:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pump(), timeout=duration_s)
    wall = time.perf_counter() - start
    for s, summary in zip(gateway.streams, summaries, strict=True):
        summary.finish(s.device, wall, pipeline=s.pipeline)
        summary.error = s.error
        summary.max_lag_s = None if math.isinf(s.speed) else s.max_lag_s
        summary.lagging_episodes = s.lagging_episodes
    return summaries
