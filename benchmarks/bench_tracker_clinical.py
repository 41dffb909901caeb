"""PPG-only heart-rate trackers on clinical finger PPG (BIDMC, MIMIC-DB) against the ECG, every subject.

The trackers have no training, so every subject is scored (not only the ones the model cards hold
out; those are reported too, as ``held-out``, for comparison with ``real.md``). Per window of the
stream (10 s, 2-s hop) the reference is :func:`anyppg.datasets.labels.window_labels`' ECG heart rate
(``60 / median RR`` of the R-peaks inside the window, as in ``bench_real.py``). Methods:

- ``sdk``: :func:`anyppg.analyze` without a model, its ``heart_rate_tracker`` (the pipeline's
  ``tracker="auto"``: the classic tracker without an accelerometer, acquired on a window that passes
  the quality gate);
- ``sdk, tracker="motion"``: the same pipeline with ``Pipeline(tracker="motion")`` (what ``auto``
  would give if it chose the motion tracker without an accelerometer too);
- ``classic (first window)``: :class:`anyppg.signal.HeartRateTracker` fed every window from the
  first one (no gate: how a caller using the class directly meets a bad start);
- ``motion``: :class:`anyppg.signal.motion_hr.MotionHeartRateTracker` fed every window from the first
  (no accelerometer here);
- ``peaks``: the window's own beat-interval rate (``heart_rate_peaks``), no tracking.

Each method's score is the mean over subjects of the subject's MAE (bpm) with a 95 % interval from
1,000 bootstrap resamples of subjects; the pooled MAE over windows is given beside it. Per-window CPU
time of each tracker (``time.process_time``) is reported as a median and 99th percentile.

Usage::

    python benchmarks/bench_tracker_clinical.py --data ../shared/data
    # a "before" column: the trackers of an earlier commit in today's pipeline, then the comparison
    python benchmarks/bench_tracker_clinical.py --data ../shared/data --trackers-at 9f2d268 --out /tmp/before
    python benchmarks/bench_tracker_clinical.py --data ../shared/data --baseline /tmp/before/tracker_clinical.json

With ``--baseline`` the held-out records are the baseline's (the model cards may have changed since).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as on a wearable gateway

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_real import (
    analyze_recording,
    default_model_paths,
    finite_parts,
    heldout_from_cards,
)

from anyppg.signal import HeartRateTracker, preprocess_recording
from anyppg.signal.constants import WINDOW_S
from anyppg.signal.motion_hr import MotionHeartRateTracker

log = logging.getLogger("bench_tracker_clinical")
RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = ("bidmc", "mimicdb")
METHODS = ("sdk", 'sdk, tracker="motion"', "classic (first window)", "motion", "peaks")


def use_trackers_at(commit: str) -> None:
    """Patch the pipeline and this benchmark to use ``HeartRateTracker`` and ``MotionHeartRateTracker``
    as ``anyppg/signal/{heart_rate,motion_hr}.py`` were at ``commit`` (read with ``git show``)."""
    import subprocess
    import types

    import anyppg.sdk.pipeline as pipeline

    root = Path(__file__).resolve().parent.parent
    classes = {}
    for name, cls in (("heart_rate", "HeartRateTracker"), ("motion_hr", "MotionHeartRateTracker")):
        path = f"anyppg/signal/{name}.py"
        source = subprocess.check_output(["git", "-C", str(root), "show", f"{commit}:{path}"], text=True)
        module = types.ModuleType(f"_at_{commit}_{name}")
        sys.modules[module.__name__] = module  # dataclasses look their module up
        exec(compile(source, path, "exec"), module.__dict__)
        classes[cls] = getattr(module, cls)
    for target in (pipeline, sys.modules[__name__]):
        for cls, value in classes.items():
            setattr(target, cls, value)


def _held_out() -> dict[str, set[int]]:
    """Record numbers the shipped model cards hold out, per dataset (what ``real.md`` scores)."""
    cards = []
    for path in default_model_paths():
        card = path.with_suffix(".json")
        if card.is_file():
            cards.append(json.loads(card.read_text()))
    return heldout_from_cards(cards)


def direct_trackers(
    ppg: np.ndarray, fs: float, t_end: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    """The classic and the motion tracker fed every window of each part between long gaps, from its
    first window; their value at each of ``t_end`` (NaN: no window ends there) and CPU s per window."""
    out = {k: np.full(t_end.shape[0], np.nan) for k in ("classic (first window)", "motion")}
    cpu: dict[str, list[float]] = {k: [] for k in out}
    index = {round(e * 1000): i for i, e in enumerate(t_end)}
    for a, b in finite_parts(ppg, fs):
        x = ppg[a:b]
        if not np.isfinite(x).all():  # short holes: bridged as the SDK bridges them
            idx = np.arange(x.shape[0])
            ok = np.isfinite(x)
            x = x.copy()
            x[~ok] = np.interp(idx[~ok], idx[ok], x[ok])
        classic, motion = HeartRateTracker(), MotionHeartRateTracker(125.0)
        for w in preprocess_recording(x, fs):
            t0 = time.process_time()
            c = classic.update(w.filtered, dt_s=2.0)
            t1 = time.process_time()
            m = motion.update(w.filtered, None, dt_s=2.0).bpm
            t2 = time.process_time()
            cpu["classic (first window)"].append(t1 - t0)
            cpu["motion"].append(t2 - t1)
            i = index.get(round((w.end_s + a / fs) * 1000))
            if i is not None:
                out["classic (first window)"][i], out["motion"][i] = c, m
    return out, cpu


def pipeline_tracker(ppg: np.ndarray, fs: float, t_end: np.ndarray, tracker: str) -> np.ndarray:
    """``heart_rate_tracker`` of a model-less ``Pipeline(tracker=tracker)`` streamed each part between
    long gaps in 1-s blocks (as :func:`anyppg.analyze` is), at each of ``t_end`` (NaN: none)."""
    from anyppg.sdk.pipeline import Pipeline
    from anyppg.sdk.samples import SampleBlock

    out = np.full(t_end.shape[0], np.nan)
    index = {round(e * 1000): i for i, e in enumerate(t_end)}
    block = max(1, round(fs))
    for a, b in finite_parts(ppg, fs):
        pipeline = Pipeline("bench", tracker=tracker)  # type: ignore[arg-type]
        x = ppg[a:b]
        results = []
        for i in range(0, len(x), block):
            results += pipeline.push(SampleBlock(i / fs, fs, x[i : i + block]))
        for r in results + pipeline.flush():
            i = index.get(round((r.t_end + a / fs) * 1000))
            if i is not None and r.heart_rate_tracker is not None:
                out[i] = r.heart_rate_tracker
    return out


def _bootstrap_mean(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    draws = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(axis=1)
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return float(lo), float(hi)


def summarise(per_subject: dict[str, dict[str, list[float]]], subjects: list[str]) -> dict[str, Any]:
    """Mean over ``subjects`` of the per-subject MAE with a bootstrap CI, and the pooled window MAE."""
    out: dict[str, Any] = {"subjects": len(subjects)}
    for method in METHODS:
        maes, errors = [], []
        for s in subjects:
            e = np.asarray(per_subject[s][method])
            e = e[np.isfinite(e)]
            if e.size:
                maes.append(float(e.mean()))
                errors.append(e)
        if not maes:
            continue
        arr = np.asarray(maes)
        lo, hi = _bootstrap_mean(arr)
        pooled = np.concatenate(errors)
        out[method] = {
            "mean_subject_mae": round(float(arr.mean()), 3),
            "ci95": [round(lo, 3), round(hi, 3)],
            "pooled_mae": round(float(pooled.mean()), 3),
            "within_5_bpm": round(float((pooled <= 5).mean()), 4),
            "windows": int(pooled.size),
            "worst_subject_mae": round(float(arr.max()), 2),
        }
    return out


def run_dataset(dataset: str, root: Path, held: set[int], limit: int | None) -> dict[str, Any]:
    from anyppg import datasets
    from anyppg.datasets.labels import window_labels

    per_subject: dict[str, dict[str, list[float]]] = {}
    held_out: dict[str, dict[str, list[float]]] = {}  # only the held-out records of a subject
    per_record: dict[str, dict[str, float | None]] = {}
    cpu: dict[str, list[float]] = {"classic (first window)": [], "motion": []}
    recs = datasets.read(dataset, root)
    if limit:
        recs = recs[:limit]
    t0 = time.perf_counter()
    for rec in recs:
        ppg, fs = np.asarray(rec.ppg, float), float(rec.ppg_fs)
        base = analyze_recording(ppg[None, :], fs, None, None)
        ts, te = base["t_start"], base["t_end"]
        ref = window_labels(ppg, fs, rec.r_peaks_s, window_s=WINDOW_S, starts_s=ts).hr_ecg_bpm
        direct, c = direct_trackers(ppg, fs, te)
        for k, v in c.items():
            cpu[k] += v
        values = {
            "sdk": base["heart_rate_tracker"],
            'sdk, tracker="motion"': pipeline_tracker(ppg, fs, te, "motion"),
            "peaks": base["heart_rate_peaks"],
            **direct,
        }
        per_record[rec.record] = {
            m: round(float(np.nanmean(np.abs(np.asarray(values[m], float) - ref))), 3)
            if np.isfinite(np.asarray(values[m], float) - ref).any()
            else None
            for m in METHODS
        }
        digits = "".join(ch for ch in rec.record if ch.isdigit())
        buckets = [per_subject] + ([held_out] if digits and int(digits) in held else [])
        for m in METHODS:
            v = np.asarray(values[m], dtype=float)
            errors = list(np.where(np.isfinite(ref), np.abs(v - ref), np.nan))
            for b in buckets:
                b.setdefault(rec.subject, {k: [] for k in METHODS})[m] += errors
        log.info(
            "%s %s: %s",
            dataset,
            rec.record,
            ", ".join(f"{m} {np.nanmean(np.abs(np.asarray(values[m], float) - ref)):.2f}" for m in METHODS),
        )
    subjects = sorted(per_subject)
    return {
        "all": summarise(per_subject, subjects),
        "held-out": summarise(held_out, sorted(held_out)),
        "held_out_subjects": sorted(held_out),
        "held_out_records": sorted(held),
        "per_record_mae": per_record,
        "per_subject_mae": {
            s: {m: round(float(np.nanmean(v)), 2) if np.isfinite(v).any() else None for m, v in d.items()}
            for s, d in per_subject.items()
        },
        "cpu_ms_per_window": {
            k: {
                "median": round(1e3 * float(np.median(v)), 3),
                "p99": round(1e3 * float(np.quantile(v, 0.99)), 3),
            }
            for k, v in cpu.items()
            if v
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _fmt(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "–"
    lo, hi = entry["ci95"]
    return f"{entry['mean_subject_mae']:.2f} [{lo:.2f}, {hi:.2f}]"


def markdown(report: dict[str, Any]) -> str:
    before = report.get("baseline")
    lines = [
        "# PPG-only heart-rate trackers on clinical finger PPG (bench_tracker_clinical.py)",
        "",
        f"`{report['command']}`: {report['seconds']:.0f} s on {report['machine']}. MAE (bpm) against the "
        "ECG heart rate of each 10-s window (2-s hop), **mean over subjects** of each subject's MAE with a "
        "95 % CI from 1,000 bootstrap resamples of subjects; pooled: MAE over all windows. No accelerometer "
        "(finger PPG in the ICU). Method definitions: the script's docstring.",
        "",
    ]
    for dataset in DATASETS:
        d = report["datasets"].get(dataset)
        if d is None:
            continue
        for split in ("all", "held-out"):
            s = d[split]
            label = "every subject" if split == "all" else "the records the model cards hold out (as real.md)"
            lines += [
                f"## {dataset}: {s['subjects']} subjects, {label}",
                "",
                "| method | mean subject MAE [95 % CI] | pooled MAE | within 5 bpm | worst subject | windows |"
                + (" before this change (mean subject MAE) |" if before else ""),
                "|---|---|---|---|---|---|" + ("---|" if before else ""),
            ]
            for m in METHODS:
                e = s.get(m)
                if e is None:
                    continue
                row = (
                    f"| {m} | {_fmt(e)} | {e['pooled_mae']:.2f} | {e['within_5_bpm']:.3f} | "
                    f"{e['worst_subject_mae']:.2f} | {e['windows']} |"
                )
                if before:
                    row += f" {_fmt(before.get(dataset, {}).get(split, {}).get(m))} |"
                lines.append(row)
            lines.append("")
        cpu = d["cpu_ms_per_window"]
        lines += [
            "CPU per window (ms, median / p99): "
            + ", ".join(f"{k} {v['median']:.2f} / {v['p99']:.2f}" for k, v in cpu.items()),
            "",
        ]
    if before:
        lines += [
            f"*Before this change*: the same script with `--trackers-at {report.get('baseline_commit')}` (the "
            "trackers of that commit in today's pipeline), on the same held-out records.",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=os.environ.get("ANYPPG_DATA"), help="the data folder")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument(
        "--limit", type=int, default=None, help="first N recordings per dataset (a quick run)"
    )
    parser.add_argument(
        "--baseline", type=Path, default=None, help="an earlier tracker_clinical.json: a before column"
    )
    parser.add_argument(
        "--baseline-commit", default=None, help="the commit the baseline's trackers came from"
    )
    parser.add_argument("--trackers-at", default=None, help="run the trackers of this git commit instead")
    parser.add_argument("--name", default="tracker_clinical", help="output file stem")
    args = parser.parse_args(argv)
    if args.data is None:
        parser.error("--data DIR (or ANYPPG_DATA) is required: the folder holding bidmc/ and mimicdb/")
    if args.trackers_at:
        use_trackers_at(args.trackers_at)
    baseline = json.loads(args.baseline.read_text()) if args.baseline is not None else None
    held = _held_out()
    if baseline is not None:  # the same held-out records as the baseline (the cards may have moved on)
        held = {
            k: set(v.get("held_out_records", held.get(k, set()))) for k, v in baseline["datasets"].items()
        }
    raw = list(argv if argv is not None else sys.argv[1:])
    t0 = time.perf_counter()
    report: dict[str, Any] = {
        "command": "python benchmarks/bench_tracker_clinical.py "
        + " ".join("DATA" if prev == "--data" else a for prev, a in zip(["", *raw], raw, strict=False)),
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores, 1 thread",
        "datasets": {},
    }
    for dataset in args.datasets.split(","):
        report["datasets"][dataset] = run_dataset(
            dataset, args.data / dataset, held.get(dataset, set()), args.limit
        )
    report["seconds"] = round(time.perf_counter() - t0, 1)
    if baseline is not None:
        report["baseline"] = {
            k: {s: v[s] for s in ("all", "held-out")} for k, v in baseline["datasets"].items()
        }
        report["baseline_commit"] = args.baseline_commit
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / f"{args.name}.md").write_text(markdown(report))
    log.info("wrote %s", args.out / f"{args.name}.{{json,md}}")
    return report


if __name__ == "__main__":
    main()
