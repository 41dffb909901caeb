"""anyppg demo: a real wrist recording from an emulated wearable, end to end (BLE and serial)."""

from __future__ import annotations

import json

import pytest

from anyppg.cli import main


@pytest.mark.parametrize("transport", ["ble", "serial"])
def test_demo_streams_the_recording_and_compares_with_the_watch(transport, capsys, tmp_path):
    plot = tmp_path / "demo.png"
    args = ["demo", "--transport", transport, "--duration", "70", "--speed", "60", "--json"]
    args += ["--faults", "drop=0.02,corrupt=0.02,seed=5"]
    if transport == "ble":
        pytest.importorskip("matplotlib")
        args += ["--plot", str(plot)]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    stream, emulator = summary["stream"], summary["emulator"]
    assert summary["recording"] == "e2epyppg-wrist" and summary["transport"] == transport
    assert summary["windows"] >= 5
    # exact accounting against what the emulator says it sent, lost and corrupted
    assert stream["received"] == stream["delivered"] + stream["dropped"]
    assert stream["received"] <= emulator["samples_intact"]
    assert stream["missing"] <= emulator["samples_dropped"] + emulator["samples_corrupted"]
    if emulator["frames_corrupted"]:
        assert stream["corrupt_frames"] >= 1
    hr = summary["heart_rate_vs_reference"]["heart_rate"]
    assert hr["n"] >= 2 and hr["mae_bpm"] < 15  # the watch's own HR is the reference
    assert stream["latency_ms"]["p50"] > 0
    if transport == "ble":
        assert plot.stat().st_size > 10_000
