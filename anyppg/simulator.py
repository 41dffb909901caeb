"""Synchronized PPG + ECG + accelerometer simulator, with exact labels.

One beat-to-beat RR series drives both signals: every R peak of the ECG is followed, one pulse
arrival time later, by a pulse wave in the PPG. Waveforms are sums of Gaussian waves per beat
(P, Q, R, S, T for the ECG; a systolic and a diastolic wave for the PPG) evaluated in closed form
at each signal's own sampling times, so every rate sees the same underlying physiology and the
labels (R-peak and pulse times, heart rate, rhythm, motion, quality) are exact.

Rhythms:
    ``"sinus"``: RR = mean RR modulated by respiratory sinus arrhythmia, a 0.1 Hz Mayer wave and
    AR(1) noise, with a total standard deviation of ``hrv`` times the mean RR.
    ``"af"``: atrial fibrillation: independent, highly irregular RR (log-normal, coefficient of
    variation ~0.2), no P waves, 4-8 Hz fibrillatory waves on the ECG, beat-varying pulse volume.
Ectopic beats (premature ventricular contractions) replace a fraction ``ectopic_rate`` of beats:
they come early (60 % of the RR) and are followed by a compensatory pause, have a wide QRS, no P
wave, an inverted T, and a small pulse.

Motion: episodes of walking/running (cadence 1.5-2.5 steps/s) drive a 3-axis wrist accelerometer
(arm swing at half the cadence, step impacts at the cadence and its harmonics, gravity on z);
the same movement leaks into the PPG (a projection of the acceleration plus a quadratic term), so
accelerometer-based artefact suppression can be tested. ``motion=1`` makes the artefact about as
large as the pulse.

Units: ECG in mV, PPG in arbitrary units (pulse amplitude ~1), acceleration in g, times in s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import signal as sps

from anyppg.signal._checks import InvalidParameterError, check_rate

Rhythm = Literal["sinus", "af"]

__all__ = ["MAX_SAMPLES_PER_CHANNEL", "Rhythm", "Simulation", "simulate"]

_MARGIN_S = 2.0  # beats are generated this far beyond both ends so edges look like the middle

#: most samples one channel may have (``rate * duration_s``): 24 h of ECG at 500 Hz is 43.2 M; a
#: simulation peaks at about 60 bytes per ECG sample, so this caps it near 3 GiB of memory.
MAX_SAMPLES_PER_CHANNEL = 50_000_000


@dataclass(frozen=True, eq=False)
class Simulation:
    """A simulated recording and its labels.

    Attributes:
        ppg: PPG, shape (round(duration_s * ppg_rate),), arbitrary units.
        ppg_rate: its rate (Hz).
        ecg: ECG (one lead, mV), shape (round(duration_s * ecg_rate),).
        ecg_rate: its rate (Hz).
        acc: 3-axis wrist acceleration (g), shape (len(ppg), 3), at ``ppg_rate``.
        r_peaks: R-peak times (s) within [0, duration_s).
        rr: the RR interval ending at each R peak (s), same length as ``r_peaks``.
        ectopic: True where the beat at ``r_peaks[i]`` is a premature ventricular beat.
        pulse_onsets: pulse-wave arrival (foot) time of each beat (s), same length as ``r_peaks``.
        pulse_peaks: systolic-peak time of each beat (s), same length as ``r_peaks`` (the last may
            fall after the end of the recording).
        ppg_peaks: every systolic-peak time inside the recording (s), including the pulse of a beat
            whose R peak came before time 0: the reference for PPG peak detection.
        heart_rate: mean heart rate over the recording, ``60 / mean(rr)`` (bpm).
        hr: instantaneous heart rate ``60 / rr`` at each R peak (bpm).
        rhythm: ``"sinus"`` or ``"af"``.
        motion_mask: True for PPG samples inside a motion episode, shape (len(ppg),).
        quality: per-second PPG quality in [0, 1]: pulse power / (pulse + artefact power), shape
            (ceil(duration_s),).
        respiratory_rate: breaths per minute.
        duration_s: length (s).
        seed: the seed that reproduces it.
        params: every argument of the :func:`simulate` call.
    """

    ppg: np.ndarray
    ppg_rate: float
    ecg: np.ndarray
    ecg_rate: float
    acc: np.ndarray
    r_peaks: np.ndarray
    rr: np.ndarray
    ectopic: np.ndarray
    pulse_onsets: np.ndarray
    pulse_peaks: np.ndarray
    ppg_peaks: np.ndarray
    heart_rate: float
    hr: np.ndarray
    rhythm: Rhythm
    motion_mask: np.ndarray
    quality: np.ndarray
    respiratory_rate: float
    duration_s: float
    seed: int
    params: dict = field(default_factory=dict)

    @property
    def ppg_time(self) -> np.ndarray:
        """Time of each PPG (and acc) sample (s)."""
        return np.arange(len(self.ppg)) / self.ppg_rate

    @property
    def ecg_time(self) -> np.ndarray:
        """Time of each ECG sample (s)."""
        return np.arange(len(self.ecg)) / self.ecg_rate

    def mean_heart_rate(self, start_s: float, end_s: float) -> float:
        """Mean heart rate of the beats with an R peak in [start_s, end_s) (bpm); NaN if none."""
        sel = (self.r_peaks >= start_s) & (self.r_peaks < end_s)
        return float(60.0 / self.rr[sel].mean()) if sel.any() else math.nan

    def mean_quality(self, start_s: float, end_s: float) -> float:
        """Mean per-second PPG quality over the seconds overlapping [start_s, end_s)."""
        lo = max(0, math.floor(start_s))
        hi = min(len(self.quality), math.ceil(end_s))
        return float(self.quality[lo:hi].mean()) if hi > lo else math.nan

    def motion_fraction(self, start_s: float, end_s: float) -> float:
        """Fraction of PPG samples in [start_s, end_s) inside a motion episode."""
        lo, hi = round(start_s * self.ppg_rate), round(end_s * self.ppg_rate)
        seg = self.motion_mask[max(0, lo) : max(0, hi)]
        return float(seg.mean()) if len(seg) else math.nan


# --- beat series -----------------------------------------------------------------------------------


def _rr_series(
    rng: np.random.Generator,
    n: int,
    rr0: float,
    rhythm: Rhythm,
    hrv: float,
    resp_hz: float,
) -> np.ndarray:
    if rhythm == "af":
        sigma = 0.2
        rr = rr0 * rng.lognormal(-0.5 * sigma**2, sigma, n)
        return np.clip(rr, 0.25, 2.0)
    # Sinus: RSA + Mayer wave + AR(1) noise, mixed to a standard deviation of hrv * rr0.
    t = np.cumsum(np.full(n, rr0))
    rsa = np.sin(2 * np.pi * resp_hz * t + rng.uniform(0, 2 * np.pi))
    mayer = np.sin(2 * np.pi * 0.1 * t + rng.uniform(0, 2 * np.pi))
    ar = sps.lfilter([0.6], [1.0, -0.8], rng.standard_normal(n))  # AR(1), pole 0.8
    mix = 0.5 * rsa + 0.4 * mayer + 0.5 * ar
    mix /= max(float(mix.std()), 1e-12)
    return np.clip(rr0 * (1 + hrv * mix), 0.25, 2.0)


def _add_ectopics(rng: np.random.Generator, rr: np.ndarray, rr0: float, rate: float) -> np.ndarray:
    """Mark premature beats; shorten their RR and lengthen the next (compensatory pause)."""
    ectopic = np.zeros(len(rr), dtype=bool)
    if rate <= 0:
        return ectopic
    candidates = np.flatnonzero(rng.random(len(rr)) < rate)
    for i in candidates:
        if 0 < i < len(rr) - 1 and not ectopic[i - 1]:
            ectopic[i] = True
            total = rr[i] + rr[i + 1]
            rr[i] = max(0.25, 0.6 * rr0)
            rr[i + 1] = max(0.25, total - rr[i])
    return ectopic


# --- waveform synthesis ----------------------------------------------------------------------------


def _beat_sum(
    n: int,
    fs: float,
    anchors: np.ndarray,
    centres: np.ndarray,
    amps: np.ndarray,
    widths: np.ndarray,
) -> np.ndarray:
    """Render Gaussian waves of every beat onto ``n`` samples at ``fs`` (Hz).

    Wave ``w`` of beat ``b`` is centred at ``anchors[b] + centres[b, w]`` (s) with amplitude
    ``amps[b, w]`` and width ``widths[b, w]`` (s); each is evaluated only within 5 widths of its
    centre (where it is above 4e-6 of its peak), which keeps the cost per beat, not per sample.
    """
    out = np.zeros(n)
    for w in range(centres.shape[1]):
        centre = (anchors + centres[:, w]) * fs  # in samples
        sigma = widths[:, w] * fs
        lo = np.clip(np.ceil(centre - 5 * sigma), 0, n).astype(np.int64)
        hi = np.clip(np.floor(centre + 5 * sigma) + 1, 0, n).astype(np.int64)
        length = np.maximum(hi - lo, 0)
        total = int(length.sum())
        if total == 0:
            continue
        beat = np.repeat(np.arange(len(centre)), length)
        idx = np.arange(total) - np.repeat(np.cumsum(length) - length, length) + lo[beat]
        z = (idx - centre[beat]) / sigma[beat]
        out += np.bincount(idx, amps[beat, w] * np.exp(-0.5 * z * z), minlength=n)
    return out


def _sinusoids(t: np.ndarray, freqs: np.ndarray, amps: np.ndarray, phases: np.ndarray) -> np.ndarray:
    return (amps[None, :] * np.sin(2 * np.pi * t[:, None] * freqs[None, :] + phases[None, :])).sum(axis=1)


def _ecg(
    n_samples: int,
    fs: float,
    r: np.ndarray,
    rr: np.ndarray,
    ectopic: np.ndarray,
    rhythm: Rhythm,
    rng: np.random.Generator,
    resp_hz: float,
) -> np.ndarray:
    n = len(r)
    s = np.sqrt(rr)  # QT scales with sqrt(RR) (Bazett)
    #                  P       Q       R      S      T
    centres = np.tile([-0.16, -0.03, 0.0, 0.03, 0.0], (n, 1))
    centres[:, 4] = 0.28 * s
    amps = np.tile([0.12, -0.12, 1.2, -0.25, 0.3], (n, 1))
    widths = np.tile([0.025, 0.010, 0.011, 0.011, 0.0], (n, 1))
    widths[:, 4] = 0.055 * s
    amps[:, 2] *= 1 + 0.05 * np.sin(2 * np.pi * resp_hz * r) + 0.02 * rng.standard_normal(n)
    if rhythm == "af":
        amps[:, 0] = 0.0
    pvc = ectopic
    amps[pvc] = [0.0, -0.1, 1.6, -0.6, -0.4]
    widths[pvc] = [0.025, 0.02, 0.03, 0.035, 0.08]
    centres[pvc, 1] = -0.05
    centres[pvc, 3] = 0.07
    return _beat_sum(n_samples, fs, r, centres, amps, widths)


def _ppg_pulses(
    n_samples: int,
    fs: float,
    onsets: np.ndarray,
    rr: np.ndarray,
    ectopic: np.ndarray,
    rhythm: Rhythm,
    rng: np.random.Generator,
    resp_hz: float,
    rr0: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The pulse waves and the systolic-peak offset of each beat after its onset."""
    n = len(onsets)
    s = np.minimum(1.0, np.sqrt(rr / 0.85))  # pulses get narrower at high heart rate
    rise = 0.12 * s
    centres = np.stack([rise, rise + 0.21 * s], axis=1)
    widths = np.stack([0.05 * s, 0.09 * s], axis=1)
    volume = np.clip(rr / rr0, 0.5, 1.5) ** 0.5  # longer filling, larger stroke volume
    volume *= 1 + 0.1 * np.sin(2 * np.pi * resp_hz * onsets)  # respiratory amplitude modulation
    if rhythm == "af":
        volume *= rng.uniform(0.8, 1.1, n)
    volume[ectopic] *= 0.35
    reflection = 0.45 + 0.05 * rng.standard_normal(n)
    amps = np.stack([volume, volume * reflection], axis=1)
    return _beat_sum(n_samples, fs, onsets, centres, amps, widths), rise


