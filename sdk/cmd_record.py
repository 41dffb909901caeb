"""``anyppg record URL OUT``: record a device's raw samples to ``.npz``, ``.csv`` or a WFDB directory.

Appends are chunked and fsync-ed (see :mod:`anyppg.sdk.recorder`); Ctrl-C or SIGTERM finalizes the
file, so nothing recorded is lost. While it runs, a progress line on stderr (once a second; none with
``--json`` or ``--quiet``) gives the samples and seconds of signal recorded. The recording replays
with ``anyppg stream replay:OUT``. The last line (or the ``--json`` object) reports the accounting:
samples written equal samples delivered.

``anyppg record --recover OUT`` finalises a recording whose process was killed (``kill -9``, power
loss): the journal ``OUT.journal`` becomes ``OUT``; a CSV loses its torn last line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url", metavar="URL", nargs="?", help="device URL: ble:, polar:, serial:, replay:, sim:"
    )
    parser.add_argument("out", metavar="OUT", nargs="?", help="out.npz, out.csv or a directory (WFDB record)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds of signal")
    parser.add_argument("--speed", default=None, help="replay:/sim: speed, a real-time multiple or 'max'")
    parser.add_argument("--flush-every", type=float, default=1.0, help="seconds of signal per durable append")
    parser.add_argument(
        "--plot", metavar="PNG", default=None, help="then write a figure of the PPG, heart rate and quality"
    )
    parser.add_argument(
        "--recover",
        metavar="OUT",
        default=None,
        help="finalise the recording OUT left unfinished by a killed process, then exit",
    )


async def record(args: argparse.Namespace) -> dict[str, Any]:
    """Record until the stream ends, ``--duration`` is reached or the task is cancelled (Ctrl-C, SIGTERM).

    Raises:
        DeviceURLError / UnknownSchemeError: the URL is malformed.
        DataFormatError: OUT exists, or has an unknown suffix; StaleJournalError: a killed
            recording's journal is in the way.
        RecordingWriteError: OUT cannot be created or written (the samples already flushed are kept).
    """
    import anyppg
    from anyppg.progress import Progress, progress_enabled
    from anyppg.sdk.cmd_stream import with_speed
    from anyppg.sdk.recorder import Recorder

    device = anyppg.connect(with_speed(args.url, args.speed))
    recorder = Recorder(args.out, flush_every_s=args.flush_every)
    progress = Progress("recording", unit="samples", enabled=progress_enabled(args), every_s=1.0)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    terminated = False

    def on_sigterm() -> None:
        nonlocal terminated
        terminated = True
        if task is not None:
            task.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    start = time.perf_counter()
    first_t: float | None = None
    interrupted = False
    try:
        with progress:  # on an error, the line is ended without a final state, so the error stands alone
            async with device:
                async for block in device.samples():
                    first_t = block.t0 if first_t is None else first_t
                    recorder.write(block)
                    progress.update(recorder.samples, f"{block.t_end - first_t:.1f} s of signal")
                    if args.duration is not None and block.t_end - first_t >= args.duration:
                        break
    except asyncio.CancelledError:
        interrupted = True
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGTERM)
        path = recorder.close()
    acc = device.accounting.to_dict()
    return {
        "out": str(path),
        "format": recorder.format,
        "samples": recorder.samples,
        "rate_hz": recorder.rate,
        "has_acc": recorder.has_acc,
        "interrupted": interrupted,
        "signal": "SIGTERM" if terminated else ("SIGINT" if interrupted else None),
        "wall_s": round(time.perf_counter() - start, 3),
        **{k: acc[k] for k in ("received", "delivered", "dropped", "gaps", "corrupt_frames", "reconnects")},
    }


def _recover(args: argparse.Namespace) -> int:
    from anyppg.sdk.recorder import recover

    data = recover(args.recover)
    summary = {
        "out": args.recover,
        "recovered": True,
        "samples": int(data.ppg.shape[0]),
        "rate_hz": data.rate,
        "has_acc": data.acc is not None,
        "torn_rows": data.torn_rows,
        "seconds": round(float(data.t[-1] - data.t[0]), 3),
    }
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        torn = f"; left out {data.torn_rows} torn row" if data.torn_rows else ""
        print(
            f"recovered {summary['samples']} samples ({summary['seconds']:g} s) into {args.recover}{torn}",
            file=sys.stderr,
        )
    return 0


def _usage_error(args: argparse.Namespace, message: str) -> int:
    """A malformed command line: one line (one JSON object under ``--json``), exit code 2."""
    if args.json:
        print(json.dumps({"error": f"anyppg record: {message}", "type": "UsageError"}), flush=True)
    else:
        print(f"anyppg record: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    if args.recover is not None:
        if args.url is not None:
            return _usage_error(args, "--recover OUT takes no URL or OUT argument")
        return _recover(args)
    if args.url is None or args.out is None:
        return _usage_error(args, "expected URL and OUT (or --recover OUT)")
    if args.plot:  # a missing matplotlib fails now, not after the recording
        from anyppg.plotting import pyplot

        pyplot()
    summary = asyncio.run(record(args))
    if args.plot:
        from anyppg.sdk.demo_plot import plot_recording

        summary["plot"] = str(plot_recording(summary["out"], args.plot))
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(
            f"recorded {summary['samples']} samples to {summary['out']} ({summary['format']}); "
            f"received {summary['received']} = delivered {summary['delivered']} + dropped {summary['dropped']}; "
            f"{len(summary['gaps'])} gaps" + (" (interrupted)" if summary["interrupted"] else ""),
            file=sys.stderr,
        )
    return 0
