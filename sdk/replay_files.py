"""Reading recordings for ``replay:``: NPZ, CSV, WFDB record directories and recorder journals.

Formats (the recorder writes all of them; anything else that follows them replays too):

- **NPZ**: ``ppg`` ``(n,)`` and either ``fs`` (Hz) or ``t`` (seconds per sample, increasing; gaps
  allowed); optional ``acc`` ``(n, 3)`` at the same rate, optional ``ecg`` with ``ecg_fs``.
- **CSV**: a header ``t,ppg`` and optionally ``acc_x,acc_y,acc_z``; ``t`` in seconds.
- **WFDB**: a directory holding one record (``*.hea`` + data) with a ``PPG`` signal and optionally
  ``ACC_X``, ``ACC_Y``, ``ACC_Z``; missing samples are NaN (needs ``pip install "anyppg[data]"``).
- **Journal** (``*.journal``): what :mod:`anyppg.sdk.recorder` appends while recording, readable
  even after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anyppg.errors import DataFormatError, RuntimeUnavailableError

__all__ = ["JOURNAL_COLUMNS", "ReplayData", "load_replay"]

#: columns of a recorder journal: float64 rows, acc NaN when the device has none.
JOURNAL_COLUMNS = ("t", "ppg", "acc_x", "acc_y", "acc_z")


@dataclass
class ReplayData:
    """A recording ready to replay.

    Attributes:
        t: per-sample time, s, strictly increasing (gaps where samples are missing).
        ppg: PPG samples ``(n,)``.
        rate: nominal sampling rate, Hz.
        acc: accelerometer ``(n, 3)`` or None.
        path: where it came from.
    """

    t: np.ndarray
    ppg: np.ndarray
    rate: float
    acc: np.ndarray | None
    path: str


def load_replay(path: str | Path) -> ReplayData:
    """Read a recording in any replay format (chosen by suffix; a directory is a WFDB record).

    Raises:
        FileNotFoundError: (as :class:`DataFormatError`'s sibling) the path does not exist.
        DataFormatError: the content is not one of the formats above; the message names the
            expected keys / columns.
    """
    p = Path(path)
    if not p.exists():
        journal = p.with_name(p.name + ".journal")
        if journal.exists():  # a recording that crashed before finalizing
            return _load_journal(journal)
        raise DataFormatError(str(p), "file does not exist")
    if p.is_dir():
        return _load_wfdb(p)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return _load_npz(p)
    if suffix == ".csv":
        return _load_csv(p)
    if suffix == ".journal":
        return _load_journal(p)
    raise DataFormatError(
        str(p), f"unknown recording format {suffix!r}; expected .npz, .csv or a WFDB directory"
    )


def _finish(path: Path, t: np.ndarray | None, ppg: np.ndarray, fs: float | None, acc) -> ReplayData:
    ppg = np.asarray(ppg, dtype=np.float64).reshape(-1)
    n = ppg.shape[0]
    if n < 2:
        raise DataFormatError(str(path), f"needs at least 2 PPG samples, has {n}")
    if t is None:
        if fs is None or not fs > 0:
            raise DataFormatError(str(path), f"sampling rate fs={fs} must be a positive number of Hz")
        t = np.arange(n) / float(fs)
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    if t.shape[0] != n:
        raise DataFormatError(str(path), f"t has {t.shape[0]} samples but ppg has {n}")
    dt = np.diff(t)
    if not np.all(np.isfinite(t)) or np.any(dt <= 0):
        bad = int(np.argmax(~(dt > 0))) + 1 if np.any(dt <= 0) else 0
        raise DataFormatError(str(path), f"t must be finite and strictly increasing (sample {bad} is not)")
    rate = float(fs) if fs else float(1.0 / np.median(dt))
    if acc is not None:
        acc = np.asarray(acc, dtype=np.float64)
        if acc.shape != (n, 3):
            raise DataFormatError(str(path), f"acc has shape {acc.shape}; expected ({n}, 3) like ppg")
        if np.all(np.isnan(acc)):
            acc = None
    return ReplayData(t=t, ppg=ppg, rate=rate, acc=acc, path=str(path))


def _load_npz(path: Path) -> ReplayData:
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            if "ppg" not in keys or not ({"fs", "t"} & keys):
                raise DataFormatError(
                    str(path),
                    f"NPZ must hold 'ppg' and 'fs' or 't' (optional 'acc'); it holds {sorted(keys)}",
                )
            fs = float(z["fs"]) if "fs" in keys else None
            t = z["t"] if "t" in keys else None
            return _finish(path, t, z["ppg"], fs, z["acc"] if "acc" in keys else None)
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataFormatError):
            raise
        raise DataFormatError(str(path), f"not a readable NPZ file: {exc}") from exc


def _load_csv(path: Path) -> ReplayData:
    with path.open() as f:
        header = [h.strip() for h in f.readline().split(",")]
    if header[:2] != ["t", "ppg"]:
        raise DataFormatError(str(path), f"CSV header must start with 't,ppg'; it is {','.join(header)!r}")
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise DataFormatError(str(path), f"CSV rows must be numbers: {exc}") from exc
    cols = {name: i for i, name in enumerate(header)}
    acc = None
    if {"acc_x", "acc_y", "acc_z"} <= cols.keys():
        acc = data[:, [cols["acc_x"], cols["acc_y"], cols["acc_z"]]]
    return _finish(path, data[:, 0], data[:, 1], None, acc)


def _load_journal(path: Path) -> ReplayData:
    raw = np.fromfile(path, dtype="<f8")
    ncol = len(JOURNAL_COLUMNS)
    rows = raw[: raw.size - raw.size % ncol].reshape(-1, ncol)  # a crash may cut the last row
    return _finish(path, rows[:, 0], rows[:, 1], None, rows[:, 2:5])


def _load_wfdb(path: Path) -> ReplayData:
    try:
        import wfdb
    except ImportError:
        raise RuntimeUnavailableError("wfdb", 'pip install "anyppg[data]"') from None
    headers = sorted(path.glob("*.hea"))
    if not headers:
        raise DataFormatError(str(path), "directory holds no WFDB record (*.hea)")
    record = wfdb.rdrecord(str(headers[0].with_suffix("")))
    names = [n.upper() for n in record.sig_name]
    if "PPG" not in names:
        raise DataFormatError(str(path), f"WFDB record needs a 'PPG' signal; it has {record.sig_name}")
    sig = record.p_signal
    acc = None
    if {"ACC_X", "ACC_Y", "ACC_Z"} <= set(names):
        acc = sig[:, [names.index("ACC_X"), names.index("ACC_Y"), names.index("ACC_Z")]]
    # Missing samples (gaps in a recording) are stored as NaN, WFDB's "invalid sample" value.
    ppg = sig[:, names.index("PPG")]
    keep = np.isfinite(ppg)
    t = np.arange(ppg.shape[0])[keep] / float(record.fs)
    return _finish(path, t, ppg[keep], float(record.fs), None if acc is None else acc[keep])
