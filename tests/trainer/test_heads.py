"""Real-label head windows: labels from ECG R-peaks and PPG/ECG agreement, Liu segments, subject split.

Fixtures are NPZ files the tests write in the data-folder layout (simulated PPG + ECG with known heart
rates), never the real data folder.
"""

from __future__ import annotations

import numpy as np
import pytest

import anyppg
from anyppg.trainer import heads
from anyppg.trainer.heads import HeadDataError, HeadWindows, beats_bpm, quality_label, split_subjects


def _clinical_npz(path, heart_rate: float, seed: int, noise: float = 0.02) -> None:
    sim = anyppg.simulate(
        40, heart_rate=heart_rate, hrv=0.01, ppg_rate=125.0, ecg_rate=125.0, noise=noise, seed=seed
    )
    np.savez(path, ppg=sim.ppg.astype(np.float32), ecg=sim.ecg.astype(np.float32), fs_ppg=125, fs_ecg=125)


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "bidmc").mkdir()
    for i, bpm in enumerate((55.0, 90.0, 140.0)):
        _clinical_npz(root / "bidmc" / f"bidmc_{i:02d}.npz", bpm, seed=i)
    (root / "liu_arrhythmia").mkdir()
    for i, rhythm in enumerate(("sinus", "af")):
        sim = anyppg.simulate(30, heart_rate=80, rhythm=rhythm, ppg_rate=100.0, seed=10 + i)
        segs = sim.ppg[: 3 * 1000].reshape(3, 1000).astype(np.float32)
        labels = np.full(3, 0 if rhythm == "sinus" else 5, np.uint8)
        np.savez(root / "liu_arrhythmia" / f"MPA_{i}.npz", ppg_segments=segs, labels=labels, fs_ppg=100)
    return root


def test_beats_bpm_is_60_over_the_median_interval_and_refuses_doubtful_windows():
    beats = np.arange(0, 12, 0.8)  # 75 bpm
    assert beats_bpm(beats, 1.0, 11.0) == pytest.approx(75.0)
    assert np.isnan(beats_bpm(beats, 0.0, 2.0))  # fewer than 4 beats
    missed = np.delete(beats, 6)  # one missed R-peak doubles an interval
    assert np.isnan(beats_bpm(missed, 0.0, 10.0))


def test_quality_label_thresholds():
    assert quality_label(72.0, 75.0) == 1
    assert quality_label(85.0, 75.0) == -1  # between 5 and 15 bpm: unknown
    assert quality_label(95.0, 75.0) == 0
    assert quality_label(float("nan"), 75.0) == 0  # no PPG heart rate at all
    assert quality_label(75.0, float("nan")) == -1


def test_clinical_windows_carry_the_ecg_heart_rate_and_agree_with_the_ppg(data_folder):
    w = heads.read_clinical(data_folder / "bidmc", "bidmc")
    assert w.ppg.shape[1] == 1250 and w.ppg.dtype == np.float32
    np.testing.assert_allclose(w.ppg.mean(axis=1), 0.0, atol=1e-4)  # z-scored model inputs
    for subject, bpm in zip(
        ("bidmc/bidmc_00", "bidmc/bidmc_01", "bidmc/bidmc_02"), (55, 90, 140), strict=True
    ):
        rows = w.subject == subject
        assert rows.sum() >= 4
        assert np.nanmedian(np.abs(w.hr[rows] - bpm)) < 3.0
        assert (w.quality[rows] == 1).mean() > 0.7  # clean simulated PPG agrees with its ECG
    assert (w.rhythm == -1).all()


def test_liu_segments_become_one_window_each_with_their_rhythm(data_folder):
    w = heads.read_liu(data_folder / "liu_arrhythmia")
    assert len(w) == 6 and w.ppg.shape == (6, 1250)
    assert w.rhythm.tolist() == [0, 0, 0, 5, 5, 5]
    assert np.isnan(w.hr).all() and (w.quality == -1).all()
    np.testing.assert_allclose(w.ppg.std(axis=1), 1.0, atol=1e-3)


def test_split_is_by_subject_per_dataset_and_seeded(data_folder):
    w = heads.read_all(data_folder)
    test = split_subjects(w, fraction=0.34, seed=0)
    held, kept = set(w.subject[test]), set(w.subject[~test])
    assert held and kept and not held & kept
    assert {s.split("/")[0] for s in held} == {"bidmc", "liu_arrhythmia"}  # every dataset contributes
    np.testing.assert_array_equal(test, split_subjects(w, fraction=0.34, seed=0))


