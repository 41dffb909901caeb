"""Where the benchmark scripts put their numbers: ``benchmarks/results/{name}.{json,md}``."""

from __future__ import annotations

import json
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
