"""fp32 vs PTQ int8 vs PT2E QAT int8 vs brevitas 4-bit (rounded, and QAT) for one student.

    python benchmarks/bench_qat.py --student student-xs                  # registry weights
    python benchmarks/bench_qat.py --checkpoint student-s.pt --steps 300 # a distilled student

Every int8 variant is measured as the deployed file (``.pte`` through ``anyppg.sdk.runtime``); the
4-bit variants through the numpy integer reference. Fidelity is measured against the fp32 student on
held-out simulated windows: embedding cosine (raw, and after removing the mean embedding, which a
near-constant untrained embedding would otherwise inflate) and heart-rate difference in bpm; the
downstream metrics use the simulator's labels. Writes benchmarks/results/qat_{student}.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import torch

from anyppg.quantization.brevitas_qat import brevitas_qat, extract_integer_model
from anyppg.quantization.distill import downstream_metrics, predict, simulated_windows
from anyppg.quantization.export import lower_to_xnnpack
from anyppg.quantization.qat import QATConfig, convert_qat, lower_qat_to_pte, qat_finetune
from anyppg.quantization.students import build_student, load_student
from anyppg.sdk.runtime import load_model

log = logging.getLogger("bench_qat")
RESULTS = Path(__file__).resolve().parent / "results"
NAMES = ("embedding", "heart_rate", "quality", "af")


def _fidelity(out: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> dict[str, float]:
    a, b = out["embedding"], ref["embedding"]

    def cos(x: np.ndarray, y: np.ndarray) -> float:
        return float(
            np.mean((x * y).sum(1) / np.maximum(np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1), 1e-12))
        )

    mean = b.mean(0, keepdims=True)
    return {
        "cosine_to_fp32": cos(a, b),
        "centered_cosine_to_fp32": cos(a - mean, b - mean),
        "hr_diff_to_fp32_bpm": float(np.mean(np.abs(out["heart_rate"] - ref["heart_rate"]))),
    }


def _run_all(run_one, ppg: np.ndarray) -> dict[str, np.ndarray]:
    rows = [run_one(x[None, None]) for x in ppg]
    return {k: np.concatenate([r[k].reshape(1, -1) for r in rows]) for k in NAMES}


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    if args.checkpoint:
        student, meta = load_student(args.checkpoint)
        name, weights = meta["name"] or args.student, f"checkpoint {Path(args.checkpoint).name}"
    else:
        student, name, weights = (
            build_student(args.student),
            args.student,
            "registry init (seed 0), untrained",
        )
    windows = simulated_windows(args.train + args.eval, seed=0)
    train, held = windows.take(slice(0, args.train)), windows.take(slice(args.train, None))
    x_train = train.ppg[:, None, :]
    fp32 = predict(student.fold_batchnorm(), held.ppg)
    rows = []

    def add(variant: str, out: dict[str, np.ndarray], size: int, note: str = "") -> None:
        row = {
            "variant": variant,
            "size_bytes": size,
            **_fidelity(out, fp32),
            **downstream_metrics(out, held),
        }
        row["note"] = note
        rows.append(row)
        log.info("%s: %s", variant, row)

    n_params = sum(p.numel() for p in student.parameters())
    add("fp32 (eager)", fp32, 4 * n_params, "parameters x 4 bytes")
    with tempfile.TemporaryDirectory() as tmp:
        ptq_bytes, _ = lower_to_xnnpack(student, "q8", calibration=x_train)
        (Path(tmp) / "ptq.pte").write_bytes(ptq_bytes)
        ptq = load_model(Path(tmp) / "ptq.pte")
        add(
            "PTQ int8 .pte",
            _run_all(ptq.run, held.ppg),
            len(ptq_bytes),
            f"calibrated on {args.train} windows",
        )

        # The default (BN statistics frozen from the first step) and the classic late freeze.
        for freeze_bn, label in (
            (0, "PT2E QAT int8 .pte (BN frozen from step 0, default)"),
            (args.steps // 2, "PT2E QAT int8 .pte (BN frozen at half the steps)"),
        ):
            config = QATConfig(steps=args.steps, batch_size=32, lr=args.lr, freeze_bn_step=freeze_bn)
            result = qat_finetune(student, x_train, config=config)
            qat_bytes = lower_qat_to_pte(convert_qat(result, "xnnpack"))
            (Path(tmp) / "qat.pte").write_bytes(qat_bytes)
            qat = load_model(Path(tmp) / "qat.pte")
            note = f"{args.steps} steps, BN frozen at step {result.config.freeze_bn_step}"
            add(label, _run_all(qat.run, held.ppg), len(qat_bytes), note)

    for steps, label in ((0, "brevitas w4a8, rounded (no QAT)"), (args.steps, "brevitas w4a8 QAT")):
        bq = brevitas_qat(student, x_train, weight_bits=4, steps=steps or 1, lr=args.lr if steps else 0.0)
        integer = extract_integer_model(bq.model)
        add(
            label,
            _run_all(integer.run, held.ppg),
            integer.weight_bytes(),
            "numpy integer reference; C header bytes",
        )

    report = {
        "student": name,
        "weights": weights,
        "train_windows": args.train,
        "eval_windows": args.eval,
        "data": "simulated (anyppg.simulator via distill.simulated_windows)",
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"qat_{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [
        f"Student `{name}` ({weights}); {args.train} training / {args.eval} held-out simulated windows.\n",
        "| variant | size (KB) | cosine to fp32 | centred cosine | HR diff to fp32 (bpm) | HR MAE (bpm) | quality AUROC | AF AUROC |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def f(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['size_bytes'] / 1e3:.1f} | {r['cosine_to_fp32']:.5f} | {r['centered_cosine_to_fp32']:.4f} "
            f"| {r['hr_diff_to_fp32_bpm']:.3f} | {f(r['hr_mae_bpm'], '.2f')} | {f(r['quality_auroc'], '.3f')} | {f(r['af_auroc'], '.3f')} |"
        )
    (args.out / f"qat_{name}.md").write_text("\n".join(lines) + "\n")
    log.info("wrote %s", args.out / f"qat_{name}.md")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", default="student-xs")
    parser.add_argument("--checkpoint", type=Path, default=None, help="a distilled student checkpoint")
    parser.add_argument("--train", type=int, default=256)
    parser.add_argument("--eval", type=int, default=128)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--out", type=Path, default=RESULTS)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    main(parser.parse_args())
