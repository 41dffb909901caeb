"""Readers for users' corpora, each on small files written here in that format, and record windowing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from anyppg.errors import DataFormatError
from anyppg.trainer.sources import (
    CsvSource,
    EdfSource,
    NpzSource,
    PulseDBSource,
    SourceRecord,
    UnknownSourceError,
    VitalDBSource,
    WfdbSource,
    open_source,
    record_windows,
)


def _pulse(duration_s: float, fs: float, hr_bpm: float = 72.0) -> np.ndarray:
    """A plain pulse-like wave (fundamental + harmonic): enough for format round trips."""
    t = np.arange(round(duration_s * fs)) / fs
    f = hr_bpm / 60.0
    return np.sin(2 * np.pi * f * t) + 0.4 * np.sin(4 * np.pi * f * t + 0.5)


def _spikes(duration_s: float, fs: float, hr_bpm: float = 72.0) -> np.ndarray:
    """An ECG-like train of narrow R waves (mV)."""
    n = round(duration_s * fs)
    x = np.zeros(n)
    r = np.round(np.arange(0.2, duration_s, 60.0 / hr_bpm) * fs).astype(int)
    x[r[r < n]] = 1.0
    width = max(1, round(0.01 * fs))
    kernel = np.exp(-0.5 * (np.arange(-4 * width, 4 * width + 1) / width) ** 2)
    return np.convolve(x, kernel, mode="same")


# --- WFDB ------------------------------------------------------------------------------------------


def test_wfdb_mimic_style_record_with_rhythm_annotations(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    fs, dur = 125, 60.0
    ppg, ecg = _pulse(dur, fs), _spikes(dur, fs)
    name = "p000123-2150-01-01-00-00"
    wfdb.wrsamp(name, fs=fs, units=["NU", "mV"], sig_name=["PLETH", "II"],
                p_signal=np.column_stack([ppg, ecg]), fmt=["16", "16"], write_dir=str(tmp_path))  # fmt: skip
    wfdb.wrann(name, "atr", np.array([0, 20 * fs, 40 * fs]), symbol=["+", "+", "+"],
               aux_note=["(N", "(AFIB", "(N"], write_dir=str(tmp_path))  # fmt: skip
    source = WfdbSource(tmp_path)
    assert source.subjects() == ["p000123"]
    (rec,) = list(source.records())
    assert rec.ppg_fs == rec.ecg_fs == fs
    np.testing.assert_allclose(rec.ppg, ppg, atol=1e-3)
    np.testing.assert_allclose(rec.ecg, ecg, atol=1e-3)
    assert rec.af_intervals == [(20.0, 40.0)]
    assert source.skipped == {}


def test_wfdb_multifrequency_record_keeps_each_signal_at_its_rate(tmp_path, write_multifrequency_wfdb):
    """PLETH at 250 Hz (2 samples a frame) beside lead II at 125 Hz: neither averaged to the frame rate."""
    ppg, ecg = _pulse(30.0, 250), _spikes(30.0, 125)
    write_multifrequency_wfdb(tmp_path, "p000321-1", [ppg, ecg], ["PLETH", "II"], ["NU", "mV"], [2, 1], 125)
    (rec,) = list(WfdbSource(tmp_path).records())
    assert (rec.ppg_fs, rec.ecg_fs) == (250.0, 125.0) and len(rec.ppg) == len(ppg)
    np.testing.assert_allclose(rec.ppg, ppg, atol=1e-3)
    np.testing.assert_allclose(rec.ecg, ecg, atol=1e-3)


def test_wfdb_record_without_pleth_is_skipped_and_counted(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    wfdb.wrsamp("a-1", fs=125, units=["mV"], sig_name=["II"], p_signal=_spikes(20, 125)[:, None],
                fmt=["16"], write_dir=str(tmp_path))  # fmt: skip
    wfdb.wrsamp("b-1", fs=125, units=["NU"], sig_name=["PLETH"], p_signal=_pulse(20, 125)[:, None],
                fmt=["16"], write_dir=str(tmp_path))  # fmt: skip
    source = WfdbSource(tmp_path)
    records = list(source.records())
    assert [r.record for r in records] == ["b-1"]
    assert records[0].ecg is None
    assert source.skipped == {"corrupt_file": 1}


# --- VitalDB ---------------------------------------------------------------------------------------


def test_vitaldb_tracks_are_read_at_their_own_rates(tmp_path):
    vitaldb = pytest.importorskip("vitaldb")
    ppg, ecg = _pulse(30, 125), _spikes(30, 500)
    vf = vitaldb.VitalFile()
    vf.add_track("SNUADC/PLETH", [{"dt": 1_600_000_000.0, "val": ppg}], srate=125)
    vf.add_track("SNUADC/ECG_II", [{"dt": 1_600_000_000.0, "val": ecg}], srate=500)
    vf.to_vital(str(tmp_path / "0042.vital"))
    source = VitalDBSource(tmp_path)
    assert source.subjects() == ["0042"]
    (rec,) = list(source.records())
    assert (rec.ppg_fs, rec.ecg_fs) == (125.0, 500.0)
    np.testing.assert_allclose(rec.ppg[: len(ppg)], ppg, atol=1e-5)
    np.testing.assert_allclose(rec.ecg[: len(ecg)], ecg, atol=1e-5)


def test_vitaldb_without_pleth_names_the_tracks(tmp_path):
    vitaldb = pytest.importorskip("vitaldb")
    vf = vitaldb.VitalFile()
    vf.add_track("SNUADC/ECG_II", [{"dt": 0.0, "val": _spikes(20, 500)}], srate=500)
    vf.to_vital(str(tmp_path / "7.vital"))
    with pytest.raises(DataFormatError, match="no SNUADC/PLETH track"):
        VitalDBSource(tmp_path).read(tmp_path / "7.vital")


# --- PulseDB ---------------------------------------------------------------------------------------


def _pulsedb_segments(n: int = 3):
    ppg = np.stack([_pulse(10, 125, 60 + 10 * i) for i in range(n)])
    ecg = np.stack([_spikes(10, 125, 60 + 10 * i) for i in range(n)])
    return ppg, ecg


def _write_v73(path, ppg, ecg, subject):
    """A MATLAB v7.3 file as MATLAB writes struct arrays: one object reference per element."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        group = f.create_group("Subj_Wins")
        for field, rows in (("PPG_Raw", ppg), ("ECG_Raw", ecg)):
            ds = group.create_dataset(field, (len(rows), 1), dtype=h5py.ref_dtype)
            for i, row in enumerate(rows):
                target = refs.create_dataset(f"{field}{i}", data=row[:, None])  # MATLAB (1, 1250)^T
                ds[i, 0] = target.ref
        ids = group.create_dataset("SubjectID", (len(ppg), 1), dtype=h5py.ref_dtype)
        for i in range(len(ppg)):
            t = refs.create_dataset(
                f"id{i}", data=np.array([ord(c) for c in subject], dtype=np.uint16)[:, None]
            )
            t.attrs["MATLAB_class"] = np.bytes_(b"char")
            ids[i, 0] = t.ref
    with open(path, "r+b") as f:  # MATLAB's 512-byte text preamble
        f.write(b"MATLAB 7.3 MAT-file, written by a test".ljust(128, b" "))


