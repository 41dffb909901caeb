"""The serial emulator on a real pty, read with pyserial like a USB device."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import serial

from anyppg.firmware_bridge.deframer import Deframer
from anyppg.firmware_bridge.emulator.faults import FaultSpec
from anyppg.firmware_bridge.emulator.serial import SerialEmulator
from anyppg.firmware_bridge.emulator.sources import Source
from anyppg.firmware_bridge.gatt import ControlCommand, DeviceInfo, control_frame


def _ramp_source(n: int = 4000, rate: float = 100.0) -> Source:
    return Source(name="ramp", rate_hz=rate, ppg=2_000_000 - 3 * np.arange(n))


async def _read_for(port: serial.Serial, deframer: Deframer, seconds: float) -> list:
    frames = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frames += deframer.feed(await asyncio.to_thread(port.read, 65536))
    return frames


async def _session(emu: SerialEmulator, seconds: float) -> tuple[list, Deframer]:
    port = serial.Serial(emu.port, timeout=0.02)
    try:
        deframer = Deframer()
        await asyncio.to_thread(port.write, control_frame(ControlCommand.start()))
        frames = await _read_for(port, deframer, seconds)
        await asyncio.to_thread(port.write, control_frame(ControlCommand.stop()))
        await asyncio.sleep(0.1)
        frames += await _read_for(port, deframer, 0.1)
        return frames, deframer
    finally:
        port.close()


def test_pty_stream_equals_the_source_and_starts_with_info():
    source = _ramp_source()

    async def main():
        async with SerialEmulator(source, speed=None, max_samples=20) as emu:
            assert emu.port.startswith("/dev/")
            frames, deframer = await _session(emu, 0.3)
            return frames, deframer, emu.stats

    frames, deframer, stats = asyncio.run(main())
    info = deframer.packets[0]
    assert isinstance(info, DeviceInfo) and info.sample_rate_hz == 100.0
    assert len(frames) > 10
    for frame in frames:
        start = round(frame.timestamp_us * source.rate_hz / 1e6)
        np.testing.assert_array_equal(frame.samples, source.block(start, frame.n_samples))
    assert sum(f.n_samples for f in frames) == stats.samples_sent == stats.samples_intact
    assert deframer.stats.garbage_bytes == 0 and deframer.stats.frames_lost == 0


def test_faults_on_the_byte_stream_cost_exactly_the_faulty_frames():
    async def main():
        faults = FaultSpec(drop=0.05, corrupt=0.05, seed=2)
        async with SerialEmulator(_ramp_source(), speed=None, faults=faults, max_samples=10) as emu:
            frames, deframer = await _session(emu, 0.3)
            return frames, deframer, emu.stats

    frames, deframer, stats = asyncio.run(main())
    assert stats.frames_dropped and stats.frames_corrupted
    assert sum(f.n_samples for f in frames) == stats.samples_intact
    # a corrupt byte in a data header (format, channel count, rate) is caught before the CRC
    assert deframer.stats.crc_errors + deframer.stats.header_errors == stats.frames_corrupted
    last = frames[-1].seq  # a faulty frame after the last good one shows no gap yet
    assert deframer.stats.frames_lost == len(
        [s for s in (*stats.dropped_seqs, *stats.corrupted_seqs) if s < last]
    )


def test_real_time_pacing_and_autostart():
    async def main():
        async with SerialEmulator(_ramp_source(rate=200.0), speed=1.0, max_samples=10, autostart=True) as emu:
            port = serial.Serial(emu.port, timeout=0.02)
            try:
                frames = await _read_for(port, Deframer(), 0.5)
            finally:
                port.close()
            return frames

    frames = asyncio.run(main())
    received = sum(f.n_samples for f in frames)
    assert 40 <= received <= 120  # ~100 samples in 0.5 s at 200 Hz; wide bounds for a loaded machine


def test_closing_the_emulator_gives_the_host_a_lost_link():
    async def main():
        emu = SerialEmulator(_ramp_source(), speed=None, autostart=True)
        await emu.start()
        port = serial.Serial(emu.port, timeout=0.05)
        await _read_for(port, Deframer(), 0.05)
        await emu.stop()
        await emu.stop()  # idempotent
        return port

    port = asyncio.run(main())
    try:
        with pytest.raises(serial.SerialException):  # EIO from the closed pty
            for _ in range(200):
                port.read(4096)
    finally:
        port.close()
