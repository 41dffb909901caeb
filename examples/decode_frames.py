"""Decode anyppg wire-protocol frames from a file, stdin or a serial port.

Reads raw bytes (frames back to back, with whatever noise the link added), prints one line per data
frame and the deframer's counters at the end. Try it on the C reference firmware:

    make -C firmware_bridge/c OUT=/tmp && /tmp/example_firmware 20 247 | python examples/decode_frames.py -

or on a device on a serial port (pyserial), e.g. the serial emulator (it prints its pty):

    anyppg emulate --transport serial --autostart --duration 30
    python examples/decode_frames.py --serial /dev/pts/N --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Iterator

from anyppg.firmware_bridge.deframer import Deframer
from anyppg.firmware_bridge.protocol import DataFrame

log = logging.getLogger("decode_frames")


def read_chunks(args: argparse.Namespace) -> Iterator[bytes]:
    """Yield byte chunks from the chosen source until it ends (or --seconds pass on a serial port)."""
    if args.serial:
        import serial  # pyserial, installed with anyppg

        deadline = time.monotonic() + args.seconds
        with serial.serial_for_url(args.serial, baudrate=args.baud, timeout=0.05) as port:
            while time.monotonic() < deadline:
                yield port.read(4096)
        return
    stream = sys.stdin.buffer if args.source == "-" else open(args.source, "rb")  # noqa: SIM115
    with stream:
        while chunk := stream.read(4096):
            yield chunk


def describe(frame: DataFrame) -> dict:
    values = frame.values
    return {
        "seq": frame.seq,
        "t_first_s": frame.timestamp_us / 1e6,
        "rate_hz": frame.sample_rate_hz,
        "samples": frame.n_samples,
        "channels": {
            c.name: {"min": float(values[:, i].min()), "max": float(values[:, i].max())}
            for i, c in enumerate(frame.channels)
        },
    }


async def main(args: argparse.Namespace) -> int:
    deframer = Deframer(on_packet=lambda p: log.info("packet: %s", p))
    for chunk in read_chunks(args):
        for frame in deframer.feed(chunk):
            info = describe(frame)
            if args.json:
                sys.stdout.write(json.dumps(info) + "\n")
            else:
                ranges = ", ".join(f"{k} {v['min']:.0f}..{v['max']:.0f}" for k, v in info["channels"].items())
                log.info(
                    "frame %5d  t=%.3f s  %3d samples @ %g Hz  %s",
                    frame.seq,
                    info["t_first_s"],
                    frame.n_samples,
                    frame.sample_rate_hz,
                    ranges,
                )
    stats = deframer.stats.as_dict()
    if args.json:
        sys.stdout.write(json.dumps({"stats": stats}) + "\n")
    else:
        log.info("stats: %s", ", ".join(f"{k}={v}" for k, v in stats.items()))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default="-", help="file with raw frames, or - for stdin")
    parser.add_argument("--serial", metavar="PORT", help="read a serial port (or a pyserial URL) instead")
    parser.add_argument("--baud", type=int, default=921600, help="serial baud rate (default 921600)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to read a serial port")
    parser.add_argument("--json", action="store_true", help="one JSON object per frame, then the stats")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(asyncio.run(main(parser.parse_args())))
