"""An emulated serial wearable on a pseudo-terminal: open its tty path with pyserial like a USB device.

The emulator owns the master side of a ``pty.openpty()`` pair and puts the slave in raw mode (no echo,
no newline translation: the anyppg framing is binary). It speaks the serial flavour of the anyppg
protocol: data frames back to back, an INFO frame when streaming starts and on GET_INFO, and it obeys
CONTROL frames from the host (START, STOP, GET_INFO, SET_RATE). With ``autostart=True`` it streams from
power-on like the simplest hobby boards do.

Writes wait for the host to read (a pty buffers a few KiB), so nothing is counted as sent before it is
in the tty. Closing the emulator closes the master: a host reading the tty then gets ``EIO``, the
signal of a lost link.

Example::

    async with SerialEmulator(parse_source("sim"), speed=None) as emu:
        port = serial.Serial(emu.port, timeout=0.1)   # in a thread, or anyppg.connect("serial:" + emu.port)
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import pty
import tty

from anyppg.errors import DeviceError
from anyppg.firmware_bridge.deframer import Deframer
from anyppg.firmware_bridge.emulator.faults import EmulatorStats, FaultInjector, FaultSpec
from anyppg.firmware_bridge.emulator.sources import Source
from anyppg.firmware_bridge.emulator.streaming import FramePump
from anyppg.firmware_bridge.gatt import ControlCommand, ControlOpcode, DeviceInfo, info_frame

__all__ = ["SerialEmulator"]

logger = logging.getLogger(__name__)

_READ_SIZE = 4096


class SerialEmulator:
    """One emulated wearable behind a pty.

    Args:
        source: what the sensor streams.
        speed: real-time multiple; None streams as fast as the host reads.
        faults: frame drops and byte corruption (``disconnect_every`` closes and reopens nothing on a
            serial line; it is ignored here, with a warning).
        max_samples: samples per frame (default 25: 200 ms at 125 Hz, a typical firmware buffer).
        autostart: stream from power-on instead of waiting for a START command.

    Attributes:
        stats: what was sent, dropped, corrupted.
        port: the tty path to open (valid after :meth:`start`).
    """

    def __init__(
        self,
        source: Source,
        *,
        speed: float | None = 1.0,
        faults: FaultSpec | None = None,
        max_samples: int | None = 25,
        autostart: bool = False,
    ) -> None:
        self.source = source
        self.speed = speed
        self.faults = faults or FaultSpec()
        if self.faults.disconnect_every_s is not None:
            logger.warning("disconnect_every has no meaning on a serial line; ignored")
        self.autostart = autostart
        self.stats = EmulatorStats()
        self.injector = FaultInjector(self.faults, self.stats)
        self.pump = FramePump(source, speed=speed, injector=self.injector, max_samples=max_samples)
        self.port = ""
        self._master: int | None = None
        self._slave: int | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._deframer = Deframer(on_packet=self._on_packet)
        self._closed = asyncio.Event()

    def device_info(self) -> DeviceInfo:
        """What the INFO frame says."""
        return DeviceInfo(
            sample_rate_hz=self.source.rate_hz,
            channels=self.source.channels,
            fmt=self.pump.fmt,
            firmware_version="anyppg-emulator",
        )

    async def start(self) -> str:
        """Open the pty, start listening for commands (and streaming with ``autostart``); return the tty path.

        Raises:
            DeviceError: the system has no free pseudo-terminal.
        """
        try:
            master, slave = pty.openpty()
        except OSError as exc:
            raise DeviceError(f"cannot open a pseudo-terminal: {exc}") from exc
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.port = os.ttyname(slave)
        loop = asyncio.get_running_loop()
        loop.add_reader(master, self._on_readable)
        self.pump.power_on(loop.time())
        self.stats.connections += 1
        if self.autostart:
            self._start_stream()
        logger.info("emulated serial device on %s (source %s)", self.port, self.source.name)
        return self.port

    async def stop(self) -> None:
        """Stop streaming and close the pty (the host's next read gets EIO); idempotent."""
        task, self._stream_task = self._stream_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        master, self._master = self._master, None
        if master is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(master)
            os.close(master)
        slave, self._slave = self._slave, None
        if slave is not None:
            os.close(slave)
        self._closed.set()

    async def __aenter__(self) -> SerialEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def wait_closed(self) -> None:
        """Wait until :meth:`stop` ran."""
        await self._closed.wait()

    @property
    def streaming(self) -> bool:
        """True while data frames are being written."""
        return self._stream_task is not None and not self._stream_task.done()

    # -- host -> device -----------------------------------------------------------------------------

    def _on_readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            data = b""  # every slave descriptor closed: nothing to read until one reopens
        if data:
            self._deframer.feed(data)

    def _on_packet(self, packet: object) -> None:
        if not isinstance(packet, ControlCommand):
            logger.debug("ignoring %s from the host", type(packet).__name__)
            return
        logger.info("host command %s", packet.opcode.name)
        if packet.opcode is ControlOpcode.START:
            self._start_stream()
        elif packet.opcode is ControlOpcode.STOP:
            if self._stream_task is not None:
                self._stream_task.cancel()
                self._stream_task = None
        elif packet.opcode is ControlOpcode.GET_INFO:
            asyncio.get_running_loop().create_task(self._write(info_frame(self.device_info())))
        elif packet.opcode is ControlOpcode.SET_RATE:
            logger.warning(
                "SET_RATE %s Hz ignored: this device samples at %g Hz",
                packet.sample_rate_hz,
                self.source.rate_hz,
            )

    def _start_stream(self) -> None:
        if not self.streaming:
            self._stream_task = asyncio.get_running_loop().create_task(self._stream())

    # -- device -> host -----------------------------------------------------------------------------

    async def _write(self, data: bytes) -> None:
        """Write everything, waiting while the pty buffer is full."""
        view = memoryview(data)
        loop = asyncio.get_running_loop()
        while view:
            master = self._master
            if master is None:
                return
            try:
                written = os.write(master, view)
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_writer(master, ready.set_result, None)
                try:
                    await ready
                finally:
                    with contextlib.suppress(ValueError, OSError):
                        loop.remove_writer(master)
                continue
            view = view[written:]

    async def _stream(self) -> None:
        await self._write(info_frame(self.device_info()))
        async for frame in self.pump.frames(None):
            if frame is None:
                continue
            # Shielded: a STOP arriving mid-write still lets the counted frame reach the tty whole.
            await asyncio.shield(self._write(frame))
