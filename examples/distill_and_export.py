"""Distil a teacher into a student, quantize it to int8 and export it to ExecuTorch and LiteRT.

The whole path of ``anyppg distill`` + ``anyppg export`` through the Python API, on a small budget:

    python examples/distill_and_export.py --teacher runs/demo/checkpoint.pt --out runs/example

``--teacher`` takes an anyppg pretraining checkpoint (``anyppg pretrain``) or an official AnyPPG PPG
encoder file. Without ``--store`` the labelled windows come from the simulator; unlabelled windows of
the real recordings installed on this machine join the embedding distillation and the calibration.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger("distill_and_export")


def main(args: argparse.Namespace) -> None:
    import torch

    from anyppg.quantization.distill import (
        DistillConfig,
        distill,
        load_teacher,
        real_windows,
        simulated_windows,
        store_windows,
    )
    from anyppg.quantization.export import export_model, run_tflite
    from anyppg.quantization.ptq import calibration_windows
    from anyppg.quantization.students import save_student

    torch.set_num_threads(args.threads)
    teacher = load_teacher(args.teacher)
    if args.store:
        train, heldout = store_windows(args.store, "train"), store_windows(args.store, "test")
    else:
        train, heldout = simulated_windows(args.windows, seed=0), simulated_windows(200, seed=1)
    real = real_windows()
    log.info("%d labelled + %d unlabelled real windows; %d held out", len(train), len(real), len(heldout))

    result = distill(
        teacher, train, heldout, DistillConfig(student=args.student, epochs=args.epochs), extra_unlabeled=real
    )
    log.info("held-out teacher vs student: %s", json.dumps(result.metrics, indent=2))
    out = Path(args.out)
    save_student(result.student, out / f"{args.student}.pt", args.student, {"metrics": result.metrics})

    calibration = calibration_windows(256)
    for backend in ("xnnpack", "litert"):
        artifact = export_model(
            result.student, args.student, backend, "q8", out, calibration, metrics=result.metrics
        )
        log.info("%s: %d bytes, median %.3f ms", artifact.path, artifact.card.size_bytes,
                 artifact.card.latency_ms["median"])  # fmt: skip

    # The .tflite takes float input and returns float outputs here: run_tflite applies the int8
    # input/output scales recorded in the file.
    _embedding, heart_rate, quality, af = run_tflite(
        out / f"{args.student}_litert_q8.tflite", heldout.ppg[:1, None, :]
    )
    log.info("first held-out window: HR %.1f bpm (label %.1f), quality logit %.2f, AF logit %.2f",
             heart_rate[0, 0], heldout.hr[0], quality[0, 0], af[0, 0])  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default="runs/demo/checkpoint.pt", help="teacher checkpoint")
    parser.add_argument("--store", help="window store from `anyppg prepare` (default: simulated windows)")
    parser.add_argument("--student", default="student-s", choices=("student-s", "student-xs"))
    parser.add_argument("--epochs", type=int, default=10, help="distillation epochs")
    parser.add_argument("--windows", type=int, default=600, help="simulated labelled windows without --store")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", default="runs/example", help="output folder")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    main(parser.parse_args())