def test_pulsedb_v73_and_v5_files_give_the_same_segments(tmp_path):
    from scipy.io import savemat

    ppg, ecg = _pulsedb_segments()
    _write_v73(tmp_path / "p000777.mat", ppg, ecg, "p000777")
    wins = np.zeros((1, len(ppg)), dtype=[("PPG_Raw", object), ("ECG_Raw", object), ("SubjectID", object)])
    for i in range(len(ppg)):
        wins[0, i] = (ppg[i], ecg[i], "p000888")
    savemat(tmp_path / "p000888.mat", {"Subj_Wins": wins})

    source = PulseDBSource(tmp_path)
    assert source.subjects() == ["p000777", "p000888"]
    records = list(source.records())
    assert len(records) == 6 and source.skipped == {}
    for k, rec in enumerate(records):
        assert rec.ppg_fs == rec.ecg_fs == 125.0
        np.testing.assert_allclose(rec.ppg, ppg[k % 3])
        np.testing.assert_allclose(rec.ecg, ecg[k % 3])


def test_pulsedb_subset_layout(tmp_path):
    from scipy.io import savemat

    ppg, ecg = _pulsedb_segments(4)
    signals = np.stack([ecg, ppg, np.zeros_like(ppg)], axis=1)  # (n, 3, 1250): ECG, PPG, ABP
    subset = {"Signals": signals, "Subject": np.array(["a1", "a1", "b2", "b2"], dtype=object)}
    savemat(tmp_path / "Subset.mat", {"Subset": subset})
    source = PulseDBSource(tmp_path)
    assert source.subjects() == ["a1", "b2"]
    records = list(source.records())
    np.testing.assert_allclose(records[2].ppg, ppg[2])
    np.testing.assert_allclose(records[2].ecg, ecg[2])


