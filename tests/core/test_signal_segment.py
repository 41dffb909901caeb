"""The per-window CPU work of issue 13 changes no number: cached filter initial conditions, scipy's
compiled sosfilt kernel called directly, and one PPGSegment shared by quality, heart rate and tracking
give exactly (bit for bit) what scipy's public functions and the per-function paths give."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import signal as sps

import anyppg
from anyppg.errors import AnyPPGError
from anyppg.signal import (
    MODEL_FS,
    HeartRateTracker,
    PPGBandpass,
    ecg_sos,
    heart_rate,
    ppg_bandpass_sos,
    ppg_quality,
    preprocess_recording,
)
from anyppg.signal.filters import _sosfilt, sosfiltfilt
from anyppg.signal.segment import PPGSegment

sim = functools.lru_cache(anyppg.simulate)


@pytest.mark.parametrize("shape", [(1250,), (1250, 3), (40,), (400, 2)])
@pytest.mark.parametrize("padlen", [None, 27, 0])
@pytest.mark.parametrize("sos_name", ["ppg", "ecg"])
def test_sosfiltfilt_is_scipys_bit_for_bit(shape, padlen, sos_name):
    sos = ppg_bandpass_sos(125.0) if sos_name == "ppg" else ecg_sos(500.0, 50)
    x = np.random.default_rng(0).normal(size=shape).cumsum(axis=0) + 1e3
    if padlen is None and shape[0] <= 3 * (2 * len(sos) + 1):
        with pytest.raises(ValueError, match="padlen"):
            sosfiltfilt(sos, x, padlen=padlen)
        return
    want = sps.sosfiltfilt(sos, x, axis=0, padlen=padlen)
    np.testing.assert_array_equal(sosfiltfilt(sos, x, padlen=padlen), want)


@pytest.mark.parametrize("shape", [(31,), (16, 3), (1, 1)])
def test_the_direct_kernel_is_scipys_sosfilt_bit_for_bit(shape):
    sos = ppg_bandpass_sos(64.0)
    x = np.random.default_rng(1).normal(size=shape)
    zi = np.random.default_rng(2).normal(size=(len(sos), 2, *shape[1:]))
    zi_before = zi.copy()
    y, zf = _sosfilt(sos, x, zi)
    y_ref, zf_ref = sps.sosfilt(sos, x, axis=0, zi=zi)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(zf, zf_ref)
    np.testing.assert_array_equal(zi, zi_before)  # the caller's state is not modified in place


def test_streaming_bandpass_equals_scipy_with_its_initial_state():
    x = sim(30, ppg_rate=125.0, seed=2).ppg
    bp = PPGBandpass(125.0)
    chunks = np.array_split(x, 37)
    got = np.concatenate([bp.process(c) for c in chunks])
    sos = ppg_bandpass_sos(125.0)
    want, _ = sps.sosfilt(sos, x, zi=sps.sosfilt_zi(sos) * x[0])
    np.testing.assert_array_equal(got, want)


def _windows(motion: float, seed: int):
    s = sim(40, heart_rate=80, ppg_rate=64.0, motion=motion, seed=seed)
    return preprocess_recording(s.ppg, 64.0, acc=s.acc)


@pytest.mark.parametrize(("motion", "seed"), [(0.0, 1), (0.8, 2)])
def test_one_segment_gives_what_each_function_gives_on_its_own(motion, seed):
    tracker_arrays, tracker_segments = HeartRateTracker(), HeartRateTracker()
    for i, w in enumerate(_windows(motion, seed)):
        seg = PPGSegment(w.filtered, MODEL_FS, acc=w.acc)
        assert ppg_quality(seg, MODEL_FS) == ppg_quality(w.filtered, MODEL_FS, acc=w.acc)
        for method in ("peaks", "spectral", "auto"):
            got = heart_rate(seg, MODEL_FS, method=method)
            want = heart_rate(w.filtered, MODEL_FS, acc=w.acc, method=method)
            np.testing.assert_array_equal(got, want)
        use_acc = i % 2 == 0  # the pipeline gives the tracker the accelerometer in some windows only
        a = tracker_arrays.update(w.filtered, w.acc if use_acc else None, dt_s=2.0)
        b = tracker_segments.update(seg if use_acc else seg.without_acc(), dt_s=2.0)
        np.testing.assert_array_equal(a, b)


def test_without_acc_shares_the_ppg_work_and_drops_the_accelerometer():
    w = _windows(0.8, 3)[0]
    seg = PPGSegment(w.filtered, MODEL_FS, acc=w.acc)
    assert seg.acc_bandpassed is not None
    cleaned = seg.cleaned
    twin = seg.without_acc()
    assert twin.acc is None and twin.acc_bandpassed is None
    assert twin.cleaned is cleaned  # computed once
    assert seg.acc is not None  # the original keeps its accelerometer
    assert np.isnan(ppg_quality(twin, MODEL_FS).motion_level)


def test_a_segment_is_refused_at_another_rate_or_with_a_second_acc():
    w = _windows(0.0, 4)[0]
    seg = PPGSegment(w.filtered, MODEL_FS)
    with pytest.raises(AnyPPGError, match="sampling_rate"):
        ppg_quality(seg, 64.0)
    with pytest.raises(AnyPPGError, match="acc"):
        heart_rate(seg, MODEL_FS, acc=w.acc)
    with pytest.raises(AnyPPGError, match="acc"):
        HeartRateTracker().update(seg, w.acc)
    with pytest.raises(AnyPPGError, match="too short"):
        heart_rate(PPGSegment(w.filtered[:300], MODEL_FS), MODEL_FS)
    with pytest.raises(AnyPPGError, match="NaN"):
        PPGSegment(np.full(500, np.nan), MODEL_FS)
