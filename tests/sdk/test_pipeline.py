"""The streaming pipeline: same windows as training, heart rate against the simulator, gaps, rates,
back-pressure, the quality gate and the model (the shipped int8 student through LiteRT)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import anyppg
from anyppg.sdk.pipeline import Pipeline, outvoted
from anyppg.sdk.samples import SampleBlock
from anyppg.sdk.summary import StreamSummary
from anyppg.signal import MODEL_FS, HeartRateTracker, ppg_quality, preprocess_recording
from anyppg.signal.motion_hr import MotionHeartRateTracker


def _results(url: str, model=None, motion_model="auto", **kwargs):
    async def main():
        async with anyppg.connect(url, **kwargs) as device:
            return [r async for r in device.infer(model, motion_model=motion_model)], device

    return asyncio.run(main())


def test_streamed_windows_equal_the_training_windows():
    """The design's central rule: a window seen live is, sample for sample, a window seen in training."""
    results, device = _results("sim:?hr=66&seed=8&duration=40&rate=50&speed=max&block=7")
    sim = device.transport.simulation
    training = preprocess_recording(sim.ppg, sim.ppg_rate, acc=sim.acc)
    assert len(results) == len(training) > 5
    for r, w in zip(results, training, strict=True):
        np.testing.assert_array_equal(r.window, w.ppg)
        assert (r.t_start, r.t_end) == (w.start_s, w.end_s)


@pytest.mark.parametrize(
    ("hr", "rate", "motion"), [(45, 25.0, 0.0), (58, 25.0, 0.0), (75, 64.0, 0.6), (120, 125.0, 0.0)]
)
def test_heart_rate_against_the_simulator_and_the_core_tracker(hr, rate, motion):
    url = f"sim:?hr={hr}&seed=1&duration=40&rate={rate}&motion={motion}&speed=max"
    results, device = _results(
        url, motion_model=None
    )  # the tracker alone (tests/sdk/test_motion_model_stream.py: with it)
    sim = device.transport.simulation
    # peaks: within 4 bpm of the simulator's own beat-to-beat heart rate inside each window
    for r in results:
        inside = (sim.r_peaks >= r.t_start) & (sim.r_peaks < r.t_end)
        if not motion:
            assert abs(r.heart_rate_peaks - sim.hr[inside].mean()) < 4
            assert r.usable and r.quality > 0.6
    # tracked: exactly the core's MotionHeartRateTracker over the training windows (one
    # implementation), given the accelerometer; the simulator's heart rate within 3 bpm once locked
    tracker = MotionHeartRateTracker(MODEL_FS)
    expected = []
    for w in preprocess_recording(sim.ppg, rate, acc=sim.acc):
        expected.append(tracker.update(w.filtered[None, :], w.acc.T, dt_s=2.0).bpm)
    assert any(r.motion > 0.1 for r in results) == bool(motion)
    np.testing.assert_array_equal([r.heart_rate_tracker for r in results], expected)
    # no models: nothing to fuse; still windows whose beats are all regular report their beats per
    # minute where that is within 3 bpm of the tracker, which is closer to the window's own rate
    assert all(abs(r.heart_rate - r.heart_rate_tracker) <= 3.0 for r in results)
    if not motion:
        window_truth = [60 / np.diff(sim.r_peaks[(sim.r_peaks >= r.t_start) & (sim.r_peaks < r.t_end)]).mean()
                        for r in results]  # fmt: skip
        reported = np.abs([r.heart_rate for r in results] - np.array(window_truth))
        tracked = np.abs([r.heart_rate_tracker for r in results] - np.array(window_truth))
        assert reported.mean() <= tracked.mean() and any(
            r.heart_rate != r.heart_rate_tracker for r in results
        )
        for r in results:  # a replaced value says where it came from
            assert (r.heart_rate_sources == ("beats",)) == (r.heart_rate != r.heart_rate_tracker)
    truth = [sim.hr[(sim.r_peaks >= r.t_end - 8) & (sim.r_peaks < r.t_end)].mean() for r in results]
    assert np.median(np.abs(np.array(expected) - truth)[3:]) < 3  # the last 8 s are analysed


