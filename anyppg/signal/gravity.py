"""Accelerometer units from gravity: the scale that brings raw counts of unknown unit to g.

An accelerometer at rest measures gravity alone, 1 g, whatever its orientation. So when a device does
not say its accelerometer's unit (raw counts, a vendor scale), the unit is found from the recording
itself: the median magnitude over still stretches is 1 g. A stretch is still when no axis moves more
than ``still_rel`` of the magnitude (standard deviation per axis over ``stretch_s``); this test does
not depend on the unit, so it can run before the unit is known.

Until a still stretch has been seen (a wearer who starts running at once), the median magnitude over
everything seen so far stands in: dynamic acceleration is zero-mean, so it is within a few per cent
of 1 g while walking or running (on TROIKA's treadmill runs: see docs/sdk.md). The accelerometer is
assumed zero-centred (a signed sensor reading); an offset such as BAMI's 32768 is the reader's to
remove.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> still = np.tile([0.0, 0.6, 0.8], (200, 1)) * 4096 + rng.normal(0, 8, (200, 3))  # counts, 4096/g
    >>> round(acc_gravity_scale(still, 50.0) * 4096, 3)
    1.0
"""

from __future__ import annotations

import math

import numpy as np

from anyppg.errors import InvalidSignalError
from anyppg.signal._checks import as_acc, check_positive, check_rate

__all__ = ["GravityCalibrator", "acc_gravity_scale"]

#: a stretch is still when every axis's standard deviation is below this fraction of the magnitude.
STILL_REL = 0.05
#: length of the stretches tested for stillness, s.
STRETCH_S = 2.0
#: still stretches remembered (their median magnitudes; the scale is their median).
_KEEP = 64


class GravityCalibrator:
    """Streaming gravity calibration of an accelerometer of unknown unit (see the module docstring).

    Args:
        sampling_rate: the accelerometer's rate, Hz.
        stretch_s: length of the stretches tested for stillness, s.
        still_rel: largest per-axis standard deviation of a still stretch, as a fraction of its median
            magnitude.

    Raises:
        UnsupportedRateError: the rate is not a positive finite number.
        InvalidParameterError: ``stretch_s`` or ``still_rel`` not positive.

    Example:
        >>> import numpy as np
        >>> cal = GravityCalibrator(25.0)
        >>> g = cal.push(np.tile([0.0, 0.0, 9.80665], (100, 1)))  # m/s^2 at rest
        >>> cal.calibrated, round(float(g[0, 2]), 6)
        (True, 1.0)
    """

    def __init__(
        self, sampling_rate: float, *, stretch_s: float = STRETCH_S, still_rel: float = STILL_REL
    ) -> None:
        self.sampling_rate = check_rate(sampling_rate, what="accelerometer")
        self.stretch = max(2, round(check_positive("stretch_s", stretch_s) * self.sampling_rate))
        self.still_rel = check_positive("still_rel", still_rel)
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new wearer or a new device)."""
        self._pending = np.empty((0, 3))
        self._still: list[float] = []  # median magnitudes of still stretches
        self._any: list[float] = []  # median magnitudes of every stretch (the stand-in)
        self._first: float | None = None  # median magnitude of the first chunk, before any stretch

    @property
    def calibrated(self) -> bool:
        """Whether a still stretch has fixed the scale (before that, :attr:`scale` is a stand-in)."""
        return bool(self._still)

    @property
    def scale(self) -> float | None:
        """g per raw unit: 1 / the median magnitude of the still stretches (of all stretches while
        none was still); None before any sample."""
        source = self._still or self._any
        if source:
            return 1.0 / float(np.median(source))
        return None if self._first is None else 1.0 / self._first

    def push(self, acc: np.ndarray) -> np.ndarray:
        """Take the next raw chunk and return it in g, with the scale known after it.

        Args:
            acc: raw accelerometer, shape (n, 3), at ``sampling_rate``.

        Returns:
            ``acc * scale``, float64 (n, 3) (all zeros while every sample so far is zero).

        Raises:
            InvalidSignalError: wrong shape or dtype, or NaN/inf.
        """
        a = as_acc(acc, len(np.asarray(acc)), name="accelerometer chunk")
        if len(a) == 0:
            return a.copy()
        if self._first is None:
            mag = float(np.median(np.linalg.norm(a, axis=1)))
            self._first = mag if mag > 0 else None
        self._pending = np.concatenate([self._pending, a])
        while len(self._pending) >= self.stretch:
            self._judge(self._pending[: self.stretch])
            self._pending = self._pending[self.stretch :]
        scale = self.scale
        return a * (0.0 if scale is None else scale)

    def _judge(self, stretch: np.ndarray) -> None:
        mag = float(np.median(np.linalg.norm(stretch, axis=1)))
        if not mag > 0:
            return
        self._any.append(mag)
        del self._any[:-_KEEP]
        if float(stretch.std(axis=0).max()) <= self.still_rel * mag:
            self._still.append(mag)
            del self._still[:-_KEEP]


def acc_gravity_scale(
    acc: np.ndarray, sampling_rate: float, *, stretch_s: float = STRETCH_S, still_rel: float = STILL_REL
) -> float:
    """g per raw unit of a whole accelerometer recording (see the module docstring).

    Args:
        acc: raw accelerometer, shape (n, 3), at ``sampling_rate``.
        sampling_rate: its rate, Hz.
        stretch_s: length of the stretches tested for stillness, s.
        still_rel: largest per-axis standard deviation of a still stretch, relative to its magnitude.

    Returns:
        The scale: ``acc * scale`` is in g.

    Raises:
        InvalidSignalError: wrong shape, NaN/inf, or no non-zero sample.
        UnsupportedRateError / InvalidParameterError: as :class:`GravityCalibrator`.
    """
    cal = GravityCalibrator(sampling_rate, stretch_s=stretch_s, still_rel=still_rel)
    cal.push(acc)
    scale = cal.scale
    if scale is None or not math.isfinite(scale):
        raise InvalidSignalError("accelerometer has no non-zero sample: no gravity to calibrate on")
    return scale
