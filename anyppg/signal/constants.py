"""Rates and window geometry of the AnyPPG model input (the contract between training and streaming)."""

from __future__ import annotations

MODEL_FS: float = 125.0
"""PPG sampling rate of the model input (Hz)."""

ECG_FS: float = 500.0
"""ECG sampling rate of the frozen ECG encoder (Hz)."""

WINDOW_S: float = 10.0
"""Length of one model window (s)."""

WINDOW_SAMPLES: int = 1250
"""Samples in one model window at :data:`MODEL_FS` (``WINDOW_S * MODEL_FS``)."""

DEFAULT_HOP_S: float = 2.0
"""Default step between the starts of consecutive windows (s)."""

DEFAULT_SETTLE_S: float = 2.0
"""Output discarded at the start of a stream while the causal band-pass settles (s)."""

PPG_BAND_HZ: tuple[float, float] = (0.5, 8.0)
"""Pass band of the PPG band-pass filter (Hz), as in AnyPPG."""

ECG_HIGHPASS_HZ: float = 0.5
"""Cut-off of the ECG baseline high-pass filter (Hz), as in AnyPPG / ECGFounder."""

MIN_PPG_RATE: float = 10.0
"""Lowest PPG input rate the streaming preprocessor accepts (Hz)."""

HR_RANGE_BPM: tuple[float, float] = (30.0, 220.0)
"""Heart rates the estimators consider plausible (bpm)."""
