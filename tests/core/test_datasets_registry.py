"""The dataset registry: licences, discovery under a data folder, dispatch by name."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from anyppg import datasets
from anyppg.datasets import LICENCES, UnknownDatasetError, available, dataset_folder, read
from anyppg.errors import DataFormatError


def test_every_dataset_has_terms_citation_and_a_reader():
    import importlib

    assert set(LICENCES) == {"bidmc", "mimicdb", "liu", "troika", "bami", "welltory", "husm", "liang"}
    for name, info in LICENCES.items():
        assert info.name == name and info.licence and info.citation and info.subjects > 0
        module, function = info.reader.split(":")
        if module != "wrist":  # another engineer's module; present once it lands
            assert callable(getattr(importlib.import_module(f"anyppg.datasets.{module}"), function))
    research_only = {n for n, i in LICENCES.items() if i.research_only}
    assert research_only == {"liu", "troika", "bami", "liang"}


def write_liu(folder: Path) -> None:
    folder.mkdir(parents=True)
    np.savez(
        folder / "MPA_1.npz",
        ppg_segments=np.random.default_rng(0).random((2, 1000)),
        labels=np.array([0, 5], np.uint8),
        fs_ppg=np.int32(100),
    )


def test_available_and_read_by_name(tmp_path):
    write_liu(tmp_path / "liu_arrhythmia")
    (tmp_path / "bidmc").mkdir()  # an empty folder is not a dataset
    assert available(tmp_path) == {"liu": tmp_path / "liu_arrhythmia"}
    by_parent = read("liu", tmp_path)
    by_folder = read("liu", tmp_path / "liu_arrhythmia")
    assert [r.labels.tolist() for r in by_parent] == [r.labels.tolist() for r in by_folder] == [[0, 5]]


def test_data_folder_from_the_environment(tmp_path, monkeypatch):
    write_liu(tmp_path / "liu_arrhythmia")
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path))
    assert dataset_folder("liu") == tmp_path / "liu_arrhythmia"
    monkeypatch.delenv(datasets.DATA_ENV)
    with pytest.raises(DataFormatError, match="ANYPPG_DATA"):
        available()


def test_unknown_name_and_missing_dataset(tmp_path):
    with pytest.raises(UnknownDatasetError, match="unknown dataset 'mitbih'; expected one of bami, bidmc"):
        read("mitbih", tmp_path)
    with pytest.raises(DataFormatError, match="no BIDMC PPG and Respiration"):
        read("bidmc", tmp_path)


@pytest.mark.skipif(
    not os.environ.get(datasets.DATA_ENV), reason="set ANYPPG_DATA to the data folder to check it"
)
def test_real_data_folder_reads():
    found = available()
    assert found, "ANYPPG_DATA holds none of the registered datasets"
    if "liu" in found:
        patients = read("liu")
        assert all(p.segments.shape[1] == 1000 for p in patients)
