"""HciServer: virtual controllers served as H4 HCI over loopback TCP, one fresh controller per client."""

from __future__ import annotations

import asyncio

import numpy as np
from bleak import BleakClient, BleakScanner
from bumble.link import LocalLink

from anyppg.firmware_bridge.emulator.ble import BleEmulator
from anyppg.firmware_bridge.emulator.hci import HciServer
from anyppg.firmware_bridge.emulator.sources import Source
from anyppg.firmware_bridge.gatt import ANYPPG_INFO_UUID, DeviceInfo
from anyppg.sdk.bleak_bumble import BumbleAdapter


def test_a_central_that_leaves_frees_the_peripheral_for_the_next_one():
    async def main():
        link = LocalLink()
        emulator = BleEmulator(Source(name="ramp", rate_hz=50.0, ppg=np.arange(1000) + 10_000), speed=None)
        server = HciServer(link)
        port = await server.start(0)
        await emulator.start(link=link)
        disconnections = []
        try:
            for abrupt in (False, True):
                adapter = BumbleAdapter(server.transport_spec(port))
                await adapter.open()
                device = await BleakScanner.find_device_by_name(
                    emulator.name, timeout=5, backend=adapter.scanner_backend
                )
                client = BleakClient(device, backend=adapter.client_backend)
                await client.connect()
                info = DeviceInfo.from_bytes(await client.read_gatt_char(ANYPPG_INFO_UUID))
                assert info.sample_rate_hz == 50.0 and len(server.sessions) == 1
                connection = next(iter(emulator.device.connections.values()))
                connection.on("disconnection", disconnections.append)
                if abrupt:  # the central's process dies: its TCP link closes under a live BLE link
                    await adapter._transport.close()
                else:
                    await client.disconnect()
                while server.sessions if abrupt else emulator.device.connections:
                    await asyncio.sleep(0.01)
                while emulator.device.connections:
                    await asyncio.sleep(0.01)
                await adapter.close()
            return emulator.stats.connections, disconnections, len(link.controllers)
        finally:
            await emulator.stop()
            await server.close()

    connections, disconnections, controllers = asyncio.run(main())
    assert connections == 2
    assert disconnections == [0x13, 0x08]  # remote user terminated, then a supervision timeout
    assert controllers == 1  # only the emulator's own controller is left on the link
