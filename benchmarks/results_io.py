"""Where the benchmark scripts put their numbers: ``benchmarks/results/{name}.{json,md}``."""

from __future__ import annotations

import json
import time
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
