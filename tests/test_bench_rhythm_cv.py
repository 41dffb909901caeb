"""benchmarks/bench_rhythm_cv.py: its folds and its summary, on synthetic windows and outputs (no data)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from anyppg.quantization.students import AF_CLASS
from anyppg.trainer.heads import HeadWindows


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("bench_rhythm_cv")


def _windows(af_share: dict[str, float], per_patient: int = 10) -> HeadWindows:
    subjects, labels = [], []
    for patient, share in af_share.items():
        n_af = round(share * per_patient)
        subjects += [patient] * per_patient
        labels += [AF_CLASS] * n_af + [0] * (per_patient - n_af)
    n = len(labels)
    return HeadWindows(
        np.zeros((n, 4), np.float32), np.full(n, np.nan, np.float32), np.full(n, -1, np.int8),
        np.array(labels, np.int8), np.array(["liu_arrhythmia"] * n, dtype=object), np.array(subjects, dtype=object),
    )  # fmt: skip


def test_folds_hold_whole_patients_spread_by_their_af_share(bench) -> None:
    shares = {"a": 0.0, "b": 0.0, "c": 0.1, "d": 0.5, "e": 0.9, "f": 1.0, "g": 1.0, "h": 0.2}
    fold_of = bench.fold_of_patients(_windows(shares), folds=4)
    assert set(fold_of) == set(shares) and sorted(fold_of.values()) == [0, 0, 1, 1, 2, 2, 3, 3]
    for fold in range(4):  # dealt in AF order: each fold gets one low- and one high-AF patient
        members = [shares[p] for p, f in fold_of.items() if f == fold]
        assert min(members) <= 0.2 and max(members) >= 0.5


def test_summary_pools_out_of_fold_outputs_and_scores_each_fold(bench, tmp_path) -> None:
    rng = np.random.default_rng(0)
    for fold, patients in enumerate([("a", "b"), ("c", "d")]):
        label = np.array([AF_CLASS, 0, AF_CLASS, 0] * 2)
        logits = rng.normal(size=(8, 6)).astype(np.float32)
        logits[:, AF_CLASS] += np.where(label == AF_CLASS, 3.0, 0.0)  # separable: AF AUROC 1
        logits[np.arange(8), label] += 5.0  # and the arg-max is the label
        np.savez(
            tmp_path / f"base-f{fold}.npz", rhythm=logits, af=logits[:, AF_CLASS : AF_CLASS + 1], label=label,
            subject=np.repeat(patients, 4), val_af_auroc=np.array([1.0]), seconds=2.0,
        )  # fmt: skip
    report = bench.summarize(tmp_path, ["base"], folds=2, n_boot=20)["base"]
    assert report["af_auroc_per_fold"] == [1.0, 1.0] and report["af_auroc_pooled"] == 1.0
    assert report["six_class_accuracy"] == 1.0
    assert report["patients"] == 4 and report["segments"] == 16 and report["seconds"] == 4.0
    md = bench.to_markdown(
        {"command": "c", "student": "s", "epochs": 1, "folds": 2, "variants": {"base": report}}
    )
    assert "| base | - | 1.000 / 1.000 | 1.000 [1.000, 1.000] | 1.000 | - | - |" in md


def test_summary_scores_what_the_head_reads_on_the_rebuilt_segments(bench, tmp_path) -> None:
    """A head that calls every irregular rebuild AF and no regular one reads the timing (1.0) and no
    shape (0.5); the rebuilds without enough beats (``counterfactual_ok`` False) are left out."""
    label = np.array([AF_CLASS, 0, AF_CLASS, 0, AF_CLASS, 0])
    low, high = np.zeros((6, 6), np.float32), np.zeros((6, 6), np.float32)
    high[:, AF_CLASS] = 5.0
    low[[0, 1], AF_CLASS] = [1.0, 2.0]  # a regular AF and a regular sinus rebuild: one pair each way
    low[[2, 3], AF_CLASS] = [2.0, 1.0]
    ok = np.array([True, True, True, True, False, False])
    for fold in range(2):
        np.savez(
            tmp_path / f"counterfactual-f{fold}.npz", rhythm=high, af=high[:, AF_CLASS : AF_CLASS + 1],
            label=label, subject=np.array(["a", "a", "b", "b", "c", "c"]) + str(fold), val_af_auroc=np.array([1.0]),
            seconds=1.0, rhythm_regular=low, rhythm_irregular=high, counterfactual_ok=ok,
        )  # fmt: skip
    report = bench.summarize(tmp_path, ["counterfactual"], folds=2, n_boot=10)["counterfactual"]
    assert report["timing_only_auroc"] == 1.0 and report["shape_only_af_auroc"] == 0.5
