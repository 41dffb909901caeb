"""The recorder under the failures a real recording meets: kill -9, SIGTERM, a torn last line,
missing or unwritable folders and a full disk. Nothing already made durable may be lost."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import anyppg
from anyppg.cli import main
from anyppg.errors import AnyPPGError, DataFormatError
from anyppg.sdk.recorder import Recorder, RecordingWriteError, StaleJournalError, journal_path_for, recover
from anyppg.sdk.replay_files import JOURNAL_COLUMNS, load_replay
from anyppg.sdk.samples import SampleBlock


def _sim_blocks(seconds: float = 6.0, url: str = "sim:?seed=4&speed=max") -> list[SampleBlock]:
    async def main_() -> list[SampleBlock]:
        async with anyppg.connect(f"{url}&duration={seconds:g}") as device:
            return [b async for b in device.samples()]

    return asyncio.run(main_())


def _abandon(rec: Recorder) -> None:
    """What ``kill -9`` leaves: the periodic flushes on disk, no close(); the OS closes the handle."""
    rec._file.close()


@contextlib.contextmanager
def _recording(*args: str) -> Iterator[subprocess.Popen]:
    """``anyppg record ARGS`` in a real process; killed on the way out if a test left it running."""
    cmd = [sys.executable, "-m", "anyppg", "record", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)


def _progress_until(proc: subprocess.Popen, samples: int) -> str:
    """Read ``record``'s progress lines until one reports at least ``samples`` (flushed by then)."""
    assert proc.stderr is not None
    while True:
        line = proc.stderr.readline()
        assert line.startswith("recording: "), line  # "" would mean the process ended
        if int(line.split()[1].replace(",", "")) >= samples:
            return line


def _one_error_line(err: str, *needles: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("recording: ")]
    assert "Traceback" not in err
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# --- a killed recording's journal ------------------------------------------------------------------


def test_a_stale_journal_is_refused_untouched_and_recover_finalises_it(tmp_path):
    out = tmp_path / "rec.npz"
    blocks = _sim_blocks()
    rec = Recorder(out, flush_every_s=1.0)
    for b in blocks:
        rec.write(b)
    rec.flush()
    _abandon(rec)
    journal = journal_path_for(out)
    before = journal.read_bytes()

    with pytest.raises(StaleJournalError) as info:
        Recorder(out)
    assert info.value.journal == str(journal)
    assert f"anyppg record --recover {out}" in str(info.value) and "\n" not in str(info.value)
    assert journal.read_bytes() == before  # the new recording did not append to it

    data = recover(out)
    assert not journal.exists()
    with np.load(out) as z:
        np.testing.assert_array_equal(z["ppg"], np.concatenate([b.ppg for b in blocks]))
        np.testing.assert_array_equal(z["t"], np.concatenate([b.times() for b in blocks]))
        assert float(z["fs"]) == pytest.approx(64.0)
    assert data.ppg.shape == (6 * 64,)
    with pytest.raises(DataFormatError, match="nothing to recover"):
        recover(out)


def test_recover_rebuilds_a_final_file_cut_by_a_crash_during_finalising(tmp_path):
    out = tmp_path / "rec.npz"
    rec = Recorder(out)
    for b in _sim_blocks(3.0):
        rec.write(b)
    rec.flush()
    _abandon(rec)
    out.write_bytes(b"PK\x03\x04 half an archive")  # the crash hit while the NPZ was being replaced
    recover(out)
    assert load_replay(out).ppg.shape == (3 * 64,)