def test_pulsedb_file_without_the_struct_is_counted(tmp_path):
    from scipy.io import savemat

    savemat(tmp_path / "x.mat", {"Other": np.zeros(3)})
    source = PulseDBSource(tmp_path)
    assert list(source.records()) == []
    assert source.skipped == {"corrupt_file": 1}
    with pytest.raises(DataFormatError, match="Subj_Wins or Subset"):
        source.read(tmp_path / "x.mat")


# --- EDF -------------------------------------------------------------------------------------------


def _write_edf(path, annotations=()):
    pyedflib = pytest.importorskip("pyedflib")
    dur = 60
    signals = [_pulse(dur, 128) * 100, _spikes(dur, 256) * 1000]
    headers = [
        pyedflib.highlevel.make_signal_header("Pleth", "", 128, -200, 200),
        pyedflib.highlevel.make_signal_header("EKG", "uV", 256, -2000, 2000),
    ]
    with pyedflib.EdfWriter(str(path), 2, file_type=pyedflib.FILETYPE_EDFPLUS) as w:
        w.setSignalHeaders(headers)
        w.writeSamples(signals)
        for onset, duration, text in annotations:
            w.writeAnnotation(onset, duration, text)
    return signals


def test_edf_plus_with_af_annotation(tmp_path):
    signals = _write_edf(tmp_path / "mesa-sleep-0001.edf", [(10, 20, "Atrial fibrillation")])
    source = EdfSource(tmp_path)
    assert source.subjects() == ["mesa"]  # stem up to the first '-'
    (rec,) = list(source.records())
    assert (rec.ppg_fs, rec.ecg_fs) == (128.0, 256.0)
    np.testing.assert_allclose(rec.ppg, signals[0], atol=0.01)
    np.testing.assert_allclose(rec.ecg, signals[1], atol=0.1)
    assert rec.af_intervals == [(10.0, 30.0)]


def test_edf_with_nsrr_xml_sidecar(tmp_path):
    _write_edf(tmp_path / "cfs-visit5-800002.edf")
    (tmp_path / "cfs-visit5-800002-nsrr.xml").write_text(
        "<PSGAnnotation><ScoredEvents>"
        "<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Wake|0</EventConcept>"
        "<Start>0</Start><Duration>30</Duration></ScoredEvent>"
        "<ScoredEvent><EventType>Arrhythmia</EventType><EventConcept>Atrial fibrillation</EventConcept>"
        "<Start>30.0</Start><Duration>25.0</Duration></ScoredEvent>"
        "</ScoredEvents></PSGAnnotation>"
    )
    (rec,) = list(EdfSource(tmp_path).records())
    assert rec.af_intervals == [(30.0, 55.0)]


# --- CSV / NPZ -------------------------------------------------------------------------------------


def test_csv_with_accelerometer_and_jittered_timestamps(tmp_path):
    rng = np.random.default_rng(0)
    n = 25 * 40
    t = np.arange(n) / 25.0 + rng.uniform(-0.01, 0.01, n)  # 25 Hz with 25 % jitter
    ppg = _pulse(40, 25)
    acc = rng.standard_normal((n, 3))
    rows = np.column_stack([t, ppg, acc])
    np.savetxt(
        tmp_path / "alice_run1.csv", rows, delimiter=",", header="t,ppg,acc_x,acc_y,acc_z", comments=""
    )
    source = CsvSource(tmp_path)
    assert source.subjects() == ["alice"]
    (rec,) = list(source.records())
    assert rec.ppg_fs == pytest.approx(25.0, rel=0.01)
    assert rec.acc.shape == (len(rec.ppg), 3)
    assert abs(len(rec.ppg) - n) <= 2


