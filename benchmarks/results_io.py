"""Where the benchmark scripts put their numbers: ``benchmarks/results/{name}.{json,md}``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(out: Path, name: str, result: dict[str, Any], markdown: str) -> str:
    """Write ``out/name.json`` (``result``, indented) and ``out/name.md`` (``markdown``), creating
    ``out``; return the markdown, for the script to print."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{name}.md").write_text(markdown)
    return markdown


def run_info(script: str, model_arg: str, model: Any, t0: float) -> dict[str, Any]:
    """How a data-folder run was made, for its JSON: the command (``DATA`` for the folder, ``--model``
    where not the default), the model file's name and the seconds since ``t0``
    (:func:`time.perf_counter`)."""
    return {
        "command": f"python benchmarks/{script}.py --data DATA"
        + ("" if model_arg == "default" else f" --model {Path(model_arg).name}"),
        "model": Path(str(getattr(model, "path", model_arg))).name,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def data_model_args(
    doc: str,
    name: str,
    holds: str,
    argv: Sequence[str] | None = None,
    more: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The command line of a script run on the data folder with a model: ``--data`` (default
    ``$ANYPPG_DATA``), ``--model`` (default: the shipped int8 student), the arguments ``more`` adds,
    and ``--out`` (for ``name.{json,md}``); logging set up. Without a data folder the parser exits
    with one line saying the folder must hold ``holds``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", type=Path, default=os.environ.get("ANYPPG_DATA"), help="the data folder")
    parser.add_argument(
        "--model", default="default", help="model file or 'default' (the shipped int8 student)"
    )
    if more is not None:
        more(parser)
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"folder for {name}.{{json,md}}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.data is None:
        parser.error(f"--data (or ANYPPG_DATA) is required: the folder holding {holds}")
    return args


def held_out_models_main(
    doc: str,
    script: str,
    name: str,
    holds: str,
    run: Callable[[Path, list[Any], dict[str, set[int]], argparse.Namespace], dict[str, Any]],
    to_markdown: Callable[[dict[str, Any]], str],
    argv: Sequence[str] | None = None,
    more: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """``main`` of a script that scores model files on the held-out subjects their cards name:
    ``--data`` (default ``$ANYPPG_DATA``), ``--models`` (default: the shipped int8 files,
    :func:`bench_real.default_model_paths`), ``--boot``, the arguments ``more`` adds, ``--out``.
    ``run(data, models, held_out, args)`` makes the result; the command (``benchmarks/{script}.py``),
    the machine and the seconds are added, and ``name.{json,md}`` written and the markdown printed."""
    from bench_real import default_model_paths, heldout_from_cards, load_models

    parser = argparse.ArgumentParser(description=doc.split("\n", 1)[0])
    parser.add_argument("--data", default=os.environ.get("ANYPPG_DATA"), help=f"data folder with {holds}")
    parser.add_argument(
        "--models", nargs="*", default=None, help="model files (default: the shipped int8 .tflite)"
    )
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap resamples of patients")
    if more is not None:
        more(parser)
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"folder for {name}.{{json,md}}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.data:
        parser.error(f"--data (or $ANYPPG_DATA) is needed: the folder holding {holds}")
    start = time.perf_counter()
    paths = [Path(p) for p in args.models] if args.models else default_model_paths()
    models = load_models(paths)
    result = run(Path(args.data), models, heldout_from_cards(m.card for m in models), args)
    result = {
        "command": f"python benchmarks/{script}.py --data DATA"
        + (" --models " + " ".join(p.name for p in paths) if args.models else ""),
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores",
        "seconds": round(time.perf_counter() - start, 1),
        **result,
    }
    print(write_results(args.out, name, result, to_markdown(result) + "\n"))
    return 0
