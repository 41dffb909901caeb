"""Heart rate from smartphone camera PPG (Welltory) through the SDK, read upright and inverted.

A fingertip on a phone's camera darkens the frame as blood fills it, so camera PPG arrives upside down
(``anyppg.sdk.polarity``). Each of the 21 Welltory recordings (mean red channel of every frame,
about 30 frames/s, 68-112 s; no Welltory data trained any shipped model) goes through
:func:`anyppg.analyze` twice, with ``polarity="normal"`` and ``"inverted"``. Per 10 s window the
reference is the Polar H10 chest strap: ``60 / median RR`` of the beats inside the window (the RR
series is taken to start with the video, as the dataset provides it; windows with fewer than 4 beats
have no reference). Methods: the reported ``heart_rate`` (fused), the tracker, the model head and
NeuroKit2 (``ppg_clean`` + ``ppg_findpeaks`` on the raw window, turned the same way up as the SDK's
input); besides the MAE, the mean signal quality index, quality head P(usable) and rhythm head P(AF)
(these volunteers are healthy). Each recording is one subject in the bootstrap: the
dataset does not say which of its 13 people recorded which file.

Usage::

    python benchmarks/bench_camera.py --data ../shared/data        # about 1 min
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_real import neurokit_window_hr, score
from results_io import data_model_args, run_info, write_results

import anyppg
from anyppg.datasets.welltory import read_welltory
from anyppg.sdk.analyze import resolve_model

METHODS = {
    "reported heart_rate": "heart_rate",
    "tracker": "heart_rate_tracker",
    "model head": "heart_rate_model",
    "neurokit2": None,
}
MIN_BEATS = 4

log = logging.getLogger("bench_camera")


def strap_window_hr(rr_s: np.ndarray, t_start: np.ndarray, t_end: np.ndarray) -> np.ndarray:
    """``60 / median RR`` of the strap's beats inside each window, bpm (NaN under :data:`MIN_BEATS`)."""
    beats = np.cumsum(np.asarray(rr_s, dtype=np.float64))
    out = np.full(len(t_start), np.nan)
    for i, (a, b) in enumerate(zip(t_start, t_end, strict=True)):
        inside = (beats >= a) & (beats < b)
        if inside.sum() >= MIN_BEATS:
            out[i] = 60.0 / float(np.median(rr_s[inside]))
    return out


def run(data: Path, model: Any, n_boot: int) -> dict[str, Any]:
    """Every recording, both polarities: the MAE table and the mean scores per polarity."""
    recordings = read_welltory(data / "welltory")
    out: dict[str, Any] = {"recordings": len(recordings), "polarity": {}}
    for polarity in ("normal", "inverted"):
        subjects, refs, cols = [], [], {name: [] for name in METHODS}
        extra: dict[str, list[float]] = {"quality": [], "quality_model": [], "af_probability": []}
        for rec in recordings:
            red = rec.ppg_rgb[0]
            a = anyppg.analyze(red, rec.fs, model=model, motion_model="none", polarity=polarity)
            ref = strap_window_hr(rec.rr_s, a.t_start, a.t_end)
            subjects.append(np.full(len(ref), rec.subject, dtype=object))
            refs.append(ref)
            sign = -1.0 if polarity == "inverted" else 1.0
            for name, column in METHODS.items():
                values = (
                    getattr(a, column)
                    if column
                    else neurokit_window_hr(sign * red, rec.fs, a.t_start, a.t_end)
                )
                cols[name].append(values)
            for name in extra:
                extra[name].append(float(np.nanmean(getattr(a, name))))
        y, s = np.concatenate(refs), np.concatenate(subjects)
        ok = np.isfinite(y)
        rows = [
            {"method": name, **score("mae_bpm", y[ok], np.concatenate(v)[ok], s[ok], n_boot=n_boot)}
            for name, v in cols.items()
        ]
        means = {f"mean {k}": round(float(np.mean(v)), 3) for k, v in extra.items()}
        out["polarity"][polarity] = {"windows": int(ok.sum()), "rows": rows, **means}
        log.info("%s: %s", polarity, {r["method"]: r["value"] for r in rows})
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Smartphone camera PPG (Welltory): heart rate vs the Polar H10, read upright and inverted",
        "",
        f"Command: `{result['command']}`; {result['recordings']} recordings; model "
        f"`{result['model']}`; {result['seconds']:.0f} s.",
        "",
        '| method | MAE bpm, `polarity="normal"` [95 % CI] | MAE bpm, `polarity="inverted"` [95 % CI] |',
        "|---|---|---|",
    ]
    normal, inverted = (result["polarity"][p]["rows"] for p in ("normal", "inverted"))

    def cell(row: dict[str, Any]) -> str:
        lo, hi = row["ci"]
        ci = f" [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else ""
        return f"{row['value']:.2f}{ci} ({row['coverage']:.0%} of windows)"

    for a, b in zip(normal, inverted, strict=True):
        lines.append(f"| {a['method']} | {cell(a)} | {cell(b)} |")
    lines += ["", "| mean over recordings | `normal` | `inverted` |", "|---|---|---|"]
    for key in (k for k in result["polarity"]["normal"] if k.startswith("mean ")):
        lines.append(
            f"| {key[5:]} | {result['polarity']['normal'][key]} | {result['polarity']['inverted'][key]} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    def boot(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--boot", type=int, default=1000, help="bootstrap resamples")

    args = data_model_args(__doc__, "camera", "welltory/", argv, more=boot)
    t0 = time.perf_counter()
    model = resolve_model(args.model)
    result = run(Path(args.data), model, args.boot)
    result.update(run_info("bench_camera", args.model, model, t0))
    print(write_results(args.out, "camera", result, markdown(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
