"""anyppg.analyze and ``anyppg analyze``: batch analysis of recordings and segments.

The shipped int8 student runs in these tests (LiteRT); the stream they are compared with is a real
``replay:`` of a file the test writes.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import anyppg
from anyppg.cli import main
from anyppg.errors import AnyPPGError, InvalidSignalError, UnsupportedRateError
from anyppg.sdk.analyze import MAX_FILL_S, Analysis, analyze, resolve_model


@pytest.fixture(scope="module")
def model():
    return resolve_model("default")


def _recording(seconds: float = 60.0, fs: float = 100.0) -> np.ndarray:
    """Simulated finger PPG with 12 s of heavy noise in the middle (gated windows) and two short NaN runs."""
    ppg = anyppg.simulate(seconds, ppg_rate=fs, heart_rate=72.0, seed=3).ppg.astype(np.float64)
    rng = np.random.default_rng(0)
    lo, hi = int(24 * fs), int(36 * fs)
    ppg[lo:hi] += rng.normal(0.0, 5.0 * ppg.std(), hi - lo)
    ppg[int(5 * fs) : int(5 * fs) + 3] = np.nan  # bridged by interpolation, as the stream does
    ppg[int(47 * fs)] = np.inf
    return ppg


def test_recording_gives_the_streams_windows_and_values(tmp_path: Path, model) -> None:
    fs = 100.0
    ppg = _recording(fs=fs)
    path = tmp_path / "rec.npz"
    np.savez(path, ppg=ppg, fs=fs)
    streamed = anyppg.stream_sync(f"replay:{path}", speed="max", model=model)
    a = analyze(ppg, fs, model=model)

    assert len(a) == len(streamed) > 20
    np.testing.assert_array_equal(a.t_start, [r.t_start for r in streamed])
    np.testing.assert_array_equal(a.t_end, [r.t_end for r in streamed])
    np.testing.assert_array_equal(a.usable, [r.usable for r in streamed])
    np.testing.assert_array_equal(a.quality, [r.quality for r in streamed])
    for name in ("heart_rate_peaks", "heart_rate_tracker"):
        expected = [np.nan if getattr(r, name) is None else getattr(r, name) for r in streamed]
        np.testing.assert_array_equal(getattr(a, name), expected, err_msg=name)
    gated = ~a.usable
    assert gated.sum() >= 3 and a.usable.sum() >= 10  # both kinds of window are compared
    for i, r in enumerate(streamed):
        if r.usable:  # the model ran in both: identical values
            assert a.heart_rate[i] == r.heart_rate
            assert a.heart_rate_model[i] == r.heart_rate_model
            assert a.af_probability[i] == r.af_probability
            assert a.quality_model[i] == r.quality_model
            np.testing.assert_array_equal(a.embedding[i], r.embedding)
        else:  # the stream's gate skipped the model; analyze runs it on every readable window
            assert r.heart_rate_model is None and r.af_probability is None
    assert np.isfinite(a.heart_rate_model).all() and np.isfinite(a.af_probability).all()
    assert a.embedding.shape == (len(a), 512) and np.isfinite(a.embedding).all()


def test_a_multichannel_wrist_recording_gives_the_streams_values(tmp_path: Path, capsys) -> None:
    """Two PPG channels and an accelerometer: the stream's motion tracker reads them all; so does
    analyze with ``extra_channels``, and so does ``anyppg analyze`` on the same file."""
    fs = 50.0
    sim = anyppg.simulate(40.0, ppg_rate=fs, heart_rate=95.0, motion=0.6, motion_fraction=1.0, seed=6)
    acc = np.asarray(sim.acc, dtype=np.float64)
    acc = acc if acc.shape[-1] == 3 else acc.T
    rng = np.random.default_rng(1)
    ppg = np.column_stack([sim.ppg, 0.8 * sim.ppg + 0.2 * rng.normal(size=sim.ppg.shape[0])])
    path = tmp_path / "wrist.npz"
    np.savez(path, ppg=ppg, acc=acc, fs=fs)
    streamed = anyppg.stream_sync(f"replay:{path}", speed="max", model=None)
    a = analyze(ppg[:, 0], fs, acc=acc, extra_channels=ppg[:, 1:].T, model="none")
    tracked = [np.nan if r.heart_rate_tracker is None else r.heart_rate_tracker for r in streamed]
    np.testing.assert_array_equal(a.t_start, [r.t_start for r in streamed])
    np.testing.assert_array_equal(a.heart_rate_tracker, tracked)
    np.testing.assert_array_equal(a.motion, [r.motion for r in streamed])
    assert np.isfinite(a.motion).all()
    assert main(["analyze", str(path), "--json", "--model", "none"]) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert [r["heart_rate_tracker"] for r in rows] == [round(float(v), 2) for v in a.heart_rate_tracker]
    with pytest.raises(InvalidSignalError, match=r"extra_channels has shape \(1, 10\)"):
        analyze(ppg[:, 0], fs, extra_channels=np.zeros((1, 10)), model="none")


def test_segments_at_100_hz_give_one_result_each_in_order(model) -> None:
    fs = 100.0
    rates = [55.0, 95.0, 130.0, 70.0]
    segs = np.stack(
        [
            anyppg.simulate(10.0, ppg_rate=fs, heart_rate=hr, hrv=0.01, seed=i).ppg
            for i, hr in enumerate(rates)
        ]
    )
    assert segs.shape == (4, 1000)
    a = analyze(segs, fs, model=model)
    assert len(a) == 4 and a.segments
    np.testing.assert_array_equal(a.t_start, 0.0)
    np.testing.assert_array_equal(a.t_end, 10.0)
    np.testing.assert_allclose(a.heart_rate, rates, atol=3.0)  # each row is its own segment, in order
    assert np.isfinite(a.heart_rate_model).all() and np.isfinite(a.af_probability).all()
    # one segment alone gives the same row: segments are independent
    one = analyze(segs[2:3], fs, model=model)
    assert one.heart_rate[0] == a.heart_rate[2]
    np.testing.assert_array_equal(one.embedding[0], a.embedding[2])


class _InputRecorder:
    """Stands in for a deployed model to capture the exact windows analyze feeds it."""

    input_shape = (1, 1, 1250)
    path = "recorder"

    card = SimpleNamespace(preprocessing=SimpleNamespace(sampling_rate_hz=125.0))  # a ModelCard's layout

    def __init__(self) -> None:
        self.inputs: list[np.ndarray] = []

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        self.inputs.append(np.array(x, dtype=np.float32).reshape(-1))
        return {"embedding": np.zeros((1, 4), np.float32), "heart_rate": np.full((1, 1), 70.0, np.float32)}


def test_beat_regularity_tells_an_irregular_rhythm_and_the_af_alert_needs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model
) -> None:
    """Segments of a steady pulse read every beat interval near their median; AF's do not. The AF
    alert is P(AF) > 0.5 in a usable, still window with irregular beats: each condition alone is not enough."""
    from anyppg.sdk.results import AF_ALERT_PROBABILITY, af_alert
    from anyppg.signal.heart_rate import REGULAR_BEATS

    sinus = [anyppg.simulate(10, heart_rate=70, ppg_rate=100.0, seed=s).ppg[:1000] for s in range(3)]
    fib = [
        anyppg.simulate(10, heart_rate=90, rhythm="af", ppg_rate=100.0, seed=s).ppg[:1000] for s in range(3)
    ]
    a = analyze(np.stack(sinus + fib), 100.0, model=model)
    assert np.all(a.beat_regularity[:3] >= REGULAR_BEATS) and np.all(a.beat_regularity[3:] < REGULAR_BEATS)
    np.testing.assert_array_equal(
        a.af_alert, a.usable & (a.af_probability > AF_ALERT_PROBABILITY) & (a.beat_regularity < REGULAR_BEATS)
    )
    assert af_alert(0.9, 0.5, True) is True
    assert not any(
        (
            af_alert(0.9, 1.0, True),
            af_alert(0.4, 0.5, True),
            af_alert(0.9, 0.5, False),
            af_alert(None, 0.5, True),
        )
    )
    assert not af_alert(0.9, None, True)  # too few beats to call the rhythm irregular
    assert af_alert(0.9, 0.5, True, motion=0.02) and not af_alert(0.9, 0.5, True, motion=0.3)  # moving
    assert af_alert(0.9, 0.5, True, motion=float("nan"))  # no accelerometer: read as still
    np.testing.assert_array_equal(
        af_alert(np.array([0.9, 0.9, np.nan]), np.array([0.5, np.nan, 0.5]), np.ones(3, bool)),
        [True, False, False],
    )

    path = tmp_path / "segments.npz"
    np.savez(path, ppg_segments=np.stack(sinus + fib), fs=100.0)
    assert main(["analyze", str(path), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [float(r["beat_regularity"]) for r in rows] == pytest.approx(a.beat_regularity, abs=1e-3)
    assert [r["af_alert"] for r in rows] == [str(bool(x)) for x in a.af_alert]


def test_a_10_s_segment_is_the_model_input_of_a_stream_starting_at_rest() -> None:
    """The training contract: a segment's window is the segment itself, band-passed from rest (the
    preprocessor's start state) with nothing discarded, as the heads are trained on Liu segments."""
    from anyppg.signal import PPGPreprocessor

    fs = 100.0
    seg = anyppg.simulate(10.0, ppg_rate=fs, heart_rate=88.0, seed=11).ppg
    recorder = _InputRecorder()
    analyze(seg[None, :], fs, model=recorder)
    tail = np.full(50, seg[-1])  # the resampler's look-ahead past the last sample
    expected = PPGPreprocessor(fs, settle_s=0.0).push(np.concatenate([seg, tail]))[0].ppg
    assert len(recorder.inputs) == 1
    # equal but for the resampler's start (its own start state vs the held first value), which the
    # recursive band-pass carries on at the 1e-4 level in these z-scored units
    np.testing.assert_allclose(recorder.inputs[0], expected, atol=2e-3)


