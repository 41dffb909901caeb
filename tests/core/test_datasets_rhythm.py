"""Liu 2022 rhythm reader on files the tests write in the dataset's NPZ layout."""

from __future__ import annotations

import numpy as np
import pytest

import anyppg
from anyppg.datasets.rhythm import AF_CLASS, RHYTHM_CLASSES, read_liu, read_liu_file
from anyppg.errors import DataFormatError

NAMES = np.array(["sinus_rhythm", "PVC", "PAC", "ventricular_tachycardia", "SVT", "atrial_fibrillation"])


def segments(k: int) -> np.ndarray:
    """``k`` 10-s segments at 100 Hz, min-max scaled as the dataset stores them."""
    out = []
    for i in range(k):
        x = anyppg.simulate(10, heart_rate=70 + 5 * i, ppg_rate=100.0, seed=i).ppg[:1000]
        out.append((x - x.min()) / np.ptp(x))
    return np.stack(out).astype(np.float32)


def write_liu(path, k=4, **override):
    arrays = {
        "ppg_segments": segments(k),
        "labels": np.array([5, 0, 1, 5][:k], np.uint8).reshape(-1, 1),
        "fs_ppg": np.int32(100),
        "segment_s": np.int32(10),
        "label_names": NAMES,
    }
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


def test_segments_and_labels_per_patient(tmp_path):
    write_liu(tmp_path / "MPA_190103190940.npz")
    write_liu(tmp_path / "MPA_181220181216.npz", k=2)
    (first, second) = read_liu(tmp_path)
    assert (first.dataset, first.subject) == ("liu", "liu:181220181216")
    assert second.segments.shape == (4, 1000) and second.segments.dtype == np.float64
    assert (second.fs, second.segment_s) == (100.0, 10.0)
    assert second.labels.tolist() == [5, 0, 1, 5]
    assert [second.classes[k] for k in second.labels] == ["AF", "sinus_rhythm", "PVC", "AF"]
    assert second.af.tolist() == [1, 0, 0, 1]
    assert RHYTHM_CLASSES[AF_CLASS] == "AF" and len(RHYTHM_CLASSES) == 6


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"labels": None}, "missing array 'labels'"),
        ({"labels": np.array([0, 1, 2], np.uint8)}, "'labels' has 3 entries for 4"),
        ({"labels": np.array([0, 1, 6, 2], np.uint8)}, "'labels' holds values outside 0..5"),
        ({"ppg_segments": np.zeros((4, 900), np.float32)}, "900 samples per segment; expected 1000"),
        ({"ppg_segments": np.zeros(1000, np.float32)}, "'ppg_segments' has shape (1000,)"),
        ({"fs_ppg": np.float32(np.nan)}, "'fs_ppg'"),
        ({"label_names": NAMES[:5]}, "'label_names' lists 5 classes"),
    ],
)
def test_broken_file_is_one_line_naming_path_and_key(tmp_path, override, key):
    path = tmp_path / "MPA_1.npz"
    write_liu(path, **override)
    with pytest.raises(DataFormatError) as info:
        read_liu_file(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and key in message


def test_folder_without_patients_is_refused(tmp_path):
    (tmp_path / "MPA_x.txt").write_text("not data")
    with pytest.raises(DataFormatError, match="no Liu 2022 arrhythmia files"):
        read_liu(tmp_path)
