"""Readers for the real recordings the models are trained and measured on.

Each reader takes the folder a user points it at (the converted NPZ files of one published dataset)
and returns typed records with their labels in physical units: PPG at its native rate, the
accelerometer in g, heart rate in bpm from the ECG (R-peaks), rhythm labels. Nothing is downloaded
and no data ships with the project; research-only sets say so in :data:`LICENCES`.

=============  =======================================  ===========================================
name           module / reader                          returns
=============  =======================================  ===========================================
``bidmc``      :func:`.clinical.read_bidmc`             :class:`.clinical.PairedRecording`
``mimicdb``    :func:`.clinical.read_mimicdb`           :class:`.clinical.PairedRecording`
``liu``        :func:`.rhythm.read_liu`                 :class:`.rhythm.RhythmRecording`
``troika``     :func:`.wrist.read_troika`               :class:`.wrist.WristRecording`
``bami``       :func:`.wrist.read_bami`                 :class:`.wrist.WristRecording`
``welltory``   :func:`.welltory.read_welltory`          :class:`.welltory.CameraRecording`
``husm``       :func:`.husm.read_husm`                  :class:`.husm.BeatRecording`
``liang``      :func:`.liang.read_liang`                :class:`.liang.BPRecording`
=============  =======================================  ===========================================

Example:
    >>> from anyppg import datasets
    >>> datasets.LICENCES["liu"].research_only
    True
    >>> sorted(datasets.available("../shared/data"))  # doctest: +SKIP
    ['bami', 'bidmc', 'husm', 'liang', 'liu', 'mimicdb', 'troika', 'welltory']
    >>> recs = datasets.read("bidmc", "../shared/data")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anyppg.datasets.splits import split_subjects
from anyppg.errors import AnyPPGError, DataFormatError

__all__ = [
    "DATA_ENV",
    "LICENCES",
    "DatasetInfo",
    "UnknownDatasetError",
    "available",
    "data_root",
    "dataset_folder",
    "read",
    "split_subjects",
]

DATA_ENV = "ANYPPG_DATA"
"""Environment variable naming the data folder (the parent of the dataset folders)."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, where its files are expected, and on what terms it may be used.

    Attributes:
        name: registry key (``"bidmc"``).
        title: the dataset's published name.
        folder: the dataset's folder name inside the data folder (``"liu_arrhythmia"``).
        pattern: regular expression the dataset's file names match.
        reader: ``"module:function"`` inside :mod:`anyppg.datasets` reading the folder.
        licence: the licence, as the source states it.
        research_only: True when the terms allow research / academic use only (a model trained on it
            must say "research use" in its model card).
        citation: what to cite.
        subjects: subjects in the copy this project was built with (MIMIC-DB: 50 records grouped
            into 17 subjects, see :func:`anyppg.datasets.clinical.mimicdb_subjects`).
        hours: hours of recording in that copy.
        labels: the labels the reader returns, in words.
    """

    name: str
    title: str
    folder: str
    pattern: str
    reader: str
    licence: str
    research_only: bool
    citation: str
    subjects: int
    hours: float
    labels: str


LICENCES: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "bidmc",
            "BIDMC PPG and Respiration Dataset v1.0.0 (PhysioNet)",
            "bidmc",
            r"bidmc_\d+\.npz",
            "clinical:read_bidmc",
            "ODC-BY 1.0 (PhysioNet open access)",
            False,
            "Pimentel M.A.F. et al., Toward a robust estimation of respiratory rate from pulse oximeters, "
            "IEEE TBME 64(8):1914-1923, 2017; doi:10.13026/C2208R; Goldberger A. et al., PhysioNet, "
            "Circulation 101(23):e215-e220, 2000",
            53,
            7.1,
            "finger PPG + ECG lead II at 125 Hz; R-peaks detected from the ECG",
        ),
        DatasetInfo(
            "mimicdb",
            "MIMIC Database v1.0.0 (PhysioNet), 15-min excerpts",
            "mimicdb",
            r"mimicdb_\d+\.npz",
            "clinical:read_mimicdb",
            "ODC-BY 1.0 (PhysioNet open access; excerpts via an MIT-licensed repository)",
            False,
            "Moody G.B., Mark R.G., A database to support development and evaluation of intelligent "
            "intensive care monitoring, Computers in Cardiology 23:657-660, 1996; Goldberger A. et al., "
            "PhysioNet, Circulation 101(23):e215-e220, 2000",
            17,
            12.5,
            "finger PPG + one ECG lead at 125 Hz; R-peaks detected from the ECG; shipped beat positions",
        ),
        DatasetInfo(
            "liu",
            "Liu et al. 2022 multiclass PPG arrhythmia dataset ('validation' patients)",
            "liu_arrhythmia",
            r"MPA_\d+\.npz",
            "rhythm:read_liu",
            "none stated; research use with citation",
            True,
            "Liu Z. et al., Multiclass Arrhythmia Detection and Classification From Photoplethysmography "
            "Signals Using a Deep Convolutional Neural Network, J Am Heart Assoc 11(7):e023555, 2022",
            28,
            29.5,
            "10-s finger PPG segments at 100 Hz; sinus, PVC, PAC, VT, SVT, AF per segment",
        ),
        DatasetInfo(
            "troika",
            "TROIKA / IEEE Signal Processing Cup 2015 training set",
            "troika",
            r"DATA_\d+_TYPE\d+\.npz",
            "wrist:read_troika",
            "free for research with citation (no open licence)",
            True,
            "Zhang Z., Pi Z., Liu B., TROIKA: a general framework for heart rate monitoring using "
            "wrist-type photoplethysmographic signals during intensive physical exercise, IEEE TBME "
            "62(2):522-531, 2015",
            12,
            1.1,
            "2 wrist PPG, 3-axis ACC (g), chest ECG at 125 Hz; ECG heart rate per 8-s window, 2-s step",
        ),
        DatasetInfo(
            "bami",
            "BAMI-I treadmill wrist PPG",
            "bami1",
            r"BAMI1_S\d+\.npz",
            "wrist:read_bami",
            "academic research use with citation (copyrighted)",
            True,
            "Lee H., Chung H., Lee J., Motion artifact cancellation in wearable photoplethysmography using "
            "gyroscope, IEEE Sensors J 19(3):1166-1175, 2018",
            24,
            5.6,
            "3 wrist PPG, 3-axis ACC (g) at 50 Hz; Holter-ECG heart rate per 8-s window, 2-s step",
        ),
        DatasetInfo(
            "welltory",
            "Welltory PPG dataset (smartphone camera)",
            "welltory",
            r"subject_\d+\.npz",
            "welltory:read_welltory",
            "CC0 1.0",
            False,
            "Neshitov A. et al., Estimation of Heart Rate from Smartphone Camera Photoplethysmography, "
            "Sensors 21:6798, 2021",
            13,
            0.5,
            "camera RGB PPG resampled to a uniform rate; Polar H10 RR intervals",
        ),
        DatasetInfo(
            "husm",
            "HUSM PPG dataset (UFSM): rest, treadmill, recovery",
            "husm_ppg",
            r"(?:health|dpoc)_\d+_(?:rest|balke|recovery)\.npz",
            "husm:read_husm",
            "MIT (repository; no separate data licence)",
            False,
            "GMicro-uPPG, SRMAC_peak_detector, Universidade Federal de Santa Maria (HUSM PPG dataset)",
            22,
            1.1,
            "finger red + IR PPG at 200 Hz; annotated systolic peaks; healthy vs COPD",
        ),
        DatasetInfo(
            "liang",
            "Liang / CardioWorks multi-wavelength finger PPG with cuff BP (partial)",
            "liang_mwppg_bp",
            r"subject_\d+\.npz",
            "liang:read_liang",
            "not stated (GPL-3.0 repository); research use until cleared",
            True,
            "Liang Y. et al. (CardioWorks, GUET), Blood Pressure Measurement based on Four-wavelength PPG "
            "Signals, as redistributed in vladBaciu/TSL-MW-PPG",
            78,
            1.3,
            "3-channel finger PPG at 200 Hz; systolic / diastolic BP (mmHg), age, sex",
        ),
    )
}


class UnknownDatasetError(AnyPPGError, ValueError):
    """A dataset name is not in :data:`LICENCES`.

    Attributes:
        name: the name that was given.
        known: the registered names.
    """

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown dataset {name!r}; expected one of {', '.join(known)}")
        self.name = name
        self.known = known


def _info(name: str) -> DatasetInfo:
    if name not in LICENCES:
        raise UnknownDatasetError(name, sorted(LICENCES))
    return LICENCES[name]


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``root`` if given, else the ``ANYPPG_DATA`` environment variable.

    Raises:
        DataFormatError: neither is set, or the folder does not exist.
    """
    value = root if root is not None else os.environ.get(DATA_ENV)
    if not value:
        raise DataFormatError(f"${DATA_ENV}", "not set; pass the data folder or set ANYPPG_DATA to it")
    path = Path(value).expanduser()
    if not path.is_dir():
        raise DataFormatError(str(path), "no such folder; expected the data folder")
    return path


