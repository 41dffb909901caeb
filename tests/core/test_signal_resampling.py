"""Resampling: sines at every device rate, streaming == offline, irregular timestamps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal as sps

from anyppg.signal import StreamingResampler, rational_ratio, resample

DEVICE_RATES = [20.0, 55.0, 64.0, 75.0, 100.0, 117.0, 130.0, 135.0, 1000.0, 2048.0]


def _sine(t: np.ndarray) -> np.ndarray:
    return np.sin(2 * np.pi * 1.3 * t + 0.3) + 0.5 * np.sin(2 * np.pi * 4.1 * t)


def _interior_error(y: np.ndarray, rate: float, t0: float = 0.0) -> float:
    t = t0 + np.arange(len(y)) / rate
    inside = (t > t0 + 1.0) & (t < t[-1] - 1.0)
    return float(np.abs(y - _sine(t))[inside].max())


@pytest.mark.parametrize("fin", DEVICE_RATES)
def test_sine_resampled_to_the_model_rate(fin):
    x = _sine(np.arange(int(20 * fin)) / fin)
    y = resample(x, fin, 125.0)
    assert len(y) == int(np.ceil(len(x) * 125.0 / fin))
    assert _interior_error(y, 125.0) < 3e-3


@pytest.mark.parametrize("fin", [1000.0, 2048.0, 360.0, 128.0])
def test_ecg_rates_resampled_to_500_hz(fin):
    x = _sine(np.arange(int(10 * fin)) / fin)
    assert _interior_error(resample(x, fin, 500.0), 500.0) < 3e-3


def test_equal_rates_copy():
    x = np.arange(10.0)
    y = resample(x, 125, 125.0)
    np.testing.assert_array_equal(x, y)
    assert y is not x


def test_rational_ratios():
    assert rational_ratio(2048.0, 125.0) == (125, 2048)
    assert rational_ratio(135.0, 125.0) == (25, 27)
    assert rational_ratio(99.8, 125.0) == (625, 499)  # decimals taken as written
    up, down = rational_ratio(125.0, 1 / 3)  # would need a huge factor: approximated
    assert max(up, down) <= 10_000 and up / down == pytest.approx(1 / 375, rel=1e-5)


@pytest.mark.parametrize("fin", DEVICE_RATES)
def test_streaming_resampler_in_random_chunks_equals_offline(fin):
    rng = np.random.default_rng(int(fin))
    x = rng.standard_normal((int(7.3 * fin), 2))  # two channels at once (e.g. acc axes)
    r = StreamingResampler(fin, 125.0)
    cuts = np.sort(rng.choice(np.arange(1, len(x)), 25, replace=False))
    streamed = np.concatenate([r.process(c) for c in np.split(x, cuts)] + [r.flush()])
    np.testing.assert_allclose(streamed, resample(x, fin, 125.0), rtol=0, atol=1e-12)
    assert r.samples_out == len(streamed) and r.samples_in == len(x)


def test_streaming_output_matches_scipy_resample_poly_and_reports_latency():
    x = np.random.default_rng(1).standard_normal(640)
    r = StreamingResampler(64.0, 125.0)
    live = r.process(x)  # without flush: everything whose inputs have arrived
    ref = sps.resample_poly(x, 125, 64, padtype="edge")  # scipy's own filter, branches unnormalised
    np.testing.assert_allclose(live, ref[: len(live)], atol=2e-3)
    missing_s = (len(ref) - len(live)) / 125.0
    assert missing_s == pytest.approx(r.latency_s, abs=2 / 125.0)
    assert 0 < r.latency_s < 0.2


@pytest.mark.parametrize("fin", DEVICE_RATES)
def test_a_large_dc_offset_stays_flat(fin):
    """Raw PPG is a small pulse on a large offset: the resampler must not add a ripple to it."""
    y = resample(np.full(int(5 * fin), 100_000.0), fin, 125.0)
    assert np.abs(y - 100_000.0).max() < 1e-6


def test_irregular_timestamps_with_jitter():
    rng = np.random.default_rng(2)
    t = 3.0 + np.cumsum(rng.uniform(0.8, 1.2, 1300) / 64.0)  # a 64 Hz sensor with +-20 % jitter
    y = resample(_sine(t), None, 125.0, timestamps=t)  # nominal rate inferred from the median step
    assert len(y) == pytest.approx((t[-1] - t[0]) * 125.0, abs=3)
    assert _interior_error(y, 125.0, t0=t[0]) < 3e-3
    y64 = resample(_sine(t), 64.0, 125.0, timestamps=t)
    assert _interior_error(y64, 125.0, t0=t[0]) < 3e-3


def test_irregular_timestamps_with_a_gap_are_bridged():
    t = np.concatenate([np.arange(0, 5, 1 / 100), np.arange(5.3, 10, 1 / 100)])  # 300 ms gap
    y = resample(_sine(t), 100.0, 125.0, timestamps=t)
    assert len(y) == pytest.approx((t[-1] - t[0]) * 125.0, abs=2)
    assert np.isfinite(y).all()


@settings(max_examples=30, deadline=None)
@given(
    fin=st.sampled_from([20.0, 25.0, 55.0, 99.8, 128.0, 250.0, 1000.0]),
    fout=st.sampled_from([125.0, 500.0, 64.0]),
    n=st.integers(min_value=2, max_value=600),
    cuts=st.lists(st.integers(min_value=1, max_value=599), max_size=12),
)
def test_any_chunking_of_any_ratio_equals_offline(fin, fout, n, cuts):
    x = np.random.default_rng(n).standard_normal(n)
    r = StreamingResampler(fin, fout)
    pieces = np.split(x, sorted({c for c in cuts if c < n}))
    streamed = np.concatenate([r.process(p) for p in pieces] + [r.flush()])
    np.testing.assert_allclose(streamed, resample(x, fin, fout), rtol=0, atol=1e-12)
