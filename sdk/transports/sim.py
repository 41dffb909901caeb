"""``sim:``: an in-process simulated wearable (``anyppg.simulate``), with optional transport faults.

Options (all optional): ``hr=72`` heart rate (bpm), ``rhythm=sinus|af``, ``motion=0`` motion-artefact level (0..1),
``seed=0``, ``rate=64`` PPG rate (Hz), ``duration=60`` (s), ``speed=1`` (real-time multiple or
``max``), ``block=16`` samples per block. Faults, for exercising the pipeline's accounting without a
radio: ``drop=P`` (probability a block is lost), ``dup=P`` (a block arrives twice), ``reorder=P`` (a
block arrives after its successor), ``disconnect_at=S`` (the link drops once at device time S s and
``down=1`` s of samples are missed before it comes back). :attr:`SimTransport.truth` counts what was
injected, so tests can check the accounting against it. ``rate`` x ``duration`` is capped at
:data:`anyppg.simulator.MAX_SAMPLES_PER_CHANNEL` (50 M samples) because the simulation is made up front.

Example::

    async with anyppg.connect("sim:?hr=90&motion=0.3&speed=max&duration=30") as device:
        async for r in device.infer(None):
            print(r.heart_rate)
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from anyppg.sdk.errors import DeviceURLError, LinkLostError
from anyppg.sdk.samples import SampleBlock
from anyppg.sdk.transports.base import Transport
from anyppg.sdk.transports.pacing import Pacer
from anyppg.sdk.urls import DeviceURL

__all__ = ["SimTransport"]


class SimTransport(Transport):
    """Streams a seeded simulation as sample blocks.

    Attributes:
        simulation: the :class:`anyppg.simulator.Simulation` being streamed (after ``connect``).
        truth: injected faults: ``blocks_sent``, ``samples_sent``, ``samples_dropped``,
            ``samples_duplicated``, ``samples_reordered``, ``samples_missed_disconnected``.
    """

    def __init__(self, url: DeviceURL, **kwargs: Any) -> None:
        super().__init__(url)
        o = url
        self.hr = o.option_float("hr", 72.0)
        self.rhythm = o.options.get("rhythm", "sinus")
        if self.rhythm not in ("sinus", "af"):
            raise DeviceURLError(str(url), f"option rhythm={self.rhythm!r} must be 'sinus' or 'af'")
        self.motion = o.option_float("motion", 0.0)
        self.seed = o.option_int("seed", 0)
        self.rate = o.option_float("rate", 64.0)
        self.duration = o.option_float("duration", 60.0)
        self.speed = o.speed(1.0)
        self.block = o.option_int("block", 16)
        self.p_drop = o.option_float("drop", 0.0)
        self.p_dup = o.option_float("dup", 0.0)
        self.p_reorder = o.option_float("reorder", 0.0)
        self.disconnect_at = o.option_float("disconnect_at", float("inf"))
        self.down_s = o.option_float("down", 1.0)
        for key, p in (("drop", self.p_drop), ("dup", self.p_dup), ("reorder", self.p_reorder)):
            if not 0.0 <= p <= 1.0:
                raise DeviceURLError(str(url), f"option {key}={p} must be a probability in 0..1")
        if not (self.block >= 1 and self.rate > 0 and self.duration > 0):
            raise DeviceURLError(str(url), "block, rate and duration must be positive")
        if self.seed < 0:
            raise DeviceURLError(str(url), f"option seed={self.seed} must be a non-negative integer")
        from anyppg.simulator import MAX_SAMPLES_PER_CHANNEL  # the simulator is imported on use

        if self.rate * self.duration > MAX_SAMPLES_PER_CHANNEL:
            raise DeviceURLError(
                str(url),
                f"rate={self.rate:g} Hz x duration={self.duration:g} s is {self.rate * self.duration:.3g} samples; "
                f"at most {MAX_SAMPLES_PER_CHANNEL:.3g} (duration <= {MAX_SAMPLES_PER_CHANNEL / self.rate:.0f} s at this rate)",
            )
        self.simulation: Any = None
        self.truth: Counter[str] = Counter()
        self._rng = np.random.default_rng(self.seed + 1)
        self._next = 0  # next sample index to send
        self._connected = False
        self._disconnected_once = False

    @property
    def name(self) -> str:
        return f"sim:{self.url.target}" if self.url.target else "sim"

    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def live(self) -> bool:
        """Paced in real time (or a multiple of it): yes; ``speed=max``: no, it waits for the consumer."""
        return math.isfinite(self.speed)

    async def connect(self) -> None:
        """Run the simulation (first time) or resume after a simulated link loss."""
        if self.simulation is None:
            import anyppg

            self.simulation = anyppg.simulate(
                self.duration,
                heart_rate=self.hr,
                rhythm=self.rhythm,
                motion=self.motion,
                ppg_rate=self.rate,
                seed=self.seed,
            )
        self._connected = True

    async def disconnect(self) -> None:
        self._connected = False

    async def stream(self) -> AsyncIterator[SampleBlock]:
        sim = self.simulation
        ppg = np.asarray(sim.ppg, dtype=np.float64)
        acc = None if getattr(sim, "acc", None) is None else np.asarray(sim.acc, dtype=np.float64)
        n_total = len(ppg)
        pacer = Pacer(self.speed)
        held: SampleBlock | None = None  # a block being reordered behind its successor
        while self._next < n_total:
            start = self._next
            if start / self.rate >= self.disconnect_at and not self._disconnected_once:
                self._disconnected_once = True
                missed = min(n_total - start, round(self.down_s * self.rate))
                self.truth["samples_missed_disconnected"] += missed
                self._next = start + missed
                self._connected = False
                raise LinkLostError(self.name, f"simulated link loss at {self.disconnect_at:g} s")
            stop = min(start + self.block, n_total)
            self._next = stop
            block = SampleBlock(
                start / self.rate,
                self.rate,
                ppg[start:stop],
                None if acc is None else acc[start:stop],
                seq=start // self.block,
            )
            await pacer.wait_until(stop / self.rate)
            n = len(block)
            self.truth["blocks_sent"] += 1
            self.truth["samples_sent"] += n
            r = self._rng.random(3)
            if r[0] < self.p_drop:
                self.truth["samples_dropped"] += n
                continue
            out = [block]
            if r[1] < self.p_dup:
                self.truth["samples_duplicated"] += n
                out.append(block)
            if held is not None:
                out.append(held)  # the held block now arrives late
                held = None
            elif r[2] < self.p_reorder and stop < n_total:
                self.truth["samples_reordered"] += n
                held, out = block, out[1:]
            for b in out:
                yield SampleBlock(b.t0, b.rate, b.ppg, b.acc, seq=b.seq, arrival=time.perf_counter())
        if held is not None:
            yield held
