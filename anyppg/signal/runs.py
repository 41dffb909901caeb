"""Runs of True in a 1-D mask: the stretches where a signal is finite, flat, at its rail or missing.

Example:
    >>> import numpy as np
    >>> from anyppg.signal.runs import finite_runs, true_runs
    >>> true_runs(np.array([True, True, False, True]))
    (array([0, 3]), array([2, 4]))
    >>> finite_runs(np.array([1.0, np.nan, 2.0, 3.0]))
    [(0, 1), (2, 4)]
"""

from __future__ import annotations

import numpy as np

__all__ = ["finite_runs", "true_runs"]


def true_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive) indices of the runs of True in a 1-D bool ``mask``."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask, dtype=bool).view(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def finite_runs(x: np.ndarray, *, min_len: int = 1) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of at least ``min_len`` finite samples of a 1-D array, as ints."""
    starts, stops = true_runs(np.isfinite(x))
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True) if b - a >= min_len]
