"""PPG-only heart-rate tracking against sub- and super-harmonic lock: beat-interval evidence in both
trackers, a classic tracker that is not pulled onto a harmonic by a detector that doubles beats, and
an accelerometer path left exactly as it was."""

from __future__ import annotations

import numpy as np
import pytest

import anyppg
from anyppg import recordings
from anyppg.signal import HeartRateTracker, PPGSegment, preprocess_recording
from anyppg.signal._checks import InvalidParameterError
from anyppg.signal.heart_rate import beat_evidence
from anyppg.signal.motion_hr import MotionHeartRateTracker, MotionTrackerConfig, track_heart_rate
from anyppg.signal.peaks import drop_minor_peaks

FS = 125.0
AVAILABLE = [r.name for r in recordings.list_recordings() if r.available]


def _pulse_train(beats_s: np.ndarray, seconds: float, amplitude: np.ndarray | None = None) -> np.ndarray:
    """Narrow Gaussian pulses (sd 60 ms) at ``beats_s``, sampled at :data:`FS`, plus a little noise."""
    t = np.arange(round(seconds * FS)) / FS
    amp = np.ones(len(beats_s)) if amplitude is None else amplitude
    x = (amp[:, None] * np.exp(-0.5 * ((t[None, :] - beats_s[:, None]) / 0.06) ** 2)).sum(axis=0)
    return x + 0.02 * np.random.default_rng(0).standard_normal(len(t))


def test_beat_evidence_rate_and_regularity() -> None:
    regular = _pulse_train(np.arange(0.3, 10, 0.75), 10.0)  # 80 bpm
    bpm, regularity = beat_evidence(regular - regular.mean(), FS)
    assert bpm == pytest.approx(80, abs=0.5)
    assert regularity == 1.0
    beats = np.arange(0.3, 10, 0.75)
    skipped = _pulse_train(np.delete(beats, [3, 4, 8]), 10.0)  # three beats lost: two long intervals
    bpm, regularity = beat_evidence(skipped - skipped.mean(), FS)
    assert bpm == pytest.approx(80, abs=1)
    assert regularity == pytest.approx(7 / 9)  # 9 intervals, the 2 long ones irregular
    assert beat_evidence(np.zeros(1250), FS) == (pytest.approx(np.nan, nan_ok=True), 0.0)


def test_motion_tracker_without_acc_is_causal() -> None:
    sim = anyppg.simulate(60.0, heart_rate=70, ppg_rate=FS, seed=2)
    full = track_heart_rate(sim.ppg, FS, None)
    head = track_heart_rate(sim.ppg[: round(30 * FS)], FS, None)
    np.testing.assert_array_equal(full.bpm[: len(head.bpm)], head.bpm)


def test_beat_evidence_leaves_the_accelerometer_path_unchanged() -> None:
    """With an accelerometer the beat settings have no effect (TROIKA / BAMI-I results unchanged)."""
    rng = np.random.default_rng(3)
    t = np.arange(round(40 * 50.0)) / 50.0
    pulse = np.sin(2 * np.pi * 1.8 * t) + 0.3 * np.sin(2 * np.pi * 3.6 * t)
    acc = np.stack([0.4 * np.sin(2 * np.pi * 2.7 * t), 0.2 * np.sin(2 * np.pi * 1.35 * t), 1 + 0 * t])
    ppg = pulse + 2 * acc[0] + 0.1 * rng.standard_normal(len(t))
    on = track_heart_rate(ppg, 50.0, acc)
    off = track_heart_rate(ppg, 50.0, acc, config=MotionTrackerConfig(beat_weight=0.0))
    np.testing.assert_array_equal(on.bpm, off.bpm)
    np.testing.assert_array_equal(on.confidence, off.confidence)


@pytest.mark.parametrize("rate", [25.0, 125.0])
def test_classic_tracker_is_not_pulled_to_twice_a_slow_pulse(rate: float) -> None:
    """At 45 bpm the simulator's dicrotic wave makes the beat detector count some beats twice (irregular
    intervals around 90 bpm); the classic tracker stays on the pulse (it jumped to ~90 before)."""
    sim = anyppg.simulate(120.0, heart_rate=45.0, ppg_rate=rate, seed=6)
    tracker = HeartRateTracker()
    errors = []
    for w in preprocess_recording(sim.ppg, rate, acc=sim.acc):
        bpm = tracker.update(w.filtered, w.acc)
        errors.append(abs(bpm - sim.mean_heart_rate(w.end_s - 8.0, w.end_s)))
    assert np.mean(errors) < 3.0
    assert np.max(errors) < 10.0


