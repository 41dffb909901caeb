"""Regenerate the shipped default models end to end: ``python -m anyppg.quantization.assets``.

Steps (each logged; nothing is downloaded):

1. **teacher**: ``runs/demo/checkpoint.pt``; when it is missing, build the demo window store
   (``anyppg prepare --source sim``) and pretrain the demo teacher (``anyppg pretrain --preset demo``).
2. **data**: the store's ``train`` split (labelled, simulated) plus unlabelled windows from every real
   recording installed (``anyppg.recordings``); held-out report on the ``test`` split (other subjects).
3. **distil** the default student (:mod:`anyppg.quantization.distill`).
4. **quantize + export**: PT2E static int8 calibrated on real + simulated windows, to
   ``student-s_xnnpack_q8.pte`` and ``student-s_litert_q8.tflite`` in ``anyppg/assets/``.
5. **measure and write the cards**: each int8 file is run through its own runtime on the held-out
   windows; the cards record embedding cosine to the teacher and to the fp32 student, HR MAE / quality
   AUROC / AF AUROC for teacher, fp32 student and the int8 file, sizes, latencies and the speed and size
   ratios to the teacher. A JSON report of the whole run goes to ``runs/assets/report.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("anyppg.quantization.assets")

DEFAULT_TEACHER = Path("runs/demo/checkpoint.pt")
DEFAULT_STORE = Path("runs/demo/store")
SHIPPED = (("xnnpack", "q8"), ("litert", "q8"))


def _assets_dir() -> Path:
    return Path(str(resources.files("anyppg.assets")))


def ensure_teacher(teacher: Path, store: Path) -> Path:
    """The demo teacher checkpoint, pretraining it (and its store) first when it is missing."""
    from anyppg.cli import main

    if teacher.is_file():
        return teacher
    if not (store / "index.json").is_file():
        log.info("no window store at %s: building the demo store from the simulator", store)
        if main(["prepare", "--source", "sim", "--out", str(store), "--quiet"]) != 0:
            raise SystemExit(f"anyppg prepare failed; cannot build {store}")
    log.info("no teacher at %s: pretraining the demo teacher (anyppg pretrain --preset demo)", teacher)
    if main(["pretrain", "--preset", "demo", "--store", str(store), "--out", str(teacher.parent)]) != 0:
        raise SystemExit("anyppg pretrain failed; cannot make the demo teacher")
    return teacher


def _portable(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it, else its file name only."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name


def _checkpoint_step(path: Path) -> int | None:
    from anyppg.trainer.checkpoints import read_checkpoint

    step = read_checkpoint(path).get("step")
    return int(step) if step is not None else None


def _runtime_outputs(path: Path, ppg: np.ndarray) -> dict[str, np.ndarray]:
    """All four outputs of an exported file on ``(N, 1250)`` windows, one window at a time."""
    import torch

    from anyppg.quantization.export import load_pte, load_tflite, run_tflite

    keys = ("embedding", "heart_rate", "quality", "af")
    rows: list[list[np.ndarray]] = []
    if path.suffix == ".pte":
        method = load_pte(path)
        for w in ppg:
            rows.append([o.numpy() for o in method.execute([torch.from_numpy(w[None, None, :].copy())])])
    else:
        interpreter = load_tflite(path)
        rows = [run_tflite(interpreter, w[None, None, :]) for w in ppg]
    return {k: np.concatenate([r[i] for r in rows]) for i, k in enumerate(keys)}


def _relative_change(new: float | None, ref: float | None, higher_is_better: bool) -> float | None:
    """How much worse ``new`` is than ``ref``, as a fraction of ``ref`` (negative = better)."""
    if new is None or ref is None or ref == 0:
        return None
    return (ref - new) / abs(ref) if higher_is_better else (new - ref) / abs(ref)


def _worst_change(metrics: dict[str, Any], ref: dict[str, Any]) -> float | None:
    changes = [
        _relative_change(metrics.get("hr_mae_bpm"), ref.get("hr_mae_bpm"), higher_is_better=False),
        _relative_change(metrics.get("quality_auroc"), ref.get("quality_auroc"), higher_is_better=True),
        _relative_change(metrics.get("af_auroc"), ref.get("af_auroc"), higher_is_better=True),
    ]
    known = [c for c in changes if c is not None]
    return max(known) if known else None


def _teacher_latency_ms(teacher: Any, runs: int = 30) -> float:
    import torch

    from anyppg.quantization.export import measure_latency_ms

    x = torch.zeros(1, 1, 1250)
    with torch.no_grad():
        return measure_latency_ms(lambda: teacher(x), runs=runs, warmup=3)["median"]


def build(args: argparse.Namespace) -> dict[str, Any]:
    """Run the whole pipeline (see the module docstring); returns the report."""
    import torch

    from anyppg.quantization.distill import (
        DistillConfig,
        check_teacher_dim,
        cosine_rows,
        distill,
        downstream_metrics,
        load_teacher,
        predict,
        real_windows,
        store_windows,
    )
    from anyppg.quantization.export import export_model
    from anyppg.quantization.ptq import calibration_windows
    from anyppg.quantization.students import count_parameters, get_spec, save_student

    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    teacher_path = ensure_teacher(Path(args.teacher), Path(args.store))
    encoder = load_teacher(teacher_path)
    spec = get_spec(args.student)
    check_teacher_dim(encoder, str(teacher_path), spec.config.embedding_dim)

    train = store_windows(args.store, "train", args.max_train, seed=args.seed)
    heldout = store_windows(args.store, "test")
    real = real_windows(seed=args.seed)
    log.info("data: %d train, %d held-out, %d unlabelled real windows", len(train), len(heldout), len(real))

    config = DistillConfig(student=args.student, epochs=args.epochs, seed=args.seed)
    result = distill(encoder, train, heldout, config, extra_unlabeled=real if len(real) else None)
    log.info("distilled in %.0f s: %s", result.seconds, json.dumps(result.metrics))
    checkpoint = Path(args.work) / f"{args.student}.pt"
    training_data = {
        "teacher": {
            "checkpoint": _portable(teacher_path),
            "pretraining_step": _checkpoint_step(teacher_path),
            "what": "AnyPPG Net1D PPG encoder, ECG-guided pretraining (demo preset) on simulated PPG+ECG",
            "parameters": count_parameters(encoder),
        },
        "distillation": {
            "labelled": {**train.summary(), "source": f"window store {args.store} (simulated subjects)"},
            "unlabelled_real": real.summary(),
            "config": config.to_dict(),
        },
        "heldout": {**heldout.summary(), "split": "test (subjects not seen in training)"},
        "simulated": True,
        "real": len(real) > 0,
        "note": "labels (HR, AF, quality) are simulated; real recordings enter only the embedding "
        "distillation and the int8 calibration, without labels",
    }
    save_student(
        result.student, checkpoint, args.student, {"training_data": training_data, "metrics": result.metrics}
    )

    teacher_out = predict(result.teacher, heldout.ppg)
    student_out = predict(result.student, heldout.ppg)
    teacher_metrics = downstream_metrics(teacher_out, heldout)
    fp32_metrics = downstream_metrics(student_out, heldout)
    teacher_ms = _teacher_latency_ms(encoder)
    teacher_bytes = 4 * count_parameters(encoder)

    calibration = calibration_windows(args.calibration_windows, seed=args.seed)
    out_dir = Path(args.out)
    report: dict[str, Any] = {
        "student": args.student,
        "teacher": {"latency_ms_median": teacher_ms, "fp32_bytes": teacher_bytes, **teacher_metrics},
        "distillation": result.metrics,
        "artifacts": {},
    }
    for backend, precision in SHIPPED:
        artifact = export_model(
            result.student, args.student, backend, precision, out_dir, calibration,
            training_data=training_data, latency_runs=args.latency_runs, created_by="python -m anyppg.quantization.assets",
        )  # fmt: skip
        q_out = _runtime_outputs(artifact.path, heldout.ppg)
        q_metrics = downstream_metrics(q_out, heldout)
        to_teacher = cosine_rows(q_out["embedding"], teacher_out["embedding"])
        to_fp32 = cosine_rows(q_out["embedding"], student_out["embedding"])
        latency = artifact.card.latency_ms.get("median")
        metrics = {
            "heldout_windows": len(heldout),
            "embedding_cosine_to_teacher_mean": float(to_teacher.mean()),
            "embedding_cosine_to_teacher_p05": float(np.percentile(to_teacher, 5)),
            "embedding_cosine_to_fp32_student_mean": float(to_fp32.mean()),
            "heart_rate_max_abs_diff_to_fp32_bpm": float(
                np.abs(q_out["heart_rate"] - student_out["heart_rate"]).max()
            ),
            "teacher": teacher_metrics,
            "student_fp32": fp32_metrics,
            "student_int8": q_metrics,
            "int8_vs_teacher_worst_relative_change": _worst_change(q_metrics, teacher_metrics),
            "int8_vs_fp32_worst_relative_change": _worst_change(q_metrics, fp32_metrics),
            "speedup_vs_teacher_fp32_eager": teacher_ms / latency if latency else None,
            "size_ratio_teacher_fp32_to_this": teacher_bytes / artifact.card.size_bytes,
            "teacher_fp32_eager_latency_ms": teacher_ms,
            "definitions": {
                "relative_change": "(ref - new)/ref for AUROC, (new - ref)/ref for MAE: > 0 means worse",
                "speedup": "teacher fp32 eager torch median / this file's median, same machine, 1 thread",
            },
        }
        artifact.card.metrics = metrics
        artifact.card.save(artifact.card_path)
        report["artifacts"][artifact.path.name] = {"size_bytes": artifact.card.size_bytes,
                                                   "latency_ms": artifact.card.latency_ms, **metrics}  # fmt: skip
        log.info("%s: %s", artifact.path.name, json.dumps(metrics))
    if args.probe_eval:
        report["linear_probe_eval"] = _probe_eval(args.store, teacher_path, out_dir, args.student)
    report["seconds"] = time.perf_counter() - t_start
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _probe_eval(store: str, teacher: Path, out_dir: Path, student: str) -> dict[str, Any] | None:
    """The evaluation protocol of ``anyppg eval`` (linear probes on frozen embeddings, bootstrap CIs
    over test subjects) for the teacher and the shipped int8 ``.pte``, side by side."""
    from anyppg.errors import AnyPPGError
    from anyppg.trainer.evaluate import checkpoint_embedder, evaluate, model_file_embedder

    pte = out_dir / f"{student}_xnnpack_q8.pte"
    try:
        result = evaluate(store, [checkpoint_embedder(teacher, "teacher"), model_file_embedder(pte, "student_int8")],
                          n_boot=200)  # fmt: skip
    except (AnyPPGError, ImportError) as exc:
        log.warning("linear-probe evaluation skipped: %s", exc)
        return None
    log.info("linear-probe evaluation:\n%s", result.to_markdown())
    return {"markdown": result.to_markdown(), "results": json.loads(result.to_json())}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m anyppg.quantization.assets",
        description="Regenerate the shipped int8 student (.pte + .tflite + model cards) end to end.",
    )
    parser.add_argument(
        "--teacher", default=str(DEFAULT_TEACHER), help="teacher checkpoint (pretrained if missing)"
    )
    parser.add_argument("--store", default=str(DEFAULT_STORE), help="window store (built if missing)")
    parser.add_argument("--student", default="student-s", help="registry name of the student")
    parser.add_argument("--out", default=str(_assets_dir()), help="where the shipped files go")
    parser.add_argument("--work", default="runs/assets", help="student checkpoint and report.json")
    parser.add_argument("--epochs", type=int, default=30, help="distillation epochs")
    parser.add_argument("--max-train", type=int, default=None, help="at most this many labelled windows")
    parser.add_argument("--calibration-windows", type=int, default=256, help="int8 calibration windows")
    parser.add_argument("--latency-runs", type=int, default=200, help="timed runs for the cards' latency")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0, help="seed of everything")
    parser.add_argument(
        "--no-probe-eval", dest="probe_eval", action="store_false", help="skip the `anyppg eval` protocol"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = build(parse_args(argv))
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
