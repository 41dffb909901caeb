"""Motion-robust heart rate on real wrist PPG + accelerometer (TROIKA, BAMI-I): the SDK as it is, the
classical :class:`anyppg.signal.motion_hr.MotionHeartRateTracker`, NeuroKit2 as the PPG-only peer,
and the learned model / the SDK's fused value from their own benchmarks' result files.

Every estimate is causal and scored against the ECG heart rate of the 8-s reference window that ends
where the estimate's input ends (reference window ``i`` covers ``[2i, 2i + 8)`` s):

- ``sdk``: :class:`anyppg.sdk.pipeline.Pipeline` without a model, fed PPG channel 0 and the
  accelerometer (g) in 0.25 s blocks, as ``anyppg stream replay:FILE --speed max`` would; its
  ``heart_rate_tracker`` (the tracker inside the SDK at the time of the run); ``sdk_classic``: the
  same with ``Pipeline(tracker="classic")``, the SDK's tracker before this work (when the pipeline
  offers that choice);
- ``tracker_ch0`` / ``tracker``: the motion tracker (default parameters) on channel 0 / on all PPG
  channels, each window the 10 s ending at the reference window's end (8 s analysed);
- ``tracker_loso``: the tracker on all channels with parameters picked leave-one-subject-out from a
  small grid (for each held-out subject, the grid point with the lowest mean MAE over all other
  subjects of both datasets);
- ``neurokit2``: ``nk.ppg_clean`` + ``nk.ppg_findpeaks`` (Elgendi) on channel 0 of the same 10-s
  window, 60 / median beat interval of the beats in its last 8 s;
- ``learned``: from ``benchmarks/results/motion_learned_loso.json`` (the learned PPG + ACC model,
  leave-one-subject-out), when that file exists; ``fused``: from ``benchmarks/results/fusion.json``
  (the SDK's fused heart rate), when it exists; ``stream_none`` / ``stream_auto``: from
  ``benchmarks/results/fusion_cli.json`` (``bench_fusion.py --cli``: the ``anyppg stream`` command's
  ``heart_rate`` with ``--motion-model none`` / ``auto``; ``auto`` is in-sample for the shipped
  motion model, which was trained on every TROIKA and BAMI-I subject).

Per recording: MAE (bpm) over the windows a method reports and its coverage; per dataset: the mean over
recordings (TROIKA: 13 recordings of 12 subjects; BAMI-I: 24 subjects). The tracker's cost is CPU time
per window (``time.process_time``, one thread). The tracker's confidence is checked by band.

Writes ``benchmarks/results/motion.json`` and ``motion.md``. Run (a few minutes on one core):
``python benchmarks/bench_motion.py --data ../shared/data`` (or set ``ANYPPG_DATA``); ``--quick``
skips the LOSO grid and NeuroKit2; ``--refresh`` only re-reads the learned / fused columns into an
existing ``motion.json`` (after those benchmarks ran again); ``--other`` (no data folder) compares the
classic and the motion tracker on the SDK's windows of simulated walking / clean signal and of the
packaged e2epyppg and vitaldsp recordings (``motion_other.{json,md}``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as on a wearable gateway

import argparse
import dataclasses
import inspect
import itertools
import json
import logging
import platform
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

import anyppg
from anyppg.datasets.wrist import WristRecording, read_bami, read_troika
from anyppg.signal.motion_hr import MotionHeartRateTracker, MotionTrackerConfig

log = logging.getLogger("bench_motion")
RESULTS = Path(__file__).resolve().parent / "results"
READERS: dict[str, Callable[[Path], list[WristRecording]]] = {"troika": read_troika, "bami1": read_bami}
CONTEXT_S = 2.0  # signal before the analysed 8 s (the SDK's window is 10 s)
#: the LOSO grid: the two parameters the results are most sensitive to (docs/signal.md).
GRID = {"spectral_tilt": (1.0, 1.5, 2.0), "emission_floor": (0.05, 0.1, 0.2)}
BANDS = (0.0, 0.25, 0.5, 0.75)
PUBLISHED = {
    "troika": "TROIKA (Zhang 2015) 2.34, JOSS 1.28, WFPV 1.02 (12-subject set)",
    "bami1": "BAMI authors 2.7 (their held-out treadmill set, BAMI-II)",
}


def _windows(rec: WristRecording) -> Iterator[tuple[int, int]]:
    """Sample ranges of the input of each reference window: up to 10 s ending at its end."""
    for start_s in rec.ref_start_s:
        stop = round((start_s + rec.ref_window_s) * rec.fs)
        yield max(0, stop - round((rec.ref_window_s + CONTEXT_S) * rec.fs)), stop


def run_tracker(
    rec: WristRecording, config: MotionTrackerConfig, channels: slice = slice(None)
) -> tuple[np.ndarray, np.ndarray, float]:
    """The tracker over a recording's reference windows: ``(bpm, confidence, cpu_s)``."""
    tracker = MotionHeartRateTracker(rec.fs, config=config)
    bpm, conf = np.empty(len(rec.ref_bpm)), np.empty(len(rec.ref_bpm))
    ppg = rec.ppg[channels]
    cpu = 0.0
    previous = None
    for i, (a, b) in enumerate(_windows(rec)):
        dt = 2.0 if previous is None else rec.ref_start_s[i] - previous
        previous = rec.ref_start_s[i]
        t0 = time.process_time()
        est = tracker.update(ppg[:, a:b], rec.acc[:, a:b], dt_s=dt)
        cpu += time.process_time() - t0
        bpm[i], conf[i] = est.bpm, est.confidence
    return bpm, conf, cpu


