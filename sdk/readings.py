"""Readings: what standard-profile devices (HRS straps, pulse oximeters) send instead of a waveform.

A Heart Rate strap (``hrs:``) or a pulse oximeter (``plx:``) notifies a finished measurement about once
a second: a heart rate with its RR intervals, or an SpO2 with a pulse rate. There is no PPG to window,
so :meth:`anyppg.sdk.Device.infer` turns each notification straight into one :class:`Result` (no model
runs, no embedding), with the accounting in the same units as PPG streams: **one notification is one
sample**.

Neither profile carries timestamps or sequence numbers. A reading's time is the host's monotonic clock
when its notification arrived (seconds since the transport was created, so times keep increasing across
reconnects). Losses are therefore found from arrival times, as well as they can be: a silence longer than
2.5 nominal periods (the median of recent intervals) is a :class:`~anyppg.sdk.accounting.Gap` with
``round(silence / period) - 1`` missing notifications; an identical payload within half a period of the
previous one is the known double delivery of bleak on BlueZ after a reconnect and is dropped as a
``duplicate``. RR intervals are the exact record of beats: a consumer computing HRV should check
``Result.rr_intervals`` around gaps, not the arrival times.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from anyppg.sdk.accounting import Accounting, Gap
from anyppg.sdk.results import Result

__all__ = ["READING_SCHEMES", "Reading", "ReadingTimeline", "rr_series_ms"]

READING_SCHEMES = ("hrs", "plx")
"""URL schemes whose transports yield :class:`Reading` objects (no waveform, no model)."""

_GAP_PERIODS = 2.5  # a silence this many nominal periods long means notifications were lost
_DISCONNECT_GAP_PERIODS = 1.5  # after a reconnect, any noticeable silence is the disconnection
_DUPLICATE_PERIODS = 0.5  # the same payload again within this many periods is a double delivery
_HISTORY = 8  # inter-arrival intervals the period estimate looks at


@dataclass(frozen=True, eq=False)
class Reading:
    """One measurement notification of a standard profile: the 'sample' unit of ``hrs:`` and ``plx:``.

    Attributes:
        t: host time when the notification arrived, s (monotonic; the transport's own origin).
        heart_rate: heart rate (HRS) or pulse rate (PLX), bpm; None when the device reports none.
        quality: 0..1, from what the device says about its own measurement (sensor contact, PLX status).
        period_s: the profile's nominal notification period, s (the gap detector's prior).
        rr_intervals: beat-to-beat intervals carried by this notification, ms, oldest first (HRS).
        energy_expended: cumulative energy expended, kJ (HRS, when the strap reports it), or None.
        sensor_contact: the strap's skin-contact flag; None when it does not detect contact.
        spo2: oxygen saturation, % (PLX), or None.
        payload: the notification's bytes (duplicate detection, debugging).
        arrival: ``time.perf_counter()`` when it reached the SDK (latency).
    """

    t: float
    heart_rate: float | None
    quality: float
    period_s: float = 1.0
    rr_intervals: tuple[float, ...] | None = None
    energy_expended: int | None = None
    sensor_contact: bool | None = None
    spo2: float | None = None
    payload: bytes = b""
    arrival: float = 0.0

    def __len__(self) -> int:
        return 1


class ReadingTimeline:
    """Accounts for readings (one notification = one sample) and turns each into a :class:`Result`.

    Args:
        device: the device identifier put into each result.
        accounting: the accounting to update (``windows`` counts results; ``windows_gated`` those with
            quality below 0.5, e.g. no skin contact).
    """

    def __init__(self, device: str, accounting: Accounting) -> None:
        self.device = device
        self.acc = accounting
        self._last: Reading | None = None
        self._intervals: deque[float] = deque(maxlen=_HISTORY)
        self._disconnected = False

    def mark_disconnect(self) -> None:
        """The link dropped and came back: the next silence is a ``disconnect`` gap."""
        self._disconnected = True

    def period_s(self, prior: float) -> float:
        """The current estimate of the notification period, s (``prior`` until intervals are seen)."""
        return statistics.median(self._intervals) if self._intervals else prior

    def push(self, reading: Reading) -> Result | None:
        """Account for one reading; the result it gives, or None when it was dropped (duplicate)."""
        self.acc.received += 1
        last = self._last
        period = self.period_s(reading.period_s)
        t_start = reading.t - period
        if last is not None:
            dt = reading.t - last.t
            if reading.payload == last.payload and dt < _DUPLICATE_PERIODS * period:
                self.acc.dropped["duplicate"] += 1
                return None
            threshold = _DISCONNECT_GAP_PERIODS if self._disconnected else _GAP_PERIODS
            if dt > threshold * period:
                missing = max(round(dt / period) - 1, 0)
                reason = "disconnect" if self._disconnected else "missing"
                self.acc.gaps.append(Gap(last.t, reading.t - period, missing, False, reason=reason))
            else:
                self._intervals.append(dt)
                t_start = last.t
        self._disconnected = False
        self._last = reading
        self.acc.delivered += 1
        self.acc.windows += 1
        usable = reading.quality >= 0.5
        if not usable:
            self.acc.windows_gated += 1
        return Result(
            device=self.device,
            t_start=t_start,
            t_end=reading.t,
            heart_rate=_finite(reading.heart_rate),
            heart_rate_model=None,
            heart_rate_peaks=None,
            quality=reading.quality,
            usable=usable,
            quality_model=None,
            af_probability=None,
            embedding=None,
            motion=None,
            filled=0,
            latency_ms=(time.perf_counter() - reading.arrival) * 1e3,
            accounting=self.acc.snapshot(),
            rr_intervals=reading.rr_intervals,
            energy_expended=reading.energy_expended,
            sensor_contact=reading.sensor_contact,
            spo2=_finite(reading.spo2),
        )


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def rr_series_ms(results: list[Result]) -> np.ndarray:
    """The RR intervals of consecutive results joined into one series, ms (HRV input)."""
    parts = [np.asarray(r.rr_intervals, dtype=np.float64) for r in results if r.rr_intervals]
    return np.concatenate(parts) if parts else np.empty(0)
