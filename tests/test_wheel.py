"""The built wheel, installed alone into a fresh virtual environment, runs the main job.

This is what a new user does: ``pip install anyppg`` then ``anyppg demo``. Nothing from this checkout
is importable in that environment (the command runs from a temporary folder with a clean
``PYTHONPATH``), and the packages that ship the full recordings are not installed, so the demo must
find what it needs inside the wheel: the shipped int8 student and the e2epyppg excerpt. The same
environment then finds the emulator it ships with ``anyppg scan`` and streams it as a plain Heart Rate
strap (``hrs:``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What setuptools reads to build the wheel (pyproject.toml maps these folders into `anyppg`).
SOURCES = ("pyproject.toml", "README.md", "anyppg", "sdk", "firmware_bridge", "quantization", "trainer")


def _run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _build_wheel(tmp_path: Path) -> Path:
    # Build from a copy: an in-tree build would write build/ and egg-info into the checkout.
    src = tmp_path / "src"
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(path, src / name)
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(src), "-w", str(dist)], tmp_path, 600)
    (wheel,) = dist.glob("anyppg-*.whl")
    return wheel


@pytest.mark.slow
def test_the_wheel_alone_runs_the_demo_in_a_fresh_venv(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in (
        "anyppg/assets/e2epyppg-wrist-excerpt.npz",
        "anyppg/assets/e2epyppg-wrist-excerpt.LICENSE.txt",
        "anyppg/assets/student-s_litert_q8.tflite",
        "anyppg/py.typed",
    ):
        assert shipped in names

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, 300)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], tmp_path, 900)

    proc = _run([str(bin_dir / "anyppg"), "demo", "--speed", "60", "--json"], tmp_path, 300)
    summary = json.loads(proc.stdout)
    assert summary["recording"] == "e2epyppg-wrist-excerpt"  # e2epyppg is not in the fresh venv
    assert "pip install --no-deps e2epyppg" in summary["notice"]
    assert summary["model"].endswith("student-s_litert_q8.tflite")
    assert str(ROOT) not in summary["model"]  # the installed copy, not this checkout's
    assert summary["windows"] > 50  # 3 min at a 2 s hop
    stream = summary["stream"]
    assert stream["received"] == stream["delivered"] + stream["dropped"] > 0
    assert summary["heart_rate_vs_reference"]["heart_rate"]["n"] > 50

    # A plain Heart Rate strap: the emulator in one process, `anyppg stream hrs:` in another, both from
    # the wheel (bumble over HCI/TCP on localhost).
    emulate = [str(bin_dir / "anyppg"), "emulate", "--profile", "hrs", "--hci-port", "0", "--json"]
    # The emulated strap streams from power-on; a source long enough for the scan and the stream both.
    emulate += ["--speed", "10", "--source", "sim:hr=70,seed=5,duration=600,rate=50", "--stats-every", "0"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    emulator = subprocess.Popen(emulate, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(emulator.stdout.readline())
        assert ready["event"] == "ready" and ready["url"].startswith("hrs:")
        scan = [str(bin_dir / "anyppg"), "scan", "--hci", ready["central_transport"], "--timeout", "10"]
        found = json.loads(_run([*scan, "--limit", "1", "--json"], tmp_path, 120).stdout)
        stream = [
            str(bin_dir / "anyppg"),
            "stream",
            ready["url"] + "&timeout=10",
            "--json",
            "--duration",
            "3",
        ]
        proc = _run(stream, tmp_path, 120)
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
        emulator.stdout.close()
    (device,) = found["devices"]
    assert device["name"] == ready["name"] and device["address"] == ready["address"]
    assert "hrs" in device["profiles"]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    results = [line for line in lines if line["type"] == "result"]
    assert len(results) >= 5 and all(55 <= r["heart_rate"] <= 90 and r["rr_intervals"] for r in results)
    assert lines[-1]["type"] == "summary" and lines[-1]["received"] == lines[-1]["delivered"] == len(results)
