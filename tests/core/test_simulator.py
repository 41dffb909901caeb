"""The simulator: deterministic, physiologically consistent, labels exact."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import signal as sps

import anyppg
from anyppg.simulator import Simulation

sim = functools.lru_cache(anyppg.simulate)


def test_is_reexported_lazily_from_the_package():
    assert anyppg.simulate is anyppg.simulator.simulate


def test_same_seed_same_output_other_seed_other_output():
    a = anyppg.simulate(20.0, motion=1.0, ectopic_rate=0.1, seed=3)
    b = anyppg.simulate(20.0, motion=1.0, ectopic_rate=0.1, seed=3)
    c = anyppg.simulate(20.0, motion=1.0, ectopic_rate=0.1, seed=4)
    for name in ("ppg", "ecg", "acc", "r_peaks", "pulse_peaks", "quality"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.ecg, c.ecg)
    assert a.params["seed"] == 3 and a.params["motion"] == 1.0


@pytest.mark.parametrize(
    ("ppg_rate", "ecg_rate"), [(125.0, 500.0), (25.0, 130.0), (64.0, 1000.0), (2048.0, 2048.0)]
)
def test_shapes_and_label_ranges(ppg_rate, ecg_rate):
    s = sim(12.5, ppg_rate=ppg_rate, ecg_rate=ecg_rate, seed=1)
    assert isinstance(s, Simulation)
    assert s.ppg.shape == (round(12.5 * ppg_rate),) and s.acc.shape == (len(s.ppg), 3)
    assert s.ecg.shape == (round(12.5 * ecg_rate),)
    assert s.motion_mask.shape == s.ppg.shape and s.quality.shape == (13,)
    assert len(s.r_peaks) == len(s.rr) == len(s.hr) == len(s.pulse_peaks) == len(s.ectopic)
    assert (s.r_peaks >= 0).all() and (s.r_peaks < 12.5).all() and (np.diff(s.r_peaks) > 0).all()
    assert np.allclose(s.ppg_time[-1], (len(s.ppg) - 1) / ppg_rate)


def test_the_same_seed_gives_the_same_physiology_at_every_rate():
    a, b = sim(20.0, ppg_rate=125.0, seed=2), sim(20.0, ppg_rate=64.0, ecg_rate=250.0, seed=2)
    np.testing.assert_array_equal(a.r_peaks, b.r_peaks)
    np.testing.assert_array_equal(a.pulse_peaks, b.pulse_peaks)


@pytest.mark.parametrize("bpm", [35.0, 60.0, 100.0, 150.0, 210.0])
def test_heart_rate_label_is_the_requested_rate_and_consistent_with_rr(bpm):
    s = sim(120.0, heart_rate=bpm, seed=5)
    assert s.heart_rate == pytest.approx(bpm, rel=0.04)
    np.testing.assert_allclose(np.diff(s.r_peaks), s.rr[1:], atol=1e-12)  # rr ends at each R peak
    np.testing.assert_allclose(s.hr, 60.0 / s.rr)
    assert s.mean_heart_rate(0.0, 120.0) == pytest.approx(s.heart_rate)


def test_hrv_and_rhythm_irregularity():
    still = sim(300.0, hrv=0.0, seed=6)
    sinus = sim(300.0, hrv=0.05, seed=6)
    af = sim(300.0, rhythm="af", seed=6)
    assert np.std(still.rr) == pytest.approx(0.0, abs=1e-12)
    assert np.std(sinus.rr) / np.mean(sinus.rr) == pytest.approx(0.05, rel=0.35)
    cv_af = np.std(af.rr) / np.mean(af.rr)
    assert cv_af > 0.15
    # AF is irregular beat to beat; sinus HRV is smooth (RSA, Mayer waves).
    rmssd = lambda rr: np.sqrt(np.mean(np.diff(rr) ** 2)) / np.mean(rr)  # noqa: E731
    assert rmssd(af.rr) > 4 * rmssd(sinus.rr)
    # Respiratory sinus arrhythmia: the RR spectrum peaks at the breathing rate.
    f, p = sps.periodogram(sinus.rr - sinus.rr.mean(), fs=1 / sinus.rr.mean())
    resp = sinus.respiratory_rate / 60
    assert abs(f[np.argmax(p)] - resp) < 0.05 or abs(f[np.argmax(p)] - 0.1) < 0.03  # RSA or Mayer


def test_af_has_no_p_waves_but_fibrillatory_waves():
    sinus = sim(60.0, noise=0.0, baseline_wander=0.0, seed=7)
    af = sim(60.0, rhythm="af", noise=0.0, baseline_wander=0.0, seed=7)

    def p_wave_amplitude(s):
        idx = np.round((s.r_peaks - 0.16) * s.ecg_rate).astype(int)
        idx = idx[(idx > 0) & (idx < len(s.ecg))]
        return float(np.median(s.ecg[idx]))

    assert p_wave_amplitude(sinus) > 0.08
    assert abs(p_wave_amplitude(af)) < 0.05

    def tq_activity(s):
        """Median standard deviation of the ECG between T-wave end and the next P wave (mV)."""
        stds = []
        for r0, r1 in zip(s.r_peaks[:-1], s.r_peaks[1:], strict=True):
            if r1 - r0 > 0.8:
                a, b = round((r0 + 0.5) * s.ecg_rate), round((r1 - 0.25) * s.ecg_rate)
                stds.append(np.std(s.ecg[a:b]))
        return float(np.median(stds))

    assert tq_activity(af) > 0.02 > 0.01 > tq_activity(sinus)


def test_ectopic_beats_are_premature_with_a_compensatory_pause_and_a_small_pulse():
    s = sim(300.0, ectopic_rate=0.1, noise=0.0, baseline_wander=0.0, hrv=0.0, seed=8)
    frac = s.ectopic.mean()
    assert 0.05 < frac < 0.15
    idx = np.flatnonzero(s.ectopic)
    idx = idx[idx < len(s.rr) - 1]
    rr0 = 60.0 / 70.0
    np.testing.assert_allclose(s.rr[idx], 0.6 * rr0, rtol=1e-9)
    np.testing.assert_allclose(s.rr[idx] + s.rr[idx + 1], 2 * rr0, rtol=1e-9)
    amp = s.ppg[np.round(s.pulse_peaks * s.ppg_rate).astype(int).clip(0, len(s.ppg) - 1)]
    assert np.median(amp[s.ectopic]) < 0.6 * np.median(amp[~s.ectopic])


def test_labels_sit_on_the_waveforms():
    s = sim(30.0, noise=0.0, baseline_wander=0.0, hrv=0.08, seed=9)
    # Each R label is the ECG maximum within +-50 ms.
    for r in s.r_peaks[1:-1]:
        i = round(r * s.ecg_rate)
        seg = s.ecg[i - 25 : i + 26]
        assert abs(int(np.argmax(seg)) - 25) <= 1
    # Each pulse peak label is the PPG maximum within +-100 ms, one arrival time after its R peak.
    delay = s.pulse_peaks - s.r_peaks
    assert ((delay > 0.25) & (delay < 0.5)).all()
    assert (s.pulse_onsets > s.r_peaks).all() and (s.pulse_onsets < s.pulse_peaks).all()
    for p in s.pulse_peaks[1:-1]:
        i = round(p * s.ppg_rate)
        seg = s.ppg[i - 12 : i + 13]
        assert abs(int(np.argmax(seg)) - 12) <= 2


def test_motion_drives_the_accelerometer_and_leaks_into_the_ppg():
    s = sim(120.0, motion=1.0, motion_fraction=1.0, cadence=2.0, seed=10)
    rest = sim(120.0, seed=10)
    dyn = s.acc - s.acc.mean(axis=0)
    f, p = sps.welch(dyn, s.ppg_rate, nperseg=2048, axis=0)
    total = p.sum(axis=1)
    peaks = f[sps.find_peaks(total, height=0.1 * total.max())[0]]
    assert np.min(np.abs(peaks - 2.0)) < 0.1 and np.min(np.abs(peaks - 1.0)) < 0.1  # steps, arm swing
    assert np.allclose(rest.acc.mean(axis=0), [0, 0, 1], atol=0.01)  # gravity only at rest
    _, p_ppg = sps.welch(s.ppg, s.ppg_rate, nperseg=2048)
    _, p_rest = sps.welch(rest.ppg, rest.ppg_rate, nperseg=2048)
    at_cadence = np.argmin(np.abs(f - 2.0))
    assert p_ppg[at_cadence] > 10 * p_rest[at_cadence]
    assert s.motion_mask.all() and not rest.motion_mask.any()
    assert s.quality.mean() < 0.6 < rest.quality.mean()


def test_motion_episodes_cover_about_the_requested_fraction():
    s = sim(1200.0, motion=1.0, motion_fraction=0.3, seed=11)
    assert 0.15 < s.motion_mask.mean() < 0.45
    moving = s.motion_fraction(0.0, 1200.0)
    assert moving == pytest.approx(s.motion_mask.mean())
    seconds = np.arange(len(s.quality))
    moving_s = np.array([s.motion_fraction(t, t + 1) > 0.9 for t in seconds])
    still_s = np.array([s.motion_fraction(t, t + 1) == 0 for t in seconds])
    assert s.quality[moving_s].mean() < 0.7 < s.quality[still_s].mean()


def test_powerline_interference_on_the_ecg():
    s = sim(20.0, powerline=0.2, powerline_hz=60, seed=12)
    f, p = sps.periodogram(s.ecg, s.ecg_rate)
    assert abs(f[np.argmax(np.where(f > 20, p, 0))] - 60.0) < 0.1


def test_very_short_and_long_durations():
    assert len(anyppg.simulate(0.5, seed=1).ppg) == 62
    s = anyppg.simulate(0.5, heart_rate=30.0, seed=1)  # possibly no beat inside
    assert np.isfinite(s.heart_rate)
