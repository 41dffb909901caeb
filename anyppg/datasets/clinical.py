"""ICU finger PPG recorded with ECG: BIDMC and the MIMIC-DB excerpts, as :class:`PairedRecording`.

Both come from bedside monitors at 125 Hz (PLETH + one ECG lead). R-peaks are detected from the ECG
(:func:`anyppg.signal.ecg.ecg_rpeak_times`), never taken from the monitor's numerics, so every
window's heart-rate label comes from the same detector on both datasets.

MIMIC's files also carry beat positions (``rri_point``, samples of the original record; subtract
``sample_index[0]``). They are kept as :attr:`PairedRecording.reference_beats_s`, but they are not an
ECG truth: they sit 0.1-0.25 s after the exported ECG's R-peaks, and where the PPG is disturbed
they follow the PPG (record 454 at 90 s: PPG 37 bpm, these beats 48 bpm, ECG 72 bpm). They are what
the ECG detector is checked against (``docs/data.md``), with that caveat.

Subjects (named ``<dataset>:<id>``, unique across datasets): BIDMC has one record per adult
(``bidmc:01``). MIMIC-DB records whose numbers are at most 3 apart are one subject
(``mimicdb:g208`` holds 208, 209, 211 and 212), because the database splits a patient's stay into
records with nearby numbers and the files do not say which records share a patient; grouping too
much only costs split granularity, grouping too little would leak a patient across splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anyppg.datasets._npz import dataset_files, rate, real, text
from anyppg.errors import DataFormatError
from anyppg.npz import open_npz
from anyppg.signal.ecg import ecg_rpeak_times

__all__ = [
    "BIDMC_PATTERN",
    "MIMICDB_PATTERN",
    "MIMIC_GROUP_GAP",
    "PairedRecording",
    "mimicdb_subjects",
    "read_bidmc",
    "read_bidmc_file",
    "read_mimicdb",
    "read_mimicdb_file",
]

BIDMC_PATTERN = r"bidmc_(\d+)\.npz"
MIMIC_GROUP_GAP = 3
"""MIMIC-DB record numbers at most this far apart are taken to be one patient."""
MIMICDB_PATTERN = r"mimicdb_(\d+)\.npz"


@dataclass(frozen=True)
class PairedRecording:
    """One recording of finger PPG with a simultaneous ECG lead.

    Attributes:
        dataset: ``"bidmc"`` or ``"mimicdb"``.
        subject: the person (``"bidmc:01"``, ``"mimicdb:g208"``); split by it.
        record: the recording's name (``"bidmc_01"``, ``"mimicdb_208"``).
        ppg: finger PPG, shape (n,), float64 in the monitor's units; NaN where samples are missing.
        ppg_fs: PPG rate (Hz).
        ecg: ECG, shape (m,), float64 (mV as exported); NaN where missing.
        ecg_fs: ECG rate (Hz).
        ecg_lead: the lead's name (``"II"``).
        r_peaks_s: R-peak times (s from the first sample) detected from ``ecg``.
        reference_beats_s: beat times shipped with the dataset (s), or None (BIDMC has none); see
            the module docstring for what MIMIC's are.
    """

    dataset: str
    subject: str
    record: str
    ppg: np.ndarray
    ppg_fs: float
    ecg: np.ndarray
    ecg_fs: float
    ecg_lead: str
    r_peaks_s: np.ndarray
    reference_beats_s: np.ndarray | None = None

    @property
    def duration_s(self) -> float:
        """Length of the PPG (s)."""
        return len(self.ppg) / self.ppg_fs


def _signals(z: object, path: Path) -> tuple[np.ndarray, float, np.ndarray, float]:
    ppg = real(z, path, "ppg", ndim=1, allow_nan=True)
    ecg = real(z, path, "ecg", ndim=1, allow_nan=True)
    ppg_fs, ecg_fs = rate(z, path, "fs_ppg"), rate(z, path, "fs_ecg")
    if abs(len(ppg) / ppg_fs - len(ecg) / ecg_fs) > 1.0:
        raise DataFormatError(
            str(path),
            f"'ppg' lasts {len(ppg) / ppg_fs:.2f} s but 'ecg' {len(ecg) / ecg_fs:.2f} s; expected equal durations",
        )
    return ppg, ppg_fs, ecg, ecg_fs


def read_bidmc_file(path: str | Path) -> PairedRecording:
    """Read one BIDMC file (``bidmc_NN.npz``: ``ppg``, ``ecg`` (lead II), ``fs_ppg``, ``fs_ecg``).

    Raises:
        DataFormatError: not a readable NPZ, a key missing, a wrong shape or rate; the message names
            the file and the key.
    """
    p = Path(path)
    with open_npz(p) as z:
        ppg, ppg_fs, ecg, ecg_fs = _signals(z, p)
    number = p.stem.rsplit("_", 1)[-1]
    return PairedRecording(
        dataset="bidmc",
        subject=f"bidmc:{number}",
        record=p.stem,
        ppg=ppg,
        ppg_fs=ppg_fs,
        ecg=ecg,
        ecg_fs=ecg_fs,
        ecg_lead="II",
        r_peaks_s=ecg_rpeak_times(ecg, ecg_fs),
    )


def read_bidmc(root: str | Path) -> list[PairedRecording]:
    """Read every BIDMC recording of a folder (53 ICU adults, 8 min each at 125 Hz).

    Args:
        root: the folder holding ``bidmc_NN.npz``.

    Returns:
        The recordings sorted by name; ``subject`` is ``"bidmc:NN"``.

    Raises:
        DataFormatError: ``root`` is not a folder, holds no BIDMC file, or a file is broken.
    """
    return [read_bidmc_file(p) for p, _ in dataset_files(root, BIDMC_PATTERN, "BIDMC")]


def mimicdb_subjects(records: list[str]) -> dict[str, str]:
    """Group MIMIC-DB record numbers into subjects: runs of numbers at most :data:`MIMIC_GROUP_GAP` apart.

    The grouping (and the ``mimicdb:gNNN`` names) are the ones the ``real`` training preset
    (:mod:`anyppg.trainer.real_corpus`) freezes its held-out subjects with, so splits agree.

    Args:
        records: record numbers as strings (``"208"``).

    Returns:
        record -> subject, named after the group's first record (``"mimicdb:g208"``).
    """
    first_of: dict[int, int] = {}
    first = prev = None
    for n in sorted({int(r) for r in records}):
        if prev is None or n - prev > MIMIC_GROUP_GAP:
            first = n
        first_of[n] = first  # type: ignore[assignment]
        prev = n
    return {r: f"mimicdb:g{first_of[int(r)]:03d}" for r in records}


def read_mimicdb_file(path: str | Path, subject: str | None = None) -> PairedRecording:
    """Read one MIMIC-DB excerpt (``mimicdb_NNN.npz``: ``ppg``, ``ecg``, ``ecg_lead``, ``fs_ppg``,
    ``fs_ecg``, ``sample_index`` (first, last original sample), ``rri_point`` (beat samples)).

    Args:
        path: the file.
        subject: the subject to report (from :func:`mimicdb_subjects`); default the record alone.

    Raises:
        DataFormatError: not a readable NPZ, a key missing, a wrong shape or rate; the message names
            the file and the key.
    """
    p = Path(path)
    with open_npz(p) as z:
        ppg, ppg_fs, ecg, ecg_fs = _signals(z, p)
        lead = text(z, p, "ecg_lead", default="unknown")
        index = real(z, p, "sample_index", ndim=1)
        points = real(z, p, "rri_point", ndim=1)
    if len(index) < 1:
        raise DataFormatError(str(p), "'sample_index' is empty; expected (first, last) original sample")
    beats = (points - index[0]) / ecg_fs
    beats = beats[(beats >= 0) & (beats < len(ecg) / ecg_fs)]
    number = p.stem.rsplit("_", 1)[-1]
    return PairedRecording(
        dataset="mimicdb",
        subject=subject or mimicdb_subjects([number])[number],
        record=p.stem,
        ppg=ppg,
        ppg_fs=ppg_fs,
        ecg=ecg,
        ecg_fs=ecg_fs,
        ecg_lead=lead,
        r_peaks_s=ecg_rpeak_times(ecg, ecg_fs),
        reference_beats_s=np.sort(beats),
    )


def read_mimicdb(root: str | Path) -> list[PairedRecording]:
    """Read every MIMIC-DB excerpt of a folder (50 ICU records, 15 min each at 125 Hz).

    Args:
        root: the folder holding ``mimicdb_NNN.npz``.

    Returns:
        The recordings sorted by record; subjects grouped as :func:`mimicdb_subjects` does.

    Raises:
        DataFormatError: ``root`` is not a folder, holds no MIMIC-DB file, or a file is broken.
    """
    files = dataset_files(root, MIMICDB_PATTERN, "MIMIC-DB")
    subjects = mimicdb_subjects([m.group(1) for _, m in files])
    return [read_mimicdb_file(p, subjects[m.group(1)]) for p, m in files]
