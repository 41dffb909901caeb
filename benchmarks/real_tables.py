"""The compact results tables of docs/evaluation.md, from ``benchmarks/results/real.json``.

``bench_real.py`` writes one table per dataset (``real.md``); the evaluation page puts the datasets
side by side: heart-rate MAE per method (every labelled window, then the windows with a reliable ECG
reference), quality AUROC per score, and the rhythm scores per model::

    python benchmarks/real_tables.py                       # benchmarks/results/real.json
    python benchmarks/real_tables.py path/to/real.json > tables.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "real.json"
NAMES = {
    "bidmc": "BIDMC",
    "mimicdb": "MIMIC-DB",
    "clinical finger (bidmc + mimicdb)": "clinical finger, pooled",
    "troika": "TROIKA",
    "bami": "BAMI-I",
    "husm": "HUSM",
}
"""Column titles, in column order; a dataset missing from the results is left out."""


def _interval(row: dict[str, Any], nd: int) -> str:
    lo, hi = row["ci"]
    ci = f" [{lo:.{nd}f}, {hi:.{nd}f}]" if lo is not None and hi is not None else ""
    return f"{row['value']:.{nd}f}{ci}"


def _mae(row: dict[str, Any] | None) -> str:
    if row is None or row["value"] is None:
        return "-"
    cell = _interval(row, 2)
    return cell + (f" ({round(100 * row['coverage'])}% of windows)" if row.get("coverage", 1) < 0.995 else "")


def _held(info: dict[str, Any]) -> str:
    return {"unseen": "unseen by every model", "all": "all, some trained on"}.get(
        info.get("subject_source", "held-out"), "held-out"
    )


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def _row(rows: list[dict[str, Any]], method: str, **match: str) -> dict[str, Any] | None:
    return next(
        (r for r in rows if r["method"] == method and all(r.get(k) == v for k, v in match.items())), None
    )


def tables(result: dict[str, Any]) -> str:
    """The markdown of the three tables (heart rate, quality, rhythm)."""
    hr = result["heart_rate"]
    sets = [k for k in NAMES if k in hr]
    title = {k: f"{NAMES[k]} ({len(hr[k]['info']['subjects'])} {_held(hr[k]['info'])})" for k in sets}
    methods = list(dict.fromkeys(r["method"] for k in sets for r in hr[k]["rows"]))
    out = ["### Heart rate: MAE vs ECG (HUSM: its annotated beats), bpm [95 % CI over subjects]", ""]
    out += _table(
        ["method", *(title[k] for k in sets)],
        [[m, *(_mae(_row(hr[k]["rows"], m)) for k in sets)] for m in methods],
    )
    reliable = [k for k in sets if "reliable_reference" in hr[k]]
    if reliable:
        counts = ", ".join(
            f"{NAMES[k]} {hr[k]['reliable_reference']['labelled_windows']} of {hr[k]['labelled_windows']}"
            for k in reliable
        )
        out += ["", "On the windows whose reference is reliable (ECG: `reference_reliable`; HUSM's annotation: "
                f"`annotation_regular`; {counts} windows; the same windows for every method):", ""]  # fmt: skip
        out += _table(
            ["method", *(f"{NAMES[k]}, reliable reference" for k in reliable)],
            [[m, *(_mae(_row(hr[k]["reliable_reference"]["rows"], m)) for k in reliable)] for m in methods],
        )
    out += [
        "",
        "### Quality: AUROC vs heart-rate agreement of the PPG with the ECG (HUSM: annotated beats; training labels) [95 % CI]",
        "",
    ]
    scores = list(dict.fromkeys(r["method"] for k in sets for r in hr[k]["quality"]))
    rows = []
    for m in scores:
        cells = [_row(hr[k]["quality"], m, labels_from="PPG peaks") for k in sets]
        rows.append([m, *(_interval(c, 3) if c and c["value"] is not None else "-" for c in cells)])
    first = [next((r for r in hr[k]["quality"] if r["labels_from"] == "PPG peaks"), None) for k in sets]
    rows.append(
        ["(usable / unusable windows)", *(f"{c['usable']} / {c['unusable']}" if c else "-" for c in first)]
    )
    out += _table(["score", *(NAMES[k] for k in sets)], rows)
    liu = result.get("liu")
    if liu:
        info = liu["info"]
        out += [
            "",
            "### Rhythm (Liu 2022): one 10 s finger segment at 100 Hz, through `anyppg.analyze` [95 % CI]",
            "",
            f"{len(info['subjects'])} held-out patients, {info['segments']} segments, {info['af_segments']} AF.",
            "",
        ]
        models = list(dict.fromkeys(r["method"] for r in liu["rows"]))
        rows = []
        for m in models:
            af, six = _row(liu["rows"], m, task="AF vs rest"), _row(liu["rows"], m, task="six-class")
            rows.append([m, *(_interval(x, 3) if x else "-" for x in (af, six))])
        out += _table(["model", "AF vs rest AUROC", "six-class accuracy"], rows)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else RESULTS
    sys.stdout.write(tables(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
