"""A live terminal dashboard for streams (``anyppg stream --live``), and the CLI's ``--plot`` hook.

One line per device, redrawn in place with plain ANSI escapes (no dependency): heart rate with a
sparkline of the recent values, window quality as a bar, motion, latency and the accounting
(``received = delivered + dropped``, gaps). When the output is not a terminal (a pipe, a log file,
a notebook's captured stdout) each result is written as one plain line instead, without escapes.

:func:`render_lines` is pure (results in, text out, for a given width), so it is tested without a
terminal.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from anyppg.sdk.results import Result

__all__ = ["Dashboard", "DeviceState", "render_lines", "sparkline", "with_views"]

_SPARKS = "▁▂▃▄▅▆▇█"
_HISTORY = 24  # heart-rate values kept per device for the sparkline
_MIN_REDRAW_S = 0.1  # a terminal is redrawn at most 10 times a second; the last state always shows


def sparkline(values: Sequence[float | None], width: int, min_span: float = 10.0) -> str:
    """The last ``width`` values as block characters ('·' = missing), scaled between their min and max
    but over at least ``min_span`` (for heart rate, bpm), so that a steady value draws a flat line."""
    tail = list(values)[-width:] if width > 0 else []
    finite = [v for v in tail if v is not None and math.isfinite(v)]
    if not finite:
        return "·" * len(tail)
    lo, hi = min(finite), max(finite)
    span = max(hi - lo, min_span, 1e-9)
    lo = (lo + hi) / 2 - span / 2
    out = []
    for v in tail:
        if v is None or not math.isfinite(v):
            out.append("·")
        else:
            out.append(_SPARKS[min(len(_SPARKS) - 1, int((v - lo) / span * (len(_SPARKS) - 1) + 0.5))])
    return "".join(out)


def _bar(value: float | None, width: int) -> str:
    if value is None or not math.isfinite(value):
        return "·" * width
    filled = round(max(0.0, min(1.0, value)) * width)
    return "█" * filled + "░" * (width - filled)


def _num(value: float | None, fmt: str, missing: str) -> str:
    return missing if value is None or not math.isfinite(value) else format(value, fmt)


@dataclass
class DeviceState:
    """What the dashboard shows for one device: its last result and its recent heart rates (bpm)."""

    last: Result
    heart_rates: deque[float | None] = field(default_factory=lambda: deque(maxlen=_HISTORY))
    windows: int = 0


def _fit_name(name: str, width: int) -> str:
    if len(name) <= width:
        return name.ljust(width)
    return name[: max(0, width - 1)] + "…"


def render_line(state: DeviceState, width: int) -> str:
    """One device's line, at most ``width`` characters: the least important fields go first when narrow.

    Kept longest: device, heart rate, quality (``*`` = gated), then the accounting, the heart-rate
    sparkline, the quality bar, gaps, motion, latency, and device time.
    """
    r = state.last
    a = r.accounting
    # (text, priority, separator before it): fields with a priority above the limit are left out.
    fields = [
        (_fit_name(r.device, min(24, max(8, width // 5))), 0, ""),
        (f"HR {_num(r.heart_rate, '5.1f', '  -- ')} bpm", 0, " | "),
        (sparkline(state.heart_rates, 12), 2, " "),
        (f"q {_num(r.quality, '4.2f', ' -- ')}{'' if r.usable else '*'}", 0, " | "),
        (_bar(r.quality, 8), 3, " "),
        (f"recv {a.received} = {a.delivered} + {a.dropped_total} drop", 1, " | "),
        (f"gaps {len(a.gaps)}", 4, " | "),
        (f"motion {_num(r.motion, '5.3f', '  -- ')} g", 5, " | "),
        (f"{_num(r.latency_ms, '6.1f', '   -- ')} ms", 6, " | "),
        (f"t {r.t_end:7.1f} s", 7, " | "),
    ]
    line = ""
    for limit in range(7, -1, -1):
        line = "".join(sep + text for text, priority, sep in fields if priority <= limit)
        if len(line) <= width:
            return line
    return line[:width]


def render_lines(states: dict[str, DeviceState], width: int) -> list[str]:
    """The dashboard's lines for a terminal ``width`` columns wide: one per device, in arrival order."""
    return [render_line(state, width) for state in states.values()]


class Dashboard:
    """A live view of one or more streams: call it with each :class:`Result`, :meth:`close` at the end.

    Args:
        stream: where to write (default stdout).
        width: terminal width in columns (default: measured at each redraw).
        tty: redraw in place (default: whether ``stream`` is a terminal); plain lines otherwise.
    """

    def __init__(
        self, stream: TextIO | None = None, *, width: int | None = None, tty: bool | None = None
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.width = width
        self.tty = self.stream.isatty() if tty is None else tty
        self.states: dict[str, DeviceState] = {}
        self._drawn = 0  # lines on screen from the last redraw
        self._last_draw = -math.inf

    def _columns(self) -> int:
        return self.width or shutil.get_terminal_size(fallback=(100, 24)).columns

    def __call__(self, result: Result) -> None:
        state = self.states.get(result.device)
        if state is None:
            state = self.states[result.device] = DeviceState(result)
        state.last = result
        state.windows += 1
        state.heart_rates.append(result.heart_rate)
        if not self.tty:
            self.stream.write(render_line(state, self._columns()) + "\n")
            self.stream.flush()
            return
        now = time.monotonic()
        if now - self._last_draw >= _MIN_REDRAW_S:
            self._redraw()
            self._last_draw = now

    def _redraw(self) -> None:
        lines = render_lines(self.states, self._columns() - 1)  # the last column would wrap on some terminals
        up = f"\033[{self._drawn}F" if self._drawn else ""  # to the start of the first line drawn
        self.stream.write(up + "".join(f"\033[2K{line}\n" for line in lines))
        self.stream.flush()
        self._drawn = len(lines)

    def close(self) -> None:
        """Draw the final state (on a terminal); the cursor is left below the dashboard."""
        if self.tty and self.states:
            self._redraw()


def with_views(
    args: argparse.Namespace, emit: Callable[[Result], None]
) -> tuple[Callable[[Result], None], Callable[[], None]]:
    """The CLI's ``--live`` and ``--plot PNG`` around a command's per-result ``emit``.

    ``--live`` replaces the plain per-result lines with the dashboard (on stderr when ``--json`` keeps
    stdout for JSON lines); ``--plot`` collects the results and writes the figure when ``finish()`` is
    called. matplotlib is checked before the stream starts, so a missing extra fails at once.

    Returns:
        ``(emit, finish)``: the wrapped per-result callback, and what to call when the stream is over.

    Raises:
        RuntimeUnavailableError: ``--plot`` without matplotlib (names ``pip install "anyppg[plot]"``).
    """
    live = getattr(args, "live", False)
    plot = getattr(args, "plot", None)
    json_out = getattr(args, "json", False)
    dashboard = Dashboard(sys.stderr if json_out else sys.stdout) if live else None
    collected: list[Result] = []
    if plot:
        from anyppg.plotting import pyplot

        pyplot()

    def wrapped(result: Result) -> None:
        if dashboard is None or json_out:
            emit(result)
        if dashboard is not None:
            dashboard(result)
        if plot:
            collected.append(result)

    def finish() -> None:
        if dashboard is not None:
            dashboard.close()
        if plot:
            from anyppg.sdk.demo_plot import plot_results

            plot_results(collected, plot)
            if not json_out:
                print(f"figure: {plot}", file=sys.stderr)

    return wrapped, finish
