"""Beat detection: systolic peaks in PPG, R peaks in ECG.

Both return integer sample indices and clean the signal first by default (zero-phase, so peaks are
not shifted); pass ``clean=False`` for a signal that is already band-passed.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import ndimage
from scipy import signal as sps

from anyppg.signal._checks import InvalidParameterError, as_signal, check_rate
from anyppg.signal.filters import ecg_clean, ppg_clean
from anyppg.signal.runs import true_runs

PPGPeakMethod = Literal["elgendi", "prominence"]
ECGPeakMethod = Literal["gradient"]

_MIN_IBI_S = 0.27  # shortest pulse interval considered (s), i.e. 222 bpm
_MIN_RR_S = 0.25  # shortest RR interval considered (s), i.e. 240 bpm


def _enforce_distance(peaks: np.ndarray, values: np.ndarray, distance: int) -> np.ndarray:
    """Of peaks closer than ``distance`` samples, keep the higher one (scipy's rule)."""
    if len(peaks) < 2:
        return peaks
    heights = np.full(values.shape, -np.inf)
    heights[peaks] = values[peaks]
    keep, _ = sps.find_peaks(np.concatenate([[-np.inf], heights, [-np.inf]]), distance=distance)
    return keep - 1


def _uniform(x: np.ndarray, seconds: float, fs: float) -> np.ndarray:
    return ndimage.uniform_filter1d(x, max(1, round(seconds * fs)), mode="nearest")


def ppg_findpeaks(
    signal: np.ndarray,
    sampling_rate: float,
    *,
    method: PPGPeakMethod = "elgendi",
    clean: bool = True,
) -> np.ndarray:
    """Find the systolic peaks of a PPG signal.

    Methods:
        ``"elgendi"``: Elgendi et al. (2013), two moving averages (111 ms, 667 ms) over the squared
        positive part mark blocks of interest; the maximum of each wide enough block is a peak.
        ``"prominence"``: ``scipy.signal.find_peaks`` with a minimum distance of 0.27 s and a
        prominence of half the signal's standard deviation.

    Args:
        signal: PPG, shape (n,); raw if ``clean`` else already band-passed.
        sampling_rate: its rate (Hz), above 16 Hz when ``clean``.
        method: the detector.
        clean: band-pass 0.5-8 Hz (zero-phase) first.

    Returns:
        Sorted int64 sample indices of the peaks (possibly empty).

    Raises:
        InvalidSignalError: wrong dtype/shape, NaN/inf, or fewer than 2 samples.
        UnsupportedRateError: bad rate.
        InvalidParameterError: unknown ``method``.

    Example:
        >>> import anyppg
        >>> sim = anyppg.simulate(20, heart_rate=60, seed=3)
        >>> peaks = ppg_findpeaks(sim.ppg, sim.ppg_rate)
        >>> len(peaks) == len(sim.ppg_peaks), float(np.abs(peaks / sim.ppg_rate - sim.ppg_peaks).max()) < 0.02
        (True, True)
    """
    fs = check_rate(sampling_rate, what="PPG")
    x = ppg_clean(signal, fs) if clean else as_signal(signal, name="PPG signal", min_samples=2, rate=fs)
    distance = max(1, round(_MIN_IBI_S * fs))
    if method == "prominence":
        peaks, _ = sps.find_peaks(x, distance=distance, prominence=0.5 * float(np.std(x)) or None)
        return peaks.astype(np.int64)
    if method != "elgendi":
        raise InvalidParameterError("method", method, "'elgendi' or 'prominence'")
    squared = np.clip(x, 0, None) ** 2
    ma_peak = _uniform(squared, 0.111, fs)
    ma_beat = _uniform(squared, 0.667, fs)
    threshold = ma_beat + 0.02 * float(squared.mean())
    starts, ends = true_runs(ma_peak > threshold)
    min_width = max(1, round(0.111 * fs))
    wide = (ends - starts) >= min_width
    peaks = np.array(
        [s + int(np.argmax(x[s:e])) for s, e in zip(starts[wide], ends[wide], strict=True)], dtype=np.int64
    )
    return _enforce_distance(peaks, x, distance).astype(np.int64)


def drop_minor_peaks(
    signal: np.ndarray,
    peaks: np.ndarray,
    share: float = 0.5,
    *,
    every_other: float = 1 / 3,
    ends: bool = False,
) -> np.ndarray:
    """The peaks without the minor ones, where minor peaks come between the beats as a pattern.

    A minor peak rises less than ``share`` of both its neighbours' heights above the signal's median
    (the first and last peaks are judged by their one neighbour). A slow pulse band-passed at 0.5 Hz,
    or one with a strong dicrotic wave, shows such a hump between every two beats;
    ``ppg_findpeaks`` finds it, and the intervals then read at twice the heart rate, regularly
    enough to pass for the pulse. Those humps are dropped only when at least ``every_other`` of the
    peaks are minor: a weak beat now and then (an ectopic beat, a pulse deficit) is a beat, and is
    kept. With ``ends`` a minor first or last peak is dropped whatever their share: at the edge of a
    window band-passed on its own it is a beat cut off or the filter settling, and the interval it
    makes is not a beat's.

    Args:
        signal: the band-passed PPG the peaks were found on, shape (n,).
        peaks: sorted sample indices of its peaks.
        share: a peak under this share of both neighbours' heights is minor.
        every_other: the share of minor peaks from which they are dropped.
        ends: drop a minor first or last peak in any case.

    Returns:
        The kept peaks (sorted int64 indices).

    Example:
        >>> x = np.zeros(500)
        >>> x[[50, 100, 150, 200, 250, 300]] = [1.0, 0.2, 1.1, 0.25, 0.9, 0.2]
        >>> drop_minor_peaks(x, np.array([50, 100, 150, 200, 250, 300])).tolist()
        [50, 150, 250]
    """
    peaks = np.asarray(peaks, dtype=np.int64)
    if len(peaks) < 2:
        return peaks
    height = np.asarray(signal, dtype=np.float64)[peaks] - float(np.median(signal))
    left = np.concatenate([[np.inf], height[:-1]])
    right = np.concatenate([height[1:], [np.inf]])
    minor = height < share * np.minimum(left, right)
    if minor.mean() < every_other:
        minor[1:-1] = False  # a weak beat now and then is a beat
        if not ends:
            return peaks
    return peaks[~minor]


def ecg_findpeaks(
    signal: np.ndarray,
    sampling_rate: float,
    *,
    method: ECGPeakMethod = "gradient",
    clean: bool = True,
    powerline: Literal[50, 60] | None = 50,
) -> np.ndarray:
    """Find the R peaks of an ECG.

    Method ``"gradient"`` (after NeuroKit2's default detector): the absolute derivative of the QRS
    band (5-30 Hz), smoothed over 100 ms, is compared with 1.5 times its 1.5 s average; each block
    above it that is long enough and not much weaker than the typical block is one QRS complex. The
    R peak is the block's extreme in the cleaned signal, with the polarity of the dominant
    deflection (so inverted leads work). Beats closer than 250 ms keep the larger one.

    Args:
        signal: ECG, shape (n,); raw if ``clean`` else already filtered.
        sampling_rate: its rate (Hz), at least 50 Hz.
        method: the detector.
        clean: apply :func:`ecg_clean` (zero-phase) first.
        powerline: mains frequency for the cleaning notch (Hz), or None.

    Returns:
        Sorted int64 sample indices of the R peaks (possibly empty).

    Raises:
        InvalidSignalError: wrong dtype/shape, NaN/inf, or fewer than 2 samples.
        UnsupportedRateError: rate below 50 Hz.
        InvalidParameterError: unknown ``method``.

    Example:
        >>> import anyppg
        >>> sim = anyppg.simulate(20, heart_rate=60, seed=3)
        >>> r_peaks = ecg_findpeaks(sim.ecg, sim.ecg_rate)
        >>> len(r_peaks) == len(sim.r_peaks), float(np.abs(r_peaks / sim.ecg_rate - sim.r_peaks).max()) < 0.01
        (True, True)
    """
    fs = check_rate(sampling_rate, what="ECG R-peak detection", at_least=50.0)
    if method != "gradient":
        raise InvalidParameterError("method", method, "'gradient'")
    if clean:
        x = ecg_clean(signal, fs, powerline=powerline)
    else:
        x = as_signal(signal, name="ECG signal", min_samples=2, rate=fs)
    qrs_band = sps.butter(2, (5.0, min(30.0, 0.45 * fs)), btype="bandpass", fs=fs, output="sos")
    smooth = _uniform(np.abs(np.gradient(sps.sosfiltfilt(qrs_band, x))), 0.1, fs)
    average = _uniform(smooth, 1.5, fs)
    starts, ends = true_runs(smooth > 1.5 * average)
    if len(starts) == 0:
        return np.empty(0, dtype=np.int64)
    widths = ends - starts
    strength = np.array([smooth[s:e].max() for s, e in zip(starts, ends, strict=True)])
    # Noise crosses the threshold in short, weak blocks: drop those relative to the typical QRS.
    keep = (widths >= max(1, 0.4 * float(widths.mean()))) & (strength >= 0.4 * float(np.median(strength)))
    starts, ends = starts[keep], ends[keep]
    highs = np.array([x[s:e].max() for s, e in zip(starts, ends, strict=True)])
    lows = np.array([x[s:e].min() for s, e in zip(starts, ends, strict=True)])
    polarity = 1.0 if np.median(highs) >= np.median(-lows) else -1.0
    oriented = polarity * x
    peaks = np.array(
        [s + int(np.argmax(oriented[s:e])) for s, e in zip(starts, ends, strict=True)], dtype=np.int64
    )
    return _enforce_distance(peaks, oriented, max(1, round(_MIN_RR_S * fs))).astype(np.int64)