def test_the_classic_tracker_is_still_there():
    """``Pipeline(tracker="classic")``: exactly the core's HeartRateTracker, given the accelerometer
    where the core's quality check sees motion."""
    sim = anyppg.simulate(40, heart_rate=75, ppg_rate=64.0, motion=0.6, seed=1)
    pipeline = Pipeline("classic", tracker="classic")
    results = [
        r
        for i in range(0, len(sim.ppg), 16)
        for r in pipeline.push(SampleBlock(i / 64.0, 64.0, sim.ppg[i : i + 16], sim.acc[i : i + 16]))
    ]
    tracker = HeartRateTracker(MODEL_FS)
    expected = []
    for w in preprocess_recording(sim.ppg, 64.0, acc=sim.acc):
        moving = ppg_quality(w.filtered, MODEL_FS, acc=w.acc).motion
        expected.append(tracker.update(w.filtered, w.acc if moving else None, dt_s=2.0))
    np.testing.assert_array_equal([r.heart_rate_tracker for r in results], expected[: len(results)])


def test_a_long_gap_restarts_windowing_and_no_window_spans_it():
    results, device = _results("sim:?duration=60&speed=max&disconnect_at=25&down=4")
    (gap,) = device.accounting.gaps
    assert not gap.filled
    for r in results:
        assert r.t_end <= gap.start or r.t_start >= gap.end
    assert min(r.t_start for r in results if r.t_start >= gap.end) == pytest.approx(gap.end + 2.0)  # settle


def test_the_motion_tracker_keeps_its_track_across_a_long_gap():
    """After a gap too long to bridge the windows restart, but the motion tracker goes on: its first
    step after the gap spans the time lost (its allowed change widens with it) instead of starting
    from nothing, where a window with strong slow power can lock a fresh track onto half the rate."""
    fs = 64.0
    sim = anyppg.simulate(60, heart_rate=75.0, hrv=0.01, ppg_rate=fs, noise=0.01, seed=2)
    pipeline = Pipeline("test")
    steps: list[tuple[int, float]] = []
    starts: list[float] = []
    block = int(fs)
    for i in range(0, len(sim.ppg), block):
        t0 = i / fs + (20.0 if i >= 30 * fs else 0.0)  # 20 s missing after 30 s: too long to bridge
        results = pipeline.push(SampleBlock(t0, fs, sim.ppg[i : i + block], sim.acc[i : i + block]))
        starts += [r.t_start for r in results]
        tracker = pipeline._tracker
        if isinstance(tracker, MotionHeartRateTracker) and not hasattr(tracker, "_spied"):
            update = tracker.update
            tracker._spied = True

            def spy(*args, update=update, tracker=tracker, **kwargs):
                steps.append((id(tracker), kwargs["dt_s"]))
                return update(*args, **kwargs)

            tracker.update = spy
    (gap,) = pipeline.accounting.gaps
    assert not gap.filled and gap.end - gap.start == pytest.approx(20.0, abs=1.0)
    assert len({tracker for tracker, _ in steps}) == 1  # one tracker for the whole stream
    dts = [dt for _, dt in steps]
    before = max(t for t in starts if t < gap.start)
    after = min(t for t in starts if t >= gap.end)
    # every step is one hop but the first after the gap, which spans the window starts around it
    assert sorted(set(dts)) == [2.0, after - before]
    assert dts.count(after - before) == 1 and after - before > 20.0
    assert abs(pipeline._tracker.bpm - 75.0) < 3


