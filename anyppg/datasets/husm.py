"""Finger red + infrared PPG at rest, on a treadmill and in recovery, with annotated beats: HUSM (UFSM).

22 volunteers (11 healthy, 11 with COPD) were recorded for 1 min in each of three phases: rest, the
12th minute of a Balke treadmill test, and recovery, at 200 Hz. Each recording comes with its
annotated systolic peaks, so heart rate per window is the beat rate of the annotated peaks.

The sensor's values are raw light counts: they fall as blood volume rises, so the pulse is stored
upside down. On every recording, in both channels, at least 95 % of the annotated systolic peaks lie
below the band-passed signal's mean. :func:`read_husm_file` reads this from the annotation
(:func:`anyppg.datasets.labels.annotated_polarity`) into ``polarity``; analyse a recording with
``polarity=rec.polarity`` (:func:`anyppg.analyze`) so the pipeline turns it upright.

Source: GMicro-uPPG/SRMAC_peak_detector (MIT), Universidade Federal de Santa Maria.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anyppg.datasets._npz import dataset_files, rate, real
from anyppg.datasets.labels import annotated_polarity
from anyppg.errors import DataFormatError
from anyppg.npz import open_npz

__all__ = ["HUSM_PATTERN", "BeatRecording", "read_husm", "read_husm_file"]

HUSM_PATTERN = r"(health|dpoc)_(\d+)_(rest|balke|recovery)\.npz"


@dataclass(frozen=True)
class BeatRecording:
    """One HUSM recording.

    Attributes:
        dataset: ``"husm"``.
        subject: the person (``"husm:health_0000001"``, ``"husm:dpoc_0680298"``); three recordings each.
        record: the file's stem.
        fs: sampling rate (Hz), 200.
        ppg: red and infrared PPG, shape (2, n), float64 as stored.
        channels: ``("red", "ir")``.
        beats_s: annotated systolic peaks (s from the first sample), shape (k,).
        group: ``"healthy"`` or ``"copd"``.
        phase: ``"rest"``, ``"balke"`` (treadmill) or ``"recovery"``.
        polarity: which way up the pulse is stored, read from the annotated peaks on the infrared
            channel: ``"inverted"`` for every HUSM recording (see the module docstring).
    """

    dataset: str
    subject: str
    record: str
    fs: float
    ppg: np.ndarray
    beats_s: np.ndarray
    group: str
    phase: str
    channels: tuple[str, ...] = ("red", "ir")
    polarity: str = "normal"

    @property
    def duration_s(self) -> float:
        """Length of the recording (s)."""
        return self.ppg.shape[1] / self.fs


def read_husm_file(path: str | Path) -> BeatRecording:
    """Read one HUSM recording (``<health|dpoc>_<id>_<phase>.npz``: ``ppg_red``, ``ppg_ir`` (n,),
    ``fs_ppg``, ``beat_peak_idx`` (k,) sample indices).

    Raises:
        DataFormatError: a name not in that pattern, not a readable NPZ, a key missing, red and IR of
            different lengths, or beat indices outside the recording; the message names the file and key.
    """
    p = Path(path)
    m = re.fullmatch(HUSM_PATTERN, p.name)
    if m is None:
        raise DataFormatError(str(p), "name is not <health|dpoc>_<id>_<rest|balke|recovery>.npz")
    with open_npz(p) as z:
        red = real(z, p, "ppg_red", ndim=1)
        ir = real(z, p, "ppg_ir", ndim=1)
        fs = rate(z, p, "fs_ppg")
        idx = real(z, p, "beat_peak_idx").ravel()
    if len(red) != len(ir):
        raise DataFormatError(str(p), f"'ppg_red' has {len(red)} samples, 'ppg_ir' {len(ir)}; expected equal")
    if len(idx) and (idx.min() < 0 or idx.max() >= len(red)):
        raise DataFormatError(str(p), f"'beat_peak_idx' holds indices outside 0..{len(red) - 1}")
    beats_s = np.sort(idx) / fs
    return BeatRecording(
        dataset="husm",
        subject=f"husm:{m.group(1)}_{m.group(2)}",
        record=p.stem,
        fs=fs,
        ppg=np.stack([red, ir]),
        beats_s=beats_s,
        group="healthy" if m.group(1) == "health" else "copd",
        phase=m.group(3),
        polarity=annotated_polarity(ir, fs, beats_s) if len(beats_s) else "normal",
    )


def read_husm(root: str | Path) -> list[BeatRecording]:
    """Read every HUSM recording of a folder (66 recordings of 22 people, 1.1 h).

    Raises:
        DataFormatError: ``root`` is not a folder, holds no HUSM file, or a file is broken.
    """
    return [read_husm_file(p) for p, _ in dataset_files(root, HUSM_PATTERN, "HUSM")]
