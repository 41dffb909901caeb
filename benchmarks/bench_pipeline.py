"""Benchmark of the SDK streaming pipeline: throughput, per-window latency, and motion-robust heart rate.

Measures, on this machine, with one thread:

1. the pipeline alone (timeline -> preprocessing -> quality -> heart rate [-> model]) on simulated
   blocks: windows per second and per-window latency;
2. end to end through real stacks: ``replay:`` (files), ``serial:`` (an emulated device on a pty) and
   ``ble:`` (an emulated bumble peripheral, bleak on bumble, paced at 100x real time);
3. heart rate on the real e2epyppg wrist recording (PPG + accelerometer + the watch's own HR) and on a
   simulated recording with heavy motion, with the accelerometer given to the tracker ``auto`` (where
   motion is detected), ``always`` and ``never``, against peaks of one window and the model head.

Writes ``benchmarks/results/pipeline.json`` and ``pipeline.md``. Run: ``python benchmarks/bench_pipeline.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

import anyppg
from anyppg.sdk.demo import hr_errors
from anyppg.sdk.pipeline import Pipeline
from anyppg.sdk.replay_files import ReplayData
from anyppg.sdk.samples import SampleBlock
from anyppg.sdk.summary import percentiles

log = logging.getLogger("bench_pipeline")
RESULTS = Path(__file__).parent / "results"


def _model(spec: str) -> Any | None:
    from anyppg.sdk.cmd_stream import resolve_model

    try:
        return resolve_model(spec)
    except anyppg.AnyPPGError as exc:
        log.warning("no model: %s", exc)
        return None


def bench_pipeline_alone(model: Any | None, seconds: float, with_acc: bool) -> dict[str, Any]:
    """Push a 64 Hz simulation through :class:`Pipeline` in 0.25 s blocks; time every push. Steady
    state: without the polarity watch, which costs a stream's first 55 windows about 1.7 ms more each
    (docs/sdk.md, "Pulse polarity")."""
    sim = anyppg.simulate(seconds, heart_rate=72, ppg_rate=64.0, motion=0.3, seed=0)
    pipeline = Pipeline("bench", model, watch_polarity=False)
    latencies = []
    n_windows = 0
    start = time.perf_counter()
    for i in range(0, len(sim.ppg), 16):
        block = SampleBlock(
            i / 64,
            64.0,
            sim.ppg[i : i + 16],
            sim.acc[i : i + 16] if with_acc else None,
            arrival=time.perf_counter(),
        )
        results = pipeline.push(block)
        n_windows += len(results)
        latencies += [r.latency_ms for r in results]
    wall = time.perf_counter() - start
    return {
        "signal_s": seconds,
        "windows": n_windows,
        "wall_s": round(wall, 3),
        "windows_per_s": round(n_windows / wall, 1),
        "realtime_factor": round(seconds / wall, 1),
        "latency_ms": percentiles(latencies),
    }


async def _consume(url: str, model: Any | None, limit_windows: int, **kwargs: Any) -> dict[str, Any]:
    latencies = []
    start = time.perf_counter()
    async with anyppg.connect(url, backpressure="block", **kwargs) as device:
        async for r in device.infer(model):
            latencies.append(r.latency_ms)
            if len(latencies) >= limit_windows:
                break
        acc = device.accounting
    wall = time.perf_counter() - start
    return {
        "windows": len(latencies),
        "wall_s": round(wall, 3),
        "windows_per_s": round(len(latencies) / wall, 1),
        "latency_ms": percentiles(latencies),
        "received": acc.received,
        "delivered": acc.delivered,
        "dropped": acc.dropped_total,
    }


async def bench_end_to_end(model: Any | None, windows: int) -> dict[str, Any]:
    from anyppg.firmware_bridge.emulator.ble import emulated_ble
    from anyppg.firmware_bridge.emulator.serial import SerialEmulator
    from anyppg.firmware_bridge.emulator.sources import parse_source

    out: dict[str, Any] = {}
    sim = anyppg.simulate(2 * windows + 20, heart_rate=72, ppg_rate=64.0, seed=1)
    data = ReplayData(np.arange(len(sim.ppg)) / 64.0, sim.ppg, 64.0, sim.acc, "sim")
    out["replay"] = await _consume("replay:sim?speed=max&block=16", model, windows, data=data)
    source = parse_source(f"sim:duration={2 * windows + 40},rate=64,seed=1")
    async with SerialEmulator(source, speed=None) as emu:
        out["serial"] = await _consume(f"serial:{emu.port}", model, windows)
    # The emulated BLE peripheral shares the process and event loop with the SDK: pace it at 100x real
    # time so the number measures the central's path, not a peripheral flooding the loop.
    async with emulated_ble(source, speed=100.0) as emu:
        out["ble"] = await _consume(f"ble:{emu.name}", model, windows, adapter=emu.adapter)
    return out


async def _results(data: ReplayData, model: Any | None, use_acc: str, polarity: str = "normal") -> list:
    from anyppg.sdk.transports.replay import ReplayTransport
    from anyppg.sdk.urls import parse_url

    transport = ReplayTransport(parse_url("replay:bench?speed=max"), data=data)
    device = anyppg.connect("replay:bench", backend=transport)
    pipeline_results = []
    async with device:
        # Device.infer has no use_acc switch (it is a pipeline option): drive the pipeline directly.
        pipeline = Pipeline(device.name, model, use_acc=use_acc, polarity=polarity)  # type: ignore[arg-type]
        async for block in transport.stream():
            pipeline_results += pipeline.push(block)
    return pipeline_results


async def bench_motion(model: Any | None) -> dict[str, Any]:
    from anyppg import recordings

    out: dict[str, Any] = {}
    rec = recordings.load("e2epyppg-wrist")
    acc_g = rec.acc / 9.80665
    wrist = ReplayData(
        np.arange(len(rec.ppg)) / rec.ppg_fs, rec.ppg, float(rec.ppg_fs), acc_g, "e2epyppg-wrist"
    )
    sim = anyppg.simulate(
        600, heart_rate=95, hrv=0.04, motion=1.0, motion_fraction=0.6, ppg_rate=64.0, seed=3
    )
    simulated = ReplayData(np.arange(len(sim.ppg)) / 64.0, sim.ppg, 64.0, sim.acc, "simulated, motion=1.0")
    sim_ref = (sim.r_peaks, sim.hr)
    # The watch's raw counts fall as blood volume rises: declared, as anyppg demo declares it.
    for name, data, ref, polarity in (
        ("e2epyppg-wrist", wrist, rec.reference_hr, recordings.polarity("e2epyppg-wrist")),
        ("simulated-motion", simulated, sim_ref, "normal"),
    ):
        entry: dict[str, Any] = {
            "duration_s": round(float(data.t[-1]), 1),
            "reference": "watch HR" if name.startswith("e2e") else "simulator RR",
            "polarity": polarity,
        }
        for use_acc in ("auto", "always", "never"):
            start = time.perf_counter()
            results = await _results(data, model if use_acc == "auto" else None, use_acc, polarity)
            entry[f"tracked_acc_{use_acc}"] = hr_errors(results, ref, "heart_rate") | {
                "wall_s": round(time.perf_counter() - start, 2)
            }
            if use_acc == "auto":
                entry["peaks_one_window"] = hr_errors(results, ref, "heart_rate_peaks")
                entry["model_head"] = hr_errors(results, ref, "heart_rate_model")
                motion = np.array([np.nan if r.motion is None else r.motion for r in results])
                entry["windows"] = len(results)
                entry["windows_with_motion_over_0.1g"] = int(np.sum(motion > 0.1))
        out[name] = entry
    return out


def _cell(entry: dict[str, Any], key: str) -> str:
    v = entry.get(key) or {}
    if not v.get("n"):
        return "n/a"
    return f"{v['mae_bpm']} bpm / {100 * v['within_5_bpm']:.0f}% / {v['n']}"


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# SDK pipeline benchmark",
        "",
        f"Machine: {report['machine']}; model: {report['model'] or 'none (signal only)'}; one thread.",
        "",
        "## Throughput and per-window latency",
        "",
        "| path | windows | windows/s | latency p50 (ms) | p90 | p99 |",
        "|---|---|---|---|---|---|",
    ]
    rows = [(f"pipeline alone, {k}", v) for k, v in report["pipeline_alone"].items()]
    rows += [(f"end to end, {k}", v) for k, v in report["end_to_end"].items()]
    for name, v in rows:
        lat = v["latency_ms"]
        lines.append(
            f"| {name} | {v['windows']} | {v['windows_per_s']} | {lat['p50']} | {lat['p90']} | {lat['p99']} |"
        )
    lines += [
        "",
        "Latency: from the arrival of the block that completes a window to its result (queueing included).",
        "",
        "## Heart rate with motion (MAE / % within 5 bpm / windows)",
        "",
        "| recording | tracked, acc auto | acc always | acc never | peaks, one window | model head |",
        "|---|---|---|---|---|---|",
    ]
    for name, e in report["heart_rate"].items():
        lines.append(
            f"| {name} ({e['duration_s']} s, ref: {e['reference']}, {e['windows_with_motion_over_0.1g']}/{e['windows']} windows in motion) "
            f"| {_cell(e, 'tracked_acc_auto')} | {_cell(e, 'tracked_acc_always')} | {_cell(e, 'tracked_acc_never')} "
            f"| {_cell(e, 'peaks_one_window')} | {_cell(e, 'model_head')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="default", help="model file, 'default' (shipped student) or 'none'"
    )
    parser.add_argument("--seconds", type=float, default=300.0, help="signal per pipeline-alone run (s)")
    parser.add_argument("--windows", type=int, default=100, help="windows per end-to-end run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    model = None if args.model == "none" else _model(args.model)
    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "model": None if model is None else Path(model.path).name,
        "pipeline_alone": {},
    }
    for label, m, with_acc in (
        ("signal only", None, False),
        ("signal only + acc", None, True),
        ("with model + acc", model, True),
    ):
        if label.startswith("with model") and model is None:
            continue
        log.info("pipeline alone: %s", label)
        report["pipeline_alone"][label] = bench_pipeline_alone(m, args.seconds, with_acc)
    log.info("end to end")
    report["end_to_end"] = asyncio.run(bench_end_to_end(model, args.windows))
    log.info("heart rate with motion")
    report["heart_rate"] = asyncio.run(bench_motion(model))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pipeline.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "pipeline.md").write_text(to_markdown(report))
    print(to_markdown(report))


if __name__ == "__main__":
    main()
