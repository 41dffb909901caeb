"""Benchmark of the SDK's reported heart rate on real recordings: the tracker alone against the fused value.

Every recording is streamed through :class:`anyppg.sdk.pipeline.Pipeline` in 0.25 s blocks, as
``anyppg stream replay:FILE`` would (all PPG channels, accelerometer in g), with the shipped student
(``--model``) and, when given, a learned motion model. For each window the result carries the
classical tracker's value (``heart_rate_tracker``), the encoder head's (``heart_rate_model``) and the
fused ``heart_rate`` with its ``heart_rate_confidence``; each is scored against the ECG:

- TROIKA and BAMI-I (``anyppg.datasets.wrist``): the reference window of 8 s that ends where the
  result's 10 s window ends (the estimate is causal: it may use nothing later);
- BIDMC (``anyppg.datasets.clinical``): the heart rate of the ECG R-peaks inside the result's window.

The fusion's parameters are fixed a priori (``anyppg.sdk.fusion``); nothing here is tuned, so the
numbers are subject-honest. Per recording and per dataset (mean over recordings): MAE of each method
over the windows it reports, its coverage, the fused MAE over the tracker's windows, and the fused
MAE by confidence band.

Writes ``benchmarks/results/fusion.json`` and ``fusion.md``. Run:
``python benchmarks/bench_fusion.py --data ../shared/data`` (or set ``ANYPPG_DATA``).

``--cli`` scores what a user gets from the command line instead: each TROIKA / BAMI-I recording is
written as a replay NPZ (every PPG channel, ``acc`` in g as the dataset readers give it, ``fs``) and
streamed by the real ``anyppg stream replay:FILE --speed max --json --model MODEL`` process, once
with ``--motion-model auto`` (the shipped int8 motion model) and once with ``--motion-model none``;
the JSON lines are scored as above (the fused ``heart_rate``, the tracker, the motion model's own
estimate) and the summary line's accounting is checked. Writes ``fusion_cli.{json,md}``. The shipped
motion model was trained on every TROIKA and BAMI-I subject: these numbers are in-sample for it (its
leave-one-subject-out numbers: ``motion_learned_loso.md``). For a held-out view of the fused value, a
third run (``--model none --motion-model none``) gives the tracker's value and confidence per window,
and :class:`~anyppg.sdk.fusion.HeartRateFusion` fuses them with the motion model's held-out
(leave-one-subject-out, int8, tracked) estimate of the same window from ``motion_learned_loso.json``
(``loso_fused``): the SDK's fusion rule with a model that never saw the subject. That model ran on the
dataset's own signals in its export script, not on the pipeline's band-passed windows: an
approximation of what the stream would do, labelled as such.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

import anyppg
from anyppg.sdk.fusion import Estimate, HeartRateFusion
from anyppg.sdk.pipeline import Pipeline
from anyppg.sdk.samples import SampleBlock

log = logging.getLogger("bench_fusion")
RESULTS = Path(__file__).parent / "results"
METHODS = ("tracker", "fused", "model")
#: confidence bands of the fused value scored separately (lower edges).
BANDS = (0.0, 0.25, 0.5, 0.75)


def _model(spec: str) -> Any | None:
    if spec == "none":
        return None
    from anyppg.sdk.cmd_stream import resolve_model

    return resolve_model(spec)


def stream(
    ppg: np.ndarray,
    acc: np.ndarray | None,
    fs: float,
    model: Any | None,
    motion_model: Any | None,
    tracker: str = "auto",
    polarity: str = "normal",
) -> list[Any]:
    """Push a recording (``ppg`` (channels, n) or (n,), ``acc`` (3, n) in g) through a pipeline told
    the recording's ``polarity`` (BAMI-I's counts are stored upside down)."""
    samples = ppg.T if ppg.ndim == 2 else ppg
    acc_t = None if acc is None else acc.T
    pipeline = Pipeline("bench", model, motion_model=motion_model, tracker=tracker, polarity=polarity)  # type: ignore[arg-type]
    block = max(1, round(fs / 4))
    out = []
    for i in range(0, samples.shape[0], block):
        b = SampleBlock(i / fs, fs, samples[i : i + block], None if acc_t is None else acc_t[i : i + block])
        out += pipeline.push(b)
    return out + pipeline.flush()


def _values(results: list[Any], refs: np.ndarray) -> dict[str, np.ndarray]:
    pick = {
        "tracker": lambda r: r.heart_rate_tracker,
        "fused": lambda r: r.heart_rate,
        "model": lambda r: r.heart_rate_model,
    }
    out = {m: np.array([np.nan if f(r) is None else f(r) for r in results]) for m, f in pick.items()}
    out["confidence"] = np.array(
        [np.nan if r.heart_rate_confidence is None else r.heart_rate_confidence for r in results]
    )
    out["ref"] = refs
    return out


def _score(v: dict[str, np.ndarray]) -> dict[str, Any]:
    ref = v["ref"]
    known = np.isfinite(ref)
    row: dict[str, Any] = {"windows": int(known.sum())}
    for m in METHODS:
        have = known & np.isfinite(v[m])
        row[f"{m}_mae"] = float(np.mean(np.abs(v[m][have] - ref[have]))) if have.any() else None
        row[f"{m}_coverage"] = float(have.sum() / max(1, known.sum()))
    both = known & np.isfinite(v["tracker"]) & np.isfinite(v["fused"])
    row["fused_mae_on_tracker_windows"] = (
        float(np.mean(np.abs(v["fused"][both] - ref[both]))) if both.any() else None
    )
    row["tracker_mae_same_windows"] = (
        float(np.mean(np.abs(v["tracker"][both] - ref[both]))) if both.any() else None
    )
    return row


def _bands(all_v: list[dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    ref = np.concatenate([v["ref"] for v in all_v])
    fused = np.concatenate([v["fused"] for v in all_v])
    conf = np.concatenate([v["confidence"] for v in all_v])
    ok = np.isfinite(ref) & np.isfinite(fused) & np.isfinite(conf)
    rows = []
    edges = (*BANDS, 1.0001)
    for lo, hi in itertools.pairwise(edges):
        sel = ok & (conf >= lo) & (conf < hi)
        err = np.abs(fused[sel] - ref[sel])
        rows.append(
            {
                "confidence": f"{lo:.2f}-{min(hi, 1.0):.2f}",
                "windows": int(sel.sum()),
                "mae": float(err.mean()) if sel.any() else None,
                "within_5_bpm": float(np.mean(err <= 5)) if sel.any() else None,
            }
        )
    return rows


def wrist_refs(results: list[Any], rec: Any) -> np.ndarray:
    """Per result: the reference window (8 s) ending where the result's window ends, or NaN."""
    end = {
        round(float(s + rec.ref_window_s), 3): float(b)
        for s, b in zip(rec.ref_start_s, rec.ref_bpm, strict=True)
    }
    return np.array([end.get(round(r.t_end, 3), np.nan) for r in results])


