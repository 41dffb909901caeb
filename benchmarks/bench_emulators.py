"""Emulator throughput and connection latency: how fast the virtual wearables can feed the SDK.

Cases (each at ``speed=max``, so the link, not the sensor clock, is the limit):

- BLE in one process: bumble peripheral and bleak-on-bumble central on a ``LocalLink``;
  anyppg profile (PPG + 3-axis ACC, int24) at MTU 517 and MTU 247, and the Polar profile
  (compressed 4-channel PPG at 135 Hz).
- BLE across processes: ``anyppg emulate`` in a subprocess, the central over HCI on loopback TCP.
- Serial: the pty emulator read with pyserial.

Also the time from "start scanning" to "connected, MTU raised, services discovered". Results go to
``benchmarks/results/emulators.json`` and ``.md``.

Usage::

    python benchmarks/bench_emulators.py            # about a minute
    python benchmarks/bench_emulators.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import serial
from bleak import BleakClient, BleakScanner

from anyppg.firmware_bridge.deframer import Deframer
from anyppg.firmware_bridge.emulator.ble import emulated_ble
from anyppg.firmware_bridge.emulator.serial import SerialEmulator
from anyppg.firmware_bridge.emulator.sources import parse_source
from anyppg.firmware_bridge.gatt import ANYPPG_CONTROL_UUID, ANYPPG_DATA_UUID, ControlCommand, control_frame
from anyppg.firmware_bridge.polar import (
    PMD_CONTROL_POINT_UUID,
    PMD_DATA_UUID,
    PmdCommand,
    PmdDataFrame,
    PmdMeasurementType,
)
from anyppg.sdk.bleak_bumble import BumbleAdapter

log = logging.getLogger("bench_emulators")
RESULTS = Path(__file__).resolve().parent / "results"
SOURCE = "sim:hr=70,seed=1,duration=120"
EMULATE = (sys.executable, "-m", "anyppg", "emulate", "--json", "--stats-every", "0", "--hci-port", "0")


async def _central(adapter: BumbleAdapter, name: str, seconds: float, profile: str, mtu: int) -> dict:
    t0 = time.perf_counter()
    device = await BleakScanner.find_device_by_name(name, timeout=15, backend=adapter.scanner_backend)
    counts = {"notifications": 0, "bytes": 0, "samples": 0}
    deframer = Deframer()

    def on_anyppg(_c, value: bytearray) -> None:
        frame = deframer.feed_notification(value)
        counts["notifications"] += 1
        counts["bytes"] += len(value)
        counts["samples"] += frame.n_samples if frame is not None else 0

    def on_pmd(_c, value: bytearray) -> None:
        counts["notifications"] += 1
        counts["bytes"] += len(value)
        counts["samples"] += PmdDataFrame.from_bytes(value).n_samples

    async with BleakClient(device, backend=adapter.client_backend, mtu=mtu) as client:
        connect_ms = (time.perf_counter() - t0) * 1000
        if profile == "polar":
            await client.start_notify(PMD_CONTROL_POINT_UUID, lambda _c, _v: None)
            await client.start_notify(PMD_DATA_UUID, on_pmd)
            command = PmdCommand.start(PmdMeasurementType.PPG, sample_rate=135, resolution=22, channels=4)
            await client.write_gatt_char(PMD_CONTROL_POINT_UUID, bytes(command), response=True)
        else:
            await client.start_notify(ANYPPG_DATA_UUID, on_anyppg)
            await client.write_gatt_char(ANYPPG_CONTROL_UUID, bytes(ControlCommand.start()), response=True)
        await asyncio.sleep(0.3)  # warm-up
        start = dict(counts)
        t1 = time.perf_counter()
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - t1
        negotiated = client.mtu_size
    return {
        "connect_ms": connect_ms,
        "mtu": negotiated,
        "notifications_per_s": (counts["notifications"] - start["notifications"]) / elapsed,
        "kB_per_s": (counts["bytes"] - start["bytes"]) / elapsed / 1000,
        "samples_per_s": (counts["samples"] - start["samples"]) / elapsed,
    }


async def ble_in_process(profile: str, mtu: int, seconds: float) -> dict:
    source = parse_source(SOURCE)
    async with emulated_ble(source, profile=profile, speed=None) as emu:
        result = await _central(emu.adapter, emu.name, seconds, profile, mtu)
    rate = 135.0 if profile == "polar" else source.rate_hz
    return {**result, "x_realtime": result["samples_per_s"] / rate}


def ble_cross_process(seconds: float) -> dict:
    proc = subprocess.Popen(
        [*EMULATE, "--speed", "max", "--source", SOURCE],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready = json.loads(proc.stdout.readline())

        async def run() -> dict:
            async with BumbleAdapter(ready["central_transport"]) as adapter:
                return await _central(adapter, ready["name"], seconds, "anyppg", 517)

        result = asyncio.run(run())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    return {**result, "x_realtime": result["samples_per_s"] / 125.0}


async def serial_pty(seconds: float) -> dict:
    source = parse_source(SOURCE)
    async with SerialEmulator(source, speed=None, max_samples=25) as emu:
        port = serial.Serial(emu.port, timeout=0.02)
        deframer = Deframer()
        port.write(control_frame(ControlCommand.start()))
        await asyncio.sleep(0.3)
        t0, n_bytes, samples = time.perf_counter(), 0, 0
        while time.perf_counter() - t0 < seconds:
            data = await asyncio.to_thread(port.read, 65536)
            n_bytes += len(data)
            samples += sum(f.n_samples for f in deframer.feed(data))
        elapsed = time.perf_counter() - t0
        port.close()
    return {
        "kB_per_s": n_bytes / elapsed / 1000,
        "samples_per_s": samples / elapsed,
        "x_realtime": samples / elapsed / 125.0,
    }


def _median(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s per case, one run")
    args = parser.parse_args()
    seconds, repeats = (1.0, 1) if args.quick else (3.0, 3)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    cases = {
        "BLE in-process, anyppg PPG+ACC int24, MTU 517": lambda: asyncio.run(
            ble_in_process("anyppg", 517, seconds)
        ),
        "BLE in-process, anyppg PPG+ACC int24, MTU 247": lambda: asyncio.run(
            ble_in_process("anyppg", 247, seconds)
        ),
        "BLE in-process, Polar compressed PPG 135 Hz": lambda: asyncio.run(
            ble_in_process("polar", 517, seconds)
        ),
        "BLE cross-process, HCI over TCP, MTU 517": lambda: ble_cross_process(seconds),
        "serial pty, PPG+ACC int24, 25-sample frames": lambda: asyncio.run(serial_pty(seconds)),
    }
    results = {}
    for name, run in cases.items():
        log.info("%s ...", name)
        results[name] = _median([run() for _ in range(repeats)])
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "seconds_per_run": seconds,
        "repeats": repeats,
        "source": SOURCE,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "emulators.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    lines = [
        "# Emulator throughput and connection latency",
        "",
        f"Python {meta['python']} ({meta['machine']}), shared 2-core machine; speed=max, median of {repeats} runs of "
        f"{seconds:g} s. x realtime = sensor seconds delivered per wall second. Produced by "
        "`python benchmarks/bench_emulators.py`.",
        "",
        "| case | connect (ms) | MTU | notifications/s | kB/s | samples/s | x realtime |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        connect = f"{r['connect_ms']:.0f}" if "connect_ms" in r else "-"
        mtu = f"{r['mtu']:.0f}" if "mtu" in r else "-"
        notes = f"{r['notifications_per_s']:,.0f}" if "notifications_per_s" in r else "-"
        lines.append(
            f"| {name} | {connect} | {mtu} | {notes} | {r['kB_per_s']:,.0f} | {r['samples_per_s']:,.0f} | "
            f"{r['x_realtime']:,.0f} |"
        )
    (RESULTS / "emulators.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
