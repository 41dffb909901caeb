"""matplotlib, imported on first use for the ``--plot`` figures (the ``plot`` extra; never a core dependency)."""

from __future__ import annotations

from typing import Any

from anyppg.errors import RuntimeUnavailableError

__all__ = ["PLOT_INSTALL", "pyplot"]

PLOT_INSTALL = 'pip install "anyppg[plot]"'


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only ``Agg`` backend (figures are written as PNG, never shown).

    Raises:
        RuntimeUnavailableError: matplotlib is not installed (names ``pip install "anyppg[plot]"``).
    """
    try:
        import matplotlib
    except ImportError:
        raise RuntimeUnavailableError("matplotlib", PLOT_INSTALL) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
