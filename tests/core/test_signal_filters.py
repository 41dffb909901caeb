"""PPG band-pass and ECG filter: frequency response, zero-phase vs causal, streaming state."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import signal as sps

import anyppg
from anyppg.signal import PPGBandpass, ecg_clean, ecg_sos, ppg_bandpass_sos, ppg_clean

sim = functools.lru_cache(anyppg.simulate)  # the simulator is the oracle; results are read-only


def _gain_db(sos: np.ndarray, freq_hz: float, fs: float) -> float:
    _, h = sps.sosfreqz(sos, worN=[freq_hz], fs=fs)
    return float(20 * np.log10(np.abs(h[0])))


@pytest.mark.parametrize("fs", [20.0, 64.0, 125.0, 1000.0])
def test_ppg_bandpass_design_passes_0p5_to_8_hz_and_stops_outside(fs):
    sos = ppg_bandpass_sos(fs)
    for f in (1.0, 2.0, 4.0):
        assert abs(_gain_db(sos, f, fs)) < 0.2, f
    assert _gain_db(sos, 0.5, fs) == pytest.approx(-3.01, abs=0.1)  # Butterworth edges
    assert _gain_db(sos, 0.1, fs) < -50
    if fs > 40:
        assert _gain_db(sos, 20.0, fs) < -30


def _tone_gain(freq_hz: float, fs: float, method: str) -> float:
    t = np.arange(int(60 * fs)) / fs
    y = ppg_clean(np.sin(2 * np.pi * freq_hz * t), fs, method=method)
    mid = slice(len(t) // 4, 3 * len(t) // 4)  # steady state, away from both edges
    return float(np.sqrt(2) * y[mid].std())


@pytest.mark.parametrize("method", ["zero-phase", "causal"])
def test_ppg_clean_measured_on_tones(method):
    fs = 125.0
    assert _tone_gain(1.5, fs, method) == pytest.approx(1.0, abs=0.01)
    assert _tone_gain(0.1, fs, method) < 10 ** (-40 / 20)
    assert _tone_gain(20.0, fs, method) < 10 ** (-30 / 20)


def test_zero_phase_keeps_pulse_peaks_in_place_and_causal_delays_them():
    s = sim(30.0, heart_rate=70.0, noise=0.0, baseline_wander=0.0, seed=11)
    tone = s.ppg
    zp = ppg_clean(tone, s.ppg_rate)
    causal = ppg_clean(tone, s.ppg_rate, method="causal")
    lags = np.arange(-25, 26)
    xc_zp = [np.dot(zp[200:-200], tone[200 + k : len(tone) - 200 + k]) for k in lags]
    xc_c = [np.dot(causal[200:-200], tone[200 + k : len(tone) - 200 + k]) for k in lags]
    assert lags[int(np.argmax(xc_zp))] == 0
    assert lags[int(np.argmax(xc_c))] < 0  # the causal output lags the input


def test_phase_correction_undoes_the_causal_split_of_a_slow_pulse():
    from anyppg.signal import ppg_findpeaks
    from anyppg.signal.filters import ppg_phase_corrected

    s = sim(40.0, heart_rate=45.0, noise=0.0, baseline_wander=0.0, seed=12)
    window = ppg_clean(s.ppg, s.ppg_rate, method="causal")[-1250:]  # a stream's last 10 s at 125 Hz
    beats = s.ppg_peaks[s.ppg_peaks >= 30.0] * s.ppg_rate - (len(s.ppg) - 1250)  # true beats, samples
    causal = ppg_findpeaks(window, 125.0, clean=False)
    assert len(causal) >= 1.5 * len(beats)  # the causal band-pass makes a second hump of each diastole
    corrected = ppg_findpeaks(ppg_phase_corrected(window, 125.0), 125.0, clean=False)
    inside = corrected[corrected < 1250 - 0.5 * 125]  # the last half second has no future to settle on
    assert len(inside) == np.sum(beats < 1250 - 0.5 * 125)
    assert np.abs(inside - beats[: len(inside)]).max() <= 2  # each beat in place, within 16 ms


def test_phase_correction_of_a_window_matches_zero_phase_filtering_of_the_recording():
    from anyppg.signal.filters import ppg_phase_corrected

    s = sim(40.0, heart_rate=75.0, seed=13)
    causal = ppg_clean(s.ppg, s.ppg_rate, method="causal")
    window = slice(2500, 3750)  # 20-30 s of the stream
    corrected = ppg_phase_corrected(causal[window], 125.0)
    offline = ppg_clean(s.ppg, s.ppg_rate)[window]  # the same band-pass forward and backward, offline
    body = slice(0, 1250 - 250)  # the window's last 2 s miss the samples after it
    assert np.corrcoef(corrected[body], offline[body])[0, 1] > 0.999
    with pytest.raises(anyppg.errors.InvalidSignalError, match="NaN"):
        ppg_phase_corrected(np.full(1250, np.nan), 125.0)


def test_simulated_baseline_wander_is_removed_and_the_pulse_kept():
    s = sim(120.0, heart_rate=72.0, baseline_wander=2.0, seed=12)
    f, p_raw = sps.welch(s.ppg, s.ppg_rate, nperseg=4096)
    _, p_clean = sps.welch(ppg_clean(s.ppg, s.ppg_rate), s.ppg_rate, nperseg=4096)
    low = f < 0.2
    assert p_clean[low].sum() < 1e-3 * p_raw[low].sum()
    hr_bin = np.argmin(np.abs(f - s.heart_rate / 60))
    assert p_clean[hr_bin] == pytest.approx(p_raw[hr_bin], rel=0.1)


def test_causal_clean_equals_streaming_bandpass_fed_in_chunks():
    s = sim(40.0, ppg_rate=64.0, seed=13)
    x = s.ppg + 500.0  # a large DC offset, as raw sensor counts have
    f = PPGBandpass(64.0)
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.choice(np.arange(1, len(x)), 40, replace=False))
    streamed = np.concatenate([f.process(c) for c in np.split(x, cuts)])
    np.testing.assert_array_equal(streamed, ppg_clean(x, 64.0, method="causal"))
    # The state starts at the steady state of the first sample: no step response from the offset.
    assert np.abs(streamed[:64]).max() < 2.0


def test_bandpass_reset_starts_a_new_stream():
    x = sim(20.0, seed=14).ppg
    f = PPGBandpass(125.0)
    first = f.process(x)
    f.reset()
    np.testing.assert_array_equal(f.process(x), first)


@pytest.mark.parametrize("mains", [50, 60])
def test_ecg_clean_notches_the_mains_and_removes_wander(mains):
    s = sim(30.0, powerline=0.5, powerline_hz=mains, baseline_wander=1.0, seed=15)
    clean = ecg_clean(s.ecg, s.ecg_rate, powerline=mains)
    f, p_raw = sps.welch(s.ecg, s.ecg_rate, nperseg=4096)
    _, p_clean = sps.welch(clean, s.ecg_rate, nperseg=4096)
    at_mains = np.argmin(np.abs(f - mains))
    assert p_clean[at_mains] < 1e-3 * p_raw[at_mains]
    assert p_clean[f < 0.2].sum() < 1e-2 * p_raw[f < 0.2].sum()
    # The QRS survives: R peaks stay the largest deflections at the labelled times.
    r_idx = np.round(s.r_peaks * s.ecg_rate).astype(int)
    assert np.median(clean[r_idx]) > 0.8


def test_ecg_filter_design():
    sos = ecg_sos(500.0, 50)
    assert _gain_db(sos, 0.1, 500.0) < -50
    assert _gain_db(sos, 50.0, 500.0) < -40
    assert abs(_gain_db(sos, 10.0, 500.0)) < 0.1
    # No notch above Nyquist: a 80 Hz ECG keeps only the high-pass.
    assert len(ecg_sos(80.0, 50)) == len(ecg_sos(500.0, None))
