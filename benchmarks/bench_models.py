"""Benchmark the teacher and every student format; write benchmarks/results/models.{json,md}.

    python benchmarks/bench_models.py                      # all models, 1 and 2 threads, 200 runs
    python benchmarks/bench_models.py --models student-s --runs 500

The numbers depend on the machine and on what else runs on it: compare ratios from one run, not
absolute times across runs. See docs/benchmarks.md for the measured table and how to read it.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from anyppg.quantization.bench import DEFAULT_MODELS, ratios, run_benchmark, to_markdown

log = logging.getLogger("bench_models")
RESULTS = Path(__file__).resolve().parent / "results"


def main(args: argparse.Namespace) -> None:
    report = run_benchmark(
        args.models,
        threads=args.threads,
        runs=args.runs,
        warmup=args.warmup,
        artifacts_dir=args.artifacts,
        progress=log.info,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    data = report.to_dict()
    data["ratios_vs_teacher_fp32_eager"] = ratios(report)
    (args.out / "models.json").write_text(json.dumps(data, indent=1) + "\n")
    (args.out / "models.md").write_text(to_markdown(report))
    log.info("wrote %s and %s", args.out / "models.json", args.out / "models.md")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--artifacts", type=Path, default=None, help="model files dir (default: temp dir)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results dir (benchmarks/results)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    main(parser.parse_args())
