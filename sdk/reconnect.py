"""Bounded exponential back-off for re-establishing a lost link."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["ReconnectPolicy"]


@dataclass(frozen=True)
class ReconnectPolicy:
    """How :class:`anyppg.sdk.Device` retries the first connect and re-connects after a live link drops.

    Attempt ``k`` (1-based) waits ``min(max_delay_s, initial_delay_s * factor**(k-1))`` seconds, with
    up to ``jitter`` of it randomised (so a gateway's many devices do not retry in lock-step).

    Attributes:
        max_attempts: attempts before giving up with ``DeviceDisconnectedError`` (0: never reconnect).
        initial_delay_s: wait before the first attempt, s.
        factor: growth per attempt.
        max_delay_s: cap on one wait, s.
        jitter: fraction of each wait that is random, 0..1.
        connect_retries: extra attempts of the *first* connect after a link-level failure
            (``ConnectionFailedError``); a device that is not found is not retried.
    """

    max_attempts: int = 5
    initial_delay_s: float = 0.2
    factor: float = 2.0
    max_delay_s: float = 5.0
    jitter: float = 0.1
    connect_retries: int = 2

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt ``attempt`` (1-based)."""
        base = min(self.max_delay_s, self.initial_delay_s * self.factor ** (attempt - 1))
        if self.jitter <= 0:
            return base
        r = (rng or random).random()
        return base * (1.0 - self.jitter * r)


#: no reconnects: the first link loss ends the stream with DeviceDisconnectedError.
NEVER = ReconnectPolicy(max_attempts=0)
