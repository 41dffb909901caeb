"""BLE client: find an anyppg wearable, raise the MTU, start the stream and decode frames with bleak.

Against the emulator of ``examples/emulate_ble_server.py`` (or ``anyppg emulate``), through bleak's
public API on the bumble backend::

    python examples/ble_client.py --transport tcp-client:127.0.0.1:9001

Against a real device on a desktop with Bluetooth, drop ``--transport`` to use bleak's own backend.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from bleak import BleakClient, BleakScanner

from anyppg.firmware_bridge.deframer import Deframer
from anyppg.firmware_bridge.gatt import (
    ANYPPG_CONTROL_UUID,
    ANYPPG_DATA_UUID,
    ANYPPG_INFO_UUID,
    ControlCommand,
    DeviceInfo,
)
from anyppg.firmware_bridge.hrs import HeartRateMeasurement

log = logging.getLogger("ble_client")
HEART_RATE_MEASUREMENT = "00002a37-0000-1000-8000-00805f9b34fb"


async def main(args: argparse.Namespace) -> None:
    async with contextlib.AsyncExitStack() as stack:
        backends: dict = {}
        if args.transport:
            from anyppg.sdk.bleak_bumble import BumbleAdapter

            adapter = await stack.enter_async_context(BumbleAdapter(args.transport))
            backends = {"scanner": adapter.scanner_backend, "client": adapter.client_backend}
        device = await BleakScanner.find_device_by_name(
            args.name, timeout=args.timeout, backend=backends.get("scanner")
        )
        if device is None:
            log.error("no device named %r found", args.name)
            return
        deframer = Deframer()
        samples = 0

        def on_data(_char, value: bytearray) -> None:
            nonlocal samples
            frame = deframer.feed_notification(value)
            if frame is not None:
                samples += frame.n_samples

        def on_heart_rate(_char, value: bytearray) -> None:
            measurement = HeartRateMeasurement.from_bytes(value)
            log.info(
                "heart rate %d bpm, RR %s ms",
                measurement.heart_rate,
                [round(x) for x in measurement.rr_intervals_ms],
            )

        async with BleakClient(device, backend=backends.get("client")) as client:
            info = DeviceInfo.from_bytes(await client.read_gatt_char(ANYPPG_INFO_UUID))
            log.info("connected to %s, MTU %d: %s", client.name, client.mtu_size, info)
            await client.start_notify(ANYPPG_DATA_UUID, on_data)
            await client.start_notify(HEART_RATE_MEASUREMENT, on_heart_rate)
            await client.write_gatt_char(ANYPPG_CONTROL_UUID, bytes(ControlCommand.start()), response=True)
            for _ in range(int(args.seconds)):
                await asyncio.sleep(1)
                log.info("%d samples; deframer %s", samples, deframer.stats.as_dict())
            await client.write_gatt_char(ANYPPG_CONTROL_UUID, bytes(ControlCommand.stop()), response=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="AnyPPG-EMU", help="advertised name to look for")
    parser.add_argument(
        "--transport", default=None, help="bumble HCI transport (tcp-client:HOST:PORT, usb:0)"
    )
    parser.add_argument("--seconds", type=float, default=10, help="how long to stream")
    parser.add_argument("--timeout", type=float, default=10, help="scan timeout (s)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    asyncio.run(main(parser.parse_args()))
