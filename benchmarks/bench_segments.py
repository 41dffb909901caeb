"""Segment mode: heart rate from independent 10 s segments (``anyppg.analyze`` on a 2-D array).

A clinic or a study often stores PPG as stand-alone strips (Liu et al.'s arrhythmia set: 10 s at
100 Hz), and ``anyppg.analyze`` gives one result per strip. Each strip is read on its own: the
band-pass starts at rest on its first sample and the tracker has no earlier window to follow, so its
numbers differ from a continuous stream's (``benchmarks/results/real.md``). This benchmark measures
them on the held-out ICU patients with an ECG: every finite part of each held-out BIDMC and MIMIC-DB
recording is cut into consecutive 10 s segments, the segments are analysed as one 2-D batch per
recording, and each result is scored against ``60 / mean RR`` of the ECG R-peaks inside its segment
(:func:`anyppg.datasets.labels.window_labels`, the heads' label and ``bench_real``'s reference).

Methods, per model file: the reported (fused) ``heart_rate``, the model's ``heart_rate`` head, and,
once, the tracker's value (``heart_rate_tracker``: the model does not change it) and NeuroKit2 0.3.0
on the raw segment (the peer of ``bench_real``). Every table is given on all segments with a reference
and on those whose reference is reliable (two R-peak detectors agree, as in ``bench_real``); MAE in
bpm with a 95 % bootstrap interval over subjects, coverage beside it, then the MAE per subject.

Subjects: the held-out patients the model cards name (``bench_real``'s rule); none named, every
subject (the report says so).

Usage::

    python benchmarks/bench_segments.py --data ../shared/data                  # the shipped student-s
    python benchmarks/bench_segments.py --data DIR --models a_q8.tflite b_q8.tflite --boot 200

Writes ``benchmarks/results/segments.json`` and ``segments.md`` (``--out`` elsewhere).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import logging
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_real as real  # the shared metrics, subjects, readers and table cells

import anyppg

log = logging.getLogger("bench_segments")
DATASETS = real.CLINICAL
SEGMENT_S = 10.0
POOLED = real.POOLED_NAME


def segments_of(ppg: np.ndarray, fs: float, seconds: float = SEGMENT_S) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive ``seconds``-long segments of the finite parts of ``ppg`` (no missing sample inside):
    ``(segments (n, samples), start times s)``."""
    n = round(seconds * fs)
    segs, starts = [], []
    for a, b in real.finite_parts(ppg, fs):
        for s in range(a, b - n + 1, n):
            if np.isfinite(ppg[s : s + n]).all():
                segs.append(ppg[s : s + n])
                starts.append(s / fs)
    return np.asarray(segs, np.float64).reshape(-1, n), np.asarray(starts, np.float64)


def neurokit_segment_hr(segments: np.ndarray, fs: float) -> np.ndarray:
    """NeuroKit2's ``60 / mean`` beat interval per segment, bpm (NaN where it finds fewer than 3 beats)."""
    out = np.full(segments.shape[0], np.nan)
    for i, x in enumerate(segments):
        rr = real.neurokit_intervals(x, fs)
        if rr is not None:
            out[i] = 60.0 / float(rr.mean())
    return out


