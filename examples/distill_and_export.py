"""Distil a teacher into a student, quantize it to int8 and export it to ExecuTorch and LiteRT.

The whole path of ``anyppg distill`` + ``anyppg export`` through the Python API, after
``examples/pretrain.py`` (which writes a 512-d teacher) and ``examples/prepare_and_eval.py`` (a store):

    python examples/distill_and_export.py --teacher runs/example/checkpoint.pt --store runs/example/store \\
        --out runs/example
    python examples/benchmark_models.py runs/example/student-s_litert_q8.tflite

``--teacher`` takes an anyppg pretraining checkpoint or an official AnyPPG PPG encoder file; its
embedding width must be the students' (512), which is checked before any other work. Without
``--store`` the labelled windows come from the simulator; unlabelled windows of the real recordings
installed on this machine join the embedding distillation and the calibration. ``--quick`` is the
smallest run that still exercises every step (one epoch, few windows).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from pathlib import Path

log = logging.getLogger("distill_and_export")


async def main(args: argparse.Namespace) -> None:
    import torch

    from anyppg.quantization.distill import (
        DistillConfig,
        check_teacher_dim,
        distill,
        load_teacher,
        real_windows,
        simulated_windows,
        store_windows,
    )
    from anyppg.quantization.export import export_model, run_tflite
    from anyppg.quantization.ptq import calibration_windows
    from anyppg.quantization.students import get_spec, save_student

    torch.set_num_threads(args.threads)
    teacher = load_teacher(args.teacher)
    check_teacher_dim(teacher, args.teacher, get_spec(args.student).config.embedding_dim)  # at once
    limit = 64 if args.quick else None
    if args.store:
        train = store_windows(args.store, "train", limit)
        heldout = store_windows(args.store, "test", limit)
    else:
        n_train, n_heldout = (64, 32) if args.quick else (args.windows, 200)
        train, heldout = simulated_windows(n_train, seed=0), simulated_windows(n_heldout, seed=1)
    real = real_windows(max_per_recording=8 if args.quick else 200)
    log.info("%d labelled + %d unlabelled real windows; %d held out", len(train), len(real), len(heldout))

    epochs = 1 if args.quick else args.epochs
    result = distill(
        teacher, train, heldout, DistillConfig(student=args.student, epochs=epochs), extra_unlabeled=real
    )
    log.info("held-out teacher vs student: %s", json.dumps(result.metrics, indent=2))
    out = Path(args.out)
    save_student(result.student, out / f"{args.student}.pt", args.student, {"metrics": result.metrics})

    calibration = calibration_windows(32 if args.quick else 256)
    for backend in ("xnnpack", "litert"):  # .pte and .tflite, int8 (file names say q8)
        artifact = export_model(
            result.student,
            args.student,
            backend,
            "q8",
            out,
            calibration,
            metrics=result.metrics,
            latency_runs=5 if args.quick else 50,
        )
        log.info("%s: %d bytes, median %.3f ms", artifact.path, artifact.card.size_bytes,
                 artifact.card.latency_ms["median"])  # fmt: skip

    # The .tflite takes float input and returns float outputs here: run_tflite applies the int8
    # input/output scales recorded in the file.
    _embedding, heart_rate, quality, af, _rhythm = run_tflite(
        out / f"{args.student}_litert_q8.tflite", heldout.ppg[:1, None, :]
    )
    log.info("first held-out window: HR %.1f bpm (label %.1f), quality logit %.2f, AF logit %.2f",
             heart_rate[0, 0], heldout.hr[0], quality[0, 0], af[0, 0])  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default="runs/example/checkpoint.pt", help="teacher checkpoint")
    parser.add_argument("--store", help="window store from `anyppg prepare` (default: simulated windows)")
    parser.add_argument("--student", default="student-s", choices=("student-s", "student-xs"))
    parser.add_argument("--epochs", type=int, default=10, help="distillation epochs")
    parser.add_argument("--windows", type=int, default=600, help="simulated labelled windows without --store")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", default="runs/example", help="output folder")
    parser.add_argument("--quick", action="store_true", help="one epoch on few windows (pipeline check)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(parser.parse_args()))
