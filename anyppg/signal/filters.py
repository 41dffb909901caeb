"""Band-pass for PPG, high-pass + notch for ECG: offline (zero-phase) and streaming (causal, stateful).

The PPG filter is AnyPPG's 0.5-8 Hz band-pass, a 4th-order Butterworth design (8th order in total)
in second-order sections. The streaming form keeps the filter state between chunks, so filtering a
stream chunk by chunk gives exactly the samples that filtering it in one call gives.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
from scipy import signal as sps

from anyppg.signal._checks import InvalidParameterError, as_signal, check_rate
from anyppg.signal.constants import ECG_HIGHPASS_HZ, PPG_BAND_HZ

FilterMethod = Literal["zero-phase", "causal"]

_PPG_ORDER = 4
_ECG_ORDER = 4
_NOTCH_Q = 30.0


def ppg_bandpass_sos(sampling_rate: float) -> np.ndarray:
    """Second-order sections of the 0.5-8 Hz PPG band-pass at ``sampling_rate`` (Hz).

    Raises:
        UnsupportedRateError: the rate is not above 16 Hz (the upper band edge needs Nyquist > 8 Hz).
    """
    fs = check_rate(sampling_rate, what="the 0.5-8 Hz PPG band-pass", minimum=2 * PPG_BAND_HZ[1])
    return _butter(_PPG_ORDER, PPG_BAND_HZ, "bandpass", fs).copy()


@functools.lru_cache(maxsize=64)
def _butter(order: int, edges: float | tuple[float, float], btype: str, fs: float) -> np.ndarray:
    return sps.butter(order, edges, btype=btype, fs=fs, output="sos")


def ecg_sos(sampling_rate: float, powerline: int | None = 50) -> np.ndarray:
    """Second-order sections of the ECG filter: 0.5 Hz high-pass, then a ``powerline`` Hz notch.

    The notch is left out when ``powerline`` is None or not below the Nyquist frequency.

    Raises:
        UnsupportedRateError: the rate is not above 1 Hz.
        InvalidParameterError: ``powerline`` is not 50, 60 or None.
    """
    fs = check_rate(sampling_rate, what="the ECG filter", minimum=2 * ECG_HIGHPASS_HZ)
    if powerline not in (50, 60, None):
        raise InvalidParameterError("powerline", powerline, "50 or 60 (Hz), or None for no notch")
    sections = [_butter(_ECG_ORDER, ECG_HIGHPASS_HZ, "highpass", fs)]
    if powerline is not None and powerline < fs / 2:
        b, a = sps.iirnotch(powerline, _NOTCH_Q, fs=fs)
        sections.append(sps.tf2sos(b, a))
    return np.concatenate(sections)


class SOSFilter:
    """A causal IIR filter (second-order sections) that keeps its state across chunks.

    The state starts as the steady state for a constant input equal to the first sample
    (``sosfilt_zi`` scaled by it), so a signal with a large DC offset does not start with a step
    response. Filtering chunk by chunk returns exactly what one call on the whole signal returns.

    Args:
        sos: second-order sections, shape (n_sections, 6).
    """

    def __init__(self, sos: np.ndarray) -> None:
        self.sos = np.asarray(sos, dtype=np.float64)
        self._zi_unit = sps.sosfilt_zi(self.sos)  # (n_sections, 2)
        self._zi: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the state; the next sample starts a new stream."""
        self._zi = None

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Filter the next chunk of a stream.

        Args:
            chunk: finite samples, shape (n,) or (n, channels); channels are filtered independently.

        Returns:
            The filtered chunk, float64, same shape.

        Raises:
            InvalidSignalError: wrong dtype or shape, or NaN/inf.
        """
        return self._process_valid(as_signal(chunk, name="chunk", min_samples=0, allow_2d=True))

    def _process_valid(self, x: np.ndarray) -> np.ndarray:
        """:meth:`process` for a chunk already validated (finite float64), as the preprocessor has."""
        if len(x) == 0:
            return x.copy()
        if self._zi is None:
            first = x[0]
            self._zi = self._zi_unit.reshape(self._zi_unit.shape + (1,) * (x.ndim - 1)) * first
        elif self._zi.ndim != x.ndim + 1 or self._zi.shape[2:] != x.shape[1:]:
            raise InvalidParameterError(
                "chunk shape", x.shape, f"(n, {', '.join(map(str, self._zi.shape[2:]))}) as in earlier chunks"
            )
        y, self._zi = sps.sosfilt(self.sos, x, axis=0, zi=self._zi)
        return y


class PPGBandpass(SOSFilter):
    """The streaming 0.5-8 Hz PPG band-pass at ``sampling_rate`` (Hz); see :class:`SOSFilter`.

    Raises:
        UnsupportedRateError: the rate is not above 16 Hz.
    """

    def __init__(self, sampling_rate: float = 125.0) -> None:
        super().__init__(ppg_bandpass_sos(float(check_rate(sampling_rate, what="PPG band-pass"))))
        self.sampling_rate = float(sampling_rate)


def _apply(sos: np.ndarray, x: np.ndarray, method: FilterMethod) -> np.ndarray:
    if method == "zero-phase":
        # sosfiltfilt pads by reflection; short signals get the longest padding they allow.
        padlen = min(3 * (2 * len(sos) + 1), len(x) - 1)
        return sps.sosfiltfilt(sos, x, axis=0, padlen=padlen)
    if method == "causal":
        return SOSFilter(sos).process(x)
    raise InvalidParameterError("method", method, "'zero-phase' or 'causal'")


def ppg_clean(signal: np.ndarray, sampling_rate: float, *, method: FilterMethod = "zero-phase") -> np.ndarray:
    """Band-pass a PPG signal to 0.5-8 Hz (AnyPPG's preprocessing).

    Args:
        signal: raw PPG, shape (n,), any unit.
        sampling_rate: its rate (Hz), above 16 Hz.
        method: ``"zero-phase"`` (forward-backward, no delay; offline) or ``"causal"`` (exactly the
            output of the streaming :class:`PPGBandpass` fed the same samples).

    Returns:
        The filtered signal, float64, shape (n,).

    Raises:
        InvalidSignalError: wrong dtype/shape, NaN/inf, or fewer than 2 samples.
        UnsupportedRateError: the rate is not above 16 Hz.
        InvalidParameterError: unknown ``method``.

    Example:
        >>> import anyppg
        >>> from anyppg.signal import ppg_clean
        >>> sim = anyppg.simulate(30, heart_rate=72, seed=1)
        >>> ppg_clean(sim.ppg, sim.ppg_rate).shape == sim.ppg.shape
        True
    """
    sos = ppg_bandpass_sos(check_rate(sampling_rate, what="PPG"))
    x = as_signal(signal, name="PPG signal", min_samples=2, rate=sampling_rate)
    return _apply(sos, x, method)


def ecg_clean(
    signal: np.ndarray,
    sampling_rate: float,
    *,
    powerline: Literal[50, 60] | None = 50,
    method: FilterMethod = "zero-phase",
) -> np.ndarray:
    """Remove baseline wander (0.5 Hz high-pass) and mains hum (``powerline`` Hz notch) from an ECG.

    Args:
        signal: raw ECG, shape (n,), any unit (mV usually).
        sampling_rate: its rate (Hz), above 1 Hz; the notch is applied when below Nyquist.
        powerline: mains frequency (Hz) to notch out, or None.
        method: ``"zero-phase"`` (offline) or ``"causal"`` (same as a streaming :class:`SOSFilter`).

    Returns:
        The filtered ECG, float64, shape (n,).

    Raises:
        InvalidSignalError: wrong dtype/shape, NaN/inf, or fewer than 2 samples.
        UnsupportedRateError: the rate is not above 1 Hz.
        InvalidParameterError: unknown ``method`` or ``powerline``.

    Example:
        >>> import anyppg
        >>> from anyppg.signal import ecg_clean
        >>> sim = anyppg.simulate(10, seed=1)
        >>> ecg_clean(sim.ecg, sim.ecg_rate, powerline=50).shape == sim.ecg.shape
        True
    """
    sos = ecg_sos(check_rate(sampling_rate, what="ECG"), powerline)
    x = as_signal(signal, name="ECG signal", min_samples=2, rate=sampling_rate)
    return _apply(sos, x, method)
