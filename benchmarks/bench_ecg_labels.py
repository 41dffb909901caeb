"""ECG-derived labels on the real clinical sets: how good the R-peaks and the window labels are.

- MIMIC-DB: the R-peaks :func:`anyppg.signal.ecg.ecg_rpeak_times` detects against the beat positions
  shipped with the excerpts (``rri_point``), after removing each record's constant lag between the
  two time bases: sensitivity and positive predictive value within 50 ms and 100 ms, per record and
  pooled, and per-window heart rate (60 / median RR) from each.
- BIDMC: per-window heart rate from the detected R-peaks against the monitor's 1 Hz HR numerics.
- Both: how many windows :func:`anyppg.datasets.labels.window_labels` labels usable / unusable /
  unlabelled (PPG-vs-ECG heart-rate agreement).

Results go to ``benchmarks/results/ecg_labels.json`` and ``.md``.

Usage::

    python benchmarks/bench_ecg_labels.py --data ../shared/data   # or set ANYPPG_DATA
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

import numpy as np

from anyppg import datasets
from anyppg.datasets.clinical import read_bidmc_file, read_mimicdb_file
from anyppg.datasets.labels import beat_rate, window_labels
from anyppg.npz import open_npz
from anyppg.signal.ecg import match_beats

log = logging.getLogger("bench_ecg_labels")
RESULTS = Path(__file__).resolve().parent / "results"
WINDOW_S = 10.0


def window_hr(beats: np.ndarray, duration_s: float) -> np.ndarray:
    starts = np.arange(0.0, duration_s - WINDOW_S + 1e-9, WINDOW_S)
    return np.array([beat_rate(beats, t, WINDOW_S)[0] for t in starts])


def label_counts(usable: list[np.ndarray]) -> dict[str, int]:
    u = np.concatenate(usable) if usable else np.zeros(0, np.int8)
    return {
        "windows": len(u),
        "usable": int((u == 1).sum()),
        "unusable": int((u == 0).sum()),
        "unlabelled": int((u == -1).sum()),
    }


def bench_mimic(folder: Path) -> dict:
    files = sorted(folder.glob("mimicdb_*.npz"))
    subjects = datasets.clinical.mimicdb_subjects([p.stem.split("_")[1] for p in files])
    rows, usable = [], []
    pooled = {0.05: [0, 0, 0], 0.1: [0, 0, 0]}
    hr_diff = []
    for path in files:
        rec = read_mimicdb_file(path, subjects[path.stem.split("_")[1]])
        ref, det = rec.reference_beats_s, rec.r_peaks_s
        row = {"record": rec.record, "lead": rec.ecg_lead, "reference_beats": len(ref), "detected": len(det)}
        for tol in pooled:
            m = match_beats(det, ref, tolerance_s=tol, align=True)
            pooled[tol][0] += m.true_positives
            pooled[tol][1] += m.false_positives
            pooled[tol][2] += m.false_negatives
            row[f"sensitivity_{round(tol * 1000)}ms"] = round(m.sensitivity, 4)
            row[f"ppv_{round(tol * 1000)}ms"] = round(m.ppv, 4)
            row["lag_s"] = round(m.lag_s, 3)
        d = np.abs(window_hr(det, rec.duration_s) - window_hr(ref, rec.duration_s))
        d = d[np.isfinite(d)]
        hr_diff.append(d)
        row["window_hr_mad_bpm"] = round(float(np.median(d)), 2) if len(d) else None
        row["windows_within_5bpm"] = round(float(np.mean(d <= 5)), 3) if len(d) else None
        rows.append(row)
        usable.append(window_labels(rec.ppg, rec.ppg_fs, rec.r_peaks_s).usable)
    all_d = np.concatenate(hr_diff)
    return {
        "records": rows,
        "pooled": {
            f"{round(tol * 1000)}ms": {
                "true_positives": tp,
                "false_positives": fp,
                "false_negatives": fn,
                "sensitivity": round(tp / (tp + fn), 4),
                "ppv": round(tp / (tp + fp), 4),
            }
            for tol, (tp, fp, fn) in pooled.items()
        },
        "window_hr_detected_vs_reference": {
            "windows": len(all_d),
            "median_abs_bpm": round(float(np.median(all_d)), 2),
            "within_5bpm": round(float(np.mean(all_d <= 5)), 3),
        },
        "labels": label_counts(usable),
    }


def bench_bidmc(folder: Path) -> dict:
    diffs, usable, records = [], [], 0
    for path in sorted(folder.glob("bidmc_*.npz")):
        rec = read_bidmc_file(path)
        with open_npz(path) as z:
            monitor = np.asarray(z["hr_ref"], dtype=np.float64)
        records += 1
        det = window_hr(rec.r_peaks_s, rec.duration_s)
        mon = np.array(
            [np.nanmean(monitor[int(t) : int(t + WINDOW_S)]) for t in WINDOW_S * np.arange(len(det))]
        )
        d = np.abs(det - mon)
        diffs.append(d[np.isfinite(d)])
        usable.append(window_labels(rec.ppg, rec.ppg_fs, rec.r_peaks_s).usable)
    d = np.concatenate(diffs)
    return {
        "records": records,
        "window_hr_detected_vs_monitor": {
            "windows": len(d),
            "mae_bpm": round(float(np.mean(d)), 2),
            "median_abs_bpm": round(float(np.median(d)), 2),
            "within_5bpm": round(float(np.mean(d <= 5)), 3),
        },
        "labels": label_counts(usable),
    }


def markdown(result: dict) -> str:
    mimic, bidmc = result["mimicdb"], result["bidmc"]
    lines = [
        "# ECG-derived labels on real clinical recordings",
        "",
        f"Run {result['date']} on {result['machine']}; `python benchmarks/bench_ecg_labels.py --data DATA`.",
        "",
        "## R-peak detector vs MIMIC-DB's shipped beat positions (after removing each record's lag)",
        "",
        "| tolerance | TP | FP | FN | sensitivity | PPV |",
        "|---|---|---|---|---|---|",
    ]
    for tol, p in mimic["pooled"].items():
        lines.append(
            f"| {tol} | {p['true_positives']} | {p['false_positives']} | {p['false_negatives']} | "
            f"{p['sensitivity']:.3f} | {p['ppv']:.3f} |"
        )
    w = mimic["window_hr_detected_vs_reference"]
    lines += [
        "",
        f"Per 10-s window, heart rate from detected R-peaks vs from the shipped beats: median |diff| "
        f"{w['median_abs_bpm']} bpm, {100 * w['within_5bpm']:.1f} % of {w['windows']} windows within 5 bpm.",
        "",
        "| record | lead | beats (shipped / detected) | lag (s) | sens 50 ms | PPV 50 ms | sens 100 ms | "
        "PPV 100 ms | windows within 5 bpm |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in mimic["records"]:
        lines.append(
            f"| {r['record']} | {r['lead']} | {r['reference_beats']} / {r['detected']} | {r['lag_s']} | "
            f"{r['sensitivity_50ms']:.3f} | {r['ppv_50ms']:.3f} | {r['sensitivity_100ms']:.3f} | "
            f"{r['ppv_100ms']:.3f} | {r['windows_within_5bpm']} |"
        )
    b = bidmc["window_hr_detected_vs_monitor"]
    lines += [
        "",
        "## BIDMC: heart rate from detected R-peaks vs the monitor's HR numerics",
        "",
        f"{bidmc['records']} records, {b['windows']} windows of 10 s: MAE {b['mae_bpm']} bpm, median "
        f"{b['median_abs_bpm']} bpm, {100 * b['within_5bpm']:.1f} % within 5 bpm.",
        "",
        "## Quality labels (PPG vs ECG heart-rate agreement)",
        "",
        "| dataset | windows | usable | unusable | unlabelled |",
        "|---|---|---|---|---|",
    ]
    for name in ("bidmc", "mimicdb"):
        c = result[name]["labels"]
        lines.append(f"| {name} | {c['windows']} | {c['usable']} | {c['unusable']} | {c['unlabelled']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="the data folder (default: $ANYPPG_DATA)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for ecg_labels.json / .md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.monotonic()
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "mimicdb": bench_mimic(datasets.dataset_folder("mimicdb", args.data)),
        "bidmc": bench_bidmc(datasets.dataset_folder("bidmc", args.data)),
    }
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ecg_labels.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "ecg_labels.md").write_text(markdown(result))
    log.info("%s", markdown(result).split("## R-peak")[1].split("| record")[0])


if __name__ == "__main__":
    main()
