"""Motion-robust heart rate from wrist PPG and a 3-axis accelerometer: a causal, streaming tracker.

Running or walking shakes the sensor at the step rate, the arm-swing rate and their harmonics; in
the PPG spectrum these peaks are often stronger than the pulse and may sit on top of it. The
:class:`MotionHeartRateTracker` decides each window (8 s analysed, 2-s hop) in four steps:

1. **Band-pass and decimate**: 0.4-4 Hz (zero-phase within the window only), down to about 25 Hz.
2. **Adaptive noise cancellation**: each PPG channel is regressed (ridge least squares over the
   window) on the three accelerometer axes and their copies shifted by up to ±0.2 s, and the fit is
   subtracted. This removes whatever of the PPG the movement explains linearly, at any phase and at
   every motion harmonic the accelerometer sees, and keeps the pulse, which the accelerometer does
   not see. Where the optical coupling is clearly not linear (the products of the axes, x², xy, ...,
   remove a further 20 % of what is left) they join the regressors for that channel. It runs only
   while the arm moves (dynamic acceleration above ``motion_rms_g``).
3. **Spectrum**: Hann-windowed, zero-padded periodogram of each cleaned channel, tilted by
   ``f ** spectral_tilt`` up to 120 bpm (the pulse over slow baseline and posture drift), normalised
   per channel and averaged over channels, plus ``harmonic_weight`` times its value at twice the
   frequency (a pulse has a second harmonic, most residual artefacts do not).
4. **Decoding**: a hidden Markov model over a 1-bpm heart-rate grid. The transition prior is a
   Gaussian step of ``sigma_bpm_per_s * dt_s`` bpm up to ``trend_s`` (heart rate is continuous;
   a longer step, across a gap, spreads with the square root of its time), with a tiny
   probability of a jump anywhere (recovery after a lost track). The emission is the spectrum raised
   to a power that grows with how peaky the window's spectrum is (a window whose pulse was removed
   with the motion says little, so it cannot drag the track away), above a floor; at the dominant
   movement frequency the emission never falls below ``motion_hold`` (when the heart rate equals the
   cadence the cancellation removes the pulse too, and that frequency must stay possible). The
   estimate is the forward posterior's mode refined by its local mean (symmetric about the mode):
   purely online, no look-ahead.
   When four clear windows in a row agree on a rate of their own, away from the track and from the
   movement frequencies, the track is taken as lost and acquired afresh from the latest window.
5. **Beat intervals** (PPG only, while the wrist is still: no accelerometer, or one below
   ``motion_rms_g``): the window's own peak-to-peak rate (60 / the median interval, as HeartPy
   reads a finger PPG) weighs in when its beats are regular and the spectrum has some power there:
   the emission is lowered around a third, half, twice and three times that rate (a track there has
   locked onto a sub- or super-harmonic) and, without an accelerometer, raised around the rate
   itself; the beat rate is the window's own rate in the re-acquisition rule above. Regular beats
   cannot be a harmonic of the pulse (that needs every other beat missed, or an extra peak in
   every beat); a detector that now and then skips or doubles beats gives irregular intervals and
   little weight (measured in docs/signal.md). The extra peak in every beat does occur, as a small
   hump between the beats of a slow pulse after the 0.5 Hz band-pass, so where a third of the peaks
   are such humps they are left out first (``minor_peak_share``).

The confidence (0-1) is the posterior probability that the heart rate lies within ±5 bpm of the
estimate, times how well the window on its own supports the estimate (its emission there over its
largest emission): it drops where the spectrum is ambiguous, where the pulse hides under the cadence,
and while the track disagrees with what the latest windows show.

Example:
    >>> import numpy as np
    >>> fs = 125.0
    >>> t = np.arange(int(60 * fs)) / fs
    >>> pulse = np.sin(2 * np.pi * 1.5 * t) + 0.3 * np.sin(2 * np.pi * 3.0 * t)      # 90 bpm
    >>> acc = np.stack([0.5 * np.sin(2 * np.pi * 2.6 * t), 0.2 * np.sin(2 * np.pi * 1.3 * t), 1 + 0 * t])
    >>> ppg = pulse + 3 * acc[0] + 2 * acc[1]                                          # motion dominates
    >>> track = track_heart_rate(ppg[None, :], fs, acc)
    >>> bool(abs(track.bpm[-1] - 90) < 2)
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from scipy import signal as sps

from anyppg.errors import InvalidSignalError
from anyppg.signal._checks import InvalidParameterError, check_positive, check_rate
from anyppg.signal.filters import sosfiltfilt
from anyppg.signal.heart_rate import beat_evidence
from anyppg.signal.peaks import drop_minor_peaks, ppg_findpeaks

__all__ = [
    "HeartRateEstimate",
    "HeartRateTrack",
    "MotionHeartRateTracker",
    "MotionTrackerConfig",
    "track_heart_rate",
]

_INTERNAL_FS = 25.0  # Hz; the band ends at 4 Hz
_NFFT = 2048  # at 25 Hz: 0.73-bpm bins before interpolation onto the 1-bpm grid
_CONFIDENCE_BPM = 5.0  # half-width of the confidence interval (bpm)
_MAX_CHANNELS = 16
_TRANSITIONS_KEPT = 16  # transition matrices cached, one per step length
_HARMONIC_WIDTH = 0.06  # sd of the harmonic penalty, as a share of the harmonic's rate
_BEAT_SLACK = 0.1  # beats are read over bpm_range widened by this share each way: a heart at the
# range's end beats on both sides of it (at 40 bpm, intervals of 1.48-1.52 s, half cut at 1.50 s)


@dataclass(frozen=True)
class HeartRateEstimate:
    """One window's heart rate.

    Attributes:
        bpm: heart rate (bpm); NaN until a pulse has been seen.
        confidence: 0-1: the posterior probability that the heart rate is within ±5 bpm of ``bpm``,
            times the window's own support for ``bpm`` (its emission there over its maximum).
    """

    bpm: float
    confidence: float


@dataclass(frozen=True)
class MotionTrackerConfig:
    """Parameters of :class:`MotionHeartRateTracker` (defaults: chosen once on TROIKA + BAMI-I, see
    docs/signal.md; leave-one-subject-out numbers there).

    Attributes:
        analysis_s: length of signal analysed per window (s): the last ``analysis_s`` of each input.
        band_hz: pass band (Hz); the heart rate's fundamental and second harmonic at rest.
        bpm_range: heart rates the decoder considers (bpm).
        anc_lag_s: largest shift of the accelerometer in the cancellation (s); covers the delay
            between wrist movement and its effect on the optical signal.
        anc_quadratic_gain: the products of the axes (x², xy, ...) join the cancellation for a
            channel when they remove at least this share of what the linear fit left (a wrist
            whose optical coupling is clearly not linear); 1 turns them off.
        anc_ridge: ridge penalty of the cancellation, in units of the (unit-variance) window;
            keeps the fit from absorbing the pulse with too many regressors.
        motion_rms_g: dynamic acceleration (g, RMS over axes, 0.4-4 Hz) above which the window is
            treated as moving (cancellation and ``motion_hold`` on).
        spectral_tilt: power spectra are multiplied by ``f ** spectral_tilt``: slow drift and
            arm swing below the heart rate are down-weighted.
        tilt_max_bpm: the tilt stays flat above this rate (bpm): it is there to push down drift
            below the heart rate, not to favour fast residue of the movement.
        harmonic_weight: weight of the spectrum at twice the frequency in the emission.
        sigma_bpm_per_s: standard deviation of the heart-rate change per second (bpm/s), for steps
            up to ``trend_s``.
        trend_s: longest step (s) over which the change grows in proportion to the time; over a
            longer step (across a gap) it grows with the square root of the time, a random walk of
            ``trend_s`` steps.
        jump_probability: prior probability per window of a jump anywhere in ``bpm_range``.
        emission_floor: emission added everywhere: a window never rules a heart rate out.
        emission_power: exponent of the normalised spectrum in the emission for a clear window.
        peakiness_range: (no evidence, full evidence): the ratio of the spectrum's maximum to its
            mean over which the exponent goes from 10 % to 100 % of ``emission_power``.
        motion_hold: lowest emission at the dominant movement frequency while moving.
        reacquire_after: clear windows in a row that agree on their own rate, away from the track
            and from the movement frequencies, before the track is dropped and acquired afresh
            (faster than ``jump_probability`` alone after a gap of no pulse, e.g. finger out).
        reacquire_support: such a window gives the track less than this share of its maximum.
        beat_weight: without an accelerometer, the emission at the window's own beat-interval rate
            (60 / median peak-to-peak interval, as HeartPy reads a finger PPG) is raised by up to
            this factor, scaled by how regular the beats are (with a still accelerometer the beats
            only rule out harmonics, below); 0 turns the beat evidence off.
        beat_regularity: share of regular intervals (within 15 % of the median) below which the
            beats say nothing; the weight grows linearly from here to all intervals regular.
        harmonic_penalty: with that evidence (no accelerometer, or one below ``motion_rms_g``),
            the emission at a third, half, twice and three times the beat rate is lowered by up to
            this share (a track there has locked onto a sub- or
            super-harmonic of the pulse). The beats count only where the spectrum has power at
            their rate (10 % of its maximum). Known limit: a detector that skips every other beat
            of a strongly alternating pulse (pulsus alternans) gives regular beats at half the
            rate, and the track follows them.
        minor_peak_share: the beat evidence leaves out a peak lower than this share of both its
            neighbours (:func:`anyppg.signal.peaks.drop_minor_peaks`): the dicrotic hump of a slow
            or strongly reflected pulse, which read as a beat gives regular intervals at twice the
            rate, so the harmonic penalty would push the track up to it; 0 keeps every peak.
    """

    analysis_s: float = 8.0
    band_hz: tuple[float, float] = (0.4, 4.0)
    bpm_range: tuple[float, float] = (40.0, 220.0)
    anc_lag_s: float = 0.2
    anc_ridge: float = 1.0
    anc_quadratic_gain: float = 0.2
    motion_rms_g: float = 0.03
    spectral_tilt: float = 1.5
    tilt_max_bpm: float = 120.0
    harmonic_weight: float = 0.5
    sigma_bpm_per_s: float = 1.5
    trend_s: float = 2.0
    jump_probability: float = 1e-8
    emission_floor: float = 0.1
    emission_power: float = 2.0
    peakiness_range: tuple[float, float] = (2.0, 6.0)
    motion_hold: float = 0.5
    reacquire_after: int = 4
    reacquire_support: float = 0.3
    beat_weight: float = 2.0
    beat_regularity: float = 0.4
    harmonic_penalty: float = 0.8
    minor_peak_share: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                continue
            if isinstance(value, tuple):
                lo, hi = value
                if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
                    raise InvalidParameterError(f.name, value, "(low, high) with 0 < low < high")
            elif f.name in (
                "anc_ridge",
                "anc_quadratic_gain",
                "motion_rms_g",
                "spectral_tilt",
                "harmonic_weight",
                "motion_hold",
                "reacquire_support",
                "beat_weight",
                "beat_regularity",
                "harmonic_penalty",
                "minor_peak_share",
            ):
                check_positive(f.name, value, allow_zero=True)
            else:
                check_positive(f.name, value)
        if self.jump_probability >= 1:
            raise InvalidParameterError("jump_probability", self.jump_probability, "a probability below 1")
        for name in ("beat_regularity", "harmonic_penalty", "minor_peak_share"):
            if getattr(self, name) >= 1:
                raise InvalidParameterError(name, getattr(self, name), "a share below 1")
        if self.bpm_range[1] - self.bpm_range[0] < 2:
            raise InvalidParameterError("bpm_range", self.bpm_range, "a range at least 2 bpm wide")


def _channels_first(ppg: object, min_samples: int, fs: float) -> np.ndarray:
    """``ppg`` as finite float64 (channels, n); a 1-D signal is one channel."""
    try:
        arr = np.asarray(ppg)
    except (TypeError, ValueError) as exc:
        raise InvalidSignalError(f"PPG window cannot be read as an array: {exc}") from None
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise InvalidSignalError(f"PPG window must hold real numbers; got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or not 1 <= arr.shape[0] <= _MAX_CHANNELS or arr.shape[0] >= arr.shape[1]:
        raise InvalidSignalError(
            f"PPG window must have shape (n,) or (channels, n) with 1-{_MAX_CHANNELS} channels; "
            f"got shape {arr.shape}"
        )
    if arr.shape[1] < min_samples:
        raise InvalidSignalError(
            f"PPG window is too short: {arr.shape[1]} samples; at least {min_samples} "
            f"({min_samples / fs:.3g} s at {fs:g} Hz) needed"
        )
    out = arr.astype(np.float64)
    if not np.isfinite(out).all():
        raise InvalidSignalError("PPG window contains NaN/inf; fill or drop them first")
    return out


def _acc_axes_first(acc: object, n: int) -> np.ndarray:
    """``acc`` as finite float64 (3, n)."""
    try:
        arr = np.asarray(acc)
    except (TypeError, ValueError) as exc:
        raise InvalidSignalError(f"acc window cannot be read as an array: {exc}") from None
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise InvalidSignalError(f"acc window must hold real numbers; got dtype {arr.dtype}")
    if arr.shape != (3, n):
        raise InvalidSignalError(
            f"acc window must have shape (3, {n}) (3 axes at the PPG rate, in g); got {arr.shape}"
        )
    out = arr.astype(np.float64)
    if not np.isfinite(out).all():
        raise InvalidSignalError("acc window contains NaN/inf; fill or drop them first")
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows with zero mean and unit variance (a flat row stays zero)."""
    x = x - x.mean(axis=-1, keepdims=True)
    return x / np.maximum(x.std(axis=-1, keepdims=True), 1e-12)


