"""Deframer throughput: how many MB/s (and frames/s) of anyppg frames one CPU core can decode.

Streams are built with the real encoder from a seeded random walk, then fed to
:class:`anyppg.firmware_bridge.deframer.Deframer` in read-sized chunks (serial) or one frame per call
(BLE notifications). A clean stream and one with corruption (1 % of frames hit by a flipped byte plus
garbage bursts) are both measured. Results go to ``benchmarks/results/deframer.json`` and ``.md``.

Usage::

    python benchmarks/bench_deframer.py            # full run (about a minute)
    python benchmarks/bench_deframer.py --quick    # smaller streams, fewer repeats
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anyppg.firmware_bridge.deframer import Deframer
from anyppg.firmware_bridge.polar import PmdDataFrame, PmdMeasurementType, PmdStreamEncoder
from anyppg.firmware_bridge.protocol import Channel, FrameEncoder, SampleFormat

log = logging.getLogger("bench_deframer")
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Case:
    name: str
    channels: tuple[Channel, ...]
    fmt: SampleFormat
    rate_hz: float
    mtu: int | None  # None: serial framing
    max_samples: int | None = None


CASES = (
    Case("ble-247 2ch int24 (PPG+ambient)", (Channel.PPG_GREEN, Channel.PPG_AMBIENT), SampleFormat.INT24, 125.0, 247),
    Case("ble-64 1ch int16 (small MTU)", (Channel.PPG_GREEN,), SampleFormat.INT16, 125.0, 64),
    Case("serial 4ch int24, 1 s frames", (Channel.PPG_GREEN, Channel.PPG_RED, Channel.PPG_IR, Channel.PPG_AMBIENT), SampleFormat.INT24, 125.0, None, 125),
    Case("serial 7ch float32 PPG+ACC", (Channel.PPG_GREEN, Channel.PPG_RED, Channel.PPG_IR, Channel.PPG_AMBIENT, Channel.ACC_X, Channel.ACC_Y, Channel.ACC_Z), SampleFormat.FLOAT32, 100.0, None, 100),
)  # fmt: skip


def build_frames(case: Case, total_samples: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.integers(-200, 201, (total_samples, len(case.channels))), axis=0)
    if case.fmt is SampleFormat.FLOAT32:
        walk = walk.astype(np.float32) * 0.01
    else:
        lo, hi = case.fmt.limits
        walk = np.clip(walk, lo, hi)
    enc = FrameEncoder(case.rate_hz, case.channels, case.fmt, mtu=case.mtu, max_samples=case.max_samples)
    return enc.encode(walk, timestamp_us=0)


def corrupt(frames: list[bytes], seed: int = 1) -> bytes:
    """Flip one byte in 1 % of frames and put a garbage burst before 1 % of others."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        r = rng.random()
        if r < 0.01:
            b = bytearray(f)
            b[int(rng.integers(0, len(b)))] ^= 0xFF
            f = bytes(b)
        elif r < 0.02:
            out.append(rng.bytes(int(rng.integers(1, 64))))
        out.append(f)
    return b"".join(out)


def time_stream(stream: bytes, chunk: int, repeats: int) -> tuple[float, Deframer]:
    times = []
    for _ in range(repeats):
        d = Deframer()
        t0 = time.perf_counter()
        for i in range(0, len(stream), chunk):
            d.feed(stream[i : i + chunk])
        times.append(time.perf_counter() - t0)
    return statistics.median(times), d


