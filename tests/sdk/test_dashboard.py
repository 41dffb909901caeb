"""``anyppg stream --live``: the terminal dashboard, its rendering at a given width, and its fallback."""

from __future__ import annotations

import io
import json
import re

import pytest

import anyppg
from anyppg.cli import main
from anyppg.sdk.dashboard import Dashboard, DeviceState, render_lines, sparkline

URLS = ("sim:?hr=70&duration=24&seed=1", "sim:?hr=110&duration=24&seed=2&motion=0.1")


@pytest.fixture(scope="module")
def streams():
    return [anyppg.stream_sync(url, speed="max", model=None) for url in URLS]


def _states(streams) -> dict[str, DeviceState]:
    states: dict[str, DeviceState] = {}
    for results in streams:
        for r in results:
            state = states.setdefault(r.device, DeviceState(r))
            state.last = r
            state.heart_rates.append(r.heart_rate)
    return states


def _screen(text: str) -> list[str]:
    """What a terminal shows after ``text``: handles newline, 'cursor up n lines' and 'clear line'."""
    lines, row = [""], 0
    for token in re.findall(r"\x1b\[(\d*)([FK])|(\n)|([^\x1b\n]+)", text):
        n, code, newline, chars = token
        if newline:
            row += 1
            lines += [""] * (row + 1 - len(lines))
        elif code == "F":
            row = max(0, row - int(n or 1))
        elif code == "K":
            lines[row] = ""
        else:
            lines[row] += chars
    return [line for line in lines if line]


@pytest.mark.parametrize("width", [40, 80, 120, 200])
def test_every_line_fits_the_terminal_width_keeping_the_essentials(streams, width):
    lines = render_lines(_states(streams), width)
    assert len(lines) == 2  # one per device, in arrival order
    for line, results in zip(lines, streams, strict=True):
        assert len(line) <= width
        last = results[-1]
        assert line.startswith(last.device[: min(len(last.device), 7)])
        assert f"HR {last.heart_rate:5.1f} bpm" in line
        assert f"q {last.quality:4.2f}" in line
    wide, narrow = render_lines(_states(streams), 200), render_lines(_states(streams), 40)
    a = streams[0][-1].accounting
    assert f"recv {a.received} = {a.delivered} + {a.dropped_total} drop" in wide[0]
    assert "gaps 0" in wide[0] and "ms" in wide[0] and "recv" not in narrow[0]


def test_sparkline_scales_to_the_values_and_marks_missing_ones():
    assert sparkline([60.0, None, 80.0], 3) == "▁·█"
    levels = ["▁▂▃▄▅▆▇█".index(c) for c in sparkline([72.0, 72.4, 71.8], 3)]
    assert max(levels) - min(levels) <= 1  # a steady heart rate (±0.3 bpm) draws a nearly flat line
    assert sparkline([None, None], 5) == "··"


def test_on_a_terminal_the_dashboard_redraws_in_place(streams):
    out = io.StringIO()
    dashboard = Dashboard(out, width=100, tty=True)
    for a, b in zip(*streams, strict=False):  # interleaved, as two devices stream at once
        dashboard(a)
        dashboard(b)
    dashboard.close()
    text = out.getvalue()
    assert "\x1b[2K" in text
    assert _screen(text) == render_lines(dashboard.states, 99)  # two lines, no scrolled-off copies


def test_off_a_terminal_each_result_is_one_plain_line(streams):
    out = io.StringIO()
    dashboard = Dashboard(out, width=100)  # StringIO is not a TTY
    for r in streams[0]:
        dashboard(r)
    dashboard.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == len(streams[0]) and "\x1b" not in out.getvalue()
    assert all(line.startswith(streams[0][0].device[:8]) for line in lines)


def test_stream_live_in_the_cli(capsys):
    url = "sim:?duration=20"
    assert main(["stream", url, "--speed", "max", "--model", "none", "--live"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out and all(" | HR " in line and "\x1b" not in line for line in out)
    # with --json, stdout keeps the JSON lines and the dashboard goes to stderr
    assert main(["stream", url, "--speed", "max", "--model", "none", "--live", "--json"]) == 0
    captured = capsys.readouterr()
    kinds = [json.loads(line)["type"] for line in captured.out.splitlines()]
    assert kinds[-1] == "summary" and kinds.count("result") == len(out)
    assert sum(" | HR " in line for line in captured.err.splitlines()) == len(out)
