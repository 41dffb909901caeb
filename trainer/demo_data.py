"""The demo preset's data: a simulated window store, built once (seeded) when it is missing."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

DEMO_HOURS = 6.0
"""Simulated hours for the demo: ~1,980 windows of 10 s (1,584 train), built in ~10 s."""


def ensure_demo_store(path: str | Path, hours: float = DEMO_HOURS, seed: int = 0, workers: int = 2) -> Path:
    """Build the simulated store at ``path`` (``anyppg prepare --source sim``) unless it exists.

    Returns:
        The store folder.
    """
    path = Path(path)
    if (path / "index.json").is_file():
        return path
    from .cmd_prepare import build_store
    from .sources import SimSource

    log.info("building the demo window store at %s (%.1f simulated hours)", path, hours)
    index = build_store(SimSource(hours=hours, seed=seed), path, seed=seed, workers=workers, overwrite=True)
    log.info("demo store: %s windows in %.0f s", index.get("counts"), index.get("elapsed_s", float("nan")))
    return path
