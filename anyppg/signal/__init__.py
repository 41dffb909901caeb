"""Signal core: the preprocessing shared by training and streaming, beats, heart rate, quality.

numpy/scipy only. Names follow ``<signal>_<verb>``; algorithms are picked by a typed ``method=``.

- filters: :func:`ppg_clean` (0.5-8 Hz band-pass), :func:`ecg_clean` (0.5 Hz high-pass + notch),
  streaming :class:`PPGBandpass` / :class:`SOSFilter`;
- rates: :func:`resample` (any rate, or irregular timestamps), streaming :class:`StreamingResampler`;
- windows: :func:`zscore`, :func:`windows`, and the model pipeline :class:`PPGPreprocessor` /
  :func:`preprocess_recording` producing :class:`Window` objects;
- beats and rate: :func:`ppg_findpeaks`, :func:`ecg_findpeaks`, :func:`heart_rate`,
  :class:`HeartRateTracker`;
- quality: :func:`ppg_quality` -> :class:`Quality`; :func:`clip_fraction` of a raw window (saturation);
- :class:`PPGSegment`: one window whose band-passed signal, peaks and band-passed accelerometer
  are computed once and shared by quality, heart rate and tracking (streaming).

Example:
    >>> import anyppg
    >>> from anyppg.signal import heart_rate, preprocess_recording
    >>> sim = anyppg.simulate(60, heart_rate=75, ppg_rate=64.0, seed=0)
    >>> windows = preprocess_recording(sim.ppg, sim.ppg_rate)
    >>> windows[0].ppg.shape, abs(heart_rate(sim.ppg, 64.0) - sim.heart_rate) < 2
    ((1250,), True)
"""

from __future__ import annotations

from anyppg.signal._checks import InvalidParameterError
from anyppg.signal.constants import (
    DEFAULT_HOP_S,
    DEFAULT_SETTLE_S,
    ECG_FS,
    HR_RANGE_BPM,
    MIN_PPG_RATE,
    MODEL_FS,
    PPG_BAND_HZ,
    WINDOW_S,
    WINDOW_SAMPLES,
)
from anyppg.signal.filters import PPGBandpass, SOSFilter, ecg_clean, ecg_sos, ppg_bandpass_sos, ppg_clean
from anyppg.signal.heart_rate import HeartRateTracker, heart_rate, motion_gain
from anyppg.signal.peaks import ecg_findpeaks, ppg_findpeaks
from anyppg.signal.preprocess import PPGPreprocessor, Window, preprocess_recording, preprocess_recording_array
from anyppg.signal.quality import Quality, clip_fraction, ppg_quality
from anyppg.signal.resampling import StreamingResampler, rational_ratio, resample
from anyppg.signal.segment import PPGSegment
from anyppg.signal.windowing import windows, zscore

__all__ = [
    "DEFAULT_HOP_S",
    "DEFAULT_SETTLE_S",
    "ECG_FS",
    "HR_RANGE_BPM",
    "MIN_PPG_RATE",
    "MODEL_FS",
    "PPG_BAND_HZ",
    "WINDOW_S",
    "WINDOW_SAMPLES",
    "HeartRateTracker",
    "InvalidParameterError",
    "PPGBandpass",
    "PPGPreprocessor",
    "PPGSegment",
    "Quality",
    "SOSFilter",
    "StreamingResampler",
    "Window",
    "clip_fraction",
    "ecg_clean",
    "ecg_findpeaks",
    "ecg_sos",
    "heart_rate",
    "motion_gain",
    "ppg_bandpass_sos",
    "ppg_clean",
    "ppg_findpeaks",
    "ppg_quality",
    "preprocess_recording",
    "preprocess_recording_array",
    "rational_ratio",
    "resample",
    "windows",
    "zscore",
]
