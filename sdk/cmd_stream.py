"""``anyppg stream URL [URL ...]``: stream one or more devices into a model and print the results.

``hrs:`` straps and ``plx:`` oximeters send measurements, not a waveform: they print one line per
notification (heart rate, RR intervals, energy expended, contact / SpO2 and pulse rate); the model is
not used for them.

Several URLs run concurrently in one process (the gateway case). With ``--json`` each result is one
JSON line (``"type": "result"``) and the last line is the summary (``"type": "summary"``) with the
accounting (``received``, ``delivered``, ``dropped``, ``gaps``) and latency percentiles.

``--motion-model auto`` (default) fuses the shipped learned PPG + accelerometer model with the
tracker on every stream that carries an accelerometer; each JSON line then has
``heart_rate_motion_model`` (its estimate) and ``heart_rate_sources`` (what ``heart_rate`` was made
of), and the summary counts ``motion_model_windows`` per device (``motion_model_note`` says when a
stream without an accelerometer did not run it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "urls", nargs="+", metavar="URL", help="device URLs: ble:, polar:, hrs:, plx:, serial:, replay:, sim:"
    )
    parser.add_argument(
        "--model",
        default="default",
        help="model file (.tflite / .pte); 'default' = the shipped int8 student; 'none' = signal only",
    )
    from anyppg.cli_options import add_motion_model_option, add_polarity_option

    add_motion_model_option(parser)
    add_polarity_option(parser)
    parser.add_argument(
        "--speed", default=None, help="replay:/sim: speed, a real-time multiple or 'max' (default: 1)"
    )
    parser.add_argument("--hop", type=float, default=2.0, help="seconds between window starts (default 2)")
    parser.add_argument(
        "--quality-threshold", type=float, default=None, help="minimum quality index for the model"
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="stop after this many seconds (wall clock)"
    )
    parser.add_argument("--embedding", action="store_true", help="include embeddings in --json output")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="with several URLs: processes to spread them over, one core each (default 1; docs/gateway.md)",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="a live dashboard, one line per device (plain lines off a terminal)",
    )
    parser.add_argument(
        "--plot", metavar="PNG", default=None, help="write a figure of PPG, heart rate and quality over time"
    )


def with_speed(url: str, speed: str | None) -> str:
    """Add ``speed=`` to replay:/sim: URLs that do not set it."""
    from anyppg.sdk.urls import parse_speed, parse_url

    if speed is None:
        return url
    parse_speed(speed)  # validate early, with a clear error
    parsed = parse_url(url)
    if parsed.scheme not in ("replay", "sim") or "speed" in parsed.options:
        return url
    return url + ("&" if "?" in url else "?") + f"speed={speed}"


def resolve_model(spec: str) -> Any | None:
    """``default`` -> the shipped student, ``none`` -> None, else a path; loaded once for all devices.

    Raises:
        ModelLoadError, RuntimeUnavailableError: the model cannot be loaded.
    """
    if spec.lower() == "none":
        return None
    from anyppg.sdk.runtime import load_model

    if spec.lower() == "default":
        from anyppg.sdk.shipped import default_model_path

        return load_model(default_model_path(), threads=1)
    return load_model(spec, threads=1)


async def stream_all(args: argparse.Namespace, emit) -> list[Any]:
    """Stream every URL concurrently; ``emit(result)`` per result. Returns the summaries."""
    import anyppg
    from anyppg.errors import AnyPPGError
    from anyppg.sdk.motion_runtime import resolve_motion_model
    from anyppg.sdk.readings import READING_SCHEMES
    from anyppg.sdk.summary import StreamSummary
    from anyppg.sdk.urls import parse_url

    urls = [with_speed(u, args.speed) for u in args.urls]
    polarity = args.polarity
    # hrs:/plx: devices send finished measurements: no model to load when only those are streamed
    waveform = any(parse_url(u).scheme not in READING_SCHEMES for u in urls)
    model = resolve_model(args.model) if waveform else None
    spec = getattr(args, "motion_model", "none")
    motion = resolve_motion_model(spec, model) if waveform else None  # a bad path fails here, once
    motion_name = None if motion is None else Path(str(motion.model.path)).name
    summaries = [
        StreamSummary(u, motion_model=None if parse_url(u).scheme in READING_SCHEMES else motion_name)
        for u in urls
    ]
    if len(urls) > 1 and all(parse_url(u).scheme not in READING_SCHEMES for u in urls):
        # Many waveform devices: one gateway (coalesced preprocessing; lagging streams flagged, logged).
        from anyppg.sdk.gateway import serve

        workers = getattr(args, "workers", 1)
        kwargs = {
            "hop_s": args.hop,
            "quality_threshold": args.quality_threshold,
            # worker processes load it themselves from its file
            "motion_model": motion if workers <= 1 or motion is None else str(motion.model.path),
            "polarity": polarity,
        }
        served = await serve(urls, model, emit, duration_s=args.duration, workers=workers, **kwargs)
        for summary in served:
            summary.motion_model = motion_name
        return served

    async def one(url: str, summary: StreamSummary) -> None:
        start = time.perf_counter()
        device = anyppg.connect(url)
        try:
            async with device:
                async for result in device.infer(
                    model,
                    hop_s=args.hop,
                    quality_threshold=args.quality_threshold,
                    motion_model=motion,
                    polarity=polarity,
                ):
                    summary.add(result)
                    emit(result)
        except AnyPPGError as exc:
            # one failing device must not stop the gateway; its summary line carries the error
            summary.error = str(exc)
        finally:
            summary.finish(device, time.perf_counter() - start)

    tasks = [asyncio.create_task(one(u, s)) for u, s in zip(urls, summaries, strict=True)]
    try:
        if args.duration is not None:
            done, pending = await asyncio.wait(tasks, timeout=args.duration)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for t in done:
                t.result()
        else:
            await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
    return summaries


def summary_line(summaries: list[Any]) -> dict[str, Any]:
    """One dict: totals over devices, per-device details and pooled latency percentiles."""
    from anyppg.sdk.summary import percentiles

    per = [s.to_dict() for s in summaries]
    lat = [x for s in summaries for x in s.latencies_ms]
    return {
        "type": "summary",
        "received": sum(p["received"] for p in per),
        "delivered": sum(p["delivered"] for p in per),
        "dropped": sum(p["dropped"] for p in per),
        "gaps": sum(len(p["gaps"]) for p in per),
        "windows": sum(p["windows"] for p in per),
        "lagging_windows": sum(p["lagging_windows"] for p in per),
        "motion_model_windows": sum(p["motion_model_windows"] for p in per),
        "latency_ms": percentiles(lat),
        "devices": per,
    }


def reading_line(result: Any) -> str:
    """One text line for a result of an ``hrs:`` / ``plx:`` device (one notification, no window)."""
    hr = "  --" if result.heart_rate is None else f"{result.heart_rate:4.0f}"
    parts = [f"{result.device}  {result.t_end:8.1f} s  HR {hr} bpm"]
    if result.spo2 is not None or result.rr_intervals is None:
        parts.append("SpO2   -- %" if result.spo2 is None else f"SpO2 {result.spo2:5.1f} %")
    if result.rr_intervals is not None:
        parts.append("RR " + (" ".join(f"{x:.0f}" for x in result.rr_intervals) or "--") + " ms")
    if result.energy_expended is not None:
        parts.append(f"EE {result.energy_expended} kJ")
    if result.sensor_contact is not None:
        parts.append("contact" if result.sensor_contact else "NO CONTACT")
    parts.append(f"quality {result.quality:.2f}  dropped {result.accounting.dropped_total}")
    return "  ".join(parts)


def _motion_text(device: dict[str, Any]) -> str:
    """The summary line's motion-model part: windows it estimated, or why it did not run."""
    if not device.get("motion_model") or not device.get("windows"):
        return ""
    if device.get("motion_model_note"):
        return f"; motion model {device['motion_model_note']}"
    return f"; motion model on {device['motion_model_windows']} windows"


