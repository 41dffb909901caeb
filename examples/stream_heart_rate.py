"""Stream heart rate, signal quality and the model's outputs from one wearable.

Works with any device URL: a BLE wearable (``ble:AnyPPG-1234``), a Polar Verity Sense
(``polar:Polar Sense B5``), a serial board (``serial:/dev/ttyACM0``), a recording
(``replay:walk.npz``) or the built-in simulator (``sim:?hr=80&motion=0.5``).

    python examples/stream_heart_rate.py "sim:?hr=80&motion=0.5&speed=10"
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import anyppg

log = logging.getLogger("stream_heart_rate")


async def main(args: argparse.Namespace) -> None:
    async with anyppg.connect(args.url) as device:
        async for r in device.infer(None if args.model == "none" else args.model):
            hr = "--" if r.heart_rate is None else f"{r.heart_rate:.1f}"
            log.info(
                "%6.1f-%6.1f s  HR %s bpm  quality %.2f  latency %.1f ms  received %d, dropped %d, gaps %d",
                r.t_start,
                r.t_end,
                hr,
                r.quality,
                r.latency_ms,
                r.accounting.received,
                r.accounting.dropped_total,
                len(r.accounting.gaps),
            )
        log.info("final accounting: %s", device.accounting.to_dict())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="device URL")
    parser.add_argument(
        "--model", default="default", help="model file, 'default' (shipped student) or 'none'"
    )
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    asyncio.run(main(parser.parse_args()))
