"""A stream's results as a table in one call: :func:`collect` (``await`` it) and :func:`stream_sync`.

In a notebook (Jupyter, IPython) an event loop is already running, so ``asyncio.run`` raises "cannot
be called from a running event loop". Two ways that work there:

- ``results = await anyppg.collect(url, seconds=30)``: top-level ``await``, which Jupyter and IPython
  allow in a cell;
- ``results = anyppg.stream_sync(url, seconds=30)``: blocks until done, in a notebook or a script. With
  no running loop it runs the stream with ``asyncio.run``; inside a running loop it runs it on a worker
  thread with its own loop, so the caller's loop is never re-entered.

Both return :class:`~anyppg.sdk.tables.Results` (``.to_dataframe()``, ``.to_arrays()``). Interrupting
:func:`stream_sync` (Ctrl-C, Jupyter's stop button) stops the stream cleanly and returns what was
collected so far, with ``results.interrupted`` set.

Example::

    >>> import anyppg
    >>> results = anyppg.stream_sync("sim:?hr=75&duration=30", speed="max", model=None)  # doctest: +SKIP
    >>> results.to_dataframe()[["t_start", "heart_rate", "quality"]].head(2)  # doctest: +SKIP
       t_start  heart_rate  quality
    0      0.0       75.12    0.912
    1      2.0       75.30    0.915
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from anyppg.sdk.results import Result
from anyppg.sdk.tables import Results

__all__ = ["collect", "stream_sync"]


async def _fill(
    results: Results,
    url: str,
    *,
    seconds: float | None,
    model: Any,
    speed: str | float | None,
    hop_s: float,
    quality_threshold: float | None,
    on_result: Callable[[Result], None] | None,
    connect_options: dict[str, Any],
) -> None:
    import anyppg
    from anyppg.sdk.cmd_stream import with_speed

    device = anyppg.connect(with_speed(url, None if speed is None else str(speed)), **connect_options)
    first: float | None = None
    try:
        async with device:
            async for result in device.infer(model, hop_s=hop_s, quality_threshold=quality_threshold):
                first = result.t_start if first is None else first
                if seconds is not None and result.t_end - first > seconds + 1e-9:
                    break
                results.append(result)
                if on_result is not None:
                    on_result(result)
    finally:
        results.accounting = device.accounting.snapshot()


async def collect(
    url: str,
    *,
    seconds: float | None = None,
    model: Any | str | Path | None = "default",
    speed: str | float | None = None,
    hop_s: float = 2.0,
    quality_threshold: float | None = None,
    on_result: Callable[[Result], None] | None = None,
    **connect_options: Any,
) -> Results:
    """Stream ``url`` into ``model`` and return every result as a table (``await`` it).

    Args:
        url: a device URL (``ble:``, ``polar:``, ``serial:``, ``replay:``, ``sim:``; see
            :func:`anyppg.connect`).
        seconds: stop after this much signal (s of device time, from the first window's start); None
            streams until the device's stream ends (a file or a simulation ends; a live device does not).
        model: a loaded model, a ``.tflite`` / ``.pte`` path, ``"default"`` (the shipped int8 student)
            or None (signal only: heart rate and quality, no embedding).
        speed: for ``replay:`` / ``sim:`` without a ``speed=`` option: a real-time multiple or ``"max"``.
        hop_s: step between windows (s).
        quality_threshold: minimum window quality (0..1) for the model to run (default: the pipeline's).
        on_result: called with each result as it arrives (e.g. a live view).
        **connect_options: passed to :func:`anyppg.connect` (``backpressure=``, ``reconnect=``, ...).

    Returns:
        The results in arrival order, with the stream's final ``accounting``.

    Raises:
        UnknownSchemeError, DeviceURLError: the URL cannot be parsed.
        DeviceNotFoundError, DeviceError: the device cannot be reached.
        ModelLoadError, RuntimeUnavailableError: the model cannot be loaded.
    """
    results = Results()
    await _fill(
        results,
        url,
        seconds=seconds,
        model=model,
        speed=speed,
        hop_s=hop_s,
        quality_threshold=quality_threshold,
        on_result=on_result,
        connect_options=connect_options,
    )
    return results


def stream_sync(
    url: str,
    *,
    seconds: float | None = None,
    model: Any | str | Path | None = "default",
    speed: str | float | None = None,
    hop_s: float = 2.0,
    quality_threshold: float | None = None,
    on_result: Callable[[Result], None] | None = None,
    **connect_options: Any,
) -> Results:
    """:func:`collect`, blocking: usable from a script and from inside a running loop (a notebook).

    Arguments are those of :func:`collect`. With a running event loop in this thread, the stream runs
    on a worker thread with its own loop (``on_result`` is then called on that thread). An interrupt
    (``KeyboardInterrupt``) stops the stream and returns the results so far with ``interrupted=True``.

    Returns:
        The results in arrival order, with the stream's final ``accounting``.

    Raises:
        The same errors as :func:`collect`.
    """
    results = Results()

    async def run() -> Results:
        try:
            await _fill(
                results,
                url,
                seconds=seconds,
                model=model,
                speed=speed,
                hop_s=hop_s,
                quality_threshold=quality_threshold,
                on_result=on_result,
                connect_options=connect_options,
            )
        except asyncio.CancelledError:
            # This task is ours alone and only an interrupt cancels it: keep what was collected.
            results.interrupted = True
        return results

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())  # on Ctrl-C, asyncio.run cancels run(), which returns the results
    return _run_on_worker_thread(run)


def _run_on_worker_thread(make: Callable[[], Coroutine[Any, Any, Results]]) -> Results:
    """Run ``make()`` with ``asyncio.run`` on a new thread and wait; an interrupt cancels it there."""
    box: dict[str, Any] = {}
    started, done = threading.Event(), threading.Event()

    async def main() -> Results:
        box["loop"], box["task"] = asyncio.get_running_loop(), asyncio.current_task()
        started.set()
        return await make()

    def target() -> None:
        try:
            box["value"] = asyncio.run(main())
        except BaseException as exc:  # handed to the calling thread, which raises it
            box["error"] = exc
        finally:
            started.set()
            done.set()

    # Waits on an Event, not Thread.join: on Python 3.11 a join interrupted by KeyboardInterrupt marks
    # the still-running thread as stopped (bpo-45274), so a second join would not wait.
    threading.Thread(target=target, name="anyppg-stream-sync", daemon=True).start()
    try:
        done.wait()
    except KeyboardInterrupt:
        started.wait()
        loop, task = box.get("loop"), box.get("task")
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished and closed
                loop.call_soon_threadsafe(task.cancel)
        done.wait()
    if "error" in box:
        raise box["error"]
    return box["value"]
