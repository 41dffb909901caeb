"""Pretrain a PPG encoder guided by ECG, then embed a PPG window with it: the teacher for distillation.

Runs the two-stage ``demo`` preset by default: the real AnyPPG PPG encoder (512-d embeddings, what the
students of ``examples/distill_and_export.py`` distil from) on a simulated window store. ``--quick``
keeps that encoder but trains a few steps on a small store (under a minute on 2 CPU cores: a pipeline
check, not a useful model). ``--preset debug`` is a tiny 32-d encoder for seconds-long experiments; it
cannot be distilled into the 512-d students. For several GPUs use torchrun, see docs/training.md.

    python examples/pretrain.py --out runs/example                 # demo preset (minutes; see docs/training.md)
    python examples/pretrain.py --quick --out runs/example         # the same pipeline, a few steps
    python examples/distill_and_export.py --teacher runs/example/checkpoint.pt --out runs/example
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

log = logging.getLogger("pretrain")

QUICK_STORE_HOURS = 0.5
"""Simulated hours of the ``--quick`` store: ~130 training windows, built in about a second."""


async def main(args: argparse.Namespace) -> None:
    import torch

    from anyppg.trainer.checkpoints import load_ppg_encoder
    from anyppg.trainer.config import preset
    from anyppg.trainer.demo_data import ensure_demo_store
    from anyppg.trainer.pretrain import pretrain

    cfg = preset(args.preset)
    cfg.train.out_dir = str(args.out)
    if args.quick:
        cfg.train.steps, cfg.train.batch_size, cfg.ecg_stage.steps = 2, 4, 2
        cfg.train.progress = False
        if cfg.name == "demo" and args.store is None:
            cfg.data.store = str(ensure_demo_store(Path(args.out) / "store", hours=QUICK_STORE_HOURS))
    if args.store is not None:
        cfg.data.store = str(args.store)
    if args.steps:
        cfg.train.steps = args.steps
    if cfg.name == "demo" and args.store is None and not args.quick:
        ensure_demo_store(cfg.data.store)
    result = pretrain(cfg)
    log.info("stage 2 loss %.3f -> %.3f after %d steps", result.losses[0], result.losses[-1], result.step)
    log.info("validation: %s", result.metrics.get("val"))

    checkpoint = result.out_dir / "checkpoint.pt"
    encoder = load_ppg_encoder(checkpoint)  # (B, 1, 1250) at 125 Hz -> (B, D)
    with torch.no_grad():
        embedding = encoder(torch.randn(1, 1, 1250))
    log.info("teacher checkpoint %s gives a %d-d embedding", checkpoint, embedding.shape[1])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset", choices=("debug", "demo", "anyppg"), default="demo", help="recipe (default demo: 512-d)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/example"), help="output folder")
    parser.add_argument(
        "--store", type=Path, help="window store from `anyppg prepare` (default: the preset's)"
    )
    parser.add_argument("--steps", type=int, help="override the preset's stage 2 steps")
    parser.add_argument("--quick", action="store_true", help="a few steps on a small store (pipeline check)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(parser.parse_args()))
