"""A shipped student rebuilt in fp32 from its int8 LiteRT file, and the heart-rate read-out refit that
leaves every other output as it was (``anyppg.quantization.rate_head``).

Uses the shipped ``student-s`` file and simulated windows; the real data folder is never needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert")

import anyppg  # noqa: E402
from anyppg.quantization.assets import runtime_outputs  # noqa: E402
from anyppg.quantization.distill import predict  # noqa: E402
from anyppg.quantization.rate_head import (  # noqa: E402
    RATE_HEAD_PARAMETERS,
    RateHeadConfig,
    finetune_rate_head,
    rate_mae,
    student_from_litert,
)
from anyppg.quantization.students import build_student  # noqa: E402
from anyppg.sdk.shipped import default_model_path  # noqa: E402
from anyppg.trainer.heads import HeadWindows, segment_window  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:(open_text|read_text) is deprecated:DeprecationWarning")


def _windows(rates: list[float], seed: int = 0) -> HeadWindows:
    ppg = [
        segment_window(anyppg.simulate(12, heart_rate=bpm, ppg_rate=100.0, seed=seed + i).ppg[:1000], 100.0)
        for i, bpm in enumerate(rates)
    ]
    n = len(ppg)
    return HeadWindows(
        np.stack(ppg), np.asarray(rates, np.float32), np.ones(n, np.int8), np.full(n, -1, np.int8),
        np.array(["bidmc"] * n, dtype=object), np.array([f"sim/{i % 3}" for i in range(n)], dtype=object),
    )  # fmt: skip


@pytest.fixture(scope="module")
def shipped():
    path = default_model_path("tflite")
    return path, student_from_litert(path, "student-s")


def test_the_rebuilt_student_reads_windows_as_its_int8_file_does(shipped):
    path, student = shipped
    w = _windows([55.0, 72.0, 90.0, 120.0, 160.0])
    fp32, int8 = predict(student, w.ppg), runtime_outputs(path, w.ppg)
    # int8 rounding is the only difference: the rate within a bpm or two (more where the window's
    # rate is ambiguous, as 55 bpm is to this head), the logits within a few int8 steps
    assert np.abs(fp32["heart_rate"] - int8["heart_rate"]).mean() < 0.5
    assert np.abs(fp32["heart_rate"] - int8["heart_rate"]).max() < 2.0
    for name in ("quality", "af", "rhythm"):
        assert np.abs(fp32[name] - int8[name]).max() < 1.0, name
    centred = fp32["embedding"] - fp32["embedding"].mean(0), int8["embedding"] - int8["embedding"].mean(0)
    cos = (
        (centred[0] * centred[1]).sum(1)
        / np.linalg.norm(centred[0], axis=1)
        / np.linalg.norm(centred[1], axis=1)
    )
    assert cos.min() > 0.95


def test_a_student_without_the_spectrum_branch_is_rebuilt_too():
    path = default_model_path("tflite").with_name("student-xs_litert_q8.tflite")
    student = student_from_litert(path, "student-xs")
    w = _windows([65.0, 90.0, 130.0])
    fp32, int8 = predict(student, w.ppg), runtime_outputs(path, w.ppg)
    assert np.abs(fp32["heart_rate"] - int8["heart_rate"]).max() < 2.0
    assert np.abs(fp32["af"] - int8["af"]).max() < 1.0


def test_a_file_of_another_student_is_refused(shipped):
    path, _ = shipped
    with pytest.raises(ValueError, match=str(path)):
        student_from_litert(path, "student-xs")


def test_the_refit_moves_the_rate_read_out_and_nothing_else(shipped):
    _, student = shipped
    real = _windows([60.0, 70.0, 80.0, 95.0, 110.0, 130.0])
    paced = _windows([34.0, 38.0, 42.0, 46.0], seed=100)
    refitted, account = finetune_rate_head(student, real, paced, RateHeadConfig(epochs=40, lr=5e-3, l2=0.0))
    before, after = dict(student.named_parameters()), dict(refitted.named_parameters())
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == set(RATE_HEAD_PARAMETERS)
    assert account["real_windows"] == 6 and account["paced_windows"] == 4
    every = HeadWindows.concat([real, paced])
    a, b = predict(student, every.ppg), predict(refitted, every.ppg)
    for name in ("embedding", "quality", "af", "rhythm"):
        np.testing.assert_array_equal(a[name], b[name])
    assert rate_mae(refitted, paced) < rate_mae(student, paced)


def test_a_student_without_the_spectrum_branch_has_no_read_out_to_refit():
    w = _windows([70.0])
    with pytest.raises(ValueError, match="spectrum branch"):
        finetune_rate_head(build_student("student-xs"), w, w)


def test_only_the_read_out_can_be_refitted(shipped):
    _, student = shipped
    w = _windows([70.0])
    with pytest.raises(ValueError, match="only the rate read-out"):
        finetune_rate_head(student, w, w, RateHeadConfig(parameters=("rhythm.weight",)))
    refitted, _ = finetune_rate_head(
        student, w, w, RateHeadConfig(parameters=("spectral_logits.weight",), epochs=3, l2=0.0)
    )
    before, after = dict(student.named_parameters()), dict(refitted.named_parameters())
    assert {k for k in before if not torch.equal(before[k], after[k])} == {"spectral_logits.weight"}


def test_the_command_never_writes_over_the_shipped_files_by_default():
    from anyppg.quantization.rate_head import parse_args

    args = parse_args(["--data", "somewhere"])
    assert Path(args.source).resolve() == default_model_path("tflite").parent.resolve()
    assert Path(args.out).resolve() != Path(args.source).resolve()
    assert parse_args(["--parameters", "spectral_logits.weight"]).parameters == ["spectral_logits.weight"]
