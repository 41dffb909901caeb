"""The window store: sharding, memory maps, subject-level splits, typed errors (numpy only)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- anyppg prepare on the simulator, and the torch dataset over its store -------------------------


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory):
    from anyppg.trainer.cmd_prepare import build_store
    from anyppg.trainer.sources import SimSource

    path = tmp_path_factory.mktemp("sim") / "store"
    index = build_store(SimSource(hours=0.4, record_s=60.0, seed=7), path, shard_size=16)
    return path, index


def test_prepare_sim_store_is_split_by_subject(sim_store):
    path, index = sim_store
    store = WindowStore(path)
    assert index["counts"] == store.counts and min(store.counts.values()) > 0
    assert index["build"]["records"] == 24  # 0.4 h of 60 s records
    seen = {}
    for split in ("train", "val", "test"):
        for subject_id in np.unique(store.split(split).labels()["subject"]):
            subject = store.subjects[subject_id]
            assert seen.setdefault(subject, split) == split
            assert store.index["subject_split"][subject] == split


def test_sim_windows_are_aligned_with_their_labels(sim_store):
    from anyppg.signal import ECG_FS, ecg_findpeaks, heart_rate

    path, _ = sim_store
    labels = WindowStore(path).split("train").labels()
    view = WindowStore(path).split("train")
    assert set(np.unique(labels["af"])) <= {0, 1} and labels["has_ecg"].all()
    assert np.all((labels["hr"] > 30) & (labels["hr"] < 200))
    ppg_err, ecg_err = [], []
    for i in range(0, len(view), 3):
        ppg, ecg, label = view[i]
        peaks = ecg_findpeaks(np.asarray(ecg, dtype=np.float64), ECG_FS, clean=False)
        ecg_hr = 60.0 * (len(peaks) - 1) / ((peaks[-1] - peaks[0]) / ECG_FS)
        ecg_err.append(abs(ecg_hr - label["hr"]))
        if label["quality"] == 1 and label["af"] == 0:
            ppg_err.append(abs(heart_rate(np.asarray(ppg, dtype=np.float64), 125.0) - label["hr"]))
    # R-peaks found in the stored ECG window agree with the exact label: the ECG is cut at the right time.
    assert np.median(ecg_err) < 1.0
    # The PPG window shows the same heart rate: it is cut at the same time as the ECG.
    assert np.median(ppg_err) < 3.0


def test_prepare_cli_json_summary(tmp_path, capsys):
    from anyppg.cli import main

    out = tmp_path / "s"
    assert main(["prepare", "--source", "sim", "--hours", "0.1", "--record-s", "60", "--out", str(out),
                 "--json", "--quiet"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 6 and sum(summary["counts"].values()) == sum(
        WindowStore(out).counts.values()
    )
    # A second run refuses to overwrite the store.
    assert main(["prepare", "--source", "sim", "--hours", "0.1", "--out", str(out), "--quiet"]) == 1
    assert "overwrite" in capsys.readouterr().err


def test_window_dataset_with_distributed_sampler(sim_store):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, DistributedSampler

    from anyppg.trainer.datasets import WindowDataset

    path, _ = sim_store
    ds = WindowDataset(path, "train", require_ecg=True)
    item = ds[0]
    assert item["ppg"].shape == (1, 1250) and item["ecg"].shape == (1, 5000)
    assert item["ppg"].dtype == torch.float32 and item["af"].dtype == torch.int64
    seen = []
    for rank in range(2):  # what two torchrun ranks would each read
        sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=0, drop_last=True)
        loader = DataLoader(ds, batch_size=8, sampler=sampler, num_workers=1)
        for batch in loader:
            assert batch["ppg"].shape[1:] == (1, 1250) and batch["ecg"].shape[1:] == (1, 5000)
            seen.extend(batch["index"].tolist())
    assert len(seen) == len(set(seen)) == len(ds) // 2 * 2
    labels = ds.labels()
    np.testing.assert_allclose(labels["hr"][ds[5]["index"].item()], ds[5]["hr"].item(), rtol=1e-6)


def test_take_reads_any_order_across_shards(tmp_path):
    _write(tmp_path / "s", shard_size=4)
    view = WindowStore(tmp_path / "s").split("train")
    idx = np.array([len(view) - 1, 0, 5, 5, 2, -1])
    ppg, ecg, labels = view.take(idx)
    for out_row, i in enumerate(idx):
        p, e, label = view[int(i)]
        np.testing.assert_array_equal(ppg[out_row], p)
        np.testing.assert_array_equal(ecg[out_row], e)
        assert labels[out_row] == label
    with pytest.raises(IndexError, match="out of range"):
        view.take([len(view)])
