"""``anyppg bench``: latency, size, MACs and memory of the teacher and students in every format.

    anyppg bench                                  # teacher, student-s, student-xs at 1 and 2 threads
    anyppg bench student-s --threads 1 --json     # one JSON object on stdout
    anyppg bench --markdown docs/table.md --artifacts build/models

Progress goes to stderr; the result (a markdown table, or ``--json``) to stdout. Latency is timed in
interleaved rounds in one process (every case once per round, in a shuffled order), as wall time and
as process CPU time per call (``cpu_ms``: what a busy machine does not inflate); ratios are against the
teacher fp32 eager at the same thread count.
"""

from __future__ import annotations

import argparse
import json
import logging

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from anyppg.cli_options import add_deprecated_option, add_format_option, add_precision_option

    parser.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help="teacher, student-s, student-xs (default: all three)",
    )
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 2], metavar="N", help="thread counts (default: 1 2)"
    )
    parser.add_argument("--runs", type=int, default=200, help="timed runs per case and thread count (200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed warm-up runs (20)")
    add_format_option(
        parser,
        choices=("eager", "pte", "tflite"),
        default=("eager", "pte", "tflite"),
        help="formats to measure: eager, pte, tflite (default: all)",
    )
    add_precision_option(
        parser,
        default=("fp32", "int8"),
        help="precisions of pte/tflite: fp32, int8 (default both; eager is fp32)",
    )
    parser.add_argument(
        "--artifacts",
        metavar="DIR",
        help="where to find {model}_{backend}_{fp32|q8} files and export missing ones (default: a temp dir)",
    )
    parser.add_argument("--markdown", metavar="PATH", help="also write the markdown table to PATH")
    parser.add_argument("--out", metavar="PATH", help="also write the JSON report to PATH")
    add_deprecated_option(parser, "--output", "--out", dest="out")


def run(args: argparse.Namespace) -> int:
    from anyppg.logs import native_stderr_to_log
    from anyppg.progress import Progress, progress_enabled
    from anyppg.quantization.bench import DEFAULT_MODELS, run_benchmark, to_markdown

    with native_stderr_to_log(log) as stderr:  # runtimes' and converters' own output: debug log (-vv)
        steps = Progress("bench", enabled=progress_enabled(args), stream=stderr)
        report = run_benchmark(
            args.models or DEFAULT_MODELS,
            threads=args.threads,
            runs=args.runs,
            warmup=args.warmup,
            artifacts_dir=args.artifacts,
            formats=args.format,
            precisions=args.precision,
            progress=steps.step,
        )
    table = to_markdown(report)
    data = report.to_dict()
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
    print(json.dumps(data) if args.json else table)
    return 0
