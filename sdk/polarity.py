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
MIMIC-DB records; the quality index alone prefers one of them turned over; the model's quality head
learnt BAMI-I's wrist windows upside down), and a stream would have to change its mind after its
first results. For a recording at hand, :func:`anyppg.check_polarity` (and ``anyppg.analyze(...,
polarity="auto")``) reads the first windows both ways and turns the pulse over only where the
quality index and the quality head both prefer it so (``benchmarks/bench_polarity.py``): check a
recording of a new sensor once, then declare the answer to its streams.
"""

from __future__ import annotations

from typing import Literal

Polarity = Literal["normal", "inverted"]
POLARITIES: tuple[str, ...] = ("normal", "inverted")


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
