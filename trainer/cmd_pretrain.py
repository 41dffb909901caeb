"""``anyppg pretrain``: ECG-guided pretraining of the PPG encoder (one process, or DDP under torchrun).

Examples::

    anyppg pretrain --preset demo --store runs/store-sim   # 2-core CPU, writes runs/demo/
    anyppg pretrain --preset debug --out runs/dbg # seconds, toy data
    anyppg pretrain --preset real --data ../shared/data  # real PPG+ECG pairs, 1 CPU core, writes runs/real-teacher/
    torchrun --nproc_per_node=8 -m anyppg pretrain --preset anyppg --store /data/store \\
        --ecg-checkpoint ecgfounder.pth
"""

from __future__ import annotations

import argparse
import json
import logging
import os

log = logging.getLogger(__name__)

PRESET_NAMES = ("debug", "demo", "real", "anyppg")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from anyppg.cli_options import add_deprecated_flag

    parser.add_argument("--preset", choices=PRESET_NAMES, default="demo", help="recipe (default: demo)")
    parser.add_argument("--store", help="window store from `anyppg prepare` (default: the preset's)")
    parser.add_argument(
        "--data",
        help="real-data folder with bidmc/, mimicdb/, troika/ (preset real; default $ANYPPG_DATA): "
        "its store is built on first use",
    )
    parser.add_argument("--out", help="output folder for checkpoint, metrics, curve (default: runs/<preset>)")
    parser.add_argument("--steps", type=int, help="stage 2 optimiser steps")
    parser.add_argument("--batch-size", type=int, help="global stage 2 batch (split over ranks)")
    parser.add_argument(
        "--windows-per-subject",
        type=int,
        metavar="K",
        help="stage 2 batches of whole subjects, K windows each (their own subject's other windows are "
        "among each window's negatives); 0: windows drawn uniformly",
    )
    parser.add_argument("--ecg-steps", type=int, help="stage 1 steps (ECG encoder on ECG labels)")
    parser.add_argument(
        "--ecg-checkpoint", help="ECGFounder checkpoint: skip stage 1 and freeze these weights"
    )
    parser.add_argument("--lr", type=float, help="peak AdamW learning rate of stage 2")
    parser.add_argument("--workers", type=int, help="DataLoader workers per rank")
    parser.add_argument("--seed", type=int, help="seed of weights, data order and dropout")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    parser.add_argument("--stop-after", type=int, metavar="STEP", help="end this invocation after STEP")
    add_deprecated_flag(parser, "--no-progress", "--quiet", dest="quiet_cmd")


def build_config(args: argparse.Namespace):  # -> PretrainConfig
    """The preset with the command line's overrides applied."""
    from .config import preset

    cfg = preset(args.preset)
    overrides = {
        ("data", "store"): args.store,
        ("data", "real_data"): getattr(args, "data", None),
        ("train", "out_dir"): args.out,
        ("train", "steps"): args.steps,
        ("train", "batch_size"): args.batch_size,
        ("train", "windows_per_subject"): args.windows_per_subject,
        ("ecg_stage", "steps"): args.ecg_steps,
        ("ecg_stage", "checkpoint"): args.ecg_checkpoint,
        ("optim", "lr"): args.lr,
        ("data", "num_workers"): args.workers,
        ("train", "seed"): args.seed,
    }
    for (section, key), value in overrides.items():
        if value is not None:
            setattr(getattr(cfg, section), key, value)
    if getattr(args, "quiet", False) or getattr(args, "json", False):
        cfg.train.progress = False
    return cfg


def run(args: argparse.Namespace) -> int:
    from .demo_data import ensure_demo_store
    from .distributed import shutdown_distributed
    from .pretrain import pretrain
    from .real_corpus import ensure_real_store

    cfg = build_config(args)
    if cfg.name == "demo" and args.store is None:
        ensure_demo_store(cfg.data.store)
    if cfg.name == "real" and int(os.environ.get("RANK", "0")) == 0:
        ensure_real_store(cfg)
    try:
        result = pretrain(cfg, resume=args.resume, stop_after=args.stop_after)
    finally:
        shutdown_distributed()
    if int(os.environ.get("RANK", "0")) == 0:  # rank 0 alone reports
        summary = {
            "out_dir": str(result.out_dir),
            "checkpoint": str(result.out_dir / "checkpoint.pt"),
            **result.metrics,
        }
        if args.json:
            print(json.dumps(summary))
        else:
            val = result.metrics.get("val", {})
            print(
                f"pretrained {cfg.name}: step {result.step}, loss {result.metrics.get('first_loss') or 0:.3f} -> "
                f"{result.metrics.get('final_loss') or 0:.3f}, val top-1 {val.get('top1_ppg_to_ecg', float('nan')):.3f} "
                f"(chance {val.get('top1_chance', float('nan')):.3f}); checkpoint {summary['checkpoint']}"
            )
    return 0
