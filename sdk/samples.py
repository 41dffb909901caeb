"""The unit every transport yields: a block of consecutive PPG samples with device timestamps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SampleBlock", "acc_at", "acc_span_mismatch"]


@dataclass(frozen=True, eq=False)
class SampleBlock:
    """Consecutive samples from one device, evenly spaced at ``rate``.

    Attributes:
        t0: device time of the first sample, seconds (the device's own clock, any origin).
        rate: sampling rate, Hz.
        ppg: PPG samples, float64 ``(n,)``, or ``(n, channels)`` from a sensor with several PPG
            channels (samples along axis 0, like ``acc``; channel 0 feeds the model). Accounting
            counts time points: ``len(block)`` is ``n`` whatever the channel count.
        acc: accelerometer on the same time base, float64 ``(n, 3)`` in g (raw units when
            ``acc_in_g`` is False), or None.
        seq: the transport's frame sequence number, when it has one (duplicate detection).
        arrival: ``time.perf_counter()`` when the block reached the SDK (latency measurement).
        issues: problems the transport met and handled in the frame this block came from (e.g.
            ``unknown_acc_unit``: the accelerometer was left out); the timeline counts them in
            ``Accounting.issues``. A frame that carries no usable PPG at all becomes an empty block
            with its issue, so it is counted without entering the time line.
        acc_in_g: False when ``acc`` is in raw units of unknown scale (a device that does not say
            its accelerometer's unit): :class:`anyppg.sdk.pipeline.Pipeline` brings it to g by
            gravity calibration (:class:`anyppg.signal.gravity.GravityCalibrator`) before anything
            else sees it.
    """

    t0: float
    rate: float
    ppg: np.ndarray
    acc: np.ndarray | None = None
    seq: int | None = None
    arrival: float = 0.0
    issues: tuple[str, ...] = ()
    acc_in_g: bool = True

    def __len__(self) -> int:
        return int(self.ppg.shape[0])

    @property
    def channels(self) -> int:
        """PPG channels in the block (1 for ``(n,)`` samples)."""
        return 1 if self.ppg.ndim == 1 else int(self.ppg.shape[1])

    @property
    def ppg0(self) -> np.ndarray:
        """Channel 0 of the PPG (the model's), ``(n,)``."""
        return self.ppg if self.ppg.ndim == 1 else self.ppg[:, 0]

    @property
    def duration(self) -> float:
        """Seconds covered by the block (``n / rate``)."""
        return len(self) / self.rate

    @property
    def t_end(self) -> float:
        """Device time just after the last sample (the expected ``t0`` of the next block), s."""
        return self.t0 + self.duration

    def times(self) -> np.ndarray:
        """Per-sample device timestamps, s."""
        return self.t0 + np.arange(len(self)) / self.rate


def acc_at(times: np.ndarray, acc_times: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """An accelerometer sampled on its own clock, read at the PPG's sample ``times``: ``(n, 3)``.

    Linear interpolation per axis between the accelerometer samples at ``acc_times`` (``(m, 3)``
    values, same clock as ``times``); before its first and after its last sample it holds that value.
    Motion is slow beside any accelerometer rate a wearable uses (12.5 Hz and up), so the straight
    line between two samples is what a faster accelerometer would have read, to well within its noise.
    """
    return np.column_stack([np.interp(times, acc_times, acc[:, k]) for k in range(acc.shape[1])])


def acc_span_mismatch(acc_samples: int, acc_rate: float, ppg_seconds: float, ppg_rate: float) -> str | None:
    """Why ``acc_samples`` at ``acc_rate`` do not cover the same time as ``ppg_seconds`` of PPG (both
    starting together), or None when they do: within two samples of the slower of the two rates."""
    acc_seconds = acc_samples / acc_rate
    if abs(acc_seconds - ppg_seconds) <= 2.0 / min(acc_rate, ppg_rate):
        return None
    return (
        f"{acc_samples} accelerometer samples at {acc_rate:g} Hz cover {acc_seconds:.2f} s, the PPG "
        f"{ppg_seconds:.2f} s at {ppg_rate:g} Hz: they must start together and cover the same time"
    )