def bidmc_refs(results: list[Any], rec: Any) -> np.ndarray:
    """Per result: the heart rate of the ECG R-peaks inside its window, or NaN."""
    from anyppg.datasets.labels import beat_rate

    return np.array([beat_rate(rec.r_peaks_s, r.t_start, r.t_end - r.t_start)[0] for r in results])


def _datasets(root: Path, names: list[str]) -> dict[str, tuple[Callable[[], list[Any]], str]]:
    from anyppg.datasets import clinical, wrist

    table = {
        "troika": (lambda: wrist.read_troika(root / "troika"), "wrist"),
        "bami1": (lambda: wrist.read_bami(root / "bami1"), "wrist"),
        "bidmc": (lambda: clinical.read_bidmc(root / "bidmc"), "clinical"),
    }
    return {n: table[n] for n in names}


def run_dataset(
    name: str,
    recordings: list[Any],
    kind: str,
    model: Any,
    motion_model: Any,
    limit: int,
    tracker: str = "auto",
) -> dict[str, Any]:
    rows, all_v = [], []
    for rec in recordings[: limit or None]:
        t0 = time.perf_counter()
        if kind == "wrist":
            results = stream(rec.ppg, rec.acc, rec.fs, model, motion_model, tracker, rec.polarity)
            refs = wrist_refs(results, rec)
        else:
            results = stream(rec.ppg, None, rec.ppg_fs, model, motion_model, tracker)
            refs = bidmc_refs(results, rec)
        v = _values(results, refs)
        row = {
            "record": rec.record,
            "subject": rec.subject,
            **_score(v),
            "seconds": round(time.perf_counter() - t0, 2),
        }
        rows.append(row)
        all_v.append(v)
        log.info(
            "%s %s: tracker %s fused %s model %s",
            name,
            rec.record,
            row["tracker_mae"],
            row["fused_mae"],
            row["model_mae"],
        )
    summary: dict[str, Any] = {"recordings": len(rows)}
    for key in (
        *(f"{m}_mae" for m in METHODS),
        "fused_mae_on_tracker_windows",
        "tracker_mae_same_windows",
        *(f"{m}_coverage" for m in METHODS),
    ):
        vals = [r[key] for r in rows if r[key] is not None]
        summary[key] = float(np.mean(vals)) if vals else None
    summary["recordings_fused_worse"] = sum(
        1
        for r in rows
        if r["fused_mae"] is not None
        and r["tracker_mae"] is not None
        and r["fused_mae"] > r["tracker_mae"] + 1e-9
    )
    return {"summary": summary, "per_recording": rows, "confidence_bands": _bands(all_v)}


