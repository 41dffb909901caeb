"""What the BLE transports share: picking the bleak backend, scanning, connecting, losing the link.

Only bleak's public API is used (``BleakScanner``, ``BleakClient``). The backend is picked here, in one
place: an injected :class:`~anyppg.sdk.bleak_bumble.BumbleAdapter` (``adapter=``, e.g. a virtual
device on a ``LocalLink``), or a bumble HCI transport from the URL (``?transport=usb:0``,
``?transport=tcp-client:127.0.0.1:9000``: a USB dongle without BlueZ, or an emulator in another
process), or else bleak's own backend for the operating system (BlueZ, CoreBluetooth, WinRT).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from anyppg.errors import DeviceError, DeviceNotFoundError
from anyppg.sdk.errors import LinkLostError
from anyppg.sdk.transports.base import Transport
from anyppg.sdk.urls import DeviceURL

__all__ = ["LINK_LOST", "BleakLink"]

log = logging.getLogger(__name__)

#: queue marker put by the disconnected callback.
LINK_LOST = object()


class BleakLink(Transport):
    """Base of ``ble:`` and ``polar:``: finds the device, connects, tracks disconnection.

    Subclasses implement :meth:`start_streaming` (subscribe, start the sensor) and push what they
    decode into :attr:`inbox`.

    Args:
        url: the device URL (target: advertised name or address).
        adapter: a bumble adapter to use instead of the OS Bluetooth stack (injection).
    """

    def __init__(self, url: DeviceURL, adapter: Any | None = None, **kwargs: Any) -> None:
        super().__init__(url)
        self.identifier = url.target
        self.scan_timeout = url.option_float("timeout", 10.0)
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
        return {"scanner": self._adapter.scanner_backend, "client": self._adapter.client_backend}

    async def _scan(self, backends: dict[str, Any]) -> Any:
        from bleak import BleakScanner

        wanted = self.identifier.lower()
        seen: dict[str, str] = {}
        found: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_advertisement(device: Any, adv: Any) -> None:
            name = adv.local_name or device.name or ""
            seen[device.address] = f"{name} ({device.address})" if name else device.address
            if not found.done() and wanted in (name.lower(), device.address.lower()):
                found.set_result(device)

        scanner = BleakScanner(on_advertisement, backend=backends.get("scanner"))
        async with scanner:
            try:
                return await asyncio.wait_for(found, self.scan_timeout)
            except TimeoutError:
                raise DeviceNotFoundError(self.identifier, sorted(seen.values())) from None

    async def connect(self) -> None:
        """Scan for the device, connect, raise the MTU and start the stream.

        Raises:
            DeviceNotFoundError: the scan did not see the device (names what it saw).
            DeviceError: the connection or the service set-up failed.
        """
        from bleak import BleakClient
        from bleak.exc import BleakError

        backends = self._backends()
        device = await self._scan(backends)
        self._closing = False
        self.inbox = asyncio.Queue()
        client = BleakClient(
            device, disconnected_callback=self._on_disconnected, backend=backends.get("client")
        )
        try:
            await client.connect()
            self.client = client
            await self.start_streaming(client)
        except (BleakError, TimeoutError, OSError) as exc:
            with contextlib.suppress(Exception):
                await client.disconnect()
            raise DeviceError(f"{self.identifier}: connection set-up failed: {exc}") from exc
        log.info("%s: connected, MTU %d", self.identifier, self.mtu)

    async def start_streaming(self, client: Any) -> None:
        """Subscribe and start the sensor (subclasses)."""
        raise NotImplementedError

    async def stop_streaming(self, client: Any) -> None:
        """Stop the sensor and unsubscribe (subclasses); may be called on a dead link."""

    async def disconnect(self) -> None:
        """Stop and disconnect; tolerant of a dead link (bleak raises on ``stop_notify`` there)."""
        from bleak.exc import BleakError

        self._closing = True
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(BleakError, DeviceError, OSError, TimeoutError, AttributeError):
                await self.stop_streaming(client)
            with contextlib.suppress(BleakError, OSError, TimeoutError):
                await client.disconnect()
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
            LinkLostError: the device disconnected.
        """
        item = await self.inbox.get()
        if item is LINK_LOST:
            raise LinkLostError(self.identifier, "BLE link dropped")
        return item
