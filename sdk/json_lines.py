"""JSON lines for the CLI: one object per line, numpy scalars and arrays written as plain JSON.

The accounting and results are built from plain Python types at the source; this encoder is the
second line of defence so that a numpy value reaching an output line (a ``numpy.bool_`` flag, a
``numpy.float64`` time stamp, an array of RR intervals) is written as JSON instead of ending the
stream with a ``TypeError``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

__all__ = ["dumps"]


def _plain(value: Any) -> Any:
    """``json.dumps``'s ``default`` hook: numpy scalars -> Python scalars, arrays -> lists.

    Raises:
        TypeError: ``value`` is neither a numpy scalar nor an array (what ``json.dumps`` would raise).
    """
    if isinstance(value, np.generic | np.ndarray):
        return _finite(value.tolist())
    raise TypeError(f"object of type {type(value).__name__} is not JSON serialisable")


def _finite(value: Any) -> Any:
    # JSON has no NaN or infinity: write null, as the results do for a missing reading.
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def dumps(obj: Any) -> str:
    """One line of JSON for ``obj`` (numpy scalars and arrays converted; non-finite numpy floats -> null).

    Raises:
        TypeError: ``obj`` holds a value that is neither JSON-native nor numpy.
    """
    return json.dumps(obj, default=_plain)
