"""What the BLE transports share: picking the bleak backend, scanning, connecting, losing the link.

Only bleak's public API is used (``BleakScanner``, ``BleakClient``). The backend is picked here, in one
place: an injected :class:`~anyppg.sdk.bleak_bumble.BumbleAdapter` (``adapter=``, e.g. a virtual
device on a ``LocalLink``), or a bumble HCI transport from the URL (``?transport=usb:0``,
``?transport=tcp-client:127.0.0.1:9000``: a USB dongle without BlueZ, or an emulator in another
process), or else bleak's own backend for the operating system (BlueZ, CoreBluetooth, WinRT).

Connecting is: open the adapter, scan (devices outside the ``address=`` allow-list are skipped),
connect, check that the device serves the scheme's GATT profile (and the ``service=`` list), pair or
encrypt when the URL asks (``pair=1``, ``encrypt=1``, see :mod:`.ble_security`), then start the stream.
Every failure on the way is one ``DeviceError`` naming the device, the stage and the cause
(:mod:`.ble_errors`); a missing Bluetooth stack is a ``TransportUnavailableError`` with the fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, ClassVar

from anyppg.errors import DeviceError, DeviceNotFoundError
from anyppg.sdk.errors import (
    DeviceNotAllowedError,
    LinkLostError,
    NotConnectedError,
    TransportUnavailableError,
)
from anyppg.sdk.transports.base import Transport
from anyppg.sdk.transports.ble_errors import link_error, link_error_types
from anyppg.sdk.transports.ble_security import SecurityOptions, check_profile
from anyppg.sdk.urls import DeviceURL

__all__ = ["LINK_LOST", "BleakLink"]

log = logging.getLogger(__name__)

#: queue marker put by the disconnected callback.
LINK_LOST = object()


class BleakLink(Transport):
    """Base of ``ble:`` and ``polar:``: finds the device, connects, tracks disconnection.

    Subclasses name their GATT profile (:attr:`profile_name`, :attr:`required_characteristics`,
    checked before anything is subscribed), implement :meth:`start_streaming` (subscribe, start the
    sensor) and push what they decode into :attr:`inbox`.

    Args:
        url: the device URL (target: advertised name or address; security options in
            :mod:`.ble_security`).
        adapter: a bumble adapter to use instead of the OS Bluetooth stack (injection).

    Raises:
        DeviceURLError: a security option is malformed.
    """

    #: the GATT profile this scheme streams from (named in :class:`ProfileMismatchError`).
    profile_name: ClassVar[str] = "BLE"
    #: characteristic UUIDs the device must serve; checked right after connecting.
    required_characteristics: ClassVar[tuple[str, ...]] = ()

    def __init__(self, url: DeviceURL, adapter: Any | None = None, **kwargs: Any) -> None:
        super().__init__(url)
        self.identifier = url.target
        self.scan_timeout = url.option_float("timeout", 10.0)
        self.security = SecurityOptions.from_url(url)
        self._adapter = adapter
        self._owns_adapter = False
        self.client: Any = None
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._closing = False

    @property
    def name(self) -> str:
        return self.identifier

    @property
    def is_connected(self) -> bool:
        return self.client is not None and self.client.is_connected

    @property
    def mtu(self) -> int:
        """The negotiated ATT MTU (bytes); notifications carry at most ``mtu - 3``."""
        return int(self.client.mtu_size) if self.client is not None else 23

    def _backends(self) -> dict[str, Any]:
        if self._adapter is None and "transport" in self.url.options:
            from anyppg.sdk.bleak_bumble import BumbleAdapter

            self._adapter = BumbleAdapter(self.url.options["transport"])
            self._owns_adapter = True
        if self._adapter is None:
            return {}
        if self.security.keystore is not None:
            self._adapter.use_keystore(self.security.keystore)
        return {"scanner": self._adapter.scanner_backend, "client": self._adapter.client_backend}

    @property
    def link_errors(self) -> tuple[type[BaseException], ...]:
        """Exception types that mean a link-level failure (retried by the device's reconnect loop)."""
        return link_error_types()

    def _error(self, stage: str, exc: BaseException) -> DeviceError:
        return link_error(self.identifier, self.url.scheme, stage, exc, secured=self.security.encrypt)

    async def _open_adapter(self) -> None:
        """Power on an adapter opened from ``transport=`` now, so that a missing one is named as such.

        Raises:
            TransportUnavailableError: the HCI transport cannot be opened (names the spec and the fix).
        """
        if not self._owns_adapter or self._adapter is None:
            return
        spec = self.url.options["transport"]
        try:
            await self._adapter.open()
        except Exception as exc:  # bumble raises OSError, ValueError or its own types per transport
            cause = exc.__cause__ or exc
            raise TransportUnavailableError(
                self.url.scheme,
                reason=f"cannot open the HCI transport {spec!r} ({type(cause).__name__}: {cause})",
                fix="plug in the dongle (usb:N) or start the emulator (anyppg emulate --hci-port PORT)"
                " that the spec names",
            ) from exc

    async def _find(self, backends: dict[str, Any]) -> Any:
        """Scan for the device; one that matches but is outside the address allow-list is skipped.

        Raises:
            DeviceNotFoundError: nothing matched the name or address within the scan timeout.
            DeviceNotAllowedError: only devices outside the allow-list matched (names their addresses).
        """
        rejected: list[str] = []

        def allowed(device: Any) -> bool:
            if self.security.allows(device.address):
                return True
            if device.address.upper() not in rejected:
                log.warning("%s: skipping %s: not in the address allow-list", self.identifier, device.address)
                rejected.append(device.address.upper())
            return False

        try:
            return await self._scan(backends, allowed if self.security.addresses else None)
        except DeviceNotFoundError:
            if rejected:
                raise DeviceNotAllowedError(
                    self.identifier, list(self.security.addresses), rejected
                ) from None
            raise

    async def _scan(self, backends: dict[str, Any], accept: Callable[[Any], bool] | None = None) -> Any:
        """Scan for the device the URL names: its advertised name or address (case-insensitive),
        ``PREFIX*`` (the first name starting with it) or ``*`` (the first device advertising the
        scheme's profile); see :class:`~anyppg.sdk.discovery.DeviceMatcher`. A match that ``accept``
        refuses is skipped.

        Raises:
            DeviceNotFoundError: nothing matched within the scan timeout (names what the scan saw).
        """
        from anyppg.sdk.discovery import DeviceMatcher, find_device

        matcher = DeviceMatcher.from_target(self.identifier, scheme=self.url.scheme)
        return await find_device(
            matcher, backends.get("scanner"), self.scan_timeout, accept=accept, identifier=self.identifier
        )

    async def connect(self) -> None:
        """Scan, connect, check the profile, secure the link when asked, and start the stream.

        Raises:
            TransportUnavailableError: no Bluetooth stack or adapter (no BlueZ, adapter off, the HCI
                transport cannot be opened); the message says how to fix it.
            DeviceNotFoundError: the scan did not see the device (names what it saw).
            DeviceNotAllowedError: only devices outside the ``address=`` allow-list matched.
            ProfileMismatchError: the device does not serve the scheme's profile or a ``service=``.
            LinkSecurityError: pairing or encryption failed, or the device requires it and the URL
                did not ask for it.
            ConnectionFailedError: any other failure of the link (bleak, bumble, HCI, timeout).
            StreamFormatError, DeviceError: the device's stream set-up failed (subclasses).
        """
        from bleak import BleakClient

        errors = self.link_errors
        self._closing = False
        self.inbox = asyncio.Queue()
        stage = "open the adapter"
        try:
            backends = self._backends()
            await self._open_adapter()
            stage = "scan"
            device = await self._find(backends)
        except BaseException as exc:
            await self._release_adapter()
            if isinstance(exc, errors):
                raise self._error(stage, exc) from exc
            raise
        client = BleakClient(
            device, disconnected_callback=self._on_disconnected, backend=backends.get("client")
        )
        stage = "connect"
        try:
            await client.connect()
            self.client = client
            check_profile(
                self.identifier,
                client.services,
                self.profile_name,
                self.required_characteristics,
                self.security.services,
            )
            if self.security.encrypt:
                stage = "pairing"
                # encrypt=1 alone: only a device that proves the stored bond (no new pairing)
                await client.pair(new_pairing=self.security.pair)
            stage = "set-up"
            await self.start_streaming(client)
        except Exception as exc:
            self.client = None
            self._closing = True  # the disconnect below is ours: no LINK_LOST marker
            with contextlib.suppress(*errors, DeviceError):
                await client.disconnect()
            await self._release_adapter()
            # CoreBluetooth cannot pair on request (macOS pairs when a protected value is first read)
            if isinstance(exc, errors) or (stage == "pairing" and isinstance(exc, NotImplementedError)):
                raise self._error(stage, exc) from exc
            raise
        log.info(
            "%s: connected to %s, MTU %d%s",
            self.identifier,
            device.address,
            self.mtu,
            ", paired and encrypted" if self.security.encrypt else "",
        )

    async def start_streaming(self, client: Any) -> None:
        """Subscribe and start the sensor (subclasses)."""
        raise NotImplementedError

    async def stop_streaming(self, client: Any) -> None:
        """Stop the sensor and unsubscribe (subclasses); may be called on a dead link."""

    async def disconnect(self) -> None:
        """Stop and disconnect; tolerant of a dead link (bleak raises on ``stop_notify`` there)."""
        self._closing = True
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(*self.link_errors, DeviceError, AttributeError):
                await self.stop_streaming(client)
            with contextlib.suppress(*self.link_errors):
                await client.disconnect()
        await self._release_adapter()

    async def _release_adapter(self) -> None:
        """Close the adapter this link opened from ``transport=`` (an injected one is left alone)."""
        if self._owns_adapter and self._adapter is not None:
            with contextlib.suppress(Exception):
                await self._adapter.close()
            self._adapter = None
            self._owns_adapter = False

    def _on_disconnected(self, client: Any) -> None:
        if not self._closing:
            self.inbox.put_nowait(LINK_LOST)

    async def next_item(self) -> Any:
        """The next decoded item from :attr:`inbox`.

        Raises:
            NotConnectedError: :meth:`connect` has not been called (or the link was closed).
            LinkLostError: the device disconnected.
        """
        if self.client is None and self.inbox.empty():
            raise NotConnectedError(self.identifier, "stream()")
        item = await self.inbox.get()
        if item is LINK_LOST:
            raise LinkLostError(self.identifier, "BLE link dropped")
        return item
