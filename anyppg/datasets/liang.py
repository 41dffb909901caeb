"""Multi-wavelength finger PPG with cuff blood pressure: Liang / CardioWorks (partial copy).

One minute of three-channel finger PPG at 200 Hz per subject, with systolic and diastolic pressure
from an OMRON HEM-7201 cuff taken before the recording, and age, height, weight and sex. The copy
holds 78 of the 180 subjects. The repository names the channels green, red and infrared while the
original README lists 660, 730 and 850 nm, so which wavelength each channel is stays uncertain; the
reader keeps the repository's names. Extra ``Anomaly`` columns (0/1 per sample) become
:attr:`BPRecording.anomaly`.

Licence not stated (the redistributing repository is GPL-3.0): research use until cleared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anyppg.datasets._npz import dataset_files, member, rate, real, text
from anyppg.errors import DataFormatError
from anyppg.npz import open_npz

__all__ = ["LIANG_PATTERN", "BPRecording", "read_liang", "read_liang_file"]

LIANG_PATTERN = r"subject_(\d+)\.npz"
PPG_CHANNELS = 3


@dataclass(frozen=True)
class BPRecording:
    """One subject's PPG and blood pressure.

    Attributes:
        dataset: ``"liang"``.
        subject: ``"liang:NNN"``.
        record: the file's stem.
        fs: sampling rate (Hz), 200.
        ppg: PPG, shape (3, n), float64 (raw ADC counts).
        channels: the stored channel names (``"green_channel"``, ``"red_channel"``, ``"ir_channel"``).
        anomaly: samples flagged as anomalous by the dataset, shape (n,), bool (all False if none).
        sbp_mmhg: systolic blood pressure (mmHg).
        dbp_mmhg: diastolic blood pressure (mmHg).
        age_years: age (years), NaN if absent.
        height_cm: height (cm), NaN if absent.
        weight_kg: weight (kg), NaN if absent.
        sex: ``"male"``, ``"female"`` or ``"unknown"``.
    """

    dataset: str
    subject: str
    record: str
    fs: float
    ppg: np.ndarray
    channels: tuple[str, ...]
    anomaly: np.ndarray
    sbp_mmhg: float
    dbp_mmhg: float
    age_years: float
    height_cm: float
    weight_kg: float
    sex: str


def _scalar(z: object, path: Path, key: str, required: bool) -> float:
    if not required and key not in z.files:  # type: ignore[attr-defined]
        return float("nan")
    value = real(z, path, key, allow_nan=not required)
    if value.size != 1:
        raise DataFormatError(str(path), f"{key!r} has shape {value.shape}; expected one number")
    return float(value.reshape(()))


def read_liang_file(path: str | Path) -> BPRecording:
    """Read one subject (``subject_NNN.npz``: ``ppg`` (channels, n) whose first 3 rows are PPG and any
    further rows are anomaly flags, ``channel_names``, ``fs_ppg``, ``sbp``, ``dbp``; optional ``age``,
    ``height_cm``, ``weight_kg``, ``gender``).

    Raises:
        DataFormatError: not a readable NPZ, a key missing, fewer than 3 PPG rows, channel names that
            do not match the rows, or blood pressures outside 40-300 mmHg; the message names the file
            and the key.
    """
    p = Path(path)
    with open_npz(p) as z:
        x = real(z, p, "ppg", ndim=2)
        names = tuple(str(n) for n in member(z, p, "channel_names").ravel())
        fs = rate(z, p, "fs_ppg")
        sbp, dbp = _scalar(z, p, "sbp", True), _scalar(z, p, "dbp", True)
        age, height, weight = (_scalar(z, p, k, False) for k in ("age", "height_cm", "weight_kg"))
        sex = text(z, p, "gender", default="unknown").strip().lower() or "unknown"
    if x.shape[0] < PPG_CHANNELS or len(names) != x.shape[0]:
        raise DataFormatError(
            str(p),
            f"'ppg' has shape {x.shape} and 'channel_names' {len(names)} names; expected "
            f">= {PPG_CHANNELS} rows, one name each",
        )
    for key, value in (("sbp", sbp), ("dbp", dbp)):
        if not 40.0 <= value <= 300.0:
            raise DataFormatError(str(p), f"{key!r} is {value:g}; expected 40-300 mmHg")
    return BPRecording(
        dataset="liang",
        subject=f"liang:{p.stem.rsplit('_', 1)[-1]}",
        record=p.stem,
        fs=fs,
        ppg=x[:PPG_CHANNELS],
        channels=names[:PPG_CHANNELS],
        anomaly=np.any(x[PPG_CHANNELS:] > 0, axis=0)
        if x.shape[0] > PPG_CHANNELS
        else np.zeros(x.shape[1], bool),
        sbp_mmhg=sbp,
        dbp_mmhg=dbp,
        age_years=age,
        height_cm=height,
        weight_kg=weight,
        sex=sex if sex in ("male", "female") else "unknown",
    )


def read_liang(root: str | Path) -> list[BPRecording]:
    """Read every subject of a Liang folder (78 subjects, 1 min each).

    Raises:
        DataFormatError: ``root`` is not a folder, holds no ``subject_NNN.npz``, or a file is broken.
    """
    return [read_liang_file(p) for p, _ in dataset_files(root, LIANG_PATTERN, "Liang multi-wavelength PPG")]
