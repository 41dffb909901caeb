"""Per-window normalisation and fixed-length windowing."""

from __future__ import annotations

import numpy as np

from anyppg.errors import InvalidSignalError
from anyppg.signal._checks import InvalidParameterError, as_signal, check_positive, check_rate
from anyppg.signal.constants import DEFAULT_HOP_S, WINDOW_S


def zscore(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Standardise to zero mean and unit standard deviation along ``axis``.

    A constant slice (standard deviation 0) becomes zeros, not NaN.

    Args:
        x: finite real array of any shape.
        axis: the axis to standardise along (the time axis of a window batch).

    Returns:
        float64 array of the same shape (float32 input stays float32).

    Raises:
        InvalidSignalError: non-numeric dtype or NaN/inf.

    Example:
        >>> import numpy as np
        >>> zscore(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])).round(3).tolist()
        [[-1.225, 0.0, 1.225], [0.0, 0.0, 0.0]]
    """
    arr = np.asarray(x)
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise InvalidSignalError(f"zscore needs real numbers; got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise InvalidSignalError(f"zscore input contains {int((~np.isfinite(arr)).sum())} NaN/inf value(s)")
    centred = arr - arr.mean(axis=axis, keepdims=True)
    std = centred.std(axis=axis, keepdims=True)
    tiny = np.finfo(arr.dtype).tiny
    return np.where(std > tiny, centred / np.where(std > tiny, std, 1), 0).astype(arr.dtype, copy=False)


def windows(
    x: np.ndarray,
    sampling_rate: float,
    *,
    window_s: float = WINDOW_S,
    hop_s: float = DEFAULT_HOP_S,
) -> np.ndarray:
    """Cut a signal into fixed-length, possibly overlapping windows.

    Window ``i`` holds samples ``[i * hop, i * hop + length)`` with ``length = round(window_s * rate)``
    and ``hop = round(hop_s * rate)``; a trailing partial window is dropped.

    Args:
        x: the signal, shape (n,).
        sampling_rate: its rate (Hz).
        window_s: window length (s), 10 s for the model.
        hop_s: step between window starts (s).

    Returns:
        A copy of shape (n_windows, length), dtype of ``x`` (float).

    Raises:
        InvalidSignalError: wrong dtype/shape, NaN/inf, or shorter than one window.
        UnsupportedRateError: the rate is not a positive finite number.
        InvalidParameterError: ``window_s`` or ``hop_s`` not positive, or under one sample.

    Example:
        >>> import numpy as np
        >>> windows(np.zeros(125 * 30), 125.0).shape
        (11, 1250)
    """
    fs = check_rate(sampling_rate)
    length = round(check_positive("window_s", window_s) * fs)
    hop = round(check_positive("hop_s", hop_s) * fs)
    if length < 1 or hop < 1:
        raise InvalidParameterError("window_s/hop_s", (window_s, hop_s), f"at least one sample (1/{fs:g} s)")
    arr = np.asarray(x)
    values = as_signal(arr, name="signal", min_samples=length, rate=fs)
    if arr.dtype.kind == "f":
        values = values.astype(arr.dtype, copy=False)
    n_windows = (len(values) - length) // hop + 1
    view = np.lib.stride_tricks.sliding_window_view(values, length)[::hop]
    assert len(view) == n_windows
    return view.copy()
