"""The transport interface: the small set of async methods every way of reaching a device provides."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from anyppg.sdk.samples import SampleBlock
from anyppg.sdk.urls import DeviceURL

__all__ = ["Transport"]


class Transport(abc.ABC):
    """Reaches one device and yields its samples as :class:`SampleBlock` objects.

    The public :class:`anyppg.sdk.Device` holds one transport (picked from the URL scheme in
    :mod:`anyppg.sdk.transports`) and adds accounting, reconnects and inference on top.

    Args:
        url: the parsed device URL.
        **kwargs: transport-specific injections (a bleak backend, a pre-opened serial port, ...);
            unknown keys are ignored so one ``connect(url, **kwargs)`` call works for every scheme.
    """

    #: Whether a lost link can be re-established (devices) or the stream simply ends (files).
    reconnectable: ClassVar[bool] = True

    @property
    def live(self) -> bool:
        """Whether the source runs in real time and cannot be slowed down by a slow consumer.

        Decides the default back-pressure policy of :class:`anyppg.sdk.Device`: a live source drops
        the oldest queued samples (counted), a file or a free-running simulation waits.
        """
        return True

    def __init__(self, url: DeviceURL, **kwargs: Any) -> None:
        self.url = url

    @property
    def name(self) -> str:
        """A human-readable identifier of the device (for logs and errors)."""
        return str(self.url)

    @property
    def corrupt_frames(self) -> int:
        """Frames that failed to decode so far (CRC or framing errors); 0 where not applicable."""
        return 0

    @property
    @abc.abstractmethod
    def is_connected(self) -> bool:
        """Whether the link is up."""

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the link (scan, connect, subscribe / open the port / open the file).

        Raises:
            DeviceNotFoundError: nothing matched the URL's target.
            DeviceError: the device was found but the link could not be opened.
        """

    @abc.abstractmethod
    async def disconnect(self) -> None:
        """Close the link. Never raises on an already dead link."""

    @abc.abstractmethod
    def stream(self) -> AsyncIterator[SampleBlock]:
        """Yield sample blocks until the stream ends.

        Returns at the natural end of a finite source (a replayed file, a finite simulation).

        Raises:
            LinkLostError: a live link dropped; the caller may ``disconnect``/``connect`` and call
                ``stream`` again to resume.
        """
