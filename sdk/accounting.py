"""Exact sample accounting and the stream timeline (gaps, duplicates, reordering, re-anchoring).

Invariant, checked by the tests under injected faults, after every block::

    received == delivered + sum(dropped.values())

``received`` counts every PPG sample the timeline has ruled on; ``delivered`` every sample handed to
preprocessing; ``dropped`` the rest, by reason. Blocks held back for a moment (waiting for a late
block to fill a hole, or for the next block to confirm a clock jump) are not counted yet: they are
``pending`` and land in exactly one of the two when the timeline rules on them (:meth:`Timeline.flush`
rules on all of them at the end of a stream). Samples that never arrived are not counted as samples
at all (nobody knows their values): they are listed as :class:`Gap` intervals with an estimated
count. Short gaps are bridged by interpolation (``filled``) so a 10 s window survives a lost BLE
notification; longer ones restart the window sequence.

Invalid values are handled per sample and per channel (a bad value never costs its neighbours):

* a PPG sample that is not finite or whose magnitude exceeds :data:`PPG_ABS_LIMIT` is dropped
  (``dropped["invalid"]``) and the hole it leaves is a gap with reason ``invalid``, bridged by
  interpolation like any other short gap (so NaN every 7th sample delivers the other 6 of 7);
* an accelerometer value that is not finite or exceeds :data:`ACC_ABS_LIMIT_G` is replaced by
  interpolation between its valid neighbours on that axis (the PPG sample is still delivered) and
  counted in ``issues["invalid_acc"]`` (samples repaired).

A block at a rate the preprocessing cannot use (below :data:`MIN_RATE_HZ`, above
:data:`MAX_RATE_HZ`, not finite) is dropped whole as ``unsupported_rate``. Each of these problems is
logged once per stream (warning) and counted every time; none of them ends the stream.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from anyppg.sdk.samples import SampleBlock
from anyppg.signal.constants import MIN_PPG_RATE
from anyppg.signal.runs import true_runs

__all__ = [
    "ACC_ABS_LIMIT_G",
    "DROP_REASONS",
    "GAP_REASONS",
    "MAX_ABS_T0_S",
    "MAX_RATE_HZ",
    "MIN_RATE_HZ",
    "PPG_ABS_LIMIT",
    "Accounting",
    "Delivery",
    "Gap",
    "Timeline",
]

log = logging.getLogger(__name__)

#: why a received sample was not delivered.
DROP_REASONS = ("duplicate", "out_of_order", "backpressure", "invalid", "outlier", "unsupported_rate")
#: why a gap is there: lost in transit, the link was down, invalid samples were dropped, the device
#: restarted (its sequence numbers went back), or its clock jumped.
GAP_REASONS = ("missing", "disconnect", "invalid", "restart", "clock_jump")
#: PPG magnitudes above this (in the device's unit) are not readings: dropped as ``invalid``.
PPG_ABS_LIMIT = 1e9
#: accelerometer magnitudes above this (g) are not readings: repaired by interpolation.
ACC_ABS_LIMIT_G = 1e3
#: slowest PPG rate the preprocessing takes (Hz): it band-passes up to 8 Hz (see ``anyppg.signal``).
MIN_RATE_HZ = MIN_PPG_RATE
#: fastest rate accepted (Hz); a declared rate above it is a corrupt header, not a PPG sensor.
MAX_RATE_HZ = 10_000.0
#: device timestamps beyond ±this (s, about 31.7 million years) are corrupt: the block is invalid.
MAX_ABS_T0_S = 1e15

_RECENT_KEYS = 4096  # content fingerprints kept for duplicate detection (bounded on endless streams)


@dataclass(frozen=True)
class Gap:
    """An interval of device time with no samples.

    Attributes:
        start: device time where samples stopped, s.
        end: device time where they resumed, s (before ``start`` for a ``restart`` or backward
            ``clock_jump``: the device time line started again).
        missing: estimated number of samples lost (``round((end - start) * rate)``; 0 when unknown,
            as after a restart or a clock jump).
        filled: whether the pipeline bridged it by interpolation (True) or restarted windows (False).
        reason: one of :data:`GAP_REASONS`.
    """

    start: float
    end: float
    missing: int
    filled: bool
    reason: str = "missing"

    def __post_init__(self) -> None:
        # Plain Python types whatever the caller computed them with (numpy scalars are not JSON).
        object.__setattr__(self, "start", float(self.start))
        object.__setattr__(self, "end", float(self.end))
        object.__setattr__(self, "missing", int(self.missing))
        object.__setattr__(self, "filled", bool(self.filled))
        object.__setattr__(self, "reason", str(self.reason))

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
        received: samples ruled on (delivered or dropped).
        delivered: samples handed to preprocessing.
        dropped: samples not delivered, by reason (see :data:`DROP_REASONS`).
        filled: interpolated samples inserted to bridge short gaps (not counted as received).
        gaps: the gaps, in stream order.
        corrupt_frames: frames the transport could not decode (CRC, framing); their samples are unknown.
        reconnects: how many times the link was re-established.
        windows: windows produced; ``windows_gated``: of those, how many failed the quality gate.
        reanchors: times the time line started again on a new device-time origin (a device restart
            or a clock jump, confirmed by the block after it); each is also a gap.
        reordered: samples delivered in order although their block arrived after a later one.
        pending: samples held by the timeline, not yet counted (reordering or jump confirmation).
        issues: problems handled without stopping the stream, by kind: ``no_ppg_channel``,
            ``unknown_acc_unit``, ``units_mismatch`` (frames), ``invalid_acc`` (samples repaired),
            ``unsupported_rate`` (blocks).
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
    reanchors: int = 0
    reordered: int = 0
    pending: int = 0
    issues: Counter[str] = field(default_factory=Counter)

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
            reanchors=self.reanchors,
            reordered=self.reordered,
            pending=self.pending,
            issues=Counter(self.issues),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready types only (ints, floats, bools, strings, lists, dicts)."""
        reasons = list(DROP_REASONS) + sorted(set(self.dropped) - set(DROP_REASONS))
        return {
            "received": int(self.received),
            "delivered": int(self.delivered),
            "dropped": int(self.dropped_total),
            "dropped_by_reason": {r: int(self.dropped.get(r, 0)) for r in reasons},
            "filled": int(self.filled),
            "missing": int(self.missing),
            "gaps": [g.to_dict() for g in self.gaps],
            "corrupt_frames": int(self.corrupt_frames),
            "reconnects": int(self.reconnects),
            "windows": int(self.windows),
            "windows_gated": int(self.windows_gated),
            "reanchors": int(self.reanchors),
            "reordered": int(self.reordered),
            "pending": int(self.pending),
            "issues": {k: int(v) for k, v in sorted(self.issues.items())},
        }