def test_a_still_window_with_every_beat_found_reports_its_beats_per_minute():
    """The reported rate becomes 60 / the window's mean beat interval where the window is still, every
    beat is regular and that rate agrees with the fused one within 3 bpm; otherwise the fused rate."""
    from anyppg.signal.segment import PPGSegment

    t = np.arange(1250) / MODEL_FS
    beats = 0.4 + np.concatenate([[0.0], np.cumsum(np.tile([0.8, 0.8, 0.9], 4))])
    pulse = sum(np.exp(-0.5 * ((t - b) / 0.06) ** 2) for b in beats)
    seg = PPGSegment(pulse - pulse.mean(), MODEL_FS)
    by_beats, used = Pipeline._beat_by_beat(73.0, seg, moving=False)
    inside = beats[beats < 9.9]
    assert used and by_beats == pytest.approx(60 / np.diff(inside).mean(), abs=0.2)  # the median says 75
    assert Pipeline._beat_by_beat(78.0, seg, moving=False) == (78.0, False)  # 6 bpm apart: fused stays
    assert Pipeline._beat_by_beat(73.0, seg, moving=True) == (73.0, False)  # moving: steps look like beats
    assert Pipeline._beat_by_beat(None, seg, moving=False) == (None, False)


def test_short_gaps_are_bridged_and_counted_in_the_window():
    results, device = _results("sim:?duration=40&speed=max&drop=0.03&seed=9")
    acc = device.accounting
    assert acc.gaps and all(g.filled for g in acc.gaps)
    assert sum(r.filled for r in results) > 0
    assert acc.is_balanced()


def test_a_rate_too_low_drops_the_block_and_the_stream_goes_on(caplog):
    pipeline = Pipeline("test")
    with caplog.at_level("WARNING", logger="anyppg.sdk.accounting"):
        assert pipeline.push(SampleBlock(0.0, 5.0, np.zeros(50))) == []
    assert "expected 10..10000 Hz" in caplog.text
    results = [
        r for i in range(30) for r in pipeline.push(SampleBlock(i * 1.0, 50.0, np.sin(np.arange(50) / 3)))
    ]
    acc = pipeline.accounting
    assert results and acc.dropped["unsupported_rate"] == 50 and acc.issues["unsupported_rate"] == 1
    assert acc.is_balanced()


def test_flat_signal_fails_the_gate_and_reports_no_heart_rate():
    pipeline = Pipeline("flat")
    results = []
    for i in range(30):
        results += pipeline.push(SampleBlock(i * 1.0, 50.0, np.full(50, 3.0)))
    assert results and all(not r.usable and r.heart_rate is None for r in results)
    assert pipeline.accounting.windows_gated == len(results)


def test_a_saturating_sensor_fails_the_gate_and_its_heart_rate_is_still_read(shipped_model):
    """Plateaus at the rail show only in the raw samples; the stream flags them (``clipped``), keeps
    the model off those windows (the gate) and still reads the rate, which saturation does not hide."""
    s = anyppg.simulate(60.0, heart_rate=75.0, ppg_rate=100.0, seed=5)
    top = np.quantile(s.ppg, 0.9)
    runs = {}
    for name, ppg in (("clean", s.ppg), ("saturated", np.minimum(s.ppg, top))):
        pipeline = Pipeline(name, shipped_model)
        results = []
        for i in range(0, len(ppg), 25):
            results += pipeline.push(SampleBlock(i / 100.0, 100.0, ppg[i : i + 25]))
        runs[name] = results
    clean, saturated = runs["clean"], runs["saturated"]
    assert clean and all(r.usable and not r.clipped and r.heart_rate_model is not None for r in clean)
    assert len(saturated) == len(clean)
    for r in saturated:
        assert r.clipped and not r.usable and r.to_dict()["clipped"] is True
        assert r.heart_rate_model is None  # the gate kept the model off the window
        assert r.heart_rate == pytest.approx(75.0, abs=4.0)
    summary = StreamSummary("saturated")
    for r in saturated:
        summary.add(r)
    assert summary.to_dict()["clipped_windows"] == len(saturated)
    assert summary.to_dict()["usable_windows"] == 0