def _motion_episodes(rng: np.random.Generator, duration: float, fraction: float) -> list[tuple[float, float]]:
    if fraction <= 0:
        return []
    if fraction >= 1:
        return [(-_MARGIN_S, duration + _MARGIN_S)]
    episodes, t = [], -_MARGIN_S
    mean_move = 20.0
    mean_rest = mean_move * (1 - fraction) / fraction
    moving = rng.random() < fraction
    while t < duration:
        length = rng.exponential(mean_move if moving else mean_rest) + 1.0
        if moving:
            episodes.append((t, t + length))
        t += length
        moving = not moving
    return episodes


def _motion(
    t: np.ndarray,
    episodes: list[tuple[float, float]],
    intensity: float,
    cadence: float | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dynamic acceleration (n, 3) in g, the PPG artefact (n,), and the episode envelope (n,)."""
    acc = np.zeros((len(t), 3))
    artefact = np.zeros(len(t))
    envelope = np.zeros(len(t))
    ramp = 0.5  # s, raised-cosine fade in/out
    for start, end in episodes:
        # Draw the episode's parameters first: the same seed gives the same motion at every rate.
        steps_hz = rng.uniform(1.5, 2.5) if cadence is None else cadence
        phase0 = rng.uniform(0, 2 * np.pi)
        # Arm swing at half the cadence, step impacts at the cadence and two harmonics; per axis.
        offsets = rng.uniform(0, 2 * np.pi, (4, 3))
        weights = np.array([0.25, 0.2, 0.08, 0.03])[:, None] * rng.uniform(0.5, 1.5, (4, 3))
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        sel = (t >= start) & (t < end)
        if not sel.any():
            continue
        ts = t[sel]
        env = np.clip(np.minimum(ts - start, end - ts) / ramp, 0, 1)
        env = 0.5 - 0.5 * np.cos(np.pi * env)
        phase = 2 * np.pi * steps_hz * ts + phase0
        dyn = np.zeros((len(ts), 3))
        for h, mult in enumerate((0.5, 1, 2, 3)):
            dyn += weights[h] * np.sin(mult * phase[:, None] + offsets[h])
        dyn *= env[:, None] * min(1.0, 0.3 + 0.7 * intensity)
        linear = dyn @ direction
        scale = 1.0 / max(float(np.std(linear)), 1e-9)
        unit = linear * scale  # the sensor-skin coupling: linear plus a quadratic term
        art = (unit + 0.3 * (unit**2 - 1)) * env
        acc[sel] = dyn
        artefact[sel] = intensity * 0.35 * art
        envelope[sel] = env
    return acc, artefact, envelope


def _drift(duration: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Slow random wander: a few sinusoids between 0.02 and 0.2 Hz with unit standard deviation,
    on a 10 Hz grid (interpolate it to each signal's times)."""
    k = 4
    freqs = rng.uniform(0.02, 0.2, k)
    amps = rng.uniform(0.5, 1.0, k)
    amps *= math.sqrt(2) / np.linalg.norm(amps)
    grid = np.arange(math.ceil(duration * 10) + 2) / 10
    return grid, _sinusoids(grid, freqs, amps, rng.uniform(0, 2 * np.pi, k))


# --- public entry point ----------------------------------------------------------------------------


def _check_range(name: str, value: float, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= float(value) <= hi:
        raise InvalidParameterError(name, value, f"a number in [{lo:g}, {hi:g}]")
    return float(value)


def simulate(
    duration_s: float,
    *,
    heart_rate: float = 70.0,
    hrv: float = 0.05,
    rhythm: Rhythm = "sinus",
    ectopic_rate: float = 0.0,
    ppg_rate: float = 125.0,
    ecg_rate: float = 500.0,
    noise: float = 0.02,
    baseline_wander: float = 0.1,
    motion: float = 0.0,
    motion_fraction: float = 0.5,
    cadence: float | None = None,
    respiratory_rate: float = 15.0,
    powerline: float = 0.0,
    powerline_hz: Literal[50, 60] = 50,
    seed: int = 0,
) -> Simulation:
    """Simulate synchronized PPG, ECG and wrist acceleration from one RR series.

    Args:
        duration_s: length (s), up to 24 h.
        heart_rate: mean heart rate (bpm), 30-220.
        hrv: sinus-rhythm RR standard deviation as a fraction of the mean RR (0.05 = 5 %), 0-0.3.
        rhythm: ``"sinus"`` or ``"af"`` (atrial fibrillation; ``hrv`` is then not used).
        ectopic_rate: fraction of beats that are premature ventricular beats, 0-0.3.
        ppg_rate: PPG and accelerometer rate (Hz), at least 10.
        ecg_rate: ECG rate (Hz), at least 50.
        noise: white sensor noise, standard deviation relative to the pulse (PPG) / in mV (ECG).
        baseline_wander: amplitude of respiratory and slow baseline drift (PPG units / mV).
        motion: motion-artefact intensity (0 = none; 1 = artefact about as large as the pulse).
        motion_fraction: expected fraction of the recording inside motion episodes (0-1).
        cadence: step rate during motion (steps per second, 0.5-4); None draws 1.5-2.5 per episode.
        respiratory_rate: breaths per minute (drives RSA, amplitude and baseline modulation).
        powerline: amplitude of mains interference on the ECG (mV).
        powerline_hz: mains frequency (Hz).
        seed: random seed; equal arguments give identical output.

    Returns:
        The :class:`Simulation`.

    Raises:
        InvalidParameterError: a parameter is outside its range, or a rate times ``duration_s``
            exceeds :data:`MAX_SAMPLES_PER_CHANNEL`.
        UnsupportedRateError: a rate is too low or not a finite number.

    Example:
        >>> import anyppg
        >>> sim = anyppg.simulate(60, heart_rate=80, ppg_rate=64.0, seed=7)
        >>> sim.ppg.shape, sim.ecg.shape, sim.acc.shape, round(sim.heart_rate)
        ((3840,), (30000,), (3840, 3), 80)
    """
    duration = _check_range("duration_s", duration_s, 0, 86_400)
    if duration <= 0:
        raise InvalidParameterError("duration_s", duration_s, "a positive number of seconds")
    hr0 = _check_range("heart_rate", heart_rate, 30, 220)
    hrv = _check_range("hrv", hrv, 0, 0.3)
    if rhythm not in ("sinus", "af"):
        raise InvalidParameterError("rhythm", rhythm, "'sinus' or 'af'")
    ectopic_rate = _check_range("ectopic_rate", ectopic_rate, 0, 0.3)
    fs_ppg = check_rate(ppg_rate, what="simulated PPG", at_least=10.0)
    fs_ecg = check_rate(ecg_rate, what="simulated ECG", at_least=50.0)
    noise = _check_range("noise", noise, 0, 10)
    baseline_wander = _check_range("baseline_wander", baseline_wander, 0, 100)
    motion = _check_range("motion", motion, 0, 10)
    motion_fraction = _check_range("motion_fraction", motion_fraction, 0, 1)
    if cadence is not None:
        cadence = _check_range("cadence", cadence, 0.5, 4.0)
    resp_hz = _check_range("respiratory_rate", respiratory_rate, 4, 60) / 60
    powerline = _check_range("powerline", powerline, 0, 10)
    if powerline_hz not in (50, 60):
        raise InvalidParameterError("powerline_hz", powerline_hz, "50 or 60")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidParameterError("seed", seed, "an integer >= 0")
    for what, rate in (("ppg_rate", fs_ppg), ("ecg_rate", fs_ecg)):
        if rate * duration > MAX_SAMPLES_PER_CHANNEL:
            raise InvalidParameterError(
                f"{what} x duration_s",
                f"{rate:g} Hz x {duration:g} s = {rate * duration:.3g} samples",
                f"at most {MAX_SAMPLES_PER_CHANNEL:.3g} samples per channel "
                f"(at {rate:g} Hz: {MAX_SAMPLES_PER_CHANNEL / rate:.0f} s)",
            )
    params = {
        "duration_s": duration, "heart_rate": hr0, "hrv": hrv, "rhythm": rhythm,
        "ectopic_rate": ectopic_rate, "ppg_rate": fs_ppg, "ecg_rate": fs_ecg, "noise": noise,
        "baseline_wander": baseline_wander, "motion": motion, "motion_fraction": motion_fraction, "cadence": cadence,
        "respiratory_rate": resp_hz * 60, "powerline": powerline, "powerline_hz": powerline_hz,
        "seed": int(seed),
    }  # fmt: skip
    # Physiology draws come from one generator, per-sample white noise from another, so the same
    # seed gives the same beats, pulses and motion at every sampling rate.
    rng, noise_rng = np.random.default_rng(int(seed)).spawn(2)

    # Beats: an RR series covering [-margin, duration + margin].
    rr0 = 60.0 / hr0
    n_beats = math.ceil((duration + 2 * _MARGIN_S) / 0.25) + 2 if rhythm == "af" else 0
    n_beats = n_beats or math.ceil((duration + 2 * _MARGIN_S) / (rr0 * (1 - 3 * hrv)) * 1.1) + 4
    rr = _rr_series(rng, n_beats, rr0, rhythm, hrv, resp_hz)
    ectopic = _add_ectopics(rng, rr, rr0, ectopic_rate)
    r = -_MARGIN_S - rng.uniform(0, rr0) + np.cumsum(rr)
    while r[-1] < duration + _MARGIN_S:  # rare: irregular rhythm used up the beats
        more = _rr_series(rng, n_beats, rr0, rhythm, hrv, resp_hz)
        r = np.concatenate([r, r[-1] + np.cumsum(more)])
        rr = np.concatenate([rr, more])
        ectopic = np.concatenate([ectopic, np.zeros(len(more), dtype=bool)])
    pat = 0.20 + 0.08 * np.clip(rr, 0.3, 1.5) + 0.005 * rng.standard_normal(len(r))  # pulse arrival (s)
    onsets = r + pat

    t_ecg = np.arange(round(duration * fs_ecg)) / fs_ecg
    t_ppg = np.arange(round(duration * fs_ppg)) / fs_ppg

    # ECG: beats + fibrillatory waves + respiration/drift + mains + noise.
    ecg = _ecg(len(t_ecg), fs_ecg, r, rr, ectopic, rhythm, rng, resp_hz)
    if rhythm == "af":
        fw = rng.uniform(4, 8, 3)
        ecg += _sinusoids(t_ecg, fw, rng.uniform(0.03, 0.06, 3), rng.uniform(0, 2 * np.pi, 3))
    resp_phase = rng.uniform(0, 2 * np.pi)
    drift_t, drift = _drift(duration, rng)
    wander = np.sin(2 * np.pi * resp_hz * t_ecg + resp_phase) + np.interp(t_ecg, drift_t, drift)
    ecg += baseline_wander * wander
    if powerline:
        ecg += powerline * np.sin(2 * np.pi * powerline_hz * t_ecg + rng.uniform(0, 2 * np.pi))
    ecg += noise * noise_rng.standard_normal(len(t_ecg))

    # PPG: pulses; motion artefact; respiration/drift; noise. Acc: gravity + motion + sensor noise.
    pulses, rise = _ppg_pulses(len(t_ppg), fs_ppg, onsets, rr, ectopic, rhythm, rng, resp_hz, rr0)
    episodes = _motion_episodes(rng, duration, motion_fraction) if motion > 0 else []
    dyn, artefact, envelope = _motion(t_ppg, episodes, motion, cadence, rng)
    acc = dyn + np.array([0.0, 0.0, 1.0]) + 0.005 * noise_rng.standard_normal((len(t_ppg), 3))
    sensor_noise = noise * noise_rng.standard_normal(len(t_ppg))
    wander = np.sin(2 * np.pi * resp_hz * t_ppg + resp_phase) + np.interp(t_ppg, drift_t, drift)
    ppg = pulses + artefact + baseline_wander * wander + sensor_noise

    # Quality: per-second pulse power against artefact power (drift excluded: filtering removes it).
    n_sec = math.ceil(duration)
    sec = np.minimum((t_ppg).astype(np.int64), n_sec - 1)
    centred = pulses - pulses.mean() if len(pulses) else pulses
    p_pulse = np.bincount(sec, centred**2, minlength=n_sec)
    p_art = np.bincount(sec, (artefact + sensor_noise) ** 2, minlength=n_sec)
    quality = np.where(p_pulse + p_art > 0, p_pulse / np.maximum(p_pulse + p_art, 1e-300), 0.0)

    inside = (r >= 0) & (r < duration)
    systolic = onsets + rise
    r_in, rr_in = r[inside], rr[inside]
    return Simulation(
        ppg=ppg,
        ppg_rate=fs_ppg,
        ecg=ecg,
        ecg_rate=fs_ecg,
        acc=acc,
        r_peaks=r_in,
        rr=rr_in,
        ectopic=ectopic[inside],
        pulse_onsets=onsets[inside],
        pulse_peaks=onsets[inside] + rise[inside],
        ppg_peaks=systolic[(systolic >= 0) & (systolic < duration)],
        heart_rate=float(60.0 / rr_in.mean()) if len(rr_in) else float(hr0),
        hr=60.0 / rr_in,
        rhythm=rhythm,
        motion_mask=envelope > 0.05,
        quality=quality,
        respiratory_rate=resp_hz * 60,
        duration_s=duration,
        seed=int(seed),
        params=params,
    )
