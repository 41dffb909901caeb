"""How often :func:`anyppg.check_polarity` (``polarity="auto"``) chooses right on real recordings.

Each recording of the data folder is checked once as stored (its first 2 min, or its first 60
segments for Liu 2022's 10 s segments); the same recording turned over needs no second run, because
the check reads both ways up and its two gains just change sign. The truth is what the readers and
the packaged recordings say (``polarity`` attributes: HUSM from its annotated peaks; BAMI-I from
the measurements in :mod:`anyppg.datasets.wrist`; camera PPG is upside down because the frame
darkens as blood fills the fingertip; BIDMC, MIMIC-DB, TROIKA and Liu 2022 are upright).

Per dataset: how many recordings were checked, how many times the check chose right as stored and
turned over, and the two ways it can be wrong: it **flips** an upright pulse (the harmful one: a
model reading a pulse upside down is far off, docs/sdk.md) or **keeps** an upside-down one (the
analysis is then what it is without the check).

Usage::

    python benchmarks/bench_polarity.py --data ../shared/data        # about 4 min on 2 cores

Writes ``benchmarks/results/polarity.{json,md}`` (``--out`` elsewhere).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_real import finite_parts
from results_io import data_model_args, run_info, write_results

from anyppg.sdk.analyze import AUTO_POLARITY_S, AUTO_QUALITY_GAIN, check_polarity, resolve_model
from anyppg.sdk.polarity import polarity_choice

log = logging.getLogger("bench_polarity")


def recordings(root: Path) -> Iterator[tuple[str, str, np.ndarray, float, str]]:
    """``(dataset, record, ppg as stored, rate, truth)``: one PPG channel (or a batch of segments)
    per recording, the first stretch without a long gap that is at least 30 s long."""
    from anyppg import datasets
    from anyppg import recordings as packaged

    def first_part(x: np.ndarray, fs: float) -> np.ndarray | None:
        for a, b in finite_parts(x, fs):
            if b - a >= 30 * fs:
                return x[a : min(b, a + round((AUTO_POLARITY_S + 10) * fs))]  # the check takes its windows
        return None

    found = datasets.available(root)
    for name in ("bidmc", "mimicdb"):
        if name in found:
            for r in datasets.read(name, root):
                yield name, r.record, first_part(np.asarray(r.ppg, float), r.ppg_fs), r.ppg_fs, "normal"
    for name in ("troika", "bami"):
        if name in found:
            for r in datasets.read(name, root):
                yield name, r.record, first_part(np.asarray(r.ppg[0], float), r.fs), r.fs, r.polarity
    if "husm" in found:
        for r in datasets.read("husm", root):
            ir = np.asarray(r.ppg[r.channels.index("ir")], float)
            yield "husm", r.record, ir, r.fs, r.polarity
    if "welltory" in found:
        for r in datasets.read("welltory", root):
            yield "welltory (camera)", r.record, np.asarray(r.ppg_rgb[0], float), r.fs, "inverted"
    if "liu" in found:
        for r in datasets.read("liu", root):  # one batch of 10 s segments per patient
            yield "liu (segments)", r.record, np.asarray(r.segments, float), r.fs, "normal"
    for info in packaged.list_recordings():
        if info.kind == "ppg" and info.available and info.excerpt_of is None:
            rec = packaged.load(info.name)
            yield (
                "packaged",
                info.name,
                first_part(np.asarray(rec.ppg, float), rec.ppg_fs),
                rec.ppg_fs,
                info.polarity,
            )


def run(root: Path, model: Any) -> dict[str, Any]:
    """Check every recording; the per-recording rows and the per-dataset counts."""
    rows = []
    for dataset, record, ppg, fs, truth in recordings(root):
        if ppg is None:
            log.info("%s %s: no 30 s without a long gap, skipped", dataset, record)
            continue
        check = check_polarity(ppg, fs, model=model)
        # turned over, the check reads the same two ways: its gains change sign
        turned = polarity_choice(-check.quality_gain, -check.quality_head_gain)
        other = "normal" if truth == "inverted" else "inverted"
        rows.append(
            {
                "dataset": dataset,
                "record": record,
                "truth": truth,
                "as_stored": check.polarity,
                "turned_over": turned,
                "right_as_stored": check.polarity == truth,
                "right_turned_over": turned == other,
                "quality_gain": round(check.quality_gain, 4),
                "quality_head_gain": round(check.quality_head_gain, 3),
                "windows": check.windows,
            }
        )
        log.info("%s %s: %s (truth %s)", dataset, record, check, truth)
    return {"recordings": rows, "datasets": summarise(rows)}


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per dataset (in order of appearance) and overall: counts of right and wrong choices.

    Every recording counts twice, as stored and turned over: an upright copy the check flips is a
    ``flipped upright``, an upside-down copy it keeps a ``kept upside down``."""
    out = []
    names = list(dict.fromkeys(r["dataset"] for r in rows))
    for name in [*names, "all"]:
        rs = [r for r in rows if name in ("all", r["dataset"])]
        upright = [r["as_stored"] for r in rs if r["truth"] == "normal"]
        upright += [r["turned_over"] for r in rs if r["truth"] == "inverted"]
        upside_down = [r["as_stored"] for r in rs if r["truth"] == "inverted"]
        upside_down += [r["turned_over"] for r in rs if r["truth"] == "normal"]
        out.append(
            {
                "dataset": name,
                "recordings": len(rs),
                "stored_upside_down": sum(r["truth"] == "inverted" for r in rs),
                "right_as_stored": sum(r["right_as_stored"] for r in rs),
                "right_turned_over": sum(r["right_turned_over"] for r in rs),
                "upright_copies": len(upright),
                "flipped_upright": sum(p == "inverted" for p in upright),
                "upside_down_copies": len(upside_down),
                "kept_upside_down": sum(p == "normal" for p in upside_down),
            }
        )
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Polarity check on real recordings",
        "",
        f"`{result['command']}`: {result['seconds']} s; model `{result['model']}`. Each recording is"
        " checked as stored and turned over (the same run, its gains negated); the first 2 min of a"
        " recording, the first 60 segments of a Liu 2022 patient. Choose `inverted` only where the"
        f" quality index gains more than {AUTO_QUALITY_GAIN:g} and the quality head's logit gains at all.",
        "",
        "| dataset | recordings (stored upside down) | right as stored | right turned over"
        " | upright copies flipped (harmful) | upside-down copies kept |",
        "|---|---|---|---|---|---|",
    ]
    for d in result["datasets"]:
        lines.append(
            f"| {d['dataset']} | {d['recordings']} ({d['stored_upside_down']}) | {d['right_as_stored']}"
            f" | {d['right_turned_over']} | {d['flipped_upright']} of {d['upright_copies']}"
            f" | {d['kept_upside_down']} of {d['upside_down_copies']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = data_model_args(__doc__, "polarity", "the datasets", argv)
    t0 = time.perf_counter()
    model = resolve_model(args.model)
    result = run(Path(args.data), model)
    result.update(run_info("bench_polarity", args.model, model, t0))
    print(write_results(args.out, "polarity", result, markdown(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
