"""Saturation detection (``anyppg.signal.clip_fraction``) against coarse converters and real rails.

A cheap sensor or a pulse oximeter's waveform output reads the pulse in few steps, and a pulse read
that way rests on one value at its peaks and troughs: runs of equal samples at the window's extremes,
which a plain plateau test takes for clipping. ``clip_fraction`` counts a plateau only when it looks
cut off (steep sides, or a long run in a finely read window). This benchmark measures both sides on
real recordings: each source (BIDMC finger PPG, TROIKA wrist PPG, the packaged e2epyppg watch
recording) is resampled to 25 / 50 / 100 Hz and re-read in 16-256 converter steps over its range,

- **false flags**: the share of its 10 s windows (2 s hop) flagged, with nothing clamped;
- **recall**: the same signal clamped at a converter code at 85 % of the range; of the windows that
  lose at least 2 % of their samples to the clamp, the share flagged;

for ``clip_fraction`` and for the plain rule it replaced (every run of >= 3 equal samples at the
window's maximum or minimum counts). A window is flagged above ``CLIP_FRACTION`` (1 %).

Usage: ``python benchmarks/bench_clipping.py --data ../shared/data`` (about a minute). Writes
``benchmarks/results/clipping.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from anyppg.signal import clip_fraction, resample, windows
from anyppg.signal.quality import CLIP_FRACTION
from anyppg.signal.runs import true_runs

log = logging.getLogger("bench_clipping")
RESULTS = Path(__file__).resolve().parent / "results"
RATES = (25.0, 50.0, 100.0)
STEPS = (16, 32, 64, 256)
RAIL = 0.85
SECONDS_PER_SOURCE = 300.0


def plain_plateau_fraction(x: np.ndarray) -> float:
    """The rule ``clip_fraction`` replaced: samples in runs of >= 3 equal ones at the window's extremes."""
    lo, hi = x.min(), x.max()
    same = np.concatenate([[False], np.diff(x) == 0]) & ((x == lo) | (x == hi))
    if not same.any():
        return 0.0
    starts, stops = true_runs(same)
    runs = stops - starts + 1
    return float(runs[runs >= 3].sum() / len(x))


def check(sources: Sequence[tuple[str, np.ndarray, float]], rates=RATES, steps=STEPS) -> list[dict[str, Any]]:
    """One row per (rate, steps): false-flag and recall shares of both rules over every source."""
    rows = []
    for rate in rates:
        for n_steps in steps:
            flags = {"clip_fraction": [], "plain": []}
            caught = {"clip_fraction": [], "plain": []}
            for _, x, fs in sources:
                y = resample(x[np.isfinite(x)], fs, rate)
                lo, hi = np.percentile(y, [0.5, 99.5])
                codes = np.round((y - lo) / (hi - lo) * n_steps)  # the converter's output codes
                rail = np.floor(RAIL * n_steps)
                for w in windows(codes, rate):
                    flags["clip_fraction"].append(clip_fraction(w, rate) > CLIP_FRACTION)
                    flags["plain"].append(plain_plateau_fraction(w) > CLIP_FRACTION)
                    if np.mean(w > rail) >= 0.02:  # the clamp really cuts this window
                        clamped = np.minimum(w, rail)
                        caught["clip_fraction"].append(clip_fraction(clamped, rate) > CLIP_FRACTION)
                        caught["plain"].append(plain_plateau_fraction(clamped) > CLIP_FRACTION)
            rows.append(
                {
                    "rate_hz": rate,
                    "steps": n_steps,
                    "windows": len(flags["plain"]),
                    "cut_windows": len(caught["plain"]),
                    **{f"false_flags_{k}": round(float(np.mean(v)), 4) for k, v in flags.items()},
                    **{f"recall_{k}": round(float(np.mean(v)), 4) if v else None for k, v in caught.items()},
                }
            )
    return rows


def sources_from(data: Path) -> list[tuple[str, np.ndarray, float]]:
    """The first 5 min of six BIDMC and six TROIKA recordings, and the packaged watch recording."""
    from anyppg import recordings
    from anyppg.datasets import clinical, wrist

    out = []
    for rec in clinical.read_bidmc(data / "bidmc")[:6]:
        out.append(
            (rec.record, np.asarray(rec.ppg, float)[: round(SECONDS_PER_SOURCE * rec.ppg_fs)], rec.ppg_fs)
        )
    for rec in wrist.read_troika(data / "troika")[:6]:
        ppg = np.asarray(rec.ppg, float).reshape(-1, np.shape(rec.ppg)[-1])[0]
        out.append((rec.record, ppg[: round(SECONDS_PER_SOURCE * rec.fs)], float(rec.fs)))
    watch = recordings.load("e2epyppg-wrist")
    out.append(("e2epyppg-wrist", np.asarray(watch.ppg, float), float(watch.ppg_fs)))
    return out


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Saturation detection: coarse converters and real rails",
        "",
        f"`{report['command']}` ({report['seconds']:.0f} s). Sources: {', '.join(report['sources'])}. "
        f"Each resampled, re-read in N converter steps; recall: clamped at the code at {RAIL:.0%} of the "
        "range, windows losing >= 2 % of their samples. Flagged: more than 1 % of the window clipped.",
        "",
        "| rate | steps | windows | false flags: clip_fraction | plain plateau rule | cut windows | "
        "recall: clip_fraction | plain plateau rule |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['rate_hz']:g} Hz | {r['steps']} | {r['windows']} | {r['false_flags_clip_fraction']:.3f} | "
            f"{r['false_flags_plain']:.3f} | {r['cut_windows']} | {r['recall_clip_fraction']:.3f} | "
            f"{r['recall_plain']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("ANYPPG_DATA"), help="the data folder")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for clipping.{json,md}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.data:
        parser.error("--data DIR (or ANYPPG_DATA) is required")
    t0 = time.perf_counter()
    sources = sources_from(Path(args.data))
    report = {
        "command": "python benchmarks/bench_clipping.py --data DATA",
        "sources": [name for name, _, _ in sources],
        "rows": check(sources),
    }
    report["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "clipping.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "clipping.md").write_text(to_markdown(report))
    log.info("wrote %s", args.out / "clipping.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
