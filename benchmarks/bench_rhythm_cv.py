"""Rhythm-head recipe check by patient-grouped cross-validation on the Liu *training* patients.

The shipped students' validation set holds 3 Liu patients: too few to tell two rhythm recipes apart
(AF AUROC moves by 0.01 between epochs of one run). This benchmark compares recipe variants on all
22 Liu patients the students may train on, never touching the held-out ones
(:func:`anyppg.quantization.assets.heldout_mask`):

- the patients are dealt into ``--folds`` folds of whole patients, sorted by their AF share so every
  fold holds AF and non-AF patients;
- for each variant and fold, a student (``--student``, default student-s) is trained on the Liu
  segments of the other folds alone (:func:`anyppg.quantization.real_heads.train_heads`: the shipped
  loss, augmentation and weight averaging, ``--epochs`` epochs, the last epoch kept) and scored on
  the fold's segments;
- per variant: AF-vs-rest AUROC per fold, and pooled over every out-of-fold segment with a 95 %
  bootstrap interval over patients, plus six-class accuracy (:func:`real_heads.head_metrics`);
- and what the head reads (``benchmarks/bench_rhythm_shape.py``'s two scores, on the out-of-fold
  segments rebuilt from their own beats, :mod:`anyppg.signal.counterfactual`): **shape only**, AF vs
  the others among the regular versions (0.5 for a head blind to shape), and **timing only**, the
  irregular vs the regular versions of the same beats (1.0 for a head that reads the rhythm).

Variants (:data:`VARIANTS`) are :class:`anyppg.quantization.real_heads.HeadTrainConfig` overrides.
Each (variant, fold) is saved in ``--work`` as it finishes and skipped when already there, so runs
resume and can be split across processes (one per variant on a 2-core machine, then
``--summarize``). About 10 minutes per fold and variant for student-s on one core.

Usage::

    python benchmarks/bench_rhythm_cv.py --data ../shared/data --variants base &
    python benchmarks/bench_rhythm_cv.py --data ../shared/data --variants stretch &
    wait; python benchmarks/bench_rhythm_cv.py --data ../shared/data --variants base stretch --summarize

Writes ``benchmarks/results/rhythm_cv.{json,md}`` (``--name``: another name, for another comparison).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("bench_rhythm_cv")

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "stretch": {"rhythm_stretch_p": 0.5},
    "smooth": {"rhythm_smoothing": 0.1},
    "counterfactual": {"counterfactual_p": 0.3},
    "counterfactual_0.1": {"counterfactual_p": 0.1},
    "counterfactual_0.05": {"counterfactual_p": 0.05},
}
"""Recipe variants: :class:`HeadTrainConfig` overrides of the shipped rhythm recipe (``base``)."""


def liu_training_windows(data: str | None, cache: Path) -> Any:
    """The Liu windows of the patients the students may train on (the held-out ones removed)."""
    from anyppg.quantization.assets import windows_and_split

    windows, held = windows_and_split(data, cache, 0)
    return windows.take(np.flatnonzero(~held & (windows.dataset == "liu_arrhythmia")))


def fold_of_patients(windows: Any, folds: int) -> dict[str, int]:
    """Whole patients dealt round-robin into ``folds`` folds in order of their AF share."""
    from anyppg.quantization.students import AF_CLASS

    patients = np.unique(windows.subject)
    share = {p: float(np.mean(windows.rhythm[windows.subject == p] == AF_CLASS)) for p in patients}
    return {p: i % folds for i, p in enumerate(sorted(patients, key=lambda p: (share[p], p)))}


def run_fold(windows: Any, fold_of: dict[str, int], fold: int, variant: str, config: Any, out: Path) -> None:
    """Train on the other folds, save the fold's rhythm and AF outputs to ``out``, and its rhythm
    outputs on the fold's segments rebuilt regular and irregular (:func:`_what_it_reads`)."""
    import torch

    from anyppg.quantization.distill import predict
    from anyppg.quantization.real_heads import rhythm_counterfactual_windows, train_heads

    torch.set_num_threads(1)
    in_fold = np.array([fold_of[s] == fold for s in windows.subject])
    train, test = windows.take(np.flatnonzero(~in_fold)), windows.take(np.flatnonzero(in_fold))
    t0 = time.perf_counter()
    student, history = train_heads(train, replace(config, **VARIANTS[variant]), validation=test)
    outputs = predict(student, test.ppg)
    regular, irregular, ok = rhythm_counterfactual_windows(test, seed=1)
    np.savez(
        out,
        rhythm_regular=predict(student, regular)["rhythm"],
        rhythm_irregular=predict(student, irregular)["rhythm"],
        counterfactual_ok=ok,
        rhythm=outputs["rhythm"],
        af=outputs["af"],
        label=test.rhythm,
        subject=test.subject.astype(str),
        val_af_auroc=np.array([h.get("val_af_auroc", np.nan) for h in history], np.float64),
        seconds=time.perf_counter() - t0,
    )
    log.info("%s fold %d: %.0f s, last-epoch AF AUROC %.4f", variant, fold, time.perf_counter() - t0,
             history[-1].get("val_af_auroc", float("nan")))  # fmt: skip


