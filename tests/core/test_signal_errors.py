"""Every bad input raises an anyppg error that says what was expected, never a numpy traceback."""

from __future__ import annotations

import numpy as np
import pytest

import anyppg
from anyppg.errors import AnyPPGError, InvalidSignalError, TimestampError, UnsupportedRateError
from anyppg.signal import (
    HeartRateTracker,
    InvalidParameterError,
    PPGPreprocessor,
    StreamingResampler,
    ecg_clean,
    ecg_findpeaks,
    heart_rate,
    ppg_clean,
    ppg_findpeaks,
    ppg_quality,
    resample,
    windows,
    zscore,
)

X = np.sin(np.linspace(0, 60, 1250))
WITH_NAN = X.copy()
WITH_NAN[7] = np.nan
WITH_INF = X.copy()
WITH_INF[3] = -np.inf
BACKWARDS = np.arange(1250) / 125.0
BACKWARDS[600] = BACKWARDS[598]

CASES = {
    "nan": (
        lambda: ppg_clean(WITH_NAN, 125.0),
        InvalidSignalError,
        r"1 NaN/inf value\(s\), the first at sample 7",
    ),
    "inf": (lambda: ecg_clean(WITH_INF, 500.0), InvalidSignalError, r"first at sample 3"),
    "strings": (
        lambda: ppg_clean(np.array(["1", "2"]), 125.0),
        InvalidSignalError,
        r"real numbers.*dtype <U1",
    ),
    "complex": (lambda: resample(X + 1j, 64.0, 125.0), InvalidSignalError, r"dtype complex128"),
    "bools": (lambda: ppg_findpeaks(X > 0, 125.0), InvalidSignalError, r"dtype bool"),
    "ragged": (lambda: ppg_clean([[1.0], [1.0, 2.0]], 125.0), InvalidSignalError, r"cannot be read"),
    "2-D": (
        lambda: ppg_clean(np.ones((10, 2)), 125.0),
        InvalidSignalError,
        r"shape \(n_samples,\); got shape \(10, 2\)",
    ),
    "one sample": (lambda: ppg_clean([1.0], 125.0), InvalidSignalError, r"too short: 1 samples; at least 2"),
    "short hr": (
        lambda: heart_rate(X[:250], 125.0),
        InvalidSignalError,
        r"at least 500 samples \(4 s at 125 Hz\)",
    ),
    "short windows": (lambda: windows(X[:100], 125.0), InvalidSignalError, r"at least 1250 samples"),
    "low rate": (lambda: ppg_clean(X, 10.0), UnsupportedRateError, r"10 Hz .*expected > 16 Hz"),
    "zero rate": (lambda: ppg_clean(X, 0), UnsupportedRateError, r"positive finite"),
    "nan rate": (lambda: resample(X, float("nan"), 125.0), UnsupportedRateError, r"positive finite"),
    "string rate": (lambda: ppg_clean(X, "125"), UnsupportedRateError, r"not '125'"),
    "ecg rate": (lambda: ecg_findpeaks(X, 30.0), UnsupportedRateError, r"expected >= 50 Hz"),
    "no rate": (lambda: resample(X, None, 125.0), UnsupportedRateError, r"None only with timestamps"),
    "backwards": (
        lambda: resample(X, 125.0, 64.0, timestamps=BACKWARDS),
        TimestampError,
        r"sample 600 is at",
    ),
    "ts length": (
        lambda: resample(X, 125.0, 64.0, timestamps=BACKWARDS[:10]),
        TimestampError,
        r"expected \(1250,\)",
    ),
    "ts nan": (lambda: resample(X, 125.0, 64.0, timestamps=WITH_NAN), TimestampError, r"timestamp 7 is nan"),
    "method": (lambda: ppg_clean(X, 125.0, method="fir"), InvalidParameterError, r"'zero-phase' or 'causal'"),
    "hr method": (lambda: heart_rate(X, 125.0, method="ml"), InvalidParameterError, r"'auto', 'peaks'"),
    "peak method": (lambda: ppg_findpeaks(X, 125.0, method="x"), InvalidParameterError, r"'elgendi'"),
    "powerline": (
        lambda: ecg_clean(X, 500.0, powerline=55),
        InvalidParameterError,
        r"powerline=55.*50 or 60",
    ),
    "acc shape": (lambda: heart_rate(X, 125.0, acc=np.zeros((1250, 2))), InvalidSignalError, r"\(1250, 3\)"),
    "acc nan": (
        lambda: heart_rate(X, 125.0, acc=np.full((1250, 3), np.nan)),
        InvalidSignalError,
        r"acc contains",
    ),
    "hop": (lambda: windows(X, 125.0, hop_s=0), InvalidParameterError, r"hop_s=0.*> 0"),
    "zscore nan": (lambda: zscore(WITH_NAN), InvalidSignalError, r"NaN/inf"),
    "quality all nan": (lambda: ppg_quality(np.full(500, np.nan), 125.0), InvalidSignalError, r"no finite"),
    "quality short": (lambda: ppg_quality(X[:100], 125.0), InvalidSignalError, r"at least 2 s"),
    "preprocessor rate": (lambda: PPGPreprocessor(float("inf")), UnsupportedRateError, r"positive finite"),
    "bpm range": (
        lambda: heart_rate(X, 125.0, bpm_range=(200, 40)),
        InvalidParameterError,
        r"0 < low < high",
    ),
    "tracker dt": (lambda: HeartRateTracker().update(X, dt_s=-1), InvalidParameterError, r"dt_s"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_raises_a_typed_error_with_a_useful_message(case):
    call, error, message = CASES[case]
    with pytest.raises(error, match=message) as info:
        call()
    assert isinstance(info.value, AnyPPGError)
    assert isinstance(info.value, ValueError)  # and the builtin that fits, for generic handlers


def test_error_fields():
    with pytest.raises(UnsupportedRateError) as rate:
        ppg_clean(X, 12.0)
    assert rate.value.rate == 12.0 and rate.value.expected == "> 16 Hz"
    with pytest.raises(TimestampError) as ts:
        resample(X, 125.0, 64.0, timestamps=BACKWARDS)
    assert ts.value.index == 600
    with pytest.raises(InvalidParameterError) as param:
        ecg_clean(X, 500.0, powerline=55)
    assert (param.value.name, param.value.value) == ("powerline", 55)


def test_streaming_resampler_rejects_a_channel_change_and_input_after_flush():
    r = StreamingResampler(64.0, 125.0)
    r.process(np.zeros((100, 3)))
    with pytest.raises(InvalidParameterError, match="chunk shape"):
        r.process(np.zeros((100, 2)))
    r.flush()
    with pytest.raises(InvalidParameterError, match="reset"):
        r.process(np.zeros((10, 3)))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"duration_s": -1.0}, InvalidParameterError, r"duration_s=-1.0"),
        ({"heart_rate": 300.0}, InvalidParameterError, r"heart_rate=300.0 .*\[30, 220\]"),
        ({"rhythm": "vf"}, InvalidParameterError, r"'sinus' or 'af'"),
        ({"ppg_rate": 5.0}, UnsupportedRateError, r">= 10 Hz"),
        ({"ecg_rate": 0.0}, UnsupportedRateError, r"positive finite"),
        ({"seed": "abc"}, InvalidParameterError, r"an integer"),
        ({"cadence": 9.0}, InvalidParameterError, r"cadence"),
        ({"noise": float("nan")}, InvalidParameterError, r"noise"),
    ],
)
def test_simulator_rejects_bad_parameters(kwargs, error, message):
    args = {"duration_s": 10.0} | kwargs
    with pytest.raises(error, match=message):
        anyppg.simulate(args.pop("duration_s"), **args)
