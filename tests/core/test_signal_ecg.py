"""R-peak times over whole recordings and beat matching, with the simulator as the oracle."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import anyppg
from anyppg.signal import ecg as ecg_module
from anyppg.signal.ecg import ecg_rpeak_times, estimate_lag, match_beats


@pytest.mark.parametrize(
    ("rhythm", "heart_rate", "ecg_rate", "ectopic_rate"),
    [
        ("sinus", 48, 500.0, 0.0),
        ("sinus", 150, 125.0, 0.0),
        ("af", 95, 250.0, 0.0),
        ("sinus", 75, 360.0, 0.1),
    ],
)
def test_detector_finds_every_simulated_r_peak(rhythm, heart_rate, ecg_rate, ectopic_rate):
    sim = anyppg.simulate(
        60, heart_rate=heart_rate, rhythm=rhythm, ecg_rate=ecg_rate, ectopic_rate=ectopic_rate, seed=4
    )
    found = ecg_rpeak_times(sim.ecg, sim.ecg_rate)
    m = match_beats(
        found[(found > 0.5) & (found < 59.5)], sim.r_peaks[(sim.r_peaks > 0.5) & (sim.r_peaks < 59.5)]
    )
    assert (m.sensitivity, m.ppv) == (1.0, 1.0)


def test_lag_between_time_bases_is_found_and_removed():
    sim = anyppg.simulate(60, heart_rate=80, seed=5)
    annotated = sim.r_peaks + 0.2  # beats 0.2 s late, as MIMIC's shipped beats are
    found = ecg_rpeak_times(sim.ecg, sim.ecg_rate)
    assert estimate_lag(found, annotated) == pytest.approx(-0.2, abs=0.01)
    assert match_beats(found, annotated).true_positives == 0
    aligned = match_beats(found, annotated, align=True)
    assert aligned.lag_s == pytest.approx(-0.2, abs=0.01)
    assert aligned.sensitivity > 0.98 and aligned.ppv > 0.98


def test_matching_counts_are_one_to_one():
    m = match_beats(np.array([1.0, 1.01, 2.0, 5.0]), np.array([1.0, 2.03, 3.0]), tolerance_s=0.05)
    assert (m.true_positives, m.false_positives, m.false_negatives) == (2, 2, 1)
    assert m.sensitivity == pytest.approx(2 / 3) and m.ppv == pytest.approx(0.5)
    assert np.isnan(match_beats(np.zeros(0), np.zeros(0)).sensitivity)


def test_nan_stretches_are_skipped_not_fatal():
    sim = anyppg.simulate(30, heart_rate=70, ecg_rate=250.0, seed=6)
    x = sim.ecg.copy()
    x[: 250 * 10] = np.nan
    x[250 * 20 : 250 * 20 + 100] = np.nan  # a 0.4 s gap inside the record
    found = ecg_rpeak_times(x, 250.0)
    assert found.min() > 10.0
    assert not np.any((found > 20.0) & (found < 20.4))


def test_bad_inputs_are_typed_errors():
    from anyppg.errors import InvalidSignalError, UnsupportedRateError

    with pytest.raises(UnsupportedRateError):
        ecg_rpeak_times(np.zeros(1000), 30.0)
    with pytest.raises(InvalidSignalError, match=r"shape \(n,\)"):
        ecg_rpeak_times(np.zeros((2, 1000)), 250.0)
    with pytest.raises(ValueError, match="tolerance_s"):
        match_beats(np.zeros(1), np.zeros(1), tolerance_s=0)


def test_docstring_example():
    result = doctest.testmod(ecg_module)
    assert result.attempted > 0 and result.failed == 0
