"""Logging set-up for the command line, and third-party noise routed to debug.

Runtimes and libraries we call print on their own: LiteRT writes ``INFO: Created TensorFlow Lite
XNNPACK delegate for CPU.`` from C++ on every model load, ExecuTorch's cpuinfo reads
``/sys/devices/soc0/...`` aloud, torchao and torch warn about optional kernels, absl and jax announce
their backends. None of it is actionable for a user, so:

- :func:`configure` sets our log level from ``-v`` / ``-q`` and lowers the Python loggers of those
  libraries to errors unless ``-vv`` (debug) is given;
- :func:`native_stderr_to_log` captures what native code writes to file descriptor 2 during a block
  (a model load) and re-emits it through a logger at debug level (errors stay visible as warnings).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import TextIO

__all__ = ["NOISY_LOGGERS", "ThirdPartyFilter", "configure", "native_stderr_to_log"]

NOISY_LOGGERS = (
    "absl", "jax", "jax._src.xla_bridge", "torch", "torchao", "executorch", "litert_torch",
    "ai_edge_litert", "ai_edge_quantizer", "tensorflow", "brevitas", "matplotlib", "PIL",
)  # fmt: skip
"""Python loggers of third-party libraries that only speak at ``-vv``."""

_FD_LOCK = threading.RLock()  # re-entrant: a converter may load a model inside a captured block


class ThirdPartyFilter(logging.Filter):
    """Drop records below ERROR that come from a third-party package's code, whatever logger it used.

    Some libraries log through the root logger (litert-torch's ``Use JAX lowering: ...`` and its
    "converted in training mode" warning), so filtering by logger name alone is not enough; the
    record's source file tells where it came from.
    """

    def __init__(self, packages: tuple[str, ...] = NOISY_LOGGERS) -> None:
        super().__init__()
        self.markers = tuple(f"{os.sep}{p.split('.')[0]}{os.sep}" for p in packages)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        if record.name.split(".")[0] in NOISY_LOGGERS:
            return False
        return not (record.name == "root" and any(m in record.pathname for m in self.markers))


def configure(verbose: int = 0, quiet: bool = False) -> None:
    """Set up logging for a command: WARNING by default, INFO with ``-v``, DEBUG with ``-vv``, ERROR with ``-q``.

    Below ``-vv`` the third-party libraries of :data:`NOISY_LOGGERS` show errors only (a
    :class:`ThirdPartyFilter` on the root handlers).
    """
    level = logging.ERROR if quiet else [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level)
    for name in NOISY_LOGGERS:  # also those with their own handlers (torch)
        logging.getLogger(name).setLevel(logging.NOTSET if level <= logging.DEBUG else logging.ERROR)
    for handler in root.handlers:
        for old in [f for f in handler.filters if isinstance(f, ThirdPartyFilter)]:
            handler.removeFilter(old)
        if level > logging.DEBUG:
            handler.addFilter(ThirdPartyFilter())


def _level_of(line: str) -> int:
    head = line.lstrip()[:8].upper()
    if head.startswith(("ERROR", "FATAL", "E0", "E1", "F0", "F1", "CRITICAL")):
        return logging.WARNING
    return logging.DEBUG


def _stderr_handlers() -> list[logging.StreamHandler]:
    """Root log handlers that write to file descriptor 2."""
    found = []
    for handler in logging.getLogger().handlers:
        stream = getattr(handler, "stream", None)
        with contextlib.suppress(AttributeError, OSError, ValueError):
            if isinstance(handler, logging.StreamHandler) and stream is not None and stream.fileno() == 2:
                found.append(handler)
    return found


@contextlib.contextmanager
def native_stderr_to_log(logger: logging.Logger) -> Iterator[TextIO]:
    """Capture what is written to file descriptor 2 inside the block and log it line by line.

    Native code (C++ runtimes and converters) and third-party ``print(..., file=sys.stderr)`` write to
    fd 2; inside the block that goes to a temporary file, and afterwards each line is logged through
    ``logger`` at DEBUG, except lines that start like an error (``ERROR``, ``E1128 ...``), which are
    logged at WARNING. Our own log records are not captured: the root handlers that write to fd 2
    write to a duplicate of the real stderr while the block runs. The block gets that duplicate too,
    for progress lines that must stay visible. Where fd 2 cannot be duplicated, the block runs as is.

    Yields:
        A text stream on the real stderr, valid inside the block.
    """
    with _FD_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            yield sys.stderr
            return
        captured = b""
        real = os.fdopen(os.dup(saved), "w", buffering=1, errors="backslashreplace")
        handlers = _stderr_handlers()
        streams = [h.stream for h in handlers]
        try:
            with tempfile.TemporaryFile() as tmp:
                os.dup2(tmp.fileno(), 2)
                for handler in handlers:
                    handler.setStream(real)
                try:
                    yield real
                finally:
                    for handler, stream in zip(handlers, streams, strict=True):
                        handler.setStream(stream)
                    with contextlib.suppress(OSError, ValueError, AttributeError):
                        sys.stderr.flush()
                    os.dup2(saved, 2)
                    tmp.seek(0)
                    captured = tmp.read()
        finally:
            real.close()
            os.close(saved)
    for line in captured.decode("utf-8", "replace").splitlines():
        if line.strip():
            logger.log(_level_of(line), "%s", line.rstrip())
