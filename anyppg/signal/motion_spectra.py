"""PPG + accelerometer spectra for the learned motion heart-rate model (shared by training and the SDK).

The motion model (:mod:`anyppg.trainer.motion_model`, run by :mod:`anyppg.sdk.motion_runtime`) does
not see raw samples: it sees, for one PPG channel, four magnitude spectra over the heart-rate band
of the last :data:`WINDOW_S` seconds, sampled at the heart-rate bins :data:`HR_BINS_BPM`:

- row 0: the PPG channel, divided by its own maximum (0-1; pulse amplitude and polarity drop out);
- rows 1-3: the accelerometer axes x, y, z, divided by one common factor: the largest of the three
  spectra's maxima, but at least the spectrum of a :data:`ACC_FLOOR_G` sinusoid. Running
  (0.2-2 g) gives spectra that peak near 1; a still wrist gives spectra near 0, so the model knows
  when there is no motion to explain away.

Each window is resampled to :data:`RATE_HZ` with :func:`anyppg.signal.resample` (the core resampler),
linearly detrended and Hann-windowed, and its discrete-time Fourier transform is evaluated exactly
at the bin frequencies (no zero-padding grid). A PPG with several channels (TROIKA 2, BAMI-I 3)
gives one model input per channel; the SDK averages the channels' output distributions.

Example:
    >>> import anyppg
    >>> from anyppg.signal.motion_spectra import motion_inputs, HR_BINS_BPM
    >>> sim = anyppg.simulate(8, ppg_rate=64.0, heart_rate=90, seed=0)
    >>> x = motion_inputs(sim.ppg, sim.acc.T, 64.0)
    >>> x.shape, abs(float(HR_BINS_BPM[x[0, 0].argmax()]) - 90) <= 3
    ((1, 4, 64), True)
"""

from __future__ import annotations

import functools

import numpy as np

from anyppg.errors import InvalidSignalError
from anyppg.signal._checks import check_rate
from anyppg.signal.resampling import resample

__all__ = [
    "ACC_FLOOR_G",
    "HR_BINS_BPM",
    "N_BINS",
    "RATE_HZ",
    "WINDOW_S",
    "WINDOW_SAMPLES",
    "motion_inputs",
    "spectra_at_model_rate",
    "window_at_model_rate",
]

RATE_HZ: float = 25.0
"""Rate the window is resampled to before the spectra are taken (Hz)."""

WINDOW_S: float = 8.0
"""Window length (s): the last 8 s before the estimate, as the TROIKA / BAMI-I references."""

WINDOW_SAMPLES: int = round(RATE_HZ * WINDOW_S)
"""Samples per window at :data:`RATE_HZ` (200)."""

N_BINS: int = 64
"""Number of heart-rate bins (model input length and output classes)."""

HR_BINS_BPM: np.ndarray = np.linspace(36.0, 225.0, N_BINS)
"""Heart-rate bin centres (bpm): 36 to 225 bpm in 3-bpm steps."""
HR_BINS_BPM.setflags(write=False)

ACC_FLOOR_G: float = 0.02
"""Smallest accelerometer amplitude (g) taken as motion: the spectra are never scaled up past it."""


@functools.lru_cache(maxsize=8)
def _dtft_matrix(stretch: float) -> np.ndarray:
    """(WINDOW_SAMPLES, N_BINS) complex matrix: Hann window times the DTFT at the bin frequencies.

    ``stretch`` evaluates the spectrum at ``f / stretch``: the spectra of the window played
    ``stretch`` times faster (training augmentation; 1.0 in deployment).
    """
    t = np.arange(WINDOW_SAMPLES) / RATE_HZ
    f = HR_BINS_BPM / 60.0 / stretch
    m = np.hanning(WINDOW_SAMPLES)[:, None] * np.exp(-2j * np.pi * t[:, None] * f[None, :])
    m.setflags(write=False)
    return m


def _detrend(x: np.ndarray) -> np.ndarray:
    """Remove each row's least-squares line."""
    n = x.shape[-1]
    t = np.arange(n) - (n - 1) / 2.0
    slope = (x @ t) / float(t @ t)
    return x - x.mean(axis=-1, keepdims=True) - slope[..., None] * t