def test_a_longer_segment_is_read_on_its_last_10_s() -> None:
    fs = 125.0
    ppg = anyppg.simulate(16.0, ppg_rate=fs, heart_rate=80.0, seed=5).ppg
    a = analyze(ppg[None, :], fs, model="none")
    assert (a.t_start[0], a.t_end[0]) == (6.0, 16.0)
    assert abs(a.heart_rate[0] - 80.0) < 3.0
    assert a.embedding.shape == (1, 0) and np.isnan(a.heart_rate_model).all()


def test_saturated_segments_are_flagged_and_still_get_every_model_output(model) -> None:
    fs = 100.0
    seg = anyppg.simulate(10.0, ppg_rate=fs, heart_rate=72.0, seed=12).ppg
    peak_last = seg.copy()
    peak_last[-1] = seg.max() + 1.0  # its maximum is the last sample, which the look-ahead holds
    saturated = np.minimum(seg, np.quantile(seg, 0.9))
    a = analyze(np.stack([seg, peak_last, saturated]), fs, model=model)
    np.testing.assert_array_equal(a.clipped, [False, False, True])  # the held tail is not a plateau
    np.testing.assert_array_equal(a.usable, [True, True, False])
    assert np.isfinite(a.heart_rate_model).all() and np.isfinite(a.af_probability).all()
    assert abs(a.heart_rate[2] - 72.0) < 3.0
    assert "clipped" in a.columns() and a.to_records()[2]["clipped"] is True


