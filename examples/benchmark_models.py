"""Benchmark deployed models: time a .tflite / .pte file with the SDK runtime, or the whole model family.

    python examples/benchmark_models.py runs/example/student-s_litert_q8.tflite --threads 1 2
    python examples/benchmark_models.py --family student-xs        # eager, .pte, .tflite; exports as needed

The first form needs only the SDK (no torch for .tflite); the second needs ``anyppg[train]`` and is the
same as ``anyppg bench student-xs``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

import numpy as np

from anyppg.sdk.runtime import load_model

log = logging.getLogger("benchmark_models")


def time_file(path: str, threads: int, runs: int, warmup: int) -> None:
    t0 = time.perf_counter()
    model = load_model(path, threads=threads)
    load_ms = (time.perf_counter() - t0) * 1e3
    window = np.random.default_rng(0).standard_normal(model.input_shape).astype(np.float32)
    for _ in range(warmup):
        model.run(window)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model.run(window)
        times.append((time.perf_counter() - t0) * 1e3)
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    log.info(
        "%s (%s, %d thread(s)): load %.1f ms, latency p50 %.3f / p90 %.3f / p99 %.3f ms over %d runs",
        model.path.name, model.backend, threads, load_ms, p50, p90, p99, runs,
    )  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    if args.family:
        from anyppg.quantization.bench import run_benchmark, to_markdown

        report = run_benchmark([args.family], threads=args.threads, runs=args.runs, progress=log.info)
        log.info("\n%s", to_markdown(report))
        return
    for path in args.files:
        for n in args.threads:
            time_file(path, n, args.runs, args.warmup)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help=".tflite / .pte files")
    parser.add_argument(
        "--family", help="benchmark a registry model in every format (teacher, student-s, ...)"
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="thread counts (default 1)")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per file and thread count")
    parser.add_argument("--warmup", type=int, default=20, help="untimed warm-up runs")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ns = parser.parse_args()
    if not ns.files and not ns.family:
        parser.error("give model files or --family NAME")
    asyncio.run(main(ns))