def test_cache_round_trip_and_summary(data_folder, tmp_path):
    w = heads.read_all(data_folder)
    w.save(tmp_path / "w.npz")
    back = HeadWindows.load(tmp_path / "w.npz")
    np.testing.assert_allclose(back.ppg, w.ppg, atol=5e-3)  # float16 on disk
    np.testing.assert_array_equal(back.rhythm, w.rhythm)
    assert back.subject.tolist() == w.subject.tolist()
    summary = back.summary()
    assert summary["liu_arrhythmia"]["rhythm_counts"] == [3, 0, 0, 0, 0, 3]
    assert "research use" in summary["liu_arrhythmia"]["licence"]
    assert len(summary["bidmc"]["subjects"]) == 3


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("ANYPPG_DATA", raising=False)
    with pytest.raises(HeadDataError, match="no data folder given"):
        heads.data_root(None)
    with pytest.raises(HeadDataError, match="does not exist"):
        heads.data_root(tmp_path / "nope")
    with pytest.raises(HeadDataError, match="none of bidmc"):
        heads.read_all(tmp_path)
    with pytest.raises(HeadDataError, match="window cache does not exist"):
        HeadWindows.load(tmp_path / "missing.npz")


def test_patient_names_group_mimic_records_of_one_patient():
    names = np.array(
        ["bidmc/bidmc_05", "mimicdb/mimicdb_208", "mimicdb/mimicdb_209", "mimicdb/mimicdb_216",
         "troika/DATA_03", "liu_arrhythmia/MPA_181220181216", "other/x"],
        dtype=object,
    )  # fmt: skip
    assert heads.patient_names(names).tolist() == [
        "bidmc:05", "mimicdb:g208", "mimicdb:g208", "mimicdb:g216", "troika:03", "liu:181220181216", "other/x",
    ]  # fmt: skip


def test_rhythm_split_holds_out_every_class_in_proportion():
    rng = np.random.default_rng(0)
    subjects, labels = [], []
    for s in range(20):  # each patient mostly one class; AF in only four of them
        main = 5 if s % 5 == 0 else s % 5
        lab = np.where(rng.random(50) < 0.8, main, 0)
        subjects += [f"p{s}"] * 50
        labels += lab.tolist()
    subjects, labels = np.array(subjects, dtype=object), np.array(labels, np.int8)
    held = heads.stratified_subjects(subjects, labels, k=5, seed=0)
    assert len(held) == 5 and len(set(held)) == 5
    mask = np.isin(subjects, held)
    overall = np.bincount(labels, minlength=6) / len(labels)
    got = np.bincount(labels[mask], minlength=6) / mask.sum()
    assert (got[overall > 0] > 0).all()  # every class, AF included, is held out
    assert np.abs(got - overall).sum() < 0.5
    assert held == heads.stratified_subjects(subjects, labels, k=5, seed=0)  # seeded


def test_split_with_fixed_patients_holds_out_exactly_those(data_folder):
    w = heads.read_all(data_folder)
    test = split_subjects(w, fixed={"bidmc": ["bidmc/bidmc_01"]})
    assert set(w.subject[test & (w.dataset == "bidmc")]) == {"bidmc/bidmc_01"}


def test_bami_windows_carry_the_holter_heart_rate(tmp_path):
    (tmp_path / "bami1").mkdir()
    fs, seconds = 50, 40.0
    sim = anyppg.simulate(seconds, heart_rate=80.0, hrv=0.01, ppg_rate=float(fs), noise=0.01, seed=4)
    n = len(sim.ppg)
    beats_t = np.arange(0.4, seconds, 0.75)  # the Holter's beat-by-beat rate: 80 bpm
    np.savez(
        tmp_path / "bami1" / "BAMI1_S07.npz",
        ppg=np.tile(np.round(32768 + 2000 * sim.ppg), (3, 1)).astype(np.uint16),
        acc_raw=np.tile(np.array([[32768], [32768], [32768 + 4096]]), (1, n)).astype(np.uint16),
        hr_ref=np.full(len(beats_t), 80.0, np.float32),
        hr_ref_t=beats_t.astype(np.float32),
        fs_ppg=np.int32(fs),
    )
    w = heads.read_all(tmp_path, datasets=("bami1",))
    assert len(w) >= 4 and w.ppg.shape[1] == 1250
    assert set(w.dataset) == {"bami1"} and set(w.subject) == {"bami1/S07"}
    np.testing.assert_allclose(w.hr, 80.0, atol=0.5)
    assert (w.quality == 1).mean() > 0.7  # clean simulated PPG agrees with its reference
    assert "research use" in w.summary()["bami1"]["licence"]


