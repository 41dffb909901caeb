"""Crash-safe recording of a device's samples to NPZ, CSV or a WFDB record directory.

Every format is written by appending: rows are buffered for ``flush_every_s`` of signal, then
appended, flushed and ``fsync``-ed, so a crash loses at most that much. CSV is appended in place.
NPZ and WFDB cannot be appended to, so their rows go to a journal (``<out>.journal``: raw float64 rows
``t, ppg, acc_x, acc_y, acc_z``) which :meth:`Recorder.close` turns into the final file atomically
and removes. A journal left behind by a crash replays as it is (``replay:<out>`` finds it).

Recordings keep device time ``t``: gaps in the stream stay gaps in the file (NaN in WFDB), so a replay
reproduces them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

import numpy as np

from anyppg.errors import DataFormatError, RuntimeUnavailableError
from anyppg.sdk.replay_files import JOURNAL_COLUMNS, load_replay
from anyppg.sdk.samples import SampleBlock

__all__ = ["Recorder", "RecordingFormat", "format_for"]

log = logging.getLogger(__name__)

RecordingFormat = Literal["npz", "csv", "wfdb"]


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


class Recorder:
    """Appends sample blocks to a recording file.

    Args:
        path: ``out.npz``, ``out.csv`` or a directory (WFDB record ``<dirname>``).
        flush_every_s: seconds of signal buffered between durable appends.

    Raises:
        DataFormatError: the path's format is not known, or the file already exists.
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
        if self.path.exists() and not (self.path.is_dir() and not any(self.path.iterdir())):
            raise DataFormatError(str(self.path), "already exists; refusing to overwrite a recording")
        self.flush_every_s = flush_every_s
        self.samples = 0
        self.rate: float | None = None
        self.has_acc = False
        self._rows: list[np.ndarray] = []
        self._buffered = 0
        target = self.path if self.format == "csv" else self.journal_path
        self._file = open(target, "ab")  # noqa: SIM115 -- held open for appends until close()
        self._csv_columns: int | None = None  # decided by the first block: with or without acc
        self._closed = False

    @property
    def journal_path(self) -> Path:
        """Where NPZ / WFDB rows are appended until :meth:`close`."""
        return self.path.with_name(self.path.name + ".journal")

    def write(self, block: SampleBlock) -> None:
        """Append one block (durably once ``flush_every_s`` of signal is buffered)."""
        n = len(block)
        if n == 0:
            return
        rows = np.empty((n, len(JOURNAL_COLUMNS)), dtype="<f8")
        rows[:, 0] = block.times()
        rows[:, 1] = block.ppg
        if block.acc is None:
            rows[:, 2:] = np.nan
        else:
            rows[:, 2:] = block.acc
            self.has_acc = True
        self.rate = self.rate or block.rate
        self._rows.append(rows)
        self._buffered += n
        self.samples += n
        if self._buffered >= self.flush_every_s * block.rate:
            self.flush()

    def flush(self) -> None:
        """Append what is buffered and force it to disk."""
        if not self._rows:
            return
        rows = np.concatenate(self._rows)
        self._rows.clear()
        self._buffered = 0
        if self.format == "csv":
            if self._csv_columns is None:
                self._csv_columns = 5 if self.has_acc else 2
                self._file.write((",".join(JOURNAL_COLUMNS[: self._csv_columns]) + "\n").encode())
            rows = rows[:, : self._csv_columns]
            text = "\n".join(",".join(repr(float(v)) for v in row) for row in rows) + "\n"
            self._file.write(text.encode())
        else:
            self._file.write(rows.tobytes())
        self._sync()

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> Path:
        """Flush, write the final file (NPZ / WFDB) atomically and remove the journal.

        Returns:
            The recording's path.
        """
        if self._closed:
            return self.path
        self.flush()
        self._file.close()
        self._closed = True
        if self.format == "csv":
            return self.path
        if self.samples == 0:
            self.journal_path.unlink(missing_ok=True)
            log.warning("%s: nothing was recorded", self.path)
            return self.path
        data = load_replay(self.journal_path)
        if self.format == "npz":
            tmp = self.path.with_name(self.path.name + ".tmp.npz")
            arrays = {"t": data.t, "ppg": data.ppg, "fs": np.float64(self.rate or data.rate)}
            if data.acc is not None:
                arrays["acc"] = data.acc
            np.savez(tmp, **arrays)
            os.replace(tmp, self.path)
        else:
            self._write_wfdb(data)
        self.journal_path.unlink()
        return self.path

    def _write_wfdb(self, data) -> None:
        import wfdb

        rate = float(self.rate or data.rate)
        index = np.round((data.t - data.t[0]) * rate).astype(np.int64)
        n = int(index[-1]) + 1
        names = ["PPG"] + (["ACC_X", "ACC_Y", "ACC_Z"] if data.acc is not None else [])
        signal = np.full((n, len(names)), np.nan)
        signal[index, 0] = data.ppg
        if data.acc is not None:
            signal[index, 1:] = data.acc
        self.path.mkdir(parents=True, exist_ok=True)
        wfdb.wrsamp(
            self.path.name or "recording",
            fs=rate,
            units=["au"] + ["g"] * (len(names) - 1),
            sig_name=names,
            p_signal=signal,
            fmt=["32"] * len(names),
            adc_gain=[1000.0] * len(names),
            baseline=[0] * len(names),
            write_dir=str(self.path),
        )

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