def run(args: argparse.Namespace) -> int:
    from anyppg.sdk.json_lines import dumps as json_line

    def emit(result) -> None:
        if args.json:
            line = {"type": "result", **result.to_dict(embedding=args.embedding)}
            print(json_line(line), flush=True)
        elif result.rr_intervals is not None or result.spo2 is not None:
            print(reading_line(result), flush=True)
        else:
            hr = "  --  " if result.heart_rate is None else f"{result.heart_rate:6.1f}"
            print(
                f"{result.device}  {result.t_start:8.1f}-{result.t_end:8.1f} s  HR {hr} bpm  "
                f"quality {result.quality:.2f}{'' if result.usable else ' (gated)'}  "
                f"{result.latency_ms:6.2f} ms  dropped {result.accounting.dropped_total}",
                flush=True,
            )

    from anyppg.sdk.dashboard import with_views

    emit, finish_views = with_views(args, emit)  # --live, --plot
    try:
        summaries = asyncio.run(stream_all(args, emit))
    finally:
        finish_views()
    line = summary_line(summaries)
    if args.json:
        print(json_line(line), flush=True)
    else:
        alone = len(summaries) == 1 and summaries[0].error
        if alone:
            print(f"anyppg stream: error: {summaries[0].error}", file=sys.stderr)
        for d in line["devices"]:
            p50 = d["latency_ms"]["p50"]
            print(
                f"{d['device']}: {d['windows']} windows, received {d['received']} = delivered {d['delivered']}"
                f" + dropped {d['dropped']}; {len(d['gaps'])} gaps; "
                + (f"latency p50 {p50} ms" if p50 is not None else "no windows timed")
                + _motion_text(d)
                + (f"; error: {d['error']}" if d["error"] and not alone else ""),
                file=sys.stderr,
            )
    return 1 if any(s.error for s in summaries) else 0
