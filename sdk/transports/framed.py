"""Decoding the anyppg frame protocol for the ``ble:`` and ``serial:`` transports."""

from __future__ import annotations

import time

from anyppg.firmware_bridge.deframer import Deframer
from anyppg.firmware_bridge.gatt import DeviceInfo
from anyppg.firmware_bridge.protocol import DataFrame
from anyppg.sdk.frames import block_from_frame
from anyppg.sdk.samples import SampleBlock

__all__ = ["FrameDecoder"]


class FrameDecoder:
    """Bytes or notifications in, :class:`SampleBlock` objects out; bad bytes are counted, never raised.

    Args:
        device: the device identifier (for errors).
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.info: DeviceInfo | None = None
        # Repeated frames are passed on: the SDK's timeline drops them itself (as ``duplicate``) so
        # ``received == delivered + dropped`` stays exact.
        self.deframer = Deframer(on_packet=self._on_packet, drop_duplicates=False)

    @property
    def corrupt_frames(self) -> int:
        """Frames lost to CRC, length, header, version or decoding errors."""
        s = self.deframer.stats
        return s.crc_errors + s.length_errors + s.header_errors + s.version_errors + s.decode_errors

    def _on_packet(self, packet: object) -> None:
        if isinstance(packet, DeviceInfo):
            self.info = packet

    def _blocks(self, frames: list[DataFrame]) -> list[SampleBlock]:
        now = time.perf_counter()
        # units by channel: the info packet's channel order need not be the frame's
        units = (
            dict(zip(self.info.channels, self.info.units, strict=False)) if self.info is not None else None
        )
        return [block_from_frame(f, self.device, units, arrival=now) for f in frames]

    def feed(self, data: bytes) -> list[SampleBlock]:
        """A chunk of a byte stream (serial)."""
        return self._blocks(self.deframer.feed(data))

    def feed_notification(self, value: bytes) -> list[SampleBlock]:
        """One BLE notification (exactly one frame)."""
        frame = self.deframer.feed_notification(value)
        return self._blocks([frame]) if frame is not None else []

    def reset(self) -> None:
        """Forget partial bytes and sequence state (after a reconnect); keep the counters."""
        self.deframer.reset()
