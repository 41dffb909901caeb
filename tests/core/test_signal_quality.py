"""ppg_quality: the index tracks the simulator's quality labels; each flag fires on its failure."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import anyppg
from anyppg.signal import clip_fraction, ppg_clean, ppg_quality

sim = functools.lru_cache(anyppg.simulate)


def test_clean_window_is_usable():
    s = sim(10.0, seed=41)
    q = ppg_quality(s.ppg, s.ppg_rate, acc=s.acc)
    assert q.usable and q.sqi > 0.9
    assert not (q.flat or q.clipping or q.nan or q.motion)
    assert q.motion_level < 0.05


def test_sqi_falls_with_noise_and_white_noise_is_unusable():
    sqis = [ppg_quality(sim(10.0, noise=n, seed=42).ppg, 125.0).sqi for n in (0.02, 0.3, 1.0)]
    assert sqis[0] > sqis[1] > sqis[2]
    assert sqis[2] < 0.6
    noise = np.random.default_rng(0).standard_normal(1250)
    q = ppg_quality(noise, 125.0)
    assert q.sqi < 0.5 and not q.usable


def test_irregular_rhythms_are_still_good_signals():
    for kwargs in ({"rhythm": "af", "heart_rate": 110.0}, {"ectopic_rate": 0.2}):
        assert ppg_quality(sim(10.0, seed=49, **kwargs).ppg, 125.0).usable, kwargs


def test_motion_flag_from_the_accelerometer():
    s = sim(10.0, motion=1.5, motion_fraction=1.0, seed=43)
    q = ppg_quality(s.ppg, s.ppg_rate, acc=s.acc)
    assert q.motion and not q.usable and q.motion_level > 0.1
    assert not ppg_quality(s.ppg, s.ppg_rate).motion  # no accelerometer, no motion flag


def test_flat_line():
    q = ppg_quality(np.full(1250, 512.0), 125.0)
    assert q.flat and not q.usable and q.sqi == 0.0
    x = sim(10.0, seed=44).ppg.copy()
    x[400:600] = x[400]  # the sensor froze for 1.6 s
    assert ppg_quality(x, 125.0).flat


def test_clipping():
    x = sim(10.0, seed=45).ppg
    clipped = np.clip(x, None, np.quantile(x, 0.9))  # the ADC saturates on every systolic peak
    q = ppg_quality(clipped, 125.0)
    assert q.clipping and not q.usable and q.clip_fraction > 0.05
    assert not ppg_quality(x, 125.0).clipping


def test_clip_fraction_reads_saturation_from_raw_samples_only():
    x = sim(10.0, seed=45).ppg
    saturated = np.clip(x, None, np.quantile(x, 0.9))
    assert clip_fraction(x, 125.0) == 0.0 and clip_fraction(saturated, 125.0) > 0.05
    assert clip_fraction(np.full(100, 2.0), 125.0) == 1.0
    assert clip_fraction(np.array([1.0, np.nan]), 125.0) == 0.0
    with_gap = saturated.copy()
    with_gap[300:320] = np.nan  # missing samples are left out, not counted as a plateau
    assert clip_fraction(with_gap, 125.0) == pytest.approx(
        clip_fraction(np.delete(saturated, np.s_[300:320]), 125.0)
    )
    # The band-pass smooths the plateaus away: the filtered window looks like a clean pulse.
    filtered = ppg_clean(saturated, 125.0, method="causal")
    assert clip_fraction(filtered, 125.0) < 0.01 and not ppg_quality(filtered, 125.0).clipping


@pytest.mark.parametrize("fs", [25.0, 50.0, 100.0])
def test_a_coarse_converter_is_not_saturation_but_its_rail_is(fs):
    """A pulse read in 64 steps rests on one value at its peaks and troughs (runs of equal samples at
    the extremes) without being cut off; clamped at a rail below its peaks, it is."""
    s = sim(60.0, ppg_rate=fs, seed=47)
    x = s.ppg
    coarse = np.round((x - x.min()) / np.ptp(x) * 64)
    windows = [coarse[i : i + int(10 * fs)] for i in range(0, len(x) - int(10 * fs), int(2 * fs))]
    assert np.mean([clip_fraction(w, fs) > 0.01 for w in windows]) <= 0.05
    railed = [np.minimum(w, 40) for w in windows]
    assert np.mean([clip_fraction(w, fs) > 0.01 for w in railed]) >= 0.9


def test_a_monitor_easing_into_its_rail_is_saturation():
    """A finely read signal that decays onto its rail (halving steps, as the BIDMC monitor does) and
    stays there for 0.14 s is cut off, although no single step into it is large."""
    x = 0.3 + 0.3 * np.sin(2 * np.pi * 1.2 * np.arange(1250) / 125.0)
    x[600:605] = [0.0195, 0.0098, 0.0049, 0.002, 0.001]
    x[605:622] = 0.0
    x = np.round(x, 4)  # the monitor's 1e-4 resolution: 6,000 steps over the range
    assert x.min() == 0.0 and clip_fraction(x, 125.0) == pytest.approx(17 / 1250)


def test_nan_is_reported_not_raised():
    x = sim(10.0, seed=46).ppg.copy()
    x[100:110] = np.nan
    x[500] = np.inf
    q = ppg_quality(x, 125.0)
    assert q.nan and not q.usable
    assert q.sqi > 0.8  # the rest is assessed on the interpolated signal


def test_quality_index_ranks_windows_like_the_simulator_labels():
    from scipy.stats import spearmanr

    runs = [sim(10.0, noise=float(n), seed=50 + i) for i, n in enumerate(np.geomspace(0.02, 3.0, 12))]
    sqi = [ppg_quality(s.ppg, s.ppg_rate).sqi for s in runs]
    label = [s.mean_quality(0.0, 10.0) for s in runs]
    assert spearmanr(sqi, label).statistic > 0.8


@pytest.mark.parametrize("fs", [25.0, 64.0, 500.0])
def test_other_rates(fs):
    s = sim(10.0, ppg_rate=fs, seed=48)
    assert ppg_quality(s.ppg, fs).usable


def _stream_window(s, seconds: float = 10.0) -> np.ndarray:
    """The last ``seconds`` of a simulated recording as a stream's window holds it: causally band-passed."""
    return ppg_clean(s.ppg, s.ppg_rate, method="causal")[-round(seconds * s.ppg_rate) :]


