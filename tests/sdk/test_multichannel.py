"""Several PPG channels end to end: replay files in both layouts, sample blocks, the timeline (time points
counted once), preprocessing (extra channels filtered alongside channel 0), the pipeline, the recorder
(NPZ, CSV, WFDB) and ``replay:`` of what it recorded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

import anyppg
from anyppg.errors import AnyPPGError, InvalidSignalError
from anyppg.sdk.motion_runtime import MotionModel
from anyppg.sdk.pipeline import Pipeline
from anyppg.sdk.recorder import Recorder
from anyppg.sdk.replay_files import load_replay
from anyppg.sdk.samples import SampleBlock
from anyppg.signal import PPGPreprocessor

RATE = 50.0


def _three_channels(seconds: float = 40, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) PPG (green, a scaled and offset copy, an inverted noisy copy) and (n, 3) acc in g."""
    sim = anyppg.simulate(seconds, heart_rate=72, ppg_rate=RATE, seed=seed)
    noise = np.random.default_rng(seed).normal(0, 0.05 * sim.ppg.std(), len(sim.ppg))
    return np.column_stack([sim.ppg, 3 * sim.ppg + 100, -sim.ppg + noise]), sim.acc


def _blocks(ppg: np.ndarray, acc: np.ndarray | None, size: int = 20, skip: int = 0) -> list[SampleBlock]:
    out = []
    for k, i in enumerate(range(0, len(ppg), size)):
        if skip and k % skip == skip - 1:
            continue
        out.append(SampleBlock(i / RATE, RATE, ppg[i : i + size], None if acc is None else acc[i : i + size]))
    return out


def test_extra_channels_are_filtered_alongside_channel_0():
    ppg, acc = _three_channels()
    multi = PPGPreprocessor(RATE)
    single = PPGPreprocessor(RATE)
    second = PPGPreprocessor(RATE)
    wm, ws, w2 = [], [], []
    for i in range(0, len(ppg), 37):
        wm += multi.push(ppg[i : i + 37], acc[i : i + 37])
        ws += single.push(ppg[i : i + 37, 0], acc[i : i + 37])
        w2 += second.push(ppg[i : i + 37, 1])
    assert len(wm) == len(ws) > 5
    for m, s, c1 in zip(wm, ws, w2, strict=True):
        np.testing.assert_array_equal(m.ppg, s.ppg)  # the model's input is channel 0's, to the bit
        np.testing.assert_array_equal(m.channels[0], s.filtered)
        np.testing.assert_allclose(m.channels[1], c1.filtered, rtol=1e-5, atol=1e-4)
        assert m.channels.shape == (3, 1250) and m.n_channels == 3 and s.channels is None


def test_a_chunk_with_another_channel_count_is_refused():
    pre = PPGPreprocessor(RATE)
    pre.push(np.zeros((100, 2)))
    with pytest.raises(InvalidSignalError, match="started with 2"):
        pre.push(np.zeros(100))


def test_the_pipeline_counts_time_points_and_reports_channel_0():
    ppg, acc = _three_channels()
    # the classic tracker reads channel 0 only: the same numbers as a single-channel stream
    multi, single = Pipeline("multi", tracker="classic"), Pipeline("single", tracker="classic")
    rm = [r for b in _blocks(ppg, acc, skip=17) for r in multi.push(b)]
    rs = [r for b in _blocks(ppg[:, 0], acc, skip=17) for r in single.push(b)]
    assert len(rm) == len(rs) > 5
    for a, b in zip(rm, rs, strict=True):
        assert (a.t_start, a.heart_rate, a.quality, a.filled) == (
            b.t_start,
            b.heart_rate,
            b.quality,
            b.filled,
        )
        np.testing.assert_array_equal(a.window, b.window)
    for pipeline in (multi, single):
        acc_ = pipeline.accounting
        assert acc_.is_balanced() and acc_.filled > 0
    assert multi.accounting.delivered == single.accounting.delivered  # time points, not samples x channels


