"""Summaries of finished streams: accounting totals and latency percentiles (CLI, demo, benchmark)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anyppg.sdk.accounting import Accounting
from anyppg.sdk.results import Result

__all__ = ["StreamSummary", "percentiles"]


def percentiles(values: list[float], qs: tuple[int, ...] = (50, 90, 99)) -> dict[str, float | None]:
    """``{"p50": ..., "p90": ..., "p99": ...}`` of ``values`` (None when there are none)."""
    if not values:
        return {f"p{q}": None for q in qs}
    arr = np.asarray(values, dtype=np.float64)
    return {f"p{q}": round(float(np.percentile(arr, q)), 3) for q in qs}


@dataclass
class StreamSummary:
    """Collects the results of one device's stream.

    Attributes:
        device: the device URL.
        results: how many results were seen.
        usable: results that passed the quality gate.
        clipped: results whose window saw the sensor saturate (``Result.clipped``).
        latencies_ms: per-window latency of each result, ms.
        accounting: the final accounting (set by :meth:`finish`).
        wall_s: wall-clock duration of the stream, s.
        error: the error that ended the stream, if any.
        lagging_windows: results made while the stream was behind real time (``Result.lagging``).
        max_lag_s: the largest lag behind real time a gateway measured, s (None: not measured).
        lagging_episodes: how many times a gateway saw the stream fall behind real time.
        heart_rate_windows: results that reported a heart rate.
        confidences: ``heart_rate_confidence`` of those results (0..1).
        motion_model: the motion model's file name when one was loaded for the stream (set by its
            caller), else None.
        motion_model_windows: results with a motion-model estimate (``heart_rate_motion_model``).
        acc_windows: results of windows with an accelerometer (``Result.motion`` given).
        sources: how many results had each combination of ``heart_rate_sources`` (``"tracker"``,
            ``"tracker+motion_model"``, ...).
        polarity_check: the stream pipeline's ``polarity_check`` as a dict (whether the pulse looks
            upside down; set by its caller), else None.
    """

    device: str
    results: int = 0
    usable: int = 0
    clipped: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    accounting: Accounting | None = None
    wall_s: float = 0.0
    error: str | None = None
    lagging_windows: int = 0
    max_lag_s: float | None = None
    lagging_episodes: int = 0
    heart_rate_windows: int = 0
    confidences: list[float] = field(default_factory=list)
    motion_model: str | None = None
    motion_model_windows: int = 0
    acc_windows: int = 0
    sources: dict[str, int] = field(default_factory=dict)
    polarity_check: dict[str, Any] | None = None

    def add(self, result: Result) -> None:
        self.results += 1
        self.usable += int(result.usable)
        self.clipped += int(result.clipped)
        self.latencies_ms.append(result.latency_ms)
        self.lagging_windows += int(result.lagging)
        if result.heart_rate is not None:
            self.heart_rate_windows += 1
            if result.heart_rate_confidence is not None:
                self.confidences.append(result.heart_rate_confidence)
        self.motion_model_windows += int(result.heart_rate_motion_model is not None)
        self.acc_windows += int(result.motion is not None)
        if result.heart_rate_sources:
            key = "+".join(result.heart_rate_sources)
            self.sources[key] = self.sources.get(key, 0) + 1

    def finish(self, device: Any, wall_s: float, pipeline: Any | None = None) -> None:
        """Close the summary of ``device``'s stream (a :class:`~anyppg.sdk.device.Device`): its
        accounting, the wall time (s) and the ``polarity_check`` of its pipeline (``pipeline``, or
        the device's own: a gateway runs the pipeline beside the device)."""
        self.accounting = device.accounting.snapshot()
        self.wall_s = wall_s
        check = getattr(pipeline if pipeline is not None else device.pipeline, "polarity_check", None)
        self.polarity_check = None if check is None else check.to_dict()

    def motion_model_note(self) -> str | None:
        """Why a loaded motion model estimated no window (``no accelerometer``), else None."""
        if self.motion_model is None or self.motion_model_windows or not self.results:
            return None
        return "not run: the stream has no accelerometer" if not self.acc_windows else None

    def to_dict(self) -> dict[str, Any]:
        acc = (self.accounting or Accounting()).to_dict()
        return {
            "device": self.device,
            "windows": self.results,
            "usable_windows": self.usable,
            "clipped_windows": self.clipped,
            "received": acc["received"],
            "delivered": acc["delivered"],
            "dropped": acc["dropped"],
            "dropped_by_reason": acc["dropped_by_reason"],
            "filled": acc["filled"],
            "missing": acc["missing"],
            "gaps": acc["gaps"],
            "corrupt_frames": acc["corrupt_frames"],
            "reconnects": acc["reconnects"],
            "reanchors": acc["reanchors"],
            "reordered": acc["reordered"],
            "issues": acc["issues"],
            "pending": acc["pending"],
            "latency_ms": percentiles(self.latencies_ms),
            "wall_s": round(self.wall_s, 3),
            "windows_per_s": round(self.results / self.wall_s, 2) if self.wall_s > 0 else None,
            "error": self.error,
            "lagging_windows": self.lagging_windows,
            "max_lag_s": None if self.max_lag_s is None else round(self.max_lag_s, 3),
            "lagging_episodes": self.lagging_episodes,
            "heart_rate_windows": self.heart_rate_windows,
            "heart_rate_confidence": percentiles(self.confidences, (10, 50)),
            "heart_rate_sources": dict(sorted(self.sources.items())),
            "motion_model": self.motion_model,
            "motion_model_windows": self.motion_model_windows,
            "motion_model_note": self.motion_model_note(),
            "polarity_check": self.polarity_check,
        }
