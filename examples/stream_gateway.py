"""A gateway: several wearables in one process, one callback for all results.

Each device runs in its own task; one failing device does not stop the others' results.

    python examples/stream_gateway.py "sim:?hr=60&speed=5" "sim:?hr=90&motion=0.4&speed=5"
    python examples/stream_gateway.py "replay:walk.npz?speed=max" "sim:?duration=60&speed=max" --model default
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import anyppg
from anyppg.sdk import Result

log = logging.getLogger("stream_gateway")


def on_result(result: Result) -> None:
    log.info(
        "%s  %6.1f s  HR %s  quality %.2f", result.device, result.t_end, result.heart_rate, result.quality
    )


async def one(url: str, model: str | None) -> None:
    async with anyppg.connect(url) as device:
        accounting = await device.run(model, on_result)  # the callback form of device.infer()
        log.info("%s done: %s", url, accounting.to_dict())


async def main(args: argparse.Namespace) -> None:
    model = None if args.model == "none" else args.model
    await asyncio.gather(*(one(url, model) for url in args.urls))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="+", help="device URLs")
    parser.add_argument("--model", default="none", help="model file, 'default' or 'none'")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    asyncio.run(main(parser.parse_args()))
