"""Figures of a stream (``--plot`` on ``demo``, ``stream`` and ``record``): PPG, heart rate, quality.

:func:`plot_results` draws any list of :class:`~anyppg.sdk.results.Result` (one or several devices);
:func:`plot_report` draws a demo run with its raw PPG and the watch's heart rate. matplotlib is
imported on first use (the ``plot`` extra).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from anyppg.plotting import pyplot
from anyppg.sdk.results import Result

__all__ = ["plot_recording", "plot_report", "plot_results", "window_trace"]

_WINDOW_FS = 125.0  # Result.window: the model input, 10 s at 125 Hz


def window_trace(results: Sequence[Result]) -> tuple[np.ndarray, np.ndarray] | None:
    """One continuous trace ``(t_s, values)`` from the results' model inputs (:attr:`Result.window`).

    Each window is band-passed and z-scored on its own; the trace takes the first window whole and,
    from each later window, only the samples after the previous window's end. None when no result
    carries a window (e.g. a heart-rate-only strap).
    """
    ts, vs = [], []
    last_end = -np.inf
    for r in results:
        if r.window is None:
            continue
        t = r.t_start + np.arange(len(r.window)) / _WINDOW_FS
        new = t >= last_end
        ts.append(t[new])
        vs.append(np.asarray(r.window, dtype=np.float64)[new])
        last_end = max(last_end, r.t_end)
    if not ts:
        return None
    return np.concatenate(ts), np.concatenate(vs)


def _values(results: Sequence[Result], key: str) -> np.ndarray:
    return np.array([np.nan if getattr(r, key) is None else getattr(r, key) for r in results], dtype=float)


def plot_results(
    results: Sequence[Result],
    path: str | Path,
    *,
    ppg: tuple[np.ndarray, np.ndarray] | None = None,
    ppg_label: str = "PPG (counts)",
    reference: tuple[np.ndarray, np.ndarray] | None = None,
    title: str = "",
) -> Path:
    """Write a three-panel PNG over time: PPG (top), heart rate (middle), window quality (bottom).

    Args:
        results: the windows, from one or several devices (one line per device).
        path: the PNG to write.
        ppg: the signal for the top panel as ``(t_s, values)``; default: the results' model inputs
            (:func:`window_trace`, per device).
        ppg_label: y-axis label of the top panel.
        reference: a reference heart rate ``(t_s, bpm)`` (e.g. the watch's), drawn in black.
        title: the figure's title.

    Returns:
        ``path``.

    Raises:
        RuntimeUnavailableError: matplotlib is not installed (names ``pip install "anyppg[plot]"``).
    """
    plt = pyplot()
    fig, (ax_sig, ax_hr, ax_q) = plt.subplots(
        3, 1, figsize=(11, 7.5), sharex=True, constrained_layout=True, height_ratios=(3, 3, 1.6)
    )
    devices = list(dict.fromkeys(r.device for r in results))
    by_device = {d: [r for r in results if r.device == d] for d in devices}
    start = min((r.t_start for r in results), default=0.0)
    end = max((r.t_end for r in results), default=1.0)
    if ppg is not None:
        t, values = ppg
        keep = (t >= start) & (t <= end) if len(results) else np.ones(len(t), dtype=bool)
        ax_sig.plot(t[keep], values[keep], lw=0.4, color="tab:green")
        ax_sig.set_ylabel(ppg_label)
    else:
        for k, (device, rs) in enumerate(by_device.items()):
            trace = window_trace(rs)
            if trace is not None:
                ax_sig.plot(*trace, lw=0.4, color=f"C{k}", label=device if len(devices) > 1 else None)
        if len(devices) > 1:
            ax_sig.legend(loc="upper right", fontsize=8)
        ax_sig.set_ylabel("PPG (model input, z-scored)")
        if not any(r.window is not None for r in results):
            ax_sig.text(
                0.5, 0.5, "no PPG in these results", ha="center", va="center", transform=ax_sig.transAxes
            )
    ax_sig.set_title(title or (", ".join(devices) if devices else "no results"))
    several = len(devices) > 1  # then one colour per device, else one per heart-rate source
    for k, (device, rs) in enumerate(by_device.items()):
        mid = np.array([(r.t_start + r.t_end) / 2 for r in rs])
        prefix = f"{device}: " if several else ""
        for key, label, style in (
            ("heart_rate", "SDK (tracked)", "-"),
            ("heart_rate_model", "model head", "."),
            ("heart_rate_peaks", "peaks, one window", "x"),
        ):
            values = _values(rs, key)
            if np.isfinite(values).any():
                color = f"C{k}" if several else None
                ax_hr.plot(mid, values, style, ms=3, lw=1, color=color, label=prefix + label)
        quality = _values(rs, "quality")
        usable = np.array([r.usable for r in rs], dtype=bool)
        (line,) = ax_q.plot(mid, quality, lw=1, color=f"C{k}", label=prefix + "quality index")
        ax_q.plot(mid[~usable], quality[~usable], "o", ms=3, mfc="none", color=line.get_color())
    if reference is not None:
        rt, bpm = reference
        keep = (rt >= start - 5) & (rt <= end + 5) if len(results) else np.ones(len(rt), dtype=bool)
        ax_hr.plot(rt[keep], bpm[keep], color="k", lw=1.2, alpha=0.7, label="reference")
    ax_hr.set_ylabel("heart rate (bpm)")
    if ax_hr.get_legend_handles_labels()[0]:
        ax_hr.legend(loc="upper right", fontsize=8)
    ax_q.set_ylabel("quality (0-1)")
    ax_q.set_ylim(-0.05, 1.05)
    ax_q.set_xlabel("time (s)")
    ax_q.text(0.01, 0.05, "o = gated (below the quality threshold)", fontsize=7, transform=ax_q.transAxes)
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_report(report: Any, path: str | Path) -> Path:
    """The demo's figure: its raw PPG, heart rate per window against the watch's, and quality.

    Raises:
        RuntimeUnavailableError: matplotlib is not installed (names ``pip install "anyppg[plot]"``).
    """
    ppg = None
    if report.ppg is not None:
        values, fs = report.ppg
        ppg = (np.arange(len(values)) / fs, np.asarray(values, dtype=np.float64))
    return plot_results(
        report.results,
        path,
        ppg=ppg,
        reference=report.reference,
        title=f"{report.recording} over {report.transport}, {report.speed:g}x",
    )


def plot_recording(recording: str | Path, path: str | Path) -> Path:
    """The figure of a recorded file (``anyppg record --plot``): its PPG as recorded, and the heart rate
    and quality of the SDK's signal pipeline run over it (``replay:`` at full speed, no model).

    Raises:
        DataFormatError: the recording cannot be read.
        RuntimeUnavailableError: matplotlib is not installed (names ``pip install "anyppg[plot]"``).
    """
    from anyppg.sdk.replay_files import load_replay
    from anyppg.sdk.sync import stream_sync

    data = load_replay(recording)
    results = stream_sync(f"replay:{recording}", speed="max", model=None)
    return plot_results(
        results,
        path,
        ppg=(data.t, data.ppg),
        ppg_label="PPG (as recorded)",
        title=f"{Path(recording).name}: {len(data.ppg)} samples at {data.rate:g} Hz",
    )
