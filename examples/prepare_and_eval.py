"""Build a window store and compare embeddings with linear probes.

Builds a store from the simulator (or any corpus: ``--source wfdb:DIR``, ``npz:DIR``, ...), then fits
ridge / logistic probes on frozen embeddings of the pretrained encoder (if ``--checkpoint`` is given),
the same encoder untrained, and hand-crafted HRV features, and prints the table with 95 % CIs.

    python examples/prepare_and_eval.py --hours 2 --out runs/example
    python examples/prepare_and_eval.py --checkpoint runs/demo/checkpoint.pt --out runs/example
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from anyppg.trainer.cmd_prepare import build_store
from anyppg.trainer.evaluate import checkpoint_embedder, evaluate, handcrafted_embedder, random_init_embedder
from anyppg.trainer.sources import open_source

log = logging.getLogger("prepare_and_eval")


def main(args: argparse.Namespace) -> None:
    store = args.out / "store"
    source = open_source(args.source, hours=args.hours, seed=args.seed)
    index = build_store(
        source, store, seed=args.seed, overwrite=True, fractions={"train": 0.6, "val": 0.2, "test": 0.2}
    )
    log.info("store %s: %s windows, skipped %s", store, index["counts"], index["skipped"] or "none")

    embedders = [handcrafted_embedder()]
    if args.checkpoint is not None:
        embedders = [checkpoint_embedder(args.checkpoint), random_init_embedder(args.checkpoint), *embedders]
    report = evaluate(store, embedders, n_boot=args.n_boot, seed=args.seed)
    (args.out / "eval.md").write_text(report.to_markdown())
    (args.out / "eval.json").write_text(report.to_json())
    log.info("wrote %s and %s", args.out / "eval.md", args.out / "eval.json")
    print(report.to_markdown())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", default="sim", help="sim, or SCHEME:PATH (wfdb, vitaldb, pulsedb, edf, csv, npz)"
    )
    parser.add_argument("--hours", type=float, default=2.0, help="simulated hours (--source sim)")
    parser.add_argument("--checkpoint", type=Path, help="pretraining checkpoint to evaluate")
    parser.add_argument("--out", type=Path, default=Path("runs/example"))
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main(parser.parse_args())
