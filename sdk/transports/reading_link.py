"""Base of the BLE profiles whose every notification is one decoded reading (``hrs:``, ``plx:``)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from anyppg.errors import ProtocolError
from anyppg.sdk.readings import Reading
from anyppg.sdk.transports.bluetooth import BleakLink
from anyppg.sdk.urls import DeviceURL

__all__ = ["ReadingLink"]

log = logging.getLogger(__name__)


class ReadingLink(BleakLink):
    """A :class:`BleakLink` whose notifications each decode to one :class:`Reading`.

    Subclasses subscribe in ``start_streaming`` and hand each notification's bytes to :meth:`deliver`
    with their decoder; a notification that does not decode is counted in :attr:`corrupt_frames` and
    skipped. Readings are timed on the host's monotonic clock from the link's creation (the
    profiles carry no sample clock of their own).
    """

    def __init__(self, url: DeviceURL, adapter: Any | None = None, **kwargs: Any) -> None:
        super().__init__(url, adapter=adapter, **kwargs)
        self._origin = time.monotonic()
        self._bad = 0

    @property
    def corrupt_frames(self) -> int:
        return self._bad

    def deliver(self, payload: bytes, decode: Callable[[bytes, float], Reading], what: str) -> None:
        """Decode one notification (``decode(payload, t)``, ``t`` in s since the link was made) into
        :attr:`inbox`; a :class:`ProtocolError` counts it as corrupt (``what`` names it in the log)."""
        try:
            reading = decode(payload, time.monotonic() - self._origin)
        except ProtocolError as exc:
            self._bad += 1
            log.debug("%s: undecodable %s %s: %s", self.identifier, what, payload.hex(), exc)
            return
        self.inbox.put_nowait(reading)

    async def stream(self) -> AsyncIterator[Reading]:  # type: ignore[override]
        while True:
            yield await self.next_item()