def spectra_at_model_rate(ppg: np.ndarray, acc: np.ndarray, *, stretch: float = 1.0) -> np.ndarray:
    """Model inputs from one window already at :data:`RATE_HZ`.

    Args:
        ppg: PPG, shape (channels, 200), any unit.
        acc: acceleration, shape (3, 200), in g.
        stretch: evaluate the spectra at ``bin / stretch`` (training augmentation; the label becomes
            ``stretch`` times the heart rate). 1.0 in deployment.

    Returns:
        float32 array (channels, 4, :data:`N_BINS`): per PPG channel, its normalised spectrum and the
        three accelerometer spectra (see the module docstring).

    Raises:
        InvalidSignalError: wrong shapes, or NaN/inf samples.
    """
    p = np.asarray(ppg, dtype=np.float64)
    a = np.asarray(acc, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != WINDOW_SAMPLES or p.shape[0] < 1:
        raise InvalidSignalError(f"ppg must have shape (channels, {WINDOW_SAMPLES}); got {p.shape}")
    if a.shape != (3, WINDOW_SAMPLES):
        raise InvalidSignalError(f"acc must have shape (3, {WINDOW_SAMPLES}); got {a.shape}")
    if not (np.isfinite(p).all() and np.isfinite(a).all()):
        raise InvalidSignalError("ppg or acc holds NaN or inf samples")
    m = _dtft_matrix(float(stretch))
    ps = np.abs(_detrend(p) @ m)  # (C, N_BINS)
    ps /= np.maximum(ps.max(axis=1, keepdims=True), 1e-12)
    acs = np.abs(_detrend(a) @ m)  # (3, N_BINS)
    floor = ACC_FLOOR_G * np.hanning(WINDOW_SAMPLES).sum() / 2.0  # peak of a floor-amplitude sinusoid
    acs /= max(float(acs.max()), floor)
    out = np.empty((p.shape[0], 4, N_BINS), dtype=np.float32)
    out[:, 0] = ps
    out[:, 1:] = acs[None]
    return out


def window_at_model_rate(ppg: np.ndarray, acc: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """The last :data:`WINDOW_S` seconds of PPG + accelerometer, resampled to :data:`RATE_HZ`.

    Args:
        ppg: PPG, shape (channels, n) or (n,), raw or band-passed, any unit; ``n / fs`` >= 8 s.
        acc: acceleration, shape (3, n), in g, sampled with the PPG.
        fs: their rate (Hz).

    Returns:
        ``(ppg (channels, 200), acc (3, 200))`` float64 at 25 Hz.

    Raises:
        InvalidSignalError: shapes disagree, the window is shorter than 8 s, or samples are NaN/inf.
        UnsupportedRateError: ``fs`` is not a positive finite rate.
    """
    fs = check_rate(fs, what="motion-model input")
    p = np.asarray(ppg, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    a = np.asarray(acc, dtype=np.float64)
    if p.ndim != 2 or a.ndim != 2 or a.shape[0] != 3 or a.shape[1] != p.shape[1] or p.shape[0] < 1:
        raise InvalidSignalError(
            f"ppg must be (channels, n) and acc (3, n) with the same n; got {p.shape} and {a.shape}"
        )
    need = round(WINDOW_S * fs)
    if p.shape[1] < need:
        raise InvalidSignalError(
            f"window has {p.shape[1]} samples at {fs:g} Hz ({p.shape[1] / fs:.2f} s); expected >= {WINDOW_S:g} s"
        )
    both = np.concatenate([p[:, -need:], a[:, -need:]]).T  # (need, C + 3)
    if not np.isfinite(both).all():
        raise InvalidSignalError("ppg or acc holds NaN or inf samples")
    at_rate = resample(both, fs, RATE_HZ).T[:, -WINDOW_SAMPLES:]  # (C + 3, <= 200)
    if at_rate.shape[1] < WINDOW_SAMPLES:  # rounding at odd rates: repeat the first sample
        at_rate = np.pad(at_rate, ((0, 0), (WINDOW_SAMPLES - at_rate.shape[1], 0)), mode="edge")
    return at_rate[:-3], at_rate[-3:]


def motion_inputs(ppg: np.ndarray, acc: np.ndarray, fs: float) -> np.ndarray:
    """Model inputs from the last :data:`WINDOW_S` seconds of PPG + accelerometer at any rate.

    Args:
        ppg: PPG, shape (channels, n) or (n,), raw or band-passed, any unit; ``n / fs`` >= 8 s.
        acc: acceleration, shape (3, n), in g, sampled with the PPG.
        fs: their rate (Hz).

    Returns:
        float32 array (channels, 4, :data:`N_BINS`) (see :func:`spectra_at_model_rate`).

    Raises:
        InvalidSignalError: shapes disagree, the window is shorter than 8 s, or samples are NaN/inf.
        UnsupportedRateError: ``fs`` is not a positive finite rate.
    """
    p, a = window_at_model_rate(ppg, acc, fs)
    return spectra_at_model_rate(p, a)
