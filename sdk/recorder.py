"""Crash-safe recording of a device's samples to NPZ, CSV or a WFDB record directory.

Every format is written by appending: rows are buffered for ``flush_every_s`` of signal, then
appended, flushed and ``fsync``-ed, so a crash loses at most that much. CSV is appended in place.
NPZ and WFDB cannot be appended to, so their rows go to a journal (``<out>.journal``: raw float64 rows
``t, ppg, acc_x, acc_y, acc_z``) which :meth:`Recorder.close` turns into the final file atomically
and removes.

A device with several PPG channels keeps them all: NPZ ``ppg`` of shape ``(n, channels)``, CSV columns
``ppg_0 .. ppg_{c-1}``, WFDB signals ``PPG, PPG_1, ..``, journal rows ``t, ppg_0, acc_x, acc_y, acc_z,
ppg_1 ..`` after a header row (:func:`anyppg.sdk.replay_files.journal_header`). The channel count is the
first block's; a later block with another count is recorded with its first channels (NaN where it
has fewer) and a warning. An accelerometer of unknown unit (``SampleBlock.acc_in_g`` False) is kept
as sent and marked raw (NPZ ``acc_unit="raw"``, CSV ``acc_raw_x..z``, WFDB unit ``raw``), so its replay
is calibrated on gravity like the live stream. A journal left behind by a crash replays as it is (``replay:<out>`` finds it).

A new recording never touches an old one: the output and the journal are created exclusively, so a
journal left by a killed recording makes :class:`Recorder` refuse with :class:`StaleJournalError`
until :func:`recover` (``anyppg record --recover OUT``) has turned it into the final file. A failed
write (full disk, device removed) keeps everything made durable before it: the journal is cut back
to its last complete flush and :class:`RecordingWriteError` says how to finalise it.

Recordings keep device time ``t``: gaps in the stream stay gaps in the file (NaN in WFDB), so a replay
reproduces them.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from pathlib import Path
from typing import IO, Literal

import numpy as np

from anyppg.errors import AnyPPGError, DataFormatError, RuntimeUnavailableError
from anyppg.sdk.replay_files import JOURNAL_COLUMNS, ReplayData, journal_header, load_replay
from anyppg.sdk.samples import SampleBlock

__all__ = [
    "Recorder",
    "RecordingFormat",
    "RecordingWriteError",
    "StaleJournalError",
    "format_for",
    "journal_path_for",
    "recover",
]

log = logging.getLogger(__name__)

RecordingFormat = Literal["npz", "csv", "wfdb"]


class StaleJournalError(DataFormatError):
    """A journal left by an unfinished (killed) recording is where a new recording would write.

    Attributes:
        path: the recording that was asked for.
        journal: the stale journal; :func:`recover` finalises it into ``path``.
    """

    def __init__(self, path: str | Path, journal: str | Path) -> None:
        super().__init__(
            str(path),
            f"an unfinished recording's journal {journal} is in the way; finalise it with "
            f"'anyppg record --recover {path}' (or move it aside), then record again",
        )
        self.journal = str(journal)


class RecordingWriteError(AnyPPGError, OSError):
    """A recording cannot be created or appended to (missing folder, no permission, full disk).

    Attributes:
        path: the recording.
        reason: what failed, and where the samples written so far are.
        errno: the operating system's error number, or None.
    """

    def __init__(self, path: str | Path, reason: str, errno_: int | None = None) -> None:
        super().__init__(f"cannot write recording {path}: {reason}")
        self.path = str(path)
        self.reason = reason
        self.errno = errno_


def format_for(path: str | Path) -> RecordingFormat:
    """The format a path asks for: ``.npz``, ``.csv``, anything else (a directory) WFDB.

    Raises:
        DataFormatError: a file suffix that is not a recording format.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix == ".csv":
        return "csv"
    if suffix == "" or p.is_dir():
        return "wfdb"
    raise DataFormatError(
        str(p), f"unknown recording format {suffix!r}; expected .npz, .csv or a directory (WFDB)"
    )


def journal_path_for(path: str | Path) -> Path:
    """Where the rows of an NPZ / WFDB recording at ``path`` are appended until it is finalised."""
    p = Path(path)
    return p.with_name(p.name + ".journal")


