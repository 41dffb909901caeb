"""MotionHeartRateTracker: follows the pulse under stronger accelerometer-correlated motion, recovers
after a lost track, is causal, and rejects bad inputs with the core's one-line errors."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import anyppg
from anyppg.errors import InvalidSignalError, UnsupportedRateError
from anyppg.signal import motion_hr
from anyppg.signal._checks import InvalidParameterError
from anyppg.signal.motion_hr import (
    MotionHeartRateTracker,
    MotionTrackerConfig,
    track_heart_rate,
)

FS = 50.0


def _running(
    seconds: float = 120.0, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two PPG channels (pulse with a second harmonic, rising 100 -> 130 bpm) buried under a motion
    artefact three times as large, driven by a wrist accelerometer at a step rate of 165 per minute
    and an arm swing at half of it. Returns ``(ppg (2, n), acc (3, n) in g, hr_bpm (n,), t (n,))``."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * FS)) / FS
    hr = 100 + 30 * t / seconds
    phase = 2 * np.pi * np.cumsum(hr / 60) / FS
    pulse = np.sin(phase) + 0.4 * np.sin(2 * phase + 0.5)
    step = 2 * np.pi * 2.75 * t
    acc = np.stack([0.6 * np.sin(step), 0.4 * np.sin(step / 2 + 1.0), 1.0 + 0.3 * np.sin(step + 0.7)])
    acc += 0.01 * rng.standard_normal(acc.shape)
    motion = 3.0 * (np.sin(step - 0.4) + 0.8 * np.sin(step / 2 + 1.3))  # what the wrist does to the optics
    ppg = np.stack([pulse + motion, 0.7 * pulse + 0.6 * motion]) + 0.1 * rng.standard_normal((2, len(t)))
    return ppg, acc, hr, t


def _window_truth(hr: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Mean true heart rate over each 8-s window ending at ``ends``."""
    return np.array([hr[round((e - 8) * FS) : round(e * FS)].mean() for e in ends])


def test_follows_the_pulse_where_the_plain_spectrum_follows_the_motion() -> None:
    ppg, acc, hr, _ = _running()
    track = track_heart_rate(ppg, FS, acc)
    truth = _window_truth(hr, track.t_end_s)
    assert len(track.bpm) == 57
    err = np.abs(track.bpm - truth)
    assert err.mean() < 2.0 and np.median(err) < 1.5
    # the strongest spectral peak of the same windows is the motion, not the pulse
    peaks = []
    for end in track.t_end_s:
        seg = ppg[0, round((end - 8) * FS) : round(end * FS)]
        f = np.fft.rfftfreq(4096, 1 / FS) * 60
        p = np.abs(np.fft.rfft((seg - seg.mean()) * np.hanning(len(seg)), 4096)) ** 2
        band = (f >= 40) & (f <= 210)
        peaks.append(f[band][np.argmax(p[band])])
    assert np.mean(np.abs(np.array(peaks) - truth)) > 20
    # the tracker is sure of itself once the track is established
    assert np.median(track.confidence[10:]) > 0.5


def test_without_an_accelerometer_the_same_motion_wins() -> None:
    ppg, acc, hr, _ = _running()
    blind = track_heart_rate(ppg, FS, None)
    aware = track_heart_rate(ppg, FS, acc)
    truth = _window_truth(hr, aware.t_end_s)
    assert np.abs(blind.bpm - truth).mean() > 5 * np.abs(aware.bpm - truth).mean()


def test_clean_simulated_wrist_signal() -> None:
    sim = anyppg.simulate(90, heart_rate=64, hrv=0.02, ppg_rate=64.0, seed=3)
    track = track_heart_rate(sim.ppg, sim.ppg_rate, sim.acc.T)
    assert np.abs(track.bpm[3:] - 64).max() < 3


def test_simulated_motion_episodes() -> None:
    sim = anyppg.simulate(120, heart_rate=95, hrv=0.02, motion=2.0, motion_fraction=0.8, cadence=2.6, seed=11)
    track = track_heart_rate(sim.ppg, sim.ppg_rate, sim.acc.T)
    assert np.abs(track.bpm - 95).mean() < 3


def test_non_linear_coupling_is_cancelled_too() -> None:
    """The simulator couples the wrist's movement into the PPG with a quadratic term; a linear
    cancellation leaves that residue (and loses the pulse under it), the default one removes it."""
    sim = anyppg.simulate(120.0, heart_rate=158.0, motion=2.0, motion_fraction=1.0, seed=106)
    default = track_heart_rate(sim.ppg, sim.ppg_rate, sim.acc.T)
    linear = track_heart_rate(
        sim.ppg, sim.ppg_rate, sim.acc.T, config=MotionTrackerConfig(anc_quadratic_gain=1.0)
    )
    truth = np.array([sim.mean_heart_rate(e - 8, e) for e in default.t_end_s])
    assert np.abs(default.bpm - truth).mean() < 3 < 10 < np.abs(linear.bpm - truth).mean()


def test_recovers_after_a_lost_track() -> None:
    """The pulse jumps from 60 to 100 bpm (the track is lost: no physiological step gets there);
    the tracker finds it again within a bounded number of windows and says it is unsure meanwhile."""
    t = np.arange(round(100 * FS)) / FS
    hr = np.where(t < 40, 60.0, 100.0)
    phase = 2 * np.pi * np.cumsum(hr / 60) / FS
    ppg = np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.05 * np.random.default_rng(1).standard_normal(len(t))
    track = track_heart_rate(ppg, FS, None)
    before = track.t_end_s <= 40
    assert np.abs(track.bpm[before][2:] - 60).max() < 2
    after = np.flatnonzero(track.t_end_s >= 48)  # windows wholly after the jump
    found = after[np.abs(track.bpm[after] - 100) < 2]
    assert len(found) > 0, "the track never recovered"
    first = int(found[0])
    assert track.t_end_s[first] - 48 <= 8  # back within 4 windows of clear disagreement
    assert np.all(np.abs(track.bpm[first:] - 100) < 2)  # and stays
    lost = after[after < first]
    assert np.all(track.confidence[lost] < 0.5)  # while wrong it says so
    assert np.all(track.confidence[first + 2 :] > 0.8)


