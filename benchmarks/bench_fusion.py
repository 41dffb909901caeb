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
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
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
) -> list[Any]:
    """Push a recording (``ppg`` (channels, n) or (n,), ``acc`` (3, n) in g) through a pipeline."""
    samples = ppg.T if ppg.ndim == 2 else ppg
    acc_t = None if acc is None else acc.T
    pipeline = Pipeline("bench", model, motion_model=motion_model, tracker=tracker)  # type: ignore[arg-type]
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
            results = stream(rec.ppg, rec.acc, rec.fs, model, motion_model, tracker)
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
    parser.add_argument("--out", default=str(RESULTS / "fusion"), help="output path without suffix")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.data:
        parser.error("give --data or set ANYPPG_DATA (the folder holding troika/, bami1/, bidmc/)")
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


if __name__ == "__main__":
    main()