def test_troika_windows_take_the_nearest_reference_and_one_subject_per_runner(tmp_path):
    """The reference window whose centre is nearest the 10 s window's (ties to the even index), and
    both recordings of runner 04 are one subject."""
    (tmp_path / "troika").mkdir()
    fs, seconds = 125, 40.0
    for seed, name in enumerate(("DATA_04_TYPE01", "DATA_04_TYPE02")):
        sim = anyppg.simulate(seconds, heart_rate=90.0, hrv=0.01, ppg_rate=float(fs), noise=0.01, seed=seed)
        n = len(sim.ppg)
        refs = 80.0 + np.arange(int((seconds - 8.0) / 2.0) + 1)  # a distinct value per 8 s window
        np.savez(
            tmp_path / "troika" / f"{name}.npz",
            ppg=np.tile(sim.ppg, (2, 1)).astype(np.float32),
            acc=np.zeros((3, n), np.float32),
            hr_ref=refs.astype(np.float32),
            fs_ppg=np.int32(fs),
        )
    w = heads.read_all(tmp_path, datasets=("troika",))
    assert len(w) >= 8 and set(w.subject) == {"troika/DATA_04"}
    # Window centres sit at start + 5 s, reference centres at 4 + 2 i s: i = round((start + 1) / 2),
    # so every label is one of the references, rising with the window's start.
    assert set(np.unique(w.hr)) <= set(80.0 + np.arange(17))
    first = w.hr[: len(w) // 2]
    assert np.all(np.diff(first) >= 0) and first[0] < first[-1]


def test_a_still_slow_pulse_is_labelled_as_the_stream_reads_it():
    """The quality label compares the window's PPG beat rate with the ECG's; read from the causal
    band-pass alone, a 45 bpm pulse's beats split in two and a clean window would be labelled unusable."""
    from anyppg.signal import preprocess_recording

    for bpm in (45.0, 80.0):
        sim = anyppg.simulate(40.0, heart_rate=bpm, seed=5)
        w = preprocess_recording(sim.ppg, sim.ppg_rate)[-1]
        ecg_bpm = heads.beats_bpm(sim.r_peaks, w.start_s, w.end_s)
        assert heads._ppg_peak_bpm(w.filtered) == pytest.approx(ecg_bpm, abs=3.0)
        assert quality_label(heads._ppg_peak_bpm(w.filtered), ecg_bpm) == 1


def test_paced_windows_carry_the_paced_rate_and_only_the_given_patients(data_folder):
    """Beats of bidmc_01 (90 bpm, 40 s: strips at 0 and 20 s) paced at 3 rates each, before the
    band-pass; bidmc_00 is not asked for and gives none."""
    w = heads.read_paced(data_folder, {"bidmc:01"}, per_strip=3, step_s=20.0, seed=0)
    assert len(w) == 6 and w.ppg.shape == (6, 1250) and w.ppg.dtype == np.float32
    assert set(w.subject.tolist()) == {"bidmc:01"} and set(w.dataset.tolist()) == {"bidmc-paced"}
    assert (w.quality == 1).all() and (w.rhythm == -1).all()
    assert ((w.hr >= 30.0) & (w.hr <= 220.0)).all() and len(set(w.hr.tolist())) == 6
    np.testing.assert_allclose(w.ppg.std(axis=1), 1.0, atol=1e-3)
    for x, bpm in zip(
        w.ppg, w.hr, strict=True
    ):  # the window's spectrum peaks at the paced rate or its harmonic
        spectrum = np.abs(np.fft.rfft(x, 8 * 1250))
        f = np.fft.rfftfreq(8 * 1250, 1 / 125.0) * 60
        band = (f > 25) & (f < 480)
        peak = f[band][np.argmax(spectrum[band])]
        assert min(abs(peak - k * bpm) for k in (1, 2, 3)) < 0.05 * bpm
    again = heads.read_paced(data_folder, {"bidmc:01"}, per_strip=3, step_s=20.0, seed=0)
    np.testing.assert_array_equal(again.hr, w.hr)
    assert "ODC-BY" in w.summary()["bidmc-paced"]["licence"]
    with pytest.raises(HeadDataError, match="no BIDMC or MIMIC-DB recording"):
        heads.read_paced(data_folder, {"bidmc:99"})