def summarize(work: Path, variants: list[str], folds: int, n_boot: int = 1000) -> dict[str, Any]:
    """Per variant: AF AUROC per fold, pooled out-of-fold AF AUROC [CI] and six-class accuracy."""
    from anyppg.quantization.real_heads import head_metrics
    from anyppg.trainer.heads import HeadWindows

    result: dict[str, Any] = {}
    for variant in variants:
        parts = [np.load(work / f"{variant}-f{f}.npz") for f in range(folds)]
        outs, wins = [_outputs(d) for d in parts], [_windows(d) for d in parts]
        per_fold = [
            head_metrics(o, w, n_boot=0)["rhythm"]["af_auroc"] for o, w in zip(outs, wins, strict=True)
        ]
        pooled = HeadWindows.concat(wins)
        outputs = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
        m = head_metrics(outputs, pooled, n_boot=n_boot)["rhythm"]
        reads = _what_it_reads(parts) if all("counterfactual_ok" in d for d in parts) else {}
        result[variant] = {
            "overrides": VARIANTS[variant],
            "af_auroc_per_fold": per_fold,
            "af_auroc_pooled": m["af_auroc"],
            "af_auroc_pooled_ci95": m["af_auroc_ci95"],
            "six_class_accuracy": m["six_class_accuracy"],
            "shape_only_af_auroc": reads.get("shape_only"),
            "timing_only_auroc": reads.get("timing_only"),
            "patients": len(np.unique(pooled.subject)),
            "segments": len(pooled),
            "seconds": float(sum(float(d["seconds"]) for d in parts)),
        }
    return result


def _what_it_reads(parts: list[Any]) -> dict[str, float | None]:
    """Shape-only and timing-only AUROC of P(AF) (the rhythm softmax's AF entry) on the out-of-fold
    segments' regular and irregular versions (those with enough beats)."""
    from anyppg.quantization.real_heads import _auroc, _softmax
    from anyppg.quantization.students import AF_CLASS

    ok = np.concatenate([d["counterfactual_ok"] for d in parts])
    label = np.concatenate([d["label"] for d in parts])[ok]
    regular = _softmax(np.concatenate([d["rhythm_regular"] for d in parts])[ok])[:, AF_CLASS]
    irregular = _softmax(np.concatenate([d["rhythm_irregular"] for d in parts])[ok])[:, AF_CLASS]
    timing = np.concatenate([np.ones(len(label), int), np.zeros(len(label), int)])
    return {
        "shape_only": _auroc((label == AF_CLASS).astype(int), regular),
        "timing_only": _auroc(timing, np.concatenate([irregular, regular])),
    }


