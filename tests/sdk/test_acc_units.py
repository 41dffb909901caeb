"""An accelerometer of unknown unit end to end: a device on a real pty whose info packet says
``counts``, a replay file marked ``acc_unit="raw"``, and the recorder keeping the mark; the pipeline
calibrates each on gravity and reports motion in g as for the same stream sent in g."""

from __future__ import annotations

import asyncio
import os
import pty
import tty
from pathlib import Path

import numpy as np
import pytest

import anyppg
from anyppg.firmware_bridge.gatt import DeviceInfo, info_frame
from anyppg.firmware_bridge.protocol import Channel, FrameEncoder, SampleFormat
from anyppg.sdk.pipeline import Pipeline
from anyppg.sdk.recorder import Recorder
from anyppg.sdk.replay_files import load_replay
from anyppg.sdk.samples import SampleBlock

RATE = 50.0
COUNTS_PER_G = 4096.0
CHANNELS = (Channel.PPG_GREEN, Channel.ACC_X, Channel.ACC_Y, Channel.ACC_Z)


def _wrist(seconds: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """Simulated wrist PPG and acc in g: still for 14 s (tilted wrist), then moving (the simulator's)."""
    sim = anyppg.simulate(seconds, heart_rate=80, ppg_rate=RATE, motion=0.8, seed=6)
    acc = sim.acc.copy()
    still = int(14 * RATE)
    acc[:still] = [0.0, 0.6, 0.8]
    acc[:still] += np.random.default_rng(1).normal(0, 0.003, (still, 3))
    return sim.ppg, acc


def _results(blocks: list[SampleBlock]) -> list:
    pipeline = Pipeline("units")
    return [r for b in blocks for r in pipeline.push(b)]


def _blocks(ppg: np.ndarray, acc: np.ndarray, *, in_g: bool) -> list[SampleBlock]:
    return [
        SampleBlock(i / RATE, RATE, ppg[i : i + 25], acc[i : i + 25], acc_in_g=in_g)
        for i in range(0, len(ppg), 25)
    ]


def _assert_same_motion(raw_results: list, g_results: list) -> None:
    assert len(raw_results) == len(g_results) > 10
    moving = [(a.motion, b.motion) for a, b in zip(raw_results, g_results, strict=True) if b.motion > 0.05]
    assert moving, "the stream must move after the still start"
    got, want = np.array(moving).T
    np.testing.assert_allclose(got, want, rtol=0.01)


def test_the_pipeline_calibrates_a_raw_accelerometer_on_gravity():
    ppg, acc = _wrist()
    raw = _results(_blocks(ppg, acc * COUNTS_PER_G, in_g=False))
    in_g = _results(_blocks(ppg, acc, in_g=True))
    _assert_same_motion(raw, in_g)


def _pty() -> tuple[int, str]:
    master, slave = pty.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    os.close(slave)
    return master, name


def test_a_serial_device_reporting_counts_is_calibrated(tmp_path: Path):
    ppg, acc = _wrist(40)
    counts = np.column_stack([np.round(ppg * 1000), np.round(acc * COUNTS_PER_G)]).astype(np.int64)
    info = DeviceInfo(RATE, CHANNELS, SampleFormat.INT16, units=("counts",) * 4)
    frames = FrameEncoder(RATE, CHANNELS, SampleFormat.INT16, max_samples=25).encode(counts, timestamp_us=0)
    payload = info_frame(info) + b"".join(frames)
    master, name = _pty()

    async def main() -> list[SampleBlock]:
        blocks: list[SampleBlock] = []
        async with anyppg.connect(f"serial:{name}?baud=115200") as device:

            async def feed() -> None:
                for i in range(0, len(payload), 1024):
                    os.write(master, payload[i : i + 1024])
                    await asyncio.sleep(0)

            feeder = asyncio.create_task(feed())
            async for block in device.samples():
                blocks.append(block)
                if sum(len(b) for b in blocks) >= len(counts):
                    break
            await feeder
        return blocks

    try:
        blocks = asyncio.run(main())
    finally:
        os.close(master)
    assert blocks and all(not b.acc_in_g for b in blocks)  # sent as counts, kept as counts
    np.testing.assert_array_equal(np.concatenate([b.acc for b in blocks]), counts[:, 1:])
    got = _results(blocks)
    want = _results([SampleBlock(b.t0, b.rate, b.ppg, b.acc / COUNTS_PER_G) for b in blocks])
    _assert_same_motion(got, want)


@pytest.mark.parametrize("name", ["raw.npz", "raw.csv", "raw"])
def test_a_raw_accelerometer_is_recorded_as_raw_and_replayed_calibrated(tmp_path: Path, name: str):
    if name == "raw":
        pytest.importorskip("wfdb")
    ppg, acc = _wrist(40)
    out = tmp_path / name
    with Recorder(out) as rec:
        for b in _blocks(ppg, acc * COUNTS_PER_G, in_g=False):
            rec.write(b)
    data = load_replay(out)
    assert not data.acc_in_g
    np.testing.assert_allclose(data.acc, acc * COUNTS_PER_G, rtol=0, atol=1e-3)

    async def replay() -> list:
        async with anyppg.connect(f"replay:{out}?speed=max") as device:
            return [r async for r in device.infer(None)]

    direct = Pipeline("g")
    want = [r for b in _blocks(data.ppg, acc, in_g=True) for r in direct.push(b)] + direct.flush()
    _assert_same_motion(asyncio.run(replay()), want)


def test_an_npz_names_its_acc_unit(tmp_path: Path):
    ppg, acc = _wrist(20)
    np.savez(tmp_path / "mg.npz", ppg=ppg, acc=acc * 1000, fs=RATE, acc_unit="mg")
    np.testing.assert_allclose(load_replay(tmp_path / "mg.npz").acc, acc)
    np.savez(tmp_path / "bad.npz", ppg=ppg, acc=acc, fs=RATE, acc_unit="furlongs")
    with pytest.raises(anyppg.AnyPPGError, match="'furlongs' is not one of g, mg"):
        load_replay(tmp_path / "bad.npz")
