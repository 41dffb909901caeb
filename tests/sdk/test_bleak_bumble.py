"""The bleak backend on bumble: bleak's public API against a real bumble peripheral on a LocalLink."""

from __future__ import annotations

import asyncio
import json

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att, gatt, hci
from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from anyppg.sdk.bleak_bumble import (
    BleakClientBumble,
    BumbleAdapter,
    BumbleDeviceDetails,
    advertisement_to_bleak,
)

NUS = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"
NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
HRS_16 = "0000180d-0000-1000-8000-00805f9b34fb"
LOCKED = "6e400009-b5a3-f393-e0a9-e50e24dcca9e"


def _refuse_read(_connection):
    raise att.ATT_Error(0x05)  # Insufficient Authentication


class Peripheral:
    """A bare bumble peripheral (Nordic UART-like): notify + read on TX, write on RX."""

    def __init__(self, link: LocalLink, name: str = "bare-peripheral") -> None:
        controller = Controller("peripheral", link=link)
        self.address = hci.Address("C0:11:22:33:44:55", hci.Address.RANDOM_DEVICE_ADDRESS)
        self.device = Device(
            name=name, address=self.address, host=Host(controller, AsyncPipeSink(controller))
        )
        self.written: list[bytes] = []
        self.tx = gatt.Characteristic(
            NUS_TX,
            gatt.Characteristic.Properties.NOTIFY | gatt.Characteristic.Properties.READ,
            gatt.Characteristic.READABLE,
            b"hello",
        )
        rx = gatt.Characteristic(
            NUS_RX,
            gatt.Characteristic.Properties.WRITE | gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=lambda _c, value: self.written.append(bytes(value))),
        )
        locked = gatt.Characteristic(
            LOCKED,
            gatt.Characteristic.Properties.READ,
            gatt.Characteristic.READABLE,
            gatt.CharacteristicValue(read=_refuse_read),
        )
        self.device.add_service(gatt.Service(NUS, [self.tx, rx, locked]))
        self.name = name

    async def start(self) -> None:
        await self.device.power_on()
        data = AdvertisingData(
            [
                (AdvertisingData.FLAGS, b"\x06"),
                (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
                (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, b"\x0d\x18"),
            ]
        )
        await self.device.start_advertising(
            auto_restart=True,
            advertising_data=bytes(data),
            advertising_interval_min=20,
            advertising_interval_max=20,
        )

    async def stop(self) -> None:
        self.device.auto_restart_advertising = False
        await self.device.stop_advertising()
        await self.device.power_off()


async def _with_peripheral(body):
    link = LocalLink()
    peripheral = Peripheral(link)
    await peripheral.start()
    try:
        async with BumbleAdapter(link=link) as adapter:
            return await body(peripheral, adapter)
    finally:
        await peripheral.stop()


def test_advertisement_conversion_merges_and_deduplicates():
    # advertising data + scan response as bumble's accumulator merges them: the 16-bit UUID appears twice
    raw = AdvertisingData(
        [
            (AdvertisingData.SHORTENED_LOCAL_NAME, b"Pol"),
            (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, b"\x0d\x18\x0f\x18"),
            (AdvertisingData.MANUFACTURER_SPECIFIC_DATA, b"\x6b\x00\x01\x02"),
            (AdvertisingData.SERVICE_DATA_16_BIT_UUID, b"\x0f\x18\x55"),
            (AdvertisingData.TX_POWER_LEVEL, b"\xf8"),
            (AdvertisingData.COMPLETE_LOCAL_NAME, b"Polar Sense"),
            (AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, b"\x0d\x18"),
        ]
    )
    address = hci.Address("A0:B1:C2:D3:E4:F5", hci.Address.PUBLIC_DEVICE_ADDRESS)
    adv = Advertisement(address=address, rssi=-61, data_bytes=bytes(raw))
    data = advertisement_to_bleak(adv)
    assert data.local_name == "Polar Sense"  # complete beats shortened
    assert data.service_uuids == [HRS_16, "0000180f-0000-1000-8000-00805f9b34fb"]
    assert data.manufacturer_data == {0x006B: b"\x01\x02"}
    assert data.service_data == {"0000180f-0000-1000-8000-00805f9b34fb": b"\x55"}
    assert data.tx_power == -8 and data.rssi == -61 and data.platform_data == (adv,)


def test_scan_keeps_the_typed_address_and_filters_by_service():
    async def body(peripheral, adapter):
        device = await BleakScanner.find_device_by_name(
            peripheral.name, timeout=5, backend=adapter.scanner_backend
        )
        filtered = await BleakScanner.discover(
            timeout=0.2, service_uuids=[NUS], backend=adapter.scanner_backend
        )
        matching = await BleakScanner.discover(
            timeout=0.2, service_uuids=[HRS_16], backend=adapter.scanner_backend
        )
        return device, filtered, matching

    device, filtered, matching = asyncio.run(_with_peripheral(body))
    assert device.address == "C0:11:22:33:44:55"
    assert isinstance(device.details, BumbleDeviceDetails)
    assert device.details.address.address_type == hci.Address.RANDOM_DEVICE_ADDRESS
    assert filtered == []  # NUS is not advertised
    assert [d.name for d in matching] == ["bare-peripheral"]


def test_gatt_io_through_bleak():
    async def body(peripheral, adapter):
        received: list[bytearray] = []
        async with BleakClient("C0:11:22:33:44:55", backend=adapter.client_backend, timeout=5) as client:
            assert client.name == "bare-peripheral"  # resolved by scanning, as on BlueZ
            assert client.mtu_size == 517
            tx = client.services.get_characteristic(NUS_TX)
            assert tx.properties == ["read", "notify"]
            assert tx.max_write_without_response_size == 514
            assert [d.uuid for d in tx.descriptors] == ["00002902-0000-1000-8000-00805f9b34fb"]
            assert await client.read_gatt_char(NUS_TX) == bytearray(b"hello")
            await client.write_gatt_char(NUS_RX, b"\x01\x02", response=True)
            await client.write_gatt_char(NUS_RX, b"\x03", response=False)
            await client.start_notify(NUS_TX, lambda _c, value: received.append(value))
            for i in range(5):
                await peripheral.device.notify_subscribers(peripheral.tx, bytes([i]) * 300)
            while len(received) < 5:
                await asyncio.sleep(0.01)
            assert await client.read_gatt_char(NUS_TX, use_cached=True) == bytearray([4]) * 300
            await client.stop_notify(NUS_TX)
            await peripheral.device.notify_subscribers(peripheral.tx, b"late")
            await asyncio.sleep(0.05)
            cccd = tx.descriptors[0]
            assert await client.read_gatt_descriptor(cccd.handle) == bytearray(b"\x00\x00")
            with pytest.raises(BleakGATTProtocolError) as excinfo:
                await client.read_gatt_char(LOCKED)  # the server answers an ATT error response
            assert excinfo.value.args[0] == 0x05
        return received, peripheral.written

    received, written = asyncio.run(_with_peripheral(body))
    assert [bytes(v) for v in received] == [bytes([i]) * 300 for i in range(5)]
    assert all(isinstance(v, bytearray) for v in received)
    assert written[:2] == [b"\x01\x02", b"\x03"]


def test_disconnect_callback_and_dead_link_behaviour():
    async def body(peripheral, adapter):
        calls: list[str] = []
        device = await BleakScanner.find_device_by_name(
            peripheral.name, timeout=5, backend=adapter.scanner_backend
        )
        client = BleakClient(device, lambda c: calls.append(c.address), backend=adapter.client_backend)
        await client.connect()
        tx = client.services.get_characteristic(NUS_TX)
        await client.start_notify(tx, lambda _c, _v: None)
        connection = next(iter(peripheral.device.connections.values()))
        await connection.disconnect()  # the peripheral drops the link
        while client.is_connected:
            await asyncio.sleep(0.01)
        with pytest.raises(BleakError, match="Not connected"):
            await client._backend.stop_notify(tx)
        with pytest.raises(BleakError, match="Not connected"):
            await client._backend.read_gatt_char(tx)
        await client.disconnect()  # no-op, no second callback
        # reconnecting works and the callback runs again on our own disconnect (as on BlueZ)
        await client.connect()
        assert client.is_connected
        await client.disconnect()
        return calls

    assert asyncio.run(_with_peripheral(body)) == ["C0:11:22:33:44:55", "C0:11:22:33:44:55"]


def test_unknown_address_and_bad_adapters_raise_typed_errors():
    async def body(_peripheral, adapter):
        with pytest.raises(BleakDeviceNotFoundError) as excinfo:
            await BleakClient("00:11:22:33:44:55", backend=adapter.client_backend, timeout=0.3).connect()
        return excinfo.value.identifier

    assert asyncio.run(_with_peripheral(body)) == "00:11:22:33:44:55"
    with pytest.raises(ValueError, match="exactly one"):
        BumbleAdapter()
    with pytest.raises(BleakError, match="needs an adapter"):
        BleakClient("00:11:22:33:44:55", backend=BleakClientBumble)

    async def bad_transport():
        with pytest.raises(BleakError, match="nonsense:1"):
            await BumbleAdapter("nonsense:1").open()

    asyncio.run(bad_transport())


def test_services_filter_discovers_only_the_named_services():
    async def body(peripheral, adapter):
        device = await BleakScanner.find_device_by_name(
            peripheral.name, timeout=5, backend=adapter.scanner_backend
        )
        async with BleakClient(device, services=[NUS], backend=adapter.client_backend) as client:
            return [s.uuid for s in client.services]

    assert asyncio.run(_with_peripheral(body)) == [NUS]


def test_pair_bonds_into_the_keystore_and_unpair_forgets_and_disconnects(tmp_path):
    keystore = tmp_path / "bonds" / "keys.json"

    async def body(peripheral, adapter):
        adapter.use_keystore(keystore)
        peer = "C0:11:22:33:44:55"
        async with BleakClient(peer, backend=adapter.client_backend, timeout=5) as client:
            (link,) = peripheral.device.connections.values()  # the peripheral's side of the link
            assert not link.is_encrypted
            with pytest.raises(BleakError, match="no bond"):
                await client.pair(new_pairing=False)  # encrypt=1 without a bond
            await client.pair()
            assert link.is_encrypted
            await client.pair()  # already encrypted: nothing to do
            bonded = json.loads(keystore.read_text())
            await client.unpair()
            assert not client.is_connected
        return bonded, json.loads(keystore.read_text())

    bonded, after = asyncio.run(_with_peripheral(body))
    ((central, peers),) = bonded.items()
    assert list(peers) == ["C0:11:22:33:44:55"] and "ltk" in peers["C0:11:22:33:44:55"]
    assert after == {central: {}}
    assert oct(keystore.parent.stat().st_mode & 0o777) == "0o700"
