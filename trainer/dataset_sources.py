"""Training sources for the published datasets the core reads (:mod:`anyppg.datasets`).

Each source turns one dataset folder into :class:`~anyppg.trainer.sources.SourceRecord` objects for
``anyppg prepare --source SCHEME:DIR``:

===========  ==================================================================================
scheme       records
===========  ==================================================================================
``bidmc``    finger PPG + ECG lead II (125 Hz); HR from R-peaks detected in the ECG
``mimicdb``  finger PPG + one ECG lead (125 Hz); HR from R-peaks detected in the ECG
``liu``      one record per 10-s segment (100 Hz, one window each); ``af`` from the rhythm label
``troika``   wrist PPG channel 0 + ACC in g + chest ECG (125 Hz); HR from the dataset's ECG reference
``bami``     wrist PPG channel 0 + ACC in g (50 Hz); HR from the Holter ECG reference
===========  ==================================================================================

Subjects are the readers' (``bidmc:04``, ``mimicdb:g208``, ``liu:<id>``, ``troika:04``, ``bami:S01``),
so a store's split never puts one person on both sides. Quality labels on the ECG-referenced sets are
PPG-vs-ECG heart-rate agreement (:func:`anyppg.datasets.labels.agreement`); on Liu they come from
:func:`anyppg.signal.ppg_quality` (no ECG).

Welltory (camera PPG; RR not aligned in time to the video), HUSM (no ECG) and Liang (BP, which the
store has no field for) are read through :func:`anyppg.datasets.read` for evaluation instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from anyppg.errors import DataFormatError

from .sources import SourceRecord

__all__ = ["DATASET_SOURCES", "DatasetSource", "LiuSource", "PairedSource", "WristSource"]

log = logging.getLogger(__name__)


class DatasetSource:
    """A dataset folder as a training source: subjects up front, then records.

    Attributes:
        name: the scheme (``"bidmc"``).
        root: the dataset folder.
        skipped: files that could not be read, by reason.
        settle_s: filter settling per record (s); None uses the SDK's default.
        n_records: records it will yield when known up front (for progress), else None.
    """

    name = "dataset"
    settle_s: float | None = None

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.skipped: dict[str, int] = {}
        self.n_records: int | None = None

    def subjects(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def records(self) -> Iterator[SourceRecord]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _skip(self, path: Path, exc: Exception) -> None:
        log.warning("skipping %s: %s", path, exc)
        self.skipped["corrupt_file"] = self.skipped.get("corrupt_file", 0) + 1


class PairedSource(DatasetSource):
    """BIDMC or MIMIC-DB: PPG with its ECG; R-peaks are detected when windows are cut."""

    def __init__(self, root: str | os.PathLike[str], dataset: str) -> None:
        from anyppg.datasets import clinical
        from anyppg.datasets._npz import dataset_files

        super().__init__(root)
        self.name = dataset
        pattern = clinical.BIDMC_PATTERN if dataset == "bidmc" else clinical.MIMICDB_PATTERN
        self._files = dataset_files(self.root, pattern, "BIDMC" if dataset == "bidmc" else "MIMIC-DB")
        if dataset == "bidmc":
            self._subject = {p: f"bidmc:{m.group(1)}" for p, m in self._files}
        else:
            groups = clinical.mimicdb_subjects([m.group(1) for _, m in self._files])
            self._subject = {p: groups[m.group(1)] for p, m in self._files}
        self.n_records = len(self._files)

    def paths(self) -> list[Path]:
        """The dataset's files."""
        return [p for p, _ in self._files]

    def subjects(self) -> list[str]:
        return sorted(set(self._subject.values()))

    def records(self) -> Iterator[SourceRecord]:
        from anyppg.datasets._npz import rate, real
        from anyppg.npz import open_npz

        for path in self.paths():
            try:
                with open_npz(path) as z:
                    ppg = real(z, path, "ppg", ndim=1, allow_nan=True)
                    ecg = real(z, path, "ecg", ndim=1, allow_nan=True)
                    fs, ecg_fs = rate(z, path, "fs_ppg"), rate(z, path, "fs_ecg")
                rec = SourceRecord(self._subject[path], path.stem, ppg, fs, ecg=ecg, ecg_fs=ecg_fs)
                rec.check(str(path))
            except DataFormatError as exc:
                self._skip(path, exc)
                continue
            yield rec


