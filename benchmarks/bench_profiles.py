"""Reading profiles and Polar negotiation: what ``hrs:``, ``plx:`` and ``polar:`` cost on top of the link.

Cases, each against the bumble emulator in one process (``LocalLink``, bleak on bumble):

- ``hrs:`` / ``plx:``: connect time (scan -> subscribed) and the latency from a notification reaching
  the SDK to its :class:`~anyppg.sdk.Result` (``Result.latency_ms``), over ``--readings`` notifications.
- ``polar:``: connect time including the settings negotiation, at 55 Hz (no SDK mode: one settings
  query per stream) and at 135 Hz (SDK mode: two more round trips), median of ``--repeats``.

Results go to ``benchmarks/results/profiles.json`` and ``.md``.

Usage::

    python benchmarks/bench_profiles.py            # about 15 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

import anyppg
from anyppg.firmware_bridge.emulator.ble import emulated_ble
from anyppg.firmware_bridge.emulator.sources import parse_source

log = logging.getLogger("bench_profiles")
RESULTS = Path(__file__).resolve().parent / "results"
SOURCE = "sim:duration=60,hr=72,seed=5,rate=64"


async def reading_profile(profile: str, n: int) -> dict:
    async with emulated_ble(parse_source(SOURCE), profile=profile, speed=20.0) as emu:
        device = anyppg.connect(f"{profile}:{emu.name}?timeout=5", adapter=emu.adapter)
        t0 = time.perf_counter()
        async with device:
            connect_s = time.perf_counter() - t0
            latencies = []
            async for result in device.infer(None):
                latencies.append(result.latency_ms)
                if len(latencies) >= n:
                    break
    p50, p99 = np.percentile(latencies, [50, 99])
    return {"case": f"{profile}:", "connect_s": round(connect_s, 3), "latency_ms_p50": round(float(p50), 3),
            "latency_ms_p99": round(float(p99), 3), "readings": n}  # fmt: skip


async def polar(query: str, repeats: int) -> dict:
    async with emulated_ble(
        parse_source("sim:duration=30,seed=2,rate=125"), profile="polar", speed=None
    ) as emu:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            async with anyppg.connect(f"polar:{emu.name}?timeout=5{query}", adapter=emu.adapter) as device:
                times.append(time.perf_counter() - t0)
                sdk_mode = device.transport.in_sdk_mode
            await asyncio.sleep(0.05)
    return {"case": f"polar:{query or ' (55 Hz)'}", "connect_s": round(statistics.median(times), 3),
            "sdk_mode": sdk_mode, "repeats": repeats}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=100, help="notifications per reading profile")
    parser.add_argument("--repeats", type=int, default=7, help="connections per polar case")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING, format="%(message)s"
    )  # the emulator's INFO lines are noise here
    log.setLevel(logging.INFO)
    rows = [asyncio.run(reading_profile(p, args.readings)) for p in ("hrs", "plx")]
    rows += [asyncio.run(polar(q, args.repeats)) for q in ("", "&rate=135")]
    meta = {"python": platform.python_version(), "cpus": os.cpu_count(), "load_1min": os.getloadavg()[0]}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "profiles.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [
        "# Reading profiles and Polar negotiation (in-process bumble emulator)",
        "",
        f"Python {meta['python']}, {meta['cpus']} CPUs, 1-min load {meta['load_1min']:.1f}.",
        "",
        "| case | connect (s) | result latency p50 / p99 (ms) | notes |",
        "|---|---|---|---|",
    ]
    for r in rows:
        latency = f"{r['latency_ms_p50']} / {r['latency_ms_p99']}" if "latency_ms_p50" in r else "--"
        note = (
            f"{r['readings']} notifications"
            if "readings" in r
            else f"SDK mode {r['sdk_mode']}, median of {r['repeats']}"
        )
        lines.append(f"| `{r['case']}` | {r['connect_s']} | {latency} | {note} |")
    (RESULTS / "profiles.md").write_text("\n".join(lines) + "\n")
    log.info("\n".join(lines))


if __name__ == "__main__":
    main()
