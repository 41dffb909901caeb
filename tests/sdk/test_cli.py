"""anyppg stream / record from the command line: JSON lines, summary accounting, Ctrl-C safety."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np

from anyppg.cli import main


def test_stream_json_lines_and_summary_for_two_devices(capsys):
    urls = ["sim:?duration=24&seed=1", "sim:?duration=24&seed=2&drop=0.05&dup=0.05"]
    assert main(["stream", *urls, "--model", "none", "--speed", "max", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    results, summary = lines[:-1], lines[-1]
    assert {r["type"] for r in results} == {"result"} and summary["type"] == "summary"
    assert {r["device"] for r in results} == {f"{u}&speed=max" for u in urls}
    for r in results:
        assert r["t_end"] - r["t_start"] == 10.0
        assert set(r) >= {"heart_rate", "quality", "latency_ms", "received", "delivered", "dropped", "gaps"}
    assert summary["received"] == summary["delivered"] + summary["dropped"]
    lossy = summary["devices"][1]
    assert lossy["dropped_by_reason"]["duplicate"] > 0 and lossy["gaps"]
    assert summary["windows"] == len(results)
    assert summary["latency_ms"]["p50"] is not None


def test_stream_unknown_scheme_is_a_clean_error(capsys):
    assert main(["stream", "usb:0", "--model", "none"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert "\n" not in err and err.startswith("anyppg stream: error: unknown device URL 'usb:0'")
    assert "known schemes: ble:, polar:" in err


def test_stream_of_an_unreadable_file_says_so_once(capsys, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    assert main(["stream", f"replay:{bad}", "--model", "none"]) == 1
    first, *rest = capsys.readouterr().err.strip().splitlines()
    assert first.startswith(f"anyppg stream: error: {bad}: not an NPZ file")
    # the accounting line follows (issue 13: a fatal error still ends with the counts), without the
    # error a second time
    assert rest == [
        f"replay:{bad}: 0 windows, received 0 = delivered 0 + dropped 0; 0 gaps; no windows timed"
    ]


def test_stream_unknown_scheme_under_json_is_one_json_object(capsys):
    assert main(["stream", "usb:0", "--model", "none", "--json"]) == 1
    captured = capsys.readouterr()
    error = json.loads(captured.out)  # exactly one object on stdout
    assert error["type"] == "UnknownSchemeError"
    assert error["error"].startswith("unknown device URL 'usb:0'")
    assert set(error) == {"error", "type"}


def test_record_survives_ctrl_c(tmp_path):
    out = tmp_path / "rec.npz"
    journal = tmp_path / "rec.npz.journal"
    proc = subprocess.Popen(
        [sys.executable, "-m", "anyppg", "record", "sim:?duration=120&speed=4", str(out), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(
            signal.SIGINT, signal.SIG_DFL
        ),  # shells may start us with it ignored
    )
    deadline = time.monotonic() + 60
    while (not journal.exists() or journal.stat().st_size < 5 * 8 * 256) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["interrupted"] and summary["samples"] >= 256
    assert summary["samples"] == summary["delivered"]  # everything delivered was written
    with np.load(out) as z:
        assert z["ppg"].shape == (summary["samples"],) and z["acc"].shape == (summary["samples"], 3)
    assert not journal.exists()