def stream_cli(
    rec: Any, workdir: Path, model: str, motion_model: str
) -> tuple[list[Any], dict[str, Any], float]:
    """Stream a wrist recording through the ``anyppg stream`` command as a user would.

    The recording is written to ``workdir`` as a replay NPZ (``ppg`` (channels, n), ``acc`` (3, n)
    in g, ``fs``); ``anyppg stream replay:FILE --speed max --json --model MODEL --motion-model
    MOTION_MODEL`` runs in its own process. Returns the results (attribute access, as
    :class:`~anyppg.sdk.results.Result`), the summary line and the wall time (s).

    Raises:
        RuntimeError: the command failed (its stderr).
    """
    path = workdir / f"{rec.dataset}_{rec.record}.npz"
    if not path.exists():
        np.savez(path, ppg=rec.ppg, acc=rec.acc, fs=float(rec.fs))
    cmd = [sys.executable, "-m", "anyppg", "stream", f"replay:{path}", "--speed", "max", "--json"]
    cmd += ["--model", model, "--motion-model", motion_model, "--polarity", rec.polarity]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return [SimpleNamespace(**x) for x in lines if x["type"] == "result"], lines[-1], wall


def _mae(est: np.ndarray, ref: np.ndarray) -> tuple[float | None, float]:
    known = np.isfinite(ref)
    have = known & np.isfinite(est)
    mae = float(np.mean(np.abs(est[have] - ref[have]))) if have.any() else None
    return mae, float(have.sum() / max(1, known.sum()))


def _loso_windows(path: Path) -> dict[str, dict[float, tuple[float, float]]]:
    """record -> {window end (s): (bpm, confidence)} of the held-out tracked motion model, or {}."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    cols = data["window_columns"]
    i_t, i_b, i_c = cols.index("t_end_s"), cols.index("bpm_tracked"), cols.index("confidence_tracked")
    return {
        rec: {round(float(w[i_t]), 3): (float(w[i_b]), float(w[i_c])) for w in r["windows"]}
        for rec, r in data["records"].items()
    }


def loso_fused(results: list[Any], loso: dict[float, tuple[float, float]]) -> np.ndarray:
    """The SDK's fusion of the tracker-only run's values with the held-out motion model's estimates."""
    fusion = HeartRateFusion()
    out = np.full(len(results), np.nan)
    for i, r in enumerate(results):
        tracker = None
        if r.heart_rate_tracker is not None and r.heart_rate_confidence is not None:
            tracker = Estimate("tracker", r.heart_rate_tracker, r.heart_rate_confidence)
        mm = loso.get(round(r.t_end, 3))
        learned = [] if mm is None or not np.isfinite(mm[0]) else [Estimate("motion_model", mm[0], mm[1])]
        fused = fusion.fuse(tracker, learned)
        out[i] = np.nan if fused.bpm is None else fused.bpm
    return out


