"""``anyppg prepare --source DATASET:DIR`` on files the tests write in each dataset's NPZ layout."""

from __future__ import annotations

import numpy as np
import pytest

import anyppg
from anyppg.errors import DataFormatError
from anyppg.trainer.cmd_prepare import build_store
from anyppg.trainer.sources import SourceRecord, UnknownSourceError, open_source, record_windows
from anyppg.trainer.store import WindowStore

FS = 125


def all_labels(path) -> np.ndarray:
    store = WindowStore(path)
    return np.concatenate([store.split(s).labels() for s in ("train", "val", "test")])


def write_paired(folder, name, sim, **extra):
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(
        folder / name,
        ppg=sim.ppg.astype(np.float32),
        ecg=sim.ecg.astype(np.float32),
        fs_ppg=np.int32(FS),
        fs_ecg=np.int32(FS),
        **extra,
    )


def test_bidmc_folder_to_store_with_ecg_hr_and_agreement_quality(tmp_path):
    data = tmp_path / "data"
    for k, hr in enumerate((62.0, 88.0, 115.0)):
        sim = anyppg.simulate(42, heart_rate=hr, ppg_rate=FS, ecg_rate=FS, noise=0.01, seed=k)
        write_paired(data / "bidmc", f"bidmc_0{k + 1}.npz", sim)
    (data / "bidmc" / "bidmc_09.npz").write_bytes(b"broken")
    source = open_source(f"bidmc:{data}")  # the data folder works as well as the dataset's folder
    assert source.subjects() == ["bidmc:01", "bidmc:02", "bidmc:03", "bidmc:09"]
    index = build_store(source, tmp_path / "store", fractions={"train": 0.5, "val": 0.25, "test": 0.25})
    assert index["skipped"]["corrupt_file"] == 1
    labels = all_labels(tmp_path / "store")
    assert len(labels) == 3 * 4 and labels["has_ecg"].all()
    for k, hr in enumerate((62.0, 88.0, 115.0)):
        rows = labels[labels["subject"] == index["subjects"].index(f"bidmc:0{k + 1}")]
        np.testing.assert_allclose(rows["hr"], hr, atol=6.0)  # simulated HRV around the mean
    assert (labels["quality"] == 1).all()  # clean PPG agrees with its ECG
    assert (labels["af"] == -1).all()


def test_mimicdb_records_of_one_patient_share_a_subject(tmp_path):
    sim = anyppg.simulate(30, heart_rate=75, ppg_rate=FS, ecg_rate=FS, seed=3)
    for number in ("208", "209", "401"):
        write_paired(tmp_path, f"mimicdb_{number}.npz", sim, sample_index=np.array([0, len(sim.ppg) - 1]))
    source = open_source(f"mimicdb:{tmp_path}")
    assert source.subjects() == ["mimicdb:g208", "mimicdb:g401"]
    assert [r.subject for r in source.records()] == ["mimicdb:g208", "mimicdb:g208", "mimicdb:g401"]


def test_liu_segments_become_one_window_each_with_af(tmp_path):
    segments = np.stack(
        [anyppg.simulate(10, heart_rate=70 + 10 * i, ppg_rate=100.0, seed=i).ppg[:1000] for i in range(3)]
    )
    for patient, labels in (("190103190940", [5, 0, 2]), ("181220181216", [1, 5, 5])):
        np.savez(
            tmp_path / f"MPA_{patient}.npz",
            ppg_segments=segments.astype(np.float32),
            labels=np.array(labels, np.uint8),
            fs_ppg=np.int32(100),
        )
    source = open_source(f"liu:{tmp_path}")
    assert source.subjects() == ["liu:181220181216", "liu:190103190940"] and source.settle_s == 0.0
    records = list(source.records())
    assert [r.rhythm for r in records] == [1, 5, 5, 5, 0, 2]
    assert all(r.ppg_fs == 125.0 and len(r.ppg) == 1250 for r in records)
    index = build_store(source, tmp_path / "store", fractions={"train": 0.5, "val": 0.5, "test": 0.0})
    assert sum(index["counts"].values()) == 6 and index["skipped"] == {}
    labels = all_labels(tmp_path / "store")
    assert sorted(labels["af"].tolist()) == [0, 0, 0, 1, 1, 1]
    assert np.isnan(labels["hr"]).all() and not labels["has_ecg"].any()


def test_troika_reference_hr_and_acc_in_g(tmp_path):
    pytest.importorskip("anyppg.datasets.wrist")
    sim = anyppg.simulate(40, heart_rate=140, ppg_rate=FS, ecg_rate=FS, motion=0.3, seed=5)
    k = (40 - 8) // 2 + 1
    np.savez(
        tmp_path / "DATA_04_TYPE01.npz",
        ppg=np.stack([sim.ppg, sim.ppg]).astype(np.float32),
        acc=sim.acc.T.astype(np.float32),
        ecg=sim.ecg.astype(np.float32),
        hr_ref=np.full(k, 140.0, np.float32) + np.arange(k) * 0.5,  # 140.0, 140.5, ... per 8-s window
        fs_ppg=np.int32(FS),
    )
    source = open_source(f"troika:{tmp_path}")
    assert source.subjects() == ["troika:04"]
    (rec,) = list(source.records())
    assert rec.acc.shape == (len(sim.ppg), 3) and rec.hr_reference is not None
    labels = record_windows(rec).labels
    # Window [t0, t0 + 10) holds the 8-s reference windows starting at t0 and t0 + 2: mean of the two.
    expected = [140.0 + 0.5 * (t0 / 2) + 0.25 for t0 in labels["start_s"]]
    np.testing.assert_allclose(labels["hr"], expected, atol=1e-4)


def test_reference_that_misses_a_window_skips_it():
    sim = anyppg.simulate(40, heart_rate=80, ppg_rate=FS, seed=6)
    starts = np.array([0.0, 2.0, 4.0])  # the reference ends at 12 s
    rec = SourceRecord("s", "r", sim.ppg, FS, hr_reference=(starts, 8.0, np.array([80.0, 81.0, 82.0])))
    batch = record_windows(rec, settle_s=0.0)
    assert len(batch.labels) == 1 and batch.labels["hr"][0] == pytest.approx(
        80.5
    )  # refs at 0 s and 2 s lie inside [0, 10)
    assert batch.skipped["no_reference"] >= 2


def test_dataset_schemes_are_known_and_checked(tmp_path):
    with pytest.raises(UnknownSourceError, match="liu:DIR"):
        open_source("mitbih:/x")
    with pytest.raises(DataFormatError, match=r"no Liu et al\. 2022"):
        open_source(f"liu:{tmp_path}")