def test_accelerometer_in_either_layout_gives_motion() -> None:
    sim = anyppg.simulate(30.0, ppg_rate=50.0, motion=0.5, motion_fraction=1.0, seed=2)
    acc = np.asarray(sim.acc, dtype=np.float64)
    acc = acc if acc.shape[-1] == 3 else acc.T
    a = analyze(sim.ppg, 50.0, acc=acc, model="none")
    b = analyze(sim.ppg, 50.0, acc=acc.T, model="none")
    assert np.isfinite(a.motion).all() and (a.motion > 0).all()
    np.testing.assert_array_equal(a.motion, b.motion)


@pytest.mark.parametrize(
    ("ppg", "rate", "error", "words"),
    [
        (np.zeros((2, 3, 1000)), 100.0, InvalidSignalError, "shape (2, 3, 1000)"),
        (np.zeros(0), 100.0, InvalidSignalError, "shape (0,)"),
        (np.array(["a", "b"]), 100.0, InvalidSignalError, "real numbers"),
        (np.zeros(5000), 5.0, UnsupportedRateError, "10-10000 Hz"),
        (np.zeros(5000), float("nan"), UnsupportedRateError, "anyppg.analyze"),
        (np.zeros(5000), "100", UnsupportedRateError, "not '100'"),
        (np.ones((3, 800)), 100.0, InvalidSignalError, "segment 0 has 800 samples"),
        (np.ones(1000), 100.0, InvalidSignalError, "too short for one window"),
        (np.full(3000, np.nan), 100.0, InvalidSignalError, "no valid sample"),
    ],
)
def test_bad_input_is_one_clear_error(ppg, rate, error, words) -> None:
    with pytest.raises(error) as info:
        analyze(ppg, rate, model="none")
    assert words in str(info.value) and "\n" not in str(info.value)