def _os_reason(exc: OSError, target: Path) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"folder {target.parent} does not exist"
    if isinstance(exc, PermissionError):
        return f"no permission to write {target}"
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device holding {target}"
    return f"{exc.strerror or type(exc).__name__} ({target})"


class Recorder:
    """Appends sample blocks to a recording file.

    Args:
        path: ``out.npz``, ``out.csv`` or a directory (WFDB record ``<dirname>``).
        flush_every_s: seconds of signal buffered between durable appends.

    Raises:
        DataFormatError: the path's format is not known, or the recording already exists.
        StaleJournalError: a killed recording's journal is in the way (see :func:`recover`).
        RecordingWriteError: the file cannot be created (missing folder, no permission, ...).
        RuntimeUnavailableError: WFDB output without the ``wfdb`` package.
    """

    def __init__(self, path: str | Path, *, flush_every_s: float = 1.0) -> None:
        self.path = Path(path)
        self.format = format_for(self.path)
        if self.format == "wfdb":
            try:
                import wfdb  # noqa: F401
            except ImportError:
                raise RuntimeUnavailableError("wfdb", 'pip install "anyppg[data]"') from None
        if self.format != "csv" and self.journal_path.exists():
            raise StaleJournalError(self.path, self.journal_path)
        if self.path.exists() and not (self.path.is_dir() and not any(self.path.iterdir())):
            raise DataFormatError(str(self.path), "already exists; refusing to overwrite a recording")
        self.flush_every_s = flush_every_s
        self.samples = 0
        self.rate: float | None = None
        self.has_acc = False
        self.channels: int | None = None  # PPG channels, from the first block
        self.acc_raw: bool | None = None  # accelerometer in raw units, from the first block with one
        self._rows: list[np.ndarray] = []
        self._buffered = 0
        self._target = self.path if self.format == "csv" else self.journal_path
        try:
            # "x": created here or refused, so a journal or CSV another process left is never appended to
            self._file: IO[bytes] = open(self._target, "xb")  # noqa: SIM115 -- held open until close()
        except FileExistsError:
            if self.format == "csv":
                raise DataFormatError(
                    str(self.path), "already exists; refusing to overwrite a recording"
                ) from None
            raise StaleJournalError(self.path, self.journal_path) from None
        except OSError as exc:
            raise RecordingWriteError(self.path, _os_reason(exc, self._target), exc.errno) from None
        _fsync_folder(self._target.parent)  # the new file's name survives a power loss, not only its rows
        self._csv_columns: list[int] | None = None  # row columns written, decided by the first flush
        self._durable_bytes = 0  # file size after the last successful flush
        self._durable_samples = 0
        self._failed = False
        self._closed = False

    @property
    def journal_path(self) -> Path:
        """Where NPZ / WFDB rows are appended until :meth:`close`."""
        return journal_path_for(self.path)

    @property
    def durable_samples(self) -> int:
        """Samples appended and ``fsync``-ed so far (what survives a crash now)."""
        return self._durable_samples

    def write(self, block: SampleBlock) -> None:
        """Append one block (durably once ``flush_every_s`` of signal is buffered).

        Raises:
            RecordingWriteError: a flush failed (see :meth:`flush`), now or before.
        """
        n = len(block)
        if n == 0:
            return
        if self._failed:
            raise RecordingWriteError(self.path, "an earlier write failed; the recording is stopped")
        if self.channels is None:
            self.channels = block.channels
        elif block.channels != self.channels:
            log.warning(
                "%s: a block has %d PPG channel(s), the recording %d; recorded as %d",
                self.path,
                block.channels,
                self.channels,
                self.channels,
            )
        c = self.channels
        rows = np.full((n, len(JOURNAL_COLUMNS) - 1 + c), np.nan, dtype="<f8")
        rows[:, 0] = block.times()
        ppg = block.ppg.reshape(n, -1)[:, :c]
        rows[:, 1] = ppg[:, 0]
        rows[:, len(JOURNAL_COLUMNS) : len(JOURNAL_COLUMNS) - 1 + ppg.shape[1]] = ppg[:, 1:]
        if block.acc is not None:  # acc stays NaN without one
            rows[:, 2:5] = block.acc
            self.has_acc = True
            if self.acc_raw is None:
                self.acc_raw = not block.acc_in_g
            elif self.acc_raw != (not block.acc_in_g):
                log.warning("%s: the accelerometer's unit changed mid-recording; kept as sent", self.path)
        self.rate = self.rate or block.rate
        self._rows.append(rows)
        self._buffered += n
        self.samples += n
        if self._buffered >= self.flush_every_s * block.rate:
            self.flush()

    def flush(self) -> None:
        """Append what is buffered and force it to disk.

        Raises:
            RecordingWriteError: the append failed (e.g. a full disk). The file is cut back to its
                last complete flush, so it stays readable, and the recorder refuses further writes;
                the message says how many samples are kept and how to finalise them.
        """
        if not self._rows or self._failed:
            return
        rows = np.concatenate(self._rows)
        first = self._durable_bytes == 0
        if self.format == "csv":
            header = b""
            if self._csv_columns is None:
                names, self._csv_columns = _csv_layout(self.channels or 1, self.has_acc, bool(self.acc_raw))
                header = (",".join(names) + "\n").encode()
            cut = rows[:, self._csv_columns]
            text = "\n".join(",".join(repr(float(v)) for v in row) for row in cut) + "\n"
            data = header + text.encode()
        else:
            data = rows.tobytes()
            if first and ((self.channels or 1) > 1 or self.acc_raw):
                header = journal_header(self.channels or 1, acc_raw=bool(self.acc_raw))
                data = header.astype("<f8").tobytes() + data
        try:
            self._file.write(data)
            self._sync()
        except OSError as exc:
            self._fail(exc)
        self._rows.clear()
        self._buffered = 0
        self._durable_bytes += len(data)
        self._durable_samples += len(rows)

    def _fail(self, exc: OSError) -> None:
        """Cut the file back to its last complete flush, stop, and raise a one-line error."""
        self._failed = True
        lost = self.samples - self._durable_samples
        # The bytes that could not be written are the ones being dropped; if the cut fails too, the
        # readers still leave a torn last row out.
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(OSError):
            if self._durable_bytes:
                os.truncate(self._target, self._durable_bytes)
            else:  # nothing was durable yet: no empty file or journal is left in the way
                self._target.unlink()
        if not self._durable_bytes:
            keep = "nothing had been written yet"
        elif self.format == "csv":
            keep = f"{self._durable_samples} samples are kept in {self.path}"
        else:
            keep = (
                f"{self._durable_samples} samples are kept in {self.journal_path}; finalise them with "
                f"'anyppg record --recover {self.path}' once the problem is fixed"
            )
        raise RecordingWriteError(
            self.path,
            f"{_os_reason(exc, self._target)}; the last {lost} samples were not written; {keep}",
            exc.errno,
        ) from None

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> Path:
        """Flush, write the final file (NPZ / WFDB) atomically and remove the journal.

        After a failed write nothing is finalised: the journal stays for :func:`recover`.

        Returns:
            The recording's path.

        Raises:
            RecordingWriteError: the last flush or the final file cannot be written; the journal
                is kept.
        """
        if self._closed:
            return self.path
        self._closed = True
        if self._failed:
            return self.path
        try:
            self.flush()
        finally:
            if not self._file.closed:
                self._file.close()
        if self.samples == 0:  # e.g. the device never connected: leave no empty file in the way
            self._target.unlink(missing_ok=True)
            log.info("%s: nothing was recorded; no file written", self.path)
            return self.path
        if self.format == "csv":
            return self.path
        _finalise(self.path, self.format, load_replay(self.journal_path), self.rate)
        return self.path

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def recover(path: str | Path) -> ReplayData:
    """Finalise a recording that was killed before :meth:`Recorder.close` ran.

    NPZ / WFDB: the journal ``<path>.journal`` becomes ``path`` (rebuilt even when a crash left a
    partial final file) and is removed. CSV: a torn last line is cut off. Nothing complete is lost.

    Returns:
        What the recording now holds (samples, times, rate).

    Raises:
        DataFormatError: nothing to recover (no journal), or the journal holds fewer than 2 samples.
        RecordingWriteError: the final file cannot be written (the journal is kept).
    """
    p = Path(path)
    fmt = format_for(p)
    if fmt == "csv":
        data = load_replay(p)
        if data.torn_rows:
            _cut_torn_csv_line(p)
        return data
    journal = journal_path_for(p)
    if not journal.exists():
        raise DataFormatError(str(p), f"nothing to recover: there is no journal {journal}")
    data = load_replay(journal)
    _finalise(p, fmt, data, None)
    return data