def pipeline_results(ppg: np.ndarray, acc: np.ndarray | None, fs: float, tracker: str | None) -> list[Any]:
    """Stream ``ppg`` (n,) and ``acc`` (n, 3) in g through a Pipeline without a model in 0.25 s
    blocks; ``tracker`` as in :func:`run_sdk` (an empty list when the pipeline lacks the choice)."""
    from anyppg.sdk.pipeline import Pipeline
    from anyppg.sdk.samples import SampleBlock

    if tracker is not None and "tracker" not in inspect.signature(Pipeline).parameters:
        return []
    pipeline = Pipeline("bench") if tracker is None else Pipeline("bench", tracker=tracker)
    block = max(1, round(fs / 4))
    results = []
    for i in range(0, len(ppg), block):
        chunk = None if acc is None else acc[i : i + block]
        results += pipeline.push(SampleBlock(i / fs, fs, ppg[i : i + block], chunk))
    return results + pipeline.flush()


def run_sdk(rec: WristRecording, tracker: str | None = None) -> np.ndarray:
    """The SDK's pipeline (no model) on channel 0 + acc, per reference window (NaN: no result).

    ``tracker``: the pipeline's ``tracker=`` choice (``"classic"``: the tracker it shipped before
    the motion tracker); None: its default. NaN throughout when the pipeline has no such choice."""
    results = pipeline_results(rec.ppg[0], rec.acc.T, rec.fs, tracker)
    out = np.full(len(rec.ref_bpm), np.nan)
    index = {round(s * 2): i for i, s in enumerate(rec.ref_start_s)}
    for r in results:
        value = getattr(r, "heart_rate_tracker", r.heart_rate)
        i = index.get(round((r.t_end - rec.ref_window_s) * 2))
        if i is not None and value is not None:
            out[i] = value
    return out


