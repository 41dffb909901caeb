"""docs/notebooks.md runs as written: its ``python`` blocks as the cells of one notebook, its ``sh`` blocks'
``anyppg`` commands through the CLI.

The cells run inside a running event loop, as in Jupyter: compiled with top-level ``await`` allowed
(what IPython does), awaited when they are coroutines, in one namespace, in the doc's order.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "notebooks.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def _blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(DOC.read_text()) if lang == language]


def _run_cells(cells: list[str], namespace: dict) -> None:
    async def notebook() -> None:
        asyncio.get_running_loop()  # the kernel's loop is running while every cell executes
        for i, cell in enumerate(cells):
            code = compile(
                cell, f"{DOC.name}[python block {i + 1}]", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
            )
            value = eval(code, namespace)  # a coroutine when the cell uses top-level await
            if inspect.iscoroutine(value):
                await value

    asyncio.run(notebook())


@pytest.mark.slow
def test_the_notebook_page_runs_as_written(tmp_path, monkeypatch, capsys):
    pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    pytest.importorskip("torch")  # the page ends with `anyppg eval` (train extra)
    from matplotlib import image

    from anyppg.cli import main

    monkeypatch.chdir(tmp_path)
    cells = _blocks("python")
    assert len(cells) >= 6
    namespace: dict = {"__name__": "__notebook__"}
    _run_cells(cells, namespace)

    # What the cells computed is what the page says they compute.
    results, wrist, df = namespace["results"], namespace["wrist"], namespace["df"]
    assert len(results) > 0 and results.embeddings() is not None  # the shipped student ran
    assert len(wrist) > 10 and wrist[-1].t_end - wrist[0].t_start <= 60.0
    assert list(df.columns[: len(wrist.columns)]) == wrist.columns
    assert np.isfinite(df["watch_bpm"]).all()
    out = capsys.readouterr().out
    assert "HR " in out and "MAE vs the watch:" in out
    assert image.imread(tmp_path / "wrist.png").shape[0] > 300

    commands = [line for block in _blocks("sh") for line in block.splitlines() if line.startswith("anyppg ")]
    assert len(commands) >= 5
    for command in commands:
        argv = shlex.split(command.split("  #")[0])[1:]
        assert main(argv) == 0, command
    for png in ("stream.png", "walk.png", "probes.png"):
        assert image.imread(tmp_path / png).shape[0] > 100, png