class LiuSource(DatasetSource):
    """Liu 2022: each 10-s segment is one record and one window (no room to settle: settle 0 s).

    Each 100 Hz segment is first resampled to 125 Hz as a whole with the core's offline resampler
    (:func:`anyppg.signal.resample`, edges extended with the end samples): the streaming resampler of
    the live preprocessing holds back its last ~0.1 s, which a 10-s segment cannot spare. The 1250
    samples then go through the same preprocessing as every window; ``af`` is 1 for the AF class,
    0 for the five others.
    """

    name = "liu"
    settle_s = 0.0

    def __init__(self, root: str | os.PathLike[str]) -> None:
        from anyppg.datasets._npz import dataset_files
        from anyppg.datasets.rhythm import LIU_PATTERN

        super().__init__(root)
        self._files = dataset_files(self.root, LIU_PATTERN, "Liu 2022 arrhythmia")

    def subjects(self) -> list[str]:
        return sorted(f"liu:{m.group(1)}" for _, m in self._files)

    def records(self) -> Iterator[SourceRecord]:
        from anyppg.datasets.rhythm import AF_CLASS, read_liu_file
        from anyppg.signal import MODEL_FS, WINDOW_SAMPLES, resample

        for path, _ in self._files:
            try:
                patient = read_liu_file(path)
            except DataFormatError as exc:
                self._skip(path, exc)
                continue
            for i, (segment, label) in enumerate(zip(patient.segments, patient.labels, strict=True)):
                yield SourceRecord(
                    subject=patient.subject,
                    record=f"{patient.record}/{i:05d}",
                    ppg=resample(segment, patient.fs, MODEL_FS)[:WINDOW_SAMPLES],
                    ppg_fs=MODEL_FS,
                    af=int(label == AF_CLASS),
                    rhythm=int(label),
                    start_offset_s=i * patient.segment_s,
                )


class WristSource(DatasetSource):
    """TROIKA or BAMI-I through :mod:`anyppg.datasets.wrist`: PPG channel 0, ACC in g as (n, 3),
    TROIKA's chest ECG, and the ECG heart-rate reference per 8-s window (2-s step)."""

    def __init__(self, root: str | os.PathLike[str], dataset: str) -> None:
        super().__init__(root)
        self.name = dataset
        self._recordings: list[Any] | None = None

    def _read(self) -> list[Any]:
        if self._recordings is None:
            from anyppg.datasets import wrist

            reader: Callable[[Path], list[Any]] = (
                wrist.read_troika if self.name == "troika" else wrist.read_bami
            )
            self._recordings = reader(self.root)
            self.n_records = len(self._recordings)
        return self._recordings

    def subjects(self) -> list[str]:
        return sorted({f"{self.name}:{r.subject}" for r in self._read()})

    def records(self) -> Iterator[SourceRecord]:
        for r in self._read():
            yield SourceRecord(
                subject=f"{self.name}:{r.subject}",
                record=r.record,
                ppg=np.asarray(r.ppg[0], dtype=np.float64),
                ppg_fs=r.fs,
                ecg=None if r.ecg is None else np.asarray(r.ecg, dtype=np.float64),
                ecg_fs=None if r.ecg is None else r.fs,
                acc=np.ascontiguousarray(np.asarray(r.acc, dtype=np.float64).T),
                hr_reference=(np.asarray(r.ref_start_s), float(r.ref_window_s), np.asarray(r.ref_bpm)),
            )


#: scheme -> factory taking the dataset folder.
DATASET_SOURCES: dict[str, Callable[[Path], DatasetSource]] = {
    "bidmc": lambda root: PairedSource(root, "bidmc"),
    "mimicdb": lambda root: PairedSource(root, "mimicdb"),
    "liu": LiuSource,
    "troika": lambda root: WristSource(root, "troika"),
    "bami": lambda root: WristSource(root, "bami"),
}
