"""The window store: sharded, memory-mapped 10 s PPG/ECG training windows (numpy only, no torch).

Layout of a store folder::

    index.json                 shards, counts, splits, subjects, sources, preprocessing, skipped windows
    train-00000/ppg.npy        (N, 1250) float32: 10 s PPG at 125 Hz, band-passed 0.5-8 Hz, z-scored
    train-00000/ecg.npy        (N, 5000) float32: 10 s ECG at 500 Hz, cleaned, z-scored
    train-00000/labels.npy     (N,) structured, see LABEL_DTYPE
    val-00000/...  test-00000/...

Every shard belongs to one split, and every subject to one split (assigned before any window is written),
so no subject's windows can leak between train, val and test. Shards are read with
``np.load(mmap_mode="r")``: opening a store costs a JSON read, a window costs one page-aligned read per
array, and nothing is loaded whole. Writing keeps at most one shard per split in memory.

Sizes: a window is 1250*4 + 5000*4 + 32 = 25,032 bytes on disk; 36 M windows (100,000 h at a 10 s hop)
are 901 GB in ~8,800 shards of 4,096 windows (102.5 MB each). See docs/data.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anyppg.errors import AnyPPGError, DataFormatError

__all__ = [
    "ECG_SAMPLES",
    "FORMAT",
    "LABEL_DTYPE",
    "PPG_SAMPLES",
    "SPLITS",
    "SplitView",
    "StoreError",
    "StoreWriter",
    "WindowStore",
    "assign_splits",
    "empty_labels",
]

log = logging.getLogger(__name__)

FORMAT = "anyppg.windowstore/2"  # 2: the spare label byte became `ectopic`
PPG_SAMPLES = 1250  # 10 s at 125 Hz
ECG_SAMPLES = 5000  # 10 s at 500 Hz
SPLITS = ("train", "val", "test")

#: One row per window. ``af`` and ``quality`` use -1 for "unknown" (e.g. no rhythm annotation).
LABEL_DTYPE = np.dtype(
    [
        ("hr", "<f4"),  # heart rate (bpm) from the ECG R-peaks in the window; NaN without ECG
        ("af", "i1"),  # atrial fibrillation: 1 / 0 / -1 unknown
        ("quality", "i1"),  # PPG usable: 1 / 0 / -1 unknown
        ("has_ecg", "u1"),  # 1 when ecg.npy holds a real ECG window (else zeros)
        ("ectopic", "i1"),  # a premature (ectopic) beat in the window: 1 / 0 / -1 unknown
        ("subject", "<i4"),  # index into index.json "subjects"
        ("source", "<i2"),  # index into index.json "sources"
        ("pad2", "<i2"),
        ("record", "<i4"),  # index into index.json "records"
        ("start_s", "<f8"),  # window start, seconds from the start of its record
        ("pad3", "<i4"),
    ]
)
assert LABEL_DTYPE.itemsize == 32


class StoreError(AnyPPGError, ValueError):
    """A window store cannot be written or read as asked.

    Attributes:
        path: the store folder.
        reason: what is wrong.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"window store {os.fspath(path)}: {reason}")
        self.path = os.fspath(path)
        self.reason = reason


def empty_labels(n: int) -> np.ndarray:
    """``n`` label rows with every field "unknown" (hr NaN, af/quality -1)."""
    labels = np.zeros(n, dtype=LABEL_DTYPE)
    labels["hr"] = np.nan
    labels["af"] = -1
    labels["quality"] = -1
    labels["ectopic"] = -1
    return labels


