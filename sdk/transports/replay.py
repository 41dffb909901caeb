"""``replay:<file>``: stream a recording as if a device sent it (see :mod:`anyppg.sdk.replay_files`).

Options: ``speed=X`` real-time multiple or ``max`` (default 1), ``block=N`` samples per block
(default: 0.25 s worth). Gaps in the file's ``t`` stay gaps in the stream.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import numpy as np

from anyppg.sdk.errors import DeviceURLError
from anyppg.sdk.replay_files import ReplayData, load_replay
from anyppg.sdk.samples import SampleBlock
from anyppg.sdk.transports.base import Transport
from anyppg.sdk.transports.pacing import Pacer
from anyppg.sdk.urls import DeviceURL

__all__ = ["ReplayTransport", "blocks_from_arrays"]


def blocks_from_arrays(
    t: np.ndarray, ppg: np.ndarray, rate: float, acc: np.ndarray | None, block: int
) -> list[tuple[float, slice]]:
    """Cut a recording into ``(t0, slice)`` blocks of at most ``block`` samples.

    A block never spans a gap (a step in ``t`` over 1.5 sample periods); inside a contiguous run,
    times are taken as ``t0 + i / rate`` so timestamp jitter in the file does not look like gaps.
    """
    dt = np.diff(t)
    breaks = np.flatnonzero(dt > 1.5 / rate) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [t.shape[0]]])
    out: list[tuple[float, slice]] = []
    for s, e in zip(starts, ends, strict=True):
        for i in range(s, e, block):
            out.append((float(t[s]) + (i - s) / rate, slice(i, min(i + block, e))))
    return out


class ReplayTransport(Transport):
    """Streams a recording file; the stream ends at the end of the file."""

    reconnectable: ClassVar[bool] = False

    @property
    def live(self) -> bool:
        return False

    def __init__(self, url: DeviceURL, data: ReplayData | None = None, **kwargs: Any) -> None:
        """Read the options (the file is read by :meth:`connect`).

        Raises:
            DeviceURLError: ``speed`` or ``block`` is not a positive number.
        """
        super().__init__(url)
        self._data = data
        self.speed = url.speed(1.0)
        self._block = url.option_int("block", 0)
        if "block" in url.options and self._block < 1:
            raise DeviceURLError(str(url), f"option block={self._block} must be a positive number of samples")
        self._open = False

    @property
    def is_connected(self) -> bool:
        return self._open

    @property
    def data(self) -> ReplayData:
        if self._data is None:
            raise RuntimeError("connect() first")
        return self._data

    async def connect(self) -> None:
        """Read the file.

        Raises:
            DataFormatError: the file is missing or not a recording (names the expected keys).
        """
        if self._data is None:
            self._data = load_replay(self.url.target)
        self._open = True

    async def disconnect(self) -> None:
        self._open = False

    async def stream(self) -> AsyncIterator[SampleBlock]:
        d = self.data
        block = self._block or max(1, round(d.rate / 4))
        pacer = Pacer(self.speed)
        for t0, sl in blocks_from_arrays(d.t, d.ppg, d.rate, d.acc, block):
            await pacer.wait_until(t0 + (sl.stop - sl.start) / d.rate)
            acc = None if d.acc is None else d.acc[sl]
            yield SampleBlock(
                t0, d.rate, d.ppg[sl], acc, arrival=time.perf_counter(), acc_in_g=d.acc_in_g or acc is None
            )
