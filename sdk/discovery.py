"""Finding wearables: scan, and say which profiles each device offers.

Example::

    import asyncio, anyppg

    async def main():
        for d in await anyppg.discover(timeout=5, prefix="Polar"):
            print(d.name, d.address, d.rssi, d.profiles, d.url)

    asyncio.run(main())

A device's profiles come from the service UUIDs it advertises (advertising data and scan response,
merged without duplicates): ``anyppg`` (our GATT service, scheme ``ble:``), ``polar`` (the Polar
Measurement Data service, ``polar:``), ``plx`` (Pulse Oximeter 0x1822, ``plx:``) and ``hrs`` (Heart
Rate 0x180D, ``hrs:``). A device that serves a profile without advertising it is listed without it;
connecting tells for sure.

The same scan finds the device a ``ble:`` / ``polar:`` / ``hrs:`` / ``plx:`` URL names
(:class:`DeviceMatcher`): an exact advertised name or address (case-insensitive), ``PREFIX*`` (the
first device whose name starts with ``PREFIX``), or ``*`` (the first device advertising the scheme's
profile).

The Bluetooth stack is picked as for URLs (:mod:`anyppg.sdk.transports.bluetooth`): an injected
:class:`~anyppg.sdk.bleak_bumble.BumbleAdapter` (``adapter=``), a bumble HCI transport
(``transport="tcp-client:127.0.0.1:9001"``, ``"usb:0"``), or else bleak's backend for the operating
system.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from anyppg.errors import AnyPPGError, DeviceNotFoundError
from anyppg.firmware_bridge.gatt import ANYPPG_SERVICE_UUID
from anyppg.firmware_bridge.hrs import HEART_RATE_SERVICE_UUID
from anyppg.firmware_bridge.plx import PLX_SERVICE_UUID
from anyppg.firmware_bridge.polar import PMD_SERVICE_UUID

__all__ = [
    "PROFILE_SCHEMES",
    "PROFILE_SERVICES",
    "DeviceMatcher",
    "DiscoveredDevice",
    "ServiceFilterError",
    "discover",
    "find_device",
    "profiles_of",
    "resolve_services",
]

log = logging.getLogger(__name__)

#: profile -> the GATT service UUID that announces it, in order of preference (richest data first).
PROFILE_SERVICES: dict[str, str] = {
    "anyppg": ANYPPG_SERVICE_UUID,
    "polar": PMD_SERVICE_UUID,
    "plx": PLX_SERVICE_UUID,
    "hrs": HEART_RATE_SERVICE_UUID,
}

#: profile -> the device URL scheme that streams it.
PROFILE_SCHEMES: dict[str, str] = {"anyppg": "ble", "polar": "polar", "plx": "plx", "hrs": "hrs"}

_SCHEME_PROFILES = {scheme: profile for profile, scheme in PROFILE_SCHEMES.items()}


class ServiceFilterError(AnyPPGError, ValueError):
    """A service filter is neither a profile name nor a Bluetooth UUID.

    Attributes:
        value: the filter as given.
    """

    def __init__(self, value: str) -> None:
        super().__init__(
            f"service filter {value!r}: expected a profile ({', '.join(PROFILE_SERVICES)}) or a "
            "16-bit (180d) or 128-bit UUID"
        )
        self.value = value


def _normalize_uuid(text: str) -> str:
    from anyppg.sdk.transports.ble_security import normalize_uuid

    return normalize_uuid(text)


def resolve_services(items: Iterable[str]) -> tuple[str, ...]:
    """Profile names (``hrs``) and UUIDs (``180d``, 128-bit) as bleak's 128-bit UUIDs, deduplicated.

    Raises:
        ServiceFilterError: an item is neither a profile name nor a UUID.
    """
    resolved: list[str] = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        uuid = PROFILE_SERVICES.get(text.lower())
        if uuid is None:
            try:
                uuid = _normalize_uuid(text)
            except ValueError:
                raise ServiceFilterError(text) from None
        if uuid not in resolved:
            resolved.append(uuid)
    return tuple(resolved)


def profiles_of(service_uuids: Iterable[str]) -> tuple[str, ...]:
    """The profiles a set of advertised service UUIDs announces, in :data:`PROFILE_SERVICES` order."""
    advertised = {u.lower() for u in service_uuids}
    return tuple(profile for profile, uuid in PROFILE_SERVICES.items() if uuid in advertised)


@dataclass(frozen=True)
class DiscoveredDevice:
    """One device a scan saw.

    Attributes:
        name: the advertised local name (None when it advertises none).
        address: the Bluetooth address as the OS stack gives it (``AA:BB:CC:DD:EE:FF``; a UUID on
            macOS).
        rssi: received signal strength of the last advertisement (dBm; None when unknown).
        service_uuids: advertised service UUIDs (advertisement and scan response, first seen first,
            no duplicates).
        profiles: what the device offers, from :data:`PROFILE_SERVICES` (``"anyppg"``, ``"polar"``,
            ``"plx"``, ``"hrs"``).
        transport: the bumble HCI transport it was seen through (None: the OS stack or an injected
            adapter); part of :attr:`url`.
        ble_device: bleak's ``BLEDevice`` (pass it to ``BleakClient``); not compared or printed.
    """

    name: str | None
    address: str
    rssi: int | None
    service_uuids: tuple[str, ...]
    profiles: tuple[str, ...]
    transport: str | None = None
    ble_device: Any = field(default=None, repr=False, compare=False)
    _target: str | None = field(default=None, repr=False, compare=False)

    @property
    def urls(self) -> tuple[str, ...]:
        """A device URL per profile (``ble:NAME``, ``hrs:NAME``...), best first.

        The target is the name when no other device seen in the same scan has it, else the address.
        """
        target = self._target or self.name or self.address
        suffix = f"?transport={self.transport}" if self.transport else ""
        return tuple(f"{PROFILE_SCHEMES[p]}:{target}{suffix}" for p in self.profiles)

    @property
    def url(self) -> str | None:
        """The URL of the richest profile (:attr:`urls` first), or None when no profile is advertised."""
        urls = self.urls
        return urls[0] if urls else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``anyppg scan --json`` lists)."""
        return {
            "name": self.name,
            "address": self.address,
            "rssi": self.rssi,
            "profiles": list(self.profiles),
            "service_uuids": list(self.service_uuids),
            "url": self.url,
            "urls": list(self.urls),
        }


