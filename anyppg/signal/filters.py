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

try:  # scipy's compiled kernel behind sosfilt: the same arithmetic without ~25 µs of argument handling
    from scipy.signal._sosfilt import _sosfilt as _SOSFILT_KERNEL
except ImportError:  # pragma: no cover - a scipy that moved it: the public function is used instead
    _SOSFILT_KERNEL = None

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


def _sosfilt(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)`` -> ``(y, zf)``, bit-identical.

    For float64 input it calls the compiled kernel scipy's function ends in, with the same copies
    and memory layout; the streaming filter calls this for every block of every stream, where the
    public function's argument handling cost ten times the filtering.
    """
    if _SOSFILT_KERNEL is None or x.dtype != np.float64 or zi.dtype != np.float64 or sos.dtype != np.float64:
        return sps.sosfilt(sos, x, axis=0, zi=zi)
    n_sections = len(sos)
    if x.ndim == 1:
        y = np.array(x[None, :], dtype=np.float64, order="C")
        z = np.array(zi.reshape(1, n_sections, 2), dtype=np.float64, order="C")
        _SOSFILT_KERNEL(sos, y, z)
        return y[0], z[0]
    channels = x.shape[1:]
    y = np.array(np.moveaxis(x, 0, -1).reshape(-1, x.shape[0]), dtype=np.float64, order="C")
    z = np.array(np.moveaxis(zi, (0, 1), (-2, -1)).reshape(-1, n_sections, 2), dtype=np.float64, order="C")
    _SOSFILT_KERNEL(sos, y, z)
    y_out = np.moveaxis(y.reshape(*channels, x.shape[0]), -1, 0)
    z_out = np.moveaxis(z.reshape(*channels, n_sections, 2), (-2, -1), (0, 1))
    return y_out, z_out


_ZI_CACHE: dict[bytes, np.ndarray] = {}
_ZI_CACHE_MAX = 64


def _unit_zi(sos: np.ndarray) -> np.ndarray:
    """``scipy.signal.sosfilt_zi(sos)``, computed once per filter (it solves a linear system per
    section, which cost more than the filtering itself on 10 s windows). Read-only, (n_sections, 2)."""
    key = sos.tobytes() + bytes(str(sos.shape), "ascii")
    zi = _ZI_CACHE.get(key)
    if zi is None:
        if len(_ZI_CACHE) >= _ZI_CACHE_MAX:
            _ZI_CACHE.clear()
        zi = sps.sosfilt_zi(sos)
        zi.flags.writeable = False
        _ZI_CACHE[key] = zi
    return zi


def sosfiltfilt(sos: np.ndarray, x: np.ndarray, *, padlen: int | None = None) -> np.ndarray:
    """Zero-phase filtering along axis 0: exactly ``scipy.signal.sosfiltfilt(sos, x, axis=0, padlen=padlen)``.

    The same operations in the same order (odd extension, forward pass from the steady state scaled
    by the first sample, backward pass), so the output is bit-identical to scipy's; only the initial
    conditions (``sosfilt_zi``) are cached per filter instead of recomputed on every call.

    Args:
        sos: second-order sections, float64 (n_sections, 6).
        x: finite float64 signal, shape (n,) or (n, channels).
        padlen: samples of odd extension at each end; None: scipy's default ``3 * ntaps``.

    Returns:
        The filtered signal, float64, same shape as ``x``.

    Raises:
        ValueError: ``x`` is not longer than the padding (as scipy).
    """
    n_sections = len(sos)
    ntaps = 2 * n_sections + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    edge = 3 * ntaps if padlen is None else padlen
    if x.shape[0] <= edge:
        raise ValueError(f"The length of the input vector x must be greater than padlen, which is {edge}.")
    if edge > 0:
        left = 2 * x[0:1] - x[edge:0:-1]
        right = 2 * x[-1:] - x[-2 : -(edge + 2) : -1]
        ext = np.concatenate((left, x, right), axis=0)
    else:
        ext = x
    zi = _unit_zi(sos).reshape((n_sections, 2) + (1,) * (x.ndim - 1))
    y, _ = _sosfilt(sos, ext, zi * ext[0:1])
    y, _ = _sosfilt(sos, y[::-1], zi * y[-1:])
    y = y[::-1]
    return y[edge:-edge] if edge > 0 else y


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
        self._zi_unit = _unit_zi(self.sos)  # (n_sections, 2)
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
        y, self._zi = _sosfilt(self.sos, x, self._zi)
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
        return sosfiltfilt(sos, x, padlen=padlen)
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


PHASE_PAD_S = 2.0
"""Odd extension past the end of a window before :func:`ppg_phase_corrected` filters it backward (s)."""


def ppg_phase_corrected(filtered: np.ndarray, sampling_rate: float) -> np.ndarray:
    """A stream's causally band-passed PPG with the band-pass's phase undone: zero-phase overall.

    The causal 0.5-8 Hz band-pass (:class:`PPGBandpass`) delays a pulse's slow harmonics more than
    its fast ones. Above ~60 bpm that only tilts each beat; for a slow pulse, whose fundamental lies
    near the 0.5 Hz edge, it turns the long diastole into a second hump that a peak detector takes
    for a beat (a 45 bpm pulse reads as 90). Running the same band-pass backward over the window
    cancels the phase: the two passes together are the zero-phase filter ``sosfiltfilt`` applies
    (magnitude squared), as :func:`ppg_clean` reads a raw recording. The window's end is extended by
    odd reflection (:data:`PHASE_PAD_S`) so the backward pass starts settled.

    Args:
        filtered: the causal band-pass's output for one window (``Window.filtered``), shape (n,).
        sampling_rate: its rate (Hz), above 16 Hz.

    Returns:
        float64, shape (n,).

    Raises:
        InvalidSignalError: wrong dtype/shape, NaN/inf, or fewer than 3 samples.
        UnsupportedRateError: the rate is not above 16 Hz.

    Example:
        >>> import anyppg
        >>> from anyppg.signal import ppg_findpeaks
        >>> sim = anyppg.simulate(30, heart_rate=45, seed=1)
        >>> causal = ppg_clean(sim.ppg, sim.ppg_rate, method="causal")[-1250:]  # a stream's last 10 s
        >>> def bpm(x):  # from the median interval between detected peaks
        ...     return round(60 * 125.0 / float(np.median(np.diff(ppg_findpeaks(x, 125.0, clean=False)))))
        >>> bpm(causal), bpm(ppg_phase_corrected(causal, 125.0))
        (74, 47)
    """
    sos = ppg_bandpass_sos(check_rate(sampling_rate, what="PPG"))
    y = as_signal(filtered, name="band-passed PPG window", min_samples=3, rate=sampling_rate)
    pad = min(round(PHASE_PAD_S * sampling_rate), len(y) - 2)
    tail = 2.0 * y[-1] - y[-2 : -pad - 2 : -1]  # odd reflection about the last sample
    backward = np.concatenate([y, tail])[::-1]
    z, _ = _sosfilt(sos, backward, _unit_zi(sos) * backward[0])
    return z[::-1][: len(y)]


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