def _has_files(folder: Path, pattern: str) -> bool:
    regex = re.compile(pattern)
    return folder.is_dir() and any(regex.fullmatch(p.name) for p in folder.iterdir())


def dataset_folder(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of dataset ``name``: ``root`` itself when it holds the dataset's files, else
    ``root/<folder>`` (``root`` defaults to ``ANYPPG_DATA``).

    Raises:
        UnknownDatasetError: ``name`` is not registered.
        DataFormatError: neither place holds the dataset's files.
    """
    info = _info(name)
    base = data_root(root)
    for candidate in (base, base / info.folder):
        if _has_files(candidate, info.pattern):
            return candidate
    raise DataFormatError(
        str(base / info.folder), f"no {info.title} files (names matching {info.pattern}) here or in {base}"
    )


def available(root: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """The registered datasets present under a data folder.

    Args:
        root: the data folder (parent of ``bidmc/``, ``liu_arrhythmia/``, ...); default ``ANYPPG_DATA``.

    Returns:
        name -> the dataset's folder, for each dataset whose folder holds at least one of its files.

    Raises:
        DataFormatError: the data folder is not given or does not exist.
    """
    base = data_root(root)
    return {
        name: base / info.folder
        for name, info in LICENCES.items()
        if _has_files(base / info.folder, info.pattern)
    }


def read(name: str, root: str | os.PathLike[str] | None = None) -> list[Any]:
    """Read every recording of one dataset.

    Args:
        name: a key of :data:`LICENCES` (``"bidmc"``, ``"liu"``, ...).
        root: the dataset's folder, or the data folder holding it; default ``ANYPPG_DATA``.

    Returns:
        The reader's records (see the table in the module docstring).

    Raises:
        UnknownDatasetError: ``name`` is not registered.
        DataFormatError: the files are not there or one is broken (the message names the file).
    """
    info = _info(name)
    module_name, function = info.reader.split(":")
    folder = dataset_folder(name, root)
    module = importlib.import_module(f"anyppg.datasets.{module_name}")
    return getattr(module, function)(folder)
