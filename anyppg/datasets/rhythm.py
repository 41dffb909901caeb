"""Ten-second finger PPG segments with cardiologist rhythm labels: Liu et al. 2022 (JAHA).

Patients undergoing radio-frequency ablation wore a fingertip PPG sensor beside a simultaneous ECG;
two cardiologists labelled every 10-s segment from the ECG as one of six rhythms (the order of
:data:`RHYTHM_CLASSES`, which is also the order of the student model's ``rhythm`` output). The files
hold the segments only (no ECG, no continuous recording): each segment is one model window, 1000
samples at 100 Hz, min-max scaled to 0-1 by the dataset's authors.

Research use with citation: Liu Z. et al., "Multiclass Arrhythmia Detection and Classification From
Photoplethysmography Signals Using a Deep Convolutional Neural Network", J Am Heart Assoc 11(7):
e023555, 2022.

Example:
    >>> patients = read_liu("../shared/data/liu_arrhythmia")  # doctest: +SKIP
    >>> p = patients[0]; p.segments.shape, p.classes[p.labels[0]]  # doctest: +SKIP
    ((199, 1000), 'AF')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anyppg.datasets._npz import dataset_files, member, rate, real
from anyppg.errors import DataFormatError
from anyppg.npz import open_npz

__all__ = ["AF_CLASS", "LIU_PATTERN", "RHYTHM_CLASSES", "RhythmRecording", "read_liu", "read_liu_file"]

RHYTHM_CLASSES: tuple[str, ...] = ("sinus_rhythm", "PVC", "PAC", "VT", "SVT", "AF")
"""The six rhythm classes, in Liu's label order (label ``k`` is ``RHYTHM_CLASSES[k]``)."""

AF_CLASS: int = RHYTHM_CLASSES.index("AF")
"""Label of atrial fibrillation (5)."""

LIU_PATTERN = r"MPA_(\d+)\.npz"


@dataclass(frozen=True)
class RhythmRecording:
    """The labelled segments of one patient.

    Attributes:
        dataset: ``"liu"``.
        subject: the patient, ``"liu:<id>"`` from the file's ``MPA_<id>``; split by it.
        record: the file's stem.
        fs: sampling rate (Hz), 100.
        segment_s: length of one segment (s), 10.
        segments: PPG segments, shape (k, round(fs * segment_s)), float64 (0-1 as stored).
        labels: rhythm label of each segment, shape (k,), int64 in 0..5 (see :data:`RHYTHM_CLASSES`).
        classes: the class names, :data:`RHYTHM_CLASSES`.
    """

    dataset: str
    subject: str
    record: str
    fs: float
    segment_s: float
    segments: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...] = RHYTHM_CLASSES

    @property
    def af(self) -> np.ndarray:
        """1 where a segment is AF, else 0; shape (k,), int8."""
        return (self.labels == AF_CLASS).astype(np.int8)


def read_liu_file(path: str | Path) -> RhythmRecording:
    """Read one patient's file (``MPA_<id>.npz``: ``ppg_segments`` (k, 1000), ``labels`` (k,) in 0..5,
    ``fs_ppg``; optional ``segment_s``, ``label_names``).

    Raises:
        DataFormatError: not a readable NPZ, a key missing, segments and labels of different counts,
            a segment length that is not ``fs * segment_s``, a label outside 0..5, or class names that
            differ from :data:`RHYTHM_CLASSES`; the message names the file and the key.
    """
    p = Path(path)
    with open_npz(p) as z:
        segments = real(z, p, "ppg_segments", ndim=2)
        labels = real(z, p, "labels").ravel()
        fs = rate(z, p, "fs_ppg")
        segment_s = rate(z, p, "segment_s") if "segment_s" in z.files else 10.0
        names = [str(n) for n in member(z, p, "label_names")] if "label_names" in z.files else None
    if len(labels) != len(segments):
        raise DataFormatError(
            str(p),
            f"'labels' has {len(labels)} entries for {len(segments)} 'ppg_segments'; expected one each",
        )
    if segments.shape[1] != round(fs * segment_s):
        raise DataFormatError(
            str(p),
            f"'ppg_segments' has {segments.shape[1]} samples per segment; expected {round(fs * segment_s)} "
            f"({segment_s:g} s at {fs:g} Hz)",
        )
    if len(labels) and (labels.min() < 0 or labels.max() > len(RHYTHM_CLASSES) - 1 or np.any(labels % 1)):
        raise DataFormatError(str(p), f"'labels' holds values outside 0..{len(RHYTHM_CLASSES) - 1}")
    if names is not None and len(names) != len(RHYTHM_CLASSES):
        raise DataFormatError(
            str(p), f"'label_names' lists {len(names)} classes; expected {len(RHYTHM_CLASSES)}"
        )
    return RhythmRecording(
        dataset="liu",
        subject=f"liu:{p.stem.removeprefix('MPA_')}",
        record=p.stem,
        fs=fs,
        segment_s=segment_s,
        segments=segments,
        labels=labels.astype(np.int64),
    )


def read_liu(root: str | Path) -> list[RhythmRecording]:
    """Read every patient of a Liu 2022 folder (here 28 patients, 10,620 segments).

    Args:
        root: the folder holding ``MPA_<id>.npz``.

    Returns:
        One :class:`RhythmRecording` per patient, sorted by file name.

    Raises:
        DataFormatError: ``root`` is not a folder, holds no ``MPA_*.npz``, or a file is broken.
    """
    return [read_liu_file(p) for p, _ in dataset_files(root, LIU_PATTERN, "Liu 2022 arrhythmia")]
