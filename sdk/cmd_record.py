"""``anyppg record URL OUT``: record a device's raw samples to ``.npz``, ``.csv`` or a WFDB directory.

Appends are chunked and fsync-ed (see :mod:`anyppg.sdk.recorder`); Ctrl-C finalizes the file, so
nothing recorded is lost. The recording replays with ``anyppg stream replay:OUT``. The last line (or
the ``--json`` object) reports the accounting: samples written equal samples delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", metavar="URL", help="device URL: ble:, polar:, serial:, replay:, sim:")
    parser.add_argument("out", metavar="OUT", help="out.npz, out.csv or a directory (WFDB record)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds of signal")
    parser.add_argument("--speed", default=None, help="replay:/sim: speed, a real-time multiple or 'max'")
    parser.add_argument("--flush-every", type=float, default=1.0, help="seconds of signal per durable append")


async def record(args: argparse.Namespace) -> dict[str, Any]:
    """Record until the stream ends, ``--duration`` is reached or the task is cancelled (Ctrl-C)."""
    import anyppg
    from anyppg.sdk.cmd_stream import with_speed
    from anyppg.sdk.recorder import Recorder

    device = anyppg.connect(with_speed(args.url, args.speed))
    recorder = Recorder(args.out, flush_every_s=args.flush_every)
    start = time.perf_counter()
    first_t: float | None = None
    interrupted = False
    try:
        async with device:
            async for block in device.samples():
                first_t = block.t0 if first_t is None else first_t
                recorder.write(block)
                if args.duration is not None and block.t_end - first_t >= args.duration:
                    break
    except asyncio.CancelledError:
        interrupted = True
    finally:
        path = recorder.close()
    acc = device.accounting.to_dict()
    return {
        "out": str(path),
        "format": recorder.format,
        "samples": recorder.samples,
        "rate_hz": recorder.rate,
        "has_acc": recorder.has_acc,
        "interrupted": interrupted,
        "wall_s": round(time.perf_counter() - start, 3),
        **{k: acc[k] for k in ("received", "delivered", "dropped", "gaps", "corrupt_frames", "reconnects")},
    }


def run(args: argparse.Namespace) -> int:
    summary = asyncio.run(record(args))
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
