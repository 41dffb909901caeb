"""``ble:<name-or-address>``: a wearable speaking the anyppg GATT profile (one frame per notification).

Set-up: scan, connect (the MTU is raised: BlueZ, CoreBluetooth and WinRT do it on their own, the
bumble backend at connect), read the info characteristic (rate, channels, units), subscribe to the
data characteristic, then write START to the control point; the device sizes its frames to the MTU.
Duplicate notification callbacks after a reconnect (a known BlueZ behaviour) reach the timeline as
repeated sequence numbers and are dropped there, counted as ``duplicate``.

Before anything is read or subscribed, the device must serve the data, control and info
characteristics (else :class:`~anyppg.sdk.errors.ProfileMismatchError`): a device that only borrows
the name is refused.

Options: ``timeout=S`` scan timeout (default 10 s), ``transport=<bumble spec>`` (see
:mod:`anyppg.sdk.transports.bluetooth`), ``pair=1``, ``encrypt=1``, ``keystore=PATH``,
``address=AA:BB:..``, ``service=UUID`` (see :mod:`anyppg.sdk.transports.ble_security`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from anyppg.firmware_bridge.gatt import (
    ANYPPG_CONTROL_UUID,
    ANYPPG_DATA_UUID,
    ANYPPG_INFO_UUID,
    ControlCommand,
    DeviceInfo,
)
from anyppg.sdk.errors import StreamFormatError
from anyppg.sdk.samples import SampleBlock
from anyppg.sdk.transports.bluetooth import BleakLink
from anyppg.sdk.transports.framed import FrameDecoder
from anyppg.sdk.urls import DeviceURL

__all__ = ["BleTransport"]

log = logging.getLogger(__name__)


class BleTransport(BleakLink):
    """anyppg frames over BLE notifications."""

    profile_name = "anyppg"
    required_characteristics = (ANYPPG_DATA_UUID, ANYPPG_CONTROL_UUID, ANYPPG_INFO_UUID)

    def __init__(self, url: DeviceURL, adapter: Any | None = None, **kwargs: Any) -> None:
        super().__init__(url, adapter=adapter, **kwargs)
        self.decoder = FrameDecoder(url.target)
        self.info: DeviceInfo | None = None

    @property
    def corrupt_frames(self) -> int:
        return self.decoder.corrupt_frames

    async def start_streaming(self, client: Any) -> None:
        """Read the device info, subscribe to data, write START.

        Raises:
            StreamFormatError: the device info does not decode.
        """
        from anyppg.errors import ProtocolError

        try:
            self.info = DeviceInfo.from_bytes(await client.read_gatt_char(ANYPPG_INFO_UUID))
        except ProtocolError as exc:
            raise StreamFormatError(self.identifier, f"device info does not decode: {exc}") from exc
        self.decoder.info = self.info
        self.decoder.reset()
        log.info(
            "%s: %g Hz, channels %s",
            self.identifier,
            self.info.sample_rate_hz,
            [c.name for c in self.info.channels],
        )
        await client.start_notify(ANYPPG_DATA_UUID, self._on_notification)
        await client.write_gatt_char(ANYPPG_CONTROL_UUID, bytes(ControlCommand.start()), response=True)

    async def stop_streaming(self, client: Any) -> None:
        await client.write_gatt_char(ANYPPG_CONTROL_UUID, bytes(ControlCommand.stop()), response=True)
        await client.stop_notify(ANYPPG_DATA_UUID)

    def _on_notification(self, _sender: Any, data: bytearray) -> None:
        for block in self.decoder.feed_notification(bytes(data)):
            self.inbox.put_nowait(block)

    async def stream(self) -> AsyncIterator[SampleBlock]:
        while True:
            yield await self.next_item()