@dataclass(frozen=True)
class DeviceMatcher:
    """Which devices a scan is looking for; every given criterion must hold.

    Attributes:
        identifier: an exact advertised name or address (case-insensitive).
        prefix: the start of the advertised name (case-insensitive).
        services: the device must advertise at least one of these service UUIDs (128-bit, lower case).
    """

    identifier: str | None = None
    prefix: str | None = None
    services: tuple[str, ...] = ()

    @classmethod
    def from_target(cls, target: str, scheme: str = "ble") -> DeviceMatcher:
        """The matcher of a URL target: ``NAME`` or ``ADDRESS``, ``PREFIX*``, or ``*``.

        ``*`` alone matches any device advertising the scheme's profile (``ble:`` the anyppg
        service, ``polar:`` PMD, ``hrs:`` Heart Rate, ``plx:`` Pulse Oximeter).
        """
        text = target.strip()
        if text == "*":
            profile = _SCHEME_PROFILES.get(scheme)
            return cls(services=(PROFILE_SERVICES[profile],) if profile else ())
        if text.endswith("*"):
            return cls(prefix=text[:-1])
        return cls(identifier=text)

    def describe(self) -> str:
        """What is looked for, in words (for error messages)."""
        parts = []
        if self.identifier is not None:
            parts.append(repr(self.identifier))
        if self.prefix is not None:
            parts.append(f"a name starting with {self.prefix!r}")
        if self.services:
            names = [p for p, u in PROFILE_SERVICES.items() if u in self.services]
            names += [u for u in self.services if u not in PROFILE_SERVICES.values()]
            parts.append("advertising " + " or ".join(names))
        return ", ".join(parts) or "any device"

    def matches(self, name: str | None, address: str, service_uuids: Iterable[str]) -> bool:
        """True when a device with this advertised name, address and services is looked for."""
        if self.identifier is not None:
            wanted = self.identifier.lower()
            if wanted != address.lower() and wanted != (name or "").lower():
                return False
        if self.prefix is not None and not (name or "").lower().startswith(self.prefix.lower()):
            return False
        if self.services:
            advertised = {u.lower() for u in service_uuids}
            if not advertised.intersection(self.services):
                return False
        return True


