"""Wrist PPG + accelerometer recordings during running, with ECG heart rate: TROIKA and BAMI-I.

Both datasets come as converted NPZ files (one per recording, see the data folder's PROVENANCE.md);
the readers return :class:`WristRecording` objects with the same conventions:

- ``ppg``: ``(channels, n)`` float64, the raw sensor values as the dataset stores them, polarity
  kept; :attr:`WristRecording.polarity` says which way up that is. TROIKA's PPG rises with blood
  volume (the systolic upstroke is positive, as a finger pulse-oximeter curve): ``"normal"``.
  BAMI-I's is the photodiode counts minus the offset 32768, which fall as blood volume rises:
  ``"inverted"``. Measured on the held-out subjects (``benchmarks/bench_real.py``): turned over,
  BAMI-I's signal quality index separates the windows whose beats agree with the ECG at AUROC 0.91
  instead of 0.62, and the SDK's peaks agree with the ECG in 990 windows instead of 724; turned
  over, TROIKA's falls from 0.68 to 0.60. Its calm stretches rise slowly and fall fast, an upright
  pulse's shape upside down. Heart rate from a spectrum does not depend on polarity; a beat
  detector or a model does: analyse with ``polarity=rec.polarity``.
- ``acc``: ``(3, n)`` float64 in g. TROIKA stores g already (about 0.9-1.0 at rest, left unscaled);
  BAMI-I stores raw counts with the offset 32768 and no documented scale, so the counts are
  calibrated on gravity (:func:`acc_to_g`: median magnitude over the calmest seconds = 1 g).
- the reference heart rate is one value per 8-s window with a 2-s step: window ``i`` covers
  ``[ref_start_s[i], ref_start_s[i] + ref_window_s)``. TROIKA gives it directly (from the chest ECG);
  BAMI-I gives beat-by-beat ECG heart rate, averaged here over the beats whose times fall in each
  window (windows with fewer than :data:`MIN_BEATS_PER_WINDOW` beats are dropped).

Subjects: TROIKA's ``DATA_04_TYPE01`` and ``DATA_04_TYPE02`` are one person (subject ``"04"``), so
the 13 TROIKA recordings belong to 12 subjects; split by :attr:`WristRecording.subject`.

Both datasets are for research use with citation (TROIKA: Zhang et al., IEEE TBME 2015; BAMI-I:
Lee et al., IEEE Sensors J 2018); a model trained on them must say so.

Example:
    >>> recs = read_troika("../shared/data/troika")  # doctest: +SKIP
    >>> r = recs[0]; r.ppg.shape[0], r.acc.shape[0], r.ref_bpm.shape == r.ref_start_s.shape  # doctest: +SKIP
    (2, 3, True)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anyppg.errors import DataFormatError, InvalidSignalError
from anyppg.npz import open_npz

__all__ = [
    "BAMI_OFFSET",
    "MIN_BEATS_PER_WINDOW",
    "REF_STEP_S",
    "REF_WINDOW_S",
    "WristRecording",
    "acc_to_g",
    "read_bami",
    "read_troika",
    "reference_windows",
]

REF_WINDOW_S: float = 8.0
"""Length of one reference heart-rate window (s)."""

REF_STEP_S: float = 2.0
"""Step between the starts of consecutive reference windows (s)."""

BAMI_OFFSET: int = 32768
"""Offset of BAMI-I's unsigned 16-bit PPG and accelerometer samples."""

MIN_BEATS_PER_WINDOW: int = 3
"""Fewest ECG beats an 8-s BAMI-I window needs for its reference heart rate to be kept."""

_TROIKA_NAME = re.compile(r"^DATA_(\d+)_TYPE(\d+)\.npz$")
_BAMI_NAME = re.compile(r"^BAMI1_S(\d+)\.npz$")


@dataclass(frozen=True)
class WristRecording:
    """One wrist recording with its ECG reference heart rate.

    Attributes:
        dataset: ``"troika"`` or ``"bami1"``.
        subject: the person (``"04"``); two recordings may share one (TROIKA subject 04).
        record: the recording's name (``"DATA_04_TYPE01"``, ``"S07"``).
        fs: sampling rate of ``ppg``, ``acc`` and ``ecg`` (Hz).
        ppg: raw PPG, shape (channels, n), float64, polarity as stored (see the module docstring).
        acc: acceleration, shape (3, n), float64, in g.
        ecg: chest ECG, shape (n,), float64 in the dataset's units, or None (BAMI-I has none).
        ref_start_s: start of each reference window (s from the first sample), shape (k,).
        ref_window_s: length of each reference window (s), 8.0.
        ref_bpm: ECG heart rate of each window (bpm), shape (k,).
        polarity: which way up ``ppg`` is stored: ``"normal"`` (TROIKA) or ``"inverted"`` (BAMI-I).
    """

    dataset: str
    subject: str
    record: str
    fs: float
    ppg: np.ndarray
    acc: np.ndarray
    ecg: np.ndarray | None
    ref_start_s: np.ndarray
    ref_window_s: float
    ref_bpm: np.ndarray
    polarity: str = "normal"

    @property
    def duration_s(self) -> float:
        """Length of the recording (s)."""
        return self.ppg.shape[1] / self.fs