class MotionHeartRateTracker:
    """Track heart rate across consecutive windows of wrist PPG (+ accelerometer), causally.

    Each :meth:`update` takes the latest window (any length of at least ``config.analysis_s``; the
    SDK's 10-s window is fine) and analyses its last ``analysis_s`` seconds; the whole window is
    used for filtering. Nothing after the window is used: feeding later windows never changes an
    earlier result. See the module docstring for the method.

    Args:
        sampling_rate: rate of the PPG and accelerometer windows (Hz), above 8 Hz.
        config: parameters; None: :class:`MotionTrackerConfig` defaults.

    Raises:
        UnsupportedRateError: ``sampling_rate`` is not a number above twice the band's upper edge.
        InvalidParameterError: a bad ``config`` value.

    Example:
        >>> import numpy as np
        >>> fs = 50.0
        >>> t = np.arange(int(10 * fs)) / fs
        >>> tracker = MotionHeartRateTracker(fs)
        >>> for _ in range(3):                                   # three 10-s windows, 72 bpm
        ...     est = tracker.update(np.sin(2 * np.pi * 1.2 * t), None, dt_s=2.0)
        >>> round(est.bpm), est.confidence > 0.8
        (72, True)
    """

    def __init__(self, sampling_rate: float, *, config: MotionTrackerConfig | None = None) -> None:
        self.config = config if config is not None else MotionTrackerConfig()
        cfg = self.config
        if not isinstance(cfg, MotionTrackerConfig):
            raise InvalidParameterError("config", cfg, "a MotionTrackerConfig or None")
        self.sampling_rate = check_rate(
            sampling_rate, what="motion heart-rate tracker", minimum=2 * cfg.band_hz[1]
        )
        fs = self.sampling_rate
        self._step = max(1, round(fs / _INTERNAL_FS))  # decimation after the band-pass
        self._fs_int = fs / self._step
        self._analysis = round(cfg.analysis_s * fs)
        self._sos = sps.butter(4, cfg.band_hz, btype="bandpass", fs=fs, output="sos")
        self._lags = max(1, round(cfg.anc_lag_s * self._fs_int))
        self._freqs_bpm = np.fft.rfftfreq(_NFFT, 1 / self._fs_int) * 60
        lo, hi = cfg.bpm_range
        self.grid_bpm = np.arange(math.ceil(lo), math.floor(hi) + 1, 1.0)
        self._tilt = (np.minimum(self.grid_bpm, cfg.tilt_max_bpm) / 60) ** cfg.spectral_tilt
        self._transitions: dict[float, np.ndarray] = {}
        self.reset()

    def reset(self) -> None:
        """Forget the track (after a gap in the stream, or for a new wearer)."""
        self._posterior: np.ndarray | None = None
        self._rival = math.nan  # the clear windows' own mode while they disagree with the track
        self._rival_count = 0
        self._clear = False
        self._cadence = math.nan
        self._beat_bpm = math.nan  # the window's beat-interval rate where it counts (a still wrist)
        self.bpm = math.nan

    # --- per-window steps ----------------------------------------------------------------------

    def _band_tail(self, x: np.ndarray) -> np.ndarray:
        """Band-pass the whole window and keep the analysed tail, at the input rate: (rows, m)."""
        y = sosfiltfilt(self._sos, np.ascontiguousarray(x.T))[-self._analysis :]  # (m, rows)
        return np.ascontiguousarray(y.T)

    def _band(self, x: np.ndarray) -> np.ndarray:
        """:meth:`_band_tail`, decimated to about 25 Hz: (rows, m)."""
        return np.ascontiguousarray(self._band_tail(x)[:, :: self._step])

    def _cancel(self, ppg: np.ndarray, acc: np.ndarray) -> np.ndarray:
        """Subtract the part of each PPG row that shifted copies of the acc axes explain (ridge LS).

        The products of the axes join the regressors, per channel, only where they remove at least
        ``anc_quadratic_gain`` of what the linear fit left (a clearly non-linear coupling): added
        everywhere, they also take away part of the pulse."""
        cfg = self.config
        lags, n = self._lags, ppg.shape[1]
        keep = slice(lags, n - lags)
        shifted = np.lib.stride_tricks.sliding_window_view(acc, 2 * lags + 1, axis=1)  # (3, n - 2 lags, taps)
        x = shifted.transpose(1, 0, 2).reshape(n - 2 * lags, -1)  # (n - 2 lags, 3 taps)
        y = ppg[:, keep].T  # (n - 2 lags, channels)
        residual = y - x @ np.linalg.solve(x.T @ x + cfg.anc_ridge * np.eye(x.shape[1]), x.T @ y)
        if cfg.anc_quadratic_gain < 1:
            a = acc[:, keep]
            products = np.stack([a[i] * a[j] for i in range(3) for j in range(i, 3)], axis=1)
            xq = np.concatenate([x, products - products.mean(axis=0)], axis=1)
            wq = np.linalg.solve(xq.T @ xq + cfg.anc_ridge * np.eye(xq.shape[1]), xq.T @ y)
            residual_q = y - xq @ wq
            better = (residual_q**2).sum(axis=0) < (1 - cfg.anc_quadratic_gain) * (residual**2).sum(axis=0)
            residual[:, better] = residual_q[:, better]
        return np.ascontiguousarray(residual.T)

    def _grid_power(self, x: np.ndarray, *, tilt: bool = True) -> np.ndarray:
        """Hann periodogram of each row on the bpm grid, tilted or not, each row normalised to max 1."""
        window = np.hanning(x.shape[1])
        power = np.abs(np.fft.rfft(_unit(x) * window, n=_NFFT, axis=-1)) ** 2
        on_grid = np.stack([np.interp(self.grid_bpm, self._freqs_bpm, row) for row in power])
        if tilt:
            on_grid *= self._tilt
        return on_grid / np.maximum(on_grid.max(axis=1, keepdims=True), 1e-300)

    def _step_sigma(self, dt: float) -> float:
        """Standard deviation (bpm) of the heart-rate change over a step of ``dt`` seconds: a trend
        of ``sigma_bpm_per_s`` per second up to ``trend_s``; a longer step (a gap the stream lost, or
        a longer hop) is that many trend-long steps in a row, whose changes add up as a random walk's
        (the spread grows with the square root of the time, as if the windows in between had been
        seen)."""
        cfg = self.config
        return cfg.sigma_bpm_per_s * math.sqrt(dt * min(dt, cfg.trend_s))

    def _transition(self, dt: float) -> np.ndarray:
        matrix = self._transitions.get(dt)
        if matrix is None:
            sigma = self._step_sigma(dt)
            d = self.grid_bpm[:, None] - self.grid_bpm[None, :]
            matrix = np.exp(-0.5 * (d / sigma) ** 2)
            matrix /= matrix.sum(axis=0, keepdims=True)
            if len(self._transitions) >= _TRANSITIONS_KEPT:  # steps across gaps vary: keep a few
                self._transitions.clear()
            self._transitions[dt] = matrix
        return matrix

    def emission(self, ppg: np.ndarray, acc: np.ndarray | None) -> np.ndarray:
        """The likelihood of each heart rate on :attr:`grid_bpm` given one window (no track).

        Args:
            ppg: PPG window, shape (channels, n) or (n,), at ``sampling_rate``, raw or band-passed.
            acc: accelerometer window in g, shape (3, n), or None.

        Returns:
            Positive values, one per grid heart rate, maximum ``1 + emission_floor``.

        Raises:
            InvalidSignalError: wrong dtype/shape, NaN/inf, or shorter than ``analysis_s``.
        """
        x = _channels_first(ppg, self._analysis, self.sampling_rate)
        return self._likelihood(x, None if acc is None else _acc_axes_first(acc, x.shape[1]))

    def _likelihood(self, x: np.ndarray, a: np.ndarray | None) -> np.ndarray:
        """:meth:`emission` of a checked (channels, n) PPG and (3, n) acc window."""
        cfg = self.config
        tail = self._band_tail(x)
        y = _unit(np.ascontiguousarray(tail[:, :: self._step]))
        dyn = None if a is None else self._band(a)
        moving = dyn is not None and float(np.sqrt((dyn**2).sum(axis=0).mean())) > cfg.motion_rms_g
        # The beats count without an accelerometer, and while the wrist is still: there only to rule
        # out the beat rate's sub- and super-harmonics (the accelerometer-cancelled spectrum places
        # a wrist pulse better than its beats); moving, the detector finds the steps too.
        beats = self._beats(tail) if cfg.beat_weight > 0 and not moving else None
        cadence = math.nan
        if moving:
            assert dyn is not None
            y = self._cancel(y, _unit(dyn))
            motion = self._grid_power(dyn, tilt=False).sum(axis=0)
            cadence = float(self.grid_bpm[int(np.argmax(motion))])
        spectrum = self._grid_power(y).mean(axis=0)
        plain = spectrum / max(float(spectrum.max()), 1e-300)  # before the harmonic term
        if cfg.harmonic_weight > 0:
            doubled = np.interp(2 * self.grid_bpm, self.grid_bpm, spectrum, right=0.0)
            spectrum = spectrum + cfg.harmonic_weight * doubled
        spectrum /= max(float(spectrum.max()), 1e-300)
        p0, p1 = cfg.peakiness_range
        peakiness = 1.0 / max(float(spectrum.mean()), 1e-12)
        power = cfg.emission_power * float(np.clip((peakiness - p0) / (p1 - p0), 0.1, 1.0))
        likelihood = cfg.emission_floor + spectrum**power
        beat_weight = 0.0
        if beats is not None:
            factor, beat_weight = self._beat_factor(*beats, plain, boost=a is None)
            likelihood = likelihood * factor
        self._beat_bpm = beats[0] if beat_weight > 0 else math.nan
        # a peaky window, or one with regular beats that its spectrum supports: its mode means something
        self._clear = power >= cfg.emission_power or beat_weight >= 0.5
        self._cadence = cadence
        if math.isfinite(cadence) and cfg.motion_hold > 0:
            bump = cfg.motion_hold * np.exp(-0.5 * ((self.grid_bpm - cadence) / 3.0) ** 2)
            likelihood = np.maximum(likelihood, bump)
        return likelihood

    def _beats(self, tail: np.ndarray) -> tuple[float, float]:
        """The beat-interval rate and regularity of the analysed tail at the input rate (the
        channel with the most regular beats): ``(bpm, regularity)``."""
        best = (math.nan, 0.0)
        cfg, fs = self.config, self.sampling_rate
        lo, hi = cfg.bpm_range
        plausible = (lo * (1 - _BEAT_SLACK), hi * (1 + _BEAT_SLACK))
        for row in tail:
            peaks = ppg_findpeaks(row, fs, clean=False)
            if cfg.minor_peak_share > 0:
                peaks = drop_minor_peaks(row, peaks, cfg.minor_peak_share)
            bpm, regularity = beat_evidence(row, fs, plausible, peaks)
            if regularity > best[1]:
                best = (bpm, regularity)
        return best

    def _beat_factor(
        self, bpm: float, regularity: float, plain: np.ndarray, *, boost: bool = True
    ) -> tuple[np.ndarray, float]:
        """Per grid rate, the factor the beat evidence puts on the emission (1: none): up to
        ``1 + beat_weight`` at ``bpm`` (with ``boost``), down to ``1 - harmonic_penalty`` at its sub-
        and super-harmonics; and the evidence's weight (0-1), which grows with ``regularity`` above
        ``beat_regularity`` (0 where the spectrum has no power at ``bpm``)."""
        cfg = self.config
        grid = self.grid_bpm
        factor = np.ones_like(grid)
        if not math.isfinite(bpm):
            return factor, 0.0
        weight = float(np.clip((regularity - cfg.beat_regularity) / (1 - cfg.beat_regularity), 0.0, 1.0))

        near = np.abs(grid - bpm) <= max(2.0, 0.03 * bpm)
        if weight == 0 or not near.any() or plain[near].max() < 0.1:
            return factor, 0.0  # no power at the beats' rate: the beats are not the pulse's

        def bump(rate: float, width: float) -> np.ndarray:
            return np.exp(-0.5 * ((grid - rate) / max(2.0, width * rate)) ** 2)

        if boost:
            factor += cfg.beat_weight * weight * bump(bpm, 0.03)
        for k in (1 / 3, 0.5, 2.0, 3.0):  # wider: an interval's error and variability scale with k
            factor *= 1 - cfg.harmonic_penalty * weight * bump(k * bpm, _HARMONIC_WIDTH)
        return factor, weight

    def _lost(self, likelihood: np.ndarray, dt: float) -> bool:
        """Whether the track is lost: ``reacquire_after`` clear windows in a row agree on a rate of
        their own (within the transition's reach) that is not a movement frequency, while giving the
        track less than ``reacquire_support`` of their maximum emission."""
        cfg = self.config
        beats = math.isfinite(self._beat_bpm)
        if self._posterior is None or not (self._clear or beats):
            self._rival_count = 0
            return False
        mode = self._beat_bpm if beats else float(self.grid_bpm[int(np.argmax(likelihood))])
        track = np.abs(self.grid_bpm - self.bpm) <= 3
        support = float(likelihood[track].max() / likelihood.max()) if track.any() else 0.0
        moving = math.isfinite(self._cadence) and any(
            abs(mode - k * self._cadence) <= 6 for k in (0.5, 1.0, 1.5, 2.0)
        )
        if support >= cfg.reacquire_support or moving:
            self._rival_count = 0
            return False
        reach = 4 + 3 * self._step_sigma(dt)
        same = self._rival_count > 0 and abs(mode - self._rival) <= reach
        self._rival_count = self._rival_count + 1 if same else 1
        self._rival = mode
        if self._rival_count < cfg.reacquire_after:
            return False
        self._rival_count = 0
        return True

    def update(
        self, ppg: np.ndarray, acc: np.ndarray | None = None, *, dt_s: float = 2.0
    ) -> HeartRateEstimate:
        """Consume the next window and return its heart rate.

        Args:
            ppg: PPG window, shape (channels, n) or (n,), at ``sampling_rate``, raw or band-passed
                (the tracker band-passes it again), at least ``config.analysis_s`` long.
            acc: accelerometer window, shape (3, n), in g, same rate and length; None without one.
            dt_s: time since the previous window's start (s), the hop; sets how far the heart
                rate may have moved.

        Returns:
            The estimate; a flat window (no signal) returns the previous estimate with confidence 0.

        Raises:
            InvalidSignalError: wrong dtype/shape, NaN/inf, or shorter than ``analysis_s``.
            InvalidParameterError: ``dt_s`` not a positive number.
        """
        dt = check_positive("dt_s", dt_s)
        x = _channels_first(ppg, self._analysis, self.sampling_rate)
        a = None if acc is None else _acc_axes_first(acc, x.shape[1])
        if float(np.ptp(x[:, -self._analysis :], axis=1).max()) == 0:
            return HeartRateEstimate(self.bpm, 0.0)
        likelihood = self._likelihood(x, a)
        if self._lost(likelihood, dt):
            self._posterior = None  # start afresh from this window
        if self._posterior is None:
            prior = np.full(len(self.grid_bpm), 1.0 / len(self.grid_bpm))
        else:
            jump = self.config.jump_probability
            prior = (1 - jump) * (self._transition(round(dt, 6)) @ self._posterior) + jump / len(
                self.grid_bpm
            )
        posterior = prior * likelihood
        posterior /= posterior.sum()
        self._posterior = posterior
        i = int(np.argmax(posterior))
        k = min(3, i, len(self.grid_bpm) - 1 - i)  # symmetric: at the grid's ends a one-sided mean
        near = slice(i - k, i + k + 1)  # would pull a rate there inwards (40 bpm read as 41)
        self.bpm = float(posterior[near] @ self.grid_bpm[near] / posterior[near].sum())
        within = np.abs(self.grid_bpm - self.bpm) <= _CONFIDENCE_BPM
        support = float(likelihood[near].max() / likelihood.max())  # does this window itself agree?
        return HeartRateEstimate(self.bpm, float(np.clip(posterior[within].sum() * support, 0.0, 1.0)))


