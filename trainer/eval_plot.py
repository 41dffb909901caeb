"""The figure of an evaluation (``anyppg eval --plot``): each probe's score per embedder with its 95 % CI.

One panel per task (their metrics differ: MAE in bpm, AUROC, ...), one horizontal bar per embedder,
the bootstrap confidence interval as an error bar. Needs no torch; matplotlib is imported on first use.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from anyppg.plotting import pyplot

__all__ = ["plot_eval"]


def plot_eval(report: Any, path: str | Path) -> Path:
    """Write a PNG of an :class:`~anyppg.trainer.evaluate.EvalReport`: bars with 95 % CIs, one panel per task.

    Scores that could not be computed (NaN, e.g. a split with one class) are left out of their panel
    and named in it.

    Returns:
        ``path``.

    Raises:
        RuntimeUnavailableError: matplotlib is not installed (names ``pip install "anyppg[plot]"``).
    """
    plt = pyplot()
    tasks = list(dict.fromkeys(r.task for r in report.results))
    names = list(report.embedders) or list(dict.fromkeys(r.embedder for r in report.results))
    fig, axes = plt.subplots(
        len(tasks) or 1,
        1,
        figsize=(8, 1.2 + 0.45 * max(1, len(names)) * max(1, len(tasks))),
        constrained_layout=True,
        squeeze=False,
    )
    for ax, task in zip(axes[:, 0], tasks, strict=False):
        rows = [report.value(task, name) for name in names]
        first = next(r for r in rows if r is not None)
        better = "lower is better" if first.metric.startswith("mae") else "higher is better"
        ys, values, errors, labels, missing = [], [], [[], []], [], []
        for y, (name, r) in enumerate(zip(names, rows, strict=True)):
            labels.append(name)
            if r is None or not math.isfinite(r.value):
                missing.append(name)
                continue
            ys.append(y)
            values.append(r.value)
            lo = r.ci_low if math.isfinite(r.ci_low) else r.value
            hi = r.ci_high if math.isfinite(r.ci_high) else r.value
            errors[0].append(max(0.0, r.value - lo))
            errors[1].append(max(0.0, hi - r.value))
        ax.barh(ys, values, xerr=errors, color=[f"C{y}" for y in ys], capsize=3, height=0.6)
        for y, v in zip(ys, values, strict=True):
            ax.annotate(f"{v:.3g}", (v, y), xytext=(4, 6), textcoords="offset points", fontsize=7)
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_xlabel(f"{first.metric} ({better}); error bars: 95 % bootstrap CI")
        title = f"{task} (n={first.n_test} windows, {first.n_test_subjects} subjects)"
        if missing:
            title += f"; n/a: {', '.join(missing)}"
        ax.set_title(title, fontsize=9)
    if not tasks:
        axes[0, 0].text(0.5, 0.5, "no results", ha="center", va="center")
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