class _Sightings:
    """What one scan saw, per address: the last BLEDevice, name and RSSI, the union of service UUIDs."""

    def __init__(self) -> None:
        self.devices: dict[str, tuple[Any, str | None, int | None, list[str]]] = {}

    def add(self, device: Any, adv: Any) -> tuple[str | None, list[str]]:
        previous = self.devices.get(device.address)
        uuids = previous[3] if previous is not None else []
        for uuid in adv.service_uuids or ():
            text = str(uuid).lower()
            if text not in uuids:
                uuids.append(text)
        name = adv.local_name or device.name or (previous[1] if previous is not None else None)
        self.devices[device.address] = (device, name, adv.rssi, uuids)
        return name, uuids

    def discovered(self, transport: str | None) -> list[DiscoveredDevice]:
        names = [entry[1] for entry in self.devices.values() if entry[1]]
        found = []
        for address, (device, name, rssi, uuids) in self.devices.items():
            target = name if name and names.count(name) == 1 else address
            found.append(
                DiscoveredDevice(
                    name=name,
                    address=address,
                    rssi=rssi,
                    service_uuids=tuple(uuids),
                    profiles=profiles_of(uuids),
                    transport=transport,
                    ble_device=device,
                    _target=target,
                )
            )
        return found

    def summary(self) -> list[str]:
        """``NAME (ADDRESS)`` of every device seen, sorted (for :class:`DeviceNotFoundError`)."""
        return sorted(f"{n} ({a})" if n else a for a, (_d, n, _r, _u) in self.devices.items())


async def _scan(
    scanner_backend: Any,
    matcher: DeviceMatcher,
    timeout: float,
    limit: int | None,
    sightings: _Sightings,
    accept: Callable[[Any], bool] | None = None,
) -> list[str]:
    """Scan for ``timeout`` seconds, or until ``limit`` matching devices were seen; their addresses."""
    from bleak import BleakScanner

    matched: list[str] = []
    enough = asyncio.get_running_loop().create_future()

    def on_advertisement(device: Any, adv: Any) -> None:
        name, uuids = sightings.add(device, adv)
        if device.address in matched or not matcher.matches(name, device.address, uuids):
            return
        if accept is not None and not accept(device):
            return
        matched.append(device.address)
        if limit is not None and len(matched) >= limit and not enough.done():
            enough.set_result(None)

    async with BleakScanner(on_advertisement, backend=scanner_backend):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(enough), timeout)
    return matched


async def find_device(
    matcher: DeviceMatcher,
    scanner_backend: Any | None,
    timeout: float,
    *,
    accept: Callable[[Any], bool] | None = None,
    identifier: str | None = None,
) -> Any:
    """Scan until a device ``matcher`` accepts is seen; its bleak ``BLEDevice``.

    Concurrent calls on the same backend (a gateway opening many URLs at once) share one scan.

    Args:
        matcher: what to look for.
        scanner_backend: a bleak scanner backend class (``BumbleAdapter.scanner_backend``), or None
            for the operating system's.
        timeout: longest scan (seconds).
        accept: a further test of a matching ``BLEDevice`` (an address allow-list); a device it
            refuses is skipped and the scan goes on.
        identifier: what the error names as searched for (default: ``matcher`` in words).

    Raises:
        DeviceNotFoundError: nothing matched within ``timeout`` (names what the scan saw).
        BleakError, OSError: the Bluetooth stack failed (callers map these to SDK errors).
    """
    scan = _SharedScan.for_backend(scanner_backend)
    return await scan.find(matcher, accept, timeout, identifier or matcher.describe())