def _cut_torn_csv_line(path: Path) -> None:
    raw = path.read_bytes()
    keep = raw.rstrip(b"\r\n").rfind(b"\n") + 1
    try:
        os.truncate(path, keep)
    except OSError as exc:
        raise RecordingWriteError(path, _os_reason(exc, path), exc.errno) from None


def _finalise(path: Path, fmt: RecordingFormat, data: ReplayData, rate: float | None) -> None:
    """Write the final NPZ / WFDB file from journal ``data``, then remove the journal."""
    journal = journal_path_for(path)
    keep = f"the samples are safe in {journal}; run 'anyppg record --recover {path}' once it is fixed"
    try:
        if fmt == "npz":
            tmp = path.with_name(path.name + ".tmp.npz")
            arrays = {"t": data.t, "ppg": data.ppg, "fs": np.float64(rate or data.rate)}
            if data.acc is not None:
                arrays["acc"] = data.acc
                if not data.acc_in_g:
                    arrays["acc_unit"] = np.str_("raw")
            try:
                with tmp.open("wb") as f:
                    np.savez(f, **arrays)
                    f.flush()
                    os.fsync(f.fileno())  # on disk before it replaces anything and the journal goes
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        else:
            _write_wfdb(path, data, float(rate or data.rate))
            for written in path.iterdir():
                _fsync_file(written)
        _fsync_folder(path.parent)
    except OSError as exc:
        raise RecordingWriteError(path, f"{_os_reason(exc, path)}; {keep}", exc.errno) from None
    journal.unlink()


