"""The public client: :func:`connect` and :class:`Device`.

Example::

    import asyncio, anyppg

    async def main():
        async with anyppg.connect("sim:?hr=72") as device:
            async for r in device.infer("student-s_litert_q8.tflite"):
                print(f"{r.t_start:6.1f}-{r.t_end:6.1f} s  {r.heart_rate} bpm  q={r.quality:.2f}")

    asyncio.run(main())
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from anyppg.errors import DeviceDisconnectedError, DeviceError
from anyppg.sdk.accounting import Accounting, Timeline
from anyppg.sdk.errors import ConnectionFailedError, LinkLostError, NotConnectedError, StreamFormatError
from anyppg.sdk.polarity import Polarity
from anyppg.sdk.queues import Backpressure, BlockQueue
from anyppg.sdk.readings import READING_SCHEMES, Reading, ReadingTimeline
from anyppg.sdk.reconnect import ReconnectPolicy
from anyppg.sdk.results import Result
from anyppg.sdk.samples import SampleBlock
from anyppg.sdk.transports import Transport, transport_for
from anyppg.sdk.urls import DeviceURL, parse_url

__all__ = ["Device", "connect"]

log = logging.getLogger(__name__)

_DISCONNECTED = object()  # queue marker: the link dropped and came back
_END = object()  # queue marker: the stream ended
HANDOVER_S = 0.5
"""How long a new samples() / infer() waits for the previous one to finish closing. A loop left with
``break`` is closed by the event loop's async-generator finalizer a few loop iterations later, not at
the ``break``; a stream still open after this is a second, concurrent consumer and is refused."""
_NO_SAMPLES = "sends heart-rate/SpO2 readings, not PPG samples: use device.infer(None)"


class Device:
    """A connected wearable: raw sample blocks, or inference results, with exact accounting.

    Use :func:`connect` (an async context manager) rather than building one directly.

    Args:
        url: a device URL (see :mod:`anyppg.sdk.urls`) or a parsed :class:`DeviceURL`.
        backend: a transport to use instead of the one the scheme picks (injection for tests and
            custom links).
        reconnect: retry policy for the first connect and after a live link drops (default
            :class:`ReconnectPolicy()`; the URL option ``retries=N`` sets its ``connect_retries``).
        queue_blocks: capacity of the queue between the transport and the pipeline, in blocks.
        backpressure: policy when that queue is full (:data:`anyppg.sdk.queues.Backpressure`; default
            ``drop_oldest`` for live devices, ``block`` for files and simulations).
        **transport_kwargs: passed to the transport (e.g. ``adapter=`` for the bumble BLE backend).

    Raises:
        UnknownSchemeError, DeviceURLError: the URL cannot be parsed (or ``retries`` is not an integer).
    """

    def __init__(
        self,
        url: str | DeviceURL,
        *,
        backend: Transport | None = None,
        reconnect: ReconnectPolicy | None = None,
        queue_blocks: int = 256,
        backpressure: Backpressure | None = None,
        **transport_kwargs: Any,
    ) -> None:
        self.url = url if isinstance(url, DeviceURL) else parse_url(url)
        self.transport = backend if backend is not None else transport_for(self.url, **transport_kwargs)
        self.reconnect = reconnect if reconnect is not None else ReconnectPolicy()
        if "retries" in self.url.options:
            retries = max(0, self.url.option_int("retries", 0))
            self.reconnect = replace(self.reconnect, connect_retries=retries)
        self.backpressure: Backpressure = backpressure or ("drop_oldest" if self.transport.live else "block")
        self.queue_blocks = queue_blocks
        self.accounting = Accounting()
        self._idle = asyncio.Event()  # set while no samples() / infer() holds the transport
        self._idle.set()
        self._opened = False
        self._producer: asyncio.Task[None] | None = None
        #: the pipeline of the latest :meth:`infer` (None before): its ``motion_model_windows``
        #: says how many windows the motion model estimated.
        self.pipeline: Any | None = None

    @property
    def name(self) -> str:
        """The device identifier (its URL)."""
        return str(self.url)

    @property
    def is_connected(self) -> bool:
        return self.transport.is_connected

    async def connect(self) -> None:
        """Open the link, retrying link-level failures up to ``reconnect.connect_retries`` times.

        Only a :class:`~anyppg.sdk.errors.ConnectionFailedError` (the link itself failed: a BLE
        connection that did not come up, an HCI socket that closed) is retried, with the reconnect
        policy's back-off; a device that is not there, a missing Bluetooth stack, a wrong profile or a
        refused pairing fail at once.

        Raises:
            DeviceNotFoundError: nothing matched (names the device and what the scan saw).
            TransportUnavailableError: the transport's stack or package is missing (says how to fix it).
            ConnectionFailedError: the link failed on every attempt (names the last cause).
            DeviceError: the link could not be opened (subclasses name the reason).
        """
        attempts = 1 + self.reconnect.connect_retries
        for attempt in range(1, attempts + 1):
            try:
                await self.transport.connect()
                break
            except ConnectionFailedError as exc:
                if attempt == attempts:
                    if attempts == 1:
                        raise
                    raise ConnectionFailedError(exc.device, exc.stage, exc.reason, attempts) from exc
                delay = self.reconnect.delay(attempt)
                log.info(
                    "%s: connect attempt %d/%d failed (%s); retrying in %.2f s",
                    self.name,
                    attempt,
                    attempts,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
        self._opened = True

    async def disconnect(self) -> None:
        """Stop streaming and close the link (safe on a dead link)."""
        self._opened = False
        await self._stop_producer()
        with contextlib.suppress(DeviceError, OSError):
            await self.transport.disconnect()

    async def _stop_producer(self) -> None:
        # A consumer that leaves ``async for`` with ``break`` leaves the generator suspended (Python
        # closes it only when it is collected): stop reading from the transport now.
        producer, self._producer = self._producer, None
        if producer is not None and not producer.done() and producer is not asyncio.current_task():
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer

    async def __aenter__(self) -> Device:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    # --- streams ------------------------------------------------------------------------------------

    async def samples(self, *, fill: bool = False) -> AsyncIterator[SampleBlock]:
        """Yield the delivered sample blocks (after gap / duplicate / out-of-order handling).

        Args:
            fill: also yield the interpolated blocks that bridge short gaps (default: only real samples,
                which is what a recorder wants).

        Raises:
            StreamFormatError: the device sends readings (``hrs:``, ``plx:``), not samples.
            DeviceDisconnectedError: the link dropped and reconnecting gave up.
        """
        if self.url.scheme in READING_SCHEMES:  # fail now, not at the first notification
            raise StreamFormatError(self.name, _NO_SAMPLES)
        timeline = Timeline(self.accounting)
        lost: list[DeviceDisconnectedError] = []
        async for item in self._received_until_lost(lost):
            if item is _DISCONNECTED:
                timeline.mark_disconnect()
                continue
            if isinstance(item, Reading):  # an injected transport of a reading profile
                raise StreamFormatError(self.name, _NO_SAMPLES)
            for d in timeline.push(item):
                if fill or not d.fill:
                    yield d.block
        for d in timeline.flush():  # the end of the stream: what was held for reordering
            if fill or not d.fill:
                yield d.block
        if lost:
            raise lost[0]

    async def infer(
        self,
        model: Any | str | Path | None,
        *,
        hop_s: float = 2.0,
        quality_threshold: float | None = None,
        max_fill_s: float = 0.5,
        motion_model: Any | str | Path | None = "auto",
        polarity: Polarity = "normal",
    ) -> AsyncIterator[Result]:
        """Yield one :class:`Result` per window (10 s, every ``hop_s`` seconds).

        Devices without a waveform (``hrs:`` straps, ``plx:`` oximeters) yield one result per
        notification instead, with the device's own heart rate, RR intervals or SpO2; the model is not
        used for them (see :mod:`anyppg.sdk.readings`).

        Args:
            model: a loaded model (:func:`anyppg.sdk.runtime.load_model`), a path to a ``.tflite`` /
                ``.pte`` file, ``"default"`` for the shipped int8 student, or None for signal-only
                results (no embedding, heart rate from peaks and tracking).
            hop_s: step between windows, s.
            quality_threshold: minimum window quality (0..1) for the model to run.
            max_fill_s: gaps up to this long (s) are bridged by interpolation.
            motion_model: the learned PPG + accelerometer heart-rate model joined to the fusion:
                ``"auto"`` (default: the shipped int8 ``motion-hr`` model for the runtime in use),
                None or ``"none"``, a ``.tflite`` / ``.pte`` path, or a loaded
                :class:`~anyppg.sdk.motion_runtime.MotionModel`
                (:func:`~anyppg.sdk.motion_runtime.resolve_motion_model`). It runs only while the
                stream carries an accelerometer; its value is ``Result.heart_rate_motion_model``.
            polarity: ``"normal"`` (default) or ``"inverted"`` for a sensor whose counts fall as
                blood volume rises: its PPG is negated as it enters the pipeline
                (:mod:`anyppg.sdk.polarity`; the recorder keeps what the device sent).

        Raises:
            ModelLoadError, ModelInputError: the model or the motion model cannot be used (the
                message names the file).
            DeviceDisconnectedError: the link dropped and reconnecting gave up.
        """
        from anyppg.sdk.motion_runtime import resolve_motion_model
        from anyppg.sdk.pipeline import DEFAULT_QUALITY_THRESHOLD, Pipeline

        loaded = _resolve_model(model)
        waveform = self.url.scheme not in READING_SCHEMES
        pipeline = Pipeline(
            self.name,
            loaded,
            hop_s=hop_s,
            quality_threshold=DEFAULT_QUALITY_THRESHOLD if quality_threshold is None else quality_threshold,
            max_fill_s=max_fill_s,
            accounting=self.accounting,
            motion_model=resolve_motion_model(motion_model, loaded) if waveform else None,
            polarity=polarity,
        )
        self.pipeline = pipeline
        readings = ReadingTimeline(self.name, self.accounting)  # hrs:, plx: (no waveform, no model)
        lost: list[DeviceDisconnectedError] = []
        async for item in self._received_until_lost(lost):
            if item is _DISCONNECTED:
                pipeline.mark_disconnect()
                readings.mark_disconnect()
                continue
            if isinstance(item, Reading):
                reading_result = readings.push(item)
                if reading_result is not None:
                    yield reading_result
                continue
            for result in pipeline.push(item):
                yield result
        for result in pipeline.flush():  # the end of the stream: what was held for reordering
            yield result
        if lost:
            raise lost[0]

    async def run(
        self,
        model: Any | str | Path | None,
        on_result: Callable[[Result], Awaitable[None] | None],
        **options: Any,
    ) -> Accounting:
        """The callback form of :meth:`infer`: call ``on_result`` for each result until the stream ends.

        ``on_result`` may be a plain function or a coroutine function.

        Returns:
            The final accounting.

        Raises:
            The same as :meth:`infer`.
        """
        async for result in self.infer(model, **options):
            ret = on_result(result)
            if asyncio.iscoroutine(ret):
                await ret
        return self.accounting

    # --- internals ----------------------------------------------------------------------------------

    async def _received(self) -> AsyncIterator[Any]:
        """Blocks from the transport through the bounded queue, with reconnect markers."""
        if not (self._opened or self.transport.is_connected):
            raise NotConnectedError(self.name, "samples() / infer() / run()")
        if not self._idle.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), HANDOVER_S)
        if not self._idle.is_set():
            raise RuntimeError(f"{self.name} is already streaming; one samples()/infer() at a time")
        self._idle.clear()
        queue = BlockQueue(self.queue_blocks, self.backpressure)
        producer = asyncio.create_task(self._produce(queue), name=f"anyppg-producer {self.name}")
        self._producer = producer
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                if item is not _DISCONNECTED:
                    self.accounting.corrupt_frames = self.transport.corrupt_frames
                yield item
        finally:
            try:
                if not producer.done():
                    producer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await producer
            finally:
                self.accounting.corrupt_frames = self.transport.corrupt_frames
                self._idle.set()

    async def _received_until_lost(self, lost: list[DeviceDisconnectedError]) -> AsyncIterator[Any]:
        """:meth:`_received`, ending quietly when the link is given up on (the error goes to ``lost``).

        The caller then hands on what its timeline still holds before raising it, so samples that
        arrived before the link was lost are not lost with it.
        """
        try:
            async for item in self._received():
                yield item
        except DeviceDisconnectedError as exc:
            lost.append(exc)

    async def _put(self, queue: BlockQueue, item: Any) -> None:
        for old in await queue.put(item):  # blocks dropped under the drop_oldest policy
            self.accounting.received += len(old)
            self.accounting.dropped["backpressure"] += len(old)

    async def _produce(self, queue: BlockQueue) -> None:
        try:
            while True:
                try:
                    async for block in self.transport.stream():
                        await self._put(queue, block)
                    break
                except LinkLostError as exc:
                    await self._reconnect(exc)
                    await self._put(queue, _DISCONNECTED)
            await self._put(queue, _END)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # hand the error to the consumer, which raises it
            await self._put(queue, exc)

    def _link_errors(self) -> tuple[type[BaseException], ...]:
        """What a failed reconnect attempt may raise: ``DeviceError``, OS / EOF / timeout errors and
        the transport's own link-level types (``BleakError`` and bumble's errors for BLE)."""
        return (DeviceError, OSError, EOFError, TimeoutError, *getattr(self.transport, "link_errors", ()))

    async def _reconnect(self, lost: LinkLostError) -> None:
        log.warning("%s: %s; reconnecting", self.name, lost.reason)
        errors = self._link_errors()
        with contextlib.suppress(*errors):  # a dead link: bleak raises on stop_notify
            await self.transport.disconnect()
        policy = self.reconnect
        if not self.transport.reconnectable or policy.max_attempts <= 0:
            raise DeviceDisconnectedError(self.name, 0, lost.reason) from lost
        last: BaseException = lost
        for attempt in range(1, policy.max_attempts + 1):
            await asyncio.sleep(policy.delay(attempt))
            try:
                await self.transport.connect()
            except errors as exc:
                last = exc
                log.info(
                    "%s: reconnect attempt %d/%d failed: %s", self.name, attempt, policy.max_attempts, exc
                )
                continue
            self.accounting.reconnects += 1
            log.warning("%s: reconnected after %d attempt(s)", self.name, attempt)
            return
        raise DeviceDisconnectedError(self.name, policy.max_attempts, str(last)) from last


def _resolve_model(model: Any | str | Path | None) -> Any | None:
    if model is None or hasattr(model, "run"):
        return model
    from anyppg.sdk.runtime import load_model

    if str(model) == "default":
        from anyppg.sdk.shipped import default_model_path

        model = default_model_path()
    return load_model(model)


def connect(url: str | DeviceURL, **kwargs: Any) -> Device:
    """A :class:`Device` for ``url``, to use as ``async with anyppg.connect(url) as device:``.

    Args:
        url: ``ble:``, ``polar:``, ``serial:``, ``replay:`` or ``sim:`` URL (see :mod:`anyppg.sdk.urls`).
        **kwargs: see :class:`Device` (``backend=``, ``reconnect=``, ``backpressure=``, transport options).

    Raises:
        UnknownSchemeError: the scheme is not known (the message lists the known ones).
        DeviceURLError: the URL is malformed.
    """
    return Device(url, **kwargs)
