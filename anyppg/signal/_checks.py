"""Input validation shared by the signal functions: every bad input becomes a typed anyppg error."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

from anyppg.errors import AnyPPGError, InvalidSignalError, TimestampError, UnsupportedRateError


class InvalidParameterError(AnyPPGError, ValueError):
    """A processing parameter (not the signal itself) is out of range.

    Attributes:
        name: the parameter's name.
        value: the value that was given.
        expected: what is accepted, in words.
    """

    def __init__(self, name: str, value: Any, expected: str) -> None:
        super().__init__(f"{name}={value!r} is invalid; expected {expected}")
        self.name = name
        self.value = value
        self.expected = expected


def check_rate(
    rate: Any, *, what: str = "signal", minimum: float | None = None, at_least: float | None = None
) -> float:
    """Return ``rate`` as a float after checking that it is a usable sampling rate (Hz).

    Raises:
        UnsupportedRateError: not a positive finite number, not above ``minimum`` or below ``at_least``.
    """
    if isinstance(rate, bool) or not isinstance(rate, Real):
        raise UnsupportedRateError(math.nan, f"a positive number of Hz, not {rate!r}", what)
    value = float(rate)
    if not math.isfinite(value) or value <= 0:
        raise UnsupportedRateError(value, "a positive finite number of Hz", what)
    if minimum is not None and value <= minimum:
        raise UnsupportedRateError(value, f"> {minimum:g} Hz", what)
    if at_least is not None and value < at_least:
        raise UnsupportedRateError(value, f">= {at_least:g} Hz", what)
    return value


def _numeric(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise InvalidSignalError(f"{name} cannot be read as an array: {exc}") from None
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise InvalidSignalError(f"{name} must hold real numbers (int or float); got dtype {arr.dtype}")
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad.reshape(len(arr), -1).any(axis=1))[0])
        raise InvalidSignalError(
            f"{name} contains {int(bad.sum())} NaN/inf value(s), the first at sample {first}; "
            "fill or drop them first (ppg_quality() reports them without raising)"
        )


def as_signal(
    x: Any,
    *,
    name: str = "signal",
    min_samples: int = 1,
    rate: float | None = None,
    allow_2d: bool = False,
) -> np.ndarray:
    """Return ``x`` as a finite float64 array of shape (n,) (or (n, c) if ``allow_2d``).

    Raises:
        InvalidSignalError: wrong dtype or shape, NaN/inf, or fewer than ``min_samples`` samples.
    """
    arr = _numeric(x, name)
    if arr.ndim != 1 and not (allow_2d and arr.ndim == 2):
        expected = "(n_samples,) or (n_samples, n_channels)" if allow_2d else "(n_samples,)"
        raise InvalidSignalError(f"{name} must have shape {expected}; got shape {arr.shape}")
    if len(arr) < min_samples:
        need = f"{min_samples} samples"
        if rate is not None:
            need += f" ({min_samples / rate:.3g} s at {rate:g} Hz)"
        raise InvalidSignalError(f"{name} is too short: {len(arr)} samples; at least {need} needed")
    arr = arr.astype(np.float64, copy=False)
    _check_finite(arr, name)
    return arr


def as_acc(acc: Any, n_samples: int, *, name: str = "acc") -> np.ndarray:
    """Return a 3-axis accelerometer segment as float64 (n_samples, 3).

    Raises:
        InvalidSignalError: wrong dtype, shape or length, or NaN/inf.
    """
    arr = _numeric(acc, name)
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] != n_samples:
        raise InvalidSignalError(
            f"{name} must have shape ({n_samples}, 3) (3 axes at the PPG rate); got shape {arr.shape}"
        )
    arr = arr.astype(np.float64, copy=False)
    _check_finite(arr, name)
    return arr


def as_timestamps(timestamps: Any, n_samples: int) -> np.ndarray:
    """Return strictly increasing, finite timestamps (s) of length ``n_samples``.

    Raises:
        TimestampError: wrong length, NaN/inf, or not strictly increasing.
    """
    try:
        t = np.asarray(timestamps, dtype=np.float64)
    except (TypeError, ValueError):
        raise TimestampError(
            f"timestamps must be numbers in seconds; got {type(timestamps).__name__}"
        ) from None
    if t.ndim != 1 or len(t) != n_samples:
        raise TimestampError(f"timestamps have shape {t.shape}; expected ({n_samples},), one per sample")
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise TimestampError(
            f"timestamp {int(bad[0])} is {t[bad[0]]}; timestamps must be finite", int(bad[0])
        )
    step = np.diff(t)
    back = np.flatnonzero(step <= 0)
    if back.size:
        i = int(back[0]) + 1
        raise TimestampError(
            f"timestamps must be strictly increasing; sample {i} is at {t[i]!r} s after {t[i - 1]!r} s", i
        )
    return t


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float after checking it is a finite positive (or non-negative) number.

    Raises:
        InvalidParameterError: otherwise.
    """
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok and (float(value) > 0 or (allow_zero and float(value) == 0)):
        return float(value)
    raise InvalidParameterError(name, value, "a finite number >= 0" if allow_zero else "a finite number > 0")