def test_causal_future_windows_do_not_change_past_results() -> None:
    ppg, acc, _, _ = _running(60)
    full = track_heart_rate(ppg, FS, acc)
    cut = round(36 * FS)
    head = track_heart_rate(ppg[:, :cut], FS, acc[:, :cut])
    assert len(head.bpm) == 15
    np.testing.assert_array_equal(head.bpm, full.bpm[:15])
    np.testing.assert_array_equal(head.confidence, full.confidence[:15])
    # and streaming window by window is the same as the offline helper
    tracker = MotionHeartRateTracker(FS)
    streamed = []
    for end in full.t_end_s[:15]:
        s, e = max(0, round((end - 10) * FS)), round(end * FS)
        streamed.append(tracker.update(ppg[:, s:e], acc[:, s:e], dt_s=2.0).bpm)
    np.testing.assert_array_equal(streamed, full.bpm[:15])


def test_reset_forgets_the_track_and_a_flat_window_holds_it() -> None:
    t = np.arange(round(10 * FS)) / FS
    tracker = MotionHeartRateTracker(FS)
    first = tracker.update(np.zeros(len(t)))
    assert np.isnan(first.bpm) and first.confidence == 0.0
    est = tracker.update(np.sin(2 * np.pi * 1.5 * t))
    held = tracker.update(np.full(len(t), 3.0))
    assert held.bpm == est.bpm and held.confidence == 0.0
    tracker.reset()
    assert np.isnan(tracker.bpm)


def test_a_step_across_a_gap_spreads_as_the_hops_it_spans_would() -> None:
    """One 8-s step (four lost 2-s hops) moves the rate as four hops in a row would: a random walk,
    whose spread grows with the square root of the time (6 bpm), not in proportion to it (12 bpm,
    which let a stray half-rate hypothesis survive a gap). A hop itself keeps its 3 bpm."""
    tracker = MotionHeartRateTracker(FS)
    grid = tracker.grid_bpm
    i = int(np.argmin(np.abs(grid - 100.0)))  # a rate far from the grid's ends
    hop = tracker._transition(2.0)[:, i]
    four_hops = np.linalg.matrix_power(tracker._transition(2.0), 4)[:, i]
    gap = tracker._transition(8.0)[:, i]

    def spread(p: np.ndarray) -> float:
        return float(np.sqrt(p @ (grid - grid[i]) ** 2))

    assert spread(hop) == pytest.approx(3.0, rel=0.02)
    assert spread(gap) == pytest.approx(spread(four_hops), rel=0.02) == pytest.approx(6.0, rel=0.02)
    assert np.abs(gap - four_hops).max() < 0.01 * four_hops.max()


def test_single_channel_and_band_passed_input() -> None:
    """(n,) and (1, n) are the same; a 0.5-8 Hz band-passed window (the SDK's) gives the same rate."""
    ppg, acc, _, _ = _running(60)
    one = track_heart_rate(ppg[0], FS, acc)
    np.testing.assert_array_equal(one.bpm, track_heart_rate(ppg[:1], FS, acc).bpm)
    filtered = anyppg.signal.ppg_clean(ppg[0], FS)
    assert np.abs(track_heart_rate(filtered, FS, acc).bpm - one.bpm).max() < 1.0


@pytest.mark.parametrize(
    ("ppg", "acc", "message"),
    [
        (np.zeros((2, 100)), None, r"too short: 100 samples; at least 400 \(8 s at 50 Hz\)"),
        (
            np.zeros((500, 2)),
            None,
            r"shape \(n,\) or \(channels, n\) with 1-16 channels; got shape \(500, 2\)",
        ),
        (np.array(["a"] * 500), None, "must hold real numbers"),
        (np.r_[np.zeros(499), np.nan], None, "NaN/inf"),
        (np.zeros(500), np.zeros((500, 3)), r"acc window must have shape \(3, 500\)"),
        (np.zeros(500), np.full((3, 500), np.inf), "acc window contains NaN/inf"),
    ],
)
def test_bad_windows_raise_one_line_errors(ppg: np.ndarray, acc: np.ndarray | None, message: str) -> None:
    tracker = MotionHeartRateTracker(FS)
    with pytest.raises(InvalidSignalError, match=message) as info:
        tracker.update(ppg, acc)
    assert "\n" not in str(info.value)


def test_bad_parameters_raise() -> None:
    with pytest.raises(UnsupportedRateError, match="> 8 Hz"):
        MotionHeartRateTracker(6.0)
    with pytest.raises(InvalidParameterError, match="dt_s"):
        MotionHeartRateTracker(FS).update(np.zeros(500), dt_s=0)
    with pytest.raises(InvalidParameterError, match=r"bpm_range=\(120.0, 60.0\)"):
        MotionTrackerConfig(bpm_range=(120.0, 60.0))
    with pytest.raises(InvalidParameterError, match="jump_probability"):
        MotionTrackerConfig(jump_probability=1.5)
    with pytest.raises(InvalidParameterError, match="sigma_bpm_per_s"):
        MotionTrackerConfig(sigma_bpm_per_s=-1)
    with pytest.raises(InvalidParameterError, match="config"):
        MotionHeartRateTracker(FS, config={"analysis_s": 8})  # type: ignore[arg-type]


def test_docstring_examples() -> None:
    result = doctest.testmod(motion_hr, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
