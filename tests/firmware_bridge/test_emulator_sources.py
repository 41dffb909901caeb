"""Emulator sources: the simulator and real recordings as integer counts, looping, resampling, pacing."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from anyppg.errors import InvalidSignalError, RecordingNotFoundError
from anyppg.firmware_bridge.emulator.sources import (
    Source,
    SourceSpecError,
    StreamClock,
    parse_source,
    parse_speed,
    recording_source,
    simulator_source,
)
from anyppg.firmware_bridge.protocol import Channel


def test_simulator_source_is_seeded_and_carries_acc_beats_and_heart_rate():
    a = simulator_source(20.0, heart_rate=75.0, seed=1)
    b = simulator_source(20.0, heart_rate=75.0, seed=1)
    np.testing.assert_array_equal(a.block(0, 500), b.block(0, 500))
    assert not np.array_equal(a.ppg, simulator_source(20.0, heart_rate=75.0, seed=2).ppg)
    assert a.channels == (Channel.PPG_GREEN, Channel.ACC_X, Channel.ACC_Y, Channel.ACC_Z)
    assert a.block(0, 10).dtype == np.int32
    assert a.ppg.min() > 0 and a.ppg.max() < 2**21  # fits a 22-bit photodiode
    assert abs(a.heart_rate_at(10.0) - 75.0) < 15.0
    beats = a.beats_between(2.0, 8.0)
    assert 5 <= beats.size <= 10 and np.all(np.diff(beats) > 0)


def test_block_loops_and_beats_loop_with_the_signal():
    src = Source(name="ramp", rate_hz=10.0, ppg=np.arange(100), beat_times_s=np.array([1.0, 5.0]))
    np.testing.assert_array_equal(src.block(98, 4)[:, 0], [98, 99, 0, 1])
    np.testing.assert_array_equal(src.beats_between(4.0, 16.0), [5.0, 11.0, 15.0])


def test_resampling_keeps_the_time_axis():
    src = Source(name="ramp", rate_hz=100.0, ppg=np.arange(1000) * 10)
    slow = src.resampled(55.0)
    assert slow.rate_hz == 55.0 and slow.n_samples == 550
    np.testing.assert_allclose(slow.ppg[:5], np.round(np.arange(5) / 55.0 * 100.0 * 10), atol=1)
    assert src.resampled(100.0) is src


@pytest.mark.skipif(importlib.util.find_spec("spkit") is None, reason="spkit recording not installed")
def test_recording_counts_travel_unchanged():
    from anyppg import recordings

    src = recording_source("spkit-finger-ppg-1")
    raw = recordings.load("spkit-finger-ppg-1").ppg
    np.testing.assert_array_equal(src.ppg, raw.astype(np.int32))
    assert src.rate_hz == 128.0 and src.meta["ppg_gain"] == 1.0


def test_parse_source_forms_and_errors():
    src = parse_source("sim:hr=90,seed=3,rate=64,duration=12")
    assert src.rate_hz == 64.0 and src.n_samples == 768
    for bad, fragment in [
        ("wav:x", "expected"),
        ("sim:hr=fast", "not a float"),
        ("sim:tempo=1", "unknown"),
        ("recording:", "name"),
    ]:
        with pytest.raises(SourceSpecError, match=fragment):
            parse_source(bad)
    with pytest.raises(RecordingNotFoundError):
        parse_source("recording:no-such-recording")


@pytest.mark.skipif(importlib.util.find_spec("peakdet") is None, reason="peakdet recording not installed")
def test_an_ecg_recording_cannot_feed_a_ppg_device():
    with pytest.raises(InvalidSignalError, match="no PPG"):
        recording_source("peakdet-ecg")


def test_speed_and_clock():
    assert parse_speed("max") is None and parse_speed("2.5") == 2.5
    for bad in ("0", "-1", "fast", "nan"):
        with pytest.raises(SourceSpecError):
            parse_speed(bad)
    clock = StreamClock(100.0, 2.0, start=10.0)
    assert clock.due(11.0) == 200 and clock.time_of(100) == 10.5
    assert StreamClock(100.0, None, start=0.0).due(5.0) is None


def test_source_validates_its_arrays():
    with pytest.raises(InvalidSignalError, match="acc"):
        Source(name="x", rate_hz=10.0, ppg=np.arange(10), acc=np.zeros((9, 3)))
    with pytest.raises(InvalidSignalError, match="rate"):
        Source(name="x", rate_hz=0.0, ppg=np.arange(10))
