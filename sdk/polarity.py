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

There is no ``"auto"``: two detectors were measured and neither is safe. The window's skewness is
negative on every window of two MIMIC-DB records the model reads well as they are (flipped, one
reads 48 bpm off). The model's own quality head separates the two ways up by about 10 logits on
finger PPG, but prefers the e2epyppg smartwatch recording flipped, where the rhythm head then gives
its healthy wearer a mean P(AF) of 0.28 instead of 0.01.
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
        raise ValueError(f"polarity must be 'normal' or 'inverted'; got {polarity!r}")
    return 1.0 if polarity == "normal" else -1.0
