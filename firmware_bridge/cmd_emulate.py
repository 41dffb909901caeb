"""``anyppg emulate``: run an emulated wearable over BLE (bumble) or serial (a pty) until interrupted.

BLE: the emulator owns a virtual radio link and serves a controller on it as HCI over loopback TCP; a
central in another process attaches with the bumble transport it prints, e.g.::

    anyppg emulate --transport ble --profile anyppg --source sim --hci-port 9001
    anyppg stream "ble:AnyPPG-EMU?backend=bumble&transport=tcp-client:127.0.0.1:9001"

With ``--hci usb:0`` the emulator drives a real USB Bluetooth dongle instead and is a real BLE
peripheral that phones can see. Serial: it prints the pty path to open (``serial:/dev/pts/N``).

``--json`` prints JSON lines: ``{"event": "ready", ...}`` first, ``{"event": "stats", ...}`` every
``--stats-every`` seconds and ``{"event": "stopped", ...}`` with the final counts.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

PROFILES = ("anyppg", "polar", "hrs", "plx")
_SCHEMES = {"anyppg": "ble", "polar": "polar", "hrs": "hrs", "plx": "plx"}  # the SDK URL scheme of each


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--transport", choices=("ble", "serial"), default="ble", help="link to emulate (default ble)"
    )
    parser.add_argument(
        "--profile", choices=PROFILES, default="anyppg", help="GATT profile (BLE only; default anyppg)"
    )
    parser.add_argument(
        "--source",
        default="sim",
        help="what to stream: sim, sim:hr=80,motion=0.5,seed=1 or recording:NAME (default sim)",
    )
    parser.add_argument("--speed", default="1", help="real-time multiple, or 'max' (default 1)")
    parser.add_argument(
        "--faults", default="", help="e.g. drop=0.01,corrupt=0.001,disconnect_every=30,seed=1 (default none)"
    )
    parser.add_argument("--name", default=None, help="advertised BLE name (default per profile)")
    parser.add_argument(
        "--require-pairing",
        action="store_true",
        help="BLE: serve the profile's characteristics over an encrypted (paired) link only",
    )
    parser.add_argument(
        "--spoof",
        action="store_true",
        help="BLE: advertise like --profile but serve none of its services (to test that centrals refuse it)",
    )
    parser.add_argument(
        "--hci-port",
        type=_tcp_port,
        default=9001,
        help="TCP port of the virtual controller for the central (default 9001; 0 = any)",
    )
    parser.add_argument(
        "--hci",
        default=None,
        metavar="TRANSPORT",
        help="attach the emulated device to this bumble HCI transport instead (usb:0, tcp-client:HOST:PORT)",
    )
    parser.add_argument(
        "--max-samples", type=_positive(int), default=None, help="cap on samples per frame (latency)"
    )
    parser.add_argument("--autostart", action="store_true", help="serial: stream from power-on without START")
    parser.add_argument(
        "--duration", type=_positive(float), default=None, help="stop after this many seconds"
    )
    parser.add_argument(
        "--stats-every", type=float, default=5.0, help="seconds between stats lines (0: never)"
    )


def _tcp_port(text: str) -> int:
    """An ``--hci-port`` value: a TCP port number, 0-65535 (0: the OS picks a free one)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port; expected 0-65535 (0 = any free port)")
    return port


def _positive(kind: type[int] | type[float]) -> Any:
    """An argparse type: a number of ``kind`` that is > 0 (and finite)."""

    def convert(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = -1
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(
                f"{text!r} must be a positive {'integer' if kind is int else 'number'}"
            )
        return value

    return convert


def _emit(args: argparse.Namespace, event: str, text: str, **fields: Any) -> None:
    if args.json:
        print(json.dumps({"event": event, **fields}), flush=True)
    else:
        print(text, flush=True)


async def _run(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import signal

    from anyppg.firmware_bridge.emulator.faults import FaultSpec
    from anyppg.firmware_bridge.emulator.sources import parse_source, parse_speed

    source = parse_source(args.source)
    speed = parse_speed(args.speed)
    faults = FaultSpec.parse(args.faults)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    base = {"source": source.name, "rate_hz": source.rate_hz, "channels": [c.name for c in source.channels]}

    async with contextlib.AsyncExitStack() as stack:
        if args.transport == "serial":
            from anyppg.firmware_bridge.emulator.serial import SerialEmulator

            emulator: Any = SerialEmulator(
                source,
                speed=speed,
                faults=faults,
                max_samples=args.max_samples or 25,
                autostart=args.autostart,
            )
            await emulator.start()
            stack.push_async_callback(emulator.stop)
            _emit(
                args,
                "ready",
                f"emulated serial wearable on {emulator.port} ({source.name}, {source.rate_hz:g} Hz); "
                f'connect with: anyppg stream "serial:{emulator.port}"',
                transport="serial",
                port=emulator.port,
                url=f"serial:{emulator.port}",
                **base,
            )
        else:
            from anyppg.firmware_bridge.emulator.ble import BleEmulator
            from anyppg.firmware_bridge.emulator.hci import HciServer
            from anyppg.firmware_bridge.emulator.radio import VirtualRadio

            emulator = BleEmulator(
                source,
                profile=args.profile,
                name=args.name,
                speed=speed,
                faults=faults,
                max_samples=args.max_samples,
                require_encryption=args.require_pairing,
                spoof=args.spoof,
            )
            stack.push_async_callback(emulator.stop)
            central = None
            if args.hci:
                await emulator.start(transport=args.hci)
            else:
                link = VirtualRadio()
                server = HciServer(link)
                port = await server.start(args.hci_port)
                stack.push_async_callback(server.close)
                central = server.transport_spec(port)
                await emulator.start(link=link)
            scheme = _SCHEMES[args.profile]
            url = f"{scheme}:{emulator.name}?backend=bumble" + (f"&transport={central}" if central else "")
            url += "&pair=1" if args.require_pairing else ""
            hint = f"; central transport: {central}" if central else f" on {args.hci}"
            _emit(
                args,
                "ready",
                f"emulated {args.profile} wearable {emulator.name!r} advertising{hint}\n"
                f'connect with: anyppg stream "{url}"',
                transport="ble",
                profile=args.profile,
                name=emulator.name,
                address=emulator.address.to_string(with_type_qualifier=False),
                central_transport=central,
                url=url,
                **base,
            )

        async def report() -> None:
            while args.stats_every > 0:
                await asyncio.sleep(args.stats_every)
                stats = emulator.stats
                _emit(
                    args,
                    "stats",
                    f"sent {stats.frames_sent} frames / {stats.samples_sent} samples, dropped {stats.frames_dropped}, "
                    f"corrupted {stats.frames_corrupted}, disconnects {stats.disconnects}",
                    **emulator.stats.as_dict(),
                )

        reporter = loop.create_task(report())
        with contextlib.suppress(TimeoutError):  # --duration elapsed
            await asyncio.wait_for(stop.wait(), args.duration)
        reporter.cancel()
    stats = emulator.stats
    _emit(
        args,
        "stopped",
        f"stopped: {stats.frames_sent} frames, {stats.samples_sent} samples sent; {stats.samples_intact} intact",
        **stats.as_dict(),
    )
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the emulator until Ctrl-C, SIGTERM or ``--duration``."""
    import asyncio

    try:
        return asyncio.run(_run(args))
    except OSError as exc:  # a taken TCP port, a missing dongle
        print(f"anyppg emulate: error: {exc}", file=sys.stderr)
        return 1