def _csv_layout(channels: int, has_acc: bool, acc_raw: bool) -> tuple[list[str], list[int]]:
    """CSV column names and the journal-row columns they come from."""
    base = len(JOURNAL_COLUMNS)
    if channels == 1:
        names, columns = ["t", "ppg"], [0, 1]
    else:
        names = ["t", *(f"ppg_{k}" for k in range(channels))]
        columns = [0, 1, *range(base, base + channels - 1)]
    if has_acc:
        names += ["acc_raw_x", "acc_raw_y", "acc_raw_z"] if acc_raw else list(JOURNAL_COLUMNS[2:])
        columns += [2, 3, 4]
    return names, columns


def _fsync_file(path: Path, flags: int = os.O_RDWR) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(path: Path) -> None:
    """Make a folder's entries (a created or replaced file's name) durable; a no-op where folders
    cannot be opened (Windows)."""
    with contextlib.suppress(OSError):
        _fsync_file(path, os.O_RDONLY)


def _write_wfdb(path: Path, data: ReplayData, rate: float) -> None:
    import wfdb

    index = np.round((data.t - data.t[0]) * rate).astype(np.int64)
    n = int(index[-1]) + 1
    ppg = data.ppg.reshape(len(data.t), -1)
    c = ppg.shape[1]
    names = ["PPG", *(f"PPG_{k}" for k in range(1, c))]
    names += ["ACC_X", "ACC_Y", "ACC_Z"] if data.acc is not None else []
    signal = np.full((n, len(names)), np.nan)
    signal[index, :c] = ppg
    if data.acc is not None:
        signal[index, c:] = data.acc
    path.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(
        path.name or "recording",
        fs=rate,
        units=["au"] * c + ["g" if data.acc_in_g else "raw"] * (len(names) - c),
        sig_name=names,
        p_signal=signal,
        fmt=["32"] * len(names),
        adc_gain=[1000.0] * len(names),
        baseline=[0] * len(names),
        write_dir=str(path),
    )