def _outputs(d: Any) -> dict[str, np.ndarray]:
    n = len(d["label"])
    nan = np.full((n, 1), np.nan, np.float32)
    return {"heart_rate": nan, "quality": nan, "af": d["af"], "rhythm": d["rhythm"]}


def _windows(d: Any) -> Any:
    from anyppg.trainer.heads import HeadWindows

    n = len(d["label"])
    return HeadWindows(
        np.zeros((n, 1), np.float32),
        np.full(n, np.nan, np.float32),
        np.full(n, -1, np.int8),
        d["label"].astype(np.int8),
        np.array(["liu_arrhythmia"] * n, dtype=object),
        d["subject"].astype(object),
    )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Rhythm recipe, patient-grouped cross-validation on the Liu training patients",
        "",
        f"`{report['command']}`. {report['student']}, trained on Liu alone for {report['epochs']} epochs "
        f"per fold ({report['folds']} folds of whole patients; the held-out patients are not used). "
        "Pooled: every out-of-fold segment, 95 % CI from 1,000 bootstrap resamples of patients.",
        "",
        "Shape only: AF vs the others among the segments rebuilt regular from one of their own beats (0.5: "
        "blind to shape); timing only: irregular vs regular rebuilds of the same beats (1.0: reads the "
        "rhythm); `benchmarks/bench_rhythm_shape.py`.",
        "",
        "| variant | overrides | AF AUROC per fold | pooled AF AUROC [95 % CI] | six-class accuracy "
        "| shape only | timing only |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in report["variants"].items():
        lo, hi = r["af_auroc_pooled_ci95"] or (float("nan"), float("nan"))
        folds = " / ".join(f"{v:.3f}" for v in r["af_auroc_per_fold"])
        lines.append(
            f"| {name} | {json.dumps(r['overrides']) if r['overrides'] else '-'} | {folds} | "
            f"{r['af_auroc_pooled']:.3f} [{lo:.3f}, {hi:.3f}] | {r['six_class_accuracy']:.3f} | "
            f"{_num(r.get('shape_only_af_auroc'))} | {_num(r.get('timing_only_auroc'))} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from anyppg.quantization.real_heads import HeadTrainConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("ANYPPG_DATA"), help="data folder (or ANYPPG_DATA)")
    parser.add_argument("--cache", default="runs/assets", help="the assets window cache (windows.npz)")
    parser.add_argument("--work", default="runs/rhythm_cv", help="per-fold outputs")
    parser.add_argument("--variants", nargs="+", default=["base", "stretch"], choices=sorted(VARIANTS))
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--student", default="student-s")
    parser.add_argument("--summarize", action="store_true", help="only write the results (every fold done)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument(
        "--name", default="rhythm_cv", help="results file name, NAME.{json,md} (one per comparison run)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if not args.summarize:
        windows = liu_training_windows(args.data, Path(args.cache))
        fold_of = fold_of_patients(windows, args.folds)
        config = HeadTrainConfig(student=args.student, epochs=args.epochs, w_hr=4.0, ema=0.995, select="last")
        for variant in args.variants:
            for fold in range(args.folds):
                path = work / f"{variant}-f{fold}.npz"
                if not path.exists():
                    run_fold(windows, fold_of, fold, variant, config, path)
    missing = [
        f"{v}-f{f}" for v in args.variants for f in range(args.folds) if not (work / f"{v}-f{f}.npz").exists()
    ]
    if missing:
        log.info("not summarized: folds still missing: %s", ", ".join(missing))
        return 0
    report = {
        "command": "python benchmarks/bench_rhythm_cv.py --data DATA --variants "
        + " ".join(args.variants)
        + ("" if args.name == "rhythm_cv" else f" --name {args.name}"),
        "student": args.student,
        "epochs": args.epochs,
        "folds": args.folds,
        "variants": summarize(work, args.variants, args.folds),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / f"{args.name}.md").write_text(to_markdown(report))
    print(to_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
