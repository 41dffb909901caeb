"""``anyppg distill``: distil the pretrained teacher (or an official AnyPPG checkpoint) into a student."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

DEFAULT_TEACHER = "runs/demo/checkpoint.pt"
DEFAULT_STORE = "runs/demo/store"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--teacher",
        default=DEFAULT_TEACHER,
        help=f"anyppg pretraining checkpoint or official AnyPPG PPG encoder file (default: {DEFAULT_TEACHER})",
    )
    parser.add_argument(
        "--store",
        help=f"window store from `anyppg prepare` (default: {DEFAULT_STORE} if it exists, else simulated windows)",
    )
    parser.add_argument(
        "--student", default="student-s", help="student from the registry (student-s, student-xs)"
    )
    parser.add_argument(
        "--out", default=None, help="student checkpoint to write (default: runs/distill/<student>.pt)"
    )
    parser.add_argument("--epochs", type=int, default=30, help="passes over the training windows")
    parser.add_argument("--batch-size", type=int, default=64, help="windows per step")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate")
    parser.add_argument("--max-train", type=int, default=None, help="use at most this many training windows")
    parser.add_argument("--max-val", type=int, default=1000, help="held-out windows for the report")
    parser.add_argument(
        "--sim-windows", type=int, default=1500, help="simulated windows when there is no store"
    )
    parser.add_argument("--no-real", action="store_true", help="do not add unlabelled real-recording windows")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of student weights, batches and data subsets"
    )


def _data(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    from anyppg.quantization.distill import WindowSet, real_windows, simulated_windows, store_windows

    store = args.store or (DEFAULT_STORE if Path(DEFAULT_STORE, "index.json").is_file() else None)
    if store is not None:
        train = store_windows(store, "train", args.max_train, seed=args.seed)
        val = store_windows(store, "val", args.max_val, seed=args.seed)
        if len(val) == 0:
            val = store_windows(store, "test", args.max_val, seed=args.seed)
        described = {"store": str(store), "kind": "window store"}
    else:
        n = args.max_train or args.sim_windows
        train = simulated_windows(n, seed=args.seed)
        val = simulated_windows(min(args.max_val, max(n // 4, 16)), seed=args.seed + 10_000)
        described = {"store": None, "kind": "simulated windows (anyppg.simulator, in memory)"}
    real = WindowSet.concat([]) if args.no_real else real_windows(seed=args.seed)
    described.update(
        {
            "train": train.summary(),
            "val": val.summary(),
            "unlabeled_real": real.summary(),
            "simulated": "sim" in train.summary()["by_origin"],
            "real": len(real) > 0,
        }
    )
    return train, val, {"data": described, "real": real}


def run(args: argparse.Namespace) -> int:
    import torch

    from anyppg.progress import Progress, progress_enabled
    from anyppg.quantization.distill import DistillConfig, check_teacher_dim, distill, load_teacher
    from anyppg.quantization.students import get_spec, save_student

    show = progress_enabled(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = get_spec(args.student)
    teacher = load_teacher(args.teacher)
    check_teacher_dim(teacher, args.teacher, spec.config.embedding_dim)  # before any long step
    steps = Progress("distill", enabled=show)
    steps.step("loading training windows" + ("" if args.no_real else " and real recordings"))
    train, val, info = _data(args)
    config = DistillConfig(
        student=args.student, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed
    )
    caching = Progress("distill: teacher embeddings", unit="windows", enabled=show)
    epochs = Progress("distill: epochs", total=args.epochs, unit="epochs", enabled=show)

    def on_embed(done: int, total: int) -> None:
        caching.total = total
        caching.update(done)
        if done == total:
            caching.close()
            epochs.start = time.monotonic()  # the epochs' rate and ETA start after the caching

    def on_epoch(epoch: int, losses: dict[str, float]) -> None:
        epochs.update(epoch, f"loss {losses['loss']:.4f}", force=True)

    result = distill(
        teacher,
        train,
        val,
        config,
        extra_unlabeled=info["real"] or None,
        progress=on_epoch,
        embed_progress=on_embed,
    )
    caching.close()
    epochs.close(f"loss {result.history[-1]['loss']:.4f}" if result.history else "")
    out = Path(args.out or f"runs/distill/{args.student}.pt")
    extra = {
        "teacher": str(args.teacher),
        "config": config.to_dict(),
        "training_data": info["data"],
        "metrics": result.metrics,
        "history": result.history,
        "seconds": result.seconds,
    }
    save_student(result.student, out, args.student, extra)
    report = {
        "model": args.student,
        "checkpoint": str(out),
        "seconds": round(result.seconds, 1),
        **result.metrics,
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(format_report(report))
    return 0


def format_report(report: dict[str, Any]) -> str:
    """The side-by-side teacher / student table printed by ``anyppg distill``."""
    lines = [
        f"student {report['model']} -> {report['checkpoint']} ({report['seconds']} s)",
        f"held-out windows: {report.get('windows')}",
        f"embedding cosine to teacher: mean {report.get('embedding_cosine_mean', float('nan')):.4f}, "
        f"5th percentile {report.get('embedding_cosine_p05', float('nan')):.4f}",
        f"{'metric':18s} {'teacher':>10s} {'student':>10s}",
    ]
    for key in ("hr_mae_bpm", "quality_auroc", "af_auroc"):
        t = report.get("teacher", {}).get(key)
        s = report.get("student", {}).get(key)
        lines.append(f"{key:18s} {_fmt(t):>10s} {_fmt(s):>10s}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