def acc_to_g(acc: np.ndarray, fs: float, *, block_s: float = 1.0, calm_fraction: float = 0.2) -> np.ndarray:
    """Scale an accelerometer of unknown unit to g by gravity: the median magnitude at rest becomes 1.

    The recording is cut into ``block_s`` blocks; the ``calm_fraction`` of blocks whose magnitude
    varies least are taken as rest, and the median magnitude over them is the count of one g.

    Args:
        acc: acceleration, shape (3, n), in any linear unit with zero at zero acceleration.
        fs: its rate (Hz).
        block_s: block length (s).
        calm_fraction: share of the blocks taken as rest (0-1].

    Returns:
        ``acc`` divided by the estimated count of one g, float64.

    Raises:
        InvalidSignalError: ``acc`` is not (3, n) with at least one block, or it reads zero at rest.
    """
    a = np.asarray(acc, dtype=np.float64)
    block = max(1, round(block_s * fs))
    if a.ndim != 2 or a.shape[0] != 3 or a.shape[1] < block:
        raise InvalidSignalError(f"acc must have shape (3, n) with n >= {block}; got shape {a.shape}")
    nb = a.shape[1] // block
    mag = np.linalg.norm(a[:, : nb * block], axis=0).reshape(nb, block)
    calm = np.argsort(mag.std(axis=1))[: max(1, math.ceil(calm_fraction * nb))]
    one_g = float(np.median(mag[calm]))
    if not math.isfinite(one_g) or one_g <= 0:
        raise InvalidSignalError("acc reads zero at rest; cannot calibrate it on gravity")
    return a / one_g


def reference_windows(
    beat_t: np.ndarray, beat_bpm: np.ndarray, duration_s: float, *, min_beats: int = MIN_BEATS_PER_WINDOW
) -> tuple[np.ndarray, np.ndarray]:
    """Average beat-by-beat heart rate over 8-s windows with a 2-s step.

    Args:
        beat_t: time of each beat (s from the first sample), increasing.
        beat_bpm: heart rate at each beat (bpm).
        duration_s: length of the recording (s); only whole windows are made.
        min_beats: windows holding fewer beats are dropped.

    Returns:
        ``(start_s, bpm)``: the kept windows' starts (s) and mean heart rates (bpm).
    """
    t = np.asarray(beat_t, dtype=np.float64)
    bpm = np.asarray(beat_bpm, dtype=np.float64)
    ok = np.isfinite(t) & np.isfinite(bpm) & (bpm > 0)
    t, bpm = t[ok], bpm[ok]
    n_win = math.floor((duration_s - REF_WINDOW_S) / REF_STEP_S) + 1
    starts = REF_STEP_S * np.arange(max(n_win, 0), dtype=np.float64)
    lo = np.searchsorted(t, starts, side="left")
    hi = np.searchsorted(t, starts + REF_WINDOW_S, side="left")
    csum = np.concatenate([[0.0], np.cumsum(bpm)])
    count = hi - lo
    keep = count >= min_beats
    mean = (csum[hi] - csum[lo])[keep] / count[keep]
    return starts[keep], mean


def _member(z: Any, path: Path, key: str) -> np.ndarray:
    if key not in z.files:
        raise DataFormatError(
            str(path), f"missing array {key!r}; expected keys {sorted(z.files)} to include it"
        )
    return np.asarray(z[key])


def _rate(z: Any, path: Path, key: str) -> float:
    value = _member(z, path, key)
    if value.shape != () or not np.isfinite(value) or float(value) <= 0:
        raise DataFormatError(str(path), f"{key} is {value!r}; expected a positive scalar rate in Hz")
    return float(value)


def _channels(x: np.ndarray, path: Path, key: str, rows: int | None, n: int | None = None) -> np.ndarray:
    if x.ndim == 1 and rows in (None, 1):
        x = x[None, :]
    if x.ndim != 2 or (rows is not None and x.shape[0] != rows) or (n is not None and x.shape[1] != n):
        want = f"({rows if rows is not None else 'channels'}, {n if n is not None else 'n'})"
        raise DataFormatError(str(path), f"{key} has shape {x.shape}; expected {want}")
    if x.dtype.kind not in "iuf":
        raise DataFormatError(str(path), f"{key} has dtype {x.dtype}; expected numbers")
    out = x.astype(np.float64)
    if not np.isfinite(out).all():
        raise DataFormatError(str(path), f"{key} holds NaN or inf; expected finite samples")
    return out


