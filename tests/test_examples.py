"""Every script in ``examples/`` runs, in sequence, each feeding the next, at its smallest settings.

Two chains, as a user would run them:

- SDK: simulate_and_clean; emulate_ble_server -> ble_client; the serial emulator -> decode_frames;
  record -> stream_heart_rate (replay of the recording) -> stream_gateway; record -> analyze_recording
  (the same file in one call, whole and as segments).
- training: pretrain --quick (a 512-d teacher) -> prepare_and_eval --quick (its store, probes on the
  teacher) -> distill_and_export --quick (that teacher, that store) -> benchmark_models (the exported
  .tflite) -> stream_heart_rate (the recording through the exported student).

Each script runs as its own process (``python examples/X.py``), as the docstrings show.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
COVERED = {
    "simulate_and_clean.py", "emulate_ble_server.py", "ble_client.py", "decode_frames.py", "record.py",
    "stream_heart_rate.py", "stream_gateway.py", "pretrain.py", "prepare_and_eval.py",
    "distill_and_export.py", "benchmark_models.py", "analyze_recording.py",
}  # fmt: skip


def run_example(cwd: Path, name: str, *args: str, timeout: float = 240) -> str:
    """Run ``examples/name`` in ``cwd``; return its combined output; fail with that output on error."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{name} {' '.join(args)} exited {proc.returncode}:\n{output[-4000:]}"
    return output


def start(cwd: Path, argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for(proc: subprocess.Popen[str], pattern: str, timeout: float = 60) -> re.Match[str]:
    """Read ``proc``'s output line by line until one matches ``pattern`` (the process's ready line)."""
    deadline = time.monotonic() + timeout
    seen = []
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:  # the process ended
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"no line matching {pattern!r} within {timeout} s; output:\n{''.join(seen)[-3000:]}")


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def test_every_example_is_in_a_chain():
    assert {p.name for p in EXAMPLES.glob("*.py")} == COVERED


def test_examples_follow_the_style():
    for path in sorted(EXAMPLES.glob("*.py")):
        text = path.read_text()
        assert text.startswith('"""'), path.name  # a docstring title
        assert "argparse.ArgumentParser(description=__doc__.splitlines()[0])" in text, path.name
        assert "async def main(args: argparse.Namespace)" in text, path.name
        assert "logging.basicConfig(" in text and "print(" not in text, path.name


@pytest.mark.slow
def test_sdk_examples_chain(tmp_path):
    out = run_example(tmp_path, "simulate_and_clean.py", "--seconds", "30")
    assert "live windows identical to the training windows: True" in out

    server = start(tmp_path, [sys.executable, str(EXAMPLES / "emulate_ble_server.py"), "--port", "0",
                              "--duration", "60"])  # fmt: skip
    try:
        transport = wait_for(server, r"central transport: (tcp-client:\S+)").group(1)
        out = run_example(tmp_path, "ble_client.py", "--transport", transport, "--seconds", "2")
    finally:
        stop(server)
    samples = [int(n) for n in re.findall(r"(\d+) samples; deframer", out)]
    assert samples and samples[-1] > 0, out
    assert "connected to AnyPPG-EMU" in out

    emulator = start(tmp_path, [sys.executable, "-m", "anyppg", "emulate", "--transport", "serial",
                                "--autostart", "--speed", "10", "--duration", "60", "--json"])  # fmt: skip
    try:
        port = json.loads(wait_for(emulator, r'^\{"event": "ready".*').group(0))["port"]
        out = run_example(tmp_path, "decode_frames.py", "--serial", port, "--seconds", "2", "--json")
    finally:
        stop(emulator)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    frames, stats = lines[:-1], lines[-1]["stats"]
    assert frames and stats["frames_ok"] == len(frames) and frames[0]["samples"] > 0

    run_example(tmp_path, "record.py", "sim:?hr=70&speed=max&seed=3", "walk.npz", "--seconds", "40")
    with np.load(tmp_path / "walk.npz") as z:
        assert len(z["ppg"]) >= 40 * 25  # at least 40 s at the simulator's lowest PPG rate
    out = run_example(tmp_path, "stream_heart_rate.py", "replay:walk.npz?speed=max", "--model", "none")
    assert re.search(r"HR 6\d\.\d bpm|HR 7\d\.\d bpm", out), out  # the recording's 70 bpm comes back
    out = run_example(
        tmp_path, "stream_gateway.py", "replay:walk.npz?speed=max", "sim:?duration=20&speed=max"
    )
    assert out.count(" done: ") == 2

    out = run_example(tmp_path, "analyze_recording.py", "walk.npz", "--csv", "walk.csv")
    assert "polarity normal (checked: turned over, quality index -" in out  # the simulator's upright pulse
    windows = int(re.search(r"recording: (\d+) windows", out).group(1))
    assert windows >= 10, out  # 40 s: a window every 2 s once 10 s are in
    median = float(re.search(r"heart rate \(reported\): median ([\d.]+) bpm", out).group(1))
    assert 65 <= median <= 75, out  # the recording's 70 bpm
    assert re.search(r"segments: 4 strips of 10 s, one result each \(4\)", out), out
    table = (tmp_path / "walk.csv").read_text().splitlines()
    assert len(table) == windows + 1 and table[0].startswith("t_start,t_end,heart_rate")


@pytest.mark.slow
def test_training_examples_chain(tmp_path):
    out = run_example(tmp_path, "pretrain.py", "--quick", "--out", "runs/example")
    assert "gives a 512-d embedding" in out
    teacher = "runs/example/checkpoint.pt"

    run_example(tmp_path, "prepare_and_eval.py", "--quick", "--checkpoint", teacher, "--out", "runs/example")
    report = json.loads((tmp_path / "runs/example/eval.json").read_text())
    assert "pretrained" in json.dumps(report)
    assert (tmp_path / "runs/example/store/index.json").is_file()

    out = run_example(tmp_path, "distill_and_export.py", "--quick", "--teacher", teacher,
                      "--store", "runs/example/store", "--out", "runs/example")  # fmt: skip
    exported = tmp_path / "runs/example/student-s_litert_q8.tflite"
    assert exported.is_file() and (tmp_path / "runs/example/student-s_xnnpack_q8.pte").is_file()
    assert "first held-out window: HR" in out

    out = run_example(tmp_path, "benchmark_models.py", str(exported), "--runs", "5", "--warmup", "1")
    assert re.search(
        r"student-s_litert_q8\.tflite \(litert, 1 thread\(s\)\): load [\d.]+ ms, latency p50", out
    )

    run_example(tmp_path, "record.py", "sim:?hr=70&speed=max&seed=3", "walk.npz", "--seconds", "30")
    out = run_example(tmp_path, "stream_heart_rate.py", "replay:walk.npz?speed=max", "--model", str(exported))
    assert "final accounting" in out and re.search(r"latency \d+\.\d ms", out)


@pytest.mark.slow
def test_a_32d_teacher_is_refused_before_any_work(tmp_path):
    run_example(tmp_path, "pretrain.py", "--preset", "debug", "--quick", "--out", "runs/debug")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "distill_and_export.py"), "--teacher", "runs/debug/checkpoint.pt",
         "--out", "runs/x"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "teacher embeds to 32 dims; the students expect 512" in proc.stderr
    assert not (tmp_path / "runs/x").exists()  # nothing was written
    assert "unlabelled real windows" not in proc.stderr  # it stopped before loading any data