class _Waiter:
    """One :func:`find_device` call waiting on a shared scan."""

    def __init__(self, matcher: DeviceMatcher, accept: Callable[[Any], bool] | None) -> None:
        self.matcher = matcher
        self.accept = accept
        self.found: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def offer(self, device: Any, name: str | None, uuids: list[str]) -> None:
        if self.found.done() or not self.matcher.matches(name, device.address, uuids):
            return
        if self.accept is None or self.accept(device):
            self.found.set_result(device)


class _SharedScan:
    """One ``BleakScanner`` for every :func:`find_device` call waiting on the same Bluetooth backend.

    Opening 100 device URLs at once would otherwise run 100 scanners, each handed every
    advertisement: the cost per advertisement grows with the number of waiters, and with 100+
    devices advertising the event loop saturates before the first connection. Here each
    advertisement is looked up once: waiters for an exact name or address in a dict, ``PREFIX*`` /
    ``*`` waiters in a list. The scanner starts with the first waiter and stops with the last.
    """

    _scans: ClassVar[dict[tuple[int, Any], _SharedScan]] = {}

    def __init__(self, backend: Any | None, key: tuple[int, Any]) -> None:
        self.backend = backend
        self.key = key
        self.sightings = _Sightings()
        self.exact: dict[str, list[_Waiter]] = {}
        self.others: list[_Waiter] = []
        self.users = 0
        self.scanner: Any = None
        self.lock = asyncio.Lock()

    @classmethod
    def for_backend(cls, backend: Any | None) -> _SharedScan:
        # bumble backends are classes made per access and bound to one adapter: share per adapter
        key = (id(asyncio.get_running_loop()), getattr(backend, "default_adapter", None) or backend)
        scan = cls._scans.get(key)
        if scan is None:
            scan = cls._scans[key] = cls(backend, key)
        return scan

    async def find(
        self, matcher: DeviceMatcher, accept: Callable[[Any], bool] | None, timeout: float, identifier: str
    ) -> Any:
        waiter = _Waiter(matcher, accept)
        bucket = self.exact.setdefault(matcher.identifier.lower(), []) if matcher.identifier else self.others
        bucket.append(waiter)
        self.users += 1
        try:
            await self._start()
            try:
                return await asyncio.wait_for(asyncio.shield(waiter.found), timeout)
            except TimeoutError:
                raise DeviceNotFoundError(identifier, self.sightings.summary()) from None
        finally:
            bucket.remove(waiter)
            if matcher.identifier and not bucket:
                self.exact.pop(matcher.identifier.lower(), None)
            self.users -= 1
            await self._stop_if_unused()

    async def _start(self) -> None:
        from bleak import BleakScanner

        async with self.lock:
            if self.scanner is None:
                scanner = BleakScanner(self._on_advertisement, backend=self.backend)
                await scanner.start()
                self.scanner = scanner

    async def _stop_if_unused(self) -> None:
        async with self.lock:
            if self.users:
                return
            if self._scans.get(self.key) is self:
                del self._scans[self.key]
            scanner, self.scanner = self.scanner, None
            if scanner is not None:
                await scanner.stop()

    def _on_advertisement(self, device: Any, adv: Any) -> None:
        name, uuids = self.sightings.add(device, adv)
        for key in {device.address.lower(), (name or "").lower()}:
            for waiter in self.exact.get(key, ()):
                waiter.offer(device, name, uuids)
        for waiter in self.others:
            waiter.offer(device, name, uuids)


