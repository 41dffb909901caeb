"""Exact sample accounting and the stream timeline (gaps, duplicates, out-of-order blocks).

Invariant, checked by the tests under injected faults::

    received == delivered + sum(dropped.values())

``received`` counts every sample a transport decoded; ``delivered`` every sample handed to
preprocessing; ``dropped`` the rest, by reason. Samples that never arrived are not counted as
samples at all (nobody knows their values): they are listed as :class:`Gap` intervals with an
estimated count. Short gaps are bridged by interpolation (``filled``) so a 10 s window survives a
lost BLE notification; longer ones restart the window sequence.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anyppg.sdk.samples import SampleBlock

__all__ = ["DROP_REASONS", "Accounting", "Gap", "Timeline"]

#: why a received sample was not delivered.
DROP_REASONS = ("duplicate", "out_of_order", "backpressure", "invalid")


@dataclass(frozen=True)
class Gap:
    """An interval of device time with no samples.

    Attributes:
        start: device time where samples stopped, s.
        end: device time where they resumed, s.
        missing: estimated number of samples lost (``round((end - start) * rate)``).
        filled: whether the pipeline bridged it by interpolation (True) or restarted windows (False).
        reason: ``missing`` (lost in transit) or ``disconnect`` (the link dropped and came back).
    """

    start: float
    end: float
    missing: int
    filled: bool
    reason: str = "missing"

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 6),
            "end": round(self.end, 6),
            "missing": self.missing,
            "filled": self.filled,
            "reason": self.reason,
        }


@dataclass
class Accounting:
    """Running sample accounting of one stream.

    Attributes:
        received: samples decoded from the transport.
        delivered: samples handed to preprocessing.
        dropped: samples not delivered, by reason (see :data:`DROP_REASONS`).
        filled: interpolated samples inserted to bridge short gaps (not counted as received).
        gaps: the gaps, in stream order.
        corrupt_frames: frames the transport could not decode (CRC, framing); their samples are unknown.
        reconnects: how many times the link was re-established.
        windows: windows produced; ``windows_gated``: of those, how many failed the quality gate.
    """

    received: int = 0
    delivered: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    filled: int = 0
    gaps: list[Gap] = field(default_factory=list)
    corrupt_frames: int = 0
    reconnects: int = 0
    windows: int = 0
    windows_gated: int = 0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def missing(self) -> int:
        """Estimated samples lost in gaps."""
        return sum(g.missing for g in self.gaps)

    def is_balanced(self) -> bool:
        """Whether ``received == delivered + dropped`` (always true unless there is a bug)."""
        return self.received == self.delivered + self.dropped_total

    def snapshot(self) -> Accounting:
        """A copy that later updates do not change."""
        return Accounting(
            received=self.received,
            delivered=self.delivered,
            dropped=Counter(self.dropped),
            filled=self.filled,
            gaps=list(self.gaps),
            corrupt_frames=self.corrupt_frames,
            reconnects=self.reconnects,
            windows=self.windows,
            windows_gated=self.windows_gated,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "delivered": self.delivered,
            "dropped": self.dropped_total,
            "dropped_by_reason": {r: self.dropped.get(r, 0) for r in DROP_REASONS},
            "filled": self.filled,
            "missing": self.missing,
            "gaps": [g.to_dict() for g in self.gaps],
            "corrupt_frames": self.corrupt_frames,
            "reconnects": self.reconnects,
            "windows": self.windows,
            "windows_gated": self.windows_gated,
        }


class Timeline:
    """Orders incoming blocks on the device clock and decides what is delivered.

    Each accepted block must start where the previous one ended (within half a sample). A block
    that starts later leaves a :class:`Gap`; one that starts earlier overlaps what was delivered and
    is dropped as a ``duplicate`` (its sequence number or start time was seen before: the known
    double notification after a BLE reconnect) or ``out_of_order`` (a late frame).

    Args:
        accounting: the accounting to update.
        max_fill_s: gaps up to this long (s) are bridged by linear interpolation; longer gaps start
            a new segment (the caller restarts windowing).
    """

    def __init__(self, accounting: Accounting, max_fill_s: float = 0.5) -> None:
        self.acc = accounting
        self.max_fill_s = max_fill_s
        self._next_t: float | None = None
        self._rate: float | None = None
        self._last_ppg: float = 0.0
        self._last_acc: np.ndarray | None = None
        self._seen_seq: set[int] = set()
        self._seen_t0: set[int] = set()
        self._pending_reason = "missing"

    @property
    def next_t(self) -> float | None:
        """Device time the next block is expected to start at, s (None before the first block)."""
        return self._next_t

    def mark_disconnect(self) -> None:
        """The link dropped: the next gap is labelled ``disconnect``."""
        self._pending_reason = "disconnect"

    def push(self, block: SampleBlock) -> tuple[list[SampleBlock], bool]:
        """Account for one received block.

        Returns:
            ``(blocks, restart)``: what to deliver (a fill block may precede ``block``; empty when
            ``block`` was dropped) and whether a new segment starts (windowing must restart).
        """
        n = len(block)
        self.acc.received += n
        if n == 0:
            return [], False
        if not np.all(np.isfinite(block.ppg)):
            self.acc.dropped["invalid"] += n
            return [], False
        if self._rate is not None and abs(block.rate - self._rate) > 1e-6 * self._rate:
            # A device changed its rate mid-stream: a new segment at the new rate.
            self._next_t = None
        self._rate = block.rate
        half = 0.5 / block.rate
        t0_key = round(block.t0 * block.rate)
        if self._next_t is None:
            restart = True
        else:
            delta = block.t0 - self._next_t
            if delta < -half:
                dup = (block.seq is not None and block.seq in self._seen_seq) or t0_key in self._seen_t0
                self.acc.dropped["duplicate" if dup else "out_of_order"] += n
                return [], False
            missing = round(delta * block.rate)
            restart = False
            out: list[SampleBlock] = []
            if missing >= 1:
                filled = delta <= self.max_fill_s
                self.acc.gaps.append(
                    Gap(self._next_t, block.t0, missing, filled, reason=self._pending_reason)
                )
                if filled:
                    out.append(self._fill(block, missing))
                else:
                    restart = True
            self._pending_reason = "missing"
            self._accept(block, t0_key)
            out.append(block)
            return out, restart
        self._pending_reason = "missing"
        self._accept(block, t0_key)
        return [block], restart

    def _accept(self, block: SampleBlock, t0_key: int) -> None:
        if block.seq is not None:
            self._seen_seq.add(block.seq)
            if len(self._seen_seq) > 4096:  # keep memory bounded on endless streams
                self._seen_seq = set(sorted(self._seen_seq)[-2048:])
        self._seen_t0.add(t0_key)
        if len(self._seen_t0) > 4096:
            self._seen_t0 = set(sorted(self._seen_t0)[-2048:])
        self.acc.delivered += len(block)
        self._next_t = block.t_end
        self._last_ppg = float(block.ppg[-1])
        self._last_acc = None if block.acc is None else np.asarray(block.acc[-1], dtype=np.float64)

    def _fill(self, block: SampleBlock, missing: int) -> SampleBlock:
        """Linear interpolation from the last delivered sample to the first of ``block``."""
        frac = np.arange(1, missing + 1) / (missing + 1)
        ppg = self._last_ppg + (float(block.ppg[0]) - self._last_ppg) * frac
        acc = None
        if block.acc is not None:
            start = self._last_acc if self._last_acc is not None else block.acc[0]
            acc = start + (block.acc[0] - start) * frac[:, None]
        self.acc.filled += missing
        assert self._next_t is not None
        return SampleBlock(self._next_t, block.rate, ppg, acc, seq=None, arrival=block.arrival)
