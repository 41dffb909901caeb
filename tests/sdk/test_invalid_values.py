"""Bad values and bad frames cost only what they touch: counted, logged once, never fatal."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from anyppg.cli import main
from anyppg.firmware_bridge.gatt import DeviceInfo, info_frame
from anyppg.firmware_bridge.protocol import Channel, DataFrame, FrameEncoder, SampleFormat
from anyppg.sdk.accounting import Accounting, Timeline
from anyppg.sdk.frames import block_from_frame
from anyppg.sdk.pipeline import Pipeline
from anyppg.sdk.samples import SampleBlock
from anyppg.sdk.transports.framed import FrameDecoder

RATE = 64.0


def _pulse(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return 1000.0 + 100.0 * np.sin(2 * np.pi * 1.2 * t)


def _stream(pipeline: Pipeline, ppg: np.ndarray, acc: np.ndarray | None = None, block: int = 16):
    results = []
    for k in range(0, len(ppg), block):
        b = SampleBlock(k / RATE, RATE, ppg[k : k + block], None if acc is None else acc[k : k + block])
        results += pipeline.push(b)
    return results + pipeline.flush()


def test_nan_every_7th_ppg_sample_delivers_the_other_six():
    ppg = _pulse(30.0)
    ppg[::7] = np.nan
    pipe = Pipeline("nan7", None)
    results = _stream(pipe, ppg)
    acc = pipe.accounting
    n_nan = int(np.isnan(ppg).sum())
    assert acc.received == len(ppg) == 1920
    assert acc.dropped == {"invalid": n_nan} and acc.delivered == len(ppg) - n_nan
    # each NaN is a one-sample gap, bridged (but the first: nothing precedes the stream's start)
    assert acc.filled == n_nan - 1 and len(acc.gaps) == n_nan - 1
    assert {(g.reason, g.missing, g.filled) for g in acc.gaps} == {("invalid", 1, True)}
    assert len(results) >= 8 and all(r.heart_rate == pytest.approx(72, abs=3) for r in results)


@pytest.mark.parametrize("bad", [1e300, -1e300, np.inf, -np.inf, 2e9])
def test_absurd_ppg_values_are_dropped_and_the_stream_goes_on(bad):
    ppg = _pulse(30.0)
    ppg[100] = bad
    ppg[600:620] = bad  # 0.31 s: still bridged
    pipe = Pipeline("absurd", None)
    results = _stream(pipe, ppg)
    acc = pipe.accounting
    assert acc.dropped == {"invalid": 21} and acc.delivered == len(ppg) - 21
    assert results[-1].t_end >= 28.0 and results[-1].heart_rate == pytest.approx(72, abs=3)


def test_a_long_invalid_run_restarts_windows_instead_of_ending_the_stream():
    ppg = _pulse(40.0)
    ppg[640:1280] = np.nan  # 10 s of NaN
    pipe = Pipeline("long", None)
    results = _stream(pipe, ppg)
    acc = pipe.accounting
    (gap,) = acc.gaps
    assert (gap.start, gap.end, gap.missing, gap.filled, gap.reason) == (10.0, 20.0, 640, False, "invalid")
    assert acc.is_balanced() and results[-1].t_end >= 38.0


def test_invalid_acc_values_are_repaired_per_axis_and_the_ppg_kept(caplog):
    ppg = _pulse(20.0)
    acc_g = np.tile([0.0, 0.0, 1.0], (len(ppg), 1))
    acc_g[::5, 0] = np.nan
    acc_g[3, 2] = 1e300
    acc_g[32:48] = np.inf  # a whole block
    tl = Timeline(Accounting())
    out = []
    with caplog.at_level(logging.WARNING, logger="anyppg.sdk.accounting"):
        for k in range(0, len(ppg), 16):
            out += tl.push(SampleBlock(k / RATE, RATE, ppg[k : k + 16], acc_g[k : k + 16]))
    delivered_acc = np.concatenate([d.block.acc for d in out])
    assert np.all(np.isfinite(delivered_acc))
    np.testing.assert_allclose(delivered_acc[:, 0], 0.0)
    np.testing.assert_allclose(delivered_acc[:, 2], 1.0)
    a = tl.acc
    assert a.delivered == len(ppg) and a.dropped_total == 0  # no PPG sample lost to a bad acc value
    assert a.issues["invalid_acc"] == int((~np.isfinite(acc_g) | (np.abs(acc_g) > 1e3)).any(axis=1).sum())
    assert sum("accelerometer" in r.message for r in caplog.records) == 1  # logged once


def _frame(channels, values, seq=0, scale=1.0) -> DataFrame:
    return DataFrame(
        seq=seq,
        timestamp_us=seq * 250_000,
        sample_rate_hz=RATE,
        channels=tuple(channels),
        fmt=SampleFormat.INT16,
        samples=np.asarray(values, dtype=np.int16).reshape(-1, len(channels)),
        scale=scale,
    )


def test_a_frame_without_ppg_is_counted_not_fatal():
    frame = _frame([Channel.ECG], np.arange(16))
    block = block_from_frame(frame, "dev")
    assert len(block) == 0 and block.issues == ("no_ppg_channel",)
    acc = Accounting()
    assert Timeline(acc).push(block) == []
    assert acc.issues == {"no_ppg_channel": 1} and acc.received == 0


def test_an_unknown_acc_unit_keeps_the_ppg_and_the_raw_acc():
    chans = [Channel.PPG_GREEN, Channel.ACC_X, Channel.ACC_Y, Channel.ACC_Z]
    frame = _frame(chans, np.arange(64))
    block = block_from_frame(frame, "dev", {Channel.ACC_X: "furlongs/fortnight^2"})
    assert not block.acc_in_g and block.issues == ("unknown_acc_unit",)  # calibrated by the pipeline
    np.testing.assert_array_equal(block.acc, np.arange(64).reshape(16, 4)[:, 1:])
    np.testing.assert_array_equal(block.ppg, np.arange(64).reshape(16, 4)[:, 0])


def test_info_units_follow_the_info_channels_not_the_frame_order():
    """The info packet lists channels in its own order; a frame may carry fewer, in another order."""
    info = DeviceInfo(
        RATE,
        (Channel.ACC_X, Channel.ACC_Y, Channel.ACC_Z, Channel.PPG_GREEN, Channel.TEMPERATURE),
        SampleFormat.INT16,
        units=("g", "g", "g", "counts", "degC"),
    )
    enc = FrameEncoder(
        RATE, (Channel.PPG_GREEN, Channel.ACC_X, Channel.ACC_Y, Channel.ACC_Z), SampleFormat.INT16
    )
    samples = np.tile(np.array([500, 1, 0, 0], dtype=np.int16), (16, 1))
    decoder = FrameDecoder("serial:test")
    blocks = decoder.feed(info_frame(info) + b"".join(enc.encode(samples, timestamp_us=0)))
    (block,) = blocks
    np.testing.assert_allclose(block.acc[:, 0], 1.0)  # "g" from the info packet, not "counts"
    assert block.issues == ()
    # a sequence of units that does not match the frame's channels is ignored, not an IndexError
    frame = DataFrame.from_bytes(enc.encode(samples, timestamp_us=0)[0])
    odd = block_from_frame(frame, "dev", ("counts",))
    assert odd.issues == ("units_mismatch",)
    np.testing.assert_allclose(odd.acc[:, 0], 1e-3)  # default unit mg


def test_frame_issues_are_counted_per_kind_and_logged_once(caplog):
    acc = Accounting()
    tl = Timeline(acc)
    empty = SampleBlock(0.0, RATE, np.empty(0), issues=("no_ppg_channel",))
    with caplog.at_level(logging.WARNING, logger="anyppg.sdk.accounting"):
        for _ in range(5):
            tl.push(empty)
    assert acc.issues == {"no_ppg_channel": 5}
    assert len(caplog.records) == 1


def test_replay_of_a_recording_with_gaps_streams_json(tmp_path, capsys):
    """The issue's repro: record a lossy simulation, stream it back with --json (was a TypeError)."""
    rec = tmp_path / "g.npz"
    assert main(["record", "sim:?duration=40&drop=0.05&seed=1", str(rec), "--speed", "max"]) == 0
    capsys.readouterr()
    assert main(["stream", f"replay:{rec}", "--speed", "max", "--json", "--model", "none"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    summary = lines[-1]
    assert summary["type"] == "summary" and summary["gaps"] > 0
    (device,) = summary["devices"]
    assert device["received"] == device["delivered"] + device["dropped"]
    assert all(isinstance(g["filled"], bool) for g in device["gaps"])
    assert sum(line["type"] == "result" for line in lines) >= 10


def test_a_recording_with_nan_and_absurd_values_streams_to_the_end(tmp_path, capsys):
    t = np.arange(int(40 * RATE)) / RATE
    ppg = 1000.0 + 100.0 * np.sin(2 * np.pi * 1.2 * t)
    ppg[::7] = np.nan
    ppg[500] = 1e300
    rec = tmp_path / "bad_values.npz"
    np.savez(rec, ppg=ppg, fs=RATE)
    assert main(["stream", f"replay:{rec}", "--speed", "max", "--json", "--model", "none"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (device,) = lines[-1]["devices"]
    n_bad = int(np.isnan(ppg).sum()) + 1
    assert device["received"] == len(ppg) and device["dropped_by_reason"]["invalid"] == n_bad
    assert device["delivered"] == len(ppg) - n_bad and device["error"] is None
    results = [line for line in lines if line["type"] == "result"]
    assert results[-1]["t_end"] >= 38.0 and results[-1]["heart_rate"] == pytest.approx(72, abs=3)


def test_a_block_without_a_finite_timestamp_is_invalid():
    acc = Accounting()
    tl = Timeline(acc)
    for t0 in (np.nan, np.inf, -1.7e308, 1e16):
        assert tl.push(SampleBlock(t0, RATE, np.ones(8))) == []
    assert tl.push(SampleBlock(0.0, RATE, np.ones(8)))[0].restart
    assert acc.dropped == {"invalid": 32} and acc.delivered == 8