def test_the_motion_tracker_reads_every_channel():
    from anyppg.signal import preprocess_recording
    from anyppg.signal.motion_hr import MotionHeartRateTracker

    ppg, acc = _three_channels()
    pipeline = Pipeline("multi")
    results = [r for b in _blocks(ppg, acc) for r in pipeline.push(b)]
    tracker = MotionHeartRateTracker(125.0)
    windows = preprocess_recording(ppg, RATE, acc=acc)
    expected = [tracker.update(w.channels, w.acc.T, dt_s=2.0).bpm for w in windows][: len(results)]
    assert len(results) > 5 and all(w.channels.shape == (3, 1250) for w in windows)
    np.testing.assert_array_equal([r.heart_rate_tracker for r in results], expected)


def test_an_invalid_value_in_any_channel_drops_that_time_point():
    ppg, _ = _three_channels(20)
    ppg[500, 2] = np.nan
    pipeline = Pipeline("nan")
    for b in _blocks(ppg, None):
        pipeline.push(b)
    assert pipeline.accounting.dropped["invalid"] == 1
    assert pipeline.accounting.is_balanced()


def test_a_change_of_channel_count_starts_a_new_segment():
    ppg, _ = _three_channels(40)
    pipeline = Pipeline("switch")
    results = [r for b in _blocks(ppg[:1000], None) for r in pipeline.push(b)]
    later = [SampleBlock(b.t0 + 1000 / RATE, RATE, b.ppg[:, :2]) for b in _blocks(ppg[1000:], None)]
    results += [r for b in later for r in pipeline.push(b)]
    switch = 1000 / RATE
    assert all(r.t_end <= switch or r.t_start >= switch + 2.0 for r in results)  # settles again
    assert any(r.t_start >= switch for r in results)


@pytest.mark.parametrize("name", ["rec.npz", "rec.csv", "rec"])
def test_the_recorder_keeps_every_channel_and_replay_reproduces_them(tmp_path: Path, name: str):
    if name == "rec":
        pytest.importorskip("wfdb")
    ppg, acc = _three_channels(30)
    out = tmp_path / name
    with Recorder(out) as rec:
        for b in _blocks(ppg, acc, skip=0):
            rec.write(b)
    data = load_replay(out)
    assert data.ppg.shape == ppg.shape and data.ppg_channels == 3
    tol = 1e-3 if name == "rec" else 0  # WFDB stores 1/1000 units
    np.testing.assert_allclose(data.ppg, ppg, rtol=0, atol=tol)
    np.testing.assert_allclose(data.acc, acc, rtol=0, atol=tol)

    async def replay() -> list:
        async with anyppg.connect(f"replay:{out}?speed=max") as device:
            return [r async for r in device.infer(None)]

    replayed = asyncio.run(replay())
    # infer() fuses the shipped motion model by default (motion_model="auto"): so does this pipeline
    direct = Pipeline("direct", motion_model=MotionModel.load())
    expected = [r for b in _blocks(data.ppg, data.acc, size=round(RATE / 4)) for r in direct.push(b)]
    expected += direct.flush()
    assert [r.heart_rate for r in replayed] == [r.heart_rate for r in expected]
    assert len(replayed) > 5


def test_a_journal_of_several_channels_replays_after_a_crash(tmp_path: Path):
    ppg, acc = _three_channels(10)
    out = tmp_path / "crash.npz"
    rec = Recorder(out, flush_every_s=0.5)
    for b in _blocks(ppg, acc):
        rec.write(b)
    rec.flush()  # killed here: close() never runs
    data = load_replay(out)  # finds the journal
    np.testing.assert_array_equal(data.ppg, ppg)
    np.testing.assert_array_equal(data.acc, acc)
    rec.close()


