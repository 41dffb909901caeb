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

__all__ = ["NOISY_LOGGERS", "configure", "native_stderr_to_log"]

NOISY_LOGGERS = (
    "absl", "jax", "jax._src.xla_bridge", "torch", "torchao", "executorch", "litert_torch",
    "ai_edge_litert", "ai_edge_quantizer", "tensorflow", "brevitas", "matplotlib", "PIL",
)  # fmt: skip
"""Python loggers of third-party libraries that only speak at ``-vv``."""

_FD_LOCK = threading.Lock()


def configure(verbose: int = 0, quiet: bool = False) -> None:
    """Set up logging for a command: WARNING by default, INFO with ``-v``, DEBUG with ``-vv``, ERROR with ``-q``.

    Below ``-vv`` the :data:`NOISY_LOGGERS` show errors only.
    """
    level = logging.ERROR if quiet else [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if level <= logging.DEBUG else logging.ERROR)


def _level_of(line: str) -> int:
    head = line.lstrip()[:8].upper()
    if head.startswith(("ERROR", "FATAL", "E0", "E1", "F0", "F1", "CRITICAL")):
        return logging.WARNING
    return logging.DEBUG


@contextlib.contextmanager
def native_stderr_to_log(logger: logging.Logger) -> Iterator[None]:
    """Capture what is written to file descriptor 2 inside the block and log it line by line.

    Lines are logged at DEBUG, except ones that start like an error (``ERROR``, ``E1128 ...``),
    which are logged at WARNING. Python's own ``sys.stderr`` is flushed before and after, so nothing
    written earlier is swallowed. Where fd 2 cannot be duplicated (no console), the block runs as is.
    """
    with _FD_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            yield
            return
        captured = b""
        try:
            with tempfile.TemporaryFile() as tmp:
                os.dup2(tmp.fileno(), 2)
                try:
                    yield
                finally:
                    with contextlib.suppress(OSError, ValueError, AttributeError):
                        sys.stderr.flush()
                    os.dup2(saved, 2)
                    tmp.seek(0)
                    captured = tmp.read()
        finally:
            os.close(saved)
    for line in captured.decode("utf-8", "replace").splitlines():
        if line.strip():
            logger.log(_level_of(line), "%s", line.rstrip())
