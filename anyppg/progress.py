"""Progress of long command-line steps, on stderr, silent under ``--json`` and ``--quiet``.

One helper for every command (``prepare``'s records, ``distill``'s teacher embeddings and epochs,
``export``'s lowering and quantization, ``bench``'s cases), so they all look the same::

    with Progress("distill: teacher embeddings", total=848, unit="windows", enabled=show) as p:
        for done in ...:
            p.update(done)
    steps = Progress("export", enabled=show)
    steps.step("student-s -> .pte int8: calibrating and lowering to XNNPACK")

On a terminal the counter line rewrites itself in place (at most every 0.2 s); into a pipe or a file
it is written as a new line at most every ``every_s`` seconds, plus the final state, so logs stay short.
Results always go to stdout; progress never does.
"""

from __future__ import annotations

import argparse
import sys
import time
from types import TracebackType
from typing import TextIO

__all__ = ["Progress", "progress_enabled"]


def progress_enabled(args: argparse.Namespace) -> bool:
    """Whether a command should show progress: not under ``--json`` or ``--quiet``."""
    return not (getattr(args, "json", False) or getattr(args, "quiet", False))


class Progress:
    """A progress line for one long step.

    Args:
        label: what is being done, e.g. ``"prepare"`` or ``"distill: teacher embeddings"``.
        total: how many units the step has, when known (gives a percentage and an ETA).
        unit: the counted thing, plural (``"windows"``, ``"records"``).
        enabled: False makes every method a no-op (``--json``, ``--quiet``).
        stream: where to write (default: ``sys.stderr`` at the time of the call).
        every_s: seconds between lines when ``stream`` is not a terminal.
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        unit: str = "",
        enabled: bool = True,
        stream: TextIO | None = None,
        every_s: float = 5.0,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self._stream = stream
        self.every_s = every_s
        self.start = time.monotonic()
        self.done = 0
        self._last_write = -float("inf")
        self._open_line = False  # a terminal line is being rewritten in place
        self._closed = False
        self._written: tuple[int, str] | None = None  # the last state written

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    def _tty(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def line(self, detail: str = "") -> str:
        """The current status text (no newline)."""
        elapsed = time.monotonic() - self.start
        unit = f" {self.unit}" if self.unit else ""
        text = f"{self.label}: {self.done:,}"
        if self.total:
            text += f"/{self.total:,}{unit} ({100 * self.done / self.total:.0f}%)"
        else:
            text += unit
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if rate >= 1:
            text += f", {rate:,.1f}{unit}/s"
        elif rate > 0:
            text += f", {1 / rate:,.1f} s each"
        if rate > 0 and self.total and self.done < self.total:
            text += f", ETA {(self.total - self.done) / rate:.0f} s"
        text += f", {elapsed:.0f} s"
        return text + (f"; {detail}" if detail else "")

    def update(self, done: int, detail: str = "", *, force: bool = False) -> None:
        """Set the count to ``done`` and redraw when it is time to (always when ``force``)."""
        self.done = done
        if not self.enabled:
            return
        now = time.monotonic()
        tty = self._tty()
        if not force and now - self._last_write < (0.2 if tty else self.every_s):
            return
        self._last_write = now
        self._written = (done, detail)
        if tty:
            self.stream.write("\r\033[K" + self.line(detail))
            self._open_line = True
        else:
            self.stream.write(self.line(detail) + "\n")
        self.stream.flush()

    def advance(self, n: int = 1, detail: str = "") -> None:
        """Add ``n`` to the count."""
        self.update(self.done + n, detail)

    def step(self, message: str) -> None:
        """Announce one discrete stage of the step on its own line (``label: message``)."""
        if not self.enabled:
            return
        self._end_line()
        elapsed = time.monotonic() - self.start
        self.stream.write(f"{self.label}: {message} ({elapsed:.0f} s)\n")
        self.stream.flush()

    def close(self, detail: str = "") -> None:
        """Write the final state (counter steps only) and end the line; later calls do nothing."""
        if not self.enabled or self._closed:
            return
        self._closed = True
        if (self.total is not None or self.done) and self._written != (self.done, detail):
            self.update(self.done, detail, force=True)
        self._end_line()

    def _end_line(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._end_line()
