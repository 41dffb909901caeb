"""serial: end to end through a real pty: frames, corruption, duplicates, EIO on close."""

from __future__ import annotations

import asyncio
import os
import pty
import tty

import numpy as np
import pytest

import anyppg
from anyppg.errors import DeviceDisconnectedError, DeviceNotFoundError
from anyppg.firmware_bridge.protocol import Channel, FrameEncoder, SampleFormat
from anyppg.sdk import ReconnectPolicy

RATE = 64.0


def _frames(n_samples: int = 640) -> tuple[list[bytes], np.ndarray]:
    enc = FrameEncoder(
        RATE,
        (Channel.PPG_GREEN, Channel.ACC_X, Channel.ACC_Y, Channel.ACC_Z),
        SampleFormat.INT24,
        max_samples=16,
    )
    t = np.arange(n_samples) / RATE
    ppg = np.round(1000 * np.sin(2 * np.pi * 1.2 * t)).astype(np.int64)
    samples = np.column_stack([ppg, np.full(n_samples, 1000), np.zeros(n_samples), np.zeros(n_samples)])
    return enc.encode(samples, timestamp_us=5_000_000), ppg


def _pty() -> tuple[int, str]:
    master, slave = pty.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    os.close(slave)  # the SDK opens it by name, as a user would
    return master, name


async def _collect(url: str, master: int, payload: bytes, **kwargs):
    blocks = []
    async with anyppg.connect(url, **kwargs) as device:

        async def feed():
            await asyncio.sleep(0.05)
            for i in range(0, len(payload), 997):  # arbitrary chunking: frames straddle writes
                os.write(master, payload[i : i + 997])
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.2)
            os.close(master)  # the device goes away: the SDK's read raises EIO

        feeder = asyncio.create_task(feed())
        try:
            async for block in device.samples():
                blocks.append(block)
        except DeviceDisconnectedError as exc:
            error = exc
        else:
            error = None
        await feeder
        return blocks, device.accounting, error


def test_serial_pty_stream_with_corruption_and_duplicates():
    frames, ppg = _frames()
    corrupt = bytearray(frames[5])
    corrupt[-5] ^= 0xFF  # bad CRC: the frame is counted and skipped
    # frame 5 corrupt, frame 9 sent twice (duplicate), noise between frames 20 and 21
    stream = [
        *frames[:5],
        bytes(corrupt),
        *frames[6:10],
        frames[9],
        *frames[10:21],
        b"\x00\xa5junk",
        *frames[21:],
    ]
    master, name = _pty()
    blocks, acc, error = asyncio.run(
        _collect(
            f"serial:{name}?baud=115200",
            master,
            b"".join(stream),
            reconnect=ReconnectPolicy(max_attempts=1, initial_delay_s=0.01),
        )
    )
    assert isinstance(error, DeviceDisconnectedError) and error.attempts == 1
    got = np.concatenate([b.ppg for b in blocks])
    expected = np.concatenate([ppg[: 5 * 16], ppg[6 * 16 :]]).astype(float)
    np.testing.assert_array_equal(got, expected)
    assert blocks[0].t0 == pytest.approx(5.0)
    assert np.allclose(blocks[0].acc[:, 0], 1.0)  # 1000 mg -> 1 g
    assert acc.corrupt_frames == 1
    assert acc.dropped == {"duplicate": 16}
    assert acc.received == len(got) + 16 and acc.is_balanced()
    (gap,) = acc.gaps
    assert gap.missing == 16 and gap.start == pytest.approx(5 + 80 / RATE)


def test_missing_port_names_it():
    async def main():
        async with anyppg.connect("serial:/dev/does-not-exist-anyppg"):
            pass

    with pytest.raises(DeviceNotFoundError, match="does-not-exist-anyppg"):
        asyncio.run(main())
