"""``anyppg export``: quantize a distilled student and export it to ``.pte`` / ``.tflite`` with model cards."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="student checkpoint written by `anyppg distill`")
    parser.add_argument("--out", default="runs/export", help="output folder (default: runs/export)")
    parser.add_argument(
        "--backend", nargs="+", choices=("xnnpack", "litert"), default=["xnnpack", "litert"], help="targets"
    )
    parser.add_argument(
        "--precision", nargs="+", choices=("fp32", "q8"), default=["fp32", "q8"], help="precisions"
    )
    parser.add_argument(
        "--calibration-windows", type=int, default=256, help="int8 calibration windows (real + simulated)"
    )
    parser.add_argument(
        "--latency-runs", type=int, default=50, help="timed runs for the card's latency (0: skip)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration windows")


def run(args: argparse.Namespace) -> int:
    from anyppg.quantization.export import export_model
    from anyppg.quantization.ptq import calibration_windows
    from anyppg.quantization.students import load_student

    model, meta = load_student(args.checkpoint)
    extra = meta["extra"]
    calibration = (
        calibration_windows(args.calibration_windows, seed=args.seed) if "q8" in args.precision else None
    )
    artifacts = []
    for backend in args.backend:
        for precision in args.precision:
            artifact = export_model(
                model,
                meta["name"] or "student",
                backend,
                precision,
                args.out,
                calibration if precision == "q8" else None,
                training_data=extra.get("training_data"),
                metrics={"distillation_heldout": extra.get("metrics", {})},
                latency_runs=args.latency_runs,
            )
            artifacts.append(artifact)
    rows = [
        {
            "path": str(a.path),
            "card": str(a.card_path),
            "size_bytes": a.card.size_bytes,
            "latency_ms_median": a.card.latency_ms.get("median"),
            "xnnpack_fully_delegated": None if a.delegation is None else a.delegation.fully_delegated,
        }
        for a in artifacts
    ]
    if args.json:
        print(json.dumps({"artifacts": rows}))
        return 0
    for row in rows:
        latency = row["latency_ms_median"]
        latency_text = "-" if latency is None else f"{latency:.3f} ms"
        print(f"{row['path']}: {row['size_bytes']:,} bytes, median {latency_text}")
    return 0
