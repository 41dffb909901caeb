"""The streaming pipeline of one device: timeline -> preprocessing -> quality gate -> model -> results.

It is synchronous and holds no I/O, so it can be driven by :class:`anyppg.sdk.Device`, by a benchmark,
or by a test with hand-made blocks. Preprocessing is :class:`anyppg.signal.PPGPreprocessor`, the very
object training uses (resampling to 125 Hz, streaming 0.5-8 Hz band-pass with state, 10 s windows at a
configurable hop, z-score per window), so a window seen live is the window seen in training.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np

from anyppg.sdk.accounting import Accounting, Delivery, Timeline
from anyppg.sdk.fusion import Estimate, HeartRateFusion, encoder_confidence, tracker_confidence
from anyppg.sdk.polarity import CHECK_WINDOWS, Polarity, PolarityCheck, polarity_sign
from anyppg.sdk.results import Result
from anyppg.sdk.samples import SampleBlock
from anyppg.signal import HeartRateTracker, PPGPreprocessor, heart_rate
from anyppg.signal.constants import MODEL_FS, WINDOW_SAMPLES
from anyppg.signal.gravity import GravityCalibrator
from anyppg.signal.heart_rate import motion_frequencies
from anyppg.signal.motion_hr import MotionHeartRateTracker
from anyppg.signal.quality import CLIP_FRACTION, USABLE_SQI, assess_window, clip_fraction
from anyppg.signal.segment import PPGSegment

__all__ = ["DEFAULT_QUALITY_THRESHOLD", "RHYTHM_CLASSES", "Pipeline"]

log = logging.getLogger(__name__)

#: windows whose quality index (0..1) is below this skip the model.
DEFAULT_QUALITY_THRESHOLD = USABLE_SQI


_SILENT_RATIO = 1e-7

#: A track may start on a window the quality index does not pass only where the tracker's first
#: estimate, the window's own beat rate and the model's rate all lie within this many bpm (_track).
ACQUIRE_AGREE_BPM = 5.0
#: the model's quality head (a probability) at or above which its rate counts in that agreement.
_MODEL_USABLE = 0.5
#: A still window whose beats are all regular reports 60 / its mean beat interval
#: (:func:`anyppg.signal.heart_rate.regular_beat_rate`) where that lies within this many bpm of the
#: fused rate (docs/sdk.md "Fusion").
BEATS_AGREE_BPM = 3.0

#: A stream with a model reads its first windows (2 min at the 2 s hop) both ways up as well, then
#: says whether its pulse looks upside down (``Pipeline.polarity_check``): the reads and the rule of
#: :func:`anyppg.check_polarity`. Results do not change.
POLARITY_WATCH_WINDOWS = CHECK_WINDOWS
#: fewer windows than this at the end of a stream leave ``polarity_check`` None.
_POLARITY_WATCH_MIN = 5

#: the rhythm classes of a ``rhythm`` model output, in output order, when the model card does not name
#: them (Liu et al. 2022's six classes).
RHYTHM_CLASSES = ("sinus_rhythm", "PVC", "PAC", "VT", "SVT", "AF")


def _sigmoid(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))


class Pipeline:
    """Turns sample blocks of one device into :class:`Result` objects, with exact accounting.

    Args:
        device: the device identifier put into each result.
        model: a loaded :class:`anyppg.sdk.runtime.Model`, or None for signal-only results
            (heart rate from peaks and tracking, quality; no embedding).
        hop_s: step between window starts, s (default 2 s; windows are 10 s).
        quality_threshold: windows with quality below it, or clipped (``Result.clipped``), skip the
            model (0 disables the gate).
        max_fill_s: gaps up to this long are bridged by interpolation; longer ones restart windows.
        accounting: the accounting to update (a new one by default).
        use_acc: when the heart-rate tracker gets the accelerometer: ``auto`` (default: the motion
            tracker in every window, it cancels motion only while the arm moves; the classic tracker
            in windows where the core's quality check sees motion), ``always``, or ``never``.
        tracker: the classical heart-rate tracker: ``motion``
            (:class:`anyppg.signal.motion_hr.MotionHeartRateTracker`: accelerometer-referenced noise
            cancellation, every PPG channel, HMM decoding, its own confidence), ``classic``
            (:class:`anyppg.signal.HeartRateTracker` on channel 0, the SDK's tracker before the motion
            tracker; its confidence from :func:`anyppg.sdk.fusion.tracker_confidence`), or ``auto``
            (default): the recommended tracker, today ``motion`` with or without an accelerometer
            (measured: far better on wrist recordings with one; without one, its beat-interval check
            against sub-/super-harmonic lock gives 1.14 / 1.37 bpm mean MAE over every BIDMC /
            MIMIC-DB subject against the classic tracker's 1.30 / 1.39, and 8.1 vs 11.3 bpm on
            vitaldsp's pulse-oximeter pleth; benchmarks/results/tracker_clinical.md, motion_other.md).
        run_model: which windows go through the model: ``usable`` ones (default: the quality gate
            skips the others, saving their inference; while the tracker has no track, a readable
            window also runs to confirm one, its outputs not reported), or ``always`` every readable
            window (not flat or silent; the gate is still reported in ``Result.usable``), as
            :func:`anyppg.analyze` does.
        fusion: how the heart-rate estimates of a window are combined (default
            :class:`anyppg.sdk.fusion.HeartRateFusion` with its defaults).
        motion_model: a learned PPG + accelerometer heart-rate model (``anyppg.sdk.motion_runtime.
            MotionModel``), given each readable window's band-passed channels and accelerometer at
            125 Hz: through its causal ``tracker()`` when it has one (one per segment), else
            ``estimate(ppg (channels, n), acc (3, n) in g, fs) -> (bpm, confidence)`` per window;
            its estimate (``Result.heart_rate_motion_model``) joins the fusion. It runs only on
            windows with an accelerometer: a stream without one never calls it (said once in the
            log; :attr:`motion_model_windows` stays 0). None (default): no such model.
        polarity: which way up the sensor's pulse is: ``normal`` (default: as read, the systolic
            upstroke positive) or ``inverted`` (a sensor whose counts fall as blood volume rises:
            every block's PPG, all channels, is negated as it enters, so the quality index, peaks,
            trackers and model all see the upright pulse; :mod:`anyppg.sdk.polarity`).
        watch_polarity: with a model, read the first :data:`POLARITY_WATCH_WINDOWS` windows turned
            over too and say whether the pulse looks upside down (``polarity_check``, a warning);
            results do not change.

    Raises:
        ModelInputError: the model does not take ``(1, 1, 1250)`` windows.
        UnsupportedRateError: the model card asks for another input rate than 125 Hz.
    """

    def __init__(
        self,
        device: str,
        model: Any | None = None,
        *,
        hop_s: float = 2.0,
        quality_threshold: float = DEFAULT_QUALITY_THRESHOLD,
        max_fill_s: float = 0.5,
        accounting: Accounting | None = None,
        use_acc: Literal["auto", "always", "never"] = "auto",
        run_model: Literal["usable", "always"] = "usable",
        fusion: HeartRateFusion | None = None,
        motion_model: Any | None = None,
        tracker: Literal["auto", "motion", "classic"] = "auto",
        polarity: Polarity = "normal",
        watch_polarity: bool = True,
    ) -> None:
        self.device = device
        self.model = model
        if model is not None:
            _check_model(model)
        self.hop_s = hop_s
        self.quality_threshold = quality_threshold
        if use_acc not in ("auto", "always", "never"):
            raise ValueError(f"use_acc must be 'auto', 'always' or 'never', got {use_acc!r}")
        self.use_acc = use_acc
        if run_model not in ("usable", "always"):
            raise ValueError(f"run_model must be 'usable' or 'always', got {run_model!r}")
        self.run_model = run_model
        if tracker not in ("auto", "motion", "classic"):
            raise ValueError(f"tracker must be 'auto', 'motion' or 'classic', got {tracker!r}")
        self.tracker_kind = tracker
        self.fusion = fusion if fusion is not None else HeartRateFusion()
        self.polarity = polarity
        self._sign = polarity_sign(polarity)  # a bad value fails here
        self.motion_model = motion_model
        #: windows the motion model estimated (it skips windows without an accelerometer).
        self.motion_model_windows = 0
        #: readable windows the motion model skipped because the stream has no accelerometer.
        self.motion_model_no_acc_windows = 0
        self._motion_tracker: Any | None = None
        self._motion_dt = 0.0
        self._rhythm_classes = _rhythm_classes(model) if model is not None else None
        self.accounting = accounting if accounting is not None else Accounting()
        self.timeline = Timeline(self.accounting, max_fill_s=max_fill_s)
        self._pre: PPGPreprocessor | None = None
        self._tracker: HeartRateTracker | MotionHeartRateTracker | None = None
        self._segment_t0 = 0.0
        self._track_t: float | None = None  # start of the last window the motion tracker saw, s
        self._level = 0.0  # recent peak |raw PPG|, to tell a flat line from a weak pulse
        self._gravity: GravityCalibrator | None = None  # for an accelerometer of unknown unit
        #: set by a gateway while this stream is behind real time; copied into each result.
        self.lagging = False
        #: whether the pulse looks upside down as read (:class:`~anyppg.sdk.polarity.PolarityCheck`,
        #: relative to ``polarity``): set after :data:`POLARITY_WATCH_WINDOWS` windows (or at the end
        #: of a shorter stream); None without a model. A warning is logged when it says ``inverted``.
        self.polarity_check: PolarityCheck | None = None
        self._watching = watch_polarity and model is not None
        self._watch: list[tuple[float, float, float, float]] = []

    def mark_disconnect(self) -> None:
        """The link dropped and came back: the next gap is a ``disconnect`` gap."""
        self.timeline.mark_disconnect()

    def push(self, block: SampleBlock) -> list[Result]:
        """Account for one block and return the results of the windows it completes.

        An accelerometer in raw units (``block.acc_in_g`` False) is first brought to g by gravity
        calibration (:class:`anyppg.signal.gravity.GravityCalibrator`, one per stream); an inverted
        sensor's PPG is negated (``polarity``).
        """
        return self._run(self.timeline.push(self._entering(block)), block.arrival)

    def push_many(self, blocks: Sequence[SampleBlock]) -> list[Result]:
        """:meth:`push` for several received blocks at once (a gateway draining a queue).

        Each block is accounted for on its own, exactly as :meth:`push` would; then the samples the
        timeline delivers in a row are preprocessed as one chunk: one resampling and filtering call
        instead of one per block. The windows are the same (preprocessing does not depend on chunk
        sizes); a result's latency counts from the arrival of the first block.
        """
        if not blocks:
            return []
        deliveries = [d for b in blocks for d in self.timeline.push(self._entering(b))]
        return self._run(_joined(deliveries), blocks[0].arrival)

    def flush(self) -> list[Result]:
        """End of stream: deliver what the timeline still holds; return the windows it completes."""
        results = self._run(self.timeline.flush(), time.perf_counter())
        if self.polarity_check is None and len(self._watch) >= _POLARITY_WATCH_MIN:
            self._conclude_polarity()
        return results

    def _run(self, deliveries: list[Delivery], arrival: float) -> list[Result]:
        results: list[Result] = []
        for b, restart, _fill in deliveries:
            if restart or self._pre is None:
                self._start_segment(b)
            self._level = max(0.99 * self._level, float(np.max(np.abs(b.ppg0))))
            windows = self._pre.push(b.ppg, acc=b.acc)  # type: ignore[union-attr]
            for w in windows:
                results.append(self._analyse(w, arrival))
        return results

    # --- internals ----------------------------------------------------------------------------------

    def _entering(self, block: SampleBlock) -> SampleBlock:
        """A received block as the pipeline uses it: upright (see ``polarity``), acceleration in g."""
        if self._sign < 0 and len(block):
            block = replace(block, ppg=np.negative(block.ppg))
        return self._in_g(block)

    def _in_g(self, block: SampleBlock) -> SampleBlock:
        """The block with its accelerometer in g (raw units are calibrated on gravity)."""
        if block.acc_in_g or block.acc is None or len(block) == 0:
            return block
        if self._gravity is None or self._gravity.sampling_rate != block.rate:
            self._gravity = GravityCalibrator(block.rate)
        acc = self._gravity.push(np.nan_to_num(block.acc, nan=0.0, posinf=0.0, neginf=0.0))
        return replace(block, acc=np.where(np.isfinite(block.acc), acc, block.acc), acc_in_g=True)

    def _start_segment(self, block: SampleBlock) -> None:
        self._pre = PPGPreprocessor(block.rate, hop_s=self.hop_s)
        if self.tracker_kind == "classic":
            self._tracker = HeartRateTracker(MODEL_FS)
        elif not isinstance(self._tracker, MotionHeartRateTracker):
            self._tracker = MotionHeartRateTracker(MODEL_FS)
        # else the motion tracker keeps its track across the gap: its next step spans the gap, so
        # the rate it allows widens with the time lost (with its square root, as the missed hops
        # would) instead of starting from nothing, where a fresh start on a window with a strong
        # sub-harmonic can lock onto half the rate.
        self._segment_t0 = block.t0
        make = getattr(self.motion_model, "tracker", None)
        self._motion_tracker = make() if callable(make) else None
        self._motion_dt = 0.0

    def _analyse(self, w: Any, arrival: float) -> Result:
        acc = self.accounting
        acc.windows += 1
        t_start = self._segment_t0 + float(w.start_s)
        t_end = self._segment_t0 + float(w.end_s)
        # One segment per window: quality, peaks and tracking share its band-passed signal, peaks and
        # band-passed accelerometer instead of each computing them again. A still, slow pulse that the
        # causal band-pass splits into two humps a beat is read phase-corrected (assess_window).
        seg, q = assess_window(PPGSegment(w.filtered, MODEL_FS, acc=w.acc))
        # A flat raw line band-passes to rounding noise, which looks like a (bad) signal: catch it by
        # its size relative to the raw level (a real pulse's AC/DC ratio is above 1e-5).
        silent = float(np.std(w.filtered)) <= _SILENT_RATIO * self._level
        broken = silent or q.flat or q.nan  # no pulse can be read from this window
        # A sensor stuck at its rail shows only in the raw samples (the band-pass turns a plateau into
        # a smooth bump). Such a window still has a rate to read, but its shape is cut off: it fails
        # the gate (held-out ICU windows: 3-5x the heart-rate errors of the others, docs/evaluation.md).
        rate = self._pre.input_rate  # type: ignore[union-attr]  # the stream's, which made ``w``
        clipped = w.raw is not None and bool(clip_fraction(w.raw, rate) > CLIP_FRACTION)
        clean = not broken and q.sqi >= self.quality_threshold  # a clear pulse, clipped or not
        usable = clean and not (clipped and self.quality_threshold > 0)
        hr_peaks = None if broken else _finite(heart_rate(seg, MODEL_FS, method="peaks"))
        regularity = None if broken else _finite(seg.cleaned_beats[0])
        motion = _finite(q.motion_level)
        hr_model = quality_model = af = None
        embedding = rhythm = None
        out: dict[str, np.ndarray] | None = None  # the model's outputs, where it ran
        report = usable or (self.run_model == "always" and not broken)
        # With no track yet, a readable window the quality index does not pass may still start one
        # where independent reads agree (_track); the model's rate is one of them, so it runs there
        # too (its outputs are reported only where ``report`` says).
        assert self._tracker is not None
        acquiring = not (broken or clean or math.isfinite(self._tracker.bpm))
        confirm_bpm = None  # the model's rate as evidence for starting a track
        if (report or acquiring) and self.model is not None:
            out = self.model.run(np.asarray(w.ppg, dtype=np.float32).reshape(1, 1, WINDOW_SAMPLES))
            model_bpm = _finite(float(out["heart_rate"].reshape(-1)[0]))
            q_model = _sigmoid(float(out["quality"].reshape(-1)[0])) if "quality" in out else None
            # A rate from a window the model's own quality head rejects is no evidence.
            confirm_bpm = model_bpm if q_model is None or q_model >= _MODEL_USABLE else None
            if report:
                hr_model, quality_model = model_bpm, q_model
                embedding = out["embedding"].reshape(-1)
                rhythm = _softmax(out["rhythm"].reshape(-1)) if "rhythm" in out else None
                af = self._af_probability(rhythm, out)
        if self._watching and self.polarity_check is None:
            self._watch_polarity(w, q.sqi, broken, out)
        if not usable:
            acc.windows_gated += 1
        tracker_est = None
        if not broken:
            tracker_est = self._track(w, seg, q, clean, hr_peaks, confirm_bpm)
        tracked = None if tracker_est is None else tracker_est.bpm
        learned = []
        if hr_model is not None and not broken:
            learned.append(Estimate("encoder", hr_model, encoder_confidence(q.sqi, motion)))
        hr_motion = None
        ran_motion = False
        if self.motion_model is not None and not broken:
            if w.acc is None:  # a PPG-only stream: zeros would be a made-up "still wrist" input
                if not self.motion_model_no_acc_windows:
                    log.info(
                        "%s: no accelerometer: the motion model does not run on this stream", self.device
                    )
                self.motion_model_no_acc_windows += 1
            else:
                est = self._motion_estimate(w)
                ran_motion = True
                self.motion_model_windows += 1
                hr_motion = _finite(est.bpm)
                learned.append(est)
        if self._motion_tracker is not None and not ran_motion:  # its next step spans this window
            self._motion_dt += self.hop_s
        anchor = tracker_est
        if tracker_est is not None and outvoted(tracker_est.bpm, hr_peaks, hr_motion, confirm_bpm):
            anchor = None  # three other reads agree against it: the fusion goes on without the tracker
        fused = self.fusion.fuse(anchor, learned)
        bpm, by_beats = self._beat_by_beat(fused.bpm, seg, broken or q.motion)
        return Result(
            device=self.device,
            t_start=t_start,
            t_end=t_end,
            heart_rate=bpm,
            heart_rate_model=hr_model,
            heart_rate_peaks=hr_peaks,
            quality=q.sqi,
            usable=usable,
            quality_model=quality_model,
            af_probability=af,
            embedding=embedding,
            motion=motion,
            filled=self._filled_in(t_start, t_end),
            latency_ms=(time.perf_counter() - arrival) * 1e3,
            accounting=acc.snapshot(),
            window=w.ppg,
            lagging=self.lagging,
            heart_rate_confidence=fused.confidence,
            heart_rate_tracker=tracked,
            rhythm_probabilities=rhythm,
            rhythm_classes=None if rhythm is None else self._classes_for(rhythm),
            heart_rate_motion_model=hr_motion,
            heart_rate_sources=("beats",) if by_beats else fused.sources if fused.bpm is not None else None,
            clipped=clipped,
            beat_regularity=regularity,
        )

    def _watch_polarity(self, w: Any, sqi: float, broken: bool, out: dict[str, np.ndarray] | None) -> None:
        """One window read turned over too: its quality index and (readable windows) the quality
        head's P(usable) both ways, as :func:`anyppg.check_polarity` reads them."""
        turned_sqi = assess_window(PPGSegment(-w.filtered, MODEL_FS, acc=w.acc))[1].sqi
        head = head_turned = math.nan
        if not broken:
            x = np.asarray(w.ppg, dtype=np.float32).reshape(1, 1, WINDOW_SAMPLES)
            out = out if out is not None else self.model.run(x)  # type: ignore[union-attr]
            if "quality" in out:
                turned = self.model.run(-x)  # type: ignore[union-attr]
                head, head_turned = (_sigmoid(float(o["quality"].reshape(-1)[0])) for o in (out, turned))
        self._watch.append((float(sqi), float(turned_sqi), head, head_turned))
        if len(self._watch) >= POLARITY_WATCH_WINDOWS:
            self._conclude_polarity()

    def _conclude_polarity(self) -> None:
        reads = np.array(self._watch, dtype=np.float64)
        self._watch = []
        check = PolarityCheck.from_reads(*reads.T)
        self.polarity_check = check
        if check.polarity == "inverted":
            other = "normal" if self.polarity == "inverted" else "inverted"
            log.warning(
                "%s: the pulse looks upside down as %s (turned over, its first %d windows score %+.2f on "
                "the quality index and %+.1f logits on the quality head): declare polarity=%r "
                "(docs/sdk.md, 'Pulse polarity')",
                self.device,
                "declared" if self.polarity == "inverted" else "read",
                check.windows,
                check.quality_gain,
                check.quality_head_gain,
                other,
            )

    @staticmethod
    def _beat_by_beat(bpm: float | None, seg: PPGSegment, moving: bool) -> tuple[float | None, bool]:
        """The reported rate and whether it is the window's beats': ``bpm`` (the fusion's), or where
        the window is still and every beat was found, 60 / its mean beat interval when that agrees
        with ``bpm`` within :data:`BEATS_AGREE_BPM` (beats per minute as an ECG reference counts
        them, without a spectrum's resolution; on the students' BIDMC / MIMIC-DB training patients
        it took the tracker's MAE from 1.16 to 1.08 bpm, docs/sdk.md)."""
        if bpm is None or moving or not math.isfinite(bpm):
            return bpm, False
        beats = seg.cleaned_beats[1]  # regular_beat_rate on the peaks hr_peaks reads
        if math.isfinite(beats) and abs(beats - bpm) <= BEATS_AGREE_BPM:
            return beats, True
        return bpm, False

    def _track(
        self, w: Any, seg: PPGSegment, q: Any, clean: bool, hr_peaks: float | None, model_bpm: float | None
    ) -> Estimate | None:
        """Update the heart-rate tracker with a readable window; its estimate, or None (no track yet).

        The track is acquired on a window whose quality index passes the gate (a clipped window with
        a clear pulse is fine: saturation cuts the peaks off, not the beats), or on a poorer one
        where three reads agree within :data:`ACQUIRE_AGREE_BPM`: the tracker's first estimate, the
        window's own beat rate (``hr_peaks``) and the model's rate (``model_bpm``; None where the
        model's own quality head rejects the window). Started on a poor window without that check a
        tracker can lock onto a sub-harmonic or an artefact and stay there (on the students' MIMIC-DB
        training patients, tracks started on an agreeing beat rate alone added windows 7.5 bpm off;
        with the model's rate as the third read, 2.4 bpm: docs/sdk.md). Once acquired the track
        follows every readable window: motion lowers the quality index, and following the pulse
        through motion is the tracker's job.
        """
        tracker = self._tracker
        assert tracker is not None
        if clean or math.isfinite(tracker.bpm):
            return self._update_tracker(w, seg, q, hr_peaks)
        if hr_peaks is None or model_bpm is None or abs(hr_peaks - model_bpm) > ACQUIRE_AGREE_BPM:
            return None
        est = self._update_tracker(w, seg, q, hr_peaks)
        if est is None or max(abs(est.bpm - hr_peaks), abs(est.bpm - model_bpm)) > ACQUIRE_AGREE_BPM:
            tracker.reset()  # no track after all: the next window starts from scratch again
            return None
        return est

    def _update_tracker(self, w: Any, seg: PPGSegment, q: Any, hr_peaks: float | None) -> Estimate | None:
        """One tracker step on a readable window: its estimate, or None (no value)."""
        tracker = self._tracker
        assert tracker is not None
        if isinstance(tracker, MotionHeartRateTracker):
            ppg = w.channels if w.channels is not None else w.filtered[None, :]
            acc = None if w.acc is None or self.use_acc == "never" else w.acc.T
            t = self._segment_t0 + float(w.start_s)
            # the step spans every window it did not see, and any gap: the window starts' distance
            dt = self.hop_s if self._track_t is None else max(round(t - self._track_t, 1), self.hop_s)
            self._track_t = t
            est = tracker.update(ppg, acc, dt_s=dt)
            bpm = _finite(est.bpm)
            return None if bpm is None else Estimate("tracker", bpm, est.confidence)
        # The classic tracker gets the accelerometer where the core's quality check sees motion:
        # suppressing the spectral peaks of a wrist at rest only removes pulse power (docs/sdk.md).
        give_acc = self.use_acc == "always" or (self.use_acc == "auto" and q.motion)
        bpm = _finite(tracker.update(seg if give_acc else seg.without_acc(), dt_s=self.hop_s))
        if bpm is None:
            return None
        moving = () if seg.acc is None or not q.motion else 60.0 * motion_frequencies(seg.acc, MODEL_FS)[0]
        conf = tracker_confidence(bpm, hr_peaks, q.sqi, held=tracker.held, motion_bpm=moving)
        return Estimate("tracker", bpm, conf)

    def _motion_estimate(self, w: Any) -> Estimate:
        """The learned motion model's estimate of a window (its band-passed channels and acc)."""
        ppg = w.channels if w.channels is not None else w.filtered[None, :]
        acc = w.acc.T
        if self._motion_tracker is not None:
            bpm, confidence = self._motion_tracker.update(ppg, acc, MODEL_FS, dt_s=self._motion_dt)
            self._motion_dt = self.hop_s
        else:
            bpm, confidence = self.motion_model.estimate(ppg, acc, MODEL_FS)  # type: ignore[union-attr]
        bpm = _finite(float(bpm))
        return Estimate("motion_model", math.nan if bpm is None else bpm, float(confidence))

    def _classes_for(self, rhythm: np.ndarray) -> tuple[str, ...]:
        classes = self._rhythm_classes or ()
        if len(classes) == len(rhythm):
            return classes
        return tuple(f"class_{i}" for i in range(len(rhythm)))  # a card that names other classes

    def _af_probability(self, rhythm: np.ndarray | None, out: dict[str, np.ndarray]) -> float | None:
        """P(AF): the rhythm head's ``AF`` class when there is one, else the ``af`` head's sigmoid."""
        classes = self._rhythm_classes or ()
        if rhythm is not None and "AF" in classes and len(classes) == len(rhythm):
            return float(rhythm[classes.index("AF")])
        return _sigmoid(float(out["af"].reshape(-1)[0])) if "af" in out else None

    def _filled_in(self, t_start: float, t_end: float) -> int:
        total = 0.0
        for g in reversed(self.accounting.gaps):
            if g.end <= t_start:
                break
            if g.filled:
                overlap = min(g.end, t_end) - max(g.start, t_start)
                if overlap > 0:
                    total += overlap / (g.end - g.start) * g.missing
        return round(total)


def _joined(deliveries: list[Delivery]) -> list[Delivery]:
    """Runs of deliveries that continue one another (no restart, same rate, PPG channels and
    accelerometer presence) as one."""
    out: list[Delivery] = []
    run: list[Delivery] = []

    def close() -> None:
        if len(run) > 1:
            blocks = [d.block for d in run]
            first = blocks[0]
            ppg = np.concatenate([b.ppg for b in blocks])
            acc = None if first.acc is None else np.concatenate([b.acc for b in blocks])  # type: ignore[misc]
            merged = SampleBlock(
                first.t0, first.rate, ppg, acc, seq=first.seq, arrival=first.arrival, acc_in_g=first.acc_in_g
            )
            out.append(Delivery(merged, run[0].restart, all(d.fill for d in run)))
        else:
            out.extend(run)
        run.clear()

    for d in deliveries:
        if run:
            last = run[-1].block
            b = d.block
            if (
                d.restart
                or b.rate != last.rate
                or b.channels != last.channels
                or (b.acc is None) != (last.acc is None)
            ):
                close()
        run.append(d)
    close()
    return out


#: the window's beat rate, the motion model and the encoder head agreeing within this (bpm) ...
OUTVOTE_AGREE_BPM = 5.0
#: ... and all this far (bpm) from the tracker set the tracker aside for the reported rate (outvoted).
OUTVOTE_FAR_BPM = 10.0


def outvoted(
    tracker_bpm: float, hr_peaks: float | None, motion_bpm: float | None, model_bpm: float | None
) -> bool:
    """Whether the tracker's value is outvoted: the window's own beat rate, the motion model's rate and
    the encoder head's (counted where its own quality head passes the window) lie within
    :data:`OUTVOTE_AGREE_BPM` of one another and all more than :data:`OUTVOTE_FAR_BPM` from it. A
    periodic arm movement can fool the beat rate and the motion model together; the head, which reads
    the PPG alone and rejects such windows, is the third vote."""
    reads = [hr_peaks, motion_bpm, model_bpm]
    if any(r is None for r in reads):
        return False
    if max(reads) - min(reads) > OUTVOTE_AGREE_BPM:  # type: ignore[type-var]
        return False
    return min(abs(tracker_bpm - r) for r in reads) > OUTVOTE_FAR_BPM  # type: ignore[operator]


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def _rhythm_classes(model: Any) -> tuple[str, ...]:
    """The model card's ``rhythm_classes`` when it lists them, else :data:`RHYTHM_CLASSES`."""
    card = getattr(model, "card", None)
    named = getattr(card, "rhythm_classes", None) or getattr(model, "rhythm_classes", None)
    return tuple(str(c) for c in named) if named else RHYTHM_CLASSES


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _check_model(model: Any) -> None:
    from anyppg.errors import ModelInputError, UnsupportedRateError

    shape = tuple(model.input_shape)
    if int(np.prod(shape)) != WINDOW_SAMPLES:
        raise ModelInputError((1, 1, WINDOW_SAMPLES), shape, what=f"input of model {model.path}")
    rate = float(model.card.preprocessing.sampling_rate_hz)
    if abs(rate - MODEL_FS) > 1e-6:
        raise UnsupportedRateError(rate, MODEL_FS, what=f"model {model.path}")
