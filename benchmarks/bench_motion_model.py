"""Per-window cost of the shipped learned motion heart-rate model (``anyppg.sdk.motion_runtime``).

Measures, on one thread, the CPU time (``time.process_time``, so it is comparable across runs on a
shared machine) of one 8-s window through:

- ``features``: resampling to 25 Hz and the four spectra per PPG channel (``motion_inputs``);
- ``invoke``: one model invocation (LiteRT ``.tflite`` and ExecuTorch ``.pte``, both int8);
- ``estimate``: the whole ``MotionModel.estimate`` (features + one invocation per PPG channel);
- ``tracker``: ``MotionTracker.update`` (estimate + the belief filter).

for 1 PPG channel at 50 Hz (BAMI-like is 3 channels at 50 Hz; TROIKA 2 at 125 Hz). Results go to
``benchmarks/results/motion_model.{json,md}``.

Usage::

    python benchmarks/bench_motion_model.py [--repeats 300]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from anyppg.sdk.motion_runtime import MotionModel, default_motion_model_path
from anyppg.signal.motion_spectra import motion_inputs
from anyppg.simulator import simulate

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_ms(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    """Median and p90 CPU time of one ``fn()`` call (ms) over ``repeats`` calls after 10 warm-up calls."""
    for _ in range(10):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append((time.process_time() - t0) * 1e3)
    return {"median": statistics.median(times), "p90": float(np.percentile(times, 90))}


def measure(path: Path, ppg: np.ndarray, acc: np.ndarray, fs: float, repeats: int) -> dict[str, object]:
    """The four timings of one model file on one window (see the module docstring)."""
    model = MotionModel.load(path, threads=1)
    tracker = model.tracker()
    name = model.model.output_names[0]
    x = motion_inputs(ppg, acc, fs)[:1]
    return {
        "file": path.name,
        "ppg_channels": ppg.shape[0],
        "rate_hz": fs,
        "features_ms": cpu_ms(lambda: motion_inputs(ppg, acc, fs), repeats),
        "invoke_ms": cpu_ms(lambda: model.model.run(x)[name], repeats),
        "estimate_ms": cpu_ms(lambda: model.estimate(ppg, acc, fs), repeats),
        "tracker_ms": cpu_ms(lambda: tracker.update(ppg, acc, fs, dt_s=2.0), repeats),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args(argv)
    rows = []
    tflite = default_motion_model_path()
    for channels, fs in ((1, 50.0), (3, 50.0), (2, 125.0)):
        sim = simulate(10, heart_rate=120, motion=0.5, ppg_rate=fs, seed=1)
        ppg = np.stack([sim.ppg] * channels)
        for path in (tflite, tflite.with_name("motion-hr_xnnpack_q8.pte")):
            rows.append(measure(path, ppg, sim.acc.T, fs, args.repeats))
    result = {
        "what": "CPU time per 8-s window of the shipped motion model, one thread",
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores, 1 thread",
        "load_average_1min": os.getloadavg()[0],
        "repeats": args.repeats,
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "motion_model.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        "# Learned motion model: CPU time per window",
        "",
        f"`python benchmarks/bench_motion_model.py --repeats {args.repeats}` on {result['machine']} "
        f"(1-min load average {result['load_average_1min']:.1f}); median (p90) ms of CPU time.",
        "",
        "| file | PPG channels | rate (Hz) | features | invoke | estimate | tracker update |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            f"{r[k]['median']:.3f} ({r[k]['p90']:.3f})"
            for k in ("features_ms", "invoke_ms", "estimate_ms", "tracker_ms")
        ]
        lines.append(f"| {r['file']} | {r['ppg_channels']} | {r['rate_hz']:g} | " + " | ".join(cells) + " |")
    (RESULTS / "motion_model.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