def run_cli_dataset(
    name: str, recordings: list[Any], model: str, limit: int, workdir: Path
) -> dict[str, Any]:
    """:func:`stream_cli` with ``--motion-model auto`` and ``none`` on each recording, scored; and the
    tracker-only run fused with the held-out motion model (:func:`loso_fused`)."""
    rows = []
    held_out = _loso_windows(RESULTS / "motion_learned_loso.json")
    for rec in recordings[: limit or None]:
        row: dict[str, Any] = {"record": rec.record, "subject": rec.subject, "loso_fused_mae": None}
        if rec.record in held_out:
            plain, _, _ = stream_cli(rec, workdir, "none", "none")  # heart_rate_confidence = the tracker's
            row["loso_fused_mae"] = _mae(loso_fused(plain, held_out[rec.record]), wrist_refs(plain, rec))[0]
        for spec in ("auto", "none"):
            results, summary, wall = stream_cli(rec, workdir, model, spec)
            refs = wrist_refs(results, rec)
            v = _values(results, refs)
            motion = np.array(
                [np.nan if r.heart_rate_motion_model is None else r.heart_rate_motion_model for r in results]
            )
            row[f"{spec}_mae"], row[f"{spec}_coverage"] = _mae(v["fused"], refs)
            row[f"{spec}_tracker_mae"] = _mae(v["tracker"], refs)[0]
            row[f"{spec}_seconds"] = round(wall, 2)
            device = summary["devices"][0]
            balanced = summary["received"] == summary["delivered"] + summary["dropped"]
            row[f"{spec}_accounting"] = {
                "received": summary["received"],
                "samples": int(rec.ppg.shape[1]),
                "dropped": summary["dropped"],
                "balanced": balanced,
            }
            if spec == "auto":
                row["motion_model_mae"], row["motion_model_coverage"] = _mae(motion, refs)
                row["motion_model_windows"] = device["motion_model_windows"]
                row["windows_total"] = device["windows"]
                row["sources"] = device["heart_rate_sources"]
        rows.append(row)
        log.info(
            "cli %s %s: auto %.2f none %.2f (tracker %.2f, motion model alone %.2f)",
            name,
            rec.record,
            row["auto_mae"],
            row["none_mae"],
            row["none_tracker_mae"],
            row["motion_model_mae"],
        )
    summary_row: dict[str, Any] = {"recordings": len(rows)}
    for key in (
        "auto_mae",
        "none_mae",
        "none_tracker_mae",
        "motion_model_mae",
        "loso_fused_mae",
        "auto_coverage",
        "none_coverage",
    ):
        vals = [r[key] for r in rows if r[key] is not None]
        summary_row[key] = float(np.mean(vals)) if vals else None
    summary_row["worst_auto"] = max((r["auto_mae"] for r in rows), default=None)
    summary_row["worst_none"] = max((r["none_mae"] for r in rows), default=None)
    summary_row["recordings_auto_worse"] = sum(1 for r in rows if r["auto_mae"] > r["none_mae"] + 1e-9)
    summary_row["accounting_exact"] = all(
        r[f"{s}_accounting"]["balanced"]
        and r[f"{s}_accounting"]["received"] == r[f"{s}_accounting"]["samples"]
        for r in rows
        for s in ("auto", "none")
    )
    return {"summary": summary_row, "per_recording": rows}