@dataclass(frozen=True)
class HeartRateTrack:
    """Heart rate of a whole recording, one value per window.

    Attributes:
        t_end_s: end of each analysed window (s from the first sample).
        bpm: heart rate per window (bpm).
        confidence: confidence per window (0-1).
    """

    t_end_s: np.ndarray
    bpm: np.ndarray
    confidence: np.ndarray


def track_heart_rate(
    ppg: np.ndarray,
    sampling_rate: float,
    acc: np.ndarray | None = None,
    *,
    hop_s: float = 2.0,
    context_s: float = 2.0,
    config: MotionTrackerConfig | None = None,
) -> HeartRateTrack:
    """Run :class:`MotionHeartRateTracker` over a recording as a stream would (windows every ``hop_s``).

    Window ``i`` ends at ``analysis_s + i * hop_s`` seconds and carries up to ``context_s`` seconds
    before its analysed part for filtering (the SDK's 10-s window with the last 8 s analysed).

    Args:
        ppg: PPG, shape (channels, n) or (n,), at ``sampling_rate``.
        sampling_rate: its rate (Hz).
        acc: accelerometer in g, shape (3, n), or None.
        hop_s: step between windows (s).
        context_s: extra signal before each analysed part (s), for filtering only.
        config: tracker parameters; None: defaults.

    Returns:
        One estimate per whole window; empty arrays when the recording is shorter than one.

    Raises:
        InvalidSignalError: wrong dtype/shape or NaN/inf in ``ppg`` or ``acc``.
        UnsupportedRateError: ``sampling_rate`` not above twice the band's upper edge.
        InvalidParameterError: ``hop_s`` not positive or ``context_s`` negative.
    """
    tracker = MotionHeartRateTracker(sampling_rate, config=config)
    fs = tracker.sampling_rate
    x = _channels_first(ppg, 1, fs)
    a = None if acc is None else _acc_axes_first(acc, x.shape[1])
    hop = check_positive("hop_s", hop_s)
    context = check_positive("context_s", context_s, allow_zero=True)
    analysis_s = tracker.config.analysis_s
    n_windows = max(0, math.floor((x.shape[1] / fs - analysis_s) / hop + 1e-9) + 1)
    ends = analysis_s + hop * np.arange(n_windows)
    bpm = np.empty(n_windows)
    confidence = np.empty(n_windows)
    for i, end_s in enumerate(ends):
        stop = round(end_s * fs)
        start = max(0, stop - round((analysis_s + context) * fs))
        est = tracker.update(x[:, start:stop], None if a is None else a[:, start:stop], dt_s=hop)
        bpm[i], confidence[i] = est.bpm, est.confidence
    return HeartRateTrack(ends, bpm, confidence)