@pytest.mark.parametrize("bpm", [40.0, 45.0, 50.0])
def test_a_still_slow_pulse_is_read_phase_corrected(bpm):
    from anyppg.signal import PPGSegment, heart_rate
    from anyppg.signal.quality import USABLE_SQI, assess_window

    s = sim(40.0, heart_rate=bpm, seed=43)
    seg = PPGSegment(_stream_window(s), s.ppg_rate, acc=s.acc[-1250:])
    assert ppg_quality(seg, s.ppg_rate).sqi < USABLE_SQI  # as read before: beats split in two
    view, q = assess_window(seg)
    assert view is not seg and q.usable and q.sqi > 0.9
    assert heart_rate(view, s.ppg_rate, method="peaks") == pytest.approx(bpm, abs=3.0)


def test_a_fast_pulse_a_moving_wrist_and_noise_keep_their_own_reading():
    from anyppg.signal import PPGSegment
    from anyppg.signal.quality import assess_window

    fast = sim(40.0, heart_rate=80.0, seed=44)
    seg = PPGSegment(_stream_window(fast), 125.0)
    view, q = assess_window(seg)
    assert view is seg and q.sqi == ppg_quality(seg, 125.0).sqi > 0.9
    slow = sim(40.0, heart_rate=45.0, seed=45)
    swinging = np.tile([[0.0, 0.0, 1.0]], (1250, 1))
    swinging[:, 0] += 0.5 * np.sin(2 * np.pi * 0.75 * np.arange(1250) / 125.0)  # an arm at 45 swings a minute
    moving = PPGSegment(_stream_window(slow), 125.0, acc=swinging)
    view, q = assess_window(moving)
    assert view is moving and q.motion and not q.usable
    noise = PPGSegment(
        ppg_clean(np.random.default_rng(1).standard_normal(5000), 125.0, method="causal")[-1250:], 125.0
    )
    view, q = assess_window(noise)
    assert view is noise and not q.usable
