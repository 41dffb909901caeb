"""Emulated BLE wearable: serve a virtual controller over TCP and advertise an anyppg device on it.

Run it, then in another terminal run ``examples/ble_client.py`` (or ``anyppg stream``) with the
transport it logs::

    python examples/emulate_ble_server.py --port 9001 --source sim:hr=75
    python examples/ble_client.py --transport tcp-client:127.0.0.1:9001

With ``--hci usb:0`` the device runs on a real USB Bluetooth dongle instead, and a phone can see it.
This is what ``anyppg emulate --transport ble`` does; here it is with the library API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from bumble.link import LocalLink

from anyppg.firmware_bridge.emulator.ble import BleEmulator
from anyppg.firmware_bridge.emulator.faults import FaultSpec
from anyppg.firmware_bridge.emulator.hci import HciServer
from anyppg.firmware_bridge.emulator.sources import parse_source, parse_speed

log = logging.getLogger("emulate_ble_server")


async def main(args: argparse.Namespace) -> None:
    source = parse_source(args.source)
    emulator = BleEmulator(
        source, profile=args.profile, speed=parse_speed(args.speed), faults=FaultSpec.parse(args.faults)
    )
    server = None
    if args.hci:
        await emulator.start(transport=args.hci)
        log.info("%s is on %s", emulator.name, args.hci)
    else:
        link = LocalLink()
        server = HciServer(link)
        port = await server.start(args.port)
        await emulator.start(link=link)
        log.info("%s advertising; central transport: %s", emulator.name, server.transport_spec(port))
    loop = asyncio.get_running_loop()
    stop_at = None if args.duration is None else loop.time() + args.duration
    try:
        while stop_at is None or loop.time() < stop_at:
            await asyncio.sleep(5 if stop_at is None else max(0.0, min(5.0, stop_at - loop.time())))
            stats = emulator.stats
            log.info(
                "sent %d frames (%d samples), dropped %d",
                stats.frames_sent,
                stats.samples_sent,
                stats.frames_dropped,
            )
    finally:
        await emulator.stop()
        if server is not None:
            await server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port",
        type=int,
        default=9001,
        help="TCP port of the central's virtual controller (0: any free port)",
    )
    parser.add_argument("--hci", default=None, help="run on this bumble transport instead (e.g. usb:0)")
    parser.add_argument("--profile", choices=("anyppg", "polar", "hrs"), default="anyppg")
    parser.add_argument("--source", default="sim", help="sim[:hr=..,seed=..] or recording:NAME")
    parser.add_argument("--speed", default="1", help="real-time multiple or 'max'")
    parser.add_argument("--faults", default="", help="drop=P,corrupt=P,disconnect_every=S,seed=N")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))
