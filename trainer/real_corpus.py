"""The real paired PPG+ECG corpus of the ``real`` preset: BIDMC, MIMIC-DB and TROIKA, split by subject.

:func:`build_real_store` cuts the three datasets of the data folder (``../shared/data`` in this
project's checkout; see its README) into a window store, with the SDK's preprocessing
(:func:`anyppg.trainer.sources.record_windows`), and optionally adds simulated subjects to the training
split for coverage (AF and ectopic beats, which the real paired sets do not label).

The split is fixed, not drawn: :data:`HELD_OUT` lists, per dataset, the validation and test subjects,
so every run (and every engineer distilling from its teacher) holds out the same people. The list is
saved in the store's ``index.json`` (``held_out``) and copied next to the checkpoint.

Subjects: one BIDMC record is one patient; both TROIKA ``DATA_04`` recordings are subject 04; MIMIC-DB
holds several records of some patients and the excerpts do not name them, so records whose numbers are
within 3 of each other are treated as one subject (``mimicdb:g208`` holds 208, 209, 211 and 212).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from anyppg.errors import DataFormatError

from .sources import SimSource, SourceRecord, record_windows
from .store import StoreWriter

__all__ = [
    "HELD_OUT",
    "PAIRED_DATASETS",
    "build_real_store",
    "data_folder",
    "ensure_real_store",
    "paired_records",
    "subject_split",
]

log = logging.getLogger(__name__)

PAIRED_DATASETS: tuple[str, ...] = ("bidmc", "mimicdb", "troika")
DATA_ENV = "ANYPPG_DATA"
MIMIC_GROUP_GAP = 3  # MIMIC-DB record numbers this close are taken to be one patient

#: Fixed held-out subjects per dataset: ``{"val": (...), "test": (...)}``; everyone else trains.
#: Drawn once (seeded shuffle, ~20 % test and ~10 % val of each dataset's subjects) and frozen here.
HELD_OUT: dict[str, dict[str, tuple[str, ...]]] = {
    "bidmc": {
        "test": tuple(
            f"bidmc:{n}" for n in ("04", "10", "18", "20", "24", "30", "31", "34", "35", "46", "50")
        ),
        "val": tuple(f"bidmc:{n}" for n in ("02", "05", "14", "25", "26")),
    },
    "mimicdb": {
        "test": ("mimicdb:g039", "mimicdb:g208", "mimicdb:g408"),  # 11 records
        "val": ("mimicdb:g230", "mimicdb:g237", "mimicdb:g252", "mimicdb:g430"),  # 6 records
    },
    "troika": {"test": ("troika:03", "troika:07", "troika:08"), "val": ("troika:12",)},
}


def data_folder(path: str | os.PathLike[str] | None) -> Path:
    """The data folder: ``path``, else the ``ANYPPG_DATA`` environment variable.

    Raises:
        DataFormatError: neither is given, or the folder holds none of :data:`PAIRED_DATASETS`.
    """
    chosen = path if path is not None else os.environ.get(DATA_ENV)
    if not chosen:
        raise DataFormatError("(no data folder)", f"pass --data DIR or set {DATA_ENV}")
    root = Path(chosen).expanduser()
    if not any((root / name).is_dir() for name in PAIRED_DATASETS):
        raise DataFormatError(
            str(root), f"expected the sub-folders {', '.join(PAIRED_DATASETS)} (the real-data folder)"
        )
    return root


def _mimic_groups(numbers: list[int]) -> dict[int, int]:
    """Record number -> first record number of its group (runs of numbers at most 3 apart)."""
    out: dict[int, int] = {}
    first = prev = None
    for n in sorted(numbers):
        if prev is None or n - prev > MIMIC_GROUP_GAP:
            first = n
        out[n] = first  # type: ignore[assignment]
        prev = n
    return out


def _read_bidmc(path: Path, _: Any) -> tuple[str, SourceRecord]:
    with np.load(path) as z:
        subject = f"bidmc:{path.stem.split('_')[-1]}"
        rec = SourceRecord(subject, path.stem, z["ppg"].astype(np.float64), float(z["fs_ppg"]),
                           ecg=z["ecg"].astype(np.float64), ecg_fs=float(z["fs_ecg"]))  # fmt: skip
    return subject, rec


def _read_mimicdb(path: Path, groups: dict[int, int]) -> tuple[str, SourceRecord]:
    number = int(path.stem.split("_")[-1])
    subject = f"mimicdb:g{groups[number]:03d}"
    with np.load(path) as z:
        rec = SourceRecord(subject, path.stem, z["ppg"].astype(np.float64), float(z["fs_ppg"]),
                           ecg=z["ecg"].astype(np.float64), ecg_fs=float(z["fs_ecg"]))  # fmt: skip
    return subject, rec


def _read_troika(path: Path, _: Any) -> tuple[str, SourceRecord]:
    match = re.match(r"DATA_(\d+)_TYPE\d+", path.stem)
    if match is None:
        raise DataFormatError(str(path), "expected a TROIKA file named DATA_<subject>_TYPE<nn>.npz")
    subject = f"troika:{match.group(1)}"
    with np.load(path) as z:
        acc = z["acc"].astype(np.float64).T  # (n, 3), raw units
        acc = acc / np.median(np.linalg.norm(acc, axis=1))  # to g: the median magnitude is gravity
        rec = SourceRecord(subject, path.stem, z["ppg"][0].astype(np.float64), float(z["fs_ppg"]),
                           ecg=z["ecg"].astype(np.float64), ecg_fs=float(z["fs_ecg"]), acc=acc)  # fmt: skip
    return subject, rec


_READERS: dict[str, tuple[str, Callable[[Path, Any], tuple[str, SourceRecord]]]] = {
    "bidmc": ("bidmc_*.npz", _read_bidmc),
    "mimicdb": ("mimicdb_*.npz", _read_mimicdb),
    "troika": ("DATA_*.npz", _read_troika),
}


def paired_records(root: Path, dataset: str) -> Iterator[tuple[str, SourceRecord]]:
    """``(subject, record)`` of every recording of one paired dataset in the data folder.

    Raises:
        DataFormatError: the dataset's folder is missing or holds no file, or a file lacks a key.
    """
    pattern, read = _READERS[dataset]
    files = sorted((root / dataset).glob(pattern))
    if not files:
        raise DataFormatError(str(root / dataset), f"no {pattern} files (dataset {dataset!r})")
    groups = _mimic_groups([int(p.stem.split("_")[-1]) for p in files]) if dataset == "mimicdb" else None
    for path in files:
        try:
            yield read(path, groups)
        except KeyError as exc:
            raise DataFormatError(str(path), f"missing array {exc} (dataset {dataset!r})") from exc


def subject_split(subject: str) -> str:
    """``"val"`` / ``"test"`` for the subjects in :data:`HELD_OUT`, ``"train"`` for everyone else."""
    dataset = subject.split(":", 1)[0]
    for split, names in HELD_OUT.get(dataset, {}).items():
        if subject in names:
            return split
    return "train"


def build_real_store(
    data: str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    *,
    datasets: tuple[str, ...] = PAIRED_DATASETS,
    sim_hours: float = 0.0,
    hop_s: float = 5.0,
    overwrite: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Write the real paired corpus (plus ``sim_hours`` of simulation, train split only) as a store.

    Args:
        data: the data folder (None: ``ANYPPG_DATA``).
        out: the store folder to create.
        datasets: which of :data:`PAIRED_DATASETS` to read.
        sim_hours: simulated hours added to the training split (0 for none).
        hop_s: step between window starts (s); 5 s gives 50 % overlapping windows.
        overwrite: replace a store already at ``out``.
        seed: the simulator's seed.

    Returns:
        The store index (``held_out`` names the fixed held-out subjects), plus ``elapsed_s``.

    Raises:
        DataFormatError: see :func:`data_folder` and :func:`paired_records`.
        StoreError: ``out`` already holds a store and ``overwrite`` is False.
    """
    started = time.monotonic()
    root = data_folder(data)
    records = [(ds, s, r) for ds in datasets for s, r in paired_records(root, ds)]
    sim = SimSource(hours=sim_hours, seed=seed) if sim_hours > 0 else None
    split_of = {s: subject_split(s) for _, s, _ in records}
    split_of.update({s: "train" for s in (sim.subjects() if sim else [])})
    held_out = {ds: {k: list(v) for k, v in HELD_OUT[ds].items()} for ds in datasets}
    preprocessing = {
        "ppg": "anyppg.signal.preprocess_recording (125 Hz, causal 0.5-8 Hz band-pass, z-score per window)",
        "ecg": "anyppg.signal.ecg_clean, 500 Hz, z-score per window",
        "hr": "60 * (beats - 1) / (last - first R-peak) of anyppg.signal.ecg_findpeaks in the window",
        "hop_s": hop_s,
    }
    per_dataset: dict[str, dict[str, int]] = {}
    with StoreWriter(out, split_of, preprocessing=preprocessing, overwrite=overwrite) as writer:
        for dataset, subject, rec in records:
            batch = record_windows(rec, hop_s=hop_s)
            writer.add(subject, dataset, rec.record, batch.ppg, batch.ecg, batch.labels)
            for reason, n in batch.skipped.items():
                writer.count_skipped(reason, n)
            counts = per_dataset.setdefault(dataset, {"train": 0, "val": 0, "test": 0})
            counts[split_of[subject]] += len(batch.labels)
            log.info("%s %s: %d windows (%s)", dataset, rec.record, len(batch.labels), split_of[subject])
        if sim is not None:
            for rec in sim.records():
                batch = record_windows(rec, hop_s=hop_s)
                writer.add(rec.subject, "sim", rec.record, batch.ppg, batch.ecg, batch.labels)
            per_dataset["sim"] = {
                "train": writer.counts["train"] - sum(c["train"] for c in per_dataset.values())
            }
        writer.close(extra={"held_out": held_out, "windows_per_dataset": per_dataset, "sim_hours": sim_hours})
    index = dict(writer.index)
    index["elapsed_s"] = round(time.monotonic() - started, 2)
    log.info("real store %s: %s in %.0f s", out, json.dumps(per_dataset), index["elapsed_s"])
    return index


def ensure_real_store(cfg: Any) -> None:
    """Build the ``real`` preset's store at ``cfg.data.store`` from ``cfg.data.real_data`` unless it exists.

    Raises:
        DataFormatError: no data folder is given (``--data`` / ``ANYPPG_DATA``) or it is not one.
    """
    store = Path(cfg.data.store)
    if (store / "index.json").is_file():
        return
    log.info("building the real store at %s (first use)", store)
    build_real_store(cfg.data.real_data, store, sim_hours=cfg.data.sim_hours, hop_s=cfg.data.hop_s,
                     seed=cfg.train.seed)  # fmt: skip