async def discover(
    timeout: float = 5.0,
    *,
    prefix: str | None = None,
    services: Sequence[str] = (),
    limit: int | None = None,
    transport: str | None = None,
    adapter: Any | None = None,
) -> list[DiscoveredDevice]:
    """Scan and list the devices seen, strongest signal first.

    Args:
        timeout: how long to scan (seconds); the scan ends earlier once ``limit`` devices matched.
        prefix: keep devices whose advertised name starts with this (case-insensitive).
        services: keep devices advertising at least one of these: profile names (``anyppg``,
            ``polar``, ``plx``, ``hrs``) or service UUIDs (``180d``, 128-bit).
        limit: stop as soon as this many devices matched.
        transport: a bumble HCI transport to scan through instead of the OS stack (``usb:0``,
            ``tcp-client:127.0.0.1:9001``); opened and closed here.
        adapter: an open or unopened :class:`~anyppg.sdk.bleak_bumble.BumbleAdapter` to scan
            through (injection; left open).

    Returns:
        The matching devices, by RSSI (strongest first), then name.

    Raises:
        ServiceFilterError: a service filter is neither a profile name nor a UUID.
        ValueError: ``timeout`` is not positive, ``limit`` is below 1, or both ``transport`` and
            ``adapter`` were given.
        TransportUnavailableError: no Bluetooth stack or adapter to scan with (names the fix).
        ConnectionFailedError: the Bluetooth stack failed during the scan.
    """
    if not timeout > 0:
        raise ValueError(f"discover: timeout={timeout!r}; expected a positive number of seconds")
    if limit is not None and limit < 1:
        raise ValueError(f"discover: limit={limit!r}; expected at least 1")
    if transport is not None and adapter is not None:
        raise ValueError("discover: give transport= or adapter=, not both")
    matcher = DeviceMatcher(prefix=prefix, services=resolve_services(services))
    sightings = _Sightings()
    owned = None
    try:
        if transport is not None:
            from anyppg.sdk.bleak_bumble import BumbleAdapter

            owned = adapter = BumbleAdapter(transport)
            await _open(adapter, transport)
        backend = adapter.scanner_backend if adapter is not None else None
        matched = await _scan(backend, matcher, timeout, limit, sightings)
    except Exception as exc:
        error = _scan_error(exc)
        if error is exc:
            raise
        raise error from exc
    finally:
        if owned is not None:
            with contextlib.suppress(Exception):
                await owned.close()
    wanted = set(matched)
    found = [d for d in sightings.discovered(transport) if d.address in wanted]
    found.sort(key=lambda d: (d.rssi is None, -(d.rssi or 0), d.name or "", d.address))
    log.info("scan: %d of %d devices seen matched %s", len(found), len(sightings.devices), matcher.describe())
    return found


async def _open(adapter: Any, transport: str) -> None:
    from anyppg.sdk.errors import TransportUnavailableError

    try:
        await adapter.open()
    except Exception as exc:  # bumble raises OSError, ValueError or its own types per transport
        cause = exc.__cause__ or exc
        raise TransportUnavailableError(
            "ble",
            reason=f"cannot open the HCI transport {transport!r} ({type(cause).__name__}: {cause})",
            fix="plug in the dongle (usb:N) or start the emulator (anyppg emulate --hci-port PORT) that"
            " the spec names",
        ) from exc


def _scan_error(exc: Exception) -> Exception:
    """``exc`` as the SDK's one-line error when the Bluetooth stack raised it, else unchanged."""
    from anyppg.sdk.errors import TransportUnavailableError
    from anyppg.sdk.transports.ble_errors import link_error, link_error_types

    if isinstance(exc, AnyPPGError) or not isinstance(exc, link_error_types()):
        return exc
    error = link_error("Bluetooth discovery", "ble", "scan", exc)
    if isinstance(error, TransportUnavailableError):  # name the fix in discover()'s own terms
        return TransportUnavailableError(error.scheme, reason=error.reason, fix=_NO_STACK_FIX)
    return error


_NO_STACK_FIX = (
    "start BlueZ (bluetoothd) and power the adapter on, or scan through a USB Bluetooth dongle without "
    'BlueZ (transport="usb:0", anyppg scan --hci usb:0), or reach an emulator started with '
    '"anyppg emulate --hci-port 9001" (transport="tcp-client:127.0.0.1:9001")'
)