def _files(root: str | Path, pattern: re.Pattern[str], what: str) -> list[tuple[Path, re.Match[str]]]:
    folder = Path(root)
    if not folder.is_dir():
        raise DataFormatError(
            str(folder), f"no such folder; expected the {what} folder of the data directory"
        )
    found = [(p, m) for p in sorted(folder.iterdir()) if (m := pattern.match(p.name))]
    if not found:
        raise DataFormatError(str(folder), f"no {what} files ({pattern.pattern}) in this folder")
    return found


def read_troika(root: str | Path) -> list[WristRecording]:
    """Read the TROIKA (IEEE SPC 2015 training set) recordings of a folder.

    Args:
        root: the folder holding ``DATA_XX_TYPEYY.npz`` (keys ``ppg`` (2, n), ``acc`` (3, n),
            ``ecg`` (n,), ``hr_ref`` (k,), ``fs_ppg``).

    Returns:
        The recordings sorted by name; ``subject`` is the two-digit number (``DATA_04_TYPE01`` and
        ``DATA_04_TYPE02`` are both subject ``"04"``).

    Raises:
        DataFormatError: ``root`` is not a folder, holds no TROIKA files, or one lacks a key or has a wrong shape (the
            message names the file and what was expected).
    """
    out = []
    for path, m in _files(root, _TROIKA_NAME, "TROIKA"):
        with open_npz(path) as z:
            fs = _rate(z, path, "fs_ppg")
            ppg = _channels(_member(z, path, "ppg"), path, "ppg", None)
            n = ppg.shape[1]
            acc = _channels(_member(z, path, "acc"), path, "acc", 3, n)
            ecg = _channels(_member(z, path, "ecg"), path, "ecg", 1, n)[0] if "ecg" in z.files else None
            ref = _member(z, path, "hr_ref").astype(np.float64).ravel()
        starts = REF_STEP_S * np.arange(len(ref), dtype=np.float64)
        inside = starts + REF_WINDOW_S <= n / fs + 1e-9
        out.append(
            WristRecording(
                dataset="troika",
                subject=m.group(1),
                record=path.stem,
                fs=fs,
                ppg=ppg,
                acc=acc,
                ecg=ecg,
                ref_start_s=starts[inside],
                ref_window_s=REF_WINDOW_S,
                ref_bpm=ref[inside],
            )
        )
    return out


def read_bami(root: str | Path) -> list[WristRecording]:
    """Read the BAMI-I treadmill recordings of a folder.

    Args:
        root: the folder holding ``BAMI1_SXX.npz`` (keys ``ppg`` (3, n) and ``acc_raw`` (3, n)
            uint16 with the offset 32768, ``hr_ref`` beat-by-beat ECG heart rate (bpm) at
            ``hr_ref_t`` (s), ``fs_ppg``).

    Returns:
        The recordings sorted by subject; ``subject`` and ``record`` are ``"S01"`` ...; ``ppg`` and
        ``acc`` have the offset removed, ``acc`` is calibrated to g on gravity (:func:`acc_to_g`),
        and the reference is the beat-by-beat rate averaged per 8-s window (2-s step).

    Raises:
        DataFormatError: ``root`` is not a folder, holds no BAMI-I files, or one lacks a key or has a wrong shape.
    """
    out = []
    for path, m in _files(root, _BAMI_NAME, "BAMI-I"):
        with open_npz(path) as z:
            fs = _rate(z, path, "fs_ppg")
            offset = float(_member(z, path, "acc_offset")) if "acc_offset" in z.files else float(BAMI_OFFSET)
            ppg = _channels(_member(z, path, "ppg"), path, "ppg", None) - offset
            n = ppg.shape[1]
            acc_raw = _channels(_member(z, path, "acc_raw"), path, "acc_raw", 3, n) - offset
            beat_bpm = _member(z, path, "hr_ref").astype(np.float64).ravel()
            beat_t = _member(z, path, "hr_ref_t").astype(np.float64).ravel()
        if beat_t.shape != beat_bpm.shape:
            raise DataFormatError(
                str(path),
                f"hr_ref_t has {beat_t.size} times for {beat_bpm.size} hr_ref values; expected one each",
            )
        try:
            acc = acc_to_g(acc_raw, fs)
        except InvalidSignalError as exc:
            raise DataFormatError(str(path), f"acc_raw: {exc}") from None
        starts, bpm = reference_windows(beat_t, beat_bpm, n / fs)
        subject = f"S{int(m.group(1)):02d}"
        out.append(
            WristRecording(
                dataset="bami1",
                subject=subject,
                record=subject,
                fs=fs,
                ppg=ppg,
                acc=acc,
                ecg=None,
                ref_start_s=starts,
                ref_window_s=REF_WINDOW_S,
                ref_bpm=bpm,
                polarity="inverted",
            )
        )
    return out
