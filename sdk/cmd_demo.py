"""``anyppg demo``: the main job. An emulated wearable streams a real wrist recording into the shipped
int8 student over BLE (bumble) or a serial pty; a live view shows heart rate, quality, latency and the
accounting; the summary compares the heart rate with the watch's own.

Runs with the SDK install only (no torch): the model is the shipped ``.tflite`` through LiteRT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

__all__ = ["add_arguments", "run"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--transport", choices=("ble", "serial"), default="ble", help="emulated link (default ble)"
    )
    parser.add_argument(
        "--speed", type=float, default=20.0, help="replay speed, real-time multiple (default 20)"
    )
    parser.add_argument(
        "--model", default="default", help="model file; 'default' = shipped int8 student (.tflite); 'none'"
    )
    from anyppg.cli_options import add_motion_model_option

    add_motion_model_option(parser)
    parser.add_argument(
        "--recording",
        default="e2epyppg-wrist",
        help="packaged recording to stream (default e2epyppg-wrist; its 3-min excerpt shipped with anyppg "
        "when e2epyppg is not installed)",
    )
    parser.add_argument("--duration", type=float, default=None, help="seconds of the recording to stream")
    parser.add_argument("--faults", default="", help="emulator faults, e.g. drop=0.01,corrupt=0.01")
    parser.add_argument("--plot", metavar="PNG", default=None, help="write a figure of signal and heart rate")


class LiveView:
    """One status line, rewritten in place on a terminal; a line every 10 windows otherwise."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.n = 0
        self.reference: Any = None

    def start(self, report: Any) -> None:
        """Keep the recording's reference heart rate (the watch's), shown beside each window."""
        self.reference = report.reference

    def __call__(self, r: Any) -> None:
        from anyppg.sdk.demo import reference_bpm

        self.n += 1
        a = r.accounting

        def bpm(v: float | None) -> str:
            return "  -- " if v is None else f"{v:5.1f}"

        watch = None if self.reference is None else reference_bpm(self.reference, r.t_start, r.t_end)
        line = (
            f"t {r.t_end:6.0f} s | HR {bpm(r.heart_rate)} bpm (model {bpm(r.heart_rate_model)}"
            + ("" if self.reference is None else f", watch {bpm(watch)}")
            + f") | quality {r.quality:4.2f} "
            f"| motion {0 if r.motion is None else r.motion:5.3f} g | latency {r.latency_ms:6.1f} ms "
            f"| received {a.received} = delivered {a.delivered} + dropped {a.dropped_total} | gaps {len(a.gaps)}"
        )
        if self.tty:
            self.stream.write("\r\033[K" + line)
            self.stream.flush()
        elif self.n % 10 == 1:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty and self.n:
            self.stream.write("\n")


def _load_model(spec: str) -> Any | None:
    from anyppg.errors import ModelLoadError
    from anyppg.sdk.cmd_stream import resolve_model

    try:
        return resolve_model(spec)
    except ModelLoadError as exc:
        if spec != "default":
            raise
        log.warning("%s; running signal-only (heart rate from peaks and tracking, no embedding)", exc)
        return None


def _print_summary(report: Any, out=sys.stdout) -> None:
    d = report.to_dict()
    s = d["stream"]
    print(
        f"\nanyppg demo: {d['recording']} over {d['transport']} at {d['speed']:g}x into {d['model'] or 'no model'}"
        + (f" + motion model {d['motion_model']}" if d["motion_model"] else "")
        + (f" (polarity {d['polarity']})" if d["polarity"] != "normal" else ""),
        file=out,
    )
    print(
        f"  windows {d['windows']} ({s['usable_windows']} passed the quality gate), {s['windows_per_s']} windows/s",
        file=out,
    )
    print(
        f"  accounting: received {s['received']} = delivered {s['delivered']} + dropped {s['dropped']}; "
        f"gaps {len(s['gaps'])} ({s['missing']} samples); corrupt frames {s['corrupt_frames']}",
        file=out,
    )
    if d["notice"]:
        print(f"  note: {d['notice']}", file=out)
    lat = s["latency_ms"]
    print(f"  latency per window: p50 {lat['p50']} ms, p90 {lat['p90']} ms, p99 {lat['p99']} ms", file=out)
    check = s.get("polarity_check")
    if check:  # the stream's own look at which way up the pulse is (docs/sdk.md, "Pulse polarity")
        verdict = "upside down" if check["polarity"] == "inverted" else "the right way up"
        head = check["quality_head_gain"]
        print(
            f"  polarity {d['polarity']} (declared); its first {check['windows']} windows look {verdict} "
            f"(turned over: quality index {check['quality_gain']:+.2f}, quality head "
            + ("n/a)" if head is None else f"{head:+.1f} logits)"),
            file=out,
        )
    for key, label in (
        ("heart_rate", "reported"),
        ("heart_rate_tracker", "tracker"),
        ("heart_rate_motion_model", "motion model"),
        ("heart_rate_model", "model head"),
        ("heart_rate_peaks", "peaks"),
    ):
        e = d["heart_rate_vs_reference"].get(key) or {}
        if e.get("n"):
            print(
                f"  heart rate {label:>13} vs the watch: MAE {e['mae_bpm']} bpm, RMSE {e['rmse_bpm']} bpm, "
                f"{100 * e['within_5_bpm']:.0f}% within 5 bpm ({e['n']} windows)",
                file=out,
            )


def run(args: argparse.Namespace) -> int:
    from anyppg.sdk.demo import run_demo
    from anyppg.sdk.motion_runtime import resolve_motion_model

    model = _load_model(args.model)
    motion_model = resolve_motion_model(args.motion_model, model)
    view = None if args.json or getattr(args, "quiet", False) else LiveView()
    try:
        report = asyncio.run(
            run_demo(
                transport=args.transport,
                speed=args.speed,
                model=model,
                motion_model=motion_model,
                recording=args.recording,
                duration_s=args.duration,
                faults=args.faults,
                on_result=view,
                on_start=None if view is None else view.start,
            )
        )
    finally:
        if view is not None:
            view.close()
    if args.plot:
        from anyppg.sdk.demo_plot import plot_report

        plot_report(report, args.plot)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        _print_summary(report)
        if args.plot:
            print(f"  figure: {args.plot}")
    return 0
