"""A PPG segment whose derived signals are computed once and shared by quality, heart rate and tracking.

A streaming pipeline asks three questions of every 10 s window: its quality (:func:`ppg_quality`), its
heart rate from beat intervals (:func:`heart_rate`) and the tracked heart rate
(:class:`HeartRateTracker`). Asked separately, each band-passes the window again, finds its peaks again
and band-passes the accelerometer again. Given one :class:`PPGSegment` instead of an array, they take
those from the segment, where each is computed the first time it is needed; the results are the same
numbers, bit for bit, because the same functions compute them.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from anyppg.signal._checks import as_acc, as_signal, check_rate
from anyppg.signal.constants import PPG_BAND_HZ
from anyppg.signal.filters import ppg_bandpass_sos, ppg_clean, ppg_phase_corrected, sosfiltfilt
from anyppg.signal.peaks import drop_minor_peaks, ppg_findpeaks

__all__ = ["PPGSegment"]


class PPGSegment:
    """One PPG segment (a 10 s window, typically), with lazily computed, cached derived signals.

    Args:
        signal: PPG, shape (n, ), finite; raw, or band-passed (``Window.filtered`` of the preprocessor).
        sampling_rate: its rate (Hz), above 16 Hz.
        acc: optional accelerometer (g), shape (n, 3), same rate.

    Raises:
        InvalidSignalError: wrong dtype/shape, NaN/inf, fewer than 2 samples, acc of another length.
        UnsupportedRateError: rate not above 16 Hz.

    Example:
        >>> import anyppg
        >>> from anyppg.signal import heart_rate, ppg_quality
        >>> sim = anyppg.simulate(10, heart_rate=70, seed=1)
        >>> seg = PPGSegment(sim.ppg, sim.ppg_rate, acc=sim.acc)
        >>> ppg_quality(seg, sim.ppg_rate) == ppg_quality(sim.ppg, sim.ppg_rate, acc=sim.acc)
        True
        >>> heart_rate(seg, sim.ppg_rate, method="peaks") == heart_rate(sim.ppg, sim.ppg_rate, method="peaks")
        True
    """

    def __init__(self, signal: np.ndarray, sampling_rate: float, *, acc: np.ndarray | None = None) -> None:
        fs = check_rate(sampling_rate, what="PPG segment", minimum=2 * PPG_BAND_HZ[1])
        self.signal: np.ndarray = as_signal(signal, name="PPG segment", min_samples=2, rate=fs)
        """The samples, float64 (n,)."""
        self.sampling_rate: float = fs
        """Their rate, Hz."""
        self.acc: np.ndarray | None = None if acc is None else as_acc(acc, len(self.signal))
        """The accelerometer, float64 (n, 3), or None."""

    def __len__(self) -> int:
        return len(self.signal)

    @cached_property
    def cleaned(self) -> np.ndarray:
        """``ppg_clean(signal)``: band-passed 0.5-8 Hz, zero-phase (float64 (n,))."""
        return ppg_clean(self.signal, self.sampling_rate)

    @cached_property
    def cleaned_peaks(self) -> np.ndarray:
        """Systolic peaks of :attr:`cleaned` (``ppg_findpeaks(cleaned, clean=False)``), int64 indices."""
        return ppg_findpeaks(self.cleaned, self.sampling_rate, clean=False)

    @cached_property
    def beat_peaks(self) -> np.ndarray:
        """:attr:`cleaned_peaks` without the small humps between the beats of a slow pulse
        (:func:`anyppg.signal.peaks.drop_minor_peaks`, where a third of the peaks are such humps)
        and without a weak first or last peak (the window's edge): the beats the window's beat rate
        and regularity are read from. int64 indices."""
        return drop_minor_peaks(self.cleaned, self.cleaned_peaks, ends=True)

    @cached_property
    def cleaned_beats(self) -> tuple[float, float]:
        """``(regularity, rate)`` of :attr:`cleaned`'s beats
        (:func:`anyppg.signal.heart_rate.beat_regularity` on :attr:`beat_peaks`): the share of
        intervals near their median, and 60 / the mean interval where the beats are regular."""
        from anyppg.signal.heart_rate import beat_regularity

        return beat_regularity(self.cleaned, self.sampling_rate, peaks=self.beat_peaks)

    @cached_property
    def peaks(self) -> np.ndarray:
        """Systolic peaks of :attr:`signal` as given (``ppg_findpeaks(signal, clean=False)``): what the
        tracker uses on an already band-passed window. int64 indices."""
        return ppg_findpeaks(self.signal, self.sampling_rate, clean=False)

    @cached_property
    def acc_bandpassed(self) -> np.ndarray | None:
        """The accelerometer band-passed 0.5-8 Hz, zero-phase, per axis (gravity removed); None without
        acc. float64 (n, 3)."""
        if self.acc is None:
            return None
        return sosfiltfilt(ppg_bandpass_sos(self.sampling_rate), self.acc)

    def without_acc(self) -> PPGSegment:
        """The same segment without the accelerometer, sharing what was already computed from the PPG
        (for a tracker that gets the accelerometer only in some windows)."""
        twin = object.__new__(PPGSegment)
        twin.__dict__.update(self.__dict__)
        twin.acc = None
        twin.__dict__.pop("acc_bandpassed", None)
        return twin

    def phase_corrected(self) -> PPGSegment:
        """The same segment with :attr:`cleaned` read by :func:`ppg_phase_corrected` instead of
        :func:`ppg_clean`: for a stream's causally band-passed window (``Window.filtered``), the
        pulse's own shape (a slow pulse's beats are not split in two). The accelerometer is shared."""
        twin = object.__new__(PPGSegment)
        twin.__dict__.update(
            {
                k: v
                for k, v in self.__dict__.items()
                if k in ("signal", "sampling_rate", "acc", "acc_bandpassed")
            }
        )
        twin.__dict__["cleaned"] = ppg_phase_corrected(self.signal, self.sampling_rate)
        return twin

    def check_rate(self, sampling_rate: float) -> None:
        """Raise InvalidParameterError unless ``sampling_rate`` is the segment's rate (Hz)."""
        from anyppg.signal._checks import InvalidParameterError

        if float(sampling_rate) != self.sampling_rate:
            raise InvalidParameterError(
                "sampling_rate", sampling_rate, f"the segment's own rate, {self.sampling_rate:g} Hz"
            )
