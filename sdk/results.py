"""What :meth:`anyppg.sdk.Device.infer` yields: one :class:`Result` per 10 s window."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from anyppg.sdk.accounting import Accounting
from anyppg.signal.heart_rate import REGULAR_BEATS
from anyppg.signal.quality import MOTION_THRESHOLD

__all__ = ["AF_ALERT_PROBABILITY", "Result", "af_alert"]

AF_ALERT_PROBABILITY = 0.5
"""P(AF) above which a usable window with irregular beats raises :func:`af_alert`."""


def af_alert(af_probability: Any, beat_regularity: Any, usable: Any, motion: Any = None) -> Any:
    """The AF screen of a window (or, elementwise, of arrays of windows): the rhythm head's P(AF)
    above :data:`AF_ALERT_PROBABILITY` in a still window that passes the quality gate and whose beats
    are irregular. AF is an irregularly irregular rhythm, and the head alone also reads some regular
    pulses as AF by their shape (docs/sdk.md, "AF alert"); "irregular" is ``beat_regularity`` under
    :data:`anyppg.signal.heart_rate.REGULAR_BEATS`, the share from which the pipeline counts a
    window's beats as regular. Movement makes any pulse's beats look irregular, so a window whose
    accelerometer moves more than :data:`anyppg.signal.quality.MOTION_THRESHOLD` (g) raises none;
    ``motion`` None / NaN (no accelerometer) counts as still. A None / NaN P(AF) or regularity counts
    as "no": no model, no beats to judge.
    """
    p = np.asarray(np.nan if af_probability is None else af_probability, dtype=np.float64)
    r = np.asarray(np.nan if beat_regularity is None else beat_regularity, dtype=np.float64)
    m = np.asarray(np.nan if motion is None else motion, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        still = ~(m > MOTION_THRESHOLD)
        alert = np.asarray(usable, dtype=bool) & still & (p > AF_ALERT_PROBABILITY) & (r < REGULAR_BEATS)
    return bool(alert) if alert.ndim == 0 else alert


def _round(x: float | None, nd: int = 3) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


@dataclass(frozen=True, eq=False)
class Result:
    """One analysed window.

    Attributes:
        device: the device URL the window came from.
        t_start / t_end: device time of the window's first sample and just after its last one, s.
        heart_rate: the reported heart rate, bpm: the classical tracker's value fused with the
            learned estimates where they agree with it (:mod:`anyppg.sdk.fusion`), or in a still
            window whose beats are all regular 60 / its mean beat interval where that agrees with
            the fused value within 3 bpm; None when no pulse can be read (a flat, silent or missing
            signal) and no estimate is left.
        heart_rate_confidence: how far :attr:`heart_rate` can be trusted, 0..1 (see
            :mod:`anyppg.sdk.fusion`); None when there is no heart rate.
        heart_rate_tracker: the classical tracker's heart rate before fusion, bpm (motion-aware
            tracking across windows using the accelerometer when the device has one), or None.
        heart_rate_model: the model's heart-rate head, bpm (None without a model, or when gated
            and the pipeline runs the model on usable windows only).
        heart_rate_peaks: from systolic peaks of this window alone, bpm (None when too few peaks).
        quality: signal quality index of the window, 0..1 (``anyppg.signal.ppg_quality().sqi``; a
            still, slow pulse read phase-corrected: :func:`anyppg.signal.quality.assess_window`).
        usable: whether the window passed the quality gate (and so went through the model).
        quality_model: the model's quality head as a probability, 0..1 (None without a model).
        af_probability: P(atrial fibrillation), 0..1: the ``AF`` entry of :attr:`rhythm_probabilities`
            when the model has a rhythm head, else its AF head; None when the model has neither.
            The shipped heads learnt on finger PPG: on healthy wrists they read P > 0.5 on 21-57 %
            of the readable windows (docs/evaluation.md), so on a wrist use the heart-rate and
            quality fields, not this. On finger PPG whose beats are regular it reads P > 0.5 on
            about 7 % of windows, nearly all of a few patients whose pulse shape it reads as AF
            (``benchmarks/bench_rhythm_shape.py``). :attr:`af_alert`, which also needs irregular
            beats and a still window, fires on under 1 % of those and on 0.7-2.8 % of the healthy
            runners' wrists. Research use, not a diagnosis.
        beat_regularity: the share of the window's beat intervals (systolic peaks) within 15 % of
            their median, 0..1: 1.0 when every beat is evenly spaced, lower for an irregular rhythm
            (AF, ectopic beats) or a detector thrown by noise; None under three plausible intervals
            or in an unreadable window.
        af_alert: (property) :func:`af_alert`: P(AF) > 0.5 in a usable, still window whose beats
            are irregular (``beat_regularity`` < 0.95); the screen to act on, where
            ``af_probability`` is the head alone.
        rhythm_probabilities: the model's rhythm head as probabilities (softmax), float64 ``(K,)``
            in the order of :attr:`rhythm_classes` (K = 6 for the Liu classes); None when absent.
            Learnt on finger PPG of an arrhythmia cohort at rest: a fast sinus rhythm (exercise)
            reads as ``SVT`` or ``VT`` (docs/sdk.md, "Rhythm").
        rhythm_classes: the class names of :attr:`rhythm_probabilities` (``sinus_rhythm``, ``PVC``,
            ``PAC``, ``VT``, ``SVT``, ``AF``), or None.
        embedding: the model's embedding (float32 ``(D,)``), or None.
        motion: accelerometer activity in the window (RMS of the band-passed magnitude, g), or None.
        filled: interpolated samples inside the window (bridged gaps).
        latency_ms: from the arrival of the sample that completed the window to this result, ms.
        accounting: the stream's accounting when the result was made (a snapshot).
        window: the model input, float32 ``(1250,)``: 10 s at 125 Hz, band-passed, z-scored (exactly
            what ``anyppg.signal.preprocess_recording`` gives for the same samples).
        rr_intervals: beat-to-beat intervals a heart-rate strap (``hrs:``) sent with this result, ms,
            oldest first; None for devices that send none (see :mod:`anyppg.sdk.readings`).
        energy_expended: cumulative energy expended reported by an ``hrs:`` strap, kJ, or None.
        sensor_contact: an ``hrs:`` strap's skin-contact flag; None when it does not detect contact.
        spo2: oxygen saturation from a pulse oximeter (``plx:``), %, or None.
        lagging: the stream was behind real time when this result was made (a gateway serving more
            streams than its CPU keeps up with; see :mod:`anyppg.sdk.gateway`); False otherwise.
        heart_rate_motion_model: the learned PPG + accelerometer motion model's heart rate before
            fusion, bpm; None when no motion model is loaded, the stream has no accelerometer (the
            model is then not run) or the window is unreadable.
        heart_rate_sources: the estimates :attr:`heart_rate` was made of (weight above 1 %), in
            order: ``tracker``, ``motion_model``, ``encoder`` (``("motion_model",)`` alone where the
            tracker had no value), or ``("beats",)`` where it is the window's own beats per minute
            (a still window whose beats are all regular, within 3 bpm of the fused value); None
            when there is no heart rate.
        clipped: more than 1 % of the window's raw samples sit in cut-off plateaus at its maximum or
            minimum (:func:`anyppg.signal.clip_fraction`): the sensor or its converter saturates (a
            strap too tight, an LED too bright, ambient light). The window fails the quality gate
            (``usable=False``); its heart rate is still read.
    """

    device: str
    t_start: float
    t_end: float
    heart_rate: float | None
    heart_rate_model: float | None
    heart_rate_peaks: float | None
    quality: float
    usable: bool
    quality_model: float | None
    af_probability: float | None
    embedding: np.ndarray | None
    motion: float | None
    filled: int
    latency_ms: float
    accounting: Accounting
    window: np.ndarray | None = None
    rr_intervals: tuple[float, ...] | None = None
    energy_expended: int | None = None
    sensor_contact: bool | None = None
    spo2: float | None = None
    lagging: bool = False
    heart_rate_confidence: float | None = None
    heart_rate_tracker: float | None = None
    rhythm_probabilities: np.ndarray | None = None
    rhythm_classes: tuple[str, ...] | None = None
    heart_rate_motion_model: float | None = None
    heart_rate_sources: tuple[str, ...] | None = None
    clipped: bool = False
    beat_regularity: float | None = None

    @property
    def af_alert(self) -> bool:
        """:func:`af_alert` of this window."""
        return af_alert(self.af_probability, self.beat_regularity, self.usable, self.motion)

    @property
    def rhythm(self) -> str | None:
        """The most probable rhythm class, or None without a rhythm head."""
        if self.rhythm_probabilities is None or not self.rhythm_classes:
            return None
        return self.rhythm_classes[int(np.argmax(self.rhythm_probabilities))]

    def rhythm_dict(self) -> dict[str, float] | None:
        """``{class: probability}`` (rounded to 4 decimals), or None without a rhythm head."""
        if self.rhythm_probabilities is None or not self.rhythm_classes:
            return None
        return {
            c: round(float(p), 4) for c, p in zip(self.rhythm_classes, self.rhythm_probabilities, strict=True)
        }

    def to_dict(self, embedding: bool = False) -> dict[str, Any]:
        """A JSON-ready dict (the embedding only when asked: it is large).

        ``rhythm_probabilities`` is written as ``{class: probability}`` (:meth:`rhythm_dict`), so a
        JSON line names its classes; ``rhythm`` is the most probable class.
        """
        out: dict[str, Any] = {
            "device": self.device,
            "t_start": round(self.t_start, 3),
            "t_end": round(self.t_end, 3),
            "heart_rate": _round(self.heart_rate, 2),
            "heart_rate_confidence": _round(self.heart_rate_confidence, 3),
            "heart_rate_tracker": _round(self.heart_rate_tracker, 2),
            "heart_rate_motion_model": _round(self.heart_rate_motion_model, 2),
            "heart_rate_sources": None if self.heart_rate_sources is None else list(self.heart_rate_sources),
            "heart_rate_model": _round(self.heart_rate_model, 2),
            "heart_rate_peaks": _round(self.heart_rate_peaks, 2),
            "quality": _round(self.quality, 3),
            "usable": self.usable,
            "clipped": self.clipped,
            "quality_model": _round(self.quality_model, 3),
            "af_probability": _round(self.af_probability, 3),
            "beat_regularity": _round(self.beat_regularity, 3),
            "af_alert": self.af_alert,
            "rhythm": self.rhythm,
            "rhythm_probabilities": self.rhythm_dict(),
            "motion": _round(self.motion, 4),
            "filled": self.filled,
            "latency_ms": round(self.latency_ms, 3),
            "received": self.accounting.received,
            "delivered": self.accounting.delivered,
            "dropped": self.accounting.dropped_total,
            "gaps": len(self.accounting.gaps),
            "rr_intervals": None if self.rr_intervals is None else [round(x, 1) for x in self.rr_intervals],
            "energy_expended": self.energy_expended,
            "sensor_contact": self.sensor_contact,
            "spo2": _round(self.spo2, 1),
            "lagging": self.lagging,
        }
        if embedding and self.embedding is not None:
            out["embedding"] = [round(float(v), 6) for v in self.embedding]
        return out
