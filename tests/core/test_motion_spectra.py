"""Motion-model inputs (spectra) and the heart-rate belief filter, checked on the simulator as an oracle."""

from __future__ import annotations

import numpy as np
import pytest

from anyppg.errors import InvalidSignalError, UnsupportedRateError
from anyppg.signal.hr_belief import HeartRateBelief, hr_from_distribution, softmax
from anyppg.signal.motion_spectra import (
    HR_BINS_BPM,
    N_BINS,
    motion_inputs,
    spectra_at_model_rate,
    window_at_model_rate,
)
from anyppg.simulator import simulate


def _peak(row: np.ndarray) -> float:
    return float(HR_BINS_BPM[int(np.argmax(row))])


@pytest.mark.parametrize("fs", [25.0, 50.0, 125.0, 64.0])
def test_ppg_spectrum_peaks_at_the_simulated_heart_rate_at_any_rate(fs: float) -> None:
    sim = simulate(10, heart_rate=102, hrv=0.0, ppg_rate=fs, seed=3)
    x = motion_inputs(sim.ppg, sim.acc.T, fs)
    assert x.shape == (1, 4, N_BINS) and x.dtype == np.float32
    assert abs(_peak(x[0, 0]) - 102) <= 3
    assert x[0, 0].max() == pytest.approx(1.0)


def test_accelerometer_rows_show_the_cadence_when_running_and_stay_small_at_rest() -> None:
    running = simulate(10, heart_rate=150, motion=1.0, motion_fraction=1.0, cadence=2.5, ppg_rate=50, seed=1)
    x = motion_inputs(running.ppg, running.acc.T, 50)
    strongest = x[0, 1:].max(axis=0)
    assert strongest.max() == pytest.approx(1.0)
    # the arm swings at the cadence or at half of it (stride): 150 or 75 steps/min
    assert min(abs(_peak(strongest) - 150), abs(_peak(strongest) - 75)) <= 6
    still = simulate(10, heart_rate=70, motion=0.0, ppg_rate=50, seed=1)
    assert motion_inputs(still.ppg, still.acc.T, 50)[0, 1:].max() < 0.2


def test_each_ppg_channel_gets_its_own_input_with_the_shared_accelerometer() -> None:
    sim = simulate(9, heart_rate=80, ppg_rate=50, seed=2)
    ppg = np.stack([sim.ppg, -3.0 * sim.ppg + 100.0])  # polarity, gain and offset do not matter
    x = motion_inputs(ppg, sim.acc.T, 50)
    assert x.shape == (2, 4, N_BINS)
    np.testing.assert_allclose(x[0], x[1], atol=1e-5)


def test_only_the_last_8_s_are_used() -> None:
    sim = simulate(20, heart_rate=75, ppg_rate=50, seed=4)
    a = motion_inputs(sim.ppg, sim.acc.T, 50)
    b = motion_inputs(sim.ppg[-400:], sim.acc[-400:].T, 50)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_stretch_moves_the_peak_by_the_stretch_factor() -> None:
    sim = simulate(10, heart_rate=100, hrv=0.0, ppg_rate=25, seed=5)
    ppg, acc = window_at_model_rate(sim.ppg, sim.acc.T, 25)
    assert abs(_peak(spectra_at_model_rate(ppg, acc, stretch=1.15)[0, 0]) - 115) <= 3


def test_bad_windows_raise_one_line_errors() -> None:
    sim = simulate(10, ppg_rate=50, seed=0)
    with pytest.raises(InvalidSignalError, match="expected >= 8 s"):
        motion_inputs(sim.ppg[:300], sim.acc[:300].T, 50)
    with pytest.raises(InvalidSignalError, match=r"acc \(3, n\)"):
        motion_inputs(sim.ppg, sim.acc, 50)
    bad = sim.ppg.copy()
    bad[-10] = np.nan
    with pytest.raises(InvalidSignalError, match="NaN"):
        motion_inputs(bad, sim.acc.T, 50)
    with pytest.raises(UnsupportedRateError):
        motion_inputs(sim.ppg, sim.acc.T, 0.0)


def _bump(bpm: float, width: float = 4.0) -> np.ndarray:
    p = np.exp(-0.5 * ((HR_BINS_BPM - bpm) / width) ** 2) + 1e-3
    return p / p.sum()


def test_distribution_reading_refines_between_bins() -> None:
    bpm, conf = hr_from_distribution(_bump(101.5))
    assert abs(bpm - 101.5) < 0.5 and 0.5 < conf <= 1.0
    flat = np.full(N_BINS, 1.0 / N_BINS)
    assert hr_from_distribution(flat)[1] == pytest.approx(3 / N_BINS)
    np.testing.assert_allclose(softmax(np.log(_bump(90))), _bump(90))


def test_belief_keeps_the_track_through_a_wrong_window_and_recovers_when_the_rate_moves() -> None:
    belief = HeartRateBelief()
    for _ in range(5):
        bpm, _ = belief.update(_bump(120), dt_s=2.0)
    # one window pointing at the cadence (160) does not pull the track
    bpm, _ = belief.update(0.3 * _bump(120) + 0.7 * _bump(160), dt_s=2.0)
    assert abs(bpm - 120) < 3
    # a real, gradual rise is followed
    for target in np.arange(122, 141, 2.0):
        bpm, conf = belief.update(_bump(float(target)), dt_s=2.0)
    assert abs(bpm - 140) < 3 and conf > 0.5
    belief.reset()
    assert belief.belief is None
    assert abs(belief.update(_bump(70), dt_s=0.0)[0] - 70) < 1


def test_belief_rejects_bad_inputs() -> None:
    with pytest.raises(InvalidSignalError, match="drift_bpm_per_s"):
        HeartRateBelief(drift_bpm_per_s=0)
    belief = HeartRateBelief()
    with pytest.raises(InvalidSignalError, match="shape"):
        belief.update(np.ones(10), dt_s=2.0)
    with pytest.raises(InvalidSignalError, match="dt_s"):
        belief.update(_bump(80), dt_s=-1.0)


@pytest.mark.parametrize("name", ["anyppg.signal.motion_spectra", "anyppg.signal.hr_belief"])
def test_docstring_examples(name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
