"""Metrics of a run: CSV rows, TensorBoard scalars and a loss-curve PNG, written by rank 0 only."""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

CSV_FIELDS = (
    "stage",
    "step",
    "loss",
    "lr",
    "temperature",
    "accuracy",
    "windows_per_s",
    "skipped",
    "elapsed_s",
)


class RunLog:
    """Append-only metrics for one output folder.

    ``metrics.csv`` holds one row per logged step of either stage; on resume, rows after the resumed
    step of that stage are dropped so the file shows one continuous curve. TensorBoard events go to
    ``tb/`` when ``tensorboard`` is installed.
    """

    def __init__(self, out_dir: str | Path, enabled: bool, resume_step: dict[str, int] | None = None) -> None:
        self.enabled = enabled
        self.path = Path(out_dir) / "metrics.csv"
        self.writer = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows = self.read(self.path) if (resume_step is not None and self.path.exists()) else []
        if resume_step is not None:
            rows = [r for r in rows if int(r["step"]) <= resume_step.get(r["stage"], -1)]
        with self.path.open("w", newline="") as f:
            w = csv.DictWriter(f, CSV_FIELDS)
            w.writeheader()
            w.writerows(rows)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(Path(out_dir) / "tb"))
        except ImportError:  # tensorboard is optional: the CSV is the record
            log.info("tensorboard not installed; metrics go to %s only", self.path)

    def write(self, stage: str, step: int, values: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        row = {"stage": stage, "step": step, **{k: values.get(k, "") for k in CSV_FIELDS[2:]}}
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, CSV_FIELDS).writerow(row)
        if self.writer is not None:
            for key, value in values.items():
                if isinstance(value, int | float) and math.isfinite(value):
                    self.writer.add_scalar(f"{stage}/{key}", value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    @staticmethod
    def read(path: str | Path) -> list[dict[str, str]]:
        with Path(path).open(newline="") as f:
            return list(csv.DictReader(f))


def plot_curves(csv_path: str | Path, png_path: str | Path, title: str) -> Path | None:
    """Loss (and retrieval accuracy) against step for both stages; None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib not installed; no curve PNG")
        return None
    rows = RunLog.read(csv_path)
    stages = [s for s in ("ecg", "clip") if any(r["stage"] == s for r in rows)]
    fig, axes = plt.subplots(1, len(stages) or 1, figsize=(5.5 * max(1, len(stages)), 3.8), squeeze=False)
    titles = {"ecg": "stage 1: ECG encoder (supervised)", "clip": "stage 2: PPG↔ECG InfoNCE"}
    for ax, stage in zip(axes[0], stages, strict=False):
        mine = [r for r in rows if r["stage"] == stage]
        steps = [int(r["step"]) for r in mine]
        loss = [float(r["loss"]) for r in mine]
        ax.plot(steps, loss, color="tab:blue", alpha=0.35, linewidth=0.8)
        ax.plot(
            steps, _running_mean(loss, max(1, len(loss) // 10)), color="tab:blue", label="loss (running mean)"
        )
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(titles[stage], fontsize=10)
        acc = [(s, float(r["accuracy"])) for s, r in zip(steps, mine, strict=True) if r["accuracy"]]
        if acc:
            twin = ax.twinx()
            twin.plot(*zip(*acc, strict=True), color="tab:orange", alpha=0.7, label="top-1 retrieval")
            twin.set_ylabel("PPG→ECG top-1 in batch", color="tab:orange")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return png_path


def _running_mean(values: list[float], window: int) -> list[float]:
    """Mean of the last ``window`` values at each point (shorter at the start)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out