def time_notifications(frames: list[bytes], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        d = Deframer()
        t0 = time.perf_counter()
        for f in frames:
            d.feed_notification(f)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_polar(seconds: float, repeats: int) -> dict:
    """Decode Verity-Sense-style compressed PPG frames (4 channels, 22-bit, 135 Hz)."""
    n = int(135 * seconds)
    rng = np.random.default_rng(5)
    samples = 300_000 + np.cumsum(rng.integers(-300, 301, (n, 4)), axis=0)
    frames = PmdStreamEncoder(PmdMeasurementType.PPG, 0, True, 135.0, mtu=232).encode(samples, 0)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for f in frames:
            PmdDataFrame.from_bytes(f)
        times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    n_bytes = sum(map(len, frames))
    return {
        "case": "Polar PMD compressed PPG type 0 (4ch, 22-bit, 135 Hz), MTU 232",
        "frames": len(frames),
        "mean_frame_bytes": n_bytes / len(frames),
        "samples_per_frame": n / len(frames),
        "frames_per_s": len(frames) / t,
        "mb_per_s": n_bytes / t / 1e6,
        "realtime_factor": (n / 135) / t,
    }


def run(quick: bool) -> dict:
    seconds = 60 if quick else 300  # of signal per case
    repeats = 3 if quick else 5
    rows = []
    for case in CASES:
        frames = build_frames(case, int(case.rate_hz * seconds))
        clean = b"".join(frames)
        dirty = corrupt(frames)
        for label, stream in (("clean", clean), ("1% corrupt", dirty)):
            for chunk in (64, 4096):
                t, d = time_stream(stream, chunk, repeats)
                rows.append(
                    {
                        "case": case.name,
                        "stream": label,
                        "feed": f"feed({chunk} B)",
                        "frame_bytes": len(frames[0]),
                        "mb_per_s": len(stream) / t / 1e6,
                        "frames_per_s": d.stats.frames_ok / t,
                        "realtime_factor": seconds / t,
                        "frames_ok": d.stats.frames_ok,
                        "frames_lost": d.stats.frames_lost,
                        "crc_errors": d.stats.crc_errors,
                        "garbage_bytes": d.stats.garbage_bytes,
                    }
                )
                log.info("%s %s %s: %.1f MB/s", case.name, label, chunk, rows[-1]["mb_per_s"])
        if case.mtu is not None:
            t = time_notifications(frames, repeats)
            rows.append(
                {
                    "case": case.name,
                    "stream": "clean",
                    "feed": "feed_notification",
                    "frame_bytes": len(frames[0]),
                    "mb_per_s": len(clean) / t / 1e6,
                    "frames_per_s": len(frames) / t,
                    "realtime_factor": seconds / t,
                    "frames_ok": len(frames),
                    "frames_lost": 0,
                    "crc_errors": 0,
                    "garbage_bytes": 0,
                }
            )
    return {
        "benchmark": "deframer",
        "quick": quick,
        "signal_seconds_per_case": seconds,
        "repeats": repeats,
        "statistic": "median wall time",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "numpy": np.__version__,
        "rows": rows,
        "polar": bench_polar(seconds, repeats),
    }


def to_markdown(result: dict) -> str:
    lines = [
        "# Deframer throughput",
        "",
        f"One CPU core, Python {result['python']} ({result['machine']}), numpy {result['numpy']}; "
        f"{result['signal_seconds_per_case']} s of signal per case, median of {result['repeats']} runs. "
        "Realtime factor = seconds of signal decoded per second of CPU. "
        "Produced by `python benchmarks/bench_deframer.py`.",
        "",
        "| case | stream | feed | frame bytes | MB/s | frames/s | x realtime | lost / CRC errors |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['case']} | {r['stream']} | {r['feed']} | {r['frame_bytes']} | {r['mb_per_s']:.1f} | "
            f"{r['frames_per_s']:,.0f} | {r['realtime_factor']:,.0f} | {r['frames_lost']} / {r['crc_errors']} |"
        )
    p = result["polar"]
    lines += [
        "",
        f"Polar: {p['case']}: {p['frames']} frames of {p['mean_frame_bytes']:.0f} B "
        f"({p['samples_per_frame']:.1f} samples each) decode at {p['frames_per_s']:,.0f} frames/s "
        f"({p['mb_per_s']:.2f} MB/s, {p['realtime_factor']:,.0f}x realtime).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller streams, fewer repeats")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for deframer.json / deframer.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = run(args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "deframer.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "deframer.md").write_text(to_markdown(result))
    log.info("wrote %s and %s", args.out / "deframer.json", args.out / "deframer.md")


if __name__ == "__main__":
    main()
