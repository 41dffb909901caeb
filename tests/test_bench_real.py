"""benchmarks/bench_real.py: its metrics, references and subject choice on synthetic numbers (no data folder)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("bench_real")


def test_auroc_matches_sklearn_with_ties(bench) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.normal(size=300) + y, 1)  # rounded: many ties
    assert bench.auroc(y, p) == pytest.approx(metrics.roc_auc_score(y, p), abs=1e-12)
    assert np.isnan(bench.auroc(np.ones(5), np.arange(5.0)))


def test_bootstrap_resamples_subjects_not_windows(bench) -> None:
    # subject a: 1,000 windows off by 1 bpm; subject b: 10 windows off by 5 bpm. Drawing subjects gives
    # a, a (MAE 1) and b, b (MAE 5) a quarter of the time each, so the 95 % interval spans 1 to 5;
    # resampling windows would put it tightly around the pooled 1.04.
    y = np.zeros(1010)
    p = np.concatenate([np.full(1000, 1.0), np.full(10, 5.0)])
    subjects = np.array(["a"] * 1000 + ["b"] * 10)
    lo, hi = bench.subject_bootstrap(bench.mae, y, p, subjects, n_boot=1000, seed=0)
    assert (lo, hi) == (pytest.approx(1.0), pytest.approx(5.0))
    assert bench.mae(y, p) == pytest.approx(1.0396, abs=1e-4)
    assert all(np.isnan(bench.subject_bootstrap(bench.mae, y, p, np.array(["a"] * 1010))))


def test_mae_by_subject_ignores_missing_pairs(bench) -> None:
    ref = np.array([60.0, 70.0, np.nan, 90.0])
    est = np.array([62.0, np.nan, 80.0, 99.0])
    got = bench.mae_by_subject(ref, est, np.array(["a", "a", "b", "b"], dtype=object))
    assert got == {"a": 2.0, "b": 9.0}


def test_score_counts_coverage_and_skips_missing_estimates(bench) -> None:
    y = np.array([60.0, 70.0, 80.0, 90.0])
    p = np.array([61.0, np.nan, 83.0, 90.0])
    row = bench.score("mae_bpm", y, p, np.array(["a", "a", "b", "c"]), n_boot=100)
    assert row["value"] == pytest.approx(4.0 / 3.0, abs=1e-4)
    assert (row["windows"], row["subjects"], row["coverage"]) == (3, 3, 0.75)
    assert row["ci"][0] <= row["value"] <= row["ci"][1]


def test_reference_windows_inside_the_analysis_window_are_averaged(bench) -> None:
    starts = np.arange(0.0, 20.0, 2.0)
    bpm = 100.0 + starts
    hr = bench.reference_window_hr(starts, bpm, 8.0, np.array([2.0, 30.0]), np.array([12.0, 40.0]))
    assert hr[0] == pytest.approx((102.0 + 104.0) / 2)  # [2, 10) and [4, 12) lie inside [2, 12)
    assert np.isnan(hr[1])


def test_quality_labels_from_heart_rate_agreement(bench) -> None:
    ppg = np.array([70.0, 78.0, 90.0, np.nan, 70.0])
    ecg = np.array([72.0, 70.0, 70.0, 70.0, np.nan])
    np.testing.assert_array_equal(bench.quality_labels(ppg, ecg), [1, -1, 0, 0, -1])


def test_finite_parts_cut_at_gaps_the_sdk_does_not_bridge(bench) -> None:
    fs = 100.0
    x = np.ones(6000)
    x[1000:1020] = np.nan  # 0.2 s: bridged, no cut
    x[3000:3100] = np.nan  # 1 s: cut
    assert bench.finite_parts(x, fs) == [(0, 3000), (3100, 6000)]
    x[5000:5100] = np.nan
    assert bench.finite_parts(x, fs) == [(0, 3000), (3100, 5000)]  # (5100, 6000) is 9 s: too short


def test_at_rate_resamples_each_finite_stretch_and_keeps_gaps_where_they_were(bench) -> None:
    fs, t = 125.0, np.arange(2500) / 125.0
    x = np.stack([np.sin(2 * np.pi * 1.2 * t), np.cos(2 * np.pi * 1.2 * t)])
    x[:, 1000:1250] = np.nan  # 8-10 s missing
    y = bench.at_rate(x, fs, 25.0)
    assert y.shape == (2, 500)
    gap = np.flatnonzero(np.isnan(y[0]))
    assert gap[0] == 200 and gap[-1] == 249 and np.array_equal(np.isnan(y[0]), np.isnan(y[1]))
    t25 = np.arange(500) / 25.0
    inside = (t25 > 1.0) & (t25 < 7.0)  # away from the stretch's ends, where the filter has no past
    np.testing.assert_allclose(y[0, inside], np.sin(2 * np.pi * 1.2 * t25[inside]), atol=0.02)
    assert bench.at_rate(x, fs, None) is x and bench.at_rate(x, fs, fs) is x


def test_a_dataset_read_at_another_rate_keeps_its_windows_and_rates(bench, tmp_path, write_bidmc) -> None:
    """The same BIDMC file at its 125 Hz and resampled to 25 Hz, as a wearable would send it: the same
    windows (but the last, which the resampler's delay leaves unfinished at 25 Hz), and the tracker's
    heart rate within 1 bpm of the ECG's either way."""
    import anyppg

    sim = anyppg.simulate(40, heart_rate=72, hrv=0.01, ppg_rate=125, ecg_rate=125, seed=2)
    write_bidmc(tmp_path / "bidmc_01.npz", sim)
    (native, _), (slow, _) = (bench.run_hr_dataset("bidmc", tmp_path, [], None, {}, r) for r in (None, 25.0))
    (_, ref, a), (_, ref25, b) = native.arrays(), slow.arrays()
    assert len(ref) - 1 <= len(ref25) <= len(ref) and len(ref25) > 5
    np.testing.assert_array_equal(ref[: len(ref25)], ref25)  # the same windows: the same ECG rates
    for cols, reference in ((a, ref), (b, ref25)):
        assert np.nanmean(np.abs(cols["tracker"] - reference)) < 1.0


def test_heldout_subjects_from_model_cards_in_any_spelling(bench) -> None:
    card = {
        "training_data": {
            "held_out": {"bidmc": ["bidmc_04", "bidmc:10"], "liu_arrhythmia": {"test": ["MPA_181220181216"]}},
            "other": {"subjects": ["bidmc:99"]},  # not under a held-out key
        }
    }
    other = {"heldout": {"subjects": ["troika:DATA_03_TYPE02", "mimicdb/mimicdb_209", "bami1/S05"]}}
    found = bench.heldout_from_cards([card, other])
    assert found == {"bidmc": {4, 10}, "liu": {181220181216}, "troika": {3}, "mimicdb": {209}, "bami": {5}}
    # the readers' (subject, record) names: bidmc:NN, MIMIC groups of records, TROIKA numbers, BAMI Sxx
    pick = bench.pick_recordings
    bidmc = [("bidmc:10", "bidmc_10"), ("bidmc:01", "bidmc_01"), ("bidmc:04", "bidmc_04")]
    assert pick("bidmc", bidmc, found, None) == ([0, 2], "held-out")
    mimic = [
        ("mimicdb:g208", "mimicdb_208"),
        ("mimicdb:g208", "mimicdb_209"),
        ("mimicdb:g211", "mimicdb_211"),
    ]
    assert pick("mimicdb", mimic, found, None)[0] == [1]  # the held-out record, not its whole group
    troika = [("02", "DATA_02_TYPE02"), ("03", "DATA_03_TYPE02"), ("13", "DATA_13_TYPE01")]
    assert pick("troika", troika, found, None)[0] == [1]
    assert pick("bami", [("S05", "S05"), ("S15", "S15")], found, None)[0] == [0]
    liu = [("liu:181220181216", "MPA_181220181216"), ("liu:2", "MPA_2")]
    assert pick("liu", liu, found, None)[0] == [0]
    assert pick("bami", [("S02", "S02"), ("S01", "S01"), ("S01", "S01b")], {}, 1) == ([1, 2], "all")


def test_a_mimic_patient_named_by_group_holds_all_its_records(bench) -> None:
    found = bench.heldout_from_cards([{"heldout": {"mimicdb": {"subjects": ["mimicdb:g208"]}}}])
    assert found == {"mimicdb": {208}}
    mimic = [
        ("mimicdb:g208", "mimicdb_208"),
        ("mimicdb:g208", "mimicdb_209"),
        ("mimicdb:g216", "mimicdb_216"),
    ]
    assert bench.pick_recordings("mimicdb", mimic, found, None)[0] == [0, 1]


def test_reliable_reference_table_drops_the_same_windows_for_every_method(bench) -> None:
    w = bench.Windows()
    ref = np.array([60.0, 80.0, 100.0, 120.0])
    for subject in ("a", "b"):
        w.add(
            subject,
            ref,
            {
                "tracker": ref + 1.0,
                "motion tracker": ref + 2.0,
                "neurokit2": np.array([ref[0], ref[1], ref[2] + 30.0, ref[3]]),
                "quality": np.zeros(4),
                "label: PPG peaks": np.array([1, 0, 1, 0]),
                "label: NeuroKit2 peaks": np.array([1, 0, 1, 0]),
                "reference reliable": np.array([1.0, 1.0, 0.0, 1.0]),
            },
        )
    every, _ = bench.hr_table(w, n_boot=10)
    reliable, _ = bench.hr_table(w, n_boot=10, reliable_only=True)
    by = {r["method"]: r for r in every}
    rel = {r["method"]: r for r in reliable}
    assert by["neurokit2"]["value"] == pytest.approx(7.5) and rel["neurokit2"]["value"] == pytest.approx(0.0)
    assert by["tracker"]["windows"] == 8 and rel["tracker"]["windows"] == 6
    assert rel["motion tracker"]["value"] == pytest.approx(2.0)


def test_pooled_clinical_windows_keep_every_subject_and_the_shared_methods(bench) -> None:
    def one(subject: str, error: float, extra: bool) -> object:
        w = bench.Windows()
        ref = np.array([60.0, 70.0, 80.0])
        values = {"tracker": ref + error, "reference reliable": np.ones(3)}
        if extra:
            values["fused: a model only one set was run with"] = ref
        w.add(subject, ref, values)
        return w

    bidmc, mimic = one("bidmc:01", 1.0, True), one("mimicdb:g039", 4.0, False)
    both = bench.pooled([bidmc, mimic])
    subjects, ref, cols = both.arrays()
    assert list(subjects) == ["bidmc:01"] * 3 + ["mimicdb:g039"] * 3
    assert set(cols) == {"tracker", "reference reliable"}  # a method missing from one set is dropped
    assert np.mean(np.abs(cols["tracker"] - ref)) == pytest.approx(2.5)  # both sets' windows count
    assert len(bidmc.subject) == 1 and len(bidmc.columns["tracker"]) == 1  # the parts are untouched


def test_husm_is_scored_on_its_annotated_beats_from_the_infrared_channel(bench, tmp_path) -> None:
    """A HUSM file the test writes (the reader's layout): the reference is the annotated beats' rate,
    the SDK reads infrared (here the only channel with a pulse), and no card trains on HUSM."""
    import anyppg

    sim = anyppg.simulate(30, heart_rate=110, ppg_rate=200.0, seed=8)
    noise = np.random.default_rng(1).standard_normal(sim.ppg.shape[0])
    np.savez(
        tmp_path / "dpoc_0680298_balke.npz",
        ppg_red=noise.astype(np.float32),
        ppg_ir=sim.ppg.astype(np.float32),
        fs_ppg=np.int32(200),
        beat_peak_idx=np.round(sim.ppg_peaks * 200).astype(np.int64),
    )
    windows, info = bench.run_hr_dataset("husm", tmp_path, [], None, {})
    _, ref, cols = windows.arrays()
    assert info["subjects"] == ["husm:dpoc_0680298"] and len(ref) >= 5
    assert np.nanmedian(np.abs(ref - 110)) < 3  # the annotated beats' rate (the simulation varies it)
    answered = np.isfinite(cols["tracker"])
    assert answered.any() and np.median(np.abs(cols["tracker"][answered] - ref[answered])) < 3
    phases = bench.phase_table(windows, n_boot=20)  # the file is a treadmill ("balke") recording
    assert [p["phase"] for p in phases] == ["balke"] and phases[0]["windows"] == int(np.isfinite(ref).sum())
    both = answered & np.isfinite(ref)
    want = bench.mae(ref[both], cols["tracker"][both])
    assert phases[0]["methods"]["tracker"]["value"] == pytest.approx(want, abs=1e-3)
    cards = [
        {"training_data": {"training": {"bidmc": {}, "bami1": {}}, "validation": {"liu_arrhythmia": {}}}}
    ]
    assert bench.trained_on(cards) == {"bidmc", "bami", "liu"}
    assert "no model under test" in bench._source({"subject_source": "unseen", "subjects": info["subjects"]})


def test_husm_stored_upside_down_is_scored_upright(bench, tmp_path) -> None:
    """HUSM's raw light counts put the pulse upside down; the bench reads the polarity from the
    annotated peaks and scores the recording turned upright: the same numbers as an upright file."""
    import anyppg

    sim = anyppg.simulate(30, heart_rate=90, ppg_rate=200.0, seed=4)
    for folder, ir in (("upright", sim.ppg), ("stored", 4e4 - 100 * sim.ppg)):
        (tmp_path / folder).mkdir()
        np.savez(
            tmp_path / folder / "health_0000001_rest.npz",
            ppg_red=ir.astype(np.float32),
            ppg_ir=ir.astype(np.float32),
            fs_ppg=np.int32(200),
            beat_peak_idx=np.round(sim.ppg_peaks * 200).astype(np.int64),
        )
    (rec,) = bench.dataset_recordings("husm", tmp_path / "stored")
    assert rec[4].polarity == "inverted" and np.corrcoef(rec[1][0], sim.ppg)[0, 1] > 0.99
    upright = bench.run_hr_dataset("husm", tmp_path / "upright", [], None, {})[0].arrays()[2]
    stored = bench.run_hr_dataset("husm", tmp_path / "stored", [], None, {})[0].arrays()[2]
    assert np.nanmean(stored["quality"]) > 0.8
    np.testing.assert_allclose(stored["quality"], upright["quality"], atol=0.02)
    np.testing.assert_allclose(stored["tracker"], upright["tracker"], atol=0.5, equal_nan=True)


def test_false_alarms_are_the_gated_windows_calling_af_with_a_subject_ci(bench) -> None:
    assert bench.false_alarm_rate(np.zeros(4), np.array([0.1, 0.6, 0.9, 0.4])) == 0.5
    assert np.isnan(bench.false_alarm_rate(np.zeros(0), np.zeros(0)))
    w = bench.Windows()
    for subject, p in (("a", [0.9, 0.9, np.nan]), ("b", [0.1, 0.2, 0.3])):  # NaN: not past the gate
        w.add(subject, np.full(3, 80.0), {"rhythm head: m": np.array(p)})
    (row,) = bench.false_alarm_table(w, n_boot=200)
    assert (row["method"], row["value"], row["windows"]) == ("rhythm head: m", 0.4, 5)
    assert row["ci"][0] == 0.0 and row["ci"][1] == 1.0  # one subject always, the other never
    assert bench.false_alarm_table(bench.Windows(), n_boot=10) is None


def test_the_recorded_command_leaves_out_where_data_came_from_and_results_went(bench) -> None:
    argv = ["--data", "/somewhere/data", "--models", "a.tflite", "b.tflite", "--out=results", "--quick"]
    assert bench._without_options([*argv, "--out", "x"], "--data", "--out") == [
        "--models",
        "a.tflite",
        "b.tflite",
        "--quick",
    ]


def test_clinical_false_alarms_count_only_windows_whose_ecg_rules_af_out(
    bench, tmp_path, write_bidmc
) -> None:
    """Two BIDMC files the test writes: a steady sinus rhythm and AF. The rhythm head's P(AF) is kept
    (as a possible false alarm) on the sinus patient's gated-in windows only: the AF patient's
    irregular R-R intervals do not rule AF out."""
    import anyppg

    fs = 125
    for number, rhythm, hrv in (("01", "sinus", 0.01), ("02", "af", 0.05)):
        sim = anyppg.simulate(40, heart_rate=80, hrv=hrv, rhythm=rhythm, ppg_rate=fs, ecg_rate=fs, seed=4)
        write_bidmc(tmp_path / f"bidmc_{number}.npz", sim)
    models = bench.load_models(bench.default_model_paths()[:1])
    windows, _ = bench.run_hr_dataset("bidmc", tmp_path, models, None, {})
    subjects, _, cols = windows.arrays()
    p_af = cols[f"rhythm head: {models[0].label}"]
    sinus = subjects == "bidmc:01"
    assert np.isfinite(p_af[sinus]).sum() >= 0.8 * sinus.sum()  # steady beats: AF ruled out
    assert not np.isfinite(p_af[~sinus]).any()  # AF's beats are irregular: never counted
    head, alert = bench.false_alarm_table(windows, n_boot=20)
    assert head["method"] == f"rhythm head: {models[0].label}" and alert["method"].startswith("AF alert: ")
    assert head["windows"] == alert["windows"] == int(np.isfinite(p_af).sum())
    # the alert is P(AF) > 0.5 with irregular beats as well: never more calls than the head alone
    calls = cols[f"AF alert: {models[0].label}"]
    assert set(np.unique(calls[np.isfinite(calls)])) <= {0.0, 1.0} and alert["value"] <= head["value"]
    assert not (calls[np.isfinite(calls)] > (p_af[np.isfinite(calls)] > 0.5)).any()
    for info in ({"dataset": "bidmc"}, {}):  # the pooled clinical set's info names no dataset
        assert "ECG rules AF out" in bench.hr_result(windows, info, n_boot=20)["false_alarm_windows"]
    assert bench.hr_result(windows, {"dataset": "troika"}, n_boot=20)["false_alarm_windows"].startswith(
        "healthy"
    )


def test_husm_false_alarms_count_the_windows_whose_annotated_beats_rule_af_out(bench, tmp_path) -> None:
    import anyppg

    sim = anyppg.simulate(40, heart_rate=80, hrv=0.01, ppg_rate=200.0, seed=8)
    np.savez(
        tmp_path / "dpoc_0680298_rest.npz",
        ppg_red=sim.ppg.astype(np.float32),
        ppg_ir=sim.ppg.astype(np.float32),
        fs_ppg=np.int32(200),
        beat_peak_idx=np.round(sim.ppg_peaks * 200).astype(np.int64),
    )
    models = bench.load_models(bench.default_model_paths()[:1])
    windows, info = bench.run_hr_dataset("husm", tmp_path, models, None, {})
    p_af = windows.arrays()[2][f"rhythm head: {models[0].label}"]
    assert np.isfinite(p_af).sum() >= 0.8 * len(p_af)  # steady annotated beats: AF ruled out
    result = bench.hr_result(windows, info, n_boot=20)
    assert result["false_alarm_windows"].startswith("windows whose annotated beats rule AF out")
    assert result["false_alarms"][0]["windows"] == int(np.isfinite(p_af).sum())


def test_liu_rows_score_the_af_probability_and_the_af_alert(bench, tmp_path) -> None:
    """Two patients in the Liu layout the test writes (AF and sinus segments from the simulator):
    the AUROC row, the six-class row, and per rule (P(AF) > 0.5 alone; the SDK's AF alert) the share
    of AF segments and of the others it calls. The alert adds conditions, so it never calls more."""
    import anyppg

    folder = tmp_path / "liu_arrhythmia"
    folder.mkdir()
    names = np.array(["sinus_rhythm", "PVC", "PAC", "ventricular_tachycardia", "SVT", "atrial_fibrillation"])
    for patient, seed in (("190000000001", 1), ("190000000002", 2)):
        segments, labels = [], []
        for i, rhythm in enumerate(("af", "sinus", "af", "sinus")):
            sim = anyppg.simulate(
                10, heart_rate=75 + 4 * i, rhythm=rhythm, ppg_rate=100.0, seed=seed * 10 + i
            )
            segments.append(sim.ppg[:1000])
            labels.append(5 if rhythm == "af" else 0)
        np.savez(
            folder / f"MPA_{patient}.npz",
            ppg_segments=np.stack(segments).astype(np.float32),
            labels=np.array(labels, np.uint8).reshape(-1, 1),
            fs_ppg=np.int32(100),
            segment_s=np.int32(10),
            label_names=names,
        )
    models = bench.load_models(bench.default_model_paths()[:1])
    rows, info = bench.run_liu(tmp_path, models, None, {}, n_boot=20)
    assert (info["segments"], info["af_segments"], info["subject_source"]) == (8, 4, "all")
    by_task = {r["task"]: r for r in rows if r["method"] == models[0].label}
    assert 0.0 <= by_task["AF vs rest"]["value"] <= 1.0 and "six-class" in by_task
    for kind, n in (("AF segments called", 4), ("other segments called", 4)):
        head, alert = by_task[f"P(AF) > 0.5: {kind}"], by_task[f"AF alert: {kind}"]
        assert head["windows"] == alert["windows"] == n and head["metric"] == "share"
        assert 0.0 <= alert["value"] <= head["value"] <= 1.0
