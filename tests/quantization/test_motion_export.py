"""The motion model exports to int8 .pte and .tflite that the SDK runs like the fp32 model."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from anyppg.model_card import ModelCard  # noqa: E402
from anyppg.quantization.export import load_tflite  # noqa: E402
from anyppg.quantization.motion_export import (  # noqa: E402
    deployment_form,
    export_motion,
    fold_batchnorm,
    int8_predictor,
    quantize_motion,
)
from anyppg.quantization.ptq import QuantizationError  # noqa: E402
from anyppg.sdk.motion_runtime import MotionModel  # noqa: E402
from anyppg.signal.hr_belief import hr_from_distribution, softmax  # noqa: E402
from anyppg.trainer.motion_data import simulated_recording, windows_from_recordings  # noqa: E402
from anyppg.trainer.motion_model import TrainConfig, predict_logits, train  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    recs = [
        simulated_recording(f"{i}", duration_s=30.0, heart_rate=hr, motion=0.5, seed=10 + i)
        for i, hr in enumerate([75.0, 110.0, 140.0])
    ]
    w = windows_from_recordings(recs, stretches=(1.0,))
    model, _ = train(w, w.subjects, TrainConfig(epochs=3, draws_per_epoch=512, batch_size=64, val_subjects=0))
    return model, w


def test_folding_batchnorm_keeps_the_outputs(trained) -> None:
    model, w = trained
    x = torch.from_numpy(w.x[:16])
    with torch.no_grad():
        torch.testing.assert_close(fold_batchnorm(model)(x), model.eval()(x), atol=1e-4, rtol=1e-4)


def test_deployment_form_keeps_the_outputs_without_1d_convolutions(trained) -> None:
    model, w = trained
    x = torch.from_numpy(w.x[:16])
    deployed = deployment_form(model)
    assert not any(isinstance(m, (torch.nn.Conv1d, torch.nn.BatchNorm1d)) for m in deployed.modules())
    with torch.no_grad():
        torch.testing.assert_close(deployed(x), model.eval()(x), atol=1e-4, rtol=1e-4)


def test_simulated_int8_stays_close_to_fp32(trained) -> None:
    model, w = trained
    fp32 = softmax(predict_logits(model, w.x))
    q8 = softmax(int8_predictor(model, w.x[:64])(w.x))
    assert np.abs(q8 - fp32).sum(axis=1).mean() < 0.1  # mean total-variation x2 between distributions
    with pytest.raises(QuantizationError, match="calibration inputs"):
        quantize_motion(model, np.zeros((0, 4, 64), np.float32))


@pytest.mark.slow
def test_exported_files_match_fp32_on_real_runtimes(trained, tmp_path) -> None:
    model, w = trained
    paths = export_motion(model, w.x[:128], tmp_path, training_data={"what": "test"}, latency_runs=3)
    assert sorted(p.name for p in paths) == ["motion-hr_litert_q8.tflite", "motion-hr_xnnpack_q8.pte"]
    fp32 = softmax(predict_logits(model, w.x[::7]))
    for path in paths:
        assert path.stat().st_size <= 200_000
        card = ModelCard.load(path.with_suffix(".json"))
        assert card.inputs[0].shape == [1, 4, 64] and card.outputs[0].shape == [1, 64]
        assert card.latency_ms["runs"] == 3 and card.training_data == {"what": "test"}
        loaded = MotionModel.load(path)
        name = loaded.model.output_names[0]
        got = np.stack([softmax(loaded.model.run(x[None])[name][0]) for x in w.x[::7]])
        bpm_fp32 = np.array([hr_from_distribution(p)[0] for p in fp32])
        bpm_q8 = np.array([hr_from_distribution(p)[0] for p in got])
        assert np.median(np.abs(bpm_q8 - bpm_fp32)) < 1.5, path.name
        assert np.abs(got - fp32).sum(axis=1).mean() < 0.15, path.name
    # Exported in 4-D (deployment_form): layout changes only at the input and around the mean over
    # the bins (the 1-D graph had 11 TRANSPOSE and 13 RESHAPE).
    ops = [op["op_name"] for op in load_tflite(paths[1])._get_ops_details()]
    assert ops.count("TRANSPOSE") <= 2 and ops.count("RESHAPE") <= 4, ops
    card = json.loads(paths[1].with_suffix(".json").read_text())
    assert card["quantization"]["calibration_inputs"] == len(w.x[:128])