def assign_splits(
    subjects: Sequence[str], fractions: Mapping[str, float] | None = None, seed: int = 0
) -> dict[str, str]:
    """Assign each subject to exactly one split.

    The subjects are sorted, shuffled with ``seed`` and cut in the given proportions, so the result
    does not depend on the order they are listed in. With at least as many subjects as splits, every
    split with a non-zero fraction gets at least one subject.

    Args:
        subjects: subject identifiers (duplicates are ignored).
        fractions: split name -> fraction, default train 0.8 / val 0.1 / test 0.1.
        seed: shuffling seed.

    Returns:
        subject -> split name.

    Raises:
        ValueError: fractions are negative or do not sum to 1.
    """
    fractions = dict(fractions or {"train": 0.8, "val": 0.1, "test": 0.1})
    if any(f < 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be >= 0 and sum to 1; got {fractions}")
    unique = sorted(set(subjects))
    random.Random(seed).shuffle(unique)
    n = len(unique)
    names = [s for s, f in fractions.items() if f > 0]
    counts = {s: int(np.floor(fractions[s] * n)) for s in names}
    if n >= len(names):  # every split gets one subject, the largest gives them up
        for s in names:
            if counts[s] == 0:
                counts[s] = 1
        while sum(counts.values()) > n:
            biggest = max(names, key=lambda s: counts[s])
            counts[biggest] -= 1
    # Hand out the remainder to the splits that lost the most to rounding.
    while sum(counts.values()) < n:
        s = max(names, key=lambda s: fractions[s] * n - counts[s])
        counts[s] += 1
    out: dict[str, str] = {}
    start = 0
    for s in names:
        for subject in unique[start : start + counts[s]]:
            out[subject] = s
        start += counts[s]
    return out


@dataclass
class _ShardBuffer:
    split: str
    number: int = 0
    ppg: list[np.ndarray] = field(default_factory=list)
    ecg: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    count: int = 0


class StoreWriter:
    """Writes windows into a new store, one shard at a time per split.

    Use as a context manager; ``close()`` flushes the last shards and writes ``index.json`` (a store
    without ``index.json`` is incomplete and refused by :class:`WindowStore`).

    Args:
        path: the store folder (created; must not already hold a store).
        split_of: subject -> split, e.g. from :func:`assign_splits`. A subject not in it is refused.
        shard_size: windows per shard. 4,096 windows are 102.5 MB per shard.
        preprocessing: a description of how windows were made, stored in the index.
        overwrite: replace an existing store at ``path``.

    Raises:
        StoreError: ``path`` already holds a store and ``overwrite`` is False.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        split_of: Mapping[str, str],
        *,
        shard_size: int = 4096,
        preprocessing: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        if (self.path / "index.json").exists() and not overwrite:
            raise StoreError(self.path, "already holds a store (index.json exists); pass overwrite=True")
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1; got {shard_size}")
        self.path.mkdir(parents=True, exist_ok=True)
        if overwrite:
            (self.path / "index.json").unlink(missing_ok=True)
            for split in SPLITS:
                for folder in self.path.glob(f"{split}-[0-9][0-9][0-9][0-9][0-9]"):
                    shutil.rmtree(folder)
        self.split_of = dict(split_of)
        self.shard_size = shard_size
        self.preprocessing = dict(preprocessing or {})
        self._buffers = {s: _ShardBuffer(s) for s in sorted(set(self.split_of.values()))}
        self._shards: list[dict[str, Any]] = []
        self._subjects: dict[str, int] = {}
        self._sources: dict[str, int] = {}
        self._records: dict[str, int] = {}
        self.skipped: dict[str, int] = {}
        self._closed = False

    # -- registries (names live in the index; labels hold small integers) --

    def _id(self, table: dict[str, int], key: str) -> int:
        if key not in table:
            table[key] = len(table)
        return table[key]

    def count_skipped(self, reason: str, n: int = 1) -> None:
        """Count windows (or files) left out, by reason (``"nan"``, ``"flat_ppg"``, ``"corrupt_file"``...)."""
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def add(
        self,
        subject: str,
        source: str,
        record: str,
        ppg: np.ndarray,
        ecg: np.ndarray | None,
        labels: np.ndarray,
    ) -> None:
        """Add windows of one record.

        Args:
            subject: subject identifier (must be in ``split_of``).
            source: source name (``sim``, ``wfdb``, ...).
            record: record name, unique within the store.
            ppg: ``(n, 1250)`` float32 model-input windows.
            ecg: ``(n, 5000)`` float32 ECG windows, or None for PPG-only sources (stored as zeros with
                ``has_ecg = 0``).
            labels: ``(n,)`` rows of :data:`LABEL_DTYPE`; ``subject``, ``source``, ``record`` and
                ``has_ecg`` are filled in here.

        Raises:
            StoreError: the subject has no split, or shapes/dtypes do not match the contract.
        """
        if self._closed:
            raise StoreError(self.path, "writer is closed")
        if subject not in self.split_of:
            raise StoreError(self.path, f"subject {subject!r} was not assigned a split")
        ppg = np.asarray(ppg, dtype=np.float32)
        n = len(ppg)
        if ppg.ndim != 2 or ppg.shape[1] != PPG_SAMPLES:
            raise StoreError(self.path, f"ppg windows have shape {ppg.shape}; expected (n, {PPG_SAMPLES})")
        if ecg is None:
            ecg = np.zeros((n, ECG_SAMPLES), dtype=np.float32)
            has_ecg = 0
        else:
            ecg = np.asarray(ecg, dtype=np.float32)
            has_ecg = 1
            if ecg.shape != (n, ECG_SAMPLES):
                raise StoreError(
                    self.path, f"ecg windows have shape {ecg.shape}; expected ({n}, {ECG_SAMPLES})"
                )
        if labels.dtype != LABEL_DTYPE or labels.shape != (n,):
            raise StoreError(
                self.path, f"labels must be ({n},) of LABEL_DTYPE; got {labels.shape} {labels.dtype}"
            )
        if n == 0:
            return
        labels = labels.copy()
        labels["subject"] = self._id(self._subjects, subject)
        labels["source"] = self._id(self._sources, source)
        labels["record"] = self._id(self._records, record)
        labels["has_ecg"] = has_ecg
        buf = self._buffers[self.split_of[subject]]
        start = 0
        while start < n:
            take = min(n - start, self.shard_size - buf.count)
            buf.ppg.append(ppg[start : start + take])
            buf.ecg.append(ecg[start : start + take])
            buf.labels.append(labels[start : start + take])
            buf.count += take
            start += take
            if buf.count == self.shard_size:
                self._flush(buf)

    def _flush(self, buf: _ShardBuffer) -> None:
        if buf.count == 0:
            return
        name = f"{buf.split}-{buf.number:05d}"
        folder = self.path / name
        folder.mkdir(exist_ok=True)
        np.save(folder / "ppg.npy", np.concatenate(buf.ppg))
        np.save(folder / "ecg.npy", np.concatenate(buf.ecg))
        np.save(folder / "labels.npy", np.concatenate(buf.labels))
        self._shards.append({"name": name, "split": buf.split, "count": buf.count})
        log.debug("wrote shard %s (%d windows)", name, buf.count)
        buf.number += 1
        buf.ppg, buf.ecg, buf.labels, buf.count = [], [], [], 0

    @property
    def counts(self) -> dict[str, int]:
        """Windows written so far per split (including buffered ones)."""
        out = {s: 0 for s in SPLITS}
        for shard in self._shards:
            out[shard["split"]] = out.get(shard["split"], 0) + shard["count"]
        for s, buf in self._buffers.items():
            out[s] = out.get(s, 0) + buf.count
        return out

    def close(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Flush the last shards and write ``index.json``; returns the index."""
        if self._closed:
            return self.index
        for buf in self._buffers.values():
            self._flush(buf)
        splits = {s: [sh["name"] for sh in self._shards if sh["split"] == s] for s in SPLITS}
        subject_split = {name: self.split_of[name] for name in self._subjects}
        self.index = {
            "format": FORMAT,
            "ppg": {"shape": [PPG_SAMPLES], "dtype": "float32", "rate_hz": 125.0, "window_s": 10.0},
            "ecg": {"shape": [ECG_SAMPLES], "dtype": "float32", "rate_hz": 500.0, "window_s": 10.0},
            "labels": {"fields": [n for n in LABEL_DTYPE.names if not n.startswith("pad")]},
            "shards": sorted(self._shards, key=lambda s: s["name"]),
            "counts": {s: sum(sh["count"] for sh in self._shards if sh["split"] == s) for s in SPLITS},
            "splits": splits,
            "subjects": list(self._subjects),
            "subject_split": subject_split,
            "sources": list(self._sources),
            "records": list(self._records),
            "preprocessing": self.preprocessing,
            "skipped": dict(sorted(self.skipped.items())),
            **dict(extra or {}),
        }
        tmp = self.path / "index.json.tmp"
        # Readable when small; compact when a corpus has many records (the names are all listed).
        indent = 1 if len(self._records) <= 5000 else None
        tmp.write_text(json.dumps(self.index, indent=indent) + "\n")
        tmp.replace(self.path / "index.json")
        self._closed = True
        return self.index

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()


class SplitView:
    """The windows of one split, indexable as one array of windows across shards.

    Memory maps are opened on first use and dropped when the view is pickled (a DataLoader worker
    re-opens its own), so a view is cheap to send to worker processes.
    """

    def __init__(self, root: Path, split: str, shards: Sequence[Mapping[str, Any]]) -> None:
        self.root = root
        self.split = split
        self.shards = [dict(s) for s in shards]
        counts = np.array([s["count"] for s in self.shards], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        self._maps: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_maps"] = {}
        return state

    def _shard(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        maps = self._maps.get(k)
        if maps is None:
            folder = self.root / self.shards[k]["name"]
            try:
                maps = tuple(np.load(folder / f"{a}.npy", mmap_mode="r") for a in ("ppg", "ecg", "labels"))
            except FileNotFoundError as exc:
                raise StoreError(self.root, f"shard file missing: {exc.filename}") from exc
            expected = self.shards[k]["count"]
            if any(len(m) != expected for m in maps):
                raise StoreError(
                    self.root, f"shard {folder.name} has {[len(m) for m in maps]} rows; index says {expected}"
                )
            self._maps[k] = maps
        return maps

    def locate(self, i: int) -> tuple[int, int]:
        """(shard number, row within shard) of window ``i``."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"window {i} out of range for split {self.split!r} with {n} windows")
        i %= n
        k = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return k, i - int(self.offsets[k])

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, np.void]:
        """``(ppg (1250,), ecg (5000,), label row)`` of window ``i``, as read-only memmap views."""
        k, j = self.locate(int(i))
        ppg, ecg, labels = self._shard(k)
        return ppg[j], ecg[j], labels[j]

    def take(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Windows ``indices`` as in-memory arrays ``(ppg (n, 1250), ecg (n, 5000), labels (n,))``.

        One sorted fancy-index read per shard touched: about 10x faster than reading row by row.

        Raises:
            IndexError: an index is out of range.
        """
        n = len(self)
        idx = np.asarray(indices, dtype=np.int64).ravel()
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = int(idx[(idx < -n) | (idx >= n)][0])
            raise IndexError(f"window {bad} out of range for split {self.split!r} with {n} windows")
        idx = idx % n if n else idx
        shard = np.searchsorted(self.offsets, idx, side="right") - 1
        rows = idx - self.offsets[shard]
        ppg = np.empty((len(idx), PPG_SAMPLES), dtype=np.float32)
        ecg = np.empty((len(idx), ECG_SAMPLES), dtype=np.float32)
        labels = np.empty(len(idx), dtype=LABEL_DTYPE)
        for k in np.unique(shard):
            dest = np.flatnonzero(shard == k)
            order = np.argsort(rows[dest], kind="stable")
            dest, src = dest[order], rows[dest][order]
            m_ppg, m_ecg, m_labels = self._shard(int(k))
            ppg[dest], ecg[dest], labels[dest] = m_ppg[src], m_ecg[src], m_labels[src]
        return ppg, ecg, labels

    def labels(self) -> np.ndarray:
        """All label rows of the split (32 bytes a window; reads only labels.npy files)."""
        if not self.shards:
            return np.zeros(0, dtype=LABEL_DTYPE)
        return np.concatenate([np.asarray(self._shard(k)[2]) for k in range(len(self.shards))])

    def iter_batches(self, batch_size: int = 1024) -> Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Sequential ``(ppg, ecg, labels)`` batches in storage order (fast path for evaluation)."""
        for k in range(len(self.shards)):
            ppg, ecg, labels = self._shard(k)
            for start in range(0, len(labels), batch_size):
                stop = start + batch_size
                yield np.asarray(ppg[start:stop]), np.asarray(ecg[start:stop]), np.asarray(labels[start:stop])


class WindowStore:
    """A window store opened for reading (see the module docstring for the layout).

    Args:
        path: the store folder.

    Raises:
        StoreError: no ``index.json`` (not a store, or writing never finished), or an unknown format.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        index_path = self.path / "index.json"
        if not index_path.is_file():
            raise StoreError(
                self.path, "no index.json: not a window store, or `anyppg prepare` did not finish"
            )
        try:
            self.index: dict[str, Any] = json.loads(index_path.read_text())
        except json.JSONDecodeError as exc:
            raise DataFormatError(str(index_path), f"not valid JSON: {exc}") from exc
        if self.index.get("format") != FORMAT:
            raise StoreError(self.path, f"format {self.index.get('format')!r}; expected {FORMAT!r}")

    @property
    def counts(self) -> dict[str, int]:
        """Windows per split."""
        return dict(self.index["counts"])

    @property
    def subjects(self) -> list[str]:
        return list(self.index["subjects"])

    @property
    def sources(self) -> list[str]:
        return list(self.index["sources"])

    def split(self, name: str) -> SplitView:
        """The windows of one split (``train``, ``val`` or ``test``).

        Raises:
            StoreError: the split name is unknown.
        """
        if name not in self.index["splits"]:
            raise StoreError(self.path, f"unknown split {name!r}; the store has {list(self.index['splits'])}")
        by_name = {s["name"]: s for s in self.index["shards"]}
        return SplitView(self.path, name, [by_name[n] for n in self.index["splits"][name]])

    def fingerprint(self) -> str:
        """A short hash of the index (changes whenever the store is rebuilt differently)."""
        return hashlib.sha1(json.dumps(self.index, sort_keys=True).encode()).hexdigest()[:12]
