"""The ``real`` preset's plumbing on tiny NPZs written here in the layout of the data folder (BIDMC,
MIMIC-DB, TROIKA, Liu 2022): the store holds out the fixed subjects, one step of each stage runs with the
ECG features cached, the held-out evaluation scores retrieval and probes, and the bootstrap resamples
subjects, not windows."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import anyppg  # noqa: E402
from anyppg.errors import DataFormatError  # noqa: E402
from anyppg.trainer.config import preset  # noqa: E402
from anyppg.trainer.evaluate import bootstrap_ci  # noqa: E402
from anyppg.trainer.pretrain import READY_FILE, SPLITS_FILE, pretrain  # noqa: E402
from anyppg.trainer.real_corpus import HELD_OUT, build_real_store, data_folder, subject_split  # noqa: E402
from anyppg.trainer.real_eval import (  # noqa: E402
    LIU_HELD_OUT,
    evaluate_real,
    retrieval,
    segment_windows,
)
from anyppg.trainer.store import WindowStore  # noqa: E402

DURATION_S = 36.0  # 2 s settling + five 10 s windows at a 5 s hop


def _pair(seed: int, hr: float) -> tuple[np.ndarray, np.ndarray]:
    sim = anyppg.simulate(DURATION_S, heart_rate=hr, ppg_rate=125.0, ecg_rate=125.0, seed=seed)
    return sim.ppg.astype(np.float32), sim.ecg.astype(np.float32)


def _write_data(root) -> None:
    """Three subjects per paired dataset (one train, one val, one test) and three Liu patients."""
    (root / "bidmc").mkdir(parents=True)
    for k, n in enumerate(("01", "02", "04")):  # 02 is a val subject, 04 a test subject
        ppg, ecg = _pair(k, 60 + 10 * k)
        np.savez(root / "bidmc" / f"bidmc_{n}.npz", ppg=ppg, ecg=ecg, fs_ppg=125, fs_ecg=125)
    (root / "mimicdb").mkdir()
    for k, n in enumerate(("039", "041", "055", "230")):  # 039 + 041: one subject (test); 230: val
        ppg, ecg = _pair(10 + k, 70 + 8 * k)
        np.savez(root / "mimicdb" / f"mimicdb_{n}.npz", ppg=ppg, ecg=ecg, fs_ppg=125, fs_ecg=125)
    (root / "troika").mkdir()
    for k, name in enumerate(("DATA_01_TYPE01", "DATA_03_TYPE02", "DATA_12_TYPE02")):
        ppg, ecg = _pair(20 + k, 100 + 10 * k)
        acc = np.tile(np.array([[0.0], [0.0], [512.0]], np.float32), (1, len(ppg)))  # raw units
        np.savez(
            root / "troika" / f"{name}.npz",
            ecg=ecg,
            ppg=np.stack([ppg, ppg]),
            acc=acc,
            fs_ppg=125,
            fs_ecg=125,
        )
    (root / "liu_arrhythmia").mkdir()
    rng = np.random.default_rng(0)
    for patient in ("MPA_000000000001", LIU_HELD_OUT["val"][0], LIU_HELD_OUT["test"][0]):
        segs, labels = [], []
        for k in range(8):
            af = k % 2
            sim = anyppg.simulate(
                10.0,
                heart_rate=rng.uniform(60, 110),
                rhythm="af" if af else "sinus",
                ppg_rate=100.0,
                seed=int(rng.integers(1 << 30)),
            )
            segs.append(sim.ppg[:1000])
            labels.append(5 if af else 0)
        np.savez(
            root / "liu_arrhythmia" / f"{patient}.npz",
            ppg_segments=np.array(segs, np.float32),
            labels=np.array(labels, np.uint8),
            fs_ppg=100,
        )


@pytest.fixture(scope="module")
def real_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    _write_data(root)
    store = tmp_path_factory.mktemp("store") / "store"
    index = build_real_store(root, store, sim_hours=0.02, hop_s=5.0)
    return root, store, index


def test_store_holds_out_the_fixed_subjects_disjointly(real_store):
    _, store_path, index = real_store
    store = WindowStore(store_path)
    labels = {s: store.split(s).labels() for s in ("train", "val", "test")}
    subjects = {s: {store.subjects[i] for i in lab["subject"]} for s, lab in labels.items()}
    assert subjects["train"].isdisjoint(subjects["val"]) and subjects["train"].isdisjoint(subjects["test"])
    assert subjects["val"].isdisjoint(subjects["test"])
    assert subjects["test"] == {"bidmc:04", "mimicdb:g039", "troika:03"}
    assert subjects["val"] == {"bidmc:02", "mimicdb:g230", "troika:12"}
    assert {"bidmc:01", "mimicdb:g055", "troika:01"} <= subjects["train"]
    assert any(s.startswith("sim") for s in subjects["train"])  # simulation trains only
    assert index["held_out"]["bidmc"]["test"] == list(HELD_OUT["bidmc"]["test"])
    # the two MIMIC-DB records numbered 039 and 041 are one subject
    records = {store.index["records"][i] for i in labels["test"]["record"]}
    assert {"mimicdb_039", "mimicdb_041"} <= records
    assert np.all(np.isfinite(labels["test"]["hr"]))  # every window has an ECG R-peak rate


def test_subject_split_and_data_folder_errors(tmp_path, monkeypatch):
    assert subject_split("bidmc:04") == "test" and subject_split("bidmc:01") == "train"
    assert subject_split("sim00003") == "train"
    monkeypatch.delenv("ANYPPG_DATA", raising=False)
    with pytest.raises(DataFormatError, match="--data DIR or set ANYPPG_DATA"):
        data_folder(None)
    with pytest.raises(DataFormatError, match="bidmc, mimicdb, troika"):
        data_folder(tmp_path)


@pytest.mark.slow  # ~13 s on the shared machine: both stages, then probes with three embedders
def test_one_step_of_each_stage_then_held_out_evaluation(real_store, tmp_path, capsys):
    torch.set_num_threads(1)
    root, store, _ = real_store
    cfg = preset("real")
    small = preset("debug")
    cfg.model = small.model  # the real preset's recipe with the debug encoders (seconds, not minutes)
    cfg.data.store = str(store)
    cfg.ecg_stage.steps, cfg.ecg_stage.batch_size = 1, 8
    cfg.train.steps, cfg.train.batch_size, cfg.optim.warmup_steps = 2, 8, 1
    cfg.train.out_dir, cfg.train.progress, cfg.data.max_val_windows = str(tmp_path / "run"), False, 16
    result = pretrain(cfg)
    out = result.out_dir
    assert result.step == 2 and all(np.isfinite(result.losses))
    assert (out / READY_FILE).read_text().strip() == "checkpoint.pt"
    splits = json.loads((out / SPLITS_FILE).read_text())
    assert splits["subject_split"]["bidmc:04"] == "test"
    assert splits["held_out"]["troika"]["val"] == ["troika:12"]
    assert "feature_cache_seconds" in result.metrics["ecg_stage"]

    report = evaluate_real(out / "checkpoint.pt", store, root, max_windows=200, n_boot=20)
    sizes = [r.candidates for r in report.retrieval]
    assert sizes[-1] == report.retrieval[-1].windows  # the whole test set is always one pool
    for r in report.retrieval:
        assert 0.0 <= r.top1 <= r.top5 <= 1.0 and r.top1_chance == pytest.approx(1 / r.candidates)
    tasks = {(r.task, r.embedder) for r in report.probes.results}
    for emb in ("pretrained", "untrained", "handcrafted"):
        assert ("hr", emb) in tasks and ("af (Liu 2022, AF vs 5 other rhythms)", emb) in tasks
    hr = report.probes.value("hr", "handcrafted")
    assert hr.n_test_subjects == 3 and np.isfinite(hr.value)
    assert "PPG→ECG retrieval" in report.to_markdown()

    from anyppg.cli import main  # the same evaluation from the command line, as the docs give it

    args = ["eval", "--preset", "real", "--store", str(store), "--data", str(root), "--json"]
    args += ["--checkpoint", str(out / "checkpoint.pt"), "--n-boot", "20", "--max-windows", "200"]
    assert main([*args, "--out", str(tmp_path / "eval")]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["retrieval"][-1]["windows"] == report.retrieval[-1].windows
    assert (tmp_path / "eval" / "real_eval.md").is_file()


def test_bootstrap_resamples_subjects_not_windows():
    rng = np.random.default_rng(0)
    # 10 subjects x 50 windows; each subject has its own bias, so windows within a subject agree
    subjects = np.repeat(np.arange(10), 50)
    bias = rng.normal(0, 5, 10)[subjects]
    y = np.zeros(500)
    p = bias + rng.normal(0, 0.1, 500)
    mae = lambda a, b: float(np.mean(np.abs(a - b)))  # noqa: E731
    lo_s, hi_s = bootstrap_ci(mae, y, p, subjects, n_boot=500)
    lo_w, hi_w = bootstrap_ci(mae, y, p, np.arange(500), n_boot=500)
    assert lo_s <= mae(y, p) <= hi_s
    assert (hi_s - lo_s) > 3 * (hi_w - lo_w)  # treating windows as independent is far too confident
    assert all(np.isnan(bootstrap_ci(mae, y, p, np.zeros(500))))  # one subject: no interval
    same = np.full(500, 2.0)
    assert bootstrap_ci(mae, y, same, subjects, n_boot=50) == pytest.approx((2.0, 2.0))


def test_retrieval_is_perfect_for_matching_embeddings_and_chance_for_unrelated():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(300, 16))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    subjects = np.repeat(np.arange(10), 30)
    perfect = retrieval(z, z, subjects, pool_sizes=(32,), repeats=3, n_boot=50)
    assert [r.top1 for r in perfect] == [1.0, 1.0]
    other = rng.normal(size=(300, 16))
    unrelated = retrieval(z, other, subjects, pool_sizes=(32,), repeats=20, n_boot=50)[0]
    assert unrelated.top1 < 0.1 and unrelated.top5 < 0.35  # chance: 0.031 and 0.156


def test_retrieval_within_a_subject_tells_a_person_from_a_moment():
    rng = np.random.default_rng(2)
    subjects = np.repeat(np.arange(10), 40)  # 10 people, 40 windows each
    person = rng.normal(size=(10, 16))[subjects]
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    ppg = unit(np.hstack([person, 0.3 * rng.normal(size=(400, 16))]))
    # only the person is shared: found among other people's windows, at chance among one's own
    by_person = retrieval(ppg, unit(np.hstack([person, rng.normal(size=(400, 16))])), subjects, n_boot=50)
    among_32, within = by_person[0], by_person[-1]
    assert within.within_subject and within.candidates == 32 and within.windows == 400
    assert not among_32.within_subject and among_32.top1 > 0.15  # ~4 of the 32 are the same person
    assert within.top1 < 0.1  # chance: 1 / 32
    # the moment is shared too: found among one's own windows
    by_moment = retrieval(ppg, ppg, subjects, n_boot=50)[-1]
    assert by_moment.within_subject and by_moment.top1 == 1.0
    assert "among 32 of the same subject's (400 windows, 10 subj.)" in _markdown(by_person)
    few = retrieval(ppg, ppg, subjects, within_subject=64, n_boot=50)  # nobody has 64 windows
    assert not any(r.within_subject for r in few)


def _markdown(results):
    from anyppg.trainer.real_eval import RealEvalReport

    return RealEvalReport(checkpoint="x", retrieval=results).to_markdown()


def test_segment_windows_settle_the_band_pass_and_keep_the_rate():
    t = np.arange(1000) / 100.0
    segs = np.stack([np.sin(2 * np.pi * 1.2 * t) + 5.0, np.sin(2 * np.pi * 2.0 * t)])  # 72 and 120 bpm
    win = segment_windows(segs, 100.0)
    assert win.shape == (2, 1250) and win.dtype == np.float32
    np.testing.assert_allclose(win.mean(1), 0.0, atol=1e-5)
    np.testing.assert_allclose(win.std(1), 1.0, atol=1e-4)
    freqs = np.fft.rfftfreq(1250, 1 / 125.0)
    peak = freqs[np.argmax(np.abs(np.fft.rfft(win, axis=1)), axis=1)]
    np.testing.assert_allclose(peak, [1.2, 2.0], atol=0.11)
    assert np.abs(win[0, :125]).max() < 2.0  # no start-up step: the filter had settled
    with pytest.raises(DataFormatError, match="expected"):
        segment_windows(segs[:, :500], 100.0)