def run_neurokit(rec: WristRecording) -> np.ndarray:
    """NeuroKit2's PPG peak rate on channel 0 per reference window (NaN: under two beats)."""
    import neurokit2 as nk

    out = np.full(len(rec.ref_bpm), np.nan)
    analysed = round(rec.ref_window_s * rec.fs)
    for i, (a, b) in enumerate(_windows(rec)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                cleaned = nk.ppg_clean(rec.ppg[0, a:b], sampling_rate=rec.fs)
                peaks = np.asarray(nk.ppg_findpeaks(cleaned, sampling_rate=rec.fs)["PPG_Peaks"])
            except (ValueError, IndexError):
                continue
        peaks = peaks[peaks >= (b - a) - analysed]
        if len(peaks) >= 3:
            out[i] = 60.0 * rec.fs / float(np.median(np.diff(peaks)))
    return out


def mae(est: np.ndarray, ref: np.ndarray) -> tuple[float | None, float]:
    """MAE over the windows with an estimate, and the share of windows with one."""
    ok = np.isfinite(est)
    return (float(np.mean(np.abs(est[ok] - ref[ok]))) if ok.any() else None), float(ok.mean())


def _external(path: Path, key_names: tuple[str, ...]) -> dict[tuple[str, str], float]:
    """Per-recording MAEs from another benchmark's JSON: ``{(dataset, record): mae}``.

    Reads ``{"datasets": {name: {"per_recording": [{"record": ..., <key>: mae}, ...]}}}`` (the
    layout of bench_fusion) or ``{"records": {record: {"dataset": ..., <key>: mae}}}`` (the learned
    model's LOSO result), taking the first of ``key_names`` present in each row."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        rows = [
            (d, row) for d, body in data.get("datasets", {}).items() for row in body.get("per_recording", [])
        ]
        rows += [(row.get("dataset"), {"record": k, **row}) for k, row in data.get("records", {}).items()]
        out = {}
        for dataset, row in rows:
            for key in key_names:
                if isinstance(row.get(key), int | float):
                    out[(str(dataset), str(row.get("record")))] = float(row[key])
                    break
        return out
    except (ValueError, AttributeError, KeyError, TypeError) as exc:
        log.warning("%s: cannot read per-recording MAEs (%s); column left empty", path, exc)
        return {}


#: the columns filled from other benchmarks' result files: (file, keys tried in order).
EXTERNAL = {
    "learned": ("motion_learned_loso.json", ("int8_mae_tracked", "fp32_mae_tracked", "learned_mae")),
    "fused": ("fusion.json", ("fused_mae",)),
    # what a user gets: `anyppg stream replay:FILE --speed max --json --motion-model none / auto`
    # (bench_fusion.py --cli; `auto` is in-sample for the shipped motion model)
    "stream_none": ("fusion_cli.json", ("none_mae",)),
    "stream_auto": ("fusion_cli.json", ("auto_mae",)),
}


def add_external(report: dict[str, Any], results: Path) -> None:
    """Fill the ``learned`` and ``fused`` columns of a report from their result files (in place)."""
    for method, (file, keys) in EXTERNAL.items():
        values = _external(results / file, keys)
        if not values:
            continue
        if method not in report["methods"]:
            report["methods"].append(method)
        for name, body in report["datasets"].items():
            for row in body["per_recording"]:
                row[f"{method}_mae"] = values.get((name, row["record"]))


def summarise(report: dict[str, Any]) -> None:
    """Per-dataset means and worst recordings of every method (in place; None: a recording lacks it)."""
    for body in report["datasets"].values():
        rows, summary = body["per_recording"], body["summary"]
        summary["recordings"] = len(rows)
        for m in report["methods"]:
            values = [r[f"{m}_mae"] for r in rows if r.get(f"{m}_mae") is not None]
            summary[f"{m}_mae"] = float(np.mean(values)) if len(values) == len(rows) else None
            summary[f"{m}_worst"] = float(np.max(values)) if values else None


def loso(
    recs: dict[str, list[WristRecording]], per_config: dict[tuple[float, ...], dict[tuple[str, str], float]]
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], dict[str, float]]]:
    """Leave-one-subject-out scores: for each subject, the grid point best on all other subjects."""
    subject_of = {(d, r.record): (d, r.subject) for d, rs in recs.items() for r in rs}
    out, picked = {}, {}
    for key, subject in subject_of.items():
        others = [k for k, s in subject_of.items() if s != subject]

        def score(cfg: tuple[float, ...], others: list[tuple[str, str]] = others) -> float:
            return float(np.mean([per_config[cfg][k] for k in others]))

        best = min(per_config, key=score)
        out[key] = per_config[best][key]
        picked[key] = dict(zip(GRID, best, strict=True))
    return out, picked


def confidence_bands(
    ests: list[np.ndarray], confs: list[np.ndarray], refs: list[np.ndarray]
) -> list[dict[str, Any]]:
    est, conf, ref = np.concatenate(ests), np.concatenate(confs), np.concatenate(refs)
    rows = []
    for lo, hi in itertools.pairwise((*BANDS, 1.0001)):
        sel = (conf >= lo) & (conf < hi) & np.isfinite(est)
        err = np.abs(est[sel] - ref[sel])
        rows.append(
            {
                "confidence": f"{lo:.2f}-{min(hi, 1.0):.2f}",
                "windows": int(sel.sum()),
                "share": float(sel.mean()),
                "mae": float(err.mean()) if sel.any() else None,
                "within_5_bpm": float(np.mean(err <= 5)) if sel.any() else None,
            }
        )
    return rows


def _fmt(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    methods = report["methods"]
    lines = [
        "# Motion-robust heart rate on real wrist recordings (bench_motion.py)",
        "",
        f"Command: `{report['command']}`; {report['machine']}. MAE in bpm against the ECG heart rate of",
        "each 8-s reference window (2-s step), causal estimates; per dataset the mean over recordings.",
        "",
        "| dataset | " + " | ".join(methods) + " | published |",
        "|---|" + "---|" * (len(methods) + 1),
    ]
    for name, body in report["datasets"].items():
        cells = [_fmt(body["summary"].get(f"{m}_mae")) for m in methods]
        lines.append(
            f"| {name} ({body['summary']['recordings']} rec.) | "
            + " | ".join(cells)
            + f" | {PUBLISHED[name]} |"
        )
    lines += [
        "",
        "Tracker cost (CPU per window, one thread): "
        + ", ".join(
            f"{n}: {b['summary']['tracker_cpu_ms_per_window']:.2f} ms" for n, b in report["datasets"].items()
        ),
        "",
    ]
    for name, body in report["datasets"].items():
        lines += [
            f"## {name}",
            "",
            "| record | subject | windows | " + " | ".join(methods) + " | sdk coverage |",
        ]
        lines.append("|---|---|---|" + "---|" * (len(methods) + 1))
        for row in body["per_recording"]:
            cells = [_fmt(row.get(f"{m}_mae"), 1) for m in methods]
            lines.append(
                f"| {row['record']} | {row['subject']} | {row['windows']} | "
                + " | ".join(cells)
                + f" | {row['sdk_coverage']:.2f} |"
            )
        lines += [
            "",
            "Tracker (all channels) by confidence:",
            "",
            "| confidence | windows | share | MAE | within 5 bpm |",
        ]
        lines.append("|---|---|---|---|---|")
        for b in body["confidence_bands"]:
            lines.append(
                f"| {b['confidence']} | {b['windows']} | {b['share']:.2f} | {_fmt(b['mae'])} | {_fmt(b['within_5_bpm'])} |"
            )
        lines.append("")
    external = [f"`{m}` from `{EXTERNAL[m][0]}`" for m in methods if m in EXTERNAL]
    if external:
        lines += ["Columns copied from other benchmarks' last runs: " + ", ".join(external) + ".", ""]
    if "stream_auto" in methods:
        lines += [
            "`stream_none` / `stream_auto`: `anyppg stream replay:FILE --speed max --json` with "
            "`--motion-model none` / `auto`; `stream_auto` is in-sample for the shipped motion model "
            "(trained on every TROIKA and BAMI-I subject; held-out view in fusion_cli.md).",
            "",
        ]
    if report.get("loso_grid"):
        lines += [f"LOSO grid: {report['loso_grid']}; the picks per held-out subject are in motion.json.", ""]
    return "\n".join(lines)


# --- recordings without the data folder: the simulator and the packaged recordings ---------------


def _sdk_windows_errors(
    ppg: np.ndarray, acc: np.ndarray, fs: float, truth: Callable[[float, float], float]
) -> dict[str, list[float]]:
    """Both trackers on the SDK's windows (``preprocess_recording``: 10 s at 125 Hz, 2-s hop), each
    error against ``truth(start_s, end_s)`` of the window's last 8 s (NaN reference: skipped)."""
    from anyppg.signal import HeartRateTracker, preprocess_recording

    classic, motion = HeartRateTracker(), MotionHeartRateTracker(125.0)
    errors: dict[str, list[float]] = {"classic": [], "motion": []}
    for w in preprocess_recording(ppg, fs, acc=acc):
        ref = truth(w.end_s - 8.0, w.end_s)
        a = classic.update(w.filtered, w.acc)
        b = motion.update(w.filtered, None if w.acc is None else w.acc.T).bpm
        if np.isfinite(ref):
            errors["classic"].append(abs(a - ref))
            errors["motion"].append(abs(b - ref))
    return errors


def _summary(errors: dict[str, list[float]]) -> dict[str, Any]:
    return {
        k: {
            "windows": len(v),
            "mae": float(np.nanmean(v)),
            "within_5_bpm": float(np.mean(np.asarray(v) <= 5)),
        }
        for k, v in errors.items()
        if v
    }


def other_recordings() -> dict[str, Any]:
    """The classic and the motion tracker on simulated walking and clean signal (``bench_signal``'s
    scenarios: seeds 100-111, heart rate 55-160 bpm, artefact 1-2x the pulse; clean 45-180 bpm at 25
    and 125 Hz) and on the packaged e2epyppg smartwatch and vitaldsp pulse-oximeter recordings
    (against the device's own heart rate averaged per window), when installed."""
    from anyppg.recordings import load

    out: dict[str, Any] = {}
    walking: dict[str, list[float]] = {"classic": [], "motion": []}
    for seed in range(100, 112):
        bpm = float(np.random.default_rng(seed).uniform(55.0, 160.0))
        for motion in (1.0, 2.0):
            sim = anyppg.simulate(200.0, heart_rate=bpm, motion=motion, motion_fraction=1.0, seed=seed)
            for k, v in _sdk_windows_errors(sim.ppg, sim.acc, sim.ppg_rate, sim.mean_heart_rate).items():
                walking[k] += v
    out["simulated walking"] = _summary(walking)
    clean: dict[str, list[float]] = {"classic": [], "motion": []}
    for bpm in (45.0, 75.0, 120.0, 180.0):
        for fs in (25.0, 125.0):
            sim = anyppg.simulate(120.0, heart_rate=bpm, ppg_rate=fs, seed=6)
            for k, v in _sdk_windows_errors(sim.ppg, sim.acc, fs, sim.mean_heart_rate).items():
                clean[k] += v
    out["simulated clean"] = _summary(clean)
    for name in ("e2epyppg-wrist", "vitaldsp-pleth"):
        try:
            rec = load(name)
        except anyppg.errors.RecordingNotFoundError as exc:
            log.warning("%s skipped: %s", name, exc)
            continue
        t, hr = rec.hr_t, rec.hr_bpm

        def device_hr(a: float, b: float, t: np.ndarray = t, hr: np.ndarray = hr) -> float:
            sel = (t >= a) & (t < b) & np.isfinite(hr) & (hr > 0)
            return float(hr[sel].mean()) if sel.any() else float("nan")

        errors = _sdk_windows_errors(rec.ppg, rec.acc, float(rec.ppg_fs), device_hr)
        for key, tracker in (("sdk", None), ("sdk_classic", "classic"), ("sdk_motion", "motion")):
            errors[key] = []
            for r in pipeline_results(rec.ppg, rec.acc, float(rec.ppg_fs), tracker):
                value, ref = getattr(r, "heart_rate_tracker", r.heart_rate), device_hr(r.t_end - 8.0, r.t_end)
                if value is not None and np.isfinite(ref):
                    errors[key].append(abs(value - ref))
        out[name] = _summary(errors)
    return out


def other_markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Motion tracker vs the classic tracker without the data folder (bench_motion.py --other)",
        "",
        "Both on the SDK's windows (10 s at 125 Hz, 2-s hop, band-passed, accelerometer where the",
        "recording has one); MAE (bpm) against the truth of each window's last 8 s (the simulator's",
        "label, or the device's own heart rate).",
        "",
        "| recording | windows | classic MAE | classic within 5 bpm | motion MAE | motion within 5 bpm |"
        " SDK classic MAE (windows) | SDK motion MAE (windows) | SDK MAE (windows) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result.items():
        c, m = r["classic"], r["motion"]
        sdk = [
            f"{r[k]['mae']:.2f} ({r[k]['windows']})" if r.get(k, {}).get("windows") else "–"
            for k in ("sdk_classic", "sdk_motion", "sdk")
        ]
        lines.append(
            f"| {name} | {m['windows']} | {c['mae']:.2f} | {c['within_5_bpm']:.2f} | {m['mae']:.2f} |"
            f" {m['within_5_bpm']:.2f} | {sdk[0]} | {sdk[1]} | {sdk[2]} |"
        )
    lines += [
        "",
        "*SDK*: the pipeline (no model) streaming the raw recording as `anyppg stream replay:` does: its",
        "`heart_rate_tracker` on the windows it tracks (its quality checks skip flat, clipped or silent",
        "windows); *SDK classic* / *SDK motion*: the same with `Pipeline(tracker='classic')` /",
        "`Pipeline(tracker='motion')`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=os.environ.get("ANYPPG_DATA"),
        help="the data folder (holds troika/, bami1/)",
    )
    parser.add_argument("--datasets", default="troika,bami1", help="comma-separated: troika, bami1")
    parser.add_argument("--limit", type=int, default=0, help="first N recordings per dataset (0: all)")
    parser.add_argument("--quick", action="store_true", help="skip the LOSO grid and NeuroKit2")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="only re-read the learned / fused columns into an existing motion.json (no data needed)",
    )
    parser.add_argument(
        "--other",
        action="store_true",
        help="only the simulator and packaged recordings (no data folder): motion_other.{json,md}",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.other:
        result = other_recordings()
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "motion_other.json").write_text(json.dumps(result, indent=1) + "\n")
        (args.out / "motion_other.md").write_text(other_markdown(result))
        log.info("wrote %s", args.out / "motion_other.{json,md}")
        return result
    if args.refresh:
        return _write(json.loads((args.out / "motion.json").read_text()), args.out)
    if args.data is None:
        parser.error("give --data DIR or set ANYPPG_DATA (the folder holding troika/ and bami1/)")
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = sorted(set(names) - set(READERS))
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; expected some of {sorted(READERS)}")
    recs = {}
    for n in names:
        recs[n] = READERS[n](Path(args.data) / n)[: args.limit or None]
    default = MotionTrackerConfig()
    grid = [tuple(v) for v in itertools.product(*GRID.values())]
    per_config: dict[tuple[float, ...], dict[tuple[str, str], float]] = {g: {} for g in grid}
    methods = ["sdk_classic", "sdk", "tracker_ch0", "tracker"]
    if not args.quick:
        methods += ["tracker_loso", "neurokit2"]
    report: dict[str, Any] = {
        "command": "python benchmarks/bench_motion.py --data DATA"
        + (f" --datasets {args.datasets}" if args.datasets != "troika,bami1" else "")
        + (f" --limit {args.limit}" if args.limit else "")
        + (" --quick" if args.quick else ""),
        "machine": f"{platform.machine()} {platform.python_version()}, anyppg {anyppg.__version__}",
        "tracker_config": dataclasses.asdict(default),
        "methods": methods,
        "datasets": {},
    }
    rows: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    band_data: dict[str, tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]] = {
        n: ([], [], []) for n in names
    }
    cpu: dict[str, list[float]] = {n: [0.0, 0.0] for n in names}
    for name, rs in recs.items():
        for rec in rs:
            t_start = time.perf_counter()
            ref = rec.ref_bpm
            row: dict[str, Any] = {"record": rec.record, "subject": rec.subject, "windows": len(ref)}
            bpm, conf, cpu_s = run_tracker(rec, default)
            cpu[name][0] += cpu_s
            cpu[name][1] += len(ref)
            row["tracker_mae"], _ = mae(bpm, ref)
            row["tracker_ch0_mae"], _ = mae(run_tracker(rec, default, slice(0, 1))[0], ref)
            row["sdk_mae"], row["sdk_coverage"] = mae(run_sdk(rec), ref)
            row["sdk_classic_mae"], row["sdk_classic_coverage"] = mae(run_sdk(rec, "classic"), ref)
            for bucket, values in zip(band_data[name], (bpm, conf, ref), strict=True):
                bucket.append(values)
            if not args.quick:
                row["neurokit2_mae"], row["neurokit2_coverage"] = mae(run_neurokit(rec), ref)
                for g in grid:
                    cfg = dataclasses.replace(default, **dict(zip(GRID, g, strict=True)))
                    per_config[g][(name, rec.record)] = mae(run_tracker(rec, cfg)[0], ref)[0] or 0.0
            rows[name].append(row)
            log.info(
                "%s %s: sdk classic %s, sdk %s, tracker %.2f (ch0 %.2f) bpm in %.0f s",
                name,
                rec.record,
                _fmt(row["sdk_classic_mae"]),
                _fmt(row["sdk_mae"]),
                row["tracker_mae"],
                row["tracker_ch0_mae"],
                time.perf_counter() - t_start,
            )
    if not args.quick:
        scores, picked = loso(recs, per_config)
        for name in names:
            for row in rows[name]:
                row["tracker_loso_mae"] = scores[(name, row["record"])]
                row["loso_params"] = picked[(name, row["record"])]
        report["loso_grid"] = {k: list(v) for k, v in GRID.items()}
    for name in names:
        report["datasets"][name] = {
            "summary": {"tracker_cpu_ms_per_window": 1e3 * cpu[name][0] / max(1, cpu[name][1])},
            "per_recording": rows[name],
            "confidence_bands": confidence_bands(*band_data[name]),
        }
    return _write(report, args.out)


def _write(report: dict[str, Any], out: Path) -> dict[str, Any]:
    add_external(report, out)
    summarise(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "motion.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "motion.md").write_text(markdown(report))
    log.info("wrote %s and %s", out / "motion.json", out / "motion.md")
    return report


if __name__ == "__main__":
    main()
