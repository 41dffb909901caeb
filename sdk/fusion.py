"""Per-window heart-rate fusion: the classical tracker, a learned motion model and the encoder's head.

The streaming pipeline has up to three heart-rate estimates per 10 s window:

- the classical tracker (:class:`anyppg.signal.HeartRateTracker`): causal, motion-aware, follows the
  pulse across windows; the anchor of the fused value;
- a learned PPG + accelerometer model (``anyppg.sdk.motion_runtime.MotionModel``), when one is loaded;
- the encoder's ``heart_rate`` head (:class:`anyppg.sdk.runtime.Model`), trained on resting windows.

:class:`HeartRateFusion` combines them with one rule, fixed a priori (no parameter was fitted on the
data it is scored on):

1. Each estimate has a confidence in 0..1: the tracker's from its agreement with the window's own
   beat-interval rate, the window's quality index, and whether it sits on a movement frequency of the
   accelerometer (:func:`tracker_confidence`); the motion model's from the model; the encoder head's
   is the window's quality index, scaled down by motion (the head saw no running).
2. The tracker is the anchor, weighing its confidence ``c_t``. A learned estimate joins with weight
   ``c * exp(-d^2 / 2s^2) * (1 - c_t)``, where ``d`` is its distance to the anchor and ``s`` =
   ``agree_bpm`` (default 3 bpm): an estimate that disagrees by 2 s or more has almost no weight, so a
   wrong model cannot pull the reported rate away (today's student head is off by tens of bpm on real
   wrist data and is ignored this way), and a confident tracker is left alone (on clean finger PPG the
   tracker is within about 1 bpm of the ECG; averaging in a head that agrees only to within a few bpm
   made it worse, measured in docs/sdk.md). Learned estimates fill in the tracker's doubt; the
   encoder head only where the tracker's confidence is under 0.5 (:data:`JOIN_BELOW`): it reads the
   rate from the window's spectrum as the tracker does, so it adds nothing where the tracker is sure.
3. The fused rate is the weighted mean; its confidence is ``1 - (1 - c_t) prod(1 - w_i)`` over the
   learned weights ``w_i`` (independent agreeing estimates raise it), lowered by confident estimates
   that disagree.
4. Without a tracker value (no track yet, broken window), the most confident learned estimate among
   ``alone_sources`` (default: the motion model only) is reported if its confidence is at least
   ``min_alone``, with half its confidence. The encoder head does not stand in for the tracker: on the
   held-out MIMIC-DB subjects the windows where the tracker has no value are the ones where the head
   is worst (the fused rate scored 3.66 bpm against the tracker's 3.40 while it did, benchmarks/results/
   real.md), and the reported rate must never be worse than the tracker alone. The head's value is
   still in ``heart_rate_model`` for every window.

Everything is causal and per window: a few arithmetic operations (measured in docs/sdk.md).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Estimate", "FusedHeartRate", "HeartRateFusion", "encoder_confidence", "tracker_confidence"]

#: tracker-vs-beat-interval disagreement (bpm) at which the agreement term of the tracker's
#: confidence falls to exp(-1/2).
TRACKER_AGREE_BPM = 5.0
#: distance (bpm) between the track and a movement frequency (or its second harmonic) at which the
#: motion-lock penalty of the tracker's confidence falls to exp(-1/2) of its full size.
MOTION_LOCK_BPM = 1.5
#: largest share of the tracker's confidence taken away when its rate sits on a movement frequency.
MOTION_LOCK_PENALTY = 0.6
#: motion level (g, RMS of the band-passed accelerometer magnitude) at which the encoder head's
#: confidence is halved: it was trained on windows without running.
ENCODER_MOTION_HALF_G = 0.05
#: per source, the tracker confidence from which a learned estimate of that source gets no weight. The
#: encoder head reads the rate from the window's spectrum, as the tracker does, so their errors come
#: together: on the students' BIDMC training patients, where the tracker's confidence was under 0.5
#: the head was as far off as the tracker (11.6 vs 11.0 bpm), and averaging it in where the tracker
#: was confident made the fused rate worse than the tracker's (1.3378 vs 1.3364 bpm; 1.3353 with
#: this gate). Chosen there, not on held-out patients (docs/sdk.md).
JOIN_BELOW = {"encoder": 0.5}


@dataclass(frozen=True)
class Estimate:
    """One heart-rate estimate of one window.

    Attributes:
        source: who made it (``tracker``, ``motion_model``, ``encoder``).
        bpm: the heart rate, bpm (finite).
        confidence: how far it can be trusted, 0..1.
    """

    source: str
    bpm: float
    confidence: float


@dataclass(frozen=True)
class FusedHeartRate:
    """The fused heart rate of one window.

    Attributes:
        bpm: the reported heart rate, bpm, or None when no estimate is trustworthy.
        confidence: its confidence, 0..1, or None with no heart rate.
        sources: the estimates that contributed (weight above 1 %), in input order.
    """

    bpm: float | None
    confidence: float | None
    sources: tuple[str, ...] = ()


def _clip01(x: float) -> float:
    return 0.0 if not math.isfinite(x) else min(1.0, max(0.0, x))


def tracker_confidence(
    tracked: float,
    single_window: float | None,
    quality: float,
    *,
    held: int = 0,
    motion_bpm: Sequence[float] = (),
) -> float:
    """Confidence (0..1) of a tracker value from what the window itself says.

    Half from the window's quality index, half from the agreement of the track with the window's
    own beat-interval rate (``exp(-d^2 / 2 / 5^2)``, d in bpm; 0.5 when the window has too few beats
    to tell); halved for each window in a row the tracker held its value without a clear peak; and
    lowered by up to :data:`MOTION_LOCK_PENALTY` when the track sits on a movement frequency or its
    second harmonic (``exp(-d^2 / 2 / 1.5^2)``): a track locked onto the arm swing or the cadence
    looks like a clean pulse to the other checks.

    Args:
        tracked: the tracker's heart rate, bpm.
        single_window: the window's own beat-interval heart rate, bpm, or None.
        quality: the window's quality index, 0..1.
        held: windows in a row the tracker held its value (``HeartRateTracker.held``).
        motion_bpm: the accelerometer's dominant movement frequencies in the window, in beats per
            minute (``60 * anyppg.signal.heart_rate.motion_frequencies(...)[0]``); empty at rest.

    Returns:
        The confidence, 0..1.
    """
    if single_window is None or not math.isfinite(single_window):
        agree = 0.5
    else:
        agree = math.exp(-0.5 * ((tracked - single_window) / TRACKER_AGREE_BPM) ** 2)
    on_motion = max(
        (math.exp(-0.5 * ((tracked - k * f) / MOTION_LOCK_BPM) ** 2) for f in motion_bpm for k in (1, 2)),
        default=0.0,
    )
    base = (0.5 * _clip01(quality) + 0.5 * agree) * 0.5 ** max(0, held)
    return _clip01(base * (1.0 - MOTION_LOCK_PENALTY * on_motion))


def encoder_confidence(quality: float, motion: float | None) -> float:
    """Confidence (0..1) of the encoder's heart-rate head: the window's quality index, halved at every
    :data:`ENCODER_MOTION_HALF_G` of motion (g)."""
    m = 0.0 if motion is None or not math.isfinite(motion) else max(0.0, motion)
    return _clip01(quality) * 0.5 ** (m / ENCODER_MOTION_HALF_G)


class HeartRateFusion:
    """Fuses the per-window heart-rate estimates of one stream (see the module docstring).

    Args:
        agree_bpm: the agreement scale ``s`` (bpm): a learned estimate ``d`` bpm from the tracker
            weighs ``exp(-d^2 / 2 s^2)`` of its confidence.
        min_alone: least confidence for a learned estimate to be reported without a tracker value.
        alone_sources: the sources of learned estimates that may be reported without a tracker value.
        join_below: per source, the tracker confidence from which a learned estimate of that source
            gets no weight (it still lowers the confidence when it disagrees); default
            :data:`JOIN_BELOW`, the encoder head only below 0.5. Sources not named always join.

    Raises:
        ValueError: ``agree_bpm`` not positive, or ``min_alone`` or a ``join_below`` value outside 0..1.
    """

    def __init__(
        self,
        *,
        agree_bpm: float = 3.0,
        min_alone: float = 0.3,
        alone_sources: Collection[str] = ("motion_model",),
        join_below: Mapping[str, float] | None = None,
    ) -> None:
        if not (math.isfinite(agree_bpm) and agree_bpm > 0):
            raise ValueError(f"agree_bpm must be a positive number of bpm, got {agree_bpm!r}")
        if not (0.0 <= min_alone <= 1.0):
            raise ValueError(f"min_alone must lie in 0..1, got {min_alone!r}")
        self.agree_bpm = float(agree_bpm)
        self.min_alone = float(min_alone)
        self.alone_sources = frozenset(alone_sources)
        self.join_below = dict(JOIN_BELOW if join_below is None else join_below)
        bad = {k: v for k, v in self.join_below.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"join_below values must lie in 0..1, got {bad!r}")

    def fuse(self, tracker: Estimate | None, learned: Sequence[Estimate] = ()) -> FusedHeartRate:
        """Fuse one window's estimates.

        Args:
            tracker: the tracker's estimate, or None (no track yet, or an unreadable window).
            learned: learned estimates (motion model, encoder head), any order; non-finite ones are
                ignored.

        Returns:
            The fused heart rate and its confidence.
        """
        others = [e for e in learned if math.isfinite(e.bpm) and e.confidence > 0]
        if tracker is None or not math.isfinite(tracker.bpm):
            others = [e for e in others if e.source in self.alone_sources]
            if not others:
                return FusedHeartRate(None, None)
            best = max(others, key=lambda e: e.confidence)
            if best.confidence < self.min_alone:
                return FusedHeartRate(None, None)
            return FusedHeartRate(best.bpm, 0.5 * best.confidence, (best.source,))
        c0 = max(_clip01(tracker.confidence), 1e-3)
        total_w, total = c0, c0 * tracker.bpm
        keep_missing = 1.0 - c0
        doubt = 0.0
        sources = [tracker.source]
        for e in others:
            c = _clip01(e.confidence)
            agree = math.exp(-0.5 * ((e.bpm - tracker.bpm) / self.agree_bpm) ** 2)
            w = c * agree * (1.0 - c0) if c0 < self.join_below.get(e.source, math.inf) else 0.0
            total_w += w
            total += w * e.bpm
            keep_missing *= 1.0 - w
            doubt = max(doubt, c * (1.0 - agree))
            if w >= 0.01:
                sources.append(e.source)
        confidence = (1.0 - keep_missing) * (1.0 - 0.5 * doubt)
        bpm = tracker.bpm if total_w == c0 else total / total_w  # the tracker's value, to the bit, alone
        return FusedHeartRate(bpm, _clip01(confidence), tuple(sources))