_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0.0, 1.0, np.nan, np.inf, -np.inf, 1e12]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.sampled_from([(1300,), (1, 1000), (2, 1200), (3,), (1000, 2), (0, 1000)]),
    fill=_VALUES,
    holes=st.lists(st.tuples(st.integers(0, 1299), st.integers(1, 200), _VALUES), max_size=4),
    rate=st.sampled_from([100.0, 9.0, 0.0, -100.0, float("nan"), 2e4, 25.6]),
)
def test_fuzz_any_input_gives_rows_or_one_line_error(shape, fill, holes, rate) -> None:
    rng = np.random.default_rng(0)
    ppg = np.sin(np.arange(int(np.prod(shape))) / 13.0) + 0.1 * rng.normal(size=int(np.prod(shape)))
    ppg = ppg.reshape(shape) if ppg.size else np.zeros(shape)
    flat = ppg.reshape(-1)
    for start, length, value in holes:
        flat[start : start + length] = value
    if not holes:
        flat[:: max(1, flat.size // 3 or 1)] = fill
    try:
        a = analyze(ppg, rate, model="none")
    except AnyPPGError as exc:
        assert "\n" not in str(exc) and str(exc)
    else:
        assert len(a) > 0 if ppg.ndim == 1 else len(a) == ppg.shape[0]  # never an empty result


def test_a_long_nan_run_is_refused_where_it_is() -> None:
    clean = anyppg.simulate(30.0, ppg_rate=100.0, seed=1).ppg.astype(np.float64)
    ppg = clean.copy()
    ppg[1500:1600] = np.nan  # 1 s
    with pytest.raises(InvalidSignalError, match=r"run of 100 missing .* from sample 1500 \(15 s\)"):
        analyze(ppg, 100.0, model="none")
    segs = np.stack([ppg[:1000], ppg[1000:2000]])
    with pytest.raises(InvalidSignalError, match="segment 1 has a run of 100 missing"):
        analyze(segs, 100.0, model="none")
    short = clean.copy()
    short[1500 : 1500 + round(MAX_FILL_S * 100)] = np.nan  # as long as is bridged
    assert len(analyze(short, 100.0, model="none")) == len(analyze(clean, 100.0, model="none"))


def _with_a_dropout(fs: float = 100.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """60 s of simulated PPG, its sample times, and which samples a 3 s dropout at 20 s lost."""
    ppg = anyppg.simulate(60.0, ppg_rate=fs, heart_rate=72.0, seed=5).ppg.astype(np.float64)
    t = np.arange(ppg.shape[0]) / fs
    lost = (t >= 20.0) & (t < 23.0)
    return ppg, t, lost


def test_gaps_restart_analyses_around_a_dropout_as_the_stream_does(tmp_path: Path, model) -> None:
    """A recording with a 3 s dropout: refused by default; with ``gaps="restart"`` the windows of
    ``replay:`` of the file the recorder would write (``t`` jumping over the dropout), the gap listed."""
    fs = 100.0
    ppg, t, lost = _with_a_dropout(fs)
    path = tmp_path / "dropout.npz"
    np.savez(path, ppg=ppg[~lost], t=t[~lost])
    streamed = anyppg.stream_sync(f"replay:{path}", speed="max", model=model)
    holed = np.where(lost, np.nan, ppg)
    with pytest.raises(InvalidSignalError, match=r"run of 300 missing .* \(20 s\).*gaps='restart'"):
        analyze(holed, fs, model=model)

    a = analyze(holed, fs, model=model, gaps="restart")
    np.testing.assert_allclose(a.gaps, [[20.0, 23.0]])
    assert len(a) == len(streamed) > 15
    np.testing.assert_array_equal(a.t_start, [r.t_start for r in streamed])
    np.testing.assert_array_equal(a.quality, [r.quality for r in streamed])
    np.testing.assert_array_equal(a.heart_rate_tracker, [r.heart_rate_tracker for r in streamed])
    assert not ((a.t_start < 23.0) & (a.t_end > 20.0)).any()  # no window spans the dropout
    assert a.t_start[a.t_start > 20.0].min() == pytest.approx(25.0)  # 2 s of settling after it
    assert np.isfinite(a.heart_rate_model).all() and np.all(np.abs(a.heart_rate - 72.0) < 5.0)
    # without a long run nothing is listed, and a short one is bridged as before
    assert analyze(ppg, fs, model="none", gaps="restart").gaps.shape == (0, 2)
    with pytest.raises(ValueError, match="gaps must be 'error' or 'restart'"):
        analyze(ppg, fs, model="none", gaps="skip")  # type: ignore[arg-type]


def test_gaps_restart_still_refuses_a_segment_with_a_long_run() -> None:
    ppg, _, lost = _with_a_dropout()
    segs = np.where(lost, np.nan, ppg)[1500:3500].reshape(2, 1000)
    with pytest.raises(InvalidSignalError, match=r"segment 0 has a run of 300 missing.*fill it$"):
        analyze(segs, 100.0, model="none", gaps="restart")


def test_cli_analyses_a_recording_with_a_dropout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``anyppg analyze`` reads a file as ``replay:`` does: a dropout restarts the windows (stderr
    says where), ``--gaps error`` refuses it; the data folder's ``fs_ppg`` names the rate too."""
    fs = 100.0
    ppg, t, lost = _with_a_dropout(fs)
    path = tmp_path / "dropout.npz"
    np.savez(path, ppg=ppg[~lost], t=t[~lost])
    expected = analyze(np.where(lost, np.nan, ppg), fs, model="none", gaps="restart")

    assert main(["analyze", str(path), "--model", "none", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["gaps"] == [[20.0, 23.0]] and out["rows"] == len(expected)
    assert [r["t_start"] for r in out["results"]] == expected.t_start.tolist()
    assert "1 gap(s) over 0.5 s (3 s in all, the longest 3 s at 20 s)" in captured.err
    assert "invalid" not in captured.err  # a dropout is time without samples, not bad samples

    assert main(["analyze", str(path), "--model", "none", "--gaps", "error"]) == 1
    assert "run of 300 missing" in capsys.readouterr().err

    folder_style = tmp_path / "folder_style.npz"
    np.savez(folder_style, ppg=ppg.astype(np.float32), fs_ppg=np.int64(100))
    assert main(["analyze", str(folder_style), "--model", "none", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == len(analyze(ppg.astype(np.float32), fs, model="none"))


def test_acc_that_does_not_match_is_refused() -> None:
    with pytest.raises(InvalidSignalError, match=r"acc has shape \(10, 3\); expected \(3000, 3\)"):
        analyze(np.zeros(3000), 100.0, acc=np.zeros((10, 3)), model="none")


def _running(seconds: float = 40.0, fs: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """Simulated wrist PPG and its accelerometer ``(n, 3)``, both at ``fs``, arm moving throughout."""
    sim = anyppg.simulate(seconds, ppg_rate=fs, motion=0.5, motion_fraction=1.0, seed=2)
    acc = np.asarray(sim.acc, dtype=np.float64)
    return np.asarray(sim.ppg, dtype=np.float64), acc if acc.shape[-1] == 3 else acc.T


def test_an_accelerometer_at_its_own_rate_is_read_at_the_ppg_sample_times() -> None:
    ppg, acc = _running()
    half = acc[::2]  # the same accelerometer at 25 Hz beside the 50 Hz PPG
    a = analyze(ppg, 50.0, acc=half, acc_sampling_rate=25.0, model="none")
    # what a user would do by hand: interpolate it onto the PPG's samples
    times, acc_times = np.arange(ppg.shape[0]) / 50.0, np.arange(half.shape[0]) / 25.0
    by_hand = np.column_stack([np.interp(times, acc_times, half[:, k]) for k in range(3)])
    b = analyze(ppg, 50.0, acc=by_hand, model="none")
    for name in ("motion", "heart_rate", "heart_rate_tracker"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    full = analyze(ppg, 50.0, acc=acc, model="none")  # and the motion it reads is the full-rate one's
    np.testing.assert_allclose(a.motion, full.motion, rtol=0.1)
    assert (a.motion > 0.05).all()
    np.testing.assert_array_equal(  # channels first works at its own rate too
        analyze(ppg, 50.0, acc=half.T, acc_sampling_rate=25.0, model="none").motion, a.motion
    )


def test_segments_take_an_accelerometer_at_its_own_rate() -> None:
    ppg, acc = _running()
    segs, seg_acc = ppg[:2000].reshape(4, 500), acc[:2000:2].reshape(4, 250, 3)
    a = analyze(segs, 50.0, acc=seg_acc, acc_sampling_rate=25.0, model="none")
    assert len(a) == 4 and (a.motion > 0.05).all()
    with pytest.raises(InvalidSignalError, match=r"expected \(4, m, 3\) or \(4, 3, m\)"):
        analyze(segs, 50.0, acc=seg_acc[:3], acc_sampling_rate=25.0, model="none")


@pytest.mark.parametrize(
    ("samples", "rate", "words"),
    [
        (900, 25.0, "900 accelerometer samples at 25 Hz cover 36.00 s, the PPG 40.00 s at 50 Hz"),
        (1000, 32.0, "1000 accelerometer samples at 32 Hz cover 31.25 s, the PPG 40.00 s at 50 Hz"),
    ],
)
def test_an_accelerometer_that_does_not_cover_the_ppg_is_refused(
    samples: int, rate: float, words: str
) -> None:
    ppg, _ = _running()
    with pytest.raises(InvalidSignalError, match=words):
        analyze(ppg, 50.0, acc=np.zeros((samples, 3)), acc_sampling_rate=rate, model="none")


def test_a_shorter_accelerometer_at_the_ppg_rate_points_to_acc_sampling_rate() -> None:
    with pytest.raises(InvalidSignalError, match="pass acc_sampling_rate="):
        analyze(np.zeros(3000), 100.0, acc=np.zeros((1500, 3)), model="none")
    with pytest.raises(UnsupportedRateError, match="for the accelerometer; expected 10-10000 Hz"):
        analyze(np.zeros(3000), 100.0, acc=np.zeros((30, 3)), acc_sampling_rate=1.0, model="none")


def test_cli_reads_an_npz_accelerometer_at_its_own_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ppg, acc = _running()
    path = tmp_path / "watch.npz"
    np.savez(path, ppg=ppg, fs=50.0, acc=acc[::2].T, acc_fs=25.0)  # channels first, as data folders store it
    assert main(["analyze", str(path), "--json", "--model", "none"]) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    a = analyze(ppg, 50.0, acc=acc[::2], acc_sampling_rate=25.0, model="none")
    np.testing.assert_allclose([r["motion"] for r in rows], a.motion, atol=1e-4)
    folder_style = tmp_path / "folder_style.npz"  # the data folder's names for the two rates
    np.savez(folder_style, ppg=ppg, fs_ppg=50, acc=acc[::2].T, fs_acc=25)
    assert main(["analyze", str(folder_style), "--json", "--model", "none"]) == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    np.testing.assert_allclose([r["motion"] for r in rows], a.motion, atol=1e-4)

    np.savez(path, ppg=ppg, fs=50.0, acc=acc[:1500:2], acc_fs=25.0)
    assert main(["analyze", str(path), "--model", "none"]) == 1
    err = capsys.readouterr().err
    assert f"{path}: 750 accelerometer samples at 25 Hz cover 30.00 s, the PPG 40.00 s at 50 Hz" in err


def test_tables(model) -> None:
    ppg = anyppg.simulate(20.0, ppg_rate=125.0, seed=4).ppg
    a = analyze(ppg, 125.0, model=model)
    assert isinstance(a, Analysis) and isinstance(anyppg.analyze(ppg, 125.0, model=model), anyppg.Analysis)
    records = a.to_records()
    assert len(records) == len(a) and list(records[0]) == a.columns()
    json.dumps(records)  # JSON-ready: plain Python values, None for NaN
    assert records[0]["heart_rate"] == round(float(a.heart_rate[0]), 2)
    pd = pytest.importorskip("pandas")
    df = a.to_dataframe()
    assert isinstance(df, pd.DataFrame) and len(df) == len(a)
    np.testing.assert_array_equal(df["quality"].to_numpy(), a.quality)


# --- the command ----------------------------------------------------------------------------------


def test_cli_json_and_csv_match_the_api(tmp_path: Path, capsys: pytest.CaptureFixture[str], model) -> None:
    fs = 100.0
    ppg = anyppg.simulate(30.0, ppg_rate=fs, seed=7).ppg
    path = tmp_path / "rec.npz"
    np.savez(path, ppg=ppg, fs=fs)
    a = analyze(ppg, fs, model=model)

    assert main(["analyze", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["type"] == "analysis" and out["rows"] == len(a) and not out["segments"]
    assert [r["t_start"] for r in out["results"]] == a.t_start.tolist()
    assert [r["heart_rate_model"] for r in out["results"]] == [round(float(v), 2) for v in a.heart_rate_model]

    assert main(["analyze", str(path), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == len(a)
    np.testing.assert_allclose([float(r["heart_rate"]) for r in rows], a.heart_rate, atol=0.006)


def test_cli_segments_from_a_2d_npz_and_from_a_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fs = 100.0
    ppg = anyppg.simulate(35.0, ppg_rate=fs, seed=8).ppg
    seg_path = tmp_path / "segs.npz"
    np.savez(seg_path, ppg=ppg[:3000].reshape(3, 1000), fs=fs)
    assert main(["analyze", str(seg_path), "--segments", "--json", "--model", "none"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 3 and out["segments"] and [r["t_end"] for r in out["results"]] == [10.0] * 3
    assert [r["segment"] for r in out["results"]] == [0, 1, 2] and out["columns"][0] == "segment"

    # the data folder's Liu layout ('ppg_segments', 'fs_ppg', no 'ppg') is segments without the flag
    liu_path = tmp_path / "liu.npz"
    np.savez(liu_path, ppg_segments=ppg[:3000].reshape(3, 1000), fs_ppg=fs, labels=np.zeros(3, np.int8))
    assert main(["analyze", str(liu_path), "--json", "--model", "none"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["results"] == out["results"]
    assert "holds segments ('ppg_segments', no 'ppg'): one row per segment" in captured.err

    csv_path = tmp_path / "rec.csv"
    t = np.arange(ppg.shape[0]) / fs
    np.savetxt(csv_path, np.column_stack([t, ppg]), delimiter=",", header="t,ppg", comments="")
    table = tmp_path / "out.csv"
    assert (
        main(["analyze", str(csv_path), "--segments", "--csv", "--out", str(table), "--model", "none"]) == 0
    )
    err = capsys.readouterr().err
    assert "500 samples after the last whole segment left out" in err
    assert len(list(csv.DictReader(io.StringIO(table.read_text())))) == 3


def test_cli_unwritable_out_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rec.npz"
    np.savez(path, ppg=anyppg.simulate(20.0, ppg_rate=100.0, seed=1).ppg, fs=100.0)
    out = tmp_path / "missing-folder" / "table.csv"
    assert main(["analyze", str(path), "--csv", "--out", str(out), "--model", "none"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"anyppg analyze: error: cannot write {out}: No such file or directory"]


def test_cli_error_is_one_json_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "short.npz"
    np.savez(path, ppg=np.ones(500), fs=100.0)
    assert main(["analyze", str(path), "--json", "--model", "none"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["type"] == "InvalidSignalError" and "too short for one window" in out["error"]


def test_cli_text_ends_with_a_summary_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model
) -> None:
    """The text table on stdout; one line about the whole recording on stderr (not with --quiet)."""
    from anyppg.sdk.cmd_analyze import summary_line

    ppg = anyppg.simulate(40.0, heart_rate=72, ppg_rate=100.0, seed=2).ppg
    path = tmp_path / "rec.npz"
    np.savez(path, ppg=ppg, fs=100.0)
    assert main(["analyze", str(path)]) == 0
    captured = capsys.readouterr()
    a = analyze(ppg, 100.0, model=model)
    assert len(captured.out.splitlines()) == len(a)
    assert captured.err.splitlines()[-1] == f"anyppg analyze: {summary_line(a)}"
    hr = a.heart_rate[a.usable]
    assert summary_line(a).startswith(f"{len(a)} windows, {int(a.usable.sum())} passed the quality gate; ")
    assert f"median {np.median(hr):.1f} bpm" in summary_line(a) and summary_line(a).endswith("AF alerts 0")
    assert main(["analyze", str(path), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
