"""Virtual Bluetooth controllers on one bumble ``LocalLink``, served as HCI over loopback TCP.

This is how an emulated wearable in one process and a central (``anyppg stream``, a bleak client on
:class:`~anyppg.sdk.bleak_bumble.BumbleAdapter`) in another share a radio: the emulator's process owns
the link; each TCP client that connects to :class:`HciServer` gets a fresh virtual controller on that
link and drives it with standard H4 HCI packets, exactly as it would drive a USB dongle
(bumble transport ``tcp-client:127.0.0.1:PORT``). It is bumble's ``controllers`` app with one
difference that matters across processes: when a client goes away, its controller's links are
terminated (the peripheral sees a supervision timeout, as when a phone walks out of range) and the
controller leaves the link, so the next client starts clean. Each client's controller is a
:class:`~.radio.VirtualController` (a connection attempt that times out is really cancelled).

Example::

    server = HciServer(link)
    port = await server.start(9001)        # central: BumbleAdapter("tcp-client:127.0.0.1:9001")
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging

from bumble import hci, ll
from bumble.link import LocalLink
from bumble.transport.common import StreamPacketSource

from anyppg.firmware_bridge.emulator.radio import VirtualController, VirtualRadio

__all__ = ["HciServer"]

logger = logging.getLogger(__name__)


class _ControllerSession(asyncio.Protocol):
    """One TCP client driving one virtual controller."""

    def __init__(self, server: HciServer, name: str) -> None:
        self.server = server
        self.name = name
        self.source = StreamPacketSource()
        self.transport: asyncio.Transport | None = None
        self.controller: VirtualController | None = None

    # bumble calls this to deliver controller -> host packets (already H4-framed)
    def on_packet(self, packet: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(packet)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.controller = VirtualController(
            self.name, host_source=self.source, host_sink=self, link=self.server.link
        )
        self.server.sessions.add(self)
        logger.info(
            "HCI client %s attached to controller %s", transport.get_extra_info("peername"), self.name
        )

    def data_received(self, data: bytes) -> None:
        self.source.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        logger.info("HCI client of %s left (%s)", self.name, exc or "closed")
        self.transport = None
        self.detach()

    def detach(self) -> None:
        """Terminate this controller's links, silence it and take it off the link."""
        controller, self.controller = self.controller, None
        self.server.sessions.discard(self)
        if controller is None:
            return
        for connection in list(controller.le_connections.values()):
            with contextlib.suppress(Exception):
                connection.send_ll_control_pdu(ll.TerminateInd(hci.HCI_CONNECTION_TIMEOUT_ERROR))
        controller.le_connections.clear()
        with contextlib.suppress(Exception):
            controller.le_legacy_advertiser.stop()
        for advertising_set in list(controller.advertising_sets.values()):
            with contextlib.suppress(Exception):
                advertising_set.stop()
        controller.host = None
        with contextlib.suppress(KeyError):
            self.server.link.remove_controller(controller)


class HciServer:
    """Serves virtual controllers on ``link`` to TCP clients speaking H4 HCI.

    Args:
        link: the link to attach controllers to (a new :class:`~.radio.VirtualRadio` when omitted).
        host: interface to listen on; keep the loopback unless you mean to expose a radio.
    """

    def __init__(self, link: LocalLink | None = None, host: str = "127.0.0.1") -> None:
        self.link = link or VirtualRadio()
        self.host = host
        self.sessions: set[_ControllerSession] = set()
        self._servers: list[asyncio.Server] = []
        self._names = (f"tcp-controller-{i}" for i in itertools.count())

    async def start(self, port: int = 0) -> int:
        """Listen on ``port`` (0: any free port) and return the port.

        Raises:
            OSError: the port is taken (the message names it).
        """
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _ControllerSession(self, next(self._names)), self.host, port
        )
        self._servers.append(server)
        actual = server.sockets[0].getsockname()[1]
        logger.info("HCI controllers served on %s:%d", self.host, actual)
        return int(actual)

    def transport_spec(self, port: int) -> str:
        """The bumble transport a central uses for ``port``: ``tcp-client:HOST:PORT``."""
        return f"tcp-client:{self.host}:{port}"

    async def close(self) -> None:
        """Stop listening and detach every client's controller (idempotent)."""
        for server in self._servers:
            server.close()
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.close()
            session.detach()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()

    async def __aenter__(self) -> HciServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
