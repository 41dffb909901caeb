"""Pretrain a PPG encoder guided by ECG, then embed a PPG window with it.

Runs the tiny ``debug`` preset by default (seconds on a laptop); ``--preset demo`` is the full two-stage
pipeline on simulated data (~15 min on 2 CPU cores). For several GPUs use torchrun, see docs/training.md.

    python examples/pretrain.py --preset debug --out runs/example
"""

from __future__ import annotations

import argparse
import logging

import torch

from anyppg.trainer.checkpoints import load_ppg_encoder
from anyppg.trainer.config import PRESETS, preset
from anyppg.trainer.demo_data import ensure_demo_store
from anyppg.trainer.pretrain import pretrain

log = logging.getLogger("pretrain")


def main(args: argparse.Namespace) -> None:
    cfg = preset(args.preset)
    cfg.train.out_dir = args.out
    if args.steps:
        cfg.train.steps = args.steps
    if cfg.name == "demo":
        ensure_demo_store(cfg.data.store)
    result = pretrain(cfg)
    log.info("stage 2 loss %.3f -> %.3f after %d steps", result.losses[0], result.losses[-1], result.step)
    log.info("validation: %s", result.metrics.get("val"))

    encoder = load_ppg_encoder(result.out_dir / "checkpoint.pt")  # (B, 1, 1250) at 125 Hz -> (B, C)
    with torch.no_grad():
        embedding = encoder(torch.randn(1, 1, 1250))
    log.info(
        "teacher checkpoint %s gives a %d-d embedding", result.out_dir / "checkpoint.pt", embedding.shape[1]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="debug")
    parser.add_argument("--out", default="runs/example")
    parser.add_argument("--steps", type=int, help="override the preset's stage 2 steps")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    main(parser.parse_args())
