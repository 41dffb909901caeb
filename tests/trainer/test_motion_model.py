"""The motion heart-rate model trains on simulated PPG + accelerometer windows and LOSO scores it."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from anyppg.trainer.motion_data import (  # noqa: E402
    MotionWindows,
    simulated_recording,
    windows_from_recordings,
)
from anyppg.trainer.motion_loso import loso, markdown, to_json_ready, track  # noqa: E402
from anyppg.trainer.motion_model import (  # noqa: E402
    MotionHRNet,
    TrainConfig,
    count_parameters,
    predict_logits,
    train,
    window_estimates,
)

TINY = TrainConfig(epochs=4, draws_per_epoch=512, batch_size=64, val_subjects=1, patience=4, lr=5e-3)


@pytest.fixture(scope="module")
def windows() -> MotionWindows:
    torch.set_num_threads(1)
    recs = [
        simulated_recording(f"{i:02d}", duration_s=40.0, heart_rate=hr, motion=0.6, seed=i)
        for i, hr in enumerate([70.0, 95.0, 120.0, 145.0, 80.0])
    ]
    return windows_from_recordings(recs, stretches=(0.85, 1.0, 1.15))


def test_model_is_small_and_maps_spectra_to_bin_logits() -> None:
    model = MotionHRNet()
    assert count_parameters(model) <= 150_000
    assert model(torch.zeros(3, 4, 64)).shape == (3, 64)


def test_cache_round_trips_and_holds_stretched_copies(windows: MotionWindows, tmp_path) -> None:
    assert windows.x.shape[1:] == (4, 64)
    np.testing.assert_allclose(np.unique(windows.stretch), [0.85, 1.0, 1.15], rtol=1e-6)
    base = windows.stretch == 1.0
    np.testing.assert_allclose(windows.bpm[base], windows.ref_bpm[windows.window[base]], rtol=1e-6)
    windows.save(tmp_path / "w.npz")
    again = MotionWindows.load(tmp_path / "w.npz")
    np.testing.assert_array_equal(again.x, windows.x)
    assert again.subjects == windows.subjects == [f"sim/{i:02d}" for i in range(5)]


def test_a_tiny_training_run_learns_the_simulated_heart_rate(windows: MotionWindows) -> None:
    model, info = train(windows, windows.subjects[:4], TINY)
    assert info["history"][-1]["loss"] < info["history"][0]["loss"]
    held = np.flatnonzero((windows.subject[windows.window] == "sim/04") & (windows.stretch == 1.0))
    ids, bpm, conf = window_estimates(windows, held, predict_logits(model, windows.x[held]))
    assert np.median(np.abs(bpm - windows.ref_bpm[ids])) < 12.0  # chance is ~50 bpm over 36-225
    assert ((conf >= 0) & (conf <= 1)).all()


def test_tracking_is_causal(windows: MotionWindows) -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(64), size=10)
    t_end = 8.0 + 2.0 * np.arange(10)
    full = track(t_end, probs)
    changed = probs.copy()
    changed[7:] = rng.dirichlet(np.ones(64), size=3)
    np.testing.assert_array_equal(track(t_end, changed)[:7], full[:7])


def test_loso_reports_every_left_out_recording(windows: MotionWindows) -> None:
    cfg = TrainConfig(epochs=1, draws_per_epoch=256, batch_size=64, val_subjects=0)
    result = loso(windows, cfg, subjects=["sim/00", "sim/03"])
    assert set(result["records"]) == {"sim-00", "sim-03"}
    row = result["records"]["sim-03"]
    assert row["windows"].shape == (17, 6)  # (40 - 8) / 2 + 1 windows: t_end, ref, bpm, conf, tracked
    assert result["summary"]["fp32_mae_window"]["sim"]["recordings"] == 2
    text = markdown(result, "cmd")
    assert "| sim-03 | sim/03 |" in text
    ready = to_json_ready(result)
    assert isinstance(ready["records"]["sim-03"]["windows"][0], list)
