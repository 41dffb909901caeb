"""What recording files call their channels: the labels that mean PPG, ECG and accelerometer axes.

Shared by the SDK's ``replay:`` readers (EDF) and the trainer's corpus sources (WFDB, EDF, VitalDB),
so a file one of them reads, the other reads the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["ECG_NAMES", "PPG_NAMES", "acc_axis_channel", "match_channel"]

PPG_NAMES = ("PLETH", "Pleth", "PPG", "PlethWV", "SpO2 Pleth", "Pleth_wave", "SNUADC/PLETH")
"""Channel labels that mean a PPG (photoplethysmogram / pleth) waveform, in order of preference."""

ECG_NAMES = ("II", "ECG II", "ECG", "EKG", "ECG1", "ECG_II", "ECGII", "SNUADC/ECG_II", "ECG L", "ECG R")
"""Channel labels that mean an ECG lead (lead II first), in order of preference."""


def match_channel(labels: Sequence[str], wanted: Sequence[str]) -> int | None:
    """Index of the first of ``wanted`` among ``labels`` (case and surrounding blanks ignored), or None."""
    low = [label.strip().lower() for label in labels]
    for w in wanted:
        if w.lower() in low:
            return low.index(w.lower())
    return None


_ACC_AXIS = re.compile(r"^(acc|accel|accelerometer)[ _\-.]?([xyz])$")


def acc_axis_channel(labels: Sequence[str], axis: str) -> int | None:
    """Index of the accelerometer channel for ``axis`` (``"x"``, ``"y"`` or ``"z"``): a label such as
    ``ACC_X``, ``Acc X``, ``accel-x`` or ``Accelerometer X``; None when there is none."""
    for i, label in enumerate(labels):
        m = _ACC_AXIS.match(label.strip().lower())
        if m and m.group(2) == axis.lower():
            return i
    return None
