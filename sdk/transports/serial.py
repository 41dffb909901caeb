"""``serial:<port>[?baud=N]``: the anyppg frame protocol over a serial port, a pty, or a pyserial URL.

``<port>`` is anything :func:`serial.serial_for_url` opens: ``/dev/ttyACM0``, ``COM3``,
``socket://host:port``, ``rfc2217://...``, ``loop://``. Reads run in a worker thread in large blocks
with a short timeout, so the event loop never blocks and ``socket://`` (whose ``in_waiting`` is only
ever 0 or 1) is read efficiently. A pty ignores the baud rate. Reading a pty whose other end closed
raises ``EIO``; that is reported as a lost link, and :class:`anyppg.sdk.Device` reconnects.

Options: ``baud=N`` (default 921600), ``read_size=N`` bytes per read (default 65536),
``timeout=S`` read timeout in seconds (default 0.02).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from anyppg.errors import DeviceError, DeviceNotFoundError
from anyppg.firmware_bridge.gatt import ControlCommand, control_frame
from anyppg.sdk.errors import LinkLostError, TransportUnavailableError
from anyppg.sdk.samples import SampleBlock
from anyppg.sdk.transports.base import Transport
from anyppg.sdk.transports.framed import FrameDecoder
from anyppg.sdk.urls import DeviceURL

__all__ = ["SerialTransport"]

log = logging.getLogger(__name__)


class SerialTransport(Transport):
    """Reads anyppg frames from a serial port.

    Args:
        url: ``serial:`` URL.
        port: an already open pyserial port to use instead of opening ``url.target`` (injection).
    """

    def __init__(self, url: DeviceURL, port: Any | None = None, **kwargs: Any) -> None:
        super().__init__(url)
        self.baud = url.option_int("baud", 921600)
        self.read_size = url.option_int("read_size", 65536)
        self.timeout = url.option_float("timeout", 0.02)
        self._port = port
        self._injected = port is not None
        self.decoder = FrameDecoder(str(url))

    @property
    def name(self) -> str:
        return self.url.target

    @property
    def corrupt_frames(self) -> int:
        return self.decoder.corrupt_frames

    @property
    def is_connected(self) -> bool:
        return self._port is not None and bool(self._port.is_open)

    async def connect(self) -> None:
        """Open the port and ask the device to start streaming.

        Raises:
            DeviceNotFoundError: the port does not exist or cannot be opened.
            TransportUnavailableError: pyserial is not installed.
        """
        try:
            import serial
        except ImportError:
            raise TransportUnavailableError("serial", "pip install pyserial==3.5") from None
        if not self._injected:
            try:
                self._port = await asyncio.to_thread(
                    serial.serial_for_url, self.url.target, baudrate=self.baud, timeout=self.timeout
                )
            except (serial.SerialException, OSError, ValueError) as exc:
                raise DeviceNotFoundError(self.url.target, _list_ports()) from exc
        self.decoder.reset()
        with contextlib.suppress(OSError, serial.SerialException):
            await asyncio.to_thread(self._port.write, control_frame(ControlCommand.start()))

    async def disconnect(self) -> None:
        port, self._port = self._port, None
        if port is not None and not self._injected:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(port.close)

    async def stream(self) -> AsyncIterator[SampleBlock]:
        import serial

        port = self._port
        if port is None:
            raise DeviceError(f"{self.name}: connect() first")
        while True:
            try:
                data = await asyncio.to_thread(port.read, self.read_size)
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # TypeError/AttributeError: pyserial reading a port closed under it by disconnect().
                raise LinkLostError(self.name, f"read failed: {exc}") from exc
            if not data:
                if not port.is_open:
                    raise LinkLostError(self.name, "port closed")
                continue
            for block in self.decoder.feed(data):
                yield block


def _list_ports() -> list[str]:
    try:
        from serial.tools import list_ports

        return [p.device for p in list_ports.comports()]
    except Exception:  # listing ports is a courtesy in an error message; never fail on it
        return []
