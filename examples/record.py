"""Record a wearable's raw samples to NPZ, CSV or a WFDB directory, then replay them.

Appends are flushed to disk every second; Ctrl-C finalizes the file.

    python examples/record.py "sim:?hr=70&speed=10" walk.npz --seconds 60
    python examples/stream_heart_rate.py "replay:walk.npz?speed=max"
    anyppg stream replay:walk.npz --speed max
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import anyppg
from anyppg.sdk.recorder import Recorder

log = logging.getLogger("record")


async def main(args: argparse.Namespace) -> None:
    async with anyppg.connect(args.url) as device:
        with Recorder(args.out) as recorder:
            async for block in device.samples():
                recorder.write(block)
                if recorder.samples >= args.seconds * block.rate:
                    break
    log.info("wrote %d samples to %s; accounting %s", recorder.samples, args.out, device.accounting.to_dict())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="device URL")
    parser.add_argument("out", help="out.npz, out.csv or a directory (WFDB)")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of signal to record")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    asyncio.run(main(parser.parse_args()))
