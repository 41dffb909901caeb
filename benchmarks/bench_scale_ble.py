"""BLE scale: N emulated wearables connected at once by one central, streaming with exact accounting.

Each run puts N emulated anyppg wearables (bumble peripherals; PPG + 3-axis ACC at 64 Hz, real time,
16 samples per notification) and one bleak-on-bumble central on one in-process virtual radio, calls
``connect()`` on all N ``anyppg.connect("ble:NAME", adapter=...)`` devices at once, and measures:

- the time until every device is connected (and each device's own connect time);
- then, over a fixed window, the samples each device delivered, the process CPU (cores) and RSS;
- the accounting of every device at the end: ``received == delivered + dropped`` must hold.

Results go to ``benchmarks/results/scale_ble.json`` and ``.md``.

Usage::

    python benchmarks/bench_scale_ble.py                       # 25, 50, 100 devices (~3 min)
    python benchmarks/bench_scale_ble.py --devices 10 --window 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import resource
import statistics
import time
from pathlib import Path

import anyppg
from anyppg.firmware_bridge.emulator.ble import BleEmulator
from anyppg.firmware_bridge.emulator.radio import VirtualRadio
from anyppg.firmware_bridge.emulator.sources import parse_source
from anyppg.sdk.bleak_bumble import BumbleAdapter

log = logging.getLogger("bench_scale_ble")
RESULTS = Path(__file__).resolve().parent / "results"
RATE_HZ = 64
SAMPLES_PER_FRAME = 16


def _rss_mb() -> float:
    """Resident set size now (MB), from /proc where there is one, else the peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_once(n: int, window_s: float, connect_timeout_s: float) -> dict:
    """Connect ``n`` emulated devices at once, stream for ``window_s``, and report."""
    radio = VirtualRadio()
    emulators = []
    for i in range(n):
        source = parse_source(f"sim:duration={window_s + 120:g},rate={RATE_HZ},seed={i}")
        emulator = BleEmulator(source, name=f"SCALE-{i:03d}", speed=1.0, max_samples=SAMPLES_PER_FRAME)
        await emulator.start(link=radio)
        emulators.append(emulator)
    adapter = BumbleAdapter(link=radio)
    await adapter.open()
    devices = [
        anyppg.connect(f"ble:{e.name}?timeout={connect_timeout_s:g}", adapter=adapter) for e in emulators
    ]
    consumers: list[asyncio.Task[None]] = []
    connect_times: dict[int, float] = {}
    failures: dict[int, str] = {}

    async def consume(device: anyppg.Device) -> None:
        async for _block in device.samples():
            pass

    async def connect(i: int, device: anyppg.Device) -> None:
        try:
            await device.connect()
        except anyppg.AnyPPGError as exc:
            failures[i] = str(exc)
            return
        connect_times[i] = time.perf_counter() - t0
        consumers.append(asyncio.create_task(consume(device)))

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(connect(i, d) for i, d in enumerate(devices)))
    t_all = time.perf_counter() - t0
    connect_cpu = time.process_time() - cpu0
    log.info("%d devices: %d connected in %.1f s", n, len(connect_times), t_all)

    await asyncio.sleep(1.0)  # warm-up: every consumer has caught up with what queued while connecting
    delivered0 = [d.accounting.delivered for d in devices]
    cpu1, t1 = time.process_time(), time.perf_counter()
    await asyncio.sleep(window_s)
    elapsed = time.perf_counter() - t1
    cpu_cores = (time.process_time() - cpu1) / elapsed
    delivered = [d.accounting.delivered - d0 for d, d0 in zip(devices, delivered0, strict=True)]
    rss = _rss_mb()

    for task in consumers:
        task.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)
    snapshots = [d.accounting.snapshot() for d in devices]
    balanced = [s.received == s.delivered + s.dropped_total for s in snapshots]
    for device in devices:
        await device.disconnect()
    await adapter.close()
    for emulator in emulators:
        await emulator.stop()

    connected = sorted(connect_times.values())
    per_device = [delivered[i] for i in connect_times]
    expected = RATE_HZ * elapsed
    return {
        "devices": n,
        "connected": len(connected),
        "failures": sorted(set(failures.values()))[:5],
        "time_to_all_connected_s": round(t_all, 2),
        "connect_p50_s": round(statistics.median(connected), 2) if connected else None,
        "connect_cpu_s": round(connect_cpu, 2),
        "window_s": round(elapsed, 2),
        "expected_samples_per_device": round(expected),
        "samples_per_device": {
            "min": min(per_device, default=0),
            "median": statistics.median(per_device) if per_device else 0,
            "max": max(per_device, default=0),
        },
        "realtime_fraction_min": round(min(per_device, default=0) / expected, 3),
        "accounting_exact": all(balanced),
        "devices_balanced": sum(balanced),
        "received_total": sum(s.received for s in snapshots),
        "delivered_total": sum(s.delivered for s in snapshots),
        "dropped_total": sum(s.dropped_total for s in snapshots),
        "cpu_cores_streaming": round(cpu_cores, 3),
        "rss_mb": round(rss, 1),
    }


def _markdown(meta: dict, runs: list[dict]) -> str:
    lines = [
        "# BLE scale: one central, N emulated wearables connecting at once",
        "",
        f"Python {meta['python']} ({meta['machine']}), shared 2-core machine. Each device: anyppg profile, "
        f"PPG + 3-axis ACC at {RATE_HZ} Hz, real time, {SAMPLES_PER_FRAME} samples per notification; all "
        "`connect()` calls issued at once through bleak on bumble (one adapter, one virtual radio). "
        f"Samples counted over a {meta['window_s']:g} s window after every device connected. "
        "Produced by `python benchmarks/bench_scale_ble.py`.",
        "",
        "| devices | connected | all connected (s) | median connect (s) | samples/device in window "
        "(min / median / max, expected) | accounting exact | CPU while streaming (cores) | RSS (MB) |",
        "|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for r in runs:
        s = r["samples_per_device"]
        lines.append(
            f"| {r['devices']} | {r['connected']} | {r['time_to_all_connected_s']:.1f} | "
            f"{r['connect_p50_s'] if r['connect_p50_s'] is not None else '-'} | "
            f"{s['min']} / {s['median']:g} / {s['max']} ({r['expected_samples_per_device']}) | "
            f"{'yes' if r['accounting_exact'] else 'NO'} ({r['devices_balanced']}/{r['devices']}) | "
            f"{r['cpu_cores_streaming']:.2f} | {r['rss_mb']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="25,50,100", help="comma-separated device counts")
    parser.add_argument("--window", type=float, default=10.0, help="streaming window per run (s)")
    parser.add_argument("--connect-timeout", type=float, default=60.0, help="per-device connect timeout (s)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("anyppg").setLevel(logging.WARNING)
    counts = [int(x) for x in args.devices.split(",") if x.strip()]
    runs = [asyncio.run(run_once(n, args.window, args.connect_timeout)) for n in counts]
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "window_s": args.window,
        "rate_hz": RATE_HZ,
        "samples_per_frame": SAMPLES_PER_FRAME,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale_ble.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=2) + "\n")
    (args.out / "scale_ble.md").write_text(_markdown(meta, runs))
    print(_markdown(meta, runs))


if __name__ == "__main__":
    main()
