"""Which way up a sensor's pulse is: ``polarity="normal"`` or ``"inverted"``.

Sensors disagree on the sign of PPG. A clinical finger sensor draws the pulse with the systolic
upstroke positive (more blood, higher curve); the raw light counts of many reflective sensors fall as
blood volume rises, so the same pulse arrives upside down. The shipped students learnt their
rate and rhythm heads on upright finger pulses (BIDMC, MIMIC-DB, Liu 2022), and read a flipped
window badly: on the held-out windows, flipping every window took AF AUROC from 0.95 to 0.75, the
heart-rate head from 1.5 to 5.9 bpm MAE and the quality AUROC from 0.92 to 0.40 (docs/sdk.md); the
signal quality index also reads a flipped pulse lower. A device whose pulse is upside down says so
with ``polarity="inverted"``: the pipeline negates its PPG (every channel) as each block enters, so
everything after it (quality index, peaks, trackers, model) sees the upright pulse.

A stream has no ``"auto"``: no single test is safe (the window's skewness is negative on upright
MIMIC-DB records; the quality index alone prefers a few upright recordings turned over; the model's
quality head learnt BAMI-I's wrist windows upside down), and a stream would have to change its mind
after its first results. It does say when its pulse looks upside down (``Pipeline.polarity_check``,
a warning). For a recording at hand, :func:`anyppg.check_polarity` (and ``anyppg.analyze(...,
polarity="auto")``) reads the first windows both ways and turns the pulse over only where the
quality index and the quality head both prefer it so (``benchmarks/bench_polarity.py``): check a
recording of a new sensor once, then declare the answer to its streams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Polarity = Literal["normal", "inverted"]
POLARITIES: tuple[str, ...] = ("normal", "inverted")

CHECK_WINDOWS = 55
"""Windows of a recording read both ways up to judge its polarity: its first 2 min at the 2 s hop
(:func:`anyppg.check_polarity`, a stream's ``Pipeline.polarity_check``)."""

AUTO_QUALITY_GAIN = 0.05
"""Turned over, the mean signal quality index must rise by more than this (and the quality head's
mean logit rise at all) for a pulse to look upside down (:func:`polarity_choice`)."""


@dataclass(frozen=True)
class PolarityCheck:
    """What reading a pulse's first windows as given and turned over measured.

    Made by :func:`anyppg.check_polarity` (``analyze(..., polarity="auto")``) and by a stream's
    :class:`~anyppg.sdk.pipeline.Pipeline` (``polarity_check``), with the same rule.

    Attributes:
        polarity: the choice: ``"inverted"`` where both scores prefer the pulse turned over
            (:func:`polarity_choice`), else ``"normal"``; relative to the polarity it was read with.
        quality_gain: mean signal quality index turned over minus as given (no model involved).
        quality_head_gain: mean logit of the model's quality head turned over minus as given
            (probabilities clipped to 0.001-0.999); NaN without a model.
        windows: windows (recording) or segments (batch) read each way.
    """

    polarity: str
    quality_gain: float
    quality_head_gain: float
    windows: int

    @classmethod
    def from_reads(
        cls, quality: np.ndarray, quality_turned: np.ndarray, head: np.ndarray, head_turned: np.ndarray
    ) -> PolarityCheck:
        """The check from per-window reads as given and turned over: the quality index, and the
        quality head's P(usable) (NaN where it did not run); the choice by :func:`polarity_choice`."""
        quality_gain = mean_finite(np.asarray(quality_turned, float) - np.asarray(quality, float))
        head_gain = mean_finite(quality_logit(head_turned) - quality_logit(head))
        return cls(polarity_choice(quality_gain, head_gain), quality_gain, head_gain, len(quality))

    def to_dict(self) -> dict[str, Any]:
        """For JSON: the gains rounded, NaN as None."""

        def num(v: float, digits: int) -> float | None:
            return round(v, digits) if math.isfinite(v) else None

        return {
            "polarity": self.polarity,
            "quality_gain": num(self.quality_gain, 4),
            "quality_head_gain": num(self.quality_head_gain, 3),
            "windows": self.windows,
        }


def polarity_choice(quality_gain: float, quality_head_gain: float) -> Polarity:
    """``"inverted"`` where the quality index gains more than :data:`AUTO_QUALITY_GAIN` turned over
    and the quality head's logit gains at all, else ``"normal"`` (NaN never turns: no model, no
    vote). Measured on real recordings by ``benchmarks/bench_polarity.py``."""
    return "inverted" if quality_gain > AUTO_QUALITY_GAIN and quality_head_gain > 0.0 else "normal"


def quality_logit(p: np.ndarray) -> np.ndarray:
    """The quality head's P(usable) as a logit, clipped to 0.001-0.999 (an int8 head saturates)."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-3, 1 - 1e-3)
    return np.log(q / (1 - q))


def mean_finite(v: np.ndarray) -> float:
    """Mean of the finite values (windows where both reads gave a score), NaN where there are none."""
    ok = np.isfinite(v)
    return float(np.mean(v[ok])) if ok.any() else math.nan


def polarity_sign(polarity: str) -> float:
    """What a window is multiplied by before the model: 1.0 (``"normal"``) or -1.0 (``"inverted"``).

    Raises:
        ValueError: ``polarity`` is neither.
    """
    if polarity not in POLARITIES:
        hint = (
            " ('auto' is for a recording at hand: anyppg.analyze(..., polarity='auto') or "
            "anyppg.check_polarity; declare its answer to a stream)"
            if polarity == "auto"
            else ""
        )
        raise ValueError(f"polarity must be 'normal' or 'inverted'; got {polarity!r}{hint}")
    return 1.0 if polarity == "normal" else -1.0