def write_cli_markdown(report: dict[str, Any], path: Path) -> None:
    lines = [
        "# `anyppg stream --motion-model auto` vs `none` on TROIKA and BAMI-I (as a user gets it)",
        "",
        f"Command per recording: `{report['command_per_recording']}`; {report['machine']}; tree `{report['tree']}`.",
        "",
        "Each recording written as a replay NPZ (every PPG channel, acc in g, fs) and streamed by the real",
        "CLI process; MAE in bpm of the JSON lines' `heart_rate` against the ECG reference window ending where",
        "the result's window ends (mean over recordings).",
        "",
        "**In-sample for the motion model**: the shipped `motion-hr` int8 model was trained on every",
        "TROIKA and BAMI-I subject, so the `auto` column is not a held-out result. Its leave-one-subject-out",
        "numbers (the model alone, tracked): TROIKA 1.66, BAMI-I 1.89 bpm (`motion_learned_loso.md`).",
        "",
        "*fused, held-out model*: the tracker-only run (`--model none --motion-model none`) fused by",
        "`HeartRateFusion` with the held-out (leave-one-subject-out, int8, tracked) motion model's estimate",
        "of each window from `motion_learned_loso.json`; that model ran on the dataset's signals in its",
        "export script, not on the stream's windows, so this approximates a held-out `auto`.",
        "",
        "| dataset | recordings | `--motion-model none` | `--motion-model auto` (in-sample) | fused, held-out model (LOSO, approx.) | motion model alone (in-sample) | recordings where auto > none | worst none / auto | accounting exact |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, d in report["datasets"].items():
        s = d["summary"]
        lines.append(
            f"| {name} | {s['recordings']} | {_fmt(s['none_mae'])} | {_fmt(s['auto_mae'])} | {_fmt(s['loso_fused_mae'])} | {_fmt(s['motion_model_mae'])} | "
            f"{s['recordings_auto_worse']} | {_fmt(s['worst_none'])} / {_fmt(s['worst_auto'])} | {s['accounting_exact']} |"
        )
    for name, d in report["datasets"].items():
        lines += [
            "",
            f"## {name}: per recording",
            "",
            "| record | subject | none | auto | fused, held-out model | tracker | motion model alone | windows with the motion model in heart_rate | s (auto / none) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in d["per_recording"]:
            mixed = sum(n for k, n in r["sources"].items() if "motion_model" in k)
            lines.append(
                f"| {r['record']} | {r['subject']} | {_fmt(r['none_mae'])} | {_fmt(r['auto_mae'])} | {_fmt(r['loso_fused_mae'])} | {_fmt(r['none_tracker_mae'])} | "
                f"{_fmt(r['motion_model_mae'])} | {mixed} / {r['windows_total']} | {r['auto_seconds']:.0f} / {r['none_seconds']:.0f} |"
            )
    path.write_text("\n".join(lines) + "\n")


def _tree() -> str:
    """The commit and whether the working tree had uncommitted changes under anyppg/ or sdk/."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "anyppg", "sdk"], cwd=root, capture_output=True, text=True
        ).stdout.split()
    except OSError:
        return "unknown"
    changed = [x for x in dirty if "/" in x]
    return head.strip() + (f" + uncommitted {', '.join(changed)}" if changed else "")


def fusion_cost_us(repeats: int = 20000) -> float:
    """Median cost of one ``HeartRateFusion.fuse`` call with a tracker and two learned estimates, µs."""
    fusion = HeartRateFusion()
    tr, learned = (
        Estimate("tracker", 92.0, 0.7),
        [Estimate("encoder", 95.0, 0.4), Estimate("motion_model", 90.0, 0.8)],
    )
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeats):
            fusion.fuse(tr, learned)
        times.append((time.perf_counter() - t0) / repeats * 1e6)
    return float(np.median(times))


def _fmt(x: Any, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def write_markdown(report: dict[str, Any], path: Path) -> None:
    lines = [
        "# Tracker vs fused heart rate on real recordings",
        "",
        f"Command: `{report['command']}`; model `{report['model']}`, motion model `{report['motion_model']}`, tracker `{report['tracker']}`; "
        f"{report['machine']}. Fusion: {report['fusion_cost_us']:.1f} µs per window.",
        "",
        "MAE in bpm against the ECG (mean over recordings); coverage = share of reference windows with a value.",
        "",
        "| dataset | recordings | tracker MAE | fused MAE | model head MAE | fused on tracker windows | tracker coverage | fused coverage | recordings where fused > tracker |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, d in report["datasets"].items():
        s = d["summary"]
        lines.append(
            f"| {name} | {s['recordings']} | {_fmt(s['tracker_mae'])} | {_fmt(s['fused_mae'])} | {_fmt(s['model_mae'])} | "
            f"{_fmt(s['fused_mae_on_tracker_windows'])} | {_fmt(s['tracker_coverage'])} | {_fmt(s['fused_coverage'])} | "
            f"{s['recordings_fused_worse']} |"
        )
    for name, d in report["datasets"].items():
        lines += [
            "",
            f"## {name}: fused MAE by confidence",
            "",
            "| confidence | windows | MAE | within 5 bpm |",
            "|---|---|---|---|",
        ]
        for b in d["confidence_bands"]:
            lines.append(
                f"| {b['confidence']} | {b['windows']} | {_fmt(b['mae'])} | {_fmt(b['within_5_bpm'])} |"
            )
        lines += [
            "",
            f"## {name}: per recording",
            "",
            "| record | subject | windows | tracker | fused | model | fused coverage |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in d["per_recording"]:
            lines.append(
                f"| {r['record']} | {r['subject']} | {r['windows']} | {_fmt(r['tracker_mae'])} | {_fmt(r['fused_mae'])} | "
                f"{_fmt(r['model_mae'])} | {_fmt(r['fused_coverage'])} |"
            )
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=os.environ.get("ANYPPG_DATA"), help="the data folder (or ANYPPG_DATA)"
    )
    parser.add_argument(
        "--datasets", default="troika,bami1,bidmc", help="comma-separated: troika, bami1, bidmc"
    )
    parser.add_argument("--model", default="default", help="model for the pipeline ('none' for signal only)")
    parser.add_argument(
        "--motion-model", default="none", help="'shipped' for anyppg.sdk.motion_runtime's model"
    )
    parser.add_argument(
        "--limit", type=int, default=0, help="at most this many recordings per dataset (0: all)"
    )
    parser.add_argument(
        "--tracker", default="auto", choices=("auto", "motion", "classic"), help="the pipeline's tracker"
    )
    parser.add_argument(
        "--out", default=None, help="output path without suffix (default results/fusion[_cli])"
    )
    parser.add_argument(
        "--cli",
        action="store_true",
        help="score the anyppg stream command (--motion-model auto vs none) on troika, bami1 -> fusion_cli",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.data:
        parser.error("give --data or set ANYPPG_DATA (the folder holding troika/, bami1/, bidmc/)")
    if args.cli:
        main_cli(args)
        return
    args.out = args.out or str(RESULTS / "fusion")
    model = _model(args.model)
    motion_model = None
    if args.motion_model != "none":
        from anyppg.sdk.motion_runtime import MotionModel

        motion_model = MotionModel.load(None if args.motion_model == "shipped" else args.motion_model)
    report: dict[str, Any] = {
        "command": "python benchmarks/bench_fusion.py --data DATA "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("data", "out")),
        "model": args.model,
        "motion_model": args.motion_model,
        "tracker": args.tracker,
        "machine": f"{platform.machine()} {platform.python_version()}, anyppg {anyppg.__version__}",
        "fusion_cost_us": fusion_cost_us(),
        "datasets": {},
    }
    for name, (read, kind) in _datasets(Path(args.data), args.datasets.split(",")).items():
        report["datasets"][name] = run_dataset(
            name, read(), kind, model, motion_model, args.limit, args.tracker
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    write_markdown(report, out.with_suffix(".md"))
    log.info("wrote %s.{json,md}", out)


def main_cli(args: argparse.Namespace) -> None:
    names = [n for n in args.datasets.split(",") if n in ("troika", "bami1")]
    report: dict[str, Any] = {
        "command": "python benchmarks/bench_fusion.py --data DATA --cli "
        + f"--datasets {','.join(names)} --model {args.model} --limit {args.limit}",
        "command_per_recording": f"anyppg stream replay:FILE --speed max --json --model {args.model} "
        "--motion-model auto|none",
        "machine": f"{platform.machine()} {platform.python_version()}, anyppg {anyppg.__version__}",
        "tree": _tree(),
        "in_sample": "the shipped motion model was trained on all TROIKA and BAMI-I subjects",
        "datasets": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench_fusion_cli_") as tmp:
        for name, (read, _kind) in _datasets(Path(args.data), names).items():
            report["datasets"][name] = run_cli_dataset(name, read(), args.model, args.limit, Path(tmp))
    out = Path(args.out or RESULTS / "fusion_cli")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    write_cli_markdown(report, out.with_suffix(".md"))
    log.info("wrote %s.{json,md}", out)


if __name__ == "__main__":
    main()
