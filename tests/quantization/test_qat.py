"""PT2E quantization-aware training: BN freezing, dynamic batch, and parity of the deployed files.

A tiny student (the real Student code at a small width) is fine-tuned for a few steps on z-scored
windows; the converted int8 graph is the oracle for the ``.pte`` and ``.tflite`` it lowers to
(cosine > 0.999 on the embedding, heart rate within 0.5 bpm), read back with ``anyppg.sdk.runtime``.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from anyppg.quantization.ptq import QuantizationError  # noqa: E402
from anyppg.quantization.qat import (  # noqa: E402
    QATConfig,
    QATRecipe,
    convert_qat,
    export_qat,
    freeze_batchnorm_stats,
    qat_finetune,
)
from anyppg.sdk.runtime import load_model  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:(open_text|read_text) is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning"),
]


def _tiny():
    from anyppg.quantization.students import Student, StudentConfig

    torch.manual_seed(0)
    return Student(StudentConfig(stem_channels=4, stage_channels=(8,), kernel_size=5, head_hidden=8)).eval()


def _windows(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, 1, 1250)).astype(np.float32)
    return (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def trained():
    """The classic schedule: BN statistics update for 6 steps, then freeze (BN stays in the graph)."""
    torch.set_num_threads(1)
    model = _tiny()
    config = QATConfig(steps=12, batch_size=8, lr=1e-3, freeze_bn_step=6, freeze_observers_step=9)
    return model, qat_finetune(model, _windows(48), config=config)


@pytest.fixture(scope="module")
def trained_default():
    """The default: BN frozen from the start, i.e. folded into the convolutions before QAT."""
    torch.set_num_threads(1)
    model = _tiny()
    return model, qat_finetune(model, _windows(48), config=QATConfig(steps=12, batch_size=8, lr=1e-3))


def test_bn_statistics_freeze_late_and_stay_frozen(trained):
    _model, result = trained
    assert result.frozen_bn_nodes == 3  # stem + the stage's two ConvBNReLU
    assert [h["step"] for h in result.history] == list(range(12))
    buffers = {k: v.clone() for k, v in result.prepared.named_buffers() if "running_mean" in k}
    assert buffers, "the QAT graph has BatchNorm running statistics"
    x = torch.from_numpy(_windows(8, seed=3))
    result.prepared(x)  # a training-graph forward after the freeze must not move the statistics
    for k, v in result.prepared.named_buffers():
        if k in buffers:
            torch.testing.assert_close(v, buffers[k], rtol=0, atol=0)


def test_freezing_bn_is_idempotent(trained):
    _model, result = trained
    graph = copy.deepcopy(result.prepared)
    assert freeze_batchnorm_stats(graph) == 0  # every BatchNorm node already uses running statistics


@pytest.mark.slow
def test_qat_reaches_pte_and_tflite_with_parity(trained_default, tmp_path):
    model, result = trained_default
    assert result.bn_folded and result.frozen_bn_nodes == 0
    files = export_qat(result, "tiny", tmp_path, parameters=sum(p.numel() for p in model.parameters()))
    assert [f.name for f in files] == ["tiny_xnnpack_q8.pte", "tiny_litert_q8.tflite"]
    oracle = convert_qat(result, "xnnpack")
    xs = _windows(4, seed=9)
    with torch.no_grad():  # the dynamic batch: batch 1 and batch 4 both run
        batch_out = oracle(torch.from_numpy(xs))
    deployed = {f.suffix: load_model(f) for f in files}
    for model_file in deployed.values():
        assert not model_file.card_derived
        assert model_file.card.precision == "q8"
        assert model_file.card.quantization["bn_folded_before_qat"] is True
    for i, x in enumerate(xs):
        with torch.no_grad():
            want = [y.numpy() for y in oracle(torch.from_numpy(x[None]))]
        np.testing.assert_allclose(want[0], batch_out[0][i : i + 1].numpy(), atol=1e-5)
        for suffix, m in deployed.items():
            got = m.run(x)
            assert _cos(got["embedding"], want[0]) > 0.999, suffix
            assert abs(float(got["heart_rate"][0, 0] - want[1][0, 0])) < 0.5, suffix
    with torch.no_grad():
        fp32 = model(torch.from_numpy(xs[:1]))[0].numpy()
    assert _cos(deployed[".pte"].run(xs[0])["embedding"], fp32) > 0.98  # int8 stays close to fp32
    # The student's heart rate stays a float32 output in QAT as in PTQ (Student.float_outputs), so no
    # int8 range learnt from the fine-tuning windows can saturate it; the other outputs are int8.
    from anyppg.quantization.export import load_tflite, tflite_io_tensors

    io = tflite_io_tensors(load_tflite(files[1]))
    assert io["heart_rate"]["dtype"] == "float32" and io["embedding"]["dtype"] == "int8"


def test_heart_rate_term_in_bpm_is_trained_when_weighted():
    model = _tiny()
    plain = qat_finetune(model, _windows(8), config=QATConfig(steps=2, batch_size=4))
    weighted = qat_finetune(model, _windows(8), config=QATConfig(steps=2, batch_size=4, w_hr_bpm=2.0))
    assert "hr_bpm" not in plain.history[0]
    first = weighted.history[0]
    assert first["hr_bpm"] >= 0.0
    assert first["loss"] == pytest.approx(
        first["cos"] + first["mse"] + 0.1 * first["heads"] + 2.0 * first["hr_bpm"], rel=1e-5
    )


@pytest.mark.slow
def test_recipe_trains_once_and_exports_both_formats(tmp_path):
    from anyppg.quantization.export import export_model

    model = _tiny()
    recipe = QATRecipe(_windows(16), QATConfig(steps=4, batch_size=8, lr=1e-3))
    pte = export_model(model, "tiny", "xnnpack", "q8", tmp_path, recipe=recipe, latency_runs=0)
    first = recipe.result
    tfl = export_model(model, "tiny", "litert", "q8", tmp_path, recipe=recipe, latency_runs=0)
    assert recipe.result is first  # the second backend reuses the fine-tuned graph
    for artifact in (pte, tfl):
        assert "quantization-aware training" in artifact.card.quantization["scheme"]
        assert artifact.card.quantization["qat"]["steps"] == 4
        assert "calibration_windows" not in artifact.card.quantization
    x = _windows(1, seed=5)[0]
    outs = [load_model(a.path).run(x) for a in (pte, tfl)]
    assert _cos(outs[0]["embedding"], outs[1]["embedding"]) > 0.99


def test_bad_windows_and_targets_are_refused():
    model = _tiny()
    with pytest.raises(QuantizationError, match=r"shape \(4, 1, 1000\); expected \(N, 1, 1250\)"):
        qat_finetune(model, np.zeros((4, 1, 1000), np.float32))
    bad = _windows(4)
    bad[1, 0, 5] = np.inf
    with pytest.raises(QuantizationError, match="NaN or inf"):
        qat_finetune(model, bad)
    targets = {
        k: np.zeros((3, 512 if k == "embedding" else 1), np.float32)
        for k in ("embedding", "heart_rate", "quality", "af")
    }
    with pytest.raises(QuantizationError, match="expected 4"):
        qat_finetune(model, _windows(4), targets=targets)
    with pytest.raises(QuantizationError, match="unknown QAT backend"):
        qat_finetune(model, _windows(4), backend="coreml")  # type: ignore[arg-type]
