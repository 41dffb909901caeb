"""The one PPG preprocessing pipeline shared by training and streaming.

``PPGPreprocessor`` turns raw PPG chunks at any device rate into model windows:

1. resample to 125 Hz with a :class:`~anyppg.signal.resampling.StreamingResampler` (stateful);
2. band-pass 0.5-8 Hz with the causal :class:`~anyppg.signal.filters.PPGBandpass` (stateful);
3. drop the first ``settle_s`` seconds while the filter settles (see below);
4. emit every completed 10 s window (1250 samples) each ``hop_s`` seconds, z-scored.

``preprocess_recording`` runs the *same object* over a whole recording, so a window the SDK sees
live is, sample for sample, the window the trainer saw.

Several PPG channels (a multi-wavelength or multi-photodiode sensor) come as ``(n, channels)``:
channel 0 is the model's and goes through exactly the single-channel path above; the other channels
are resampled and band-passed alongside it by their own filters, and each window carries all of them
band-passed in :attr:`Window.channels` (for a multi-channel heart-rate tracker).

Start-up transient: the band-pass state starts at the steady state for a constant input equal to
the first sample, which removes the step a DC offset would cause; what remains is the response of
the 0.5 Hz high-pass to the pulse wave itself, which decays within about two seconds. Those first
``settle_s`` (default 2 s) of filtered output are discarded, so window 0 covers 2-12 s of the stream.

Causal filtering delays the pulse wave by the filter's group delay (about 300 ms at 1 Hz, 110 ms at
2 Hz, 80 ms at 3-5 Hz) and so changes its shape a little; training sees the same causal filter, so
the model learns on exactly what it will see live. Window times are not corrected for that delay;
the resampler's own delay is (it is zero-phase, paid as latency instead).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from anyppg.errors import InvalidSignalError
from anyppg.signal._checks import InvalidParameterError, as_acc, as_signal, check_positive, check_rate
from anyppg.signal.constants import (
    DEFAULT_HOP_S,
    DEFAULT_SETTLE_S,
    MIN_PPG_RATE,
    MODEL_FS,
    WINDOW_S,
    WINDOW_SAMPLES,
)
from anyppg.signal.filters import PPGBandpass
from anyppg.signal.resampling import StreamingResampler
from anyppg.signal.windowing import zscore

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Window:
    """One 10 s model window.

    Attributes:
        index: 0 for the first window of the stream, then 1, 2, ...
        start_s: time of its first sample, seconds since the stream's first sample.
        end_s: ``start_s + 10``.
        ppg: (1250,) float32, band-passed and z-scored: the model input.
        filtered: (1250,) float32, band-passed, not z-scored (for heart rate and quality).
        acc: (1250, 3) float32 accelerometer resampled to 125 Hz (input units), or None.
        channels: (channels, 1250) float32, every PPG channel band-passed (row 0 equals
            ``filtered``) when the stream has more than one channel; None for one channel.
        raw: channel 0's samples as they came in, at the input rate (float64): those timed in
            ``[start_s, end_s)``. What only the device's values show reads them: a saturated
            sensor's plateaus (:func:`anyppg.signal.clip_fraction`), which the band-pass smooths away.
    """

    index: int
    start_s: float
    end_s: float
    ppg: np.ndarray
    filtered: np.ndarray
    acc: np.ndarray | None = None
    channels: np.ndarray | None = None
    raw: np.ndarray | None = None

    @property
    def n_channels(self) -> int:
        """PPG channels in the window (1 unless the stream has several)."""
        return 1 if self.channels is None else int(self.channels.shape[0])


def _hop_samples(hop_s: float) -> int:
    hop = round(check_positive("hop_s", hop_s) * MODEL_FS)
    if hop < 1 or abs(hop / MODEL_FS - hop_s) > 1e-9:
        raise InvalidParameterError("hop_s", hop_s, f"a positive multiple of 1/{MODEL_FS:g} s (8 ms)")
    return hop


class PPGPreprocessor:
    """Streaming PPG preprocessing: raw chunks in, completed model windows out.

    Args:
        input_rate: the PPG rate of the device (Hz), at least 10 Hz.
        hop_s: step between window starts (s), a multiple of 8 ms; 2 s gives a window every 2 s.
        settle_s: filtered output dropped at the start (s), see the module docstring.

    Raises:
        UnsupportedRateError: ``input_rate`` below 10 Hz or not a finite number.
        InvalidParameterError: bad ``hop_s`` or ``settle_s``.

    Example:
        >>> import anyppg
        >>> sim = anyppg.simulate(30, ppg_rate=64.0, seed=1)
        >>> pre = PPGPreprocessor(64.0)
        >>> ws = pre.push(sim.ppg[:1000]) + pre.push(sim.ppg[1000:])
        >>> [(w.start_s, w.end_s) for w in ws][:2], ws[0].ppg.shape
        ([(2.0, 12.0), (4.0, 14.0)], (1250,))
    """

    def __init__(
        self, input_rate: float, *, hop_s: float = DEFAULT_HOP_S, settle_s: float = DEFAULT_SETTLE_S
    ) -> None:
        self.input_rate = check_rate(input_rate, what="PPG stream", at_least=MIN_PPG_RATE)
        self.hop_s = float(hop_s)
        self.hop = _hop_samples(hop_s)
        self.settle = round(check_positive("settle_s", settle_s, allow_zero=True) * MODEL_FS)
        self.settle_s = self.settle / MODEL_FS
        self.reset()

    def reset(self) -> None:
        """Forget the stream (after a disconnect, for example); the next chunk starts a new one."""
        self._resampler = StreamingResampler(self.input_rate, MODEL_FS)
        self._acc_resampler = StreamingResampler(self.input_rate, MODEL_FS)
        self._bandpass = PPGBandpass(MODEL_FS)
        self._extra_resampler: StreamingResampler | None = None
        self._extra_bandpass: PPGBandpass | None = None
        self._n_channels: int | None = None
        self._extra = np.empty((0, 0))  # band-passed channels 1.., (n, channels - 1)
        self._has_acc: bool | None = None
        self._filtered = np.empty(0)
        self._raw = np.empty(0)  # channel 0 as it came in
        self._raw_start = 0  # input sample index of _raw[0]
        self._acc = np.empty((0, 3))
        self._buf_start = 0  # 125 Hz sample index of _filtered[0]
        self._n_out = 0  # 125 Hz samples produced so far
        self._next_window = 0
        self.samples_in = 0

    @property
    def latency_s(self) -> float:
        """Resampler latency (s): how long after a 125 Hz sample's time it can be computed."""
        return self._resampler.latency_s

    def push(self, samples: np.ndarray, acc: np.ndarray | None = None) -> list[Window]:
        """Consume a chunk of raw PPG (and accelerometer); return the windows it completes.

        A chunk that fails validation leaves the stream state untouched.

        Args:
            samples: raw PPG at ``input_rate``, shape (n,), or (n, channels) from a sensor with
                several channels (the same number in every chunk; channel 0 feeds the model).
            acc: optional accelerometer (n, 3) at the same rate; given with every chunk or never.

        Returns:
            The windows completed by this chunk, in order (often none).

        Raises:
            InvalidSignalError: wrong dtype/shape, NaN/inf, acc given for some chunks only, or a
                channel count other than the stream's first chunk's.
        """
        x = as_signal(samples, name="PPG chunk", min_samples=0, allow_2d=True)
        a = None if acc is None else as_acc(acc, len(x), name="acc chunk")
        if self._has_acc is not None and self._has_acc != (a is not None):
            have = "with" if self._has_acc else "without"
            raise InvalidSignalError(f"this stream started {have} acc; give acc with every chunk or never")
        channels = 1 if x.ndim == 1 else x.shape[1]
        if self._n_channels is not None and channels != self._n_channels:
            raise InvalidSignalError(
                f"PPG chunk has {channels} channel(s); this stream started with {self._n_channels}"
            )
        if channels == 0:
            raise InvalidSignalError(f"PPG chunk has shape {x.shape}: no channel")
        if len(x) == 0:
            return []
        self._has_acc = a is not None
        self._n_channels = channels
        self.samples_in += len(x)

        x0 = x if x.ndim == 1 else np.ascontiguousarray(x[:, 0])
        filtered = self._bandpass._process_valid(self._resampler._process_valid(x0))
        self._filtered = np.concatenate([self._filtered, filtered])
        self._raw = np.concatenate([self._raw, x0])
        if channels > 1:
            self._push_extra(x[:, 1:])
        if a is not None:
            self._acc = np.concatenate([self._acc, self._acc_resampler._process_valid(a)])
        self._n_out += len(filtered)

        out = []
        while True:
            start = self.settle + self._next_window * self.hop
            if start + WINDOW_SAMPLES > self._n_out:
                break
            lo = start - self._buf_start
            seg = self._filtered[lo : lo + WINDOW_SAMPLES]
            out.append(
                Window(
                    index=self._next_window,
                    start_s=start / MODEL_FS,
                    end_s=start / MODEL_FS + WINDOW_S,
                    ppg=zscore(seg).astype(np.float32),
                    filtered=seg.astype(np.float32),
                    acc=self._acc[lo : lo + WINDOW_SAMPLES].astype(np.float32) if a is not None else None,
                    channels=self._channels_at(lo, seg),
                    raw=self._raw_between(start, start + WINDOW_SAMPLES),
                )
            )
            self._next_window += 1
        # Drop samples no future window needs.
        keep_from = self.settle + self._next_window * self.hop
        drop = min(max(0, keep_from - self._buf_start), len(self._filtered))
        if drop:
            self._filtered = self._filtered[drop:]
            if self._has_acc:
                self._acc = self._acc[drop:]
            if self._n_channels and self._n_channels > 1:
                self._extra = self._extra[drop:]
            self._buf_start += drop
        raw_drop = min(max(0, self._input_index(keep_from) - self._raw_start), len(self._raw))
        if raw_drop:
            self._raw = self._raw[raw_drop:]
            self._raw_start += raw_drop
        return out

    def _input_index(self, k: int) -> int:
        """The first input sample timed at or after 125 Hz sample ``k`` (both count from 0 at the
        stream's first sample; the resampler is zero-phase, so times line up exactly)."""
        return math.ceil(k * self.input_rate / MODEL_FS - 1e-9)

    def _raw_between(self, a: int, b: int) -> np.ndarray:
        """Channel 0's input samples timed in 125 Hz samples ``[a, b)``, a copy."""
        lo, hi = self._input_index(a) - self._raw_start, self._input_index(b) - self._raw_start
        return self._raw[lo:hi].copy()

    def _push_extra(self, x: np.ndarray) -> None:
        """Resample and band-pass channels 1.. alongside channel 0 (same rates, their own state)."""
        if self._extra_resampler is None:
            self._extra_resampler = StreamingResampler(self.input_rate, MODEL_FS)
            self._extra_bandpass = PPGBandpass(MODEL_FS)
            self._extra = np.empty((0, x.shape[1]))
        assert self._extra_bandpass is not None
        out = self._extra_bandpass._process_valid(self._extra_resampler._process_valid(x))
        self._extra = np.concatenate([self._extra, out])

    def _channels_at(self, lo: int, channel0: np.ndarray) -> np.ndarray | None:
        """``(channels, 1250)`` float32 of all channels of the window starting at buffer index ``lo``."""
        if not self._n_channels or self._n_channels == 1:
            return None
        extra = self._extra[lo : lo + WINDOW_SAMPLES].T
        return np.concatenate([channel0[None, :], extra]).astype(np.float32)


