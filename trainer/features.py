"""Hand-crafted PPG features: the baseline every learned embedding is compared against (numpy only).

For each 10 s model window (125 Hz, band-passed, z-scored) the features are those a PPG engineer would
reach for first: beat-to-beat (HRV) statistics from :func:`anyppg.signal.ppg_findpeaks`, the dominant
spectral frequency and how much power sits at it (periodicity), and the shape statistics of the wave.
A window with fewer than 3 detected beats gets NaN for the beat features (the probe imputes them).
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

__all__ = ["FEATURE_NAMES", "handcrafted_features", "window_features"]

FEATURE_NAMES: tuple[str, ...] = (
    "hr_peaks_bpm",  # 60 / median inter-beat interval (robust to a missed or an extra beat)
    "ibi_mean_s",
    "ibi_sd_s",  # SDNN
    "ibi_rmssd_s",  # RMSSD (= SD1 * sqrt 2)
    "ibi_cv",  # SDNN / mean
    "ibi_pnn50",  # share of successive differences > 50 ms
    "ibi_range_s",
    "ibi_turning_point_ratio",  # local extrema share among IBIs: ~2/3 random (AF), lower in sinus
    "sd2_s",  # Poincare SD2
    "n_beats",
    "peak_amp_cv",  # beat-to-beat variation of systolic amplitude
    "hr_spectral_bpm",  # dominant frequency in 0.5-3.5 Hz
    "spectral_peak_power",  # share of 0.5-8 Hz power within 0.15 Hz of the dominant peak and its harmonic
    "spectral_entropy",  # normalised Shannon entropy of the 0.5-8 Hz spectrum
    "autocorr_peak",  # highest autocorrelation at lags 0.3-2 s (periodicity)
    "autocorr_lag_s",
    "skewness",
    "kurtosis",
    "zero_crossing_rate_hz",
    "max_abs",  # large spikes = artefacts after z-scoring
)

FS = 125.0


def _beat_features(x: np.ndarray, fs: float) -> list[float]:
    from anyppg.signal import ppg_findpeaks

    nan = [np.nan] * 11
    peaks = ppg_findpeaks(x, fs, clean=False)
    if len(peaks) < 3:
        return [*nan[:9], float(len(peaks)), np.nan]
    ibi = np.diff(peaks) / fs
    d = np.diff(ibi)
    mean = float(ibi.mean())
    sd = float(ibi.std())
    rmssd = float(np.sqrt(np.mean(d**2))) if len(d) else np.nan
    if len(ibi) >= 3:
        turning = np.mean(
            (ibi[1:-1] > ibi[:-2]) & (ibi[1:-1] > ibi[2:]) | (ibi[1:-1] < ibi[:-2]) & (ibi[1:-1] < ibi[2:])
        )
    else:
        turning = np.nan
    sd1_sq = rmssd**2 / 2 if np.isfinite(rmssd) else np.nan
    sd2 = float(np.sqrt(max(2 * sd**2 - sd1_sq, 0.0))) if np.isfinite(sd1_sq) else np.nan
    amp = x[peaks]
    return [
        60.0 / float(np.median(ibi)),
        mean,
        sd,
        rmssd,
        sd / mean,
        float(np.mean(np.abs(d) > 0.05)) if len(d) else np.nan,
        float(np.ptp(ibi)),
        float(turning),
        sd2,
        float(len(peaks)),
        float(amp.std() / (np.abs(amp.mean()) + 1e-9)),
    ]


def _spectral_features(x: np.ndarray, fs: float) -> list[float]:
    f, p = sps.periodogram(x, fs, window="hann", nfft=4096)
    band = (f >= 0.5) & (f <= 8.0)
    hr_band = (f >= 0.5) & (f <= 3.5)
    total = p[band].sum()
    if total <= 0:
        return [np.nan, np.nan, np.nan]
    f0 = float(f[hr_band][np.argmax(p[hr_band])])
    near = (np.abs(f - f0) <= 0.15) | (np.abs(f - 2 * f0) <= 0.15)
    pn = p[band] / total
    entropy = float(-(pn * np.log(pn + 1e-20)).sum() / np.log(len(pn)))
    return [60.0 * f0, float(p[band & near].sum() / total), entropy]


def _autocorr_features(x: np.ndarray, fs: float) -> list[float]:
    x = x - x.mean()
    denom = float(np.dot(x, x))
    if denom <= 0:
        return [np.nan, np.nan]
    ac = sps.correlate(x, x, mode="full", method="fft")[len(x) - 1 :] / denom
    lo, hi = int(0.3 * fs), int(2.0 * fs)
    k = lo + int(np.argmax(ac[lo:hi]))
    return [float(ac[k]), k / fs]


def window_features(window: np.ndarray, fs: float = FS) -> np.ndarray:
    """The :data:`FEATURE_NAMES` of one PPG window (float64, NaN where undefined).

    Args:
        window: band-passed PPG, shape (n,), e.g. a store window (1250,) at 125 Hz.
        fs: its rate (Hz).
    """
    x = np.asarray(window, dtype=np.float64)
    zc = np.count_nonzero(np.diff(np.signbit(x))) / (len(x) / fs)
    centred = x - x.mean()
    var = float(np.mean(centred**2))
    skew = float(np.mean(centred**3) / var**1.5) if var > 0 else np.nan
    kurt = float(np.mean(centred**4) / var**2 - 3.0) if var > 0 else np.nan  # excess kurtosis
    shape = [skew, kurt, float(zc), float(np.max(np.abs(x)))]
    return np.array(_beat_features(x, fs) + _spectral_features(x, fs) + _autocorr_features(x, fs) + shape)


def handcrafted_features(windows: np.ndarray, fs: float = FS) -> np.ndarray:
    """Features of a batch of windows: ``(N, n)`` -> ``(N, len(FEATURE_NAMES))`` float64.

    Raises:
        ValueError: ``windows`` is not 2-D.
    """
    windows = np.asarray(windows)
    if windows.ndim != 2:
        raise ValueError(f"windows must have shape (N, samples); got {windows.shape}")
    if len(windows) == 0:
        return np.zeros((0, len(FEATURE_NAMES)))
    return np.stack([window_features(w, fs) for w in windows])
