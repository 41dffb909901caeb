"""Soak test of every wire codec: 10^6 fuzzed frames each, no exception allowed, no good frame lost.

Codecs:

* ``anyppg`` protocol: one continuous byte stream through
  :class:`~anyppg.firmware_bridge.deframer.Deframer` (fed in random read sizes), built from three
  channel layouts. Each frame is, at random, intact (1 in 3), hit by 1-4 random bytes, cut short,
  dropped, sent twice, or replaced by noise; 15 % are preceded by garbage, half of which opens with a
  false sync and a plausible header. The deframer must never raise and must deliver every intact
  frame (``frames_lost`` counts intact frames that did not come out).
* Heart Rate Service, PLX continuous and spot-check, Polar PMD data frames (PPG compressed, ACC
  compressed, ECG raw): one notification per frame, fuzzed the same way (intact, byte hits, cut
  short, extended, noise). A decoder may reject a frame only with an ``AnyPPGError`` (counted as
  ``rejected``); any other exception is counted in ``exceptions``, and an intact frame that does not
  decode back to what was sent is ``frames_lost``.

Results go to ``benchmarks/results/soak.json`` and ``.md``.

Usage::

    python benchmarks/soak_codecs.py                  # 10^6 frames per codec (several minutes)
    python benchmarks/soak_codecs.py --frames 20000   # a quick run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import platform
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anyppg.errors import AnyPPGError
from anyppg.firmware_bridge.deframer import Deframer
from anyppg.firmware_bridge.hrs import HeartRateMeasurement
from anyppg.firmware_bridge.plx import PlxContinuousMeasurement, PlxSpotCheckMeasurement
from anyppg.firmware_bridge.polar import PmdDataFrame, PmdMeasurementType, PmdStreamEncoder
from anyppg.firmware_bridge.protocol import SYNC, Channel, DataFrame, FrameEncoder, SampleFormat

log = logging.getLogger("soak_codecs")
RESULTS = Path(__file__).resolve().parent / "results"
POOL = 4096  # distinct valid frames per codec, cycled


@dataclass
class SoakResult:
    """What one codec did with ``frames`` fuzzed frames."""

    codec: str
    frames: int = 0
    intact: int = 0
    frames_lost: int = 0
    exceptions: int = 0
    rejected: int = 0
    seconds: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    first_exceptions: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "codec": self.codec,
            "frames": self.frames,
            "intact": self.intact,
            "frames_lost": self.frames_lost,
            "exceptions": self.exceptions,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 2),
            "frames_per_s": round(self.frames / self.seconds) if self.seconds > 0 else None,
            "faults": dict(sorted(self.faults.items())),
            "first_exceptions": self.first_exceptions,
            **self.extra,
        }

    def exception(self, exc: BaseException) -> None:
        self.exceptions += 1
        if len(self.first_exceptions) < 5:
            self.first_exceptions.append("".join(traceback.format_exception_only(exc)).strip())


# --- fuzzing ----------------------------------------------------------------------------------------


def _hit(rng: np.random.Generator, frame: bytes) -> bytes:
    """1-4 random bytes set to random values (never the same value, so the frame is really hit)."""
    out = bytearray(frame)
    for i in rng.integers(0, len(out), int(rng.integers(1, 5))):
        out[i] = (out[i] + int(rng.integers(1, 256))) & 0xFF
    return bytes(out)


def _false_sync(rng: np.random.Generator) -> bytes:
    """A false sync with a plausible header: version 1, a known type, a modest length."""
    head = SYNC + bytes((1, int(rng.integers(1, 4)))) + int(rng.integers(0, 300)).to_bytes(2, "little")
    return head + rng.bytes(int(rng.integers(0, 40)))


def fuzz_notification(rng: np.random.Generator, frame: bytes) -> tuple[str, bytes]:
    """One fuzzed notification: ``(kind, bytes)``; kind ``intact`` leaves the frame as it was."""
    r = rng.random()
    if r < 1 / 3:
        return "intact", frame
    if r < 0.55:
        return "hit", _hit(rng, frame)
    if r < 0.70:
        return "cut", frame[: int(rng.integers(0, len(frame)))]
    if r < 0.85:
        return "extended", frame + rng.bytes(int(rng.integers(1, 16)))
    return "noise", rng.bytes(int(rng.integers(0, 2 * len(frame) + 1)))


# --- the anyppg protocol stream ---------------------------------------------------------------------


def _protocol_pool(rng: np.random.Generator) -> list[bytes]:
    """Valid frames of three layouts, interleaved, each with its own sequence and time line."""
    layouts = (
        ((Channel.PPG_GREEN, Channel.PPG_AMBIENT), SampleFormat.INT24, 20, 0),
        ((Channel.PPG_GREEN,), SampleFormat.INT16, 76, 10**12),
        (
            (Channel.PPG_GREEN, Channel.ACC_X, Channel.ACC_Y, Channel.ACC_Z),
            SampleFormat.FLOAT32,
            7,
            2 * 10**12,
        ),
    )
    per_layout = []
    for channels, fmt, n, t0 in layouts:
        enc = FrameEncoder(125.0, channels, fmt, max_samples=n)
        total = n * (POOL // len(layouts) + 1)
        if fmt is SampleFormat.FLOAT32:
            values: np.ndarray = rng.normal(0, 1000, (total, len(channels))).astype(np.float32)
        else:
            lo, hi = fmt.limits
            values = rng.integers(int(lo), int(hi) + 1, (total, len(channels)))
        per_layout.append(enc.encode(values, timestamp_us=t0))
    return [f for group in zip(*per_layout, strict=False) for f in group][:POOL]


def soak_protocol(n_frames: int, seed: int) -> SoakResult:
    """The deframer on one long fuzzed stream; every intact frame must come out, in order."""
    rng = np.random.default_rng(seed)
    pool = _protocol_pool(rng)
    keys = []
    for f in pool:
        frame = DataFrame.from_bytes(f)
        keys.append((frame.seq, frame.timestamp_us))
    res = SoakResult("anyppg protocol (Deframer.feed)")
    d = Deframer()
    expected: list[tuple[int, int]] = []  # intact frames still to come out
    matched = unexpected = 0
    start = time.perf_counter()
    batch = bytearray()

    def feed(data: bytes) -> None:
        nonlocal matched
        pos = 0
        while pos < len(data):
            step = int(rng.integers(1, 4097))
            try:
                out = d.feed(data[pos : pos + step])
            except Exception as exc:
                res.exception(exc)
                out = []
            pos += step
            for frame in out:
                match(frame)

    def match(frame: DataFrame) -> None:
        """Pair a delivered frame with the next intact frames sent; the ones skipped were lost."""
        nonlocal matched, unexpected
        key = (frame.seq, frame.timestamp_us)
        ahead = expected[matched : matched + 64]
        if key in ahead:
            skipped = ahead.index(key)
            res.frames_lost += skipped
            matched += skipped + 1
        else:  # not an intact frame: a false frame that garbage formed with a matching CRC
            unexpected += 1

    for i in range(n_frames):
        frame = pool[i % POOL]
        if rng.random() < 0.15:
            batch += _false_sync(rng) if rng.random() < 0.5 else rng.bytes(int(rng.integers(1, 64)))
            res.faults["garbage_before"] += 1
        r = rng.random()
        if r < 1 / 3:
            kind, data = "intact", frame
        elif r < 0.55:
            kind, data = "hit", _hit(rng, frame)
        elif r < 0.68:
            kind, data = "cut", frame[: int(rng.integers(1, len(frame)))]
        elif r < 0.78:
            kind, data = "dropped", b""
        elif r < 0.88:
            kind, data = "twice", frame + frame
        else:
            kind, data = "noise", rng.bytes(len(frame))
        res.faults[kind] += 1
        if kind in ("intact", "twice"):
            res.intact += 1
            expected.append(keys[i % POOL])
        batch += data
        if len(batch) > 1 << 16:
            feed(bytes(batch))
            batch.clear()
        if len(expected) > 1 << 16 and matched > 1 << 15:  # keep the bookkeeping small
            del expected[:matched]
            matched = 0
    feed(bytes(batch))
    try:
        out = d.flush()
    except Exception as exc:
        res.exception(exc)
        out = []
    for frame in out:
        match(frame)
    res.frames_lost += len(expected) - matched
    res.seconds = time.perf_counter() - start
    res.frames = n_frames
    res.extra["unexpected_frames"] = unexpected
    res.extra["deframer"] = d.stats.as_dict()
    return res


# --- notification codecs ----------------------------------------------------------------------------


def _hrs_pool(rng: np.random.Generator) -> list[bytes]:
    pool = []
    for _ in range(POOL):
        m = HeartRateMeasurement(
            heart_rate=int(rng.integers(0, 300)),
            sensor_contact=[None, True, False][int(rng.integers(0, 3))],
            energy_expended=None if rng.random() < 0.5 else int(rng.integers(0, 65536)),
            rr_intervals=tuple(int(x) / 1024 for x in rng.integers(300, 2000, int(rng.integers(0, 8)))),
            wide_format=bool(rng.random() < 0.2),
        )
        pool.append(bytes(m))
    return pool


def _optional(rng: np.random.Generator, make: Callable[[], Any]) -> Any:
    return None if rng.random() < 0.5 else make()


def _plx_continuous_pool(rng: np.random.Generator) -> list[bytes]:
    pool = []
    for _ in range(POOL):
        fast = rng.random() < 0.5
        slow = rng.random() < 0.5
        m = PlxContinuousMeasurement(
            spo2=float(rng.integers(70, 101)),
            pulse_rate=float(rng.integers(30, 220)),
            spo2_fast=float(rng.integers(70, 101)) if fast else None,
            pulse_rate_fast=float(rng.integers(30, 220)) if fast else None,
            spo2_slow=float(rng.integers(70, 101)) if slow else None,
            pulse_rate_slow=float(rng.integers(30, 220)) if slow else None,
            measurement_status=_optional(rng, lambda: int(rng.integers(0, 1 << 16)) & 0xFFE0),
            device_sensor_status=_optional(rng, lambda: int(rng.integers(0, 1 << 16))),
            pulse_amplitude_index=_optional(rng, lambda: float(rng.integers(0, 100))),
        )
        pool.append(bytes(m))
    return pool


def _plx_spot_pool(rng: np.random.Generator) -> list[bytes]:
    pool = []
    base = dt.datetime(2026, 1, 1)
    for _ in range(POOL):
        m = PlxSpotCheckMeasurement(
            spo2=float(rng.integers(70, 101)),
            pulse_rate=float(rng.integers(30, 220)),
            timestamp=_optional(rng, lambda: base + dt.timedelta(seconds=int(rng.integers(0, 10**7)))),
            measurement_status=_optional(rng, lambda: int(rng.integers(0, 1 << 16)) & 0xFFE0),
            device_sensor_status=_optional(rng, lambda: int(rng.integers(0, 1 << 16))),
            pulse_amplitude_index=_optional(rng, lambda: float(rng.integers(0, 100))),
            device_clock_not_set=bool(rng.random() < 0.1),
        )
        pool.append(bytes(m))
    return pool


def _pmd_pool(rng: np.random.Generator) -> list[bytes]:
    kinds = (
        (PmdMeasurementType.PPG, 0, True, 135.0, 4, 22),
        (PmdMeasurementType.ACC, 1, True, 52.0, 3, 16),
        (PmdMeasurementType.ECG, 0, False, 130.0, 1, 24),
    )
    per_kind = []
    for mtype, frame_type, compressed, rate, channels, bits in kinds:
        enc = PmdStreamEncoder(mtype, frame_type, compressed, rate, mtu=232)
        walk = np.cumsum(rng.integers(-300, 301, (40 * POOL // len(kinds), channels)), axis=0)
        lim = (1 << (bits - 1)) - 1
        per_kind.append(
            enc.encode(np.clip(walk, -lim - 1, lim), first_sample_ns=10**15)[: POOL // len(kinds) + 1]
        )
    return [f for group in zip(*per_kind, strict=False) for f in group][:POOL]


def soak_notifications(
    codec: str, pool: list[bytes], decode: Callable[[bytes], Any], n_frames: int, seed: int
) -> SoakResult:
    """Decode ``n_frames`` fuzzed notifications; an intact one must decode back to its own bytes."""
    rng = np.random.default_rng(seed)
    res = SoakResult(codec)
    start = time.perf_counter()
    for i in range(n_frames):
        frame = pool[i % len(pool)]
        kind, data = fuzz_notification(rng, frame)
        res.faults[kind] += 1
        if kind == "intact":
            res.intact += 1
        try:
            decoded = decode(data)
        except AnyPPGError:
            res.rejected += 1
            res.frames_lost += kind == "intact"
            continue
        except Exception as exc:
            res.exception(exc)
            res.frames_lost += kind == "intact"
            continue
        if kind == "intact" and bytes(decoded) != frame:
            res.frames_lost += 1
    res.seconds = time.perf_counter() - start
    res.frames = n_frames
    return res


def run(n_frames: int, seed: int = 0) -> dict[str, Any]:
    """Soak every codec with ``n_frames`` fuzzed frames; the JSON-ready result."""
    rng = np.random.default_rng(seed)
    results = [soak_protocol(n_frames, seed)]
    log.info("%s", results[-1].to_dict())
    for codec, pool, decode in (
        ("Heart Rate Service measurement", _hrs_pool(rng), HeartRateMeasurement.from_bytes),
        ("PLX continuous measurement", _plx_continuous_pool(rng), PlxContinuousMeasurement.from_bytes),
        ("PLX spot-check measurement", _plx_spot_pool(rng), PlxSpotCheckMeasurement.from_bytes),
        ("Polar PMD data (PPG/ACC compressed, ECG)", _pmd_pool(rng), PmdDataFrame.from_bytes),
    ):
        results.append(soak_notifications(codec, pool, decode, n_frames, seed + 1))
        log.info("%s", results[-1].to_dict())
    return {
        "benchmark": "soak_codecs",
        "frames_per_codec": n_frames,
        "seed": seed,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "numpy": np.__version__,
        "codecs": [r.to_dict() for r in results],
    }


def to_markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Codec soak",
        "",
        f"{result['frames_per_codec']:,} fuzzed frames per codec (seed {result['seed']}), one CPU core of a "
        f"shared machine, Python {result['python']}, numpy {result['numpy']}. Produced by "
        "`python benchmarks/soak_codecs.py`. `exceptions`: anything but a typed `AnyPPGError` "
        "(must be 0); `lost`: intact frames that did not come out (must be 0); `rejected`: fuzzed "
        "notifications refused with a typed error.",
        "",
        "| codec | frames | intact | exceptions | lost | rejected | frames/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["codecs"]:
        lines.append(
            f"| {r['codec']} | {r['frames']:,} | {r['intact']:,} | {r['exceptions']} | {r['frames_lost']} "
            f"| {r['rejected']:,} | {r['frames_per_s']:,} |"
        )
    first = result["codecs"][0]
    proto = first.get("deframer", {})
    if proto:
        keys = ("frames_ok", "crc_errors", "length_errors", "header_errors", "false_syncs", "overlaps")
        lines += [
            "",
            "Deframer counters: " + ", ".join(f"{k} {proto[k]:,}" for k in keys) + ". "
            f"Frames delivered that were not sent intact (garbage that formed a frame with a matching "
            f"CRC-16, overlapping no real frame): {first['unexpected_frames']:,}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000, help="fuzzed frames per codec")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for soak.json and soak.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("anyppg").setLevel(logging.WARNING)
    result = run(args.frames, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "soak.md").write_text(to_markdown(result))
    print(to_markdown(result))
    bad = sum(r["exceptions"] + r["frames_lost"] for r in result["codecs"])
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