def preprocess_recording(
    ppg: np.ndarray,
    fs: float,
    *,
    acc: np.ndarray | None = None,
    hop_s: float = DEFAULT_HOP_S,
    settle_s: float = DEFAULT_SETTLE_S,
) -> list[Window]:
    """Preprocess a whole recording into model windows, exactly as a live stream would be.

    Runs one :class:`PPGPreprocessor` over the recording, so training and streaming share the
    implementation (and the output equals pushing the same samples in any chunk sizes).

    Args:
        ppg: raw PPG, shape (n,) or (n, channels), at ``fs`` (see :meth:`PPGPreprocessor.push`).
        fs: its rate (Hz), at least 10 Hz.
        acc: optional accelerometer (n, 3) at ``fs``.
        hop_s: step between window starts (s).
        settle_s: filter settling time dropped at the start (s).

    Returns:
        The windows, in order.

    Raises:
        InvalidSignalError: wrong dtype/shape, NaN/inf, or too short for one window.
        UnsupportedRateError / InvalidParameterError: as :class:`PPGPreprocessor`.

    Example:
        >>> import anyppg
        >>> sim = anyppg.simulate(60, ppg_rate=100.0, seed=2)
        >>> windows = preprocess_recording(sim.ppg, sim.ppg_rate)
        >>> len(windows), windows[0].start_s, windows[-1].end_s  # the last 0.1 s awaits resampling
        (24, 2.0, 58.0)
    """
    pre = PPGPreprocessor(fs, hop_s=hop_s, settle_s=settle_s)
    x = as_signal(ppg, name="PPG recording", min_samples=1, allow_2d=True)
    result = pre.push(x, acc)
    if not result:
        need = pre.settle_s + WINDOW_S + pre.latency_s
        raise InvalidSignalError(
            f"PPG recording is too short: {len(x) / pre.input_rate:.3g} s at {pre.input_rate:g} Hz; "
            f"one window needs about {need:.3g} s ({pre.settle_s:g} s settling + {WINDOW_S:g} s)"
        )
    return result


def preprocess_recording_array(
    ppg: np.ndarray,
    fs: float,
    *,
    hop_s: float = DEFAULT_HOP_S,
    settle_s: float = DEFAULT_SETTLE_S,
) -> tuple[np.ndarray, np.ndarray]:
    """Batched :func:`preprocess_recording`: model inputs and window start times.

    Returns:
        ``(windows, start_s)``: float32 (N, 1250) z-scored windows and float64 (N,) start times (s).

    Raises:
        as :func:`preprocess_recording`.
    """
    ws = preprocess_recording(ppg, fs, hop_s=hop_s, settle_s=settle_s)
    return np.stack([w.ppg for w in ws]), np.array([w.start_s for w in ws])
