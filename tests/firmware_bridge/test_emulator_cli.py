"""``anyppg emulate`` as a separate process: BLE over HCI on loopback TCP, and a serial pty."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys

import numpy as np
import pytest
import serial
from bleak import BleakClient, BleakScanner

from anyppg.firmware_bridge.deframer import Deframer
from anyppg.firmware_bridge.emulator.sources import parse_source
from anyppg.firmware_bridge.gatt import ANYPPG_CONTROL_UUID, ANYPPG_DATA_UUID, ControlCommand, control_frame
from anyppg.sdk.bleak_bumble import BumbleAdapter

SOURCE = "sim:hr=70,seed=5,duration=20,rate=50"


def _start(*args: str) -> tuple[subprocess.Popen[str], dict]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "anyppg",
            "emulate",
            "--json",
            "--stats-every",
            "0",
            "--source",
            SOURCE,
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail(f"emulator did not start: {proc.stderr.read()}")
    return proc, json.loads(line)


def _stop(proc: subprocess.Popen[str]) -> dict:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_ble_emulator_in_another_process_over_hci_tcp():
    proc, ready = _start("--transport", "ble", "--hci-port", "0", "--speed", "4")
    try:
        assert ready["event"] == "ready" and ready["central_transport"].startswith("tcp-client:127.0.0.1:")

        async def central() -> list:
            async with BumbleAdapter(ready["central_transport"]) as adapter:
                device = await BleakScanner.find_device_by_name(
                    ready["name"], timeout=10, backend=adapter.scanner_backend
                )
                assert device is not None and device.address == ready["address"]
                deframer, frames = Deframer(), []
                async with BleakClient(device, backend=adapter.client_backend) as client:
                    assert client.mtu_size == 517
                    await client.start_notify(
                        ANYPPG_DATA_UUID, lambda _c, v: frames.append(deframer.feed_notification(v))
                    )
                    await client.write_gatt_char(
                        ANYPPG_CONTROL_UUID, bytes(ControlCommand.start()), response=True
                    )
                    while len(frames) < 3:
                        await asyncio.sleep(0.05)
                return frames

        frames = asyncio.run(asyncio.wait_for(central(), 60))
    finally:
        final = _stop(proc)
    assert final["event"] == "stopped" and final["connections"] == 1
    source = parse_source(SOURCE)
    for frame in frames:
        assert frame is not None
        start = round(frame.timestamp_us * source.rate_hz / 1e6)
        np.testing.assert_array_equal(frame.samples, source.block(start, frame.n_samples))


def test_serial_emulator_in_another_process():
    proc, ready = _start("--transport", "serial", "--speed", "max")
    try:
        assert ready["url"] == f"serial:{ready['port']}"
        port = serial.Serial(ready["port"], timeout=0.05)
        deframer, frames = Deframer(), []
        port.write(control_frame(ControlCommand.start()))
        for _ in range(200):
            frames += deframer.feed(port.read(65536))
            if len(frames) >= 20:
                break
        port.close()
    finally:
        final = _stop(proc)
    assert len(frames) >= 20 and final["frames_sent"] >= 20
    source = parse_source(SOURCE)
    for frame in frames:
        np.testing.assert_array_equal(
            frame.samples, source.block(round(frame.timestamp_us * 50 / 1e6), frame.n_samples)
        )


def test_bad_arguments_exit_with_a_clear_error(capsys):
    from anyppg.cli import main

    assert main(["emulate", "--source", "wav:x"]) == 1
    assert "bad source 'wav:x'" in capsys.readouterr().err
    assert main(["emulate", "--faults", "drop=2"]) == 1
    assert "probability" in capsys.readouterr().err
    assert main(["emulate", "--speed", "0"]) == 1
    assert "speed must be a positive number" in capsys.readouterr().err
