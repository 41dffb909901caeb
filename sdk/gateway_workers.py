"""A gateway across cores: the device URLs split over worker processes, each running a :class:`Gateway`.

One gateway process uses one core (about 1.3 ms of CPU per 64 Hz stream-second with the shipped model:
some 750 wearables per core, ``docs/gateway.md``). :func:`serve_in_workers` runs ``workers`` of them
(``spawn``-started processes, each loading the model itself) over interleaved shares of the URLs
and hands every result to the caller's ``emit`` in the parent process, as they arrive; it returns the
summaries in the order of ``urls``. ``anyppg stream --workers N`` uses it.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue as queue_module
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from anyppg.sdk.results import Result
from anyppg.sdk.summary import StreamSummary

__all__ = ["serve_in_workers"]

_POLL_S = 0.1  # how often the parent checks that its workers are still alive while none reports


def _model_spec(model: Any) -> str | None:
    """What a worker loads: None, ``"default"``, or a model file path (a loaded model's own path)."""
    if model is None or isinstance(model, str | Path):
        return None if model is None else str(model)
    return str(model.path)


def _worker(
    urls: list[str], model: str | None, out: Any, duration_s: float | None, kwargs: dict[str, Any]
) -> None:
    """Body of one worker process: a gateway over ``urls``; results and then summaries go to ``out``."""
    from anyppg.sdk.gateway import serve

    try:
        summaries = asyncio.run(
            serve(urls, model, lambda r: out.put(("result", r)), duration_s=duration_s, **kwargs)
        )
    except BaseException as exc:  # the parent reports it; a worker never dies silently
        out.put(("error", f"{type(exc).__name__}: {exc}"))
        return
    out.put(("done", summaries))


async def serve_in_workers(
    urls: Sequence[str],
    model: Any | str | Path | None,
    emit: Callable[[Result], None],
    *,
    workers: int,
    duration_s: float | None = None,
    **gateway_kwargs: Any,
) -> list[StreamSummary]:
    """:func:`anyppg.sdk.gateway.serve` over ``workers`` processes.

    Args:
        urls: device URLs; URL ``i`` goes to worker ``i % workers``.
        model: None, ``"default"``, a model path, or a loaded model (its file is loaded by each worker).
        emit: called in this process with every result.
        workers: how many processes (at most one per URL).
        duration_s: stop after this many seconds of wall clock (None: when every stream has ended).
        **gateway_kwargs: passed to each :class:`~anyppg.sdk.gateway.Gateway` (picklable values).

    Returns:
        One summary per URL, in the order of ``urls``.

    Raises:
        ValueError: ``workers`` < 1.
        RuntimeError: a worker failed (its error, one line) or died.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    workers = min(workers, len(urls))
    shares = [list(urls[i::workers]) for i in range(workers)]
    ctx = mp.get_context("spawn")  # no inherited event loop, threads or open links
    out = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker,
            args=(share, _model_spec(model), out, duration_s, gateway_kwargs),
            name=f"anyppg-gateway-{i}",
            daemon=True,
        )
        for i, share in enumerate(shares)
    ]
    for p in procs:
        p.start()
    loop = asyncio.get_running_loop()
    finished: list[list[StreamSummary]] = []
    try:
        while len(finished) < workers:
            try:
                kind, payload = await loop.run_in_executor(None, out.get, True, _POLL_S)
            except queue_module.Empty:
                if any(not p.is_alive() and p.exitcode not in (0, None) for p in procs):
                    raise RuntimeError("a gateway worker process died") from None
                continue
            if kind == "result":
                emit(payload)
            elif kind == "done":
                finished.append(payload)
            else:
                raise RuntimeError(f"a gateway worker failed: {payload}")
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(timeout=5)
    by_url: dict[str, list[StreamSummary]] = {}
    for summaries in finished:
        for s in summaries:
            by_url.setdefault(s.device, []).append(s)
    return [by_url[u].pop(0) for u in urls]
