"""Benchmark of one gateway process serving N simulated wearables in real time with the shipped model.

For each N (default 100, 200, 500) a fresh Python process runs :class:`anyppg.sdk.gateway.Gateway`
over N ``sim:`` streams (64 Hz PPG + 3-axis accelerometer, 16-sample blocks like BLE notifications,
paced at real time, a mix of heart rates, rhythms and motion) with the shipped int8 student through
LiteRT, for ``--warmup`` + ``--seconds`` of wall clock. Measured over the steady part (after warm-up):

- real-time factor per stream: samples delivered / (rate x wall time); min and mean over streams;
- CPU cores used (process CPU time / wall time) and CPU per window (all of it: transports, event
  loop, accounting, preprocessing, quality, heart rate, model), which does not depend on how busy
  the machine is; from it, how many streams two cores would serve;
- lag behind real time (largest, and results flagged ``lagging``), back-pressure drops, accounting;
- resident memory per stream (RSS growth after connecting, / N).

Also measured: the CPU of one window through :class:`~anyppg.sdk.pipeline.Pipeline` alone (blocks
pushed one at a time, model + accelerometer), the number the per-window optimisations act on.

Writes ``benchmarks/results/scale.json`` and ``scale.md``. Run::

    python benchmarks/bench_scale.py [--streams 100,200,500] [--seconds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("bench_scale")
RESULTS = Path(__file__).parent / "results"
RATE = 64.0


def _rss_mib() -> float:
    """Resident memory of this process now, MiB (Linux /proc; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _source_mib(gateway: Any) -> float:
    """Memory the simulated sources hold (each ``sim:`` pre-generates its whole signal), MiB."""
    total = 0
    for s in gateway.streams:
        sim = getattr(s.device.transport, "simulation", None)
        total += (
            sum(v.nbytes for v in vars(sim).values() if isinstance(v, np.ndarray)) if sim is not None else 0
        )
    return total / 2**20


def _urls(n: int, duration_s: float) -> list[str]:
    """N simulated wearables: heart rates 55-120 bpm, one in ten in AF, one in three moving."""
    urls = []
    for i in range(n):
        hr = 55 + (i * 7) % 66
        rhythm = "af" if i % 10 == 9 else "sinus"
        motion = (0.0, 0.0, 0.5)[i % 3]
        urls.append(
            f"sim:?seed={i}&hr={hr}&rhythm={rhythm}&motion={motion}&rate={RATE:g}&duration={duration_s:g}"
        )
    return urls


async def _run_gateway(n: int, model: Any, warmup_s: float, seconds: float, tick_s: float) -> dict[str, Any]:
    from anyppg.sdk.gateway import Gateway

    rss_before = _rss_mib()
    gateway = Gateway(_urls(n, warmup_s + seconds + 30), model, tick_s=tick_s)
    windows = 0
    lagging = 0
    marks: dict[str, Any] = {}

    def mark(name: str) -> None:
        marks[name] = {
            "wall": time.perf_counter(),
            "cpu": time.process_time(),
            "windows": windows,
            "delivered": np.array([s.device.accounting.delivered for s in gateway.streams], dtype=np.float64),
            "sent": np.array(
                [s.device.transport.truth["samples_sent"] for s in gateway.streams], dtype=np.float64
            ),
        }

    async def consume() -> None:
        nonlocal windows, lagging
        async for r in gateway.results():
            windows += 1
            lagging += int(r.lagging)

    t_connect = time.perf_counter()
    async with gateway:
        connect_s = time.perf_counter() - t_connect
        rss_connected = _rss_mib()
        source_mib = _source_mib(gateway)
        task = asyncio.create_task(consume())
        await asyncio.sleep(warmup_s)
        await gateway.wait_tick()  # measure between scheduler rounds: every queue drained alike
        mark("start")
        await asyncio.sleep(seconds)
        await gateway.wait_tick()
        mark("end")
        rss_end = _rss_mib()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    a, b = marks["start"], marks["end"]
    wall = b["wall"] - a["wall"]
    cpu = b["cpu"] - a["cpu"]
    rt = (b["delivered"] - a["delivered"]) / (RATE * wall)
    sent = (b["sent"] - a["sent"]) / (RATE * wall)  # what the simulated devices managed to send
    device_s = float((b["delivered"] - a["delivered"]).sum()) / RATE  # stream-seconds processed
    n_windows = b["windows"] - a["windows"]
    accounts = [s.device.accounting for s in gateway.streams]
    return {
        "streams": n,
        "connect_s": round(connect_s, 2),
        "wall_s": round(wall, 2),
        "realtime_factor_min": round(float(rt.min()), 4),
        "realtime_factor_mean": round(float(rt.mean()), 4),
        "source_realtime_factor_min": round(float(sent.min()), 4),
        "cores_used": round(cpu / wall, 3),
        "cpu_ms_per_window": round(cpu / n_windows * 1e3, 3) if n_windows else None,
        "cpu_ms_per_stream_second": round(cpu / max(device_s, 1e-9) * 1e3, 3),
        "streams_per_2_cores": int(2 * device_s / cpu) if cpu > 0 and n_windows else None,
        "windows": n_windows,
        "max_lag_s": round(max(s.max_lag_s for s in gateway.streams), 3),
        "lagging_windows": lagging,
        "lagging_streams": sum(s.lagging_episodes > 0 for s in gateway.streams),
        "backpressure_dropped": sum(acc.dropped["backpressure"] for acc in accounts),
        "accounting_balanced": all(acc.is_balanced() for acc in accounts),
        "errors": sum(s.error is not None for s in gateway.streams),
        "rss_mib_before": round(rss_before, 1),
        "rss_mib_per_stream": round((max(rss_connected, rss_end) - rss_before) / n, 3),
        "source_mib_per_stream": round(source_mib / n, 3),
        "rss_mib_per_stream_without_source": round(
            (max(rss_connected, rss_end) - rss_before - source_mib) / n, 3
        ),
        "loadavg_1min_at_end": round(os.getloadavg()[0], 2),
    }


def bench_pipeline_alone(model: Any, seconds: float = 120.0) -> dict[str, Any]:
    """CPU per window of one Pipeline fed 16-sample blocks (model + accelerometer), process time."""
    import anyppg
    from anyppg.sdk.pipeline import Pipeline
    from anyppg.sdk.samples import SampleBlock

    sims = [
        anyppg.simulate(seconds, heart_rate=60 + 9 * i, ppg_rate=RATE, motion=(0, 0.3, 0.6)[i % 3], seed=i)
        for i in range(3)
    ]

    def run() -> int:
        n = 0
        for k, sim in enumerate(sims):
            p = Pipeline(f"bench-{k}", model)
            for i in range(0, len(sim.ppg), 16):
                n += len(p.push(SampleBlock(i / RATE, RATE, sim.ppg[i : i + 16], sim.acc[i : i + 16])))
        return n

    run()  # warm caches and the interpreter
    best = float("inf")
    n = 0
    for _ in range(3):
        c0 = time.process_time()
        n = run()
        best = min(best, time.process_time() - c0)
    return {"windows": n, "cpu_ms_per_window": round(best / n * 1e3, 3), "block_samples": 16, "rate_hz": RATE}


def _child(args: argparse.Namespace) -> None:
    from anyppg.sdk.cmd_stream import resolve_model

    logging.getLogger("anyppg.sdk.gateway").setLevel(logging.ERROR)  # lag is counted, not printed
    model = resolve_model(args.model)
    if args.one == 0:
        out = bench_pipeline_alone(model)
    else:
        out = asyncio.run(_run_gateway(args.one, model, args.warmup, args.seconds, args.tick))
    print(json.dumps(out))


def _in_child(argv: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench_scale child {argv} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def to_markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        "# Gateway scale: simulated wearables in real time, one process, shipped int8 model",
        "",
        f"{env['cpu_count']} CPU cores ({env['machine']}, Python {env['python']}), load average "
        f"{env['loadavg_1min_at_start']} at the start; {report['seconds']} s measured after {report['warmup']} s "
        f"of warm-up; `sim:` streams at {RATE:g} Hz with accelerometer, 16-sample blocks, gateway tick "
        f"{report['tick_s']} s. Model: {report['model']}.",
        "",
        "| streams | real-time factor min / mean | sources sent (min) | cores used | CPU ms / window | CPU ms / stream-s "
        "| streams per 2 cores | max lag s | lagging windows | back-pressure drops | balanced "
        "| RSS MiB / stream (without the simulated source) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["gateway"]:
        lines.append(
            f"| {r['streams']} | {r['realtime_factor_min']:.3f} / {r['realtime_factor_mean']:.3f} "
            f"| {r['source_realtime_factor_min']:.3f} | {r['cores_used']:.2f} "
            f"| {_num(r['cpu_ms_per_window'])} | {r['cpu_ms_per_stream_second']:.3f} | {r['streams_per_2_cores']} "
            f"| {r['max_lag_s']:.2f} | {r['lagging_windows']} | {r['backpressure_dropped']} "
            f"| {'yes' if r['accounting_balanced'] else 'NO'} "
            f"| {r['rss_mib_per_stream']:.2f} ({r['rss_mib_per_stream_without_source']:.2f}) |"
        )
    p = report["pipeline_alone"]
    lines += [
        "",
        f"Pipeline alone (blocks of {p['block_samples']} samples pushed one at a time, model + accelerometer): "
        f"{p['cpu_ms_per_window']:.2f} ms CPU per window ({p['windows']} windows).",
        "",
        "CPU figures are process CPU time, so they hold on a busy machine; the real-time factor and the "
        "lag are wall-clock figures and need the cores to be free. Load average at the end of each run "
        "is in scale.json.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", default="100,200,500", help="comma-separated stream counts")
    parser.add_argument("--seconds", type=float, default=40.0, help="measured wall time per run, s")
    parser.add_argument("--warmup", type=float, default=15.0, help="wall time before measuring, s")
    parser.add_argument("--tick", type=float, default=0.5, help="gateway tick, s")
    parser.add_argument(
        "--model", default="default", help="'default' (shipped int8 student), a path, or 'none'"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # child: one run
    args = parser.parse_args()
    if args.one is not None:
        _child(args)
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    common = [
        "--seconds",
        str(args.seconds),
        "--warmup",
        str(args.warmup),
        "--tick",
        str(args.tick),
        "--model",
        args.model,
    ]
    report: dict[str, Any] = {
        "environment": {
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "loadavg_1min_at_start": round(os.getloadavg()[0], 2),
        },
        "model": args.model,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "tick_s": args.tick,
        "pipeline_alone": _in_child(["--one", "0", *common]),
        "gateway": [],
    }
    log.info("pipeline alone: %s", report["pipeline_alone"])
    for n in (int(x) for x in args.streams.split(",")):
        row = _in_child(["--one", str(n), *common])
        log.info("%d streams: %s", n, row)
        report["gateway"].append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "scale.md").write_text(to_markdown(report))
    log.info("wrote %s and %s", args.out / "scale.json", args.out / "scale.md")


if __name__ == "__main__":
    main()