def run_dataset(
    dataset: str, root: Path, models: list[real.ModelSpec], heldout: dict[str, set[str]], limit: int | None
) -> tuple[real.Windows, dict[str, Any]]:
    """Every chosen recording of one clinical set, cut into segments and analysed with every model."""
    from anyppg.datasets.labels import reference_reliable, second_rpeak_times, window_labels

    recs = real.dataset_recordings(dataset, root)
    chosen, source = real.pick_recordings(dataset, [(r[0], r[4].record) for r in recs], heldout, limit)
    windows = real.Windows()
    t0 = time.perf_counter()
    for index, (subject, ppg, fs, _, rec) in enumerate(recs):
        if index not in chosen:
            continue
        x = ppg[0]
        segs, starts = segments_of(x, fs)
        if not len(segs):
            continue
        runs = {m.label: anyppg.analyze(segs, fs, model=m.model) for m in models}
        base = next(iter(runs.values())) if runs else anyppg.analyze(segs, fs, model=None)
        labels = window_labels(x, fs, rec.r_peaks_s, window_s=SEGMENT_S, starts_s=starts)
        second = second_rpeak_times(rec.ecg, rec.ecg_fs)
        values = {
            "tracker": base.heart_rate_tracker,
            "neurokit2": neurokit_segment_hr(segs, fs),
            "reference reliable": reference_reliable(rec.r_peaks_s, second, starts, SEGMENT_S).astype(float),
        }
        for label, a in runs.items():
            values[f"reported: {label}"] = a.heart_rate
            values[f"model head: {label}"] = a.heart_rate_model
        windows.add(subject, labels.hr_ecg_bpm, values)
        log.info("%s %s: %d segments", dataset, rec.record, len(segs))
    info = {
        "subjects": sorted({recs[i][0] for i in chosen}),
        "subject_source": source,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return windows, info


def methods_of(columns: dict[str, Any]) -> list[str]:
    """The scored methods in table order: reported, model head (per model), tracker, NeuroKit2."""
    return [
        *[k for k in columns if k.startswith("reported: ")],
        *[k for k in columns if k.startswith("model head: ")],
        "tracker",
        "neurokit2",
    ]


def table(windows: real.Windows, n_boot: int, reliable_only: bool) -> list[dict[str, Any]]:
    """One row per method: MAE [CI], coverage and MAE per subject."""
    subjects, ref, cols = windows.arrays()
    if reliable_only:
        ref = np.where(cols["reference reliable"] == 1, ref, np.nan)
    has = np.isfinite(ref)
    return [
        {
            "method": m,
            **real.score("mae_bpm", ref[has], cols[m][has], subjects[has], n_boot=n_boot),
            "by_subject": real.mae_by_subject(ref, cols[m], subjects),
        }
        for m in methods_of(cols)
    ]


def run(
    root: Path, models: list[real.ModelSpec], datasets: Sequence[str], n_boot: int, limit: int | None
) -> dict:
    heldout = real.heldout_from_cards(m.card for m in models)
    per: dict[str, Any] = {}
    parts = []
    for dataset in datasets:
        windows, info = run_dataset(dataset, root, models, heldout, limit)
        parts.append(windows)
        per[dataset] = {
            "info": info,
            "all": table(windows, n_boot, reliable_only=False),
            "reliable": table(windows, n_boot, reliable_only=True),
        }
    if len(parts) > 1:
        pooled = real.pooled(parts)
        per[POOLED] = {
            "all": table(pooled, n_boot, reliable_only=False),
            "reliable": table(pooled, n_boot, reliable_only=True),
        }
    return {
        "segment_s": SEGMENT_S,
        "models": [{"label": m.label, "file": m.path.name} for m in models],
        "heldout_source": "model cards" if heldout else "none named: every subject",
        "datasets": per,
    }


def to_markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Heart rate from independent 10 s segments (`anyppg.analyze` on a 2-D array)",
        "",
        "`python benchmarks/bench_segments.py --data DATA`. Held-out ICU patients "
        f"({result['heldout_source']}), every finite part cut into consecutive {result['segment_s']:g} s "
        "segments, each analysed on its own; reference: 60 / mean RR of the ECG R-peaks in the segment. "
        "MAE in bpm [95 % CI over subjects]; coverage = segments answered / segments with a reference.",
        "",
        "| dataset | method | all segments | coverage | reliable reference | segments |",
        "|---|---|---|---:|---|---:|",
    ]
    for dataset, block in result["datasets"].items():
        reliable = {r["method"]: r for r in block["reliable"]}
        for row in block["all"]:
            rel = reliable[row["method"]]
            lines.append(
                f"| {dataset} | {row['method']} | {real.table_cell(row)} | {row['coverage']:.2f} | "
                f"{real.table_cell(rel)} | {row['windows']} |"
            )
    lines += ["", "MAE per subject (all segments):", ""]
    for dataset, block in result["datasets"].items():
        if dataset == POOLED:
            continue
        rows = block["all"]
        subjects = list(rows[0]["by_subject"])
        lines += [f"**{dataset}**", "", "| method | " + " | ".join(subjects) + " |"]
        lines.append("|---|" + "---:|" * len(subjects))
        for row in rows:
            cells = ["-" if row["by_subject"][s] is None else f"{row['by_subject'][s]:.2f}" for s in subjects]
            lines.append(f"| {row['method']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("ANYPPG_DATA"), help="the data folder")
    parser.add_argument(
        "--models", nargs="*", default=None, help="model files (default: the shipped student-s)"
    )
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated: bidmc,mimicdb")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--subjects", type=int, default=None, help="at most this many subjects per set")
    parser.add_argument("--out", type=Path, default=real.RESULTS, help="folder for segments.{json,md}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.data:
        parser.error("--data DIR (or ANYPPG_DATA) is required")
    paths = args.models if args.models is not None else [real.ASSETS / "student-s_litert_q8.tflite"]
    models = real.load_models(paths)
    t0 = time.perf_counter()
    datasets = [d for d in args.datasets.split(",") if d]
    result = run(Path(args.data), models, datasets, args.boot, args.subjects)
    result["command"] = " ".join(
        [
            "python benchmarks/bench_segments.py --data DATA",
            *real._without_options(argv or sys.argv[1:], "--data", "--out"),
        ]
    )
    result["machine"] = {
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
    }
    result["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "segments.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "segments.md").write_text(to_markdown(result))
    log.info("wrote %s", args.out / "segments.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
