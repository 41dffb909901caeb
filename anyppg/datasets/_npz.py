"""Checked access to the members of one dataset NPZ: every problem is a one-line DataFormatError."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from anyppg.errors import DataFormatError

__all__ = ["dataset_files", "member", "rate", "real", "text"]


def dataset_files(root: str | Path, pattern: str, what: str) -> list[tuple[Path, re.Match[str]]]:
    """The files of one dataset folder whose names match ``pattern`` (a regex), sorted by name.

    Raises:
        DataFormatError: ``root`` is not a folder, or no file in it matches.
    """
    folder = Path(root)
    if not folder.is_dir():
        raise DataFormatError(
            str(folder), f"no such folder; expected the {what} folder of the data directory"
        )
    regex = re.compile(pattern)
    found = [(p, m) for p in sorted(folder.iterdir()) if p.is_file() and (m := regex.fullmatch(p.name))]
    if not found:
        raise DataFormatError(str(folder), f"no {what} files (names matching {pattern}) in this folder")
    return found


def member(z: Any, path: Path, key: str) -> np.ndarray:
    """The array ``key`` of an open NPZ.

    Raises:
        DataFormatError: the archive has no such member (the message lists the ones it has).
    """
    if key not in z.files:
        raise DataFormatError(str(path), f"missing array {key!r}; the file has {sorted(z.files)}")
    return np.asarray(z[key])


def real(z: Any, path: Path, key: str, *, ndim: int | None = None, allow_nan: bool = False) -> np.ndarray:
    """The numeric array ``key`` as float64, with its dimensionality and finiteness checked.

    Raises:
        DataFormatError: missing, not numeric, the wrong number of dimensions, or NaN/inf where not allowed.
    """
    value = member(z, path, key)
    if value.dtype.kind not in "iuf":
        raise DataFormatError(str(path), f"{key!r} has dtype {value.dtype}; expected numbers")
    if ndim is not None and value.ndim != ndim:
        raise DataFormatError(str(path), f"{key!r} has shape {value.shape}; expected {ndim} dimension(s)")
    out = value.astype(np.float64)
    bad = np.isinf(out) if allow_nan else ~np.isfinite(out)
    if bad.any():
        what = "inf" if allow_nan else "NaN or inf"
        raise DataFormatError(str(path), f"{key!r} holds {what} at index {int(np.argmax(bad.ravel()))}")
    return out


def rate(z: Any, path: Path, key: str) -> float:
    """A sampling rate stored as a scalar (Hz).

    Raises:
        DataFormatError: missing, not a scalar number, or not positive and finite.
    """
    value = member(z, path, key)
    if value.shape != () or value.dtype.kind not in "iuf" or not np.isfinite(value) or float(value) <= 0:
        raise DataFormatError(str(path), f"{key!r} is {value!r}; expected a positive scalar rate in Hz")
    return float(value)


def text(z: Any, path: Path, key: str, default: str | None = None) -> str:
    """A scalar string member (``ecg_lead``, ``group``), or ``default`` when absent.

    Raises:
        DataFormatError: missing without a default, or not a scalar.
    """
    if key not in z.files and default is not None:
        return default
    value = member(z, path, key)
    if value.shape != ():
        raise DataFormatError(str(path), f"{key!r} has shape {value.shape}; expected a scalar string")
    return str(value)
