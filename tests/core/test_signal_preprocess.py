"""The shared preprocessing: a window seen live equals the window seen in training."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import anyppg
from anyppg.errors import InvalidSignalError, UnsupportedRateError
from anyppg.signal import (
    DEFAULT_SETTLE_S,
    MODEL_FS,
    WINDOW_S,
    WINDOW_SAMPLES,
    InvalidParameterError,
    PPGPreprocessor,
    ppg_clean,
    preprocess_recording,
    preprocess_recording_array,
    windows,
    zscore,
)

sim = functools.lru_cache(anyppg.simulate)


def _push_in_random_chunks(pre: PPGPreprocessor, x, acc, seed: int, max_chunk: int) -> list:
    rng = np.random.default_rng(seed)
    out, i = [], 0
    while i < len(x):
        k = int(rng.integers(1, max_chunk))
        out += pre.push(x[i : i + k], None if acc is None else acc[i : i + k])
        i += k
    return out


@pytest.mark.parametrize(("fs", "with_acc"), [(125.0, False), (64.0, True), (20.0, False), (1000.0, True)])
def test_streaming_in_random_chunks_equals_offline_exactly(fs, with_acc):
    s = sim(40.0, ppg_rate=fs, motion=1.0, seed=21)
    acc = s.acc if with_acc else None
    offline = preprocess_recording(s.ppg, fs, acc=acc)
    live = _push_in_random_chunks(PPGPreprocessor(fs), s.ppg, acc, seed=int(fs), max_chunk=int(fs))
    assert len(live) == len(offline) > 0
    for a, b in zip(live, offline, strict=True):
        assert (a.index, a.start_s, a.end_s) == (b.index, b.start_s, b.end_s)
        np.testing.assert_array_equal(a.ppg, b.ppg)
        np.testing.assert_array_equal(a.filtered, b.filtered)
        if with_acc:
            np.testing.assert_array_equal(a.acc, b.acc)
        else:
            assert a.acc is None


@pytest.mark.parametrize("fs", [125.0, 55.0, 20.0, 1000.0])
def test_each_window_carries_its_raw_samples_in_any_chunking(fs):
    """``Window.raw``: channel 0 as it came in, the input samples timed inside the window; the
    preprocessor keeps no more of them than the next window needs."""
    s = sim(40.0, ppg_rate=fs, seed=23)
    pre = PPGPreprocessor(fs)
    live = _push_in_random_chunks(pre, s.ppg, None, seed=3, max_chunk=int(fs))
    assert live
    for w in live:
        first = int(np.ceil(w.start_s * fs - 1e-9))
        assert w.raw.dtype == np.float64 and len(w.raw) == round(WINDOW_S * fs)
        np.testing.assert_array_equal(w.raw, s.ppg[first : first + len(w.raw)])
    assert len(pre._raw) <= round(WINDOW_S * fs) + fs  # a window and at most one chunk


def test_window_geometry_and_content_at_the_model_rate():
    s = sim(60.0, seed=22)
    ws = preprocess_recording(s.ppg, MODEL_FS)
    settle = round(DEFAULT_SETTLE_S * MODEL_FS)
    assert len(ws) == (len(s.ppg) - settle - WINDOW_SAMPLES) // 250 + 1
    causal = ppg_clean(s.ppg, MODEL_FS, method="causal")
    for w in ws:
        assert w.start_s == pytest.approx(DEFAULT_SETTLE_S + 2.0 * w.index)
        assert w.end_s == pytest.approx(w.start_s + 10.0)
        assert w.ppg.shape == w.filtered.shape == (WINDOW_SAMPLES,)
        assert w.ppg.dtype == w.filtered.dtype == np.float32
        start = round(w.start_s * MODEL_FS)
        np.testing.assert_allclose(w.filtered, causal[start : start + WINDOW_SAMPLES], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(w.ppg, zscore(w.filtered.astype(np.float64)), atol=1e-5)
        assert abs(float(w.ppg.mean())) < 1e-5 and float(w.ppg.std()) == pytest.approx(1.0, abs=1e-5)


def test_the_device_rate_does_not_change_the_model_input():
    fast = sim(40.0, ppg_rate=125.0, noise=0.0, seed=23)
    slow = sim(40.0, ppg_rate=64.0, noise=0.0, seed=23)  # same physiology, another sensor rate
    a, b = preprocess_recording(fast.ppg, 125.0), preprocess_recording(slow.ppg, 64.0)
    assert len(b) == len(a) - 1  # at 64 Hz the resampler still waits for 0.16 s of input
    for wa, wb in zip(a, b, strict=False):
        assert np.corrcoef(wa.ppg, wb.ppg)[0, 1] > 0.999


def test_start_up_transient_is_handled():
    s = sim(60.0, seed=24)
    x = s.ppg + 2000.0  # raw sensor counts with a large offset
    late = preprocess_recording(x, MODEL_FS, hop_s=1.0)  # stream started at 0 s
    cut = round(20 * MODEL_FS)
    early = preprocess_recording(x[cut:], MODEL_FS, hop_s=1.0)  # same signal, stream started at 20 s
    # Window 0 of the late-started stream covers 22-32 s; so does window 20 of the first.
    np.testing.assert_allclose(
        early[0].filtered, late[20].filtered, atol=0.05 * float(np.ptp(late[20].filtered))
    )
    assert np.corrcoef(early[0].ppg, late[20].ppg)[0, 1] > 0.999


def test_hop_and_settle_are_configurable():
    s = sim(30.0, seed=25)
    ws = preprocess_recording(s.ppg, MODEL_FS, hop_s=0.4, settle_s=0.0)
    assert [w.start_s for w in ws[:3]] == [0.0, 0.4, 0.8]
    assert len(ws) == round((30 - 10) / 0.4) + 1
    with pytest.raises(InvalidParameterError, match="multiple of 1/125 s"):
        PPGPreprocessor(MODEL_FS, hop_s=0.5)  # 62.5 samples
    batch, starts = preprocess_recording_array(s.ppg, MODEL_FS, hop_s=0.4, settle_s=0.0)
    assert batch.shape == (len(ws), WINDOW_SAMPLES) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[3], ws[3].ppg)
    np.testing.assert_array_equal(starts, [w.start_s for w in ws])


def test_a_rejected_chunk_leaves_the_stream_untouched():
    s = sim(30.0, seed=26)
    ref = preprocess_recording(s.ppg, MODEL_FS)
    pre = PPGPreprocessor(MODEL_FS)
    out = pre.push(s.ppg[:1000])
    bad = s.ppg[1000:1100].copy()
    bad[5] = np.nan
    with pytest.raises(InvalidSignalError, match="NaN"):
        pre.push(bad)
    with pytest.raises(InvalidSignalError, match=r"\(100, 3\)"):
        pre.push(s.ppg[1000:1100], acc=np.zeros((99, 3)))
    out += pre.push(s.ppg[1000:])
    assert len(out) == len(ref)
    np.testing.assert_array_equal(out[-1].ppg, ref[-1].ppg)


def test_acc_must_be_given_always_or_never():
    s = sim(20.0, seed=27)
    pre = PPGPreprocessor(MODEL_FS)
    pre.push(s.ppg[:100], s.acc[:100])
    with pytest.raises(InvalidSignalError, match="started with acc"):
        pre.push(s.ppg[100:200])


def test_bad_preprocessor_arguments():
    with pytest.raises(InvalidParameterError, match="hop_s"):
        PPGPreprocessor(125.0, hop_s=0.003)
    with pytest.raises(UnsupportedRateError, match=">= 10 Hz"):
        PPGPreprocessor(5.0)
    with pytest.raises(InvalidSignalError, match="too short"):
        preprocess_recording(np.zeros(125 * 11), MODEL_FS)


def test_zscore_and_windows():
    x = np.vstack([np.arange(10.0), np.full(10, 3.0)])
    z = zscore(x)
    assert np.allclose(z[0].mean(), 0) and np.allclose(z[0].std(), 1)
    np.testing.assert_array_equal(z[1], 0.0)  # flat: zeros, not NaN
    assert zscore(x.astype(np.float32)).dtype == np.float32
    w = windows(np.arange(30 * 125.0), 125.0)
    assert w.shape == (11, 1250)
    assert w[1, 0] == 250 and w[-1, -1] == 20 * 125 + 1249
    assert windows(np.arange(100.0), 10.0, window_s=2.0, hop_s=1.0).shape == (9, 20)
