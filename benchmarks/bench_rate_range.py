"""Heart rate across the whole 30-220 bpm range, from real pulses paced at rates the data lacks.

The clinical recordings hold almost no heart rate under 50 or over 170 bpm (of the heads' training
labels none is under 45, 1 % is over 167), so the held-out tables of :mod:`bench_real` say nothing
about a resting athlete at 38 bpm or a child at 200. This benchmark takes real beats from the
held-out ICU patients (BIDMC, MIMIC-DB: the model cards' list, as :mod:`bench_real` picks them) and
paces them at each rate of :data:`TARGETS_BPM`:

- a :data:`STRIP_S` strip every :data:`STEP_S` of each recording, kept where it has no missing
  sample and the PPG beats of its first 10 s agree with the ECG's
  (``anyppg.datasets.labels.window_labels``' ``usable``: a readable pulse);
- the strip's median beat, repeated every ``60 / target`` s
  (:func:`anyppg.signal.counterfactual.paced_beat`: the upstroke, peak and dicrotic wave re-timed by
  the square root of the rate change, the diastolic run-off taking up the rest, as a heart's does);
- read two ways by every model, at the recording's rate: **as a stream** (the paced strip as a 1-D
  recording through ``anyppg.analyze``, its first window, after the band-pass has settled: what a
  wearable's stream reports) and **as a stand-alone 10 s strip** (a batch of segments, the band-pass
  started at rest); each gives the heart-rate head (``heart_rate_model``), the reported
  ``heart_rate`` and the classical tracker (``heart_rate_tracker``, the same for every model).

Per target rate: MAE against the paced rate (exact by construction) with a 95 % interval over
patients, the share of strips read more than 10 % off (half or double the rate is the usual way to
be wrong at the ends of the range), and the share with no value. A paced strip is regular and noise
free apart from the beat's own, so these are best-case numbers for the rate itself; they do not
replace :mod:`bench_real`.

Usage::

    python benchmarks/bench_rate_range.py --data ../shared/data          # the shipped int8 files
    python benchmarks/bench_rate_range.py --data DIR --models a.pte b.tflite

Writes ``benchmarks/results/rate_range.{json,md}``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_real import CLINICAL, WINDOW_S, held_out_recordings, score, table_cell
from results_io import held_out_models_main

import anyppg
from anyppg.signal.counterfactual import median_beat, paced_beat

log = logging.getLogger("bench_rate_range")

TARGETS_BPM = (30, 35, 40, 45, 50, 60, 80, 100, 120, 150, 180, 200, 220)
"""The paced rates: the heads' whole output range, densest where the training data is thinnest."""
STEP_S = 60.0
"""One strip every this many seconds of a recording (strips of one patient are alike)."""
STRIP_S = 16.0
"""A paced strip: the stream's 2 s of band-pass settling, its first 10 s window, and slack."""
MODES = ("stream", "strip")
OFF_SHARE = 0.1
"""A strip is read "off" when its value is more than this share of the paced rate away."""


def strips(root: Path, heldout: dict[str, set[int]]) -> tuple[list[np.ndarray], list[str], float, int]:
    """The median beats of the held-out clinical strips this benchmark paces: ``(beats, patients, rate,
    strips left out)``."""
    from anyppg.datasets.labels import window_labels

    out, who, fs, dropped = [], [], None, 0
    for dataset in CLINICAL:
        for subject, ppg, rate, _, rec in held_out_recordings(dataset, root, heldout):
            if fs is not None and rate != fs:
                raise SystemExit(f"{dataset}: a recording at {rate:g} Hz after others at {fs:g} Hz")
            fs = rate
            n = round(STRIP_S * rate)
            starts = np.arange(0, ppg.shape[1] - n + 1, round(STEP_S * rate))
            labels = window_labels(ppg[0], rate, rec.r_peaks_s, window_s=WINDOW_S, starts_s=starts / rate)
            for start, usable in zip(starts, labels.usable, strict=True):
                strip = ppg[0, start : start + n]
                found = median_beat(strip, rate) if usable == 1 and np.isfinite(strip).all() else None
                if found is not None:
                    out.append(found[0])
                    who.append(subject)
                else:
                    dropped += 1
    if fs is None or not out:
        raise SystemExit("no held-out BIDMC or MIMIC-DB strip in this data folder")
    return out, who, fs, dropped


