"""Linear-probe evaluation: bootstrap CIs, hand-crafted features on the simulator, probes, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from anyppg.trainer.evaluate import (
    Embedder,
    EvaluationError,
    bootstrap_ci,
    checkpoint_embedder,
    evaluate,
    handcrafted_embedder,
    random_init_embedder,
    torch_embedder,
)
from anyppg.trainer.features import FEATURE_NAMES, handcrafted_features

SMALL_NET = {
    "in_channels": 1,
    "base_filters": 8,
    "filter_list": [8, 16],
    "m_blocks_list": [1, 1],
    "kernel_size": 3,
    "stride": 2,
    "groups_width": 4,
}


# --- bootstrap -------------------------------------------------------------------------------------


def test_bootstrap_resamples_subjects_not_windows():
    y = np.zeros(40)
    # Subject 0's 30 windows are all off by 1 bpm, subject 1's 10 windows by 5 bpm.
    p = np.concatenate([np.full(30, 1.0), np.full(10, 5.0)])
    groups = np.repeat([0, 1], [30, 10])
    lo, hi = bootstrap_ci(lambda a, b: float(np.mean(np.abs(a - b))), y, p, groups, n_boot=500, seed=1)
    # Resampling subjects gives all-subject-0 (MAE 1) and all-subject-1 (MAE 5) draws: a wide interval.
    assert lo == pytest.approx(1.0) and hi == pytest.approx(5.0)
    # Same seed, same interval.
    assert (lo, hi) == bootstrap_ci(
        lambda a, b: float(np.mean(np.abs(a - b))), y, p, groups, n_boot=500, seed=1
    )


def test_auroc_matches_sklearn_including_ties():
    from sklearn.metrics import roc_auc_score

    from anyppg.trainer.evaluate import _auroc

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.standard_normal(300) + y, 1)  # rounding makes ties
    assert _auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert math.isnan(_auroc(np.ones(5), np.arange(5)))


def test_bootstrap_with_one_subject_has_no_interval():
    lo, hi = bootstrap_ci(lambda a, b: 0.0, np.zeros(5), np.zeros(5), np.zeros(5))
    assert math.isnan(lo) and math.isnan(hi)


# --- hand-crafted features on the simulator (as oracle) ---------------------------------------------


def _sim_windows(rhythm: str, hr: float, seed: int) -> np.ndarray:
    import anyppg
    from anyppg.signal import preprocess_recording

    sim = anyppg.simulate(62, heart_rate=hr, rhythm=rhythm, noise=0.02, seed=seed)
    return np.stack([w.ppg for w in preprocess_recording(sim.ppg, sim.ppg_rate, hop_s=10.0)])


def test_handcrafted_features_recover_heart_rate_and_irregularity():
    hr_col = FEATURE_NAMES.index("hr_peaks_bpm")
    cv_col = FEATURE_NAMES.index("ibi_cv")
    for hr in (55.0, 80.0, 120.0):
        feats = handcrafted_features(_sim_windows("sinus", hr, seed=int(hr)))
        assert feats.shape[1] == len(FEATURE_NAMES)
        assert np.median(feats[:, hr_col]) == pytest.approx(hr, abs=4.0)
    sinus = handcrafted_features(_sim_windows("sinus", 75.0, seed=1))[:, cv_col]
    af = handcrafted_features(_sim_windows("af", 75.0, seed=1))[:, cv_col]
    assert np.median(af) > 2 * np.median(sinus)


def test_handcrafted_features_of_a_flat_window_are_nan_not_errors():
    feats = handcrafted_features(np.zeros((2, 1250), dtype=np.float32))
    assert feats.shape == (2, len(FEATURE_NAMES))
    assert np.isnan(feats[0, FEATURE_NAMES.index("hr_peaks_bpm")])


# --- probes on a simulated store -------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from anyppg.trainer.cmd_prepare import build_store
    from anyppg.trainer.sources import SimSource

    path = tmp_path_factory.mktemp("eval") / "store"
    source = SimSource(hours=1.0, record_s=60.0, records_per_subject=1, af_fraction=0.4, seed=11)
    build_store(source, path, fractions={"train": 0.5, "val": 0.2, "test": 0.3}, seed=11)
    return path


def test_probes_on_handcrafted_features_beat_chance(store):
    report = evaluate(store, [handcrafted_embedder()], real=(), n_boot=200)
    hr = report.value("hr", "handcrafted")
    af = report.value("af", "handcrafted")
    quality = report.value("quality", "handcrafted")
    assert hr.n_test_subjects >= 5
    # Oracle: the labels' own spread is what "always answer the mean" would score.
    from anyppg.trainer.store import WindowStore

    test_hr = WindowStore(store).split("test").labels()["hr"]
    assert hr.value < 0.5 * np.mean(np.abs(test_hr - test_hr.mean()))
    assert hr.ci_low <= hr.value <= hr.ci_high
    assert af.value > 0.85  # AF is irregular RR: beat-interval variability separates it
    assert 0.0 <= quality.value <= 1.0 or math.isnan(quality.value)


def test_callable_and_torch_embedders_and_report_formats(store):
    torch = pytest.importorskip("torch")
    from anyppg.trainer.encoders import net1d_from_config

    torch.manual_seed(0)
    small = torch_embedder(net1d_from_config(SMALL_NET), "small-net", "tiny random Net1D")
    spectrum = Embedder("spectrum", lambda x: np.abs(np.fft.rfft(x, axis=1))[:, 5:60], "|FFT| 0.5-6 Hz")
    report = evaluate(store, [small, spectrum], tasks=("hr", "af"), real=(), max_windows=300, n_boot=100)
    assert {r.embedder for r in report.results} == {"small-net", "spectrum"}
    table = report.to_markdown()
    assert table.splitlines()[0] == "| task | metric | small-net | spectrum |"
    assert "| hr (" in table and "| af (" in table
    again = json.loads(report.to_json())
    assert again["results"][0]["task"] == "hr" and "store_counts" in again


def test_embedder_with_a_wrong_shape_is_refused(store):
    bad = Embedder("bad", lambda x: np.zeros((len(x) + 1, 3)))
    with pytest.raises(EvaluationError, match=r"expected \(\d+, D\)"):
        evaluate(store, [bad], real=(), max_windows=50, n_boot=10)


def test_checkpoint_and_random_init_share_the_architecture(tmp_path):
    pytest.importorskip("torch")
    from anyppg.trainer.checkpoints import save_checkpoint
    from anyppg.trainer.encoders import net1d_from_config

    model = net1d_from_config(SMALL_NET)
    path = save_checkpoint(
        tmp_path / "ckpt.pt", {"ppg_encoder": model.state_dict(), "config": {"ppg_encoder": SMALL_NET}}
    )
    x = np.random.default_rng(0).standard_normal((4, 1250)).astype(np.float32)
    pre = checkpoint_embedder(path)(x)
    rnd = random_init_embedder(path, seed=3)(x)
    assert pre.shape == rnd.shape == (4, 16)
    expected = model.eval()(__import__("torch").from_numpy(x)[:, None]).detach().numpy()
    np.testing.assert_allclose(pre, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(pre, rnd)


def test_eval_cli_with_an_importable_embedder(store, tmp_path, monkeypatch, capsys):
    from anyppg.cli import main

    (tmp_path / "my_embed.py").write_text(
        "import numpy as np\n\ndef embed(x):\n    return np.stack([x.std(axis=1), np.abs(x).max(axis=1)], axis=1)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "eval"
    code = main(["eval", "--store", str(store), "--no-random-init", "--no-handcrafted", "--real", "",
                 "--embedder", "mine=my_embed:embed", "--n-boot", "50", "--max-windows", "200",
                 "--out", str(out), "--json"])  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert [r["embedder"] for r in printed["results"]] == ["mine"] * 3
    assert json.loads((out / "eval.json").read_text())["results"] == printed["results"]
    assert (out / "eval.md").read_text().startswith("| task | metric | mine |")
