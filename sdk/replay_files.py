"""Reading recordings for ``replay:``: NPZ, CSV, WFDB record directories, EDF files and recorder journals.

Formats (the recorder writes all of them but EDF; anything else that follows them replays too):

- **NPZ**: ``ppg`` and either ``fs`` (a scalar, Hz) or ``t`` (seconds per sample, increasing; gaps
  allowed). The data folder's names read too: ``fs_ppg``, ``t_ppg``, a camera's ``ppg_rgb`` (three
  channels, red first) and one channel per wavelength (``ppg_green``, ``ppg_ir``, ``ppg_red``, in
  that order: the first one present feeds the model). Optional ``acc`` at the same rate (or at ``acc_fs``, Hz, from the first PPG sample on:
  then read at the PPG's sample times), optional ``ecg`` with ``ecg_fs``. ``ppg`` is ``(n,)``
  or, from a sensor with several PPG channels, ``(n, channels)`` or ``(channels, n)`` (the data
  folder's convention): the longer axis is time, and at most :data:`MAX_PPG_CHANNELS` channels. ``acc``
  is ``(n, 3)`` or ``(3, n)``, in g unless ``acc_unit`` says otherwise (``mg``, ``m/s^2``, or ``raw``:
  unknown scale, calibrated on gravity by the pipeline). Every channel is replayed (channel 0 feeds
  the model).
- **CSV**: a header ``t,ppg`` (or ``t,ppg_0,ppg_1,...`` for several channels) and optionally all three
  of ``acc_x,acc_y,acc_z`` (g) or of ``acc_raw_x,acc_raw_y,acc_raw_z`` (unknown scale); ``t`` in
  seconds. An empty cell is a missing value: an empty PPG cell a missing sample, rows without an
  accelerometer sample (a slower accelerometer) read it at their time between the rows that have
  one. A last line cut short (a recording killed mid-write) is left out with a warning; every
  complete row is kept.
- **WFDB**: a directory holding one record (``*.hea`` + data) with a ``PPG`` signal (further channels
  ``PPG_1``, ``PPG_2``, ...) and optionally ``ACC_X``, ``ACC_Y``, ``ACC_Z`` (unit ``g``, ``mg``,
  ``m/s^2`` or ``raw``); missing samples are NaN. In a multi-frequency record every signal keeps its
  own rate (frame rate x its samples per frame): the PPG is read at its rate, an accelerometer at
  another rate at the PPG's sample times (needs ``pip install "anyppg[data]"``).
- **EDF / EDF+** (``*.edf``, read only; a polysomnograph's or a wearable's export): the first channel
  labelled as PPG (``Pleth``, ``PPG``, ...: :data:`anyppg.channels.PPG_NAMES`) at its own rate, and an
  accelerometer where three channels are labelled ``ACC X`` / ``ACC_Y`` / ``Accelerometer Z``-style
  (unit from the physical dimension: ``g``, ``mg``, ``m/s^2``; none given: raw), read at the PPG's
  sample times when its rate differs (needs ``pip install "anyppg[data]"``).
- **Journal** (``*.journal``): what :mod:`anyppg.sdk.recorder` appends while recording, readable
  even after a crash (a row cut short at the end is left out).

Rates must lie in :data:`RATE_RANGE_HZ`. Every problem with a file is a :class:`DataFormatError`
whose one-line message names the file and what was expected.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anyppg.errors import DataFormatError, RuntimeUnavailableError
from anyppg.npz import open_npz
from anyppg.sdk.samples import acc_at, acc_span_mismatch

__all__ = [
    "JOURNAL_COLUMNS",
    "MAX_PPG_CHANNELS",
    "RATE_RANGE_HZ",
    "ReplayData",
    "journal_header",
    "load_replay",
]

log = logging.getLogger(__name__)

#: columns of a recorder journal: float64 rows, acc NaN when the device has none. A recording with
#: ``c > 1`` PPG channels appends ``ppg_1 .. ppg_{c-1}`` to each row; it, and one whose accelerometer
#: is in raw units, starts with one header row (:func:`journal_header`: NaN, ``c``, 1.0 for a raw
#: accelerometer), which a plain journal never has (its ``t`` is finite).
JOURNAL_COLUMNS = ("t", "ppg", "acc_x", "acc_y", "acc_z")

#: most PPG channels a recording may have (multi-wavelength and multi-photodiode sensors have 2-8).
MAX_PPG_CHANNELS = 16

#: sampling rates (Hz) a recording may have: below 1 Hz is not a PPG waveform (``t`` in ms?), above
#: 10 kHz no PPG front end samples (and resampling it would need a filter of millions of taps).
RATE_RANGE_HZ = (1.0, 10_000.0)

_ACC_COLUMNS = ("acc_x", "acc_y", "acc_z")
_RAW_ACC_COLUMNS = ("acc_raw_x", "acc_raw_y", "acc_raw_z")

#: accelerometer units a recording may name, and their factor to g (None: raw, unknown scale).
ACC_UNITS: dict[str, float | None] = {
    "g": 1.0,
    "mg": 1e-3,
    "m/s^2": 1 / 9.80665,
    "m/s2": 1 / 9.80665,
    "raw": None,
    "unknown": None,
    "counts": None,
}


@dataclass
class ReplayData:
    """A recording ready to replay.

    Attributes:
        t: per-sample time, s, strictly increasing (gaps where samples are missing).
        ppg: PPG samples ``(n,)``, or ``(n, channels)`` when the file holds several channels.
        rate: nominal sampling rate, Hz.
        acc: accelerometer ``(n, 3)`` or None.
        path: where it came from.
        ppg_channels: PPG channels in the file (all are replayed; channel 0 feeds the model).
        torn_rows: incomplete rows left out at the end of the file (a recording killed mid-write).
        acc_in_g: False when ``acc`` is in raw units of unknown scale (replayed as such, calibrated
            on gravity by the pipeline).
    """

    t: np.ndarray
    ppg: np.ndarray
    rate: float
    acc: np.ndarray | None
    path: str
    ppg_channels: int = 1
    torn_rows: int = 0
    acc_in_g: bool = True

    @property
    def ppg0(self) -> np.ndarray:
        """Channel 0 of the PPG (the model's), ``(n,)``."""
        return self.ppg if self.ppg.ndim == 1 else self.ppg[:, 0]


def journal_header(channels: int, *, acc_raw: bool = False) -> np.ndarray:
    """The first row of a journal with ``channels > 1`` PPG channels or a raw accelerometer: float64
    ``(4 + channels,)``: NaN, ``channels``, 1.0 if the accelerometer is raw else 0.0, then NaN."""
    row = np.full(len(JOURNAL_COLUMNS) - 1 + channels, np.nan)
    row[1] = channels
    row[2] = 1.0 if acc_raw else 0.0
    return row


def load_replay(path: str | Path) -> ReplayData:
    """Read a recording in any replay format (chosen by suffix; a directory is a WFDB record).

    Raises:
        DataFormatError: the path does not exist, or its content is not one of the formats above;
            the one-line message names the file and the expected keys / columns.
        RuntimeUnavailableError: a WFDB record without the ``wfdb`` package, an EDF file without
            ``pyedflib`` (both in ``anyppg[data]``).
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
    if suffix == ".edf":
        return _load_edf(p)
    raise DataFormatError(
        str(p), f"unknown recording format {suffix!r}; expected .npz, .csv, .edf or a WFDB directory"
    )


def _check_rate(path: Path, rate: float, source: str) -> float:
    lo, hi = RATE_RANGE_HZ
    if not (np.isfinite(rate) and lo <= rate <= hi):
        hint = " (is t in milliseconds? it must be seconds)" if source == "t" and 0 < rate < lo else ""
        raise DataFormatError(
            str(path), f"sampling rate {rate:g} Hz (from {source}) is outside {lo:g}-{hi:g} Hz{hint}"
        )
    return rate


def _ppg_channels(path: Path, ppg: Any) -> tuple[np.ndarray, int]:
    """``(n,)`` as is; ``(n, channels)`` or ``(channels, n)`` -> ``(n, channels)`` (the longer axis is
    time) and the channel count; anything else refused."""
    arr = np.asarray(ppg)
    if arr.dtype.kind not in "iuf":
        raise DataFormatError(str(path), f"ppg must hold real numbers; it has dtype {arr.dtype}")
    if arr.ndim == 1:
        return arr.astype(np.float64), 1
    if arr.ndim == 2 and min(arr.shape) >= 1 and arr.shape[0] != arr.shape[1]:
        samples_first = arr if arr.shape[0] > arr.shape[1] else arr.T
        channels = int(samples_first.shape[1])
        if channels <= MAX_PPG_CHANNELS:
            out = np.ascontiguousarray(samples_first, dtype=np.float64)
            return (out[:, 0].copy(), 1) if channels == 1 else (out, channels)
    raise DataFormatError(
        str(path),
        f"ppg has shape {arr.shape}; expected (n,), (n, channels) or (channels, n) with at most "
        f"{MAX_PPG_CHANNELS} channels",
    )


def _acc_samples_first(acc: Any, n: int) -> Any:
    """``(3, n)`` (the data folder's convention) as ``(n, 3)``; anything else unchanged."""
    arr = np.asarray(acc)
    return arr.T if arr.ndim == 2 and arr.shape == (3, n) and n != 3 else arr


def _finish(
    path: Path,
    t: np.ndarray | None,
    ppg: np.ndarray,
    fs: float | None,
    acc: Any,
    *,
    channels: int = 1,
    torn_rows: int = 0,
    acc_in_g: bool = True,
    acc_fs: float | None = None,
) -> ReplayData:
    n = ppg.shape[0]
    if n < 2:
        raise DataFormatError(str(path), f"needs at least 2 PPG samples, has {n}")
    if t is None:
        if fs is None:
            raise DataFormatError(str(path), "needs a sampling rate 'fs' (Hz) or times 't' (s)")
        t = np.arange(n) / _check_rate(path, fs, "fs")
    t = _real(path, "t", t)
    if t.shape != (n,):
        raise DataFormatError(str(path), f"t has shape {t.shape}; expected ({n},) like ppg")
    with np.errstate(all="ignore"):  # absurd times overflow; they are refused below, not warned about
        dt = np.diff(t)
        if not np.all(np.isfinite(t)) or not np.all(dt > 0):
            bad = int(np.argmax(~(dt > 0))) + 1 if not np.all(dt > 0) else int(np.argmax(~np.isfinite(t)))
            raise DataFormatError(
                str(path), f"t must be finite and strictly increasing (sample {bad} is not)"
            )
        rate = _check_rate(path, float(fs) if fs else float(1.0 / np.median(dt)), "fs" if fs else "t")
    if acc is not None and acc_fs is not None:  # on a clock of its own: read at the PPG's times
        acc = _acc_on_ppg_times(path, acc, acc_fs, t, rate)
    if acc is not None:
        acc = _real(path, "acc", _acc_samples_first(acc, n))
        if acc.shape != (n, 3):
            raise DataFormatError(
                str(path), f"acc has shape {acc.shape}; expected ({n}, 3) or (3, {n}) like ppg"
            )
        if np.all(np.isnan(acc)):
            acc = None
    return ReplayData(
        t=t,
        ppg=ppg,
        rate=rate,
        acc=acc,
        path=str(path),
        ppg_channels=channels,
        torn_rows=torn_rows,
        acc_in_g=acc_in_g or acc is None,
    )


def _acc_on_ppg_times(path: Path, acc: Any, acc_fs: float, t: np.ndarray, rate: float) -> np.ndarray:
    """An accelerometer sampled at ``acc_fs`` from the first PPG sample on, at the PPG's times ``t``."""
    a = _real(path, "acc", acc)
    if a.ndim == 2 and a.shape[0] == 3 and a.shape[1] != 3:
        a = a.T
    if a.ndim != 2 or a.shape[1] != 3:
        raise DataFormatError(str(path), f"acc has shape {a.shape}; expected (m, 3) or (3, m) at acc_fs")
    problem = acc_span_mismatch(a.shape[0], acc_fs, float(t[-1] - t[0]) + 1.0 / rate, rate)
    if problem:
        raise DataFormatError(str(path), problem)
    return acc_at(t, t[0] + np.arange(a.shape[0]) / acc_fs, a)


def _acc_factor(path: Path, unit: str) -> float | None:
    """g per unit of a named accelerometer unit (None: raw); an unknown name is refused."""
    key = unit.strip().lower().replace(" ", "")
    if key not in ACC_UNITS:
        raise DataFormatError(str(path), f"accelerometer unit {unit!r} is not one of {', '.join(ACC_UNITS)}")
    return ACC_UNITS[key]


def _real(path: Path, name: str, values: Any) -> np.ndarray:
    """``values`` as float64, refusing text, complex, boolean or object arrays by name."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise DataFormatError(str(path), f"{name} must hold real numbers; it has dtype {arr.dtype}")
    return arr.astype(np.float64)


def _npz_scalar(path: Path, z: Any, key: str) -> float:
    value = np.asarray(z[key])
    if value.size != 1 or value.dtype.kind not in "iuf":
        raise DataFormatError(
            str(path),
            f"{key!r} must be one number (Hz); it is an array of shape {value.shape}, dtype {value.dtype}",
        )
    return float(value.reshape(()))


NPZ_RATE_KEYS = ("fs", "fs_ppg")
"""Names an NPZ's PPG sampling rate goes by: the recorder's, then the data folder's."""
NPZ_ACC_RATE_KEYS = ("acc_fs", "fs_acc")
"""Names an accelerometer's own rate goes by (the same two conventions)."""
NPZ_TIME_KEYS = ("t", "t_ppg")
"""Names an NPZ's per-sample times go by (the recorder's; the data folder's camera files)."""
NPZ_CAMERA_KEY = "ppg_rgb"
"""A phone camera's per-frame mean red, green and blue, ``(3, n)``: read as three channels in that
order, red first (a fingertip over the lens shows the pulse most in red)."""
NPZ_WAVELENGTH_KEYS = ("ppg_green", "ppg_ir", "ppg_red")
"""One PPG channel per wavelength, each ``(n,)`` (the data folder's pulse-oximeter files: ``ppg_ir``,
``ppg_red``): read as channels in this order, so the first one present feeds the model."""


def _first_key(keys: set[str], names: tuple[str, ...]) -> str | None:
    return next((k for k in names if k in keys), None)


def _load_npz(path: Path) -> ReplayData:
    with open_npz(path) as z:
        keys = set(z.files)
        fs_key = _first_key(keys, NPZ_RATE_KEYS)
        t_key = _first_key(keys, NPZ_TIME_KEYS)
        has_ppg = bool({"ppg", NPZ_CAMERA_KEY} & keys) or any(k in keys for k in NPZ_WAVELENGTH_KEYS)
        if not has_ppg or (fs_key is None and t_key is None):
            raise DataFormatError(
                str(path),
                f"NPZ must hold 'ppg' (or {NPZ_CAMERA_KEY!r}, or one of "
                f"{', '.join(repr(k) for k in NPZ_WAVELENGTH_KEYS)}) and 'fs' or 't' (optional 'acc'); "
                f"it holds {sorted(keys)}",
            )
        fs = _npz_scalar(path, z, fs_key) if fs_key is not None else None
        acc_key = _first_key(keys, NPZ_ACC_RATE_KEYS)
        acc_fs = _check_rate(path, _npz_scalar(path, z, acc_key), acc_key) if acc_key is not None else None
        t = z[t_key] if t_key is not None else None
        ppg, channels = _npz_ppg(path, z, keys)
        acc = z["acc"] if "acc" in keys else None
        factor: float | None = 1.0
        if "acc_unit" in keys:
            unit = np.asarray(z["acc_unit"])
            if unit.dtype.kind not in "US" or unit.size != 1:
                raise DataFormatError(str(path), f"'acc_unit' must be one string; it has dtype {unit.dtype}")
            factor = _acc_factor(path, str(unit.reshape(())))
        if acc is not None and factor not in (None, 1.0):
            acc = _real(path, "acc", acc) * factor
        return _finish(path, t, ppg, fs, acc, channels=channels, acc_in_g=factor is not None, acc_fs=acc_fs)


def _npz_ppg(path: Path, z: Any, keys: set[str]) -> tuple[np.ndarray, int]:
    """The PPG of an NPZ as :func:`_ppg_channels` gives it: ``ppg``, else the camera's
    :data:`NPZ_CAMERA_KEY`, else the :data:`NPZ_WAVELENGTH_KEYS` present, one channel each."""
    if "ppg" in keys:
        return _ppg_channels(path, z["ppg"])
    if NPZ_CAMERA_KEY in keys:
        return _ppg_channels(path, z[NPZ_CAMERA_KEY])
    named = [k for k in NPZ_WAVELENGTH_KEYS if k in keys]
    columns = [_real(path, k, z[k]) for k in named]
    if any(c.shape != (columns[0].shape[0],) for c in columns):
        shapes = ", ".join(f"{k} {c.shape}" for k, c in zip(named, columns, strict=True))
        raise DataFormatError(str(path), f"PPG channels must be 1-D and of one length; they are {shapes}")
    return _ppg_channels(path, np.stack(columns, axis=1))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] + (" ..." if len(text) > 200 else "")


def _load_csv(path: Path) -> ReplayData:
    with path.open("rb") as f:
        head = f.read(4096)
        size = f.seek(0, os.SEEK_END)
        f.seek(max(size - 1, 0))
        complete_last = f.read(1) in (b"\n", b"\r")  # the recorder ends every row with a line end
    if b"\0" in head:
        raise DataFormatError(str(path), "is binary, not a CSV text file with a header t,ppg")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not merely a character cut by the 4 KiB read
            raise DataFormatError(
                str(path), f"is not UTF-8 text (byte {exc.start}); expected a CSV with a header t,ppg"
            ) from None
    first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    header = [h.strip().lower() for h in first.split(",")] if head else []
    ppg_columns = _csv_ppg_columns(header)
    if header[:1] != ["t"] or not ppg_columns:
        shown = ",".join(header)[:80]
        raise DataFormatError(
            str(path), f"CSV header must start with 't,ppg' (or 't,ppg_0,ppg_1,...'); it is {shown!r}"
        )
    acc_columns = _RAW_ACC_COLUMNS if any(c in header for c in _RAW_ACC_COLUMNS) else _ACC_COLUMNS
    present = [c for c in acc_columns if c in header]
    if present and len(present) < 3:
        missing = [c for c in acc_columns if c not in header]
        raise DataFormatError(
            str(path),
            f"CSV has {','.join(present)} but not {','.join(missing)}; acc needs all of {','.join(acc_columns)}",
        )
    data, torn = _csv_rows(path, header, complete_last)
    cols = {name: i for i, name in enumerate(header)}
    acc = data[:, [cols[c] for c in acc_columns]] if present else None
    if acc is not None:
        acc = _fill_acc_rows(path, data[:, 0], acc)
    ppg = data[:, ppg_columns[0]] if len(ppg_columns) == 1 else data[:, ppg_columns]
    raw = acc_columns is _RAW_ACC_COLUMNS
    return _finish(
        path, data[:, 0], ppg, None, acc, channels=len(ppg_columns), torn_rows=torn, acc_in_g=not raw
    )


def _fill_acc_rows(path: Path, t: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """An accelerometer slower than the PPG leaves whole rows empty: they are read at their row's time
    ``t`` between the rows that have one (a cell missing from an otherwise full row stays NaN, an
    invalid sample that the stream repairs and counts)."""
    empty = np.isnan(acc).all(axis=1)
    have = ~empty & np.isfinite(t)
    if not empty.any() or have.sum() < 2 or not np.all(np.diff(t[have]) > 0):
        return acc  # nothing to fill, too little to fill from, or t is refused by _finish anyway
    log.info("%s: accelerometer on %d of %d rows; read at the other rows' times", path, have.sum(), len(t))
    filled = acc.copy()
    filled[empty] = acc_at(t[empty], t[have], acc[have])
    return filled


def _csv_ppg_columns(header: list[str]) -> list[int]:
    """Column indices of the PPG channels in channel order: ``ppg`` alone, or ``ppg_0 .. ppg_{c-1}``
    (``ppg`` may stand for ``ppg_0``); [] when the header names no PPG or skips a channel."""
    found: dict[int, int] = {}
    for i, name in enumerate(header):
        if name == "ppg":
            k = 0
        elif name.startswith("ppg_") and name[4:].isdigit():
            k = int(name[4:])
        else:
            continue
        if k in found:
            return []
        found[k] = i
    if sorted(found) != list(range(len(found))) or len(found) > MAX_PPG_CHANNELS:
        return []
    return [found[k] for k in range(len(found))]


def _csv_rows(path: Path, header: list[str], complete_last: bool) -> tuple[np.ndarray, int]:
    """Parse the data rows (streamed from the file); the last row is torn (left out, with a warning)
    when it does not parse, or when it has no line end and its ``t`` does not advance."""
    ncol = len(header)

    def load(max_rows: int | None, **options: Any) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data" on a header-only file
            return np.loadtxt(
                path,
                delimiter=",",
                skiprows=1,
                max_rows=max_rows,
                ndmin=2,
                dtype=np.float64,
                encoding="utf-8",
                **options,
            )

    def parse(max_rows: int | None = None) -> np.ndarray:
        try:
            data = load(max_rows)
        except ValueError as exc:  # empty cells (a value missing from a row) are read as NaN
            if "string ''" not in str(exc):
                raise
            data = load(max_rows, converters=_cell)
        if data.size and data.shape[1] != ncol:
            raise ValueError(f"rows have {data.shape[1]} columns; the header has {ncol}")
        return data

    try:
        data = parse()
        if data.shape[0] < 2:
            raise DataFormatError(
                str(path),
                f"CSV has {data.shape[0]} data rows; expected at least 2 rows of {','.join(header)}",
            )
        if complete_last or data[-1, 0] > data[-2, 0]:
            return data, 0
        first_error: Exception = ValueError("the last row's t does not advance")
        rows = data.shape[0]
    except ValueError as exc:  # UnicodeDecodeError too
        first_error = exc
        rows = _count_rows(path)
    try:
        data = parse(rows - 1) if rows > 1 else None
    except ValueError:
        data = None
    if data is None or data.shape[0] != rows - 1:
        raise DataFormatError(str(path), f"CSV rows must be {ncol} numbers each: {_one_line(first_error)}")
    log.warning(
        "%s: the last row (line %d) is incomplete (a recording cut mid-write?); kept the %d complete rows",
        path,
        rows + 1,
        rows - 1,
    )
    return data, 1


def _cell(text: str) -> float:
    """One CSV cell: a number, or NaN where the cell is empty."""
    return float(text) if text.strip() else math.nan


def _count_rows(path: Path) -> int:
    """Non-blank lines after the header (what ``np.loadtxt`` reads as rows)."""
    with path.open("rb") as f:
        next(f, None)
        return sum(1 for line in f if line.strip())


def _load_journal(path: Path) -> ReplayData:
    raw = np.fromfile(path, dtype=np.uint8)
    channels, start, acc_raw = _journal_header(path, raw)
    columns = len(JOURNAL_COLUMNS) - 1 + channels
    width = 8 * columns
    body = raw[start:]
    whole = body.size - body.size % width  # a crash may cut the last row
    rows = body[:whole].view("<f8").reshape(-1, columns)
    torn = int(whole != body.size)
    if torn:
        log.warning(
            "%s: the last row is incomplete (%d of %d bytes); left out", path, body.size - whole, width
        )
    ppg = rows[:, 1].copy() if channels == 1 else np.column_stack([rows[:, 1], rows[:, 5:]])
    return _finish(
        path, rows[:, 0], ppg, None, rows[:, 2:5], channels=channels, torn_rows=torn, acc_in_g=not acc_raw
    )


def _journal_header(path: Path, raw: np.ndarray) -> tuple[int, int, bool]:
    """PPG channels of a journal, the byte offset of its first sample row and whether its
    accelerometer is raw (see :func:`journal_header`)."""
    if raw.size < 24:
        return 1, 0, False
    t0, channels, acc_raw = raw[:24].view("<f8")
    if np.isfinite(t0):
        return 1, 0, False
    if not (np.isfinite(channels) and channels == int(channels) and 1 <= channels <= MAX_PPG_CHANNELS):
        raise DataFormatError(
            str(path), f"journal header names {channels!r} PPG channels; expected 1-{MAX_PPG_CHANNELS}"
        )
    c = int(channels)
    return c, 8 * (len(JOURNAL_COLUMNS) - 1 + c), bool(acc_raw == 1.0)


_WFDB_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OSError,
    EOFError,
    ZeroDivisionError,
    OverflowError,
)

#: a WFDB header may claim at most this many samples per byte of its signal files (FLAC-compressed
#: formats hold more than one): a corrupt length must not make wfdb allocate hundreds of GiB.
_WFDB_SAMPLES_PER_BYTE = 4


def _check_wfdb_size(header_path: Path, header: Any) -> None:
    """Refuse a header whose sample count its signal files cannot hold, before reading them."""
    names = sorted({str(f) for f in (header.file_name or [])})
    missing = [f for f in names if not (header_path.parent / f).is_file()]
    if missing:
        raise DataFormatError(str(header_path), f"WFDB signal file {missing[0]} is missing")
    size = sum((header_path.parent / f).stat().st_size for f in names)
    declared = int(header.sig_len or 0) * int(header.n_sig or 0)
    if declared > _WFDB_SAMPLES_PER_BYTE * max(size, 1):
        raise DataFormatError(
            str(header_path),
            f"header declares {declared:,} samples but its signal files ({', '.join(names) or 'none'}) "
            f"hold {size:,} bytes",
        )


def _acc_axes(
    where: Path, what: str, axes: list[Any], rates: list[float], unit: str, n_ppg: int, fs: float
) -> tuple[np.ndarray, float | None]:
    """A file's three accelerometer channels (samples and rates; they start with the PPG) as
    ``(n_ppg, 3)`` at the PPG's sample times in ``unit``'s g, and that unit's factor (None: raw)."""
    if len(set(rates)) > 1:
        raise DataFormatError(str(where), f"{what} must share one rate; they are at {sorted(set(rates))} Hz")
    acc = np.column_stack([np.asarray(a, dtype=np.float64) for a in axes])
    if rates[0] != fs:  # a slower (or faster) accelerometer: read at the PPG's sample times
        acc = acc_at(np.arange(n_ppg) / fs, np.arange(acc.shape[0]) / rates[0], acc)
    factor = _acc_factor(where, unit)
    return (acc if factor in (None, 1.0) else acc * factor), factor


def _load_edf(path: Path) -> ReplayData:
    try:
        import pyedflib
    except ImportError:
        raise RuntimeUnavailableError("pyedflib", 'pip install "anyppg[data]"') from None
    from anyppg.channels import PPG_NAMES, acc_axis_channel, match_channel

    try:
        reader = pyedflib.EdfReader(str(path))
    except OSError as exc:  # pyedflib's one error for a file it cannot open or parse
        raise DataFormatError(str(path), f"not a readable EDF file ({_one_line(exc)})") from None
    try:
        labels = [str(label).strip() for label in reader.getSignalLabels()]
        i_ppg = match_channel(labels, PPG_NAMES)
        if i_ppg is None:
            raise DataFormatError(
                str(path), f"EDF file needs a PPG channel (one of {', '.join(PPG_NAMES)}); it has {labels}"
            )
        fs = _check_rate(path, float(reader.getSampleFrequency(i_ppg)), f"channel {labels[i_ppg]!r}")
        ppg = np.asarray(reader.readSignal(i_ppg), dtype=np.float64)
        axes = [acc_axis_channel(labels, a) for a in "xyz"]
        acc, factor = None, 1.0
        if all(i is not None for i in axes):
            acc, factor = _acc_axes(
                path,
                "EDF accelerometer channels",
                [reader.readSignal(i) for i in axes],
                [float(reader.getSampleFrequency(i)) for i in axes],
                str(reader.getPhysicalDimension(axes[0])).strip() or "raw",
                len(ppg),
                fs,
            )
    finally:
        reader.close()
    return _finish(path, None, ppg, fs, acc, acc_in_g=factor is not None)


def _load_wfdb(path: Path) -> ReplayData:
    try:
        import wfdb
    except ImportError:
        raise RuntimeUnavailableError("wfdb", 'pip install "anyppg[data]"') from None
    headers = sorted(path.glob("*.hea"))
    if not headers:
        raise DataFormatError(str(path), "directory holds no WFDB record (*.hea)")
    stem = str(headers[0].with_suffix(""))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _check_wfdb_size(headers[0], wfdb.rdheader(stem))
            record = wfdb.rdrecord(stem, smooth_frames=False)  # every signal at its own rate
    except FileNotFoundError as exc:
        raise DataFormatError(
            str(headers[0]), f"WFDB signal file {Path(exc.filename or '?').name} is missing"
        ) from None
    except DataFormatError:
        raise
    except _WFDB_ERRORS as exc:  # what wfdb raises on corrupt headers and signal files (fuzzed)
        raise DataFormatError(
            str(headers[0]), f"not a readable WFDB record ({type(exc).__name__}: {_one_line(exc)})"
        ) from None
    names = [str(n).upper() for n in (record.sig_name or [])]
    if "PPG" not in names and "PPG_0" in names:
        names[names.index("PPG_0")] = "PPG"
    if "PPG" not in names:
        raise DataFormatError(str(path), f"WFDB record needs a 'PPG' signal; it has {record.sig_name}")
    extra = []
    while f"PPG_{len(extra) + 1}" in names and len(extra) + 1 < MAX_PPG_CHANNELS:
        extra.append(names.index(f"PPG_{len(extra) + 1}"))
    signals = record.e_p_signal
    if not signals or len(signals) != len(names):
        raise DataFormatError(str(headers[0]), "WFDB record has no physical signal")
    # A multi-frequency record holds each signal at frame rate x its samples per frame.
    per_frame = list(record.samps_per_frame or [1] * len(names))
    frame_fs = _check_rate(headers[0], float(record.fs or 0.0), "the header's fs")
    ppg_index = [names.index("PPG"), *extra]
    rates = {frame_fs * per_frame[i] for i in ppg_index}
    if len(rates) > 1:
        raise DataFormatError(
            str(headers[0]), f"WFDB PPG channels must share one rate; they are at {sorted(rates)} Hz"
        )
    fs = _check_rate(headers[0], rates.pop(), "the header's fs x samples per frame")
    acc = None
    factor: float | None = 1.0
    if {"ACC_X", "ACC_Y", "ACC_Z"} <= set(names):
        axes = [names.index(f"ACC_{a}") for a in "XYZ"]
        units = list(record.units or [])
        acc, factor = _acc_axes(
            headers[0],
            "WFDB ACC_X/Y/Z",
            [signals[i] for i in axes],
            [frame_fs * per_frame[i] for i in axes],
            str(units[axes[0]]) if len(units) == len(names) else "g",
            len(signals[ppg_index[0]]),
            fs,
        )
    # Missing samples (gaps in a recording) are stored as NaN, WFDB's "invalid sample" value.
    ppg = np.column_stack([np.asarray(signals[i], dtype=np.float64) for i in ppg_index])
    keep = np.isfinite(ppg).all(axis=1)
    t = np.arange(ppg.shape[0])[keep] / fs
    kept = ppg[keep, 0] if not extra else ppg[keep]
    return _finish(
        path,
        t,
        kept,
        fs,
        None if acc is None else acc[keep],
        channels=1 + len(extra),
        acc_in_g=factor is not None,
    )