@pytest.mark.parametrize("rate", [40.0, 45.0, 50.0, 55.0])
def test_motion_tracker_is_not_pushed_to_twice_a_pulse_with_a_dicrotic_hump(rate: float) -> None:
    """A hump of 0.3 of the beat's height just after mid-beat: peak-to-peak intervals alternate
    within 15 % of one another at twice the rate, regular enough to read as beats there, so the
    harmonic penalty used to push the track onto twice the rate. Leaving out the minor peaks keeps
    it on the pulse; with every peak kept (``minor_peak_share=0``) it goes up as before."""
    period = 60 / rate
    beats = np.arange(0.3, 60, period)
    both = np.sort(np.concatenate([beats, beats + 0.55 * period]))
    x = _pulse_train(both, 60.0, np.where(np.isin(both, beats), 1.0, 0.3))
    on = track_heart_rate(x, FS, None).bpm[3:]
    off = track_heart_rate(x, FS, None, config=MotionTrackerConfig(minor_peak_share=0.0)).bpm[3:]
    assert np.abs(on - rate).max() < 1.0
    assert np.median(off) == pytest.approx(2 * rate, abs=1.0)


@pytest.mark.parametrize(("rate", "tolerance"), [(40.0, 0.6), (215.0, 0.6), (220.0, 1.5)])
def test_motion_tracker_reads_the_ends_of_its_range(rate: float, tolerance: float) -> None:
    """The grid runs 40-220 bpm and the estimate's local mean stays symmetric at its ends: a pulse at
    the end is read there, not pulled inwards (40 read as 41, 220 as 209 before; 220 bpm beats are
    at the peak detector's shortest interval, so the track may sit one bin below)."""
    beats = np.arange(0.3, 60, 60 / rate)
    bpm = track_heart_rate(_pulse_train(beats, 60.0), FS, None).bpm[3:]
    assert np.abs(bpm - rate).max() < tolerance


def test_drop_minor_peaks_keeps_every_beat_of_a_varying_pulse() -> None:
    x = np.zeros(1000)
    peaks = np.arange(50, 1000, 100)
    x[peaks] = 1.0 + 0.4 * np.sin(np.arange(len(peaks)))  # heights 0.66-1.4: breathing, not humps
    np.testing.assert_array_equal(drop_minor_peaks(x, peaks), peaks)
    x[peaks[4]] = 0.2  # one weak beat between two strong ones (an ectopic beat): kept
    np.testing.assert_array_equal(drop_minor_peaks(x, peaks), peaks)
    np.testing.assert_array_equal(drop_minor_peaks(x, peaks, every_other=0.1), np.delete(peaks, 4))
    assert drop_minor_peaks(x, peaks[:1]).tolist() == [50]
    assert drop_minor_peaks(x, np.array([], dtype=np.int64)).tolist() == []
    x[peaks[4]] = 1.0
    x[peaks[-1]] = 0.1  # the last peak, weak: a beat cut off by the segment's end
    np.testing.assert_array_equal(drop_minor_peaks(x, peaks), peaks)
    np.testing.assert_array_equal(drop_minor_peaks(x, peaks, ends=True), peaks[:-1])


def test_a_slow_regular_pulse_reads_regular_beats_at_its_rate() -> None:
    """The window's beat regularity (``beat_regularity``, which ``af_alert`` needs under 0.95) and
    beat-by-beat rate read a 50 bpm pulse with a dicrotic hump as regular beats at 50 bpm, not as
    alternating intervals at twice the rate."""
    period = 60 / 50.0
    beats = np.arange(0.3, 10, period)
    both = np.sort(np.concatenate([beats, beats + 0.55 * period]))
    x = _pulse_train(both, 10.0, np.where(np.isin(both, beats), 1.0, 0.3))
    seg = PPGSegment(x, FS)
    assert len(seg.beat_peaks) < len(seg.cleaned_peaks)
    regularity, rate = seg.cleaned_beats
    assert regularity == 1.0
    assert rate == pytest.approx(50.0, abs=0.5)


def test_config_checks_the_beat_parameters() -> None:
    for name in ("beat_regularity", "harmonic_penalty", "minor_peak_share"):
        with pytest.raises(InvalidParameterError, match=name):
            MotionTrackerConfig(**{name: 1.0})
    with pytest.raises(InvalidParameterError, match="beat_weight"):
        MotionTrackerConfig(beat_weight=-1.0)


@pytest.mark.skipif("vitaldsp-pleth" not in AVAILABLE, reason="vitaldsp not installed")
def test_pulse_oximeter_pleth_is_not_tracked_at_a_sub_harmonic() -> None:
    """vitaldsp's pulse-oximeter pleth (device HR ~124 bpm) has gaps of no pulse after which both
    trackers used to lock onto a third or half of the rate (MAE 23 and 26 bpm against the device)."""
    rec = recordings.load("vitaldsp-pleth")
    t, hr = rec.hr_t, rec.hr_bpm
    classic, motion = HeartRateTracker(), MotionHeartRateTracker(FS)
    errors: dict[str, list[float]] = {"classic": [], "motion": []}
    for w in preprocess_recording(rec.ppg, float(rec.ppg_fs)):
        sel = (t >= w.end_s - 8.0) & (t < w.end_s) & np.isfinite(hr) & (hr > 0)
        a = classic.update(w.filtered)
        b = motion.update(w.filtered, None).bpm
        if sel.any():
            errors["classic"].append(abs(a - hr[sel].mean()))
            errors["motion"].append(abs(b - hr[sel].mean()))
    assert np.mean(errors["motion"]) < 12.0
    assert np.mean(errors["classic"]) < 15.0
