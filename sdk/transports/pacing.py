"""Replaying device time at a multiple of real time."""

from __future__ import annotations

import asyncio
import math
import time

__all__ = ["Pacer"]


class Pacer:
    """Sleeps so that device time ``t`` is reached ``(t - t_first) / speed`` seconds after start.

    Args:
        speed: real-time multiple; ``inf`` never sleeps (but still yields to the event loop).
    """

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = speed
        self._origin: tuple[float, float] | None = None  # (device t, wall clock)

    def reset(self) -> None:
        """Forget the time origin (after a reconnect, pacing restarts from the next sample)."""
        self._origin = None

    async def wait_until(self, t: float) -> None:
        """Sleep until device time ``t`` (s) is due."""
        now = time.perf_counter()
        if self._origin is None:
            self._origin = (t, now)
        if math.isinf(self.speed):
            await asyncio.sleep(0)
            return
        due = self._origin[1] + (t - self._origin[0]) / self.speed
        await asyncio.sleep(max(0.0, due - now))
