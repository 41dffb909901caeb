"""The demo's figure: the PPG signal and the heart rate against the watch's reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from anyppg.errors import RuntimeUnavailableError

__all__ = ["plot_report"]


def plot_report(report: Any, path: str | Path) -> Path:
    """Write a two-panel PNG: raw PPG (top) and heart rate per window vs the reference (bottom).

    Raises:
        RuntimeUnavailableError: matplotlib is not installed (names the pip command).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeUnavailableError("matplotlib", 'pip install "anyppg[plot]"') from None
    fig, (ax_sig, ax_hr) = plt.subplots(2, 1, figsize=(11, 6), sharex=True, constrained_layout=True)
    if report.ppg is not None:
        ppg, fs = report.ppg
        t = np.arange(len(ppg)) / fs
        start = min((r.t_start for r in report.results), default=0.0)
        end = max((r.t_end for r in report.results), default=t[-1])
        keep = (t >= start) & (t <= end)
        ax_sig.plot(t[keep], ppg[keep], lw=0.4, color="tab:green")
    ax_sig.set_ylabel("PPG (counts)")
    ax_sig.set_title(f"{report.recording} over {report.transport}, {report.speed:g}x")
    mid = np.array([(r.t_start + r.t_end) / 2 for r in report.results])
    for key, label, style in (
        ("heart_rate", "SDK (tracked, with acc)", "-"),
        ("heart_rate_model", "model head", "."),
        ("heart_rate_peaks", "peaks, one window", "x"),
    ):
        values = np.array([np.nan if getattr(r, key) is None else getattr(r, key) for r in report.results])
        if np.isfinite(values).any():
            ax_hr.plot(mid, values, style, ms=3, lw=1, label=label)
    if report.reference is not None:
        rt, bpm = report.reference
        keep = rt <= (mid.max() if len(mid) else rt.max()) + 5
        ax_hr.plot(rt[keep], bpm[keep], color="k", lw=1.2, alpha=0.7, label="watch (reference)")
    ax_hr.set_xlabel("time (s)")
    ax_hr.set_ylabel("heart rate (bpm)")
    ax_hr.legend(loc="upper right", fontsize=8)
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
