"""``anyppg eval --plot``: the probe results as a bar chart with their confidence intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from anyppg.trainer.evaluate import EvalReport, TaskResult

pytest.importorskip("matplotlib")
from matplotlib import image

from anyppg.trainer.eval_plot import plot_eval


def _report() -> EvalReport:
    rows = [
        ("hr", "pretrained", "mae_bpm", 3.1, 2.8, 3.5),
        ("hr", "handcrafted", "mae_bpm", 4.0, 3.6, 4.4),
        ("af", "pretrained", "auroc", 0.91, 0.88, 0.94),
        ("af", "handcrafted", "auroc", math.nan, math.nan, math.nan),  # e.g. one class in a split
    ]
    results = [TaskResult(t, e, m, v, lo, hi, 800, 200, 12) for t, e, m, v, lo, hi in rows]
    return EvalReport(results=results, embedders={"pretrained": "a checkpoint", "handcrafted": "features"})


def test_the_eval_figure_is_a_png_with_one_panel_per_task(tmp_path):
    out = plot_eval(_report(), tmp_path / "eval.png")
    img = image.imread(out)  # fails unless it is a valid PNG
    h, w = img.shape[:2]
    assert img.ndim == 3 and w > 500 and h > 200
    assert np.unique(img.reshape(-1, img.shape[2]), axis=0).shape[0] > 10  # bars, text: not blank


def test_eval_cli_writes_the_plot(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    from anyppg.cli import main
    from anyppg.trainer.cmd_prepare import build_store
    from anyppg.trainer.sources import SimSource

    store = tmp_path / "store"
    source = SimSource(hours=0.5, record_s=60.0, records_per_subject=1, af_fraction=0.4, seed=5)
    build_store(source, store, fractions={"train": 0.5, "val": 0.2, "test": 0.3}, seed=5)
    png = tmp_path / "probes.png"
    code = main(["eval", "--store", str(store), "--no-random-init", "--real", "", "--tasks", "hr,af",
                 "--n-boot", "20", "--max-windows", "200", "--plot", str(png), "--json"])  # fmt: skip
    assert code == 0 and capsys.readouterr().out
    assert image.imread(png).shape[0] > 100
