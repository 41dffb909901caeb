"""Resampling between arbitrary rates: offline (``resample``) and streaming (``StreamingResampler``).

Both use the same polyphase anti-aliasing low-pass (a Kaiser-windowed sinc designed as
``scipy.signal.resample_poly`` designs it, with every polyphase branch at unit DC gain) and the
same edge handling (the signal is extended with
its first and last sample), so a stream resampled chunk by chunk and flushed equals the offline
result to floating-point rounding. Irregularly sampled signals are first interpolated (cubic
spline) onto a regular grid at their nominal rate.
"""

from __future__ import annotations

import functools
import logging
import math
from fractions import Fraction

import numpy as np
from scipy import interpolate
from scipy import signal as sps

from anyppg.errors import UnsupportedRateError
from anyppg.signal._checks import InvalidParameterError, as_signal, as_timestamps, check_rate

log = logging.getLogger(__name__)

MAX_FACTOR = 10_000
"""Largest up/down factor used; rate ratios needing more are approximated (relative error < 1e-6)."""


def rational_ratio(from_rate: float, to_rate: float) -> tuple[int, int]:
    """Return ``(up, down)``, coprime, with ``to_rate / from_rate == up / down``.

    Rates given with a few decimals (``99.8``) are taken as the decimals say. A ratio that would need
    a factor above :data:`MAX_FACTOR` is approximated; the rate error is logged.

    Raises:
        UnsupportedRateError: a rate is not a positive finite number.
    """
    fin = check_rate(from_rate, what="resampling input")
    fout = check_rate(to_rate, what="resampling output")
    ratio = Fraction(repr(fout)) / Fraction(repr(fin))
    if max(ratio.numerator, ratio.denominator) > MAX_FACTOR:
        approx = ratio.limit_denominator(MAX_FACTOR)
        while max(approx.numerator, approx.denominator) > MAX_FACTOR:
            approx = approx.limit_denominator(approx.denominator // 2)
        log.info(
            "resampling %g -> %g Hz approximated by %s (rate error %.2g)",
            fin,
            fout,
            approx,
            abs(float(approx / ratio) - 1),
        )
        ratio = approx
    return ratio.numerator, ratio.denominator


@functools.lru_cache(maxsize=32)
def _lowpass(up: int, down: int) -> np.ndarray:
    """The anti-aliasing FIR for ``up/down`` (odd length, centred), before the gain of ``up``.

    Designed as ``resample_poly`` designs it (Kaiser-windowed sinc, beta 5, 10 zero crossings per
    side), then each polyphase branch is scaled to a DC gain of exactly 1: unscaled, the branches
    differ by up to ~0.1 %, which turns a large DC offset (raw PPG counts) into a ripple that
    repeats every ``up`` output samples, in the heart-rate band.
    """
    max_rate = max(up, down)
    h = sps.firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    for phase in range(up):
        h[phase::up] /= up * h[phase::up].sum()
    h.setflags(write=False)
    return h


def resample(
    signal: np.ndarray,
    from_rate: float | None,
    to_rate: float,
    *,
    timestamps: np.ndarray | None = None,
) -> np.ndarray:
    """Resample a signal to ``to_rate`` (Hz), from a regular rate or from irregular timestamps.

    Args:
        signal: samples, shape (n,) or (n, channels) (channels resampled independently).
        from_rate: the input rate (Hz). With ``timestamps`` it is the nominal rate the samples are
            first interpolated to; None there means the median rate of the timestamps.
        to_rate: the output rate (Hz).
        timestamps: optional sample times (s), strictly increasing, one per sample. Output sample
            ``k`` is then at ``timestamps[0] + k / to_rate``.

    Returns:
        float64 array of ``ceil(n_regular * to_rate / from_rate)`` samples (same trailing shape),
        where ``n_regular`` is ``n`` for regular input.

    Raises:
        InvalidSignalError: wrong dtype/shape, NaN/inf, or fewer than 2 samples.
        UnsupportedRateError: a rate is not a positive finite number.
        TimestampError: timestamps not finite, not strictly increasing, or of the wrong length.

    Example:
        >>> import anyppg
        >>> from anyppg.signal import resample
        >>> sim = anyppg.simulate(10, ppg_rate=64.0, seed=1)
        >>> resample(sim.ppg, 64.0, 125.0).shape
        (1250,)
    """
    x = as_signal(signal, name="signal", min_samples=2, allow_2d=True)
    if timestamps is not None:
        t = as_timestamps(timestamps, len(x))
        if from_rate is None:
            from_rate = 1.0 / float(np.median(np.diff(t)))
            from_rate = float(f"{from_rate:.6g}")
        fin = check_rate(from_rate, what="resampling input")
        n_grid = math.floor((t[-1] - t[0]) * fin + 1e-9) + 1
        grid = t[0] + np.arange(n_grid) / fin
        x = interpolate.CubicSpline(t, x, axis=0)(grid)
        if len(x) < 2:
            raise InvalidParameterError("timestamps", f"span {t[-1] - t[0]:g} s", "at least 2 samples")
    elif from_rate is None:
        raise UnsupportedRateError(
            math.nan, "a positive number of Hz (None only with timestamps)", "resampling input"
        )
    up, down = rational_ratio(from_rate, to_rate)
    if up == down:
        return x.copy()
    return sps.resample_poly(x, up, down, axis=0, window=_lowpass(up, down), padtype="edge")


class StreamingResampler:
    """Resample a stream chunk by chunk, with state, from ``from_rate`` to ``to_rate`` (Hz).

    Output sample ``m`` is the signal at time ``m / to_rate`` after the first input sample, filtered
    by the centred (zero-phase) polyphase low-pass of :func:`resample`. It is emitted as soon as the
    input it depends on has arrived, i.e. with a latency of :attr:`latency_s`. Before the first
    sample the signal is taken to equal the first sample; :meth:`flush` extends it with the last
    sample to emit the tail, after which the outputs equal ``resample(whole_signal, ...)``.

    Args:
        from_rate: input rate (Hz).
        to_rate: output rate (Hz).

    Raises:
        UnsupportedRateError: a rate is not a positive finite number.

    Example:
        >>> import numpy as np
        >>> r = StreamingResampler(64.0, 125.0)
        >>> y = np.concatenate([r.process(np.ones(100)), r.process(np.ones(60)), r.flush()])
        >>> len(y), bool(np.allclose(y, 1.0, rtol=0, atol=1e-12))
        (313, True)
    """

    def __init__(self, from_rate: float, to_rate: float) -> None:
        self.from_rate = check_rate(from_rate, what="resampling input")
        self.to_rate = check_rate(to_rate, what="resampling output")
        self.up, self.down = rational_ratio(self.from_rate, self.to_rate)
        self._identity = self.up == self.down
        h = np.ones(1) if self._identity else _lowpass(self.up, self.down) * self.up
        self._half = (len(h) - 1) // 2
        self._taps = (len(h) - 1) // self.up + 1  # taps per output sample
        padded = np.zeros(self.up * self._taps)
        padded[: len(h)] = h
        # _bank[q, k] = h[q + k * up]: output m uses phase q = (m*down + half) % up on inputs j_hi - k.
        self._bank = padded.reshape(self._taps, self.up).T.copy()
        self.reset()

    @property
    def latency_s(self) -> float:
        """How long after an output sample's time the input it needs has all arrived (s)."""
        return 0.0 if self._identity else self._half / (self.up * self.from_rate)

    @property
    def samples_in(self) -> int:
        """Input samples consumed so far."""
        return self._n_in

    @property
    def samples_out(self) -> int:
        """Output samples emitted so far."""
        return self._m

    def reset(self) -> None:
        """Forget the stream; the next sample is time zero of a new one."""
        self._buf: np.ndarray | None = None
        self._buf_start = 0  # stream index of _buf[0]; negative while edge padding is kept
        self._n_in = 0
        self._m = 0
        self._flushed = False

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Consume the next chunk; return every output sample that is now complete.

        Args:
            chunk: samples at ``from_rate``, shape (n,) or (n, channels) (fixed for the stream).

        Returns:
            float64 samples at ``to_rate``, shape (k,) or (k, channels); k may be 0.

        Raises:
            InvalidSignalError: wrong dtype/shape, NaN/inf, or a channel count unlike earlier chunks.
        """
        return self._process_valid(as_signal(chunk, name="chunk", min_samples=0, allow_2d=True))

    def _process_valid(self, x: np.ndarray) -> np.ndarray:
        """:meth:`process` for a chunk already validated (finite float64), as the preprocessor has."""
        if self._flushed:
            raise InvalidParameterError("chunk", "after flush()", "reset() before starting a new stream")
        if self._buf is not None and x.shape[1:] != self._buf.shape[1:]:
            raise InvalidParameterError("chunk shape", x.shape, f"(n, *{self._buf.shape[1:]}) as before")
        if len(x) == 0:
            return np.empty((0, *x.shape[1:]))
        if self._identity:
            self._n_in += len(x)
            self._m += len(x)
            self._buf = x[:0]
            return x.copy()
        if self._buf is None:
            pad = np.repeat(x[:1], self._taps, axis=0)
            self._buf = np.concatenate([pad, x])
            self._buf_start = -self._taps
        else:
            self._buf = np.concatenate([self._buf, x])
        self._n_in += len(x)
        # Output m needs inputs up to j_hi = (m*down + half) // up; all are here if j_hi < n_in.
        m_end = (self._n_in * self.up - 1 - self._half) // self.down + 1
        return self._emit(max(m_end, self._m))

    def flush(self) -> np.ndarray:
        """End the stream: emit the remaining outputs, extending the input with its last sample.

        Returns:
            The last output samples, so that ``samples_out == ceil(samples_in * up / down)``.
        """
        if self._flushed or self._buf is None or self._identity:
            self._flushed = True
            return np.empty((0, *(() if self._buf is None else self._buf.shape[1:])))
        total = -(-self._n_in * self.up // self.down)
        need_hi = ((total - 1) * self.down + self._half) // self.up
        extra = max(0, need_hi - (self._n_in - 1))
        self._buf = np.concatenate([self._buf, np.repeat(self._buf[-1:], extra, axis=0)])
        out = self._emit(total)
        self._flushed = True
        return out

    def _emit(self, m_end: int) -> np.ndarray:
        assert self._buf is not None
        m = np.arange(self._m, m_end, dtype=np.int64)
        num = m * self.down + self._half
        j_hi = num // self.up
        phase = num % self.up
        idx = (j_hi - self._buf_start)[:, None] - np.arange(self._taps)[None, :]  # (M, K)
        taps = self._bank[phase]  # (M, K)
        gathered = self._buf[idx]  # (M, K) or (M, K, C)
        weights = taps[:, :, None] if gathered.ndim == 3 else taps
        y = (gathered * weights).sum(axis=1)
        self._m = m_end
        # Keep only what the next output needs: inputs from j_hi(m_end) - K + 1 on.
        keep_from = (m_end * self.down + self._half) // self.up - self._taps + 1
        drop = min(max(0, keep_from - self._buf_start), len(self._buf))
        if drop:
            self._buf = self._buf[drop:]
            self._buf_start += drop
        return y
