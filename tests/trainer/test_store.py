"""The window store: sharding, memory maps, subject-level splits, typed errors (numpy only)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from anyppg.trainer.store import (
    ECG_SAMPLES,
    LABEL_DTYPE,
    PPG_SAMPLES,
    StoreError,
    StoreWriter,
    WindowStore,
    assign_splits,
    empty_labels,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def _windows(n: int, seed: int, with_ecg: bool = True):
    rng = np.random.default_rng(seed)
    ppg = rng.standard_normal((n, PPG_SAMPLES)).astype(np.float32)
    ecg = rng.standard_normal((n, ECG_SAMPLES)).astype(np.float32) if with_ecg else None
    labels = empty_labels(n)
    labels["hr"] = rng.uniform(50, 120, n)
    labels["af"] = rng.integers(0, 2, n)
    labels["quality"] = 1
    labels["start_s"] = np.arange(n) * 10.0
    return ppg, ecg, labels


def _write(path, n_subjects=12, per_subject=5, shard_size=7):
    subjects = [f"s{i:02d}" for i in range(n_subjects)]
    split_of = assign_splits(subjects, seed=3)
    written = {}
    with StoreWriter(path, split_of, shard_size=shard_size, preprocessing={"ppg": "test"}) as w:
        for i, s in enumerate(subjects):
            ppg, ecg, labels = _windows(per_subject, seed=i)
            w.add(s, "unit", f"{s}/rec0", ppg, ecg, labels)
            written[s] = (ppg, ecg, labels)
        w.count_skipped("nan", 3)
    return split_of, written


def test_round_trip_across_shards_with_memory_maps(tmp_path):
    split_of, written = _write(tmp_path / "store")
    store = WindowStore(tmp_path / "store")
    assert sum(store.counts.values()) == 12 * 5
    assert store.index["skipped"] == {"nan": 3}
    assert len(store.index["shards"]) > 3  # shard_size 7 forces several shards per split
    seen = 0
    for split in ("train", "val", "test"):
        view = store.split(split)
        assert len(view) == store.counts[split] > 0
        for i in range(len(view)):
            ppg, ecg, label = view[i]
            assert isinstance(ppg.base, np.memmap) or isinstance(ppg, np.memmap)
            subject = store.subjects[label["subject"]]
            assert split_of[subject] == split
            w_ppg, w_ecg, w_labels = written[subject]
            row = int(label["start_s"] // 10)
            np.testing.assert_array_equal(ppg, w_ppg[row])
            np.testing.assert_array_equal(ecg, w_ecg[row])
            assert label["hr"] == np.float32(w_labels["hr"][row])
            assert label["has_ecg"] == 1
            seen += 1
    assert seen == 60


def test_no_subject_is_in_two_splits(tmp_path):
    _write(tmp_path / "store", n_subjects=20)
    store = WindowStore(tmp_path / "store")
    subjects = {s: set(store.split(s).labels()["subject"].tolist()) for s in ("train", "val", "test")}
    assert not subjects["train"] & subjects["val"]
    assert not subjects["train"] & subjects["test"]
    assert not subjects["val"] & subjects["test"]
    assert all(subjects.values())


def test_split_view_pickles_without_its_data(tmp_path):
    _write(tmp_path / "store")
    view = WindowStore(tmp_path / "store").split("train")
    view[0]  # opens a memory map
    blob = pickle.dumps(view)
    assert len(blob) < 10_000  # the maps are not copied into the pickle
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again[3][0], view[3][0])


def test_iter_batches_reads_every_window_once(tmp_path):
    _write(tmp_path / "store")
    view = WindowStore(tmp_path / "store").split("train")
    batches = list(view.iter_batches(batch_size=4))
    assert sum(len(b[2]) for b in batches) == len(view)
    assert batches[0][0].shape[1:] == (PPG_SAMPLES,) and batches[0][1].shape[1:] == (ECG_SAMPLES,)


def test_ppg_only_windows_are_flagged(tmp_path):
    with StoreWriter(tmp_path / "s", {"a": "train"}) as w:
        ppg, _, labels = _windows(3, 0)
        w.add("a", "csv", "a/0", ppg, None, labels)
    ppg, ecg, label = WindowStore(tmp_path / "s").split("train")[1]
    assert label["has_ecg"] == 0 and not ecg.any()


def test_bad_input_is_refused_with_the_expected_shape(tmp_path):
    w = StoreWriter(tmp_path / "s", {"a": "train"})
    ppg, ecg, labels = _windows(2, 0)
    with pytest.raises(StoreError, match=r"expected \(n, 1250\)"):
        w.add("a", "x", "r", ppg[:, :1000], ecg, labels)
    with pytest.raises(StoreError, match=r"expected \(2, 5000\)"):
        w.add("a", "x", "r", ppg, ecg[:, :100], labels)
    with pytest.raises(StoreError, match="not assigned a split"):
        w.add("zz", "x", "r", ppg, ecg, labels)
    with pytest.raises(StoreError, match="LABEL_DTYPE"):
        w.add("a", "x", "r", ppg, ecg, np.zeros(2))


def test_unfinished_or_foreign_folders_are_not_stores(tmp_path):
    with pytest.raises(StoreError, match=r"no index\.json"):
        WindowStore(tmp_path)
    (tmp_path / "index.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(StoreError, match="format"):
        WindowStore(tmp_path)


def test_existing_store_needs_overwrite(tmp_path):
    _write(tmp_path / "s")
    with pytest.raises(StoreError, match="overwrite"):
        StoreWriter(tmp_path / "s", {"a": "train"})
    with StoreWriter(tmp_path / "s", {"a": "train"}, overwrite=True) as w:
        w.add("a", "x", "r", *_windows(2, 0))
    assert WindowStore(tmp_path / "s").counts == {"train": 2, "val": 0, "test": 0}


def test_missing_shard_file_is_named(tmp_path):
    _write(tmp_path / "s")
    store = WindowStore(tmp_path / "s")
    first = store.index["splits"]["train"][0]
    (tmp_path / "s" / first / "ecg.npy").unlink()
    with pytest.raises(StoreError, match=r"ecg\.npy"):
        store.split("train")[0]


def test_label_rows_are_32_bytes():
    assert LABEL_DTYPE.itemsize == 32


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 200), seed=st.integers(0, 10**6))
def test_assign_splits_partitions_subjects(n, seed):
    subjects = [f"subj{i}" for i in range(n)]
    split_of = assign_splits(subjects, seed=seed)
    assert set(split_of) == set(subjects)
    assert split_of == assign_splits(list(reversed(subjects)), seed=seed)  # order does not matter
    counts = {s: sum(v == s for v in split_of.values()) for s in ("train", "val", "test")}
    if n >= 3:
        assert min(counts.values()) >= 1
    if n >= 30:
        assert abs(counts["train"] - 0.8 * n) <= 2


def test_assign_splits_rejects_bad_fractions():
    with pytest.raises(ValueError, match="sum to 1"):
        assign_splits(["a"], {"train": 0.5, "test": 0.2})