def test_csv_errors_name_what_is_expected(tmp_path):
    (tmp_path / "a.csv").write_text("time,value\n0,1\n1,2\n")
    with pytest.raises(DataFormatError, match="expected a header t,ppg"):
        CsvSource(tmp_path).read(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("t,ppg\n0,1\n0.1,2\n0.05,3\n")
    with pytest.raises(DataFormatError, match=r"t\[2\] = 0.05 after t\[1\] = 0.1"):
        CsvSource(tmp_path).read(tmp_path / "b.csv")


def test_npz_with_ecg_and_subject(tmp_path):
    np.savez(
        tmp_path / "rec1.npz", ppg=_pulse(30, 64), fs=64.0, ecg=_spikes(30, 256), ecg_fs=256.0, subject="bob"
    )
    source = NpzSource(tmp_path)
    assert source.subjects() == ["bob"]
    (rec,) = list(source.records())
    assert (rec.ppg_fs, rec.ecg_fs, rec.subject) == (64.0, 256.0, "bob")


def test_npz_mismatched_ppg_and_ecg_lengths_are_refused(tmp_path):
    np.savez(tmp_path / "bad.npz", ppg=_pulse(30, 64), fs=64.0, ecg=_spikes(20, 256), ecg_fs=256.0)
    np.savez(tmp_path / "good.npz", ppg=_pulse(30, 64), fs=64.0)
    source = NpzSource(tmp_path)
    with pytest.raises(DataFormatError, match=r"expected 7680 ECG samples") as err:
        source.read(tmp_path / "bad.npz")[0].check()
    assert "30.00 s" in str(err.value) and "20.00 s" in str(err.value)
    assert [r.record for r in source.records()] == ["good"]
    assert source.skipped == {"corrupt_file": 1}


def test_npz_needs_a_rate(tmp_path):
    np.savez(tmp_path / "x.npz", ppg=_pulse(30, 64))
    with pytest.raises(DataFormatError, match="needs 'fs'"):
        NpzSource(tmp_path).read(tmp_path / "x.npz")


def test_open_source_parses_schemes(tmp_path):
    assert isinstance(open_source(f"npz:{tmp_path}"), NpzSource)
    with pytest.raises(UnknownSourceError, match="wfdb:DIR"):
        open_source("hdf9:/x")
    with pytest.raises(DataFormatError, match="no such file"):
        open_source(f"wfdb:{tmp_path / 'missing'}")


# --- windows ---------------------------------------------------------------------------------------


def test_record_windows_labels_hr_from_ecg_and_counts_nan_windows():
    fs, efs, dur, hr = 100.0, 250.0, 120.0, 75.0
    ppg = _pulse(dur, fs, hr)
    ppg[3000:3300] = np.nan  # 3 s of dropout at 30-33 s
    rec = SourceRecord("s", "r", ppg, fs, ecg=_spikes(dur, efs, hr), ecg_fs=efs)
    batch = record_windows(rec, hop_s=10.0)
    assert batch.ppg.shape[1:] == (1250,) and batch.ecg.shape[1:] == (5000,)
    assert batch.ppg.dtype == np.float32 and batch.ecg.dtype == np.float32
    assert batch.skipped["nan"] == 1  # the nominal 30-40 s window
    np.testing.assert_allclose(batch.labels["hr"], hr, atol=1.0)
    # Windows start after the filter settles and never overlap the dropout.
    starts = batch.labels["start_s"]
    assert not np.any((starts < 33.0) & (starts + 10.0 > 30.0))
    # Every window is z-scored model input.
    np.testing.assert_allclose(batch.ppg.mean(axis=1), 0, atol=1e-4)
    np.testing.assert_allclose(batch.ecg.std(axis=1), 1, atol=1e-3)


def test_record_windows_flat_ecg_is_skipped():
    fs = 125.0
    rec = SourceRecord("s", "r", _pulse(60, fs), fs, ecg=np.zeros(60 * 500), ecg_fs=500.0)
    batch = record_windows(rec)
    assert len(batch.labels) == 0
    assert sum(batch.skipped.values()) >= 4 and set(batch.skipped) <= {"flat_ecg", "ecg_no_beats"}


def test_record_windows_af_intervals():
    fs = 125.0
    rec = SourceRecord("s", "r", _pulse(80, fs), fs, af_intervals=[(30.0, 60.0)])
    batch = record_windows(rec, hop_s=10.0)
    for start, af in zip(batch.labels["start_s"], batch.labels["af"], strict=True):
        overlap = max(0.0, min(60.0, start + 10) - max(30.0, start))
        assert af == int(overlap >= 5.0)
    assert batch.ecg is None and np.isnan(batch.labels["hr"]).all()


def test_index_json_is_plain_json(tmp_path):
    # The skipped-window counts go to index.json: they must be JSON-serialisable ints.
    rec = SourceRecord("s", "r", _pulse(40, 125.0), 125.0)
    json.dumps(record_windows(rec).skipped)


def test_wfdb_folder_to_store_counts_nan_windows_and_broken_files(tmp_path):
    """MIMIC-style folder -> anyppg prepare (2 worker processes) -> store with the losses accounted."""
    wfdb = pytest.importorskip("wfdb")
    from anyppg.trainer.cmd_prepare import build_store
    from anyppg.trainer.store import WindowStore

    data = tmp_path / "mimic"
    data.mkdir()
    for k, hr in enumerate((60.0, 75.0, 90.0, 105.0)):
        ppg, ecg = _pulse(122, 125, hr), _spikes(122, 125, hr)
        if k == 0:
            ppg[125 * 52 : 125 * 55] = np.nan  # 3 s dropout, as MIMIC waveforms have
        wfdb.wrsamp(f"p00000{k}-2150-01-01-00-00", fs=125, units=["NU", "mV"], sig_name=["PLETH", "II"],
                    p_signal=np.column_stack([ppg, ecg]), fmt=["16", "16"], write_dir=str(data))  # fmt: skip
    (data / "p000009-2150-01-01-00-00.hea").write_text("this is not a header\n")
    source = WfdbSource(data)
    index = build_store(
        source, tmp_path / "store", workers=2, fractions={"train": 0.5, "val": 0.25, "test": 0.25}
    )
    assert index["skipped"]["corrupt_file"] == 1
    assert index["skipped"]["nan"] >= 1
    store = WindowStore(tmp_path / "store")
    labels = np.concatenate([store.split(s).labels() for s in ("train", "val", "test")])
    assert len(store.subjects) == 4 and len(labels) >= 4 * 10 - 3
    for subject, hr in zip(store.subjects, (60.0, 75.0, 90.0, 105.0), strict=True):
        rows = labels[labels["subject"] == store.subjects.index(subject)]
        np.testing.assert_allclose(rows["hr"], hr, atol=1.5)  # R-peaks detected in the cleaned ECG


def test_pulsedb_segments_give_one_window_each(tmp_path):
    from scipy.io import savemat

    from anyppg.trainer.cmd_prepare import build_store
    from anyppg.trainer.store import WindowStore

    ppg, ecg = _pulsedb_segments(4)
    subjects = np.array(["a", "b", "c", "d"], dtype=object)
    savemat(
        tmp_path / "Subset.mat",
        {"Subset": {"Signals": np.stack([ecg, ppg, ppg], axis=1), "Subject": subjects}},
    )
    index = build_store(PulseDBSource(tmp_path), tmp_path / "store")
    assert sum(index["counts"].values()) == 4 and index["skipped"] == {}
    assert index["preprocessing"]["settle_s"] == 0.0
    store = WindowStore(tmp_path / "store")
    labels = np.concatenate([store.split(s).labels() for s in ("train", "val", "test")])
    np.testing.assert_allclose(np.sort(labels["hr"]), [60, 70, 80, 90], atol=1.5)


def test_edf_with_only_sleep_scoring_leaves_af_unknown(tmp_path):
    _write_edf(tmp_path / "hsp-1.edf", [(0, 30, "Sleep stage W"), (30, 30, "Sleep stage N1")])
    (rec,) = list(EdfSource(tmp_path).records())
    assert rec.af == -1 and rec.af_intervals is None


def test_ectopic_label_follows_the_simulated_premature_beats():
    import anyppg
    from anyppg.trainer.sources import SourceRecord, record_windows

    def windows(ectopic_rate: float, known: bool):
        sim = anyppg.simulate(120.0, heart_rate=75.0, ectopic_rate=ectopic_rate, seed=4)
        rec = SourceRecord(
            subject="s", record="r", ppg=sim.ppg, ppg_fs=sim.ppg_rate, ecg=sim.ecg, ecg_fs=sim.ecg_rate,
            r_peaks_s=sim.r_peaks, ectopic_s=sim.r_peaks[sim.ectopic] if known else None,
        )  # fmt: skip
        labels = record_windows(rec).labels
        starts = labels["start_s"]
        ectopic_times = sim.r_peaks[sim.ectopic]
        truth = np.array([np.any((ectopic_times >= t) & (ectopic_times < t + 10.0)) for t in starts])
        return labels["ectopic"], truth

    got, truth = windows(0.03, known=True)
    assert truth.any() and not truth.all()  # the oracle has windows of both kinds
    np.testing.assert_array_equal(got, truth.astype(np.int8))
    clean, _ = windows(0.0, known=True)
    assert clean.size and np.all(clean == 0)
    unknown, _ = windows(0.15, known=False)  # readers of real corpora: no beat annotations
    assert np.all(unknown == -1)
