"""A bleak backend on Google's bumble Bluetooth stack.

bleak talks to the operating system's Bluetooth service (BlueZ, CoreBluetooth, WinRT). Where there is
none -- a container, CI, a kernel without Bluetooth -- this backend runs a whole Bluetooth host in
Python with bumble, so code written against bleak's public API works unchanged against:

- a virtual peripheral in the same process: both sides attach virtual controllers to one bumble
  ``LocalLink`` (``BumbleAdapter(link=link)``);
- a virtual peripheral in another process, attached over HCI on loopback TCP
  (``BumbleAdapter("tcp-client:127.0.0.1:9000")``, see ``anyppg emulate``);
- a real USB Bluetooth dongle driven without BlueZ (``BumbleAdapter("usb:0")``).

A :class:`BumbleAdapter` stands for one Bluetooth adapter. Its :attr:`~BumbleAdapter.scanner_backend`
and :attr:`~BumbleAdapter.client_backend` are bleak backend classes bound to it::

    async with BumbleAdapter("tcp-client:127.0.0.1:9000") as adapter:
        device = await BleakScanner.find_device_by_name("AnyPPG-EMU", backend=adapter.scanner_backend)
        async with BleakClient(device, backend=adapter.client_backend) as client:
            await client.start_notify(DATA_UUID, on_data)

Behaviours copied from bleak's BlueZ backend, because SDK code meets them on Linux: the disconnected
callback runs on every disconnection (requested or not); after a disconnection ``client.services``
raises until the next ``connect``; ``stop_notify`` on a dead link raises ``BleakError("Not
connected")``; a string address is resolved by scanning first (``BleakDeviceNotFoundError`` when the
scan does not see it). ``connect`` also raises the ATT MTU (to 517 bytes by default), as BlueZ,
CoreBluetooth and WinRT do on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid as uuid_module
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att, core, gatt_client, hci
from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.host import Host
from bumble.keys import JsonKeyStore
from bumble.link import LocalLink
from bumble.transport import Transport, open_transport
from bumble.transport.common import AsyncPipeSink

__all__ = [
    "CONNECT_ATTEMPTS",
    "DEFAULT_MTU",
    "BleakClientBumble",
    "BleakScannerBumble",
    "BumbleAdapter",
    "BumbleDeviceDetails",
    "advertisement_to_bleak",
]

logger = logging.getLogger(__name__)

#: ATT MTU requested on connect (bytes); the largest the ATT protocol allows for a notification payload
#: of 514 bytes. The peripheral answers with its own maximum and the smaller one wins.
DEFAULT_MTU = 517

_T = TypeVar("_T")

#: Most connection attempts :meth:`BumbleAdapter.connect` makes for one call (transient failures only).
CONNECT_ATTEMPTS = 3
_RETRY_DELAY_S = 0.05  # times the attempt number: a short back-off between attempts
_CANCEL_GRACE_S = 2.0  # how long a controller may take to confirm a cancelled connection attempt
# HCI reasons worth another attempt: the peer missed the connect request, or the controller is still
# tearing down an earlier (cancelled) attempt.
_TRANSIENT_CONNECT_ERRORS = frozenset(
    {
        hci.HCI_CONNECTION_FAILED_TO_BE_ESTABLISHED_ERROR,
        hci.HCI_COMMAND_DISALLOWED_ERROR,
        hci.HCI_CONTROLLER_BUSY_ERROR,
    }
)

# bumble characteristic property bits -> the names bleak uses in ``BleakGATTCharacteristic.properties``.
_PROPERTY_NAMES = (
    (0x01, "broadcast"),
    (0x02, "read"),
    (0x04, "write-without-response"),
    (0x08, "write"),
    (0x10, "notify"),
    (0x20, "indicate"),
    (0x40, "authenticated-signed-writes"),
    (0x80, "extended-properties"),
)


def _bleak_uuid(value: core.UUID) -> str:
    """A bumble UUID as bleak spells it: lower-case 128-bit with dashes."""
    little_endian = value.to_bytes(force_128=True)
    return str(uuid_module.UUID(bytes=bytes(reversed(little_endian))))


def _hci_reason(exc: core.ConnectionError | hci.HCI_Error) -> int:
    """The HCI error code a bumble connection error carries."""
    return int(exc.error_code)


def _address_text(address: hci.Address) -> str:
    """``AA:BB:CC:DD:EE:FF`` without bumble's ``/P`` type suffix (bleak's format)."""
    return address.to_string(with_type_qualifier=False)


@dataclass(frozen=True)
class BumbleDeviceDetails:
    """What this backend stores in ``BLEDevice.details``.

    Attributes:
        address: the peer's bumble address, with its type (public / random): connecting needs both.
        advertisement: the last advertisement (merged with its scan response) that was received.
    """

    address: hci.Address
    advertisement: Advertisement | None = None


def advertisement_to_bleak(advertisement: Advertisement) -> AdvertisementData:
    """Convert a bumble advertisement (advertising data plus scan response) to bleak's form.

    Service UUIDs from the advertisement and the scan response are merged without duplicates, in the
    order they were first seen; a complete local name wins over a shortened one.
    """
    data: AdvertisingData = advertisement.data
    complete_name: str | None = None
    short_name: str | None = None
    service_uuids: list[str] = []
    service_data: dict[str, bytes] = {}
    manufacturer_data: dict[int, bytes] = {}
    tx_power: int | None = None
    uuid_list_sizes = {
        AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
        AdvertisingData.Type.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
        AdvertisingData.Type.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
        AdvertisingData.Type.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
        AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
        AdvertisingData.Type.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
    }
    service_data_sizes = {
        AdvertisingData.Type.SERVICE_DATA_16_BIT_UUID: 2,
        AdvertisingData.Type.SERVICE_DATA_32_BIT_UUID: 4,
        AdvertisingData.Type.SERVICE_DATA_128_BIT_UUID: 16,
    }
    for ad_type, payload in data.ad_structures:
        if ad_type == AdvertisingData.Type.COMPLETE_LOCAL_NAME:
            complete_name = payload.decode("utf-8", errors="replace")
        elif ad_type == AdvertisingData.Type.SHORTENED_LOCAL_NAME:
            short_name = payload.decode("utf-8", errors="replace")
        elif ad_type in uuid_list_sizes:
            for item in AdvertisingData.uuid_list_to_objects(payload, uuid_list_sizes[ad_type]):
                text = _bleak_uuid(item)
                if text not in service_uuids:
                    service_uuids.append(text)
        elif ad_type in service_data_sizes and len(payload) >= service_data_sizes[ad_type]:
            size = service_data_sizes[ad_type]
            service_data[_bleak_uuid(core.UUID.from_bytes(payload[:size]))] = bytes(payload[size:])
        elif ad_type == AdvertisingData.Type.MANUFACTURER_SPECIFIC_DATA and len(payload) >= 2:
            manufacturer_data[int.from_bytes(payload[:2], "little")] = bytes(payload[2:])
        elif ad_type == AdvertisingData.Type.TX_POWER_LEVEL and len(payload) == 1:
            tx_power = int.from_bytes(payload, "little", signed=True)
    return AdvertisementData(
        local_name=complete_name if complete_name is not None else short_name,
        manufacturer_data=manufacturer_data,
        service_data=service_data,
        service_uuids=service_uuids,
        tx_power=tx_power,
        rssi=advertisement.rssi,
        platform_data=(advertisement,),
    )


async def _settle(rounds: int = 5) -> None:
    """Let callbacks already scheduled on the loop run (bumble answers HCI commands with call_soon)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class BumbleAdapter:
    """One bumble Bluetooth host: the stand-in for the OS adapter that bleak's own backends use.

    Give exactly one of ``transport`` (a bumble HCI transport spec such as ``usb:0``,
    ``tcp-client:127.0.0.1:9000``, ``serial:/dev/ttyUSB0,1000000``) or ``link`` (an in-process
    ``bumble.link.LocalLink``; a virtual controller is attached to it).

    The host powers on at the first scan or connect (or on ``await adapter.open()``) and stops on
    :meth:`close` (``async with adapter`` does both). One adapter serves any number of scanners and
    clients, as one OS adapter does.

    Args:
        transport: bumble transport spec for the HCI controller.
        link: in-process link to attach a new virtual controller to.
        name: the GAP device name of this central.
        address: its random static address (``AA:BB:CC:DD:EE:FF``); generated when omitted.

    Raises:
        ValueError: both or neither of ``transport`` and ``link`` were given.
    """

    def __init__(
        self,
        transport: str | None = None,
        *,
        link: LocalLink | None = None,
        name: str = "anyppg-central",
        address: str | None = None,
    ) -> None:
        if (transport is None) == (link is None):
            raise ValueError("BumbleAdapter needs exactly one of transport= (e.g. 'usb:0') or link=")
        self.transport_spec = transport
        self.link = link
        self.name = name
        self._address = (
            hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS)
            if address
            else hci.Address.generate_static_address()
        )
        self._device: Device | None = None
        self._transport: Transport | None = None
        self._controller: Controller | None = None
        self._open_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._scan_listeners: list[Callable[[Advertisement], None]] = []
        self._scan_lock = asyncio.Lock()
        self._scan_active = True  # the mode the controller scans in
        self._scan_wants_active = False  # some listener asked for an active scan
        self._connect_attempts = 0  # attempts in flight (0 or 1): the scan pauses meanwhile
        self._last_converted: tuple[Advertisement, AdvertisementData] | None = None
        self._keystore_path: Path | None = None
        self._address_given = address is not None
        self._transport_lost = False

    # -- lifecycle ----------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True while the bumble host is powered on."""
        return self._device is not None

    @property
    def device(self) -> Device:
        """The bumble ``Device`` (the central's host).

        Raises:
            BleakError: the adapter is not open.
        """
        if self._device is None:
            raise BleakError("bumble adapter is not open; use 'async with adapter' or 'await adapter.open()'")
        return self._device

    async def open(self) -> Device:
        """Power on the host (idempotent) and return its bumble ``Device``.

        Raises:
            BleakError: the HCI transport cannot be opened (names the spec).
        """
        async with self._open_lock:
            if self._device is not None:
                return self._device
            self._adopt_recorded_address()
            if self.link is not None:
                from anyppg.firmware_bridge.emulator.radio import VirtualController

                self._controller = VirtualController(f"{self.name}-controller", link=self.link)
                host = Host(self._controller, AsyncPipeSink(self._controller))
                device = Device(name=self.name, address=self._address, host=host)
            else:
                assert self.transport_spec is not None
                try:
                    self._transport = await open_transport(self.transport_spec)
                except (OSError, ValueError, core.BaseBumbleError) as exc:
                    raise BleakError(
                        f"cannot open bumble HCI transport {self.transport_spec!r}: {exc}"
                    ) from exc
                device = Device.with_hci(
                    self.name, self._address, self._transport.source, self._transport.sink
                )
            if self._keystore_path is not None:
                device.keystore = self._json_keystore(self._keystore_path)
            device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
            await device.power_on()
            self._device = device
            self._transport_lost = False
            terminated = getattr(self._transport.source, "terminated", None) if self._transport else None
            if isinstance(terminated, asyncio.Future):
                terminated.add_done_callback(lambda _future: self._on_transport_lost(device))
            logger.debug("bumble adapter %s up at %s", self.name, device.random_address)
            return device

    def _on_transport_lost(self, device: Device) -> None:
        """The HCI transport closed (a dongle unplugged, an emulator's HCI server gone): drop every link.

        bumble only flushes its queues when its transport goes; without this, a bleak client would wait
        for notifications forever instead of seeing its disconnected callback.
        """
        if self._device is not device:
            return
        self._transport_lost = True
        logger.warning("bumble adapter %s: HCI transport %s lost", self.name, self.transport_spec)
        for handle in list(device.connections):
            device.on_disconnection(handle, hci.HCI_CONNECTION_TIMEOUT_ERROR)

    # -- security -----------------------------------------------------------------------------------

    def use_keystore(self, path: str | Path) -> None:
        """Keep bonds (pairing keys) in the JSON file ``path`` (created on the first bond).

        The central's own address is part of a bond (the peripheral stores its keys under it), so
        unless ``address=`` was given the adapter reuses the address recorded in the file, and records
        its own there otherwise: bonds then survive a restart of the process.
        """
        self._keystore_path = Path(path)
        self._keystore_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # keys are secrets
        if self._device is not None:
            self._device.keystore = self._json_keystore(self._keystore_path)

    def _json_keystore(self, path: Path) -> JsonKeyStore:
        return JsonKeyStore(namespace=_address_text(self._address), filename=str(path))

    def _adopt_recorded_address(self) -> None:
        """Before power-on: take the central address the key store was written under, if any."""
        if self._keystore_path is not None and not self._address_given:
            recorded = _recorded_central_address(self._keystore_path)
            if recorded is not None:
                self._address = hci.Address(recorded, hci.Address.RANDOM_DEVICE_ADDRESS)

    async def close(self) -> None:
        """Disconnect every link, stop scanning, power off and release the transport (idempotent)."""
        async with self._open_lock:
            device, self._device = self._device, None
            if device is None:
                return
            self._scan_listeners.clear()
            if self._transport_lost:  # nothing answers HCI commands any more: just let go
                await self._release_transport()
                return
            with contextlib.suppress(Exception):
                if device.is_scanning:
                    await device.stop_scanning()
            for connection in list(device.connections.values()):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.disconnect(), 2.0)
            await _settle()
            with contextlib.suppress(Exception):
                await device.power_off()
            if self._controller is not None and self.link is not None:
                with contextlib.suppress(KeyError):
                    self.link.remove_controller(self._controller)
                self._controller = None
            await self._release_transport()

    async def _release_transport(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(Exception):
                await self._transport.close()
            self._transport = None

    async def __aenter__(self) -> BumbleAdapter:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- scanning (shared by every scanner on this adapter) -----------------------------------------

    async def add_scan_listener(self, listener: Callable[[Advertisement], None], active: bool) -> None:
        """Deliver every advertisement to ``listener``; the first listener starts the scan.

        One controller scan serves every listener (active when any listener asked for it); it is
        paused while a connection attempt is in flight (see :meth:`connect`).

        Raises:
            BleakError: the adapter cannot be opened.
        """
        await self.open()
        self._scan_listeners.append(listener)
        self._scan_wants_active = self._scan_wants_active or active
        await self._update_scan()

    async def remove_scan_listener(self, listener: Callable[[Advertisement], None]) -> None:
        """Stop delivering to ``listener``; the last listener to leave stops the scan."""
        with contextlib.suppress(ValueError):
            self._scan_listeners.remove(listener)
        await self._update_scan()

    async def _update_scan(self) -> None:
        """Make the controller scan exactly while someone listens and no connection attempt is in flight.

        Serialised: concurrent scanners must not each send the enable commands (the controller
        refuses new scan parameters while scanning, and a burst of redundant commands queues behind
        bumble's one-command-at-a-time HCI flow).
        """
        async with self._scan_lock:
            device = self._device
            if device is None or self._transport_lost:
                return
            if not self._scan_listeners:
                self._scan_wants_active = False
            wanted = bool(self._scan_listeners) and self._connect_attempts == 0
            if wanted and device.is_scanning and self._scan_wants_active and not self._scan_active:
                await device.stop_scanning()  # a passive scan must become active
            if wanted and not device.is_scanning:
                self._scan_active = self._scan_wants_active
                await device.start_scanning(active=self._scan_active, filter_duplicates=False)
            elif not wanted and device.is_scanning:
                await device.stop_scanning()

    @property
    def is_scan_paused(self) -> bool:
        """True while listeners wait but the scan is paused for a connection attempt."""
        return bool(self._scan_listeners) and self._connect_attempts > 0

    def advertisement_data(self, advertisement: Advertisement) -> AdvertisementData:
        """``advertisement`` in bleak's form, converted once however many scanners listen."""
        cached = self._last_converted
        if cached is not None and cached[0] is advertisement:
            return cached[1]
        data = advertisement_to_bleak(advertisement)
        self._last_converted = (advertisement, data)
        return data

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        for listener in list(self._scan_listeners):
            listener(advertisement)

    # -- bleak backend classes bound to this adapter ------------------------------------------------

    @property
    def scanner_backend(self) -> type[BleakScannerBumble]:
        """A ``BaseBleakScanner`` class bound to this adapter, for ``BleakScanner(backend=...)``."""
        return type("BleakScannerBumble", (BleakScannerBumble,), {"default_adapter": self})

    @property
    def client_backend(self) -> type[BleakClientBumble]:
        """A ``BaseBleakClient`` class bound to this adapter, for ``BleakClient(..., backend=...)``."""
        return type("BleakClientBumble", (BleakClientBumble,), {"default_adapter": self})

    async def connect(self, address: hci.Address, timeout: float) -> Connection:
        """Open an LE link to ``address``: one attempt at a time per adapter, in call order.

        Connection attempts queue behind each other (a controller initiates one connection at a
        time; bumble refuses a second with ``InvalidStateError``). While an attempt is in flight the
        shared scan is paused, as BlueZ and Android do, and it resumes afterwards for the scanners
        still waiting. A failure the controller reports as transient (*Connection Failed to be
        Established*, *Command Disallowed* while a cancelled attempt is still being torn down) is
        retried, at most :data:`CONNECT_ATTEMPTS` attempts within ``timeout``.

        Args:
            address: the peer's address, with its type (from the advertisement).
            timeout: seconds the attempt may take once it is this adapter's turn; the wait in the
                queue is not counted (it is bounded by the attempts ahead, each bounded by its own
                timeout).

        Raises:
            TimeoutError: no connection within ``timeout`` seconds.
            BleakError: the controller refused the connection (names the HCI reason).
        """
        device = await self.open()
        async with self._connect_lock:
            self._connect_attempts += 1
            try:
                await self._update_scan()
                return await self._connect_with_retries(device, address, timeout)
            finally:
                self._connect_attempts -= 1
                await self._resume_scan()

    async def _resume_scan(self) -> None:
        """Resume the paused scan; a failure is logged, not raised (it must not undo a connection)."""
        try:
            await self._update_scan()
        except (hci.HCI_Error, core.BaseBumbleError, OSError) as exc:
            logger.warning("bumble adapter %s: cannot resume scanning after connecting: %s", self.name, exc)

    async def _connect_with_retries(self, device: Device, address: hci.Address, timeout: float) -> Connection:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                # bumble waits for the controller to confirm a cancelled attempt; do not wait for ever
                # on a controller that never does.
                return await asyncio.wait_for(
                    device.connect(address, transport=core.PhysicalTransport.LE, timeout=remaining),
                    remaining + _CANCEL_GRACE_S,
                )
            except (core.TimeoutError, TimeoutError):
                break
            except (core.ConnectionError, hci.HCI_Error) as exc:
                reason = _hci_reason(exc)
                if attempt == CONNECT_ATTEMPTS or reason not in _TRANSIENT_CONNECT_ERRORS:
                    raise BleakError(
                        f"connection to {_address_text(address)} failed: {hci.HCI_Constant.error_name(reason)}"
                    ) from exc
                logger.info(
                    "connection to %s failed (%s), attempt %d of %d",
                    address,
                    hci.HCI_Constant.error_name(reason),
                    attempt,
                    CONNECT_ATTEMPTS,
                )
                await asyncio.sleep(_RETRY_DELAY_S * attempt)
        raise TimeoutError(f"no connection to {_address_text(address)} within {timeout:g} s")

    def __repr__(self) -> str:
        where = self.transport_spec if self.transport_spec is not None else "LocalLink"
        return f"BumbleAdapter({where}, open={self.is_open})"


def _recorded_central_address(path: Path) -> str | None:
    """The central address a key store file was written under (its first address-shaped namespace)."""
    try:
        namespaces = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for name in namespaces if isinstance(namespaces, dict) else ():
        try:
            return _address_text(hci.Address(name, hci.Address.RANDOM_DEVICE_ADDRESS))
        except (ValueError, core.BaseBumbleError):
            continue
    return None


def _adapter_from(cls: type, kwargs: dict[str, Any]) -> BumbleAdapter:
    adapter = kwargs.pop("bumble", None) or getattr(cls, "default_adapter", None)
    if not isinstance(adapter, BumbleAdapter):
        raise BleakError(
            "the bumble backend needs an adapter: use BumbleAdapter(...).scanner_backend / .client_backend, "
            "or pass bumble=BumbleAdapter(...)"
        )
    return adapter


class BleakScannerBumble(BaseBleakScanner):
    """bleak scanner backend that scans through a :class:`BumbleAdapter`.

    Use ``adapter.scanner_backend`` as ``BleakScanner(backend=...)``, or pass this class with the
    keyword argument ``bumble=adapter``. Devices are keyed by address and address type;
    ``BLEDevice.details`` is a :class:`BumbleDeviceDetails`.
    """

    default_adapter: BumbleAdapter | None = None

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._adapter = _adapter_from(type(self), kwargs)
        self._active = scanning_mode != "passive"
        self._scanning = False

    async def start(self) -> None:
        """Start scanning (clears :attr:`seen_devices`)."""
        self.seen_devices = {}
        await self._adapter.add_scan_listener(self._on_advertisement, self._active)
        self._scanning = True

    async def stop(self) -> None:
        """Stop scanning."""
        if self._scanning:
            self._scanning = False
            await self._adapter.remove_scan_listener(self._on_advertisement)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        data = self._adapter.advertisement_data(advertisement)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        details = BumbleDeviceDetails(address=advertisement.address, advertisement=advertisement)
        device = self.create_or_update_device(
            key=str(advertisement.address),
            address=_address_text(advertisement.address),
            name=data.local_name,
            details=details,
            adv=data,
        )
        self.call_detection_callbacks(device, data)


class BleakClientBumble(BaseBleakClient):
    """bleak client backend that connects through a :class:`BumbleAdapter`.

    Use ``adapter.client_backend`` as ``BleakClient(device, backend=...)``, or pass this class with the
    keyword argument ``bumble=adapter``. Extra keyword arguments: ``mtu`` (ATT MTU to request on
    connect, bytes; default :data:`DEFAULT_MTU`; ``None`` keeps 23). Others are accepted and ignored,
    as bleak's backends do with arguments meant for other platforms.
    """

    default_adapter: BumbleAdapter | None = None

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 30.0,
        services: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        mtu = kwargs.pop("mtu", DEFAULT_MTU)
        adapter = _adapter_from(type(self), kwargs)
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        self._adapter = adapter
        self._requested_mtu: int | None = mtu
        self._service_filter = services
        self._peer_address: hci.Address | None = None
        self._name: str | None = None
        if isinstance(address_or_ble_device, BLEDevice):
            self._name = address_or_ble_device.name
            if isinstance(address_or_ble_device.details, BumbleDeviceDetails):
                self._peer_address = address_or_ble_device.details.address
        self._connection: Connection | None = None
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    # -- properties ---------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The peer's advertised name (or its GAP device name), else its address."""
        return self._name or self.address

    @property
    def mtu_size(self) -> int:
        """The negotiated ATT MTU in bytes (23 before the exchange or when not connected)."""
        return self._connection.att_mtu if self._connection is not None else att.ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        """True while the LE link is up."""
        return self._connection is not None

    # -- connection ---------------------------------------------------------------------------------

    async def _resolve_address(self) -> hci.Address:
        """Find the peer's address type by scanning for its address, as bleak's BlueZ backend does."""
        wanted = self.address.upper()
        found: asyncio.Future[Advertisement] = asyncio.get_running_loop().create_future()

        def on_advertisement(advertisement: Advertisement) -> None:
            if _address_text(advertisement.address) == wanted and not found.done():
                found.set_result(advertisement)

        await self._adapter.add_scan_listener(on_advertisement, active=True)
        try:
            advertisement = await asyncio.wait_for(found, self._timeout)
        except TimeoutError:
            raise BleakDeviceNotFoundError(
                self.address, f"Device with address {self.address} was not found."
            ) from None
        finally:
            await self._adapter.remove_scan_listener(on_advertisement)
        self._name = self._name or self._adapter.advertisement_data(advertisement).local_name
        return advertisement.address

    async def connect(self, pair: bool = False, **kwargs: Any) -> None:
        """Connect, raise the MTU, and discover services, characteristics and descriptors.

        Raises:
            BleakDeviceNotFoundError: a string address was not seen advertising within the timeout.
            TimeoutError: the link did not come up within the timeout.
            BleakError: the link dropped during discovery.
        """
        if self._connection is not None:
            return
        if self._peer_address is None:
            self._peer_address = await self._resolve_address()
        connection = await self._adapter.connect(self._peer_address, self._timeout)
        self._connection = connection
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            peer = Peer(connection)
            if self._requested_mtu is not None:
                await self._guard(peer.request_mtu(self._requested_mtu))
            if pair:
                await self._guard(connection.pair())
            await self._guard(self._discover(peer))
        except BaseException:
            await self.disconnect()
            raise
        logger.debug("connected to %s, MTU %d", self._peer_address, self.mtu_size)

    async def _discover(self, peer: Peer) -> None:
        # bumble keeps every service it has seen in peer.services; bleak's services= asks for a subset
        uuids = [core.UUID(text) for text in self._service_filter or ()]
        discovered = await peer.discover_services(uuids)
        collection = BleakGATTServiceCollection()
        for service_proxy in discovered:
            service = BleakGATTService(service_proxy, service_proxy.handle, _bleak_uuid(service_proxy.uuid))
            collection.add_service(service)
            for char_proxy in await service_proxy.discover_characteristics():
                properties = [name for bit, name in _PROPERTY_NAMES if int(char_proxy.properties) & bit]
                characteristic = BleakGATTCharacteristic(
                    char_proxy,
                    char_proxy.handle,
                    _bleak_uuid(char_proxy.uuid),
                    properties,  # type: ignore[arg-type]
                    lambda: self.mtu_size - 3,
                    service,
                )
                collection.add_characteristic(characteristic)
                for desc_proxy in await char_proxy.discover_descriptors():
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            desc_proxy, desc_proxy.handle, _bleak_uuid(desc_proxy.type), characteristic
                        )
                    )
        self.services = collection
        if self._name is None:
            gap_names = peer.get_characteristics_by_uuid(core.UUID.from_16_bits(0x2A00))
            if gap_names:
                self._name = (await gap_names[0].read_value()).decode("utf-8", errors="replace")

    def _on_disconnection(self, reason: int) -> None:
        logger.debug("disconnected from %s (HCI reason 0x%02X)", self._peer_address, reason)
        self._connection = None
        self._subscribers.clear()
        self.services = None
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        """Disconnect (no-op when not connected); the disconnected callback runs once the link is down."""
        connection = self._connection
        if connection is None:
            return
        try:
            await asyncio.wait_for(connection.disconnect(), 10.0)
        except (core.BaseBumbleError, hci.HCI_Error) as exc:
            logger.debug("disconnect from %s: %s", self._peer_address, exc)
        if self._connection is connection:  # the controller never confirmed: tear down locally
            self._on_disconnection(hci.HCI_CONNECTION_TIMEOUT_ERROR)

    @property
    def is_encrypted(self) -> bool:
        """True while the LE link is encrypted (after :meth:`pair`, or with a reused bond)."""
        return self._connection is not None and self._connection.is_encrypted

    async def pair(self, *args: Any, new_pairing: bool = True, **kwargs: Any) -> None:
        """Encrypt the link: with the bond in the adapter's key store when there is one, else by pairing.

        Pairing is bumble's SMP with LE Secure Connections and bonding; with no input or output on
        either side it is Just Works (encrypted, but not protected against a man in the middle). The
        keys are stored in the adapter's key store (see :meth:`BumbleAdapter.use_keystore`). A bond
        the peer no longer accepts is deleted and pairing starts again, unless ``new_pairing`` is
        False: then only a peer that proves the stored bond is accepted.

        Raises:
            BleakError: not connected, pairing / encryption failed (names the SMP or HCI reason), or
                ``new_pairing`` is False and there is no bond the peer accepts.
        """
        connection = self._require_connection()
        if connection.is_encrypted:
            return
        keystore = self._adapter.device.keystore
        peer = str(connection.peer_address)
        if keystore is not None and await keystore.get(peer) is not None:
            try:
                await self._guard(connection.encrypt())
                logger.debug("link to %s encrypted with the stored bond", peer)
                return
            except (hci.HCI_Error, core.BaseBumbleError) as exc:
                if not new_pairing:
                    raise BleakError(
                        f"{_address_text(connection.peer_address)} refused the stored bond: {exc}"
                    ) from exc
                logger.warning("%s refused the stored bond (%s); pairing again", peer, exc)
                with contextlib.suppress(KeyError):
                    await keystore.delete(peer)
                self._require_connection()
        elif not new_pairing:
            raise BleakError(f"no bond with {_address_text(connection.peer_address)} in the key store")
        try:
            await self._guard(connection.pair())
        except (hci.HCI_Error, core.BaseBumbleError) as exc:
            raise BleakError(f"pairing with {_address_text(connection.peer_address)} failed: {exc}") from exc
        if not connection.is_encrypted:
            raise BleakError(
                f"pairing with {_address_text(connection.peer_address)} left the link unencrypted"
            )

    async def unpair(self) -> None:
        """Forget the peer's keys in the adapter's key store and disconnect, as bleak's backends do."""
        keystore = self._adapter.device.keystore if self._adapter.is_open else None
        if keystore is not None and self._peer_address is not None:
            with contextlib.suppress(KeyError):
                await keystore.delete(str(self._peer_address))
        await self.disconnect()

    # -- GATT I/O -----------------------------------------------------------------------------------

    def _require_connection(self) -> Connection:
        if self._connection is None:
            raise BleakError("Not connected")
        return self._connection

    async def _guard(self, operation: Coroutine[Any, Any, _T]) -> _T:
        """Run a bumble GATT/ATT operation with bleak's error types.

        The operation is cancelled when the link drops (bumble would send the next request of a
        multi-step operation, such as discovery, on the dead link and wait for its 30 s GATT timeout);
        that surfaces here as a ``CancelledError`` although nobody cancelled the caller's task, so it
        becomes ``BleakError("Not connected")``, as it does on a link already down. ATT error
        responses become ``BleakGATTProtocolError``.
        """
        task = asyncio.current_task()
        connection = self._connection
        if connection is None:
            operation.close()
            raise BleakError("Not connected")
        try:
            return await connection.cancel_on_disconnection(operation)
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc
        except asyncio.CancelledError:
            if task is not None and task.cancelling() == 0 and self._connection is None:
                raise BleakError("Not connected") from None
            raise
        except core.TimeoutError as exc:
            raise TimeoutError(str(exc)) from exc

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a characteristic value (``use_cached``: the last value read or notified, if any).

        Raises:
            BleakError: not connected. BleakGATTProtocolError: the peer answered with an ATT error.
        """
        return await self._read(characteristic.handle, use_cached)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a descriptor value.

        Raises:
            BleakError: not connected. BleakGATTProtocolError: the peer answered with an ATT error.
        """
        return await self._read(descriptor.handle, use_cached)

    async def _read(self, handle: int, use_cached: bool) -> bytearray:
        connection = self._require_connection()
        if use_cached and handle in connection.gatt_client.cached_values:
            return bytearray(connection.gatt_client.cached_values[handle][1])
        return bytearray(await self._guard(connection.gatt_client.read_value(handle)))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        """Write a characteristic value, with or without response.

        Raises:
            BleakError: not connected. BleakGATTProtocolError: the peer answered with an ATT error.
        """
        connection = self._require_connection()
        await self._guard(connection.gatt_client.write_value(characteristic.handle, bytes(data), response))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        """Write a descriptor value (with response).

        Raises:
            BleakError: not connected. BleakGATTProtocolError: the peer answered with an ATT error.
        """
        connection = self._require_connection()
        await self._guard(connection.gatt_client.write_value(descriptor.handle, bytes(data), True))

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Enable notifications (or indications when the characteristic has only those).

        Raises:
            BleakError: not connected, or the characteristic can neither notify nor indicate.
        """
        connection = self._require_connection()
        proxy: gatt_client.CharacteristicProxy[bytes] = characteristic.obj
        if not {"notify", "indicate"} & set(characteristic.properties):
            raise BleakError(f"characteristic {characteristic.uuid} has neither notify nor indicate")
        previous = self._subscribers.pop(characteristic.handle, None)
        if previous is not None:
            await self._guard(connection.gatt_client.unsubscribe(proxy, previous))

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = on_value
        await self._guard(connection.gatt_client.subscribe(proxy, on_value, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Disable notifications.

        Raises:
            BleakError: ``"Not connected"`` when the link is down (as bleak's BlueZ backend does).
        """
        connection = self._require_connection()
        subscriber = self._subscribers.pop(characteristic.handle, None)
        await self._guard(connection.gatt_client.unsubscribe(characteristic.obj, subscriber))
