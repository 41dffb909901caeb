"""The main job behind ``anyppg demo``: an emulated wearable streams a real recording into the model.

A :class:`~anyppg.firmware_bridge.emulator.ble.BleEmulator` (bumble, in-process ``LocalLink``) or a
:class:`~anyppg.firmware_bridge.emulator.serial.SerialEmulator` (a real pty) replays the e2epyppg wrist
recording (Samsung Gear Sport: PPG + 3-axis accelerometer + the watch's own heart rate) faster than real
time; the SDK connects through its public API exactly as it would to a real device, runs every window
through the model and compares its heart rate with the watch's. The watch's raw light counts fall as
blood volume rises, so the SDK is told ``polarity="inverted"`` (the recording's
:attr:`~anyppg.recordings.RecordingInfo.polarity`), as an app that knows its sensor would.

What is streamed, in order of preference: the full 12-min recording when its package (e2epyppg) is
installed; else the 3-min excerpt of it that ships inside anyppg; else (only when that file is missing
too) the simulator. Each fallback is logged as one warning line and kept in :attr:`DemoReport.notice`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from anyppg.sdk.results import Result
from anyppg.sdk.summary import StreamSummary

__all__ = ["DEFAULT_RECORDING", "DemoReport", "demo_source", "hr_errors", "run_demo"]

DEFAULT_RECORDING = "e2epyppg-wrist"
SIMULATOR_FALLBACK = "sim:hr=72,motion=0.3,rate=20,duration=180"

log = logging.getLogger(__name__)


@dataclass
class DemoReport:
    """What a demo run measured.

    Attributes:
        recording: the recording streamed.
        transport: ``ble`` or ``serial``.
        model: the model file, or None (signal only).
        motion_model: the motion model file, or None (none loaded).
        speed: real-time multiple of the replay.
        results: every result, in order.
        stream: accounting and latency of the stream.
        reference: the watch's heart rate as ``(t_s, bpm)``.
        ppg: the recording's PPG and rate, for the figure.
        emulator: the emulator's own counters (what it sent, dropped, corrupted).
        notice: why something else than the requested recording was streamed, or None.
        polarity: the polarity the SDK was told (the recording's; ``"normal"`` for the simulator).
    """

    recording: str
    transport: str
    model: str | None
    speed: float
    motion_model: str | None = None
    results: list[Result] = field(default_factory=list)
    stream: StreamSummary | None = None
    reference: tuple[np.ndarray, np.ndarray] | None = None
    ppg: tuple[np.ndarray, float] | None = None
    emulator: dict[str, Any] = field(default_factory=dict)
    notice: str | None = None
    polarity: str = "normal"

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary (no per-window results)."""
        ref = self.reference
        errors = {}
        if ref is not None:
            for key in (
                "heart_rate",
                "heart_rate_tracker",
                "heart_rate_motion_model",
                "heart_rate_model",
                "heart_rate_peaks",
            ):
                errors[key] = hr_errors(self.results, ref, key)
        return {
            "recording": self.recording,
            "notice": self.notice,
            "transport": self.transport,
            "model": self.model,
            "motion_model": self.motion_model,
            "polarity": self.polarity,
            "speed": self.speed,
            "windows": len(self.results),
            "heart_rate_vs_reference": errors,
            "stream": self.stream.to_dict() if self.stream else None,
            "emulator": self.emulator,
        }


def reference_bpm(reference: tuple[np.ndarray, np.ndarray], t_start: float, t_end: float) -> float | None:
    """The mean of the reference heart-rate readings (bpm) inside ``[t_start, t_end)``, or None."""
    t, bpm = reference
    inside = (t >= t_start) & (t < t_end)
    return float(bpm[inside].mean()) if inside.any() else None


def hr_errors(results: list[Result], reference: tuple[np.ndarray, np.ndarray], key: str) -> dict[str, Any]:
    """Error of one heart-rate field against a reference series.

    The reference for a window is the mean of the reference readings inside it.

    Returns:
        ``{"mae_bpm", "rmse_bpm", "within_5_bpm", "coverage", "n"}``: mean absolute / RMS error (bpm),
        fraction of windows within 5 bpm, fraction of windows that had both values, how many did.
    """
    diffs = []
    for r in results:
        value = getattr(r, key)
        ref = reference_bpm(reference, r.t_start, r.t_end)
        if value is None or ref is None:
            continue
        diffs.append(value - ref)
    d = np.abs(np.asarray(diffs, dtype=np.float64))
    if not len(d):
        return {"mae_bpm": None, "rmse_bpm": None, "within_5_bpm": None, "coverage": 0.0, "n": 0}
    return {
        "mae_bpm": round(float(d.mean()), 2),
        "rmse_bpm": round(float(np.sqrt((d**2).mean())), 2),
        "within_5_bpm": round(float((d <= 5).mean()), 3),
        "coverage": round(len(d) / max(1, len(results)), 3),
        "n": len(d),
    }


async def run_demo(
    *,
    transport: Literal["ble", "serial"] = "ble",
    speed: float = 20.0,
    model: Any | None = None,
    motion_model: Any | None = None,
    recording: str = DEFAULT_RECORDING,
    duration_s: float | None = None,
    faults: str = "",
    on_result: Callable[[Result], None] | None = None,
    on_start: Callable[[DemoReport], None] | None = None,
) -> DemoReport:
    """Stream ``recording`` from an emulated wearable into ``model``.

    Args:
        transport: ``ble`` (bumble peripheral on an in-process link, bleak on bumble as the central) or
            ``serial`` (a pty).
        speed: real-time multiple of the replay.
        model: a loaded model, or None for signal-only results.
        motion_model: a loaded :class:`~anyppg.sdk.motion_runtime.MotionModel` fused with the
            tracker, or None (default; it runs only while the recording has an accelerometer).
        recording: a name from :func:`anyppg.recordings.recording_names` with PPG. When it is not
            installed its shipped excerpt is streamed; for the default recording, the simulator when
            even that is missing (both with a warning and :attr:`DemoReport.notice`).
        duration_s: stop after this much signal (default: the whole recording, once).
        faults: emulator fault spec, e.g. ``drop=0.01,corrupt=0.01``.
        on_result: called with each result (the live view).
        on_start: called once with the report before streaming starts (its ``reference``: the
            watch's heart rate, for a live view to show beside each result).

    Raises:
        RecordingNotFoundError: a recording other than the default is not installed and has no
            shipped excerpt (names the pip command).
        DeviceError: the emulated device could not be reached.
    """
    import anyppg
    from anyppg import recordings
    from anyppg.firmware_bridge.emulator.faults import FaultSpec
    from anyppg.sdk.queues import Backpressure

    source, reference, ppg, notice = demo_source(recording)
    if notice is not None:
        log.warning("%s", notice)
    limit = min(duration_s or math.inf, source.duration_s)
    fault_spec = FaultSpec.parse(faults)
    report = DemoReport(
        recording=source.name.removeprefix("recording:"),
        transport=transport,
        model=None if model is None else str(getattr(model, "path", model)),
        motion_model=None if motion_model is None else str(motion_model.model.path),
        speed=speed,
        reference=reference,
        ppg=ppg,
        notice=notice,
        polarity=recordings.polarity(source.name.removeprefix("recording:")),
    )
    if on_start is not None:
        on_start(report)
    summary = StreamSummary(f"{transport}:{report.recording}")
    # The emulator and the SDK share one process and one event loop here, so "live" back-pressure
    # would drop what the emulator's own pacing already throttles: keep every sample instead.
    backpressure: Backpressure = "block"

    async def consume(url: str, **kwargs: Any) -> None:
        device = anyppg.connect(url, backpressure=backpressure, **kwargs)
        start = time.perf_counter()
        first_t: float | None = None
        async with device:
            async for result in device.infer(model, motion_model=motion_model, polarity=report.polarity):
                # Device time counts from the emulator's power-on and the source loops, so the
                # stream may start anywhere in the recording: recording time is device time mod D.
                first_t = result.t_start if first_t is None else first_t
                if result.t_end - first_t > limit:
                    break
                summary.add(result)
                if on_result is not None:
                    on_result(result)
                t_start = result.t_start % source.duration_s
                if t_start + (result.t_end - result.t_start) <= source.duration_s:  # not across the loop
                    report.results.append(_shift(result, result.t_start - t_start))
        summary.finish(device, time.perf_counter() - start)

    if transport == "ble":
        from anyppg.firmware_bridge.emulator.ble import emulated_ble

        async with emulated_ble(source, speed=speed, faults=fault_spec) as emu:
            await consume(f"ble:{emu.name}", adapter=emu.adapter)
            report.emulator = emu.stats.as_dict()
    elif transport == "serial":
        from anyppg.firmware_bridge.emulator.serial import SerialEmulator

        async with SerialEmulator(source, speed=speed, faults=fault_spec) as emu:
            await consume(f"serial:{emu.port}")
            report.emulator = emu.stats.as_dict()
    else:
        raise ValueError(f"transport must be 'ble' or 'serial', got {transport!r}")
    for key in ("dropped_seqs", "corrupted_seqs"):
        report.emulator.pop(key, None)
    report.stream = summary
    return report


def demo_source(
    recording: str = DEFAULT_RECORDING,
) -> tuple[Any, tuple[np.ndarray, np.ndarray] | None, tuple[np.ndarray, float], str | None]:
    """What the demo streams for ``recording``: the recording, its shipped excerpt, or the simulator.

    Returns:
        ``(source, reference HR (t_s, bpm) or None, (PPG, rate Hz) for the figure, notice or None)``;
        the source is a :class:`~anyppg.firmware_bridge.emulator.sources.Source`.

    Raises:
        RecordingNotFoundError: a recording other than the default is missing and has no excerpt.
        InvalidSignalError: the recording has no PPG.
    """
    from anyppg import recordings
    from anyppg.errors import RecordingNotFoundError
    from anyppg.firmware_bridge.emulator.sources import parse_source, recording_source

    try:
        name, notice = recordings.resolve(recording)
    except RecordingNotFoundError as exc:
        if recording != DEFAULT_RECORDING:
            raise
        source = parse_source(SIMULATOR_FALLBACK)
        notice = f"{exc}; streaming the simulator instead ({SIMULATOR_FALLBACK})"
        reference = None
        if source.hr_t_s is not None and source.hr_bpm is not None:
            reference = (source.hr_t_s, source.hr_bpm)
        return source, reference, (source.ppg.astype(np.float64), source.rate_hz), notice
    source = recording_source(name)  # raises InvalidSignalError for an ECG-only recording
    rec = recordings.load(name)
    return source, rec.reference_hr, (np.asarray(rec.ppg), float(source.rate_hz)), notice


def _shift(result: Result, origin: float) -> Result:
    """The result with times relative to the recording's start."""
    from dataclasses import replace

    return replace(result, t_start=result.t_start - origin, t_end=result.t_end - origin)