def test_rerecording_after_kill_9_is_refused_then_recovered_through_the_cli(tmp_path):
    """The issue's repro: kill -9 a recording, record to the same path again, then --recover."""
    out = tmp_path / "rec.npz"
    journal = journal_path_for(out)
    args = ("sim:?duration=120&speed=4", str(out), "--flush-every", "0.25")
    with _recording(*args) as proc:
        _progress_until(proc, 128)  # flushed every 0.25 s of signal (16 samples)
        proc.kill()
        proc.communicate(timeout=60)
    kept = load_replay(journal)
    assert kept.ppg.shape[0] >= 64

    again = subprocess.run(
        [sys.executable, "-m", "anyppg", "record", *args], capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 1
    _one_error_line(again.stderr, str(journal), "--recover")
    assert load_replay(journal).ppg.shape == kept.ppg.shape  # untouched

    fixed = subprocess.run(
        [sys.executable, "-m", "anyppg", "record", "--recover", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["samples"] == kept.ppg.shape[0]
    np.testing.assert_array_equal(load_replay(out).ppg, kept.ppg)
    assert not journal.exists()


# --- SIGTERM and progress -----------------------------------------------------------------------------


def test_sigterm_finalises_the_recording_like_ctrl_c(tmp_path):
    out = tmp_path / "rec.npz"
    with _recording("sim:?duration=120&speed=4", str(out), "--flush-every", "0.25") as proc:
        progress = _progress_until(proc, 256)
        assert " samples, " in progress and progress.rstrip().endswith("s of signal")
        os.kill(proc.pid, signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    summary = rest.strip().splitlines()[-1]
    assert summary.endswith("(interrupted)") and "Traceback" not in rest
    samples = int(summary.split()[1])
    assert samples >= 256
    with np.load(out) as z:
        assert z["ppg"].shape == (samples,) and z["acc"].shape == (samples, 3)
    assert not journal_path_for(out).exists()


def test_json_record_has_no_progress_lines(tmp_path, capsys):
    out = tmp_path / "rec.csv"
    assert main(["record", "sim:?duration=2.5&speed=2", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    assert "recording:" not in captured.err
    summary = json.loads(captured.out)
    assert summary["samples"] == 160 and summary["signal"] is None


# --- torn last rows ----------------------------------------------------------------------------------


def test_a_torn_last_csv_line_keeps_every_complete_row(tmp_path, caplog):
    out = tmp_path / "rec.csv"
    blocks = _sim_blocks(3.0)
    rec = Recorder(out)
    for b in blocks:
        rec.write(b)
    rec.flush()
    _abandon(rec)
    with out.open("a") as f:
        f.write("3.015625,0.12,-0.0")  # killed in the middle of a row: no acc_y, acc_z, no newline
    with caplog.at_level(logging.WARNING, logger="anyppg.sdk.replay_files"):
        data = load_replay(out)
    assert data.torn_rows == 1 and data.ppg.shape == (3 * 64,)
    np.testing.assert_array_equal(data.ppg, np.concatenate([b.ppg for b in blocks]))
    assert "incomplete" in caplog.text and "kept the 192 complete rows" in caplog.text

    recover(out)  # cuts the torn line off
    assert load_replay(out).torn_rows == 0
    assert out.read_text().endswith("\n")


def test_a_torn_row_that_still_parses_but_goes_back_in_time_is_dropped(tmp_path):
    out = tmp_path / "cut.csv"
    rows = "".join(f"{i / 64!r},{float(np.sin(i))!r}\n" for i in range(100))
    out.write_text("t,ppg\n" + rows + "1.5,0.")  # "1.5" cut from "1.546875"; no line end
    data = load_replay(out)
    assert data.torn_rows == 1 and data.ppg.shape == (100,)


def test_a_bad_row_in_the_middle_is_an_error_naming_the_file(tmp_path):
    out = tmp_path / "bad.csv"
    out.write_text("t,ppg\n0,1\n0.1,oops\n0.2,3\n0.3,4\n")
    with pytest.raises(DataFormatError, match=r"bad\.csv: CSV rows must be 2 numbers each") as info:
        load_replay(out)
    assert "\n" not in str(info.value)


def test_a_journal_cut_mid_row_keeps_every_complete_row(tmp_path):
    out = tmp_path / "rec.npz"
    rec = Recorder(out)
    for b in _sim_blocks(2.0):
        rec.write(b)
    rec.flush()
    _abandon(rec)
    with journal_path_for(out).open("ab") as f:
        f.write(np.arange(3, dtype="<f8").tobytes()[:21])
    data = load_replay(out)  # replay:OUT finds the journal
    assert data.torn_rows == 1 and data.ppg.shape == (128,)


# --- write failures --------------------------------------------------------------------------------


def test_record_to_a_missing_folder_is_one_line(tmp_path, capsys):
    out = tmp_path / "no" / "such" / "rec.npz"
    assert main(["record", "sim:?duration=2&speed=max", str(out)]) == 1
    _one_error_line(capsys.readouterr().err, str(out), f"folder {out.parent} does not exist")
    assert not out.parent.exists()


def test_record_under_a_file_is_one_line(tmp_path, capsys):
    """Unwritable for any user, root included: the 'folder' is a regular file."""
    (tmp_path / "plain").write_text("not a folder")
    out = tmp_path / "plain" / "rec.csv"
    assert main(["record", "sim:?duration=2&speed=max", str(out)]) == 1
    _one_error_line(capsys.readouterr().err, "cannot write recording", str(out))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
def test_record_into_a_read_only_folder_is_one_line(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    assert main(["record", "sim:?duration=2&speed=max", str(folder / "rec.npz")]) == 1
    _one_error_line(capsys.readouterr().err, "no permission")


class _DiskFullAfter:
    """A file that accepts ``budget`` bytes, writes part of the next chunk, then fails with ENOSPC.

    A stand-in for a full disk: a real one cannot be made here without root (a tiny tmpfs), and the
    recorder's code path is the same, since the kernel reports ENOSPC as an OSError from write().
    """

    def __init__(self, real, budget: int) -> None:
        self._real = real
        self._budget = budget

    def write(self, data: bytes) -> int:
        if len(data) > self._budget:
            self._real.write(data[: self._budget])  # a short write, as a filling disk does
            self._real.flush()
            self._budget = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._budget -= len(data)
        return self._real.write(data)

    def __getattr__(self, name: str):
        return getattr(self._real, name)


def _disk_full_after(monkeypatch, budget: int) -> None:
    real_open = open
    monkeypatch.setattr(
        "anyppg.sdk.recorder.open", lambda *a, **k: _DiskFullAfter(real_open(*a, **k), budget), raising=False
    )


@pytest.mark.parametrize(("name", "row_bytes"), [("rec.npz", 8 * len(JOURNAL_COLUMNS)), ("rec.csv", 100)])
def test_a_full_disk_keeps_every_flushed_sample_and_says_how_to_finish(
    tmp_path, monkeypatch, name, row_bytes
):
    out = tmp_path / name
    _disk_full_after(
        monkeypatch, budget=int(2.5 * 64 * row_bytes)
    )  # 2 one-second flushes fit, then it is cut
    blocks = _sim_blocks(6.0)
    rec = Recorder(out, flush_every_s=1.0)
    with pytest.raises(RecordingWriteError) as info:
        for b in blocks:
            rec.write(b)
    err = info.value
    assert err.errno == errno.ENOSPC and isinstance(err, AnyPPGError) and isinstance(err, OSError)
    assert "no space left" in str(err) and "\n" not in str(err)
    kept = rec.durable_samples
    assert kept >= 64
    rec.close()  # after a failure: nothing finalised, nothing removed
    with pytest.raises(RecordingWriteError, match="an earlier write failed"):
        rec.write(blocks[-1])
    expected = np.concatenate([b.ppg for b in blocks])[:kept]
    if name.endswith(".npz"):
        assert "anyppg record --recover" in str(err)
        data = load_replay(journal_path_for(out))  # cut back to the last complete flush
        assert data.torn_rows == 0
        monkeypatch.undo()  # space is back
        recover(out)
        data = load_replay(out)
    else:
        data = load_replay(out)
        assert data.torn_rows == 0
    np.testing.assert_array_equal(data.ppg, expected)


def test_a_full_disk_while_finalising_keeps_the_journal(tmp_path, monkeypatch):
    out = tmp_path / "rec.npz"
    rec = Recorder(out)
    for b in _sim_blocks(2.0):
        rec.write(b)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # stand-in for a full disk

    monkeypatch.setattr(np, "savez", no_space)
    with pytest.raises(RecordingWriteError, match=r"safe in .*rec\.npz\.journal"):
        rec.close()
    assert not out.exists() and not Path(str(out) + ".tmp.npz").exists()
    monkeypatch.undo()
    recover(out)
    assert load_replay(out).ppg.shape == (128,)


def test_cli_full_disk_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    out = tmp_path / "rec.npz"
    _disk_full_after(monkeypatch, budget=3 * 64 * 8 * len(JOURNAL_COLUMNS))
    assert main(["record", "sim:?duration=10&speed=max", str(out)]) == 1
    line = _one_error_line(capsys.readouterr().err, "no space left", "--recover")
    kept = int(line.split("; ")[-2].split()[0])
    monkeypatch.undo()
    assert load_replay(journal_path_for(out)).ppg.shape == (kept,)


def test_a_killed_wfdb_recording_is_refused_then_recovered(tmp_path):
    pytest.importorskip("wfdb")
    out = tmp_path / "rec_wfdb"
    blocks = _sim_blocks(3.0, url="sim:?seed=4&speed=max&drop=0.1")
    rec = Recorder(out)
    for b in blocks:
        rec.write(b)
    rec.flush()
    _abandon(rec)
    with pytest.raises(StaleJournalError, match=r"rec_wfdb\.journal"):
        Recorder(out)
    recover(out)
    data = load_replay(out)  # gaps come back as gaps (NaN in the record, left out on reading)
    np.testing.assert_allclose(data.ppg, np.concatenate([b.ppg for b in blocks]), atol=1e-3)
    np.testing.assert_allclose(data.t, np.concatenate([b.times() for b in blocks]), atol=1e-9)


def test_recording_over_an_existing_csv_is_refused_and_leaves_it_alone(tmp_path, capsys):
    out = tmp_path / "rec.csv"
    out.write_text("t,ppg\n0,1\n")
    assert main(["record", "sim:?duration=1&speed=max", str(out)]) == 1
    _one_error_line(capsys.readouterr().err, str(out), "already exists")
    assert out.read_text() == "t,ppg\n0,1\n"


def test_json_errors_name_the_error_type(tmp_path, capsys):
    out = tmp_path / "missing" / "rec.npz"
    assert main(["record", "sim:?duration=1&speed=max", str(out), "--json"]) == 1
    error = json.loads(capsys.readouterr().out)
    assert error["type"] == "RecordingWriteError" and str(out) in error["error"]


@pytest.mark.parametrize("name", ["rec.csv", "rec.npz"])
def test_a_device_that_never_connects_leaves_no_file_in_the_way(tmp_path, capsys, name):
    out = tmp_path / name
    assert main(["record", f"replay:{tmp_path / 'missing.npz'}", str(out)]) == 1
    _one_error_line(capsys.readouterr().err, "missing.npz: file does not exist")
    assert sorted(tmp_path.iterdir()) == []


def test_a_disk_full_at_the_first_flush_leaves_no_empty_journal(tmp_path, monkeypatch):
    out = tmp_path / "rec.npz"
    _disk_full_after(monkeypatch, budget=0)
    rec = Recorder(out)
    with pytest.raises(RecordingWriteError, match="nothing had been written yet"):
        for b in _sim_blocks(2.0):
            rec.write(b)
    rec.close()
    assert sorted(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [(["record"], "expected URL and OUT"), (["record", "sim:", "--recover", "x.npz"], "takes no URL")],
)
def test_record_usage_errors_are_one_line_exit_2(argv, phrase, capsys):
    assert main(argv) == 2
    _one_error_line(capsys.readouterr().err, "anyppg record: error:", phrase)
    assert main([*argv, "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["type"] == "UsageError"
