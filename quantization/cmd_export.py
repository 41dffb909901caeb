"""``anyppg export``: quantize a distilled student and export it to ``.pte`` / ``.tflite`` with model cards."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE_BACKEND = {"pte": "xnnpack", "tflite": "litert"}
"""``--format`` -> the backend in artefact names (``{model}_{backend}_{fp32|q8}``)."""
FILE_PRECISION = {"fp32": "fp32", "int8": "q8"}
"""``--precision`` -> the precision in artefact names (they keep ``q8``)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from anyppg.cli_options import add_format_option, add_precision_option

    parser.add_argument("checkpoint", help="student checkpoint written by `anyppg distill`")
    parser.add_argument("--out", default="runs/export", help="output folder (default: runs/export)")
    add_format_option(
        parser,
        choices=("pte", "tflite"),
        default=("pte", "tflite"),
        help="pte (ExecuTorch, XNNPACK) and/or tflite (LiteRT); default both",
        old_backend=True,
    )
    add_precision_option(parser, default=("fp32", "int8"), help="fp32 and/or int8 (default both)")
    parser.add_argument(
        "--calibration-windows", type=int, default=256, help="int8 calibration windows (real + simulated)"
    )
    parser.add_argument(
        "--latency-runs", type=int, default=50, help="timed runs for the card's latency (0: skip)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration windows")
    parser.add_argument(
        "--data",
        default=None,
        help="data folder (or $ANYPPG_DATA): score each exported file on the held-out subjects",
    )
    parser.add_argument(
        "--work", default="runs/assets", help="where the labelled-window cache is kept (runs/assets)"
    )


def _file_metrics(args: argparse.Namespace, held: Any) -> dict[str, Any]:
    """Placeholder metrics until the file is scored; without data the card says it was not scored."""
    if held is not None:
        return {}
    return {"scored_file": None, "note": "not scored: pass --data (or set ANYPPG_DATA) to score this file"}


def run(args: argparse.Namespace) -> int:
    from anyppg.logs import native_stderr_to_log
    from anyppg.progress import Progress, progress_enabled
    from anyppg.quantization.assets import heldout_windows, score_file
    from anyppg.quantization.export import export_model
    from anyppg.quantization.ptq import calibration_windows
    from anyppg.quantization.students import load_student

    progress = Progress("export", enabled=progress_enabled(args))
    model, meta = load_student(args.checkpoint)
    name = meta["name"] or "student"
    extra = meta["extra"]
    calibration = None
    if "int8" in args.precision:
        progress.step(f"collecting {args.calibration_windows} int8 calibration windows")
        calibration = calibration_windows(args.calibration_windows, seed=args.seed)
    held = None
    if args.data or os.environ.get("ANYPPG_DATA"):
        progress.step("reading the held-out subjects' labelled windows")
        held = heldout_windows(args.data, Path(args.work), args.seed)
    jobs = [(f, p) for f in args.format for p in args.precision]
    artifacts = []
    for i, (fmt, precision) in enumerate(jobs, 1):
        what = "quantizing (calibrate, convert) and lowering" if precision == "int8" else "lowering"
        target = "ExecuTorch/XNNPACK" if fmt == "pte" else "LiteRT"
        progress.step(f"[{i}/{len(jobs)}] {name} .{fmt} {precision}: {what} to {target}")
        with native_stderr_to_log(log):  # converters' banners and MLIR stages: debug log (-vv)
            artifact = export_model(
                model,
                name,
                FILE_BACKEND[fmt],
                FILE_PRECISION[precision],
                args.out,
                calibration if precision == "int8" else None,
                training_data={
                    **(extra.get("training_data") or {}),
                    # the checkpoint's own (fp32, eager) numbers: never this file's metrics
                    "checkpoint_fp32_metrics": extra.get("metrics", {}),
                },
                metrics=_file_metrics(args, held),
                latency_runs=args.latency_runs,
            )
            if held is not None:  # score the file itself: int8 is scored as int8
                artifact.card.metrics = score_file(artifact.path, held)
                artifact.card.save(artifact.card_path)
        artifacts.append(artifact)
    progress.step(f"done: {len(artifacts)} artefacts in {args.out}")
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
