"""The shipped learned motion model runs on LiteRT (no torch) and gives sane heart rates."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from anyppg.errors import InvalidSignalError, ModelLoadError
from anyppg.model_card import ModelCard
from anyppg.sdk.motion_runtime import MotionModel, default_motion_model_path
from anyppg.sdk.shipped import default_model_path
from anyppg.simulator import simulate


@pytest.fixture(scope="module")
def model() -> MotionModel:
    return MotionModel.load()


def test_shipped_model_is_small_int8_and_documents_its_data(model: MotionModel) -> None:
    assert model.model.backend == "litert" and model.model.quantized_io
    assert (model.window_s, model.rate_hz) == (8.0, 25.0)
    card = model.model.card
    assert card.size_bytes <= 200_000 and card.parameters <= 150_000
    assert "research use" in card.training_data["licence"]
    assert set(card.training_data["datasets"]) == {"troika", "bami1"}


def test_running_the_model_imports_no_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "from anyppg.sdk.motion_runtime import MotionModel\n"
        "from anyppg.simulator import simulate\n"
        "sim = simulate(9, ppg_rate=50, seed=1)\n"
        "MotionModel.load().estimate(sim.ppg, sim.acc.T, 50)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


def test_estimate_on_a_simulated_resting_window(model: MotionModel) -> None:
    sim = simulate(10, heart_rate=72, ppg_rate=50, seed=7)
    bpm, conf = model.estimate(sim.ppg, sim.acc.T, 50)
    assert abs(bpm - sim.mean_heart_rate(2, 10)) < 6
    assert 0.0 <= conf <= 1.0


def test_several_ppg_channels_and_any_rate(model: MotionModel) -> None:
    sim = simulate(12, heart_rate=95, ppg_rate=125, seed=8)
    ppg = np.stack([sim.ppg, 2.0 * sim.ppg + 0.05 * np.random.default_rng(0).standard_normal(len(sim.ppg))])
    bpm, conf = model.estimate(ppg, sim.acc.T, 125)
    assert abs(bpm - sim.mean_heart_rate(4, 12)) < 6 and 0.0 <= conf <= 1.0
    p = model.distribution(ppg, sim.acc.T, 125)
    assert p.shape == (64,) and p.sum() == pytest.approx(1.0)


def test_tracker_follows_a_stream_with_motion(model: MotionModel) -> None:
    sim = simulate(60, heart_rate=130, motion=0.5, motion_fraction=1.0, ppg_rate=50, seed=9)
    tracker = model.tracker()
    errors = []
    for end in range(400, len(sim.ppg) + 1, 100):  # a window every 2 s
        bpm, conf = tracker.update(sim.ppg[:end], sim.acc[:end].T, 50, dt_s=0.0 if end == 400 else 2.0)
        errors.append(abs(bpm - sim.mean_heart_rate(end / 50 - 8, end / 50)))
        assert 0.0 <= conf <= 1.0
    assert np.median(errors[5:]) < 8
    tracker.reset()
    assert tracker.belief.belief is None


def test_bad_paths_cards_and_windows_give_one_line_errors(model: MotionModel, tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        MotionModel.load(tmp_path / "missing.tflite")
    with pytest.raises(ModelLoadError, match=r"a motion model takes \(1, 4, 64\)"):
        MotionModel.load(default_model_path("tflite"))  # the encoder student is not a motion model
    copy = tmp_path / "motion-hr_litert_q8.tflite"
    shutil.copy(default_motion_model_path(), copy)
    card = ModelCard.load(default_motion_model_path().with_suffix(".json"))
    card.preprocessing.sampling_rate_hz = 32.0
    card.save(copy.with_suffix(".json"))
    with pytest.raises(ModelLoadError, match=r"expected anyppg\.signal\.motion_spectra at 25\.0 Hz") as err:
        MotionModel.load(copy)
    assert "\n" not in str(err.value)
    sim = simulate(10, ppg_rate=50, seed=0)
    with pytest.raises(InvalidSignalError, match="expected >= 8 s"):
        model.estimate(sim.ppg[:200], sim.acc[:200].T, 50)
