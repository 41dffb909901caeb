"""``anyppg eval``: linear-probe evaluation of frozen embeddings (see :mod:`anyppg.trainer.evaluate`).

Examples::

    anyppg prepare --source sim --hours 4 --seed 123 --split 0.6,0.2,0.2 --out runs/eval-store
    anyppg eval --store runs/eval-store --checkpoint runs/demo/checkpoint.pt --out runs/eval
    anyppg eval --store runs/eval-store --model student-s_xnnpack_q8.pte --no-random-init
    anyppg eval --store runs/eval-store --embedder mine=my_package.embed:embed_windows --json
    anyppg eval --preset real --data ../shared/data --checkpoint runs/real-teacher/checkpoint.pt --out runs/real-eval
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        choices=("store", "real"),
        default="store",
        help="store: probes on --store's splits (default); real: retrieval + probes on the real held-out "
        "subjects of --data (BIDMC, MIMIC-DB, TROIKA; AF on Liu 2022), needs --checkpoint",
    )
    parser.add_argument(
        "--store", type=Path, help="window store (anyppg prepare); real: default runs/real/store"
    )
    parser.add_argument("--data", type=Path, help="real-data folder (preset real; default $ANYPPG_DATA)")
    parser.add_argument("--checkpoint", type=Path, help="pretraining checkpoint or official AnyPPG file")
    parser.add_argument(
        "--model", type=Path, action="append", default=[], help="deployed .pte/.tflite model (repeatable)"
    )
    parser.add_argument(
        "--embedder",
        action="append",
        default=[],
        metavar="NAME=MODULE:CALLABLE",
        help="any function mapping (N, 1250) float32 windows to (N, D) embeddings (repeatable)",
    )
    parser.add_argument("--no-random-init", action="store_true", help="skip the untrained-encoder baseline")
    parser.add_argument(
        "--no-handcrafted", action="store_true", help="skip the hand-crafted-feature baseline"
    )
    parser.add_argument(
        "--real",
        default="e2epyppg-wrist,vitaldsp-pleth",
        help="packaged recordings with a device HR for the sim-to-real HR test ('' for none)",
    )
    parser.add_argument("--tasks", default="hr,af,quality", help="store tasks (default hr,af,quality)")
    parser.add_argument("--max-windows", type=int, default=4000, help="windows per split (seeded subset)")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the 95%% CIs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="folder for eval.json and eval.md")
    parser.add_argument(
        "--plot", type=Path, metavar="PNG", help="write a bar chart of the probe results with their 95%% CIs"
    )


def _import_callable(spec: str):
    name, sep, target = spec.partition("=")
    module, colon, attr = target.partition(":")
    if not sep or not colon or not name:
        raise argparse.ArgumentTypeError(f"--embedder expects NAME=MODULE:CALLABLE; got {spec!r}")
    return name, getattr(importlib.import_module(module), attr)


def run(args: argparse.Namespace) -> int:
    import torch

    from anyppg.cli import UsageError

    if args.preset == "real":
        return _run_real(args)
    if args.store is None:
        raise UsageError("anyppg eval", "--store is required (or use --preset real --data DIR)")
    from anyppg.trainer.evaluate import (
        Embedder,
        checkpoint_embedder,
        evaluate,
        handcrafted_embedder,
        model_file_embedder,
        random_init_embedder,
    )

    if args.plot is not None:  # a missing matplotlib fails now, not after the probes
        from anyppg.plotting import pyplot

        pyplot()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    embedders = []
    if args.checkpoint is not None:
        embedders.append(checkpoint_embedder(args.checkpoint))
    if not args.no_random_init:
        embedders.append(random_init_embedder(args.checkpoint, seed=args.seed))
    for path in args.model:
        embedders.append(model_file_embedder(path))
    for spec in args.embedder:
        try:
            name, fn = _import_callable(spec)
        except (ImportError, AttributeError, argparse.ArgumentTypeError) as exc:
            raise UsageError("anyppg eval", f"cannot use --embedder {spec!r}: {exc}") from exc
        embedders.append(Embedder(name, fn, f"{spec.partition('=')[2]}"))
    if not args.no_handcrafted:
        embedders.append(handcrafted_embedder())
    if not embedders:
        raise UsageError("anyppg eval", "nothing to evaluate (give --checkpoint, --model or --embedder)")
    if args.checkpoint is None:
        log.warning("no --checkpoint: evaluating baselines only")
    report = evaluate(
        args.store,
        embedders,
        tasks=[t for t in args.tasks.split(",") if t],
        real=[r for r in args.real.split(",") if r],
        max_windows=args.max_windows,
        n_boot=args.n_boot,
        seed=args.seed,
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "eval.json").write_text(report.to_json() + "\n")
        (args.out / "eval.md").write_text(report.to_markdown())
    if args.plot is not None:
        from anyppg.trainer.eval_plot import plot_eval

        plot_eval(report, args.plot)
    if args.json:
        print(json.dumps(report.to_dict(), default=float))
    else:
        print(report.to_markdown(), end="")
    return 0


def _run_real(args: argparse.Namespace) -> int:
    """``--preset real``: retrieval and probes on the fixed held-out real subjects."""
    import torch

    from anyppg.cli import UsageError
    from anyppg.trainer.config import preset
    from anyppg.trainer.real_corpus import ensure_real_store
    from anyppg.trainer.real_eval import evaluate_real, write_report

    if args.checkpoint is None:
        raise UsageError(
            "anyppg eval", "--preset real needs --checkpoint (from anyppg pretrain --preset real)"
        )
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cfg = preset("real")
    if args.store is not None:
        cfg.data.store = str(args.store)
    cfg.data.real_data = None if args.data is None else str(args.data)
    ensure_real_store(cfg)
    report = evaluate_real(
        args.checkpoint,
        cfg.data.store,
        cfg.data.real_data,
        max_windows=args.max_windows,
        n_boot=args.n_boot,
        seed=args.seed,
    )
    if args.out is not None:
        write_report(report, args.out)
    if args.json:
        print(json.dumps(report.to_dict(), default=float))
    else:
        print(report.to_markdown(), end="")
    return 0