class Delivery(NamedTuple):
    """One block the timeline hands on, in device-time order.

    Attributes:
        block: the samples.
        restart: a new segment starts at this block (after a long gap, a rate change or a
            re-anchoring): windowing must start again.
        fill: the block was interpolated by the timeline to bridge a short gap (no real samples).
    """

    block: SampleBlock
    restart: bool = False
    fill: bool = False


class Timeline:
    """Orders incoming blocks on the device clock and decides what is delivered.

    Each delivered block starts where the previous one ended (within half a sample). A block that
    starts later leaves a hole: when the hole is short (at most ``reorder_s``) the block is held
    until the missing block arrives late (it is then delivered in order, ``reordered``) or until the
    stream has moved ``reorder_s`` past the hole, which then becomes a :class:`Gap`. A block that
    starts earlier than expected is dropped: as a ``duplicate`` when the same samples were delivered
    at that time already (BLE double notifications after a reconnect), as ``out_of_order`` when it
    arrives after its slot was ruled on.

    A block more than ``jump_s`` away from the expected time (either way), or one that brings new
    samples for a time already delivered (a restarted device reusing its clock), is held as a
    re-anchoring candidate. If the next block continues it, the time line re-anchors on it: both are
    delivered as a new segment, ``reanchors`` counts it and a gap with reason ``restart`` (sequence
    numbers went back) or ``clock_jump`` is listed; a forward jump whose sequence numbers show frames
    were lost is an ordinary long gap instead. If the next block continues the old time line, the
    candidate was a lone outlier (a far-future timestamp) and is dropped as ``outlier``. Delivery thus
    resumes within one block after a restart, and one bad timestamp cannot poison the time line.

    Args:
        accounting: the accounting to update.
        max_fill_s: gaps up to this long (s) are bridged by linear interpolation; longer gaps start
            a new segment (the caller restarts windowing).
        reorder_s: how far (s of device time) the stream may run ahead of a hole while the timeline
            waits for a late block to fill it; this bounds the extra latency a lost block costs.
        jump_s: a block further than this (s) from the expected time needs the next block's
            confirmation before the time line moves to it.
        max_held: most blocks held for reordering (bounds memory for tiny blocks).
    """

    def __init__(
        self,
        accounting: Accounting,
        max_fill_s: float = 0.5,
        *,
        reorder_s: float = 0.5,
        jump_s: float = 2.0,
        max_held: int = 64,
    ) -> None:
        self.acc = accounting
        self.max_fill_s = max_fill_s
        self.reorder_s = reorder_s
        self.jump_s = jump_s
        self.max_held = max_held
        self._next_t: float | None = None
        self._valid_end = 0.0  # device time just after the last delivered sample (where a gap starts)
        self._rate: float | None = None
        self._channels: int | None = None
        self._last: SampleBlock | None = None  # the last block delivered (fills start from it)
        self._last_seq: int | None = None
        self._recent: dict[int, int] = {}  # round(t0 * rate) -> fingerprint of the delivered block
        self._held: list[SampleBlock] = []  # blocks ahead of a hole, sorted by t0
        self._candidate: SampleBlock | None = None  # a jump waiting for confirmation
        self._pending_reason = "missing"
        self._hole_known = False  # the next hole's cause is known: do not wait for a late block
        self._warned: set[str] = set()

    @property
    def next_t(self) -> float | None:
        """Device time the next block is expected to start at, s (None before the first block)."""
        return self._next_t

    def mark_disconnect(self) -> None:
        """The link dropped: the next gap is labelled ``disconnect`` (and not waited on)."""
        self._pending_reason = "disconnect"
        self._hole_known = True

    def push(self, block: SampleBlock) -> list[Delivery]:
        """Account for one received block.

        Returns:
            What to deliver now, in order: fill blocks, this block, held blocks it released, or
            nothing (the block was dropped or is held).
        """
        for issue in block.issues:
            self._issue(issue, 1, f"{issue.replace('_', ' ')} in a frame (handled, stream continues)")
        n = len(block)
        if n == 0:
            return []
        out: list[Delivery] = []
        if not (math.isfinite(block.rate) and MIN_RATE_HZ <= block.rate <= MAX_RATE_HZ):
            self._issue(
                "unsupported_rate",
                1,
                f"block at {block.rate:g} Hz; expected {MIN_RATE_HZ:g}..{MAX_RATE_HZ:g} Hz",
            )
            self._drop(block, "unsupported_rate")
            return out
        if not abs(block.t0) <= MAX_ABS_T0_S:  # also NaN
            self._issue("invalid", 0, f"a block with timestamp {block.t0} s dropped as invalid")
            self._drop(block, "invalid")
            return out
        block = self._repair_acc(block)
        changed_rate = self._rate is not None and abs(block.rate - self._rate) > 1e-6 * self._rate
        if changed_rate or (self._channels is not None and block.channels != self._channels):
            # A device changed its rate or PPG channels mid-stream: rule on what is held, then a new
            # segment (nothing is interpolated across the change).
            out += self.flush()
            self._next_t = None
        self._rate = block.rate
        self._channels = block.channels
        self._classify(block, out)
        self._drain(out, force=False)
        self._update_pending()
        return out

    def flush(self) -> list[Delivery]:
        """Rule on every held block (end of stream): holes become gaps, a waiting jump is taken.

        Returns:
            The deliveries this releases, in order.
        """
        out: list[Delivery] = []
        self._drain(out, force=True)
        if self._candidate is not None:
            candidate, self._candidate = self._candidate, None
            self._reanchor(candidate, out)
        self._update_pending()
        return out

    # --- ruling on one block ----------------------------------------------------------------------

    def _classify(self, block: SampleBlock, out: list[Delivery]) -> None:
        if self._next_t is None:
            self._deliver(block, out, restart=True)
            return
        half = 0.5 / block.rate
        key = round(block.t0 * block.rate)
        fingerprint = _fingerprint(block)
        seen = self._recent.get(key)
        if seen == fingerprint:  # these very samples were delivered at this time already
            self._drop(block, "duplicate")
            return
        candidate = self._candidate
        if candidate is not None:
            if _same(block, candidate):
                self._drop(block, "duplicate")
                return
            self._candidate = None
            if abs(block.t0 - candidate.t_end) <= half:  # confirmed: the time line moves
                self._reanchor(candidate, out)
                self._classify(block, out)
                return
            self._issue(
                "outlier", 0, f"lone block at t={candidate.t0:.3f} s dropped (next block did not follow it)"
            )
            self._drop(candidate, "outlier")
        assert self._next_t is not None
        delta = block.t0 - self._next_t
        if delta < -half:
            if delta < -self.jump_s or seen is not None:  # far back, or new samples for an old time
                self._candidate = block
            else:
                self._drop(block, "out_of_order")
            return
        if delta <= half:
            if self._held:  # the late block a hole was waiting for
                self.acc.reordered += len(block)
            self._deliver(block, out, fingerprint=fingerprint)
            return
        if any(_same(block, h) for h in self._held):
            self._drop(block, "duplicate")
            return
        if delta > self.jump_s:
            self._candidate = block
            return
        if self._held or (delta <= self.reorder_s and not self._hole_known):
            bisect.insort(self._held, block, key=lambda b: b.t0)
            return
        self._deliver(block, out)

    def _drain(self, out: list[Delivery], force: bool) -> None:
        """Deliver held blocks that are now in order, or whose hole has waited long enough."""
        held = self._held
        while held:
            assert self._next_t is not None
            first = held[0]
            delta = first.t0 - self._next_t
            half = 0.5 / first.rate
            if abs(delta) <= half:
                held.pop(0)
                self._deliver(first, out)
            elif delta < -half:  # overlaps what a released block already delivered
                held.pop(0)
                same = self._recent.get(round(first.t0 * first.rate)) == _fingerprint(first)
                self._drop(first, "duplicate" if same else "out_of_order")
            elif force or held[-1].t_end - self._next_t > self.reorder_s or len(held) > self.max_held:
                held.pop(0)
                self._deliver(first, out)
            else:
                break

    def _reanchor(self, block: SampleBlock, out: list[Delivery]) -> None:
        """Move the time line to ``block`` (a confirmed jump, or a candidate at the end of a stream)."""
        self._drain(out, force=True)  # what is held belongs to the old time line
        assert self._next_t is not None
        delta = block.t0 - self._valid_end
        step = None if block.seq is None or self._last_seq is None else (block.seq - self._last_seq) & 0xFFFF
        if delta > 0 and (step != 1 or self._pending_reason == "disconnect"):
            # Forward, and frames were lost (or there are no sequence numbers), or the link dropped
            # (a device numbers the frames it sends, not those it sampled while nobody listened):
            # an ordinary long gap.
            missing = round(delta * block.rate)
            self.acc.gaps.append(Gap(self._valid_end, block.t0, missing, False, reason=self._pending_reason))
        else:
            reason = "restart" if step is not None and step >= 0x8000 else "clock_jump"
            self.acc.gaps.append(Gap(self._valid_end, block.t0, 0, False, reason=reason))
            self.acc.reanchors += 1
            self._issue(
                reason, 0, f"time line re-anchored at t={block.t0:.3f} s ({reason.replace('_', ' ')})"
            )
            self._recent.clear()  # the old time line's fingerprints say nothing about the new one
        self._deliver(block, out, restart=True)

    def _deliver(
        self, block: SampleBlock, out: list[Delivery], restart: bool = False, fingerprint: int | None = None
    ) -> None:
        """Deliver a block that is next on the time line (a hole before it becomes a gap).

        Invalid PPG samples are dropped one by one; the holes they leave are gaps like any other.
        """
        self._remember(block, fingerprint)
        self._last_seq = block.seq
        ppg = block.ppg
        if np.abs(ppg).max() <= PPG_ABS_LIMIT:  # all valid (NaN compares False): the common case
            self._join(block, out, restart)
            return
        valid = np.abs(ppg) <= PPG_ABS_LIMIT  # False for NaN and inf too
        if valid.ndim == 2:  # a time point is dropped when any of its channels is invalid
            valid = valid.all(axis=1)
        n_bad = int(np.count_nonzero(~valid))
        self.acc.received += n_bad
        self.acc.dropped["invalid"] += n_bad
        self._issue(
            "invalid", 0, f"{n_bad} invalid PPG sample(s) (NaN, inf or |x| > {PPG_ABS_LIMIT:g}) dropped"
        )
        for start, stop in zip(*true_runs(valid), strict=True):
            sub = SampleBlock(
                block.t0 + int(start) / block.rate,
                block.rate,
                ppg[start:stop],
                None if block.acc is None else block.acc[start:stop],
                seq=block.seq,
                arrival=block.arrival,
                acc_in_g=block.acc_in_g,
            )
            if start > 0:  # the hole before this run holds dropped samples
                self._pending_reason, self._hole_known = "invalid", True
            self._join(sub, out, restart)
            restart = False
        if restart:  # nothing valid in a block that was to start a segment: start at the next one
            self._next_t = None
        elif not valid[-1]:  # the next gap starts with these dropped samples; the next block after them
            self._pending_reason, self._hole_known = "invalid", True
            self._next_t = block.t_end

    def _join(self, block: SampleBlock, out: list[Delivery], restart: bool) -> None:
        """Accept valid samples, after a gap (filled when short) if they start later than expected."""
        if restart or self._next_t is None:
            self._accept(block, out, restart=True)
            return
        delta = block.t0 - self._valid_end
        missing = round(delta * block.rate)
        if missing < 1:
            self._accept(block, out, restart=False)
            return
        filled = delta <= self.max_fill_s
        self.acc.gaps.append(Gap(self._valid_end, block.t0, missing, filled, reason=self._pending_reason))
        if filled:
            out.append(Delivery(self._fill(block.rate, missing, block), fill=True))
        self._accept(block, out, restart=not filled)

    def _accept(self, block: SampleBlock, out: list[Delivery], restart: bool) -> None:
        n = len(block)
        self.acc.received += n
        self.acc.delivered += n
        self._next_t = self._valid_end = block.t_end
        self._last = block
        self._pending_reason, self._hole_known = "missing", False
        out.append(Delivery(block, restart=restart))

    def _drop(self, block: SampleBlock, reason: str) -> None:
        self.acc.received += len(block)
        self.acc.dropped[reason] += len(block)

    def _remember(self, block: SampleBlock, fingerprint: int | None) -> None:
        recent = self._recent
        recent[round(block.t0 * block.rate)] = _fingerprint(block) if fingerprint is None else fingerprint
        if len(recent) > _RECENT_KEYS:  # keep memory bounded on endless streams: forget the oldest half
            for key in list(recent)[: _RECENT_KEYS // 2]:
                del recent[key]

    def _fill(self, rate: float, missing: int, after: SampleBlock) -> SampleBlock:
        """Linear interpolation from the last delivered sample to the first of ``after``."""
        frac = np.arange(1, missing + 1) / (missing + 1)
        last = self._last
        first = np.asarray(after.ppg[0], dtype=np.float64)
        last_ppg = first if last is None or last.channels != after.channels else last.ppg[-1]
        ramp = frac if after.ppg.ndim == 1 else frac[:, None]
        ppg = last_ppg + (first - last_ppg) * ramp
        acc = None
        if after.acc is not None:
            start = after.acc[0] if last is None or last.acc is None else last.acc[-1]
            acc = start + (after.acc[0] - start) * frac[:, None]
        self.acc.filled += missing

        return SampleBlock(
            self._valid_end, rate, ppg, acc, seq=None, arrival=after.arrival, acc_in_g=after.acc_in_g
        )

    def _repair_acc(self, block: SampleBlock) -> SampleBlock:
        """Interpolate accelerometer values that are not finite or absurdly large (in g), per axis;
        raw values of unknown unit (``acc_in_g`` False) only when they are not finite."""
        acc = block.acc
        limit = ACC_ABS_LIMIT_G if block.acc_in_g else np.inf
        if acc is None or np.abs(acc).max() <= limit:  # NaN compares False
            return block
        bad = ~(np.abs(acc) <= limit) | ~np.isfinite(acc)
        repaired = np.array(acc, dtype=np.float64)
        idx = np.arange(len(block))
        for axis in range(repaired.shape[1]):
            good = ~bad[:, axis]
            if good.any():
                repaired[~good, axis] = np.interp(idx[~good], idx[good], repaired[good, axis])
            else:  # no valid value on this axis: hold the last delivered one (or 0 g)
                last = None if self._last is None else self._last.acc
                repaired[:, axis] = 0.0 if last is None else last[-1, axis]
        n_bad = int(np.count_nonzero(bad.any(axis=1)))
        self._issue("invalid_acc", n_bad, f"{n_bad} invalid accelerometer sample(s) interpolated")
        return replace(block, acc=repaired)

    def _issue(self, kind: str, count: int, message: str) -> None:
        """Count ``count`` occurrences of ``kind`` (0: counted elsewhere) and warn once per kind."""
        if count:
            self.acc.issues[kind] += count
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning("%s (logged once per stream)", message)

    def _update_pending(self) -> None:
        if not self._held and self._candidate is None and not self.acc.pending:
            return
        held = sum(len(b) for b in self._held)
        self.acc.pending = held + (len(self._candidate) if self._candidate is not None else 0)


def _fingerprint(block: SampleBlock) -> int:
    """Identifies a block's samples (a repeated notification carries the very same bytes)."""
    return hash(block.ppg.tobytes())


def _same(a: SampleBlock, b: SampleBlock) -> bool:
    return (
        round(a.t0 * a.rate) == round(b.t0 * b.rate)
        and len(a) == len(b)
        and _fingerprint(a) == _fingerprint(b)
    )