def test_a_data_folder_style_npz_replays_channels_first_and_acc_3_by_n(tmp_path: Path):
    ppg, acc = _three_channels(20)
    path = tmp_path / "subject.npz"
    np.savez(path, ppg=ppg.T, acc=acc.T, fs=RATE)  # (channels, n) and (3, n), as ../shared/data stores them
    data = load_replay(path)
    np.testing.assert_array_equal(data.ppg, ppg)
    np.testing.assert_array_equal(data.acc, acc)


def test_the_data_folders_per_wavelength_and_camera_npz_replay_as_channels(tmp_path: Path):
    """A pulse oximeter's ``ppg_ir`` / ``ppg_red`` (HUSM) and a phone camera's ``ppg_rgb`` with frame
    times ``t_ppg`` (Welltory) read as channels; channel 0, which feeds the model, is infrared / red."""
    ppg, _ = _three_channels(20)
    oximeter = tmp_path / "oximeter.npz"
    np.savez(oximeter, ppg_red=ppg[:, 1], ppg_ir=ppg[:, 0], fs_ppg=np.int32(RATE))
    data = load_replay(oximeter)
    np.testing.assert_array_equal(data.ppg, ppg[:, :2])
    assert data.ppg_channels == 2 and data.rate == RATE

    frames = np.arange(len(ppg)) / RATE + np.random.default_rng(0).uniform(-2e-3, 2e-3, len(ppg))
    camera = tmp_path / "camera.npz"
    np.savez(camera, ppg_rgb=ppg.T, t_ppg=frames, fs_ppg_nominal=np.float32(RATE))
    data = load_replay(camera)
    np.testing.assert_array_equal(data.ppg, ppg)
    np.testing.assert_array_equal(data.t, frames)
    assert data.ppg_channels == 3 and abs(data.rate - RATE) < 0.5

    np.savez(oximeter, ppg_red=ppg[1:, 1], ppg_ir=ppg[:, 0], fs_ppg=np.int32(RATE))
    with pytest.raises(
        AnyPPGError, match=r"must be 1-D and of one length; they are ppg_ir \(1000,\), ppg_red"
    ):
        load_replay(oximeter)


def test_a_multichannel_csv_names_its_columns(tmp_path: Path):
    path = tmp_path / "two.csv"
    t = np.arange(200) / RATE
    rows = np.column_stack([t, np.sin(t * 7), np.cos(t * 7)])
    np.savetxt(path, rows, delimiter=",", header="t,ppg_0,ppg_1", comments="")
    data = load_replay(path)
    np.testing.assert_allclose(data.ppg, rows[:, 1:])
    (tmp_path / "skip.csv").write_text("t,ppg_0,ppg_2\n0,1,2\n0.1,2,3\n")
    with pytest.raises(AnyPPGError, match="ppg_0,ppg_1"):
        load_replay(tmp_path / "skip.csv")


def test_a_frame_with_several_optical_channels_gives_a_multichannel_block():
    from anyppg.firmware_bridge.protocol import Channel, DataFrame, FrameEncoder, SampleFormat
    from anyppg.sdk.frames import block_from_frame

    chans = (
        Channel.PPG_IR,
        Channel.PPG_AMBIENT,
        Channel.PPG_GREEN,
        Channel.ACC_X,
        Channel.ACC_Y,
        Channel.ACC_Z,
    )
    samples = np.column_stack([np.arange(16) + 500, np.full(16, 7), np.arange(16) + 900, np.zeros((16, 3))])
    (raw,) = FrameEncoder(RATE, chans, SampleFormat.INT24, max_samples=16).encode(
        samples.astype(np.int64), timestamp_us=0
    )
    block = block_from_frame(DataFrame.from_bytes(raw), "dev")
    assert block.channels == 2
    np.testing.assert_array_equal(block.ppg0, np.arange(16) + 900 - 7)  # green first, ambient removed
    np.testing.assert_array_equal(block.ppg[:, 1], np.arange(16) + 500 - 7)