_COLUMNS = ("heart_rate_tracker", "heart_rate_model", "heart_rate")


def read_rates(x: np.ndarray, fs: float, mode: str, model: Any) -> tuple[np.ndarray, ...]:
    """``(tracker, head, reported)`` heart rates of paced strips ``x`` (rows) read as ``mode`` says."""
    if mode == "strip":
        a = anyppg.analyze(x[:, : round(WINDOW_S * fs)], fs, model=model)
        return a.heart_rate_tracker, a.heart_rate_model, a.heart_rate
    firsts = [anyppg.analyze(row, fs, model=model) for row in x]
    return tuple(np.array([getattr(a, c)[0] for a in firsts]) for c in _COLUMNS)


def run(root: Path, models: list[Any], heldout: dict[str, set[int]], n_boot: int) -> dict[str, Any]:
    beats, patients, fs, dropped = strips(root, heldout)
    who = np.asarray(patients, dtype=object)
    n = round(STRIP_S * fs)
    rows: list[dict[str, Any]] = []
    for mode in MODES:
        for target in TARGETS_BPM:
            x = np.stack([paced_beat(b, fs, float(target), n) for b in beats])
            truth = np.full(x.shape[0], float(target))
            runs = [(m.label, read_rates(x, fs, mode, m.model)) for m in models]
            methods = {"tracker": (runs[0][1] if runs else read_rates(x, fs, mode, "none"))[0]}
            for label, (_, head, reported) in runs:
                methods[f"head: {label}"] = head
                methods[f"reported: {label}"] = reported
            row: dict[str, Any] = {
                "mode": mode,
                "target_bpm": target,
                "strips": int(x.shape[0]),
                "methods": {},
            }
            for name, value in methods.items():
                answered = np.isfinite(value)
                off = np.abs(value[answered] - target) > OFF_SHARE * target
                row["methods"][name] = {
                    "mae": score("mae_bpm", truth, value, who, n_boot=n_boot),
                    "off_share": round(float(off.mean()), 4) if answered.any() else None,
                    "no_value_share": round(float(1.0 - answered.mean()), 4),
                }
            rows.append(row)
            log.info("%s, %d bpm: %d strips", mode, target, x.shape[0])
    return {
        "strips": len(beats),
        "strips_left_out": dropped,
        "patients": sorted(set(patients)),
        "rate_hz": fs,
        "rows": rows,
    }


def to_markdown(result: dict[str, Any]) -> str:
    names = list(result["rows"][0]["methods"])
    lines = [
        "# Heart rate across 30-220 bpm: real beats, paced",
        "",
        f"`{result['command']}`: {result['seconds']:.0f} s on {result['machine']}. "
        f"{result['strips']} strips from {len(result['patients'])} held-out ICU patients "
        f"({result['strips_left_out']} left out: a missing sample, or PPG beats not matching the ECG), "
        "each rebuilt from its median beat at every rate below. "
        f"Cells: MAE bpm [95 % CI over patients] / share of strips more than {OFF_SHARE:.0%} off"
        " (/ share with no value, where any). Definitions in `benchmarks/bench_rate_range.py`.",
    ]
    titles = {
        "stream": "As a stream (the first window after the band-pass settles)",
        "strip": "As stand-alone 10 s strips (the band-pass started at rest)",
    }
    for mode in MODES:
        rows = [r for r in result["rows"] if r["mode"] == mode]
        if not rows:
            continue
        lines += ["", f"## {titles[mode]}", "", "| paced bpm | " + " | ".join(names) + " |"]
        lines.append("|---|" + "---|" * len(names))
        for row in rows:
            cells = []
            for name in names:
                m = row["methods"][name]
                cell = f"{table_cell(m['mae'])} / {m['off_share']:.2f}" if m["off_share"] is not None else "-"
                if m["no_value_share"] > 0:
                    cell += f" / {m['no_value_share']:.2f}"
                cells.append(cell)
            lines.append(f"| {row['target_bpm']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return held_out_models_main(
        __doc__, "bench_rate_range", "rate_range", "bidmc/ and mimicdb/",
        lambda root, models, heldout, args: run(root, models, heldout, args.boot), to_markdown, argv,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
