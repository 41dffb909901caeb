"""The emulated sensor's clock and frame pump, shared by the BLE and serial emulators.

:class:`FramePump` cuts a :class:`~.sources.Source` into anyppg data frames (PROTO's
:class:`~anyppg.firmware_bridge.protocol.FrameEncoder`), paces them on the device clock and passes
each through the :class:`~.faults.FaultInjector`. The device clock runs from power-on: when a client
starts streaming late, or again after a disconnection, the samples produced meanwhile were never sent
(the first frame's timestamp shows the jump); sequence numbers continue across sessions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from anyppg.firmware_bridge.emulator.faults import FaultInjector
from anyppg.firmware_bridge.emulator.sources import Source, StreamClock
from anyppg.firmware_bridge.protocol import FrameEncoder, SampleFormat

__all__ = ["FramePump"]


class FramePump:
    """Paced, fault-injected anyppg data frames from a source.

    Args:
        source: what the sensor produces (int24 on the wire, scale 1).
        speed: real-time multiple (None: as fast as the consumer takes frames).
        injector: applies faults and counts.
        max_samples: cap on samples per frame (latency), below the MTU bound.
    """

    fmt = SampleFormat.INT24

    def __init__(
        self, source: Source, *, speed: float | None, injector: FaultInjector, max_samples: int | None = None
    ) -> None:
        self.source = source
        self.speed = speed
        self.injector = injector
        self.max_samples = max_samples
        self.position = 0
        """Index of the next sample to send."""
        self.seq = 0
        """Sequence number of the next frame."""
        self._clock: StreamClock | None = None

    def power_on(self, now: float) -> None:
        """Start the device clock at wall time ``now`` (s)."""
        self._clock = StreamClock(self.source.rate_hz, self.speed, now)

    @property
    def stream_time_s(self) -> float:
        """Device time (s since power-on) of the next sample, by the clock when paced."""
        if self._clock is not None and self.speed is not None:
            due = self._clock.due(asyncio.get_running_loop().time())
            return max(self.position, due or 0) / self.source.rate_hz
        return self.position / self.source.rate_hz

    def encoder(self, mtu: int | None) -> FrameEncoder:
        """A frame encoder for a link of this MTU (None: serial), continuing the sequence numbers.

        Raises:
            FieldRangeError: the MTU cannot carry even one sample.
        """
        return FrameEncoder(
            self.source.rate_hz,
            self.source.channels,
            self.fmt,
            1.0,
            mtu=mtu,
            max_samples=self.max_samples,
            first_seq=self.seq,
        )

    async def frames(self, mtu: int | None) -> AsyncIterator[bytes | None]:
        """Yield one frame's bytes at a time (None for a frame the faults dropped), forever.

        Paced: each frame is yielded when the clock has produced its last sample. The stream resumes
        at the clock's current sample, skipping what was produced while nobody listened.

        Raises:
            FieldRangeError: the MTU cannot carry even one sample.
        """
        encoder = self.encoder(mtu)
        loop = asyncio.get_running_loop()
        if self._clock is None:
            self.power_on(loop.time())
        clock = self._clock
        assert clock is not None
        due = clock.due(loop.time())
        if due is not None:
            self.position = max(self.position, due)
        rate = self.source.rate_hz
        n = encoder.samples_per_frame
        while True:
            if self.speed is not None:
                delay = clock.time_of(self.position + n) - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)  # unpaced: still let the link (and the client's requests) run
            block = self.source.block(self.position, n)
            seq = encoder.seq
            (frame,) = encoder.encode(block, timestamp_us=round(self.position * 1e6 / rate))
            self.seq = encoder.seq
            self.position += n
            yield self.injector.apply(frame, n, seq)
