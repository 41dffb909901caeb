"""Accelerometer units from gravity (anyppg.signal.gravity): still stretches, a stand-in while moving,
and a real recording whose unit is known (the e2epyppg watch reports m/s^2)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from anyppg.errors import InvalidSignalError
from anyppg.signal import gravity
from anyppg.signal.gravity import GravityCalibrator, acc_gravity_scale


def test_docstring_examples():
    result = doctest.testmod(gravity, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def _rest_then_run(counts_per_g: float, rate: float = 50.0, seed: int = 0) -> np.ndarray:
    """10 s still (tilted wrist), then 30 s of 2.7 Hz arm swing of 0.8 g, in raw counts."""
    rng = np.random.default_rng(seed)
    still = np.tile([0.3, -0.5, np.sqrt(1 - 0.34)], (int(10 * rate), 1))
    t = np.arange(int(30 * rate)) / rate
    swing = np.column_stack(
        [0.8 * np.sin(2 * np.pi * 2.7 * t), 0.3 * np.cos(2 * np.pi * 1.35 * t), np.ones_like(t)]
    )
    acc = np.concatenate([still, swing]) + rng.normal(0, 0.01, (len(still) + len(t), 3))
    return acc * counts_per_g


def test_a_still_stretch_fixes_the_scale_and_motion_does_not_move_it():
    cal = GravityCalibrator(50.0)
    raw = _rest_then_run(4096.0)
    out = np.concatenate([cal.push(raw[i : i + 40]) for i in range(0, len(raw), 40)])
    assert cal.calibrated and cal.scale * 4096 == pytest.approx(1.0, rel=2e-3)
    np.testing.assert_allclose(np.linalg.norm(out[100:500], axis=1).mean(), 1.0, rtol=0.02)


def test_without_a_still_stretch_the_median_magnitude_stands_in():
    raw = _rest_then_run(1000.0)[500:]  # running only
    cal = GravityCalibrator(50.0)
    cal.push(raw)
    assert not cal.calibrated
    assert cal.scale * 1000 == pytest.approx(1.0, rel=0.3)


def test_all_zero_acc_is_refused_by_name():
    with pytest.raises(InvalidSignalError, match="no non-zero sample"):
        acc_gravity_scale(np.zeros((500, 3)), 50.0)


def test_the_e2epyppg_watch_in_m_per_s2_calibrates_to_its_known_unit():
    """A real wrist recording: calibrated without its unit, the scale is 1 / 9.80665 within 3 %."""
    from anyppg import recordings

    excerpt = recordings.load("e2epyppg-wrist-excerpt")  # ships inside anyppg, acc in m/s^2
    assert excerpt.meta.get("acc_units") == "m/s^2"
    scale = acc_gravity_scale(excerpt.acc, float(excerpt.ppg_fs))
    assert scale * 9.80665 == pytest.approx(1.0, rel=0.03)
