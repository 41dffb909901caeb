"""``anyppg scan``: list the Bluetooth LE wearables in range and the profiles each offers.

Prints a table (name, address, RSSI, profiles, the URL to stream it with), strongest signal first;
with ``--json`` one JSON object ``{"devices": [...], "count": N, "timeout_s": S, ...}`` whose devices
carry ``name``, ``address``, ``rssi``, ``profiles``, ``service_uuids``, ``url`` and ``urls``.

Examples::

    anyppg scan                                   # the OS Bluetooth stack, 5 s
    anyppg scan --prefix polar --service hrs      # names starting with "polar" advertising Heart Rate
    anyppg scan --hci tcp-client:127.0.0.1:9001 --json   # an emulator started with --hci-port
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anyppg.sdk.discovery import DiscoveredDevice

__all__ = ["add_arguments", "format_table", "run"]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number of seconds")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=5.0,
        help="seconds to scan (default 5; less with --limit)",
    )
    parser.add_argument("--prefix", default=None, help="only names starting with this (case-insensitive)")
    parser.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NAME_OR_UUID",
        help="only devices advertising this profile (anyppg, polar, plx, hrs) or service UUID "
        "(180d, 128-bit); repeat or separate with commas for any of several",
    )
    parser.add_argument(
        "--limit", type=_positive_int, default=None, help="stop once this many devices matched"
    )
    parser.add_argument(
        "--hci",
        "--transport",
        dest="transport",
        default=None,
        metavar="SPEC",
        help="scan through a bumble HCI transport instead of the OS stack (usb:0, tcp-client:HOST:PORT); "
        "the same word as `anyppg emulate --hci` (--transport is the older spelling)",
    )


def format_table(devices: Sequence[DiscoveredDevice]) -> str:
    """The devices as an aligned text table (one header line, one line per device)."""
    header = ("NAME", "ADDRESS", "RSSI", "PROFILES", "URL")
    rows = [
        (
            d.name or "-",
            d.address,
            "-" if d.rssi is None else f"{d.rssi}",
            ",".join(d.profiles) or "-",
            d.url or "-",
        )
        for d in devices
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    lines = []
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join((*cells, row[-1])).rstrip())
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Scan, print the table or the JSON object; 0 even when nothing was found.

    Raises:
        ServiceFilterError: a ``--service`` is neither a profile name nor a UUID.
        TransportUnavailableError: no Bluetooth stack or adapter (names the fix).
    """
    from anyppg.sdk.discovery import discover

    services = [item for value in args.service for item in value.split(",") if item.strip()]
    devices = asyncio.run(
        discover(
            args.timeout,
            prefix=args.prefix,
            services=services,
            limit=args.limit,
            transport=args.transport,
        )
    )
    if args.json:
        report = {
            "devices": [d.to_dict() for d in devices],
            "count": len(devices),
            "timeout_s": args.timeout,
            "prefix": args.prefix,
            "services": services,
            "transport": args.transport,
        }
        print(json.dumps(report), flush=True)
        return 0
    if devices:
        print(format_table(devices), flush=True)
    else:
        what = " matching the filters" if args.prefix or services else ""
        print(f"no devices{what} seen in {args.timeout:g} s", file=sys.stderr, flush=True)
    return 0
