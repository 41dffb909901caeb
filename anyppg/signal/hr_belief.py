"""Heart rate from distributions over heart-rate bins: one window, or tracked causally over windows.

The learned motion model (:mod:`anyppg.sdk.motion_runtime`) gives, per 8-s window, a probability
distribution over the bins :data:`anyppg.signal.motion_spectra.HR_BINS_BPM`. :func:`hr_from_distribution`
reads a rate and a confidence from one distribution; :class:`HeartRateBelief` combines the windows of
a stream as BeliefPPG does, with a forward (causal) hidden-Markov filter: the belief is carried from
one window to the next through a Gaussian random-walk prior (:attr:`HeartRateBelief.drift_bpm_per_s`
times the time step, plus a small uniform share so a lost track can recover), then multiplied by the
new window's distribution. No look-ahead: each estimate uses only windows up to its own.

Example:
    >>> import numpy as np
    >>> from anyppg.signal.hr_belief import HeartRateBelief, hr_from_distribution
    >>> from anyppg.signal.motion_spectra import HR_BINS_BPM
    >>> p = np.exp(-0.5 * ((HR_BINS_BPM - 120) / 4) ** 2); p /= p.sum()
    >>> bpm, conf = hr_from_distribution(p); round(bpm), conf > 0.5
    (120, True)
    >>> belief = HeartRateBelief()
    >>> round(belief.update(p, dt_s=2.0)[0])
    120
"""

from __future__ import annotations

import math

import numpy as np

from anyppg.errors import InvalidSignalError
from anyppg.signal.motion_spectra import HR_BINS_BPM, N_BINS

__all__ = ["HeartRateBelief", "hr_from_distribution", "softmax"]

HALF_WIDTH_BINS: int = 2
"""Bins either side of the peak over which the rate is refined and the confidence counted (+-6 bpm)."""


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Probabilities from logits along ``axis`` (float64, numerically stable)."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def hr_from_distribution(p: np.ndarray) -> tuple[float, float]:
    """Heart rate and confidence from one distribution over :data:`HR_BINS_BPM`.

    Args:
        p: probabilities, shape (64,), summing to 1.

    Returns:
        ``(bpm, confidence)``: the probability-weighted mean rate (bpm) over the bins within
        :data:`HALF_WIDTH_BINS` of the most probable bin, and the probability mass there (0-1).

    Raises:
        InvalidSignalError: ``p`` is not a finite (64,) array.
    """
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (N_BINS,) or not np.isfinite(p).all():
        raise InvalidSignalError(f"distribution must be a finite array of shape ({N_BINS},); got {p.shape}")
    k = int(p.argmax())
    lo, hi = max(0, k - HALF_WIDTH_BINS), min(N_BINS, k + HALF_WIDTH_BINS + 1)
    mass = float(p[lo:hi].sum())
    bpm = float((p[lo:hi] * HR_BINS_BPM[lo:hi]).sum() / mass) if mass > 0 else float(HR_BINS_BPM[k])
    return bpm, min(1.0, max(0.0, mass))


class HeartRateBelief:
    """Causal forward filter over heart-rate bins (an HMM with a random-walk transition prior).

    Args:
        drift_bpm_per_s: standard deviation of the heart-rate change per second of time step (bpm/s);
            a 2-s step allows ~3 bpm (1 sigma) at the default.
        recovery: share of the prior spread uniformly over all bins each step, so a wrong track can be
            left when the windows keep pointing elsewhere.

    Raises:
        InvalidSignalError: a parameter is out of range.
    """

    def __init__(self, drift_bpm_per_s: float = 1.5, recovery: float = 1e-3) -> None:
        if not (math.isfinite(drift_bpm_per_s) and drift_bpm_per_s > 0):
            raise InvalidSignalError(f"drift_bpm_per_s must be > 0 bpm/s; got {drift_bpm_per_s!r}")
        if not 0 <= recovery < 1:
            raise InvalidSignalError(f"recovery must be in [0, 1); got {recovery!r}")
        self.drift_bpm_per_s = float(drift_bpm_per_s)
        self.recovery = float(recovery)
        self._belief: np.ndarray | None = None
        self._diff = HR_BINS_BPM[:, None] - HR_BINS_BPM[None, :]

    @property
    def belief(self) -> np.ndarray | None:
        """The current posterior over the bins (64,), or None before the first window."""
        return None if self._belief is None else self._belief.copy()

    def reset(self) -> None:
        """Forget the track (after a gap, or for a new wearer)."""
        self._belief = None

    def _transition(self, dt_s: float) -> np.ndarray:
        sigma = max(self.drift_bpm_per_s * dt_s, 0.5)
        t = np.exp(-0.5 * (self._diff / sigma) ** 2)
        t /= t.sum(axis=0, keepdims=True)
        return (1.0 - self.recovery) * t + self.recovery / N_BINS

    def update(self, p: np.ndarray, *, dt_s: float) -> tuple[float, float]:
        """Add one window's distribution and return the tracked rate.

        Args:
            p: the window's probabilities over :data:`HR_BINS_BPM`, shape (64,).
            dt_s: time since the previous window's end (s); the spread of the prior grows with it.

        Returns:
            ``(bpm, confidence)`` of the posterior (see :func:`hr_from_distribution`).

        Raises:
            InvalidSignalError: ``p`` is not a finite (64,) array, or ``dt_s`` is negative or not finite.
        """
        p = np.asarray(p, dtype=np.float64)
        if p.shape != (N_BINS,) or not np.isfinite(p).all():
            raise InvalidSignalError(
                f"distribution must be a finite array of shape ({N_BINS},); got {p.shape}"
            )
        if not (math.isfinite(dt_s) and dt_s >= 0):
            raise InvalidSignalError(f"dt_s must be a finite time step >= 0 s; got {dt_s!r}")
        prior = (
            np.full(N_BINS, 1.0 / N_BINS) if self._belief is None else self._transition(dt_s) @ self._belief
        )
        post = prior * np.maximum(p, 1e-12)
        self._belief = post / post.sum()
        return hr_from_distribution(self._belief)