class _OffsetRate:
    """The shipped student with 30 bpm added to its heart-rate output: a model that disagrees with
    the pulse (a wrapper of the real model, not a mock of it)."""

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        return getattr(self._model, name)

    def run(self, x):
        out = self._model.run(x)
        return {**out, "heart_rate": out["heart_rate"] + 30.0}


def test_a_track_starts_on_windows_the_quality_index_fails_only_where_three_reads_agree(shipped_model):
    """No window passes a strict gate here: the tracker starts where its first estimate, the window's
    beat rate and the model's rate agree; with no model, or one 30 bpm off, it never starts."""
    s = anyppg.simulate(40.0, heart_rate=90.0, ppg_rate=100.0, seed=5)

    def stream(model):
        pipeline = Pipeline("strict", model, quality_threshold=0.995)
        results = []
        for i in range(0, len(s.ppg), 25):
            results += pipeline.push(SampleBlock(i / 100.0, 100.0, s.ppg[i : i + 25]))
        assert results and not any(r.usable for r in results)
        return results

    agreeing = stream(shipped_model)
    assert all(r.heart_rate == pytest.approx(90.0, abs=5.0) for r in agreeing)
    assert all(r.heart_rate_model is None for r in agreeing)  # run to confirm the track, not reported
    for model in (None, _OffsetRate(shipped_model)):
        assert all(r.heart_rate is None and r.heart_rate_tracker is None for r in stream(model))


def test_a_tracker_three_independent_reads_agree_against_is_outvoted():
    """The window's beat rate, the motion model and the encoder head agreeing (within 5 bpm) against
    the tracker (all more than 10 bpm away: a half-rate lock after a gap) set it aside."""
    assert outvoted(41.5, 79.4, 81.1, 83.2)  # the demo's half-rate lock after a gap
    assert not outvoted(41.5, 79.4, 88.0, 83.2)  # the three others spread over more than 5 bpm
    assert not outvoted(72.0, 79.4, 81.1, 83.2)  # the tracker is within 10 bpm of one of them
    # a read is missing: e.g. the head's own quality head rejected a window an arm movement fooled
    # the beat rate and the motion model on (the demo recording at 278 s: tracker 69, both 99-100)
    assert not outvoted(69.0, 99.1, 100.3, None)
    assert not outvoted(41.5, None, 81.1, 83.2) and not outvoted(41.5, 79.4, None, 83.2)


def test_drop_oldest_backpressure_keeps_the_accounting_exact():
    """A consumer slower than a live device: the oldest queued blocks are dropped and counted."""

    async def main():
        url = "sim:?duration=30&speed=200&block=4"
        async with anyppg.connect(url, queue_blocks=8, backpressure="drop_oldest") as device:
            async for _ in device.samples():
                await asyncio.sleep(0.01)  # a slow application
            return device

    device = asyncio.run(main())
    acc = device.accounting
    assert acc.dropped["backpressure"] > 0
    assert acc.is_balanced()
    assert acc.received == device.transport.truth["samples_sent"]


@pytest.fixture(scope="module")
def shipped_model():
    from anyppg.errors import ModelLoadError
    from anyppg.sdk.runtime import load_model
    from anyppg.sdk.shipped import default_model_path

    try:
        path = default_model_path("tflite")
    except ModelLoadError as exc:
        pytest.skip(f"the shipped student is not built yet: {exc}")
    return load_model(path, threads=1)


def test_shipped_student_runs_on_every_usable_window(shipped_model):
    results, _ = _results("sim:?hr=80&seed=2&duration=30&speed=max", model=shipped_model)
    assert results
    for r in results:
        assert r.usable and r.embedding.shape == (shipped_model.card.outputs[0].shape[-1],)
        assert np.isfinite(r.embedding).all() and 20 < r.heart_rate_model < 250
        assert 0 <= r.quality_model <= 1 and 0 <= r.af_probability <= 1
    direct = shipped_model.run(results[-1].window.reshape(1, 1, -1))
    np.testing.assert_allclose(results[-1].embedding, direct["embedding"].reshape(-1), rtol=1e-6)
