"""Build a window store and compare embeddings with linear probes.

Builds a store from the simulator (or any corpus: ``--source wfdb:DIR``, ``npz:DIR``, ...), then fits
ridge / logistic probes on frozen embeddings of the pretrained encoder (if ``--checkpoint`` is given),
the same encoder untrained, and hand-crafted HRV features, and logs the table with 95 % CIs. The
store it writes (``OUT/store``) is what ``examples/distill_and_export.py --store`` reads.

    python examples/prepare_and_eval.py --hours 2 --out runs/example
    python examples/prepare_and_eval.py --checkpoint runs/example/checkpoint.pt --out runs/example
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

log = logging.getLogger("prepare_and_eval")


async def main(args: argparse.Namespace) -> None:
    from anyppg.trainer.cmd_prepare import build_store
    from anyppg.trainer.evaluate import (
        checkpoint_embedder,
        evaluate,
        handcrafted_embedder,
        random_init_embedder,
    )
    from anyppg.trainer.sources import open_source

    store = args.out / "store"
    hours = 1.0 if args.quick else args.hours
    source = open_source(args.source, hours=hours, seed=args.seed)
    index = build_store(
        source, store, seed=args.seed, overwrite=True, fractions={"train": 0.6, "val": 0.2, "test": 0.2}
    )
    log.info("store %s: %s windows, skipped %s", store, index["counts"], index["skipped"] or "none")

    embedders = [handcrafted_embedder()]
    if args.checkpoint is not None:
        embedders = [checkpoint_embedder(args.checkpoint), random_init_embedder(args.checkpoint), *embedders]
    n_boot = 50 if args.quick else args.n_boot
    report = evaluate(
        store, embedders, real=() if args.quick else ("e2epyppg-wrist",), n_boot=n_boot, seed=args.seed
    )
    (args.out / "eval.md").write_text(report.to_markdown())
    (args.out / "eval.json").write_text(report.to_json())
    log.info("linear probes (95 %% CIs):\n%s", report.to_markdown())
    log.info("wrote %s and %s", args.out / "eval.md", args.out / "eval.json")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", default="sim", help="sim, or SCHEME:PATH (wfdb, vitaldb, pulsedb, edf, csv, npz)"
    )
    parser.add_argument("--hours", type=float, default=2.0, help="simulated hours (--source sim)")
    parser.add_argument("--checkpoint", type=Path, help="pretraining checkpoint to evaluate")
    parser.add_argument("--out", type=Path, default=Path("runs/example"), help="output folder")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs")
    parser.add_argument("--seed", type=int, default=0, help="simulation, split and bootstrap seed")
    parser.add_argument("--quick", action="store_true", help="1 simulated hour, 50 resamples, no real data")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(parser.parse_args()))
