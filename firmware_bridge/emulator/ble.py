"""An emulated BLE wearable on Google's bumble stack: a real GATT server, advertising, MTU, notifications.

Profiles (``profile=``):

``anyppg``
    our GATT service (data notify / control write / info read, :mod:`anyppg.firmware_bridge.gatt`)
    plus Heart Rate (0x180D), Battery (0x180F) and Device Information (0x180A). Data frames are sized
    to the negotiated ``MTU - 3``; they flow after the client subscribes to the data characteristic
    *and* writes START to the control point, and stop on STOP, unsubscribe or disconnection. They
    carry PPG and, when the source has it, x/y/z acceleration.
``polar``
    a Polar-Verity-Sense-like device: the PMD service (control point write + indicate, data notify)
    streaming compressed PPG (4 channels: 3 PPG + ambient, 22 bit) at 55 Hz (135 Hz when asked), plus
    Heart Rate, Battery and Device Information.
``hrs``
    a commodity heart-rate strap: Heart Rate, Battery and Device Information only.
``plx``
    a fingertip pulse oximeter: Pulse Oximeter Service (continuous SpO2 + pulse rate, spot-check,
    features; :mod:`.plx_service`), Battery and Device Information (no Heart Rate service).

The device attaches either to an in-process ``bumble.link.LocalLink`` (tests, ``anyppg demo``) or to
any bumble HCI transport (a virtual controller served over TCP by :mod:`.hci`, or a real USB dongle:
then it is a real BLE peripheral). :func:`emulated_ble` does the in-process wiring and hands back the
:class:`~anyppg.sdk.bleak_bumble.BumbleAdapter` a bleak client needs::

    async with emulated_ble(parse_source("sim"), speed=None) as emu:
        device = await BleakScanner.find_device_by_name(emu.name, backend=emu.adapter.scanner_backend)
        async with BleakClient(device, backend=emu.adapter.client_backend) as client: ...

Security testing: ``require_encryption=True`` (``anyppg emulate --require-pairing``) makes every
characteristic of the profile's services readable, writable and subscribable only over an encrypted
link (ATT "insufficient encryption" otherwise): a central must pair first (Just Works; the device keeps
the bond in memory for its lifetime). ``spoof=True`` (``--spoof``) advertises exactly like the profile
(same name, same service UUIDs) but serves only Battery and Device Information, like a device that
borrows a wearable's name: the SDK must refuse it before streaming.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Literal

from bumble import att, gatt, hci
from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import AdvertisingParameters, AdvertisingSet, Connection, Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.profiles.battery_service import BatteryService
from bumble.profiles.device_information_service import DeviceInformationService
from bumble.transport import Transport, open_transport
from bumble.transport.common import AsyncPipeSink

from anyppg._version import __version__
from anyppg.errors import DeviceError
from anyppg.firmware_bridge.emulator.faults import EmulatorStats, FaultInjector, FaultSpec
from anyppg.firmware_bridge.emulator.sources import Source
from anyppg.firmware_bridge.emulator.streaming import FramePump
from anyppg.firmware_bridge.errors import FieldRangeError, ProtocolError
from anyppg.firmware_bridge.gatt import (
    ANYPPG_CONTROL_UUID,
    ANYPPG_DATA_UUID,
    ANYPPG_INFO_UUID,
    ANYPPG_SERVICE_UUID,
    ControlCommand,
    ControlOpcode,
    DeviceInfo,
)
from anyppg.firmware_bridge.hrs import HeartRateMeasurement

if TYPE_CHECKING:
    from anyppg.firmware_bridge.emulator.plx_service import PlxServer
    from anyppg.firmware_bridge.emulator.polar_pmd import PolarPmdServer

__all__ = [
    "ATT_ERROR_REJECTED",
    "DEFAULT_NAMES",
    "BleEmulator",
    "EmulatorStartError",
    "InProcessBle",
    "Profile",
    "emulated_ble",
]

logger = logging.getLogger(__name__)

Profile = Literal["anyppg", "polar", "hrs", "plx"]

DEFAULT_NAMES: dict[str, str] = {
    "anyppg": "AnyPPG-EMU",
    "polar": "Polar Sense EMU00001",
    "hrs": "HRS-EMU",
    "plx": "PLX-EMU",
}
"""Advertised name of each profile unless ``name=`` says otherwise."""

ATT_ERROR_REJECTED = 0x80
"""ATT application error answered to a control write the device cannot honour (a rate it cannot do,
an MTU too small for one frame, a malformed command)."""

_HRS_UUID = gatt.GATT_HEART_RATE_SERVICE
_HRM_UUID = gatt.GATT_HEART_RATE_MEASUREMENT_CHARACTERISTIC
_BODY_SENSOR_LOCATION_UUID = gatt.GATT_BODY_SENSOR_LOCATION_CHARACTERISTIC
_BODY_SENSOR_WRIST = 2
_ENERGY_KJ_PER_S = 0.1  # a resting adult's energy expenditure (about 6 kJ a minute)
_ADVERTISING_INTERVAL_MS = 20.0


class EmulatorStartError(DeviceError):
    """The emulated device could not attach to its Bluetooth controller.

    Attributes:
        transport: the HCI transport spec (or ``"LocalLink"``).
        reason: what failed.
    """

    def __init__(self, transport: str, reason: str) -> None:
        super().__init__(f"emulator cannot start on {transport}: {reason}")
        self.transport = transport
        self.reason = reason


def _refuse_read(_connection: Connection) -> bytes:
    # bumble answers a read of a value without a read function with no response at all (the client
    # waits 30 s for its ATT timeout); a write-only characteristic must refuse reads explicitly.
    raise att.ATT_Error(att.ATT_READ_NOT_PERMITTED_ERROR)


def _uuid16_list(*uuids: int) -> bytes:
    return b"".join(u.to_bytes(2, "little") for u in uuids)


class BleEmulator:
    """One emulated BLE wearable.

    Args:
        source: what the sensor streams.
        profile: ``"anyppg"``, ``"polar"``, ``"hrs"`` or ``"plx"`` (see the module docstring).
        name: advertised name (default per profile, :data:`DEFAULT_NAMES`).
        speed: real-time multiple; None streams as fast as the link takes notifications.
        faults: frame drops / corruption / periodic disconnection (anyppg data frames; drops also
            apply to Polar frames, which carry no CRC and so are never corrupted).
        battery_level: value of the Battery Level characteristic (%).
        max_samples: cap on samples per anyppg frame (latency); the MTU bound always applies.
        address: the device's random static address (``AA:BB:CC:DD:EE:FF``); generated when omitted.
        require_encryption: serve the profile's characteristics over an encrypted (paired) link only.
        spoof: advertise like ``profile`` but serve none of its services (a name-borrowing impostor).

    Attributes:
        stats: what was sent, dropped, corrupted (exact counts, see :class:`~.faults.EmulatorStats`).
        polar: the PMD server of the ``polar`` profile (None for the others).
        pairings: pairings completed with centrals (a reused bond encrypts without pairing).
    """

    def __init__(
        self,
        source: Source,
        *,
        profile: Profile = "anyppg",
        name: str | None = None,
        speed: float | None = 1.0,
        faults: FaultSpec | None = None,
        battery_level: int = 87,
        max_samples: int | None = None,
        address: str | None = None,
        require_encryption: bool = False,
        spoof: bool = False,
    ) -> None:
        if profile not in DEFAULT_NAMES:
            raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(DEFAULT_NAMES)}")
        if not 0 <= battery_level <= 100:
            raise ValueError(f"battery_level = {battery_level}; expected 0..100 %")
        self.source = source
        self.profile: Profile = profile
        self.name = name or DEFAULT_NAMES[profile]
        self.speed = speed
        self.faults = faults or FaultSpec()
        self.battery_level = battery_level
        self.address = (
            hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS)
            if address
            else hci.Address.generate_static_address()
        )
        self.stats = EmulatorStats()
        self.require_encryption = require_encryption
        self.spoof = spoof
        self.pairings = 0
        self.injector = FaultInjector(self.faults, self.stats)
        self.pump = FramePump(source, speed=speed, injector=self.injector, max_samples=max_samples)
        self.device: Device | None = None
        self._transport: Transport | None = None
        self._controller: Controller | None = None
        self._link: LocalLink | None = None
        self._advertising_set: AdvertisingSet | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._streams: dict[Connection, asyncio.Task[None]] = {}
        self._sending: set[Connection] = set()  # connections whose stream is inside a notification
        self._started: set[Connection] = set()
        self._subscribed: set[Connection] = set()
        self._hr_tasks: dict[Connection, asyncio.Task[None]] = {}
        self.polar: PolarPmdServer | None = None
        """The PMD service of the ``polar`` profile (its ``epoch_ns`` maps frame timestamps to samples)."""
        self.plx: PlxServer | None = None
        """The Pulse Oximeter Service of the ``plx`` profile (its ``sent`` logs what was notified)."""
        self._data_char: gatt.Characteristic | None = None
        self._hrm_char: gatt.Characteristic | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self, *, link: LocalLink | None = None, transport: str | None = None) -> None:
        """Power on, build the GATT database and advertise.

        Args:
            link: attach a new virtual controller to this in-process link.
            transport: or open this bumble HCI transport (``tcp-client:127.0.0.1:9001``, ``usb:0``).

        Raises:
            ValueError: both or neither of ``link`` / ``transport``.
            EmulatorStartError: the transport cannot be opened or the controller refuses to advertise.
        """
        if (link is None) == (transport is None):
            raise ValueError("BleEmulator.start needs exactly one of link= or transport=")
        where = transport or "LocalLink"
        if link is not None:
            self._link = link
            self._controller = Controller(f"{self.name}-controller", link=link)
            host = Host(self._controller, AsyncPipeSink(self._controller))
            device = Device(name=self.name, address=self.address, host=host)
        else:
            assert transport is not None
            try:
                self._transport = await open_transport(transport)
            except Exception as exc:  # bumble raises many types (OSError, ValueError, its own)
                raise EmulatorStartError(where, str(exc)) from exc
            device = Device.with_hci(self.name, self.address, self._transport.source, self._transport.sink)
        self.device = device
        device.add_services(self._served_services(device))
        device.on(Device.EVENT_CONNECTION, self._on_connection)
        try:
            await device.power_on()
            await self._advertise(device)
        except Exception as exc:
            await self.stop()
            raise EmulatorStartError(where, f"{type(exc).__name__}: {exc}") from exc
        self.pump.power_on(asyncio.get_running_loop().time())
        if self.faults.disconnect_every_s is not None:
            self._spawn(self._disconnect_periodically(self.faults.disconnect_every_s))
        logger.info(
            "emulated %s device %r advertising as %s on %s", self.profile, self.name, self.address, where
        )

    async def stop(self) -> None:
        """Stop streaming, drop links, power off and release the controller (idempotent)."""
        for task in [*self._tasks, *self._streams.values(), *self._hr_tasks.values()]:
            task.cancel()
        for task in [*self._tasks, *self._streams.values(), *self._hr_tasks.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._streams.clear()
        self._hr_tasks.clear()
        if self.plx is not None:
            await self.plx.stop()
        device, self.device = self.device, None
        if device is not None:
            with contextlib.suppress(Exception):
                if self._advertising_set is not None:
                    self._advertising_set.auto_restart = False
                    await self._advertising_set.stop()
                else:
                    device.auto_restart_advertising = False
                    await device.stop_advertising()
            for connection in list(device.connections.values()):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.disconnect(), 2.0)
            for _ in range(5):
                await asyncio.sleep(0)
            with contextlib.suppress(Exception):
                await device.power_off()
        if self._controller is not None and self._link is not None:
            with contextlib.suppress(KeyError):
                self._link.remove_controller(self._controller)
        self._controller = None
        if self._transport is not None:
            with contextlib.suppress(Exception):
                await self._transport.close()
            self._transport = None

    async def __aenter__(self) -> BleEmulator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _spawn(self, coro) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- advertising --------------------------------------------------------------------------------

    def advertising_data(self) -> bytes:
        """The advertising payload: flags, complete name, 16-bit and 128-bit service UUIDs."""
        uuid16 = [0x1822 if self.profile == "plx" else 0x180D, 0x180F, 0x180A]
        structures: list[tuple[int, bytes]] = [
            (AdvertisingData.FLAGS, bytes([0x06])),  # LE General Discoverable, BR/EDR not supported
            (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode("utf-8")),
            (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, _uuid16_list(*uuid16)),
        ]
        service128 = None
        if self.profile == "anyppg":
            service128 = ANYPPG_SERVICE_UUID
        elif self.profile == "polar":
            service128 = _polar_service_uuid()
        if service128 is not None:
            uuid_bytes = bytes(reversed(bytes.fromhex(service128.replace("-", ""))))
            structures.append((AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, uuid_bytes))
        return bytes(AdvertisingData(structures))

    async def _advertise(self, device: Device) -> None:
        data = self.advertising_data()
        if device.supports_le_extended_advertising:
            # One connectable extended advertisement carries everything (bumble's virtual controller
            # does not answer scan requests, and 31 legacy bytes cannot hold a 128-bit UUID and a name).
            self._advertising_set = await device.create_advertising_set(
                advertising_parameters=AdvertisingParameters(
                    primary_advertising_interval_min=_ADVERTISING_INTERVAL_MS,
                    primary_advertising_interval_max=_ADVERTISING_INTERVAL_MS,
                ),
                random_address=device.random_address,
                advertising_data=data,
                auto_restart=True,
            )
        else:  # a BLE 4.x controller: legacy advertising, the name moves to the scan response
            legacy = [
                s
                for s in AdvertisingData.from_bytes(data).ad_structures
                if s[0] != AdvertisingData.COMPLETE_LOCAL_NAME
            ]
            await device.start_advertising(
                auto_restart=True,
                advertising_data=bytes(AdvertisingData(legacy))[:31],
                scan_response_data=bytes(
                    AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode())])
                )[:31],
                advertising_interval_min=_ADVERTISING_INTERVAL_MS,
                advertising_interval_max=_ADVERTISING_INTERVAL_MS,
            )

    # -- GATT database ------------------------------------------------------------------------------

    def device_info(self) -> DeviceInfo:
        """The value of the anyppg info characteristic."""
        return DeviceInfo(
            sample_rate_hz=self.source.rate_hz,
            channels=self.source.channels,
            fmt=self.pump.fmt,
            firmware_version=f"anyppg-emulator {__version__}",
        )

    def _build_services(self) -> list[gatt.Service]:
        services: list[gatt.Service] = []
        if self.profile == "anyppg":
            self._data_char = gatt.Characteristic(
                ANYPPG_DATA_UUID, gatt.Characteristic.Properties.NOTIFY, gatt.Characteristic.READABLE, b""
            )
            self._data_char.on(gatt.Characteristic.EVENT_SUBSCRIPTION, self._on_data_subscription)
            control = gatt.Characteristic(
                ANYPPG_CONTROL_UUID,
                gatt.Characteristic.Properties.WRITE,
                gatt.Characteristic.WRITEABLE,
                gatt.CharacteristicValue(read=_refuse_read, write=self._on_control_write),
            )
            info = gatt.Characteristic(
                ANYPPG_INFO_UUID,
                gatt.Characteristic.Properties.READ,
                gatt.Characteristic.READABLE,
                gatt.CharacteristicValue(read=lambda _connection: bytes(self.device_info())),
            )
            services.append(gatt.Service(ANYPPG_SERVICE_UUID, [self._data_char, control, info]))
        elif self.profile == "polar":
            from anyppg.firmware_bridge.emulator.polar_pmd import PolarPmdServer

            self.polar = PolarPmdServer(self)
            services.append(self.polar.service())
        if self.profile == "plx":
            from anyppg.firmware_bridge.emulator.plx_service import PlxServer

            self.plx = PlxServer(self)
            services.append(self.plx.service())
        else:
            services.append(self._heart_rate_service())
        services.append(BatteryService(read_battery_level=lambda _connection: self.battery_level))
        services.append(
            DeviceInformationService(
                manufacturer_name="anyppg",
                model_number=f"emulator-{self.profile}",
                serial_number=self.address.to_string(with_type_qualifier=False).replace(":", ""),
                firmware_revision=__version__,
                software_revision=f"source {self.source.name}",
            )
        )
        return services

    def _heart_rate_service(self) -> gatt.Service:
        self._hrm_char = gatt.Characteristic(
            _HRM_UUID, gatt.Characteristic.Properties.NOTIFY, gatt.Characteristic.READABLE, b""
        )
        self._hrm_char.on(gatt.Characteristic.EVENT_SUBSCRIPTION, self._on_hrm_subscription)
        location = gatt.Characteristic(
            _BODY_SENSOR_LOCATION_UUID,
            gatt.Characteristic.Properties.READ,
            gatt.Characteristic.READABLE,
            bytes([_BODY_SENSOR_WRIST]),
        )
        return gatt.Service(_HRS_UUID, [self._hrm_char, location])

    def _served_services(self, device: Device) -> list[gatt.Service]:
        """The GATT database: the profile's services, emptied for a spoof, secured when asked."""
        services = self._build_services()
        generic = {gatt.GATT_BATTERY_SERVICE, gatt.GATT_DEVICE_INFORMATION_SERVICE}
        if self.spoof:
            services = [s for s in services if s.uuid in generic]
        if self.require_encryption:
            for service in services:
                if service.uuid not in generic:
                    for characteristic in service.characteristics:
                        _require_encryption(characteristic, device)
        return services

    # -- connections --------------------------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        self.stats.connections += 1
        logger.info("connection from %s", connection.peer_address)
        connection.on(Connection.EVENT_PAIRING, lambda _keys: self._on_pairing(connection))
        connection.on(
            Connection.EVENT_DISCONNECTION, lambda reason: self._on_disconnection(connection, reason)
        )

    def _on_pairing(self, connection: Connection) -> None:
        self.pairings += 1
        logger.info("paired with %s", connection.peer_address)

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        logger.info("%s disconnected (HCI reason 0x%02X)", connection.peer_address, reason)
        self._started.discard(connection)
        self._subscribed.discard(connection)
        for tasks in (self._streams, self._hr_tasks):
            task = tasks.pop(connection, None)
            if task is not None:
                task.cancel()
        if self.polar is not None:
            self.polar.on_disconnection(connection)
        if self.plx is not None:
            self.plx.on_disconnection(connection)

    async def _disconnect_periodically(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            device = self.device
            if device is None:
                return
            for connection in list(device.connections.values()):
                self.stats.disconnects += 1
                logger.info("fault injection: dropping the link to %s", connection.peer_address)
                # Stop the stream first, so every frame counted as sent is on the link before it drops.
                task = self._streams.pop(connection, None)
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                try:
                    await connection.disconnect(reason=hci.HCI_CONNECTION_TIMEOUT_ERROR)
                except hci.HCI_Error:  # a real controller only accepts the reasons the spec lists
                    with contextlib.suppress(Exception):
                        await connection.disconnect()

    # -- anyppg data stream -------------------------------------------------------------------------

    def _on_data_subscription(self, connection: Connection, notify: bool, _indicate: bool) -> None:
        if notify:
            self._subscribed.add(connection)
        else:
            self._subscribed.discard(connection)
        self._update_stream(connection)

    def _on_control_write(self, connection: Connection, value: bytes) -> None:
        try:
            command = ControlCommand.from_bytes(value)
        except ProtocolError as exc:
            logger.warning("rejected control write %s: %s", bytes(value).hex(), exc)
            raise att.ATT_Error(ATT_ERROR_REJECTED, message=str(exc)) from exc
        if command.opcode is ControlOpcode.START:
            try:
                self.pump.encoder(connection.att_mtu)
            except FieldRangeError as exc:
                logger.warning("START refused: MTU %d is too small (%s)", connection.att_mtu, exc)
                raise att.ATT_Error(ATT_ERROR_REJECTED, message=str(exc)) from exc
            self._started.add(connection)
        elif command.opcode is ControlOpcode.STOP:
            self._started.discard(connection)
        elif command.opcode is ControlOpcode.SET_RATE and not self._rate_supported(command.sample_rate_hz):
            logger.warning(
                "SET_RATE %s Hz refused: this device samples at %g Hz",
                command.sample_rate_hz,
                self.source.rate_hz,
            )
            raise att.ATT_Error(ATT_ERROR_REJECTED)
        self._update_stream(connection)

    def _rate_supported(self, rate_hz: float | None) -> bool:
        """The emulated sensor runs at its source's rate only (compared in millihertz, as on the wire)."""
        return rate_hz is not None and round(rate_hz * 1000) == round(self.source.rate_hz * 1000)

    def _update_stream(self, connection: Connection) -> None:
        """Run the data stream exactly while the client is subscribed and has written START."""
        running = connection in self._streams
        wanted = connection in self._started and connection in self._subscribed
        if wanted and not running:
            task = asyncio.get_running_loop().create_task(self._stream(connection))
            self._streams[connection] = task
        elif running and not wanted:
            task = self._streams.pop(connection)
            if connection not in self._sending:  # else it returns by itself once the frame is out
                task.cancel()

    async def _stream(self, connection: Connection) -> None:
        assert self.device is not None and self._data_char is not None
        mtu = connection.att_mtu
        logger.info("streaming to %s, MTU %d", connection.peer_address, mtu)
        async for frame in self.pump.frames(mtu):
            if frame is not None:
                # Never cancelled mid-send: a frame counted as sent always goes out (exact accounting).
                self._sending.add(connection)
                try:
                    await self.device.notify_subscriber(connection, self._data_char, frame)
                finally:
                    self._sending.discard(connection)
            else:
                await asyncio.sleep(0)
            if self._streams.get(connection) is not asyncio.current_task():
                return  # stopped while the frame was being sent

    # -- heart rate service -------------------------------------------------------------------------

    def _on_hrm_subscription(self, connection: Connection, notify: bool, _indicate: bool) -> None:
        task = self._hr_tasks.pop(connection, None)
        if task is not None:
            task.cancel()
        if notify:
            self._hr_tasks[connection] = asyncio.get_running_loop().create_task(self._heart_rate(connection))

    def heart_rate_measurement(self, t0_s: float, t1_s: float) -> HeartRateMeasurement | None:
        """The measurement for stream time ``[t0_s, t1_s)``: HR at ``t1_s``, RR intervals of beats in it,
        energy expended since power-on (kJ)."""
        beats = self.source.beats_between(t0_s - 3.0, t1_s)
        rr = tuple(float(x) for x in (beats[1:] - beats[:-1])[beats[1:] >= t0_s]) if beats.size >= 2 else ()
        hr = self.source.heart_rate_at(t1_s)
        if hr is None:
            if not rr:
                return None
            hr = 60.0 / (sum(rr) / len(rr))
        energy = min(0xFFFF, int(t1_s * _ENERGY_KJ_PER_S))  # cumulative kJ; 65535 means "at least"
        return HeartRateMeasurement(
            heart_rate=round(hr), rr_intervals=rr, sensor_contact=True, energy_expended=energy
        )

    async def _heart_rate(self, connection: Connection) -> None:
        assert self.device is not None and self._hrm_char is not None
        period = 1.0 / (self.speed or 1.0)
        t_prev = self.pump.stream_time_s
        warned = False
        while True:
            await asyncio.sleep(period)
            t_now = self.pump.stream_time_s if self.speed is not None else t_prev + 1.0
            measurement = self.heart_rate_measurement(t_prev, t_now)
            t_prev = t_now
            if measurement is None:
                if not warned:
                    logger.warning(
                        "source %s has no heart rate or beats: no HRS notifications", self.source.name
                    )
                    warned = True
                continue
            await self.device.notify_subscriber(connection, self._hrm_char, bytes(measurement))


def _require_encryption(characteristic: gatt.Characteristic, device: Device) -> None:
    """Make ``characteristic`` readable / writable, and its notifications subscribable, only when encrypted."""
    if characteristic.permissions & gatt.Characteristic.READABLE:
        characteristic.permissions |= gatt.Characteristic.READ_REQUIRES_ENCRYPTION
    if characteristic.permissions & gatt.Characteristic.WRITEABLE:
        characteristic.permissions |= gatt.Characteristic.WRITE_REQUIRES_ENCRYPTION
    subscribable = gatt.Characteristic.Properties.NOTIFY | gatt.Characteristic.Properties.INDICATE
    cccd_uuid = gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR
    if characteristic.properties & subscribable and characteristic.get_descriptor(cccd_uuid) is None:
        cccd = gatt.Descriptor(
            cccd_uuid,
            gatt.Descriptor.READABLE | gatt.Descriptor.WRITEABLE | gatt.Descriptor.WRITE_REQUIRES_ENCRYPTION,
            device.gatt_server.make_descriptor_value(characteristic),
        )
        characteristic.descriptors = [*characteristic.descriptors, cccd]


def _polar_service_uuid() -> str:
    from anyppg.firmware_bridge.polar import PMD_SERVICE_UUID

    return PMD_SERVICE_UUID


@contextlib.asynccontextmanager
async def emulated_ble(
    source: Source,
    *,
    profile: Profile = "anyppg",
    speed: float | None = 1.0,
    faults: FaultSpec | None = None,
    name: str | None = None,
    max_samples: int | None = None,
    require_encryption: bool = False,
    spoof: bool = False,
) -> AsyncIterator[InProcessBle]:
    """An emulated wearable and a bleak-ready central on one in-process bumble link.

    Yields an object with ``emulator`` (:class:`BleEmulator`), ``adapter``
    (:class:`~anyppg.sdk.bleak_bumble.BumbleAdapter` for ``BleakScanner`` / ``BleakClient``),
    ``name``, ``link`` and ``stats``. Everything is torn down on exit.

    Raises:
        EmulatorStartError: the emulated device could not start.
    """
    from anyppg.firmware_bridge.emulator.radio import VirtualRadio
    from anyppg.sdk.bleak_bumble import BumbleAdapter

    link = VirtualRadio()
    emulator = BleEmulator(
        source,
        profile=profile,
        speed=speed,
        faults=faults,
        name=name,
        max_samples=max_samples,
        require_encryption=require_encryption,
        spoof=spoof,
    )
    adapter = BumbleAdapter(link=link)
    try:
        await emulator.start(link=link)
        await adapter.open()
        yield InProcessBle(emulator, adapter, link)
    finally:
        await adapter.close()
        await emulator.stop()


class InProcessBle:
    """What :func:`emulated_ble` yields: the emulator, a central adapter on the same link, the link."""

    def __init__(self, emulator: BleEmulator, adapter, link: LocalLink) -> None:
        self.emulator = emulator
        self.adapter = adapter
        self.link = link

    @property
    def name(self) -> str:
        """The advertised name to scan for."""
        return self.emulator.name

    @property
    def stats(self) -> EmulatorStats:
        """The emulator's counters."""
        return self.emulator.stats

    @property
    def backends(self) -> tuple[type, type]:
        """``(scanner_backend, client_backend)`` for bleak."""
        return self.adapter.scanner_backend, self.adapter.client_backend
