"""The TROIKA and BAMI-I readers on small NPZ files written here in each dataset's converted layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from anyppg.datasets.wrist import (
    REF_WINDOW_S,
    acc_to_g,
    read_bami,
    read_troika,
    reference_windows,
)
from anyppg.errors import DataFormatError, InvalidSignalError


def _write_troika(folder: Path, name: str, seconds: float = 20.0, fs: int = 125) -> dict[str, np.ndarray]:
    n = int(seconds * fs)
    rng = np.random.default_rng(len(name))
    arrays = {
        "ecg": rng.normal(size=n).astype(np.float32),
        "ppg": rng.normal(size=(2, n)).astype(np.float32),
        "acc": (rng.normal(size=(3, n)) * 0.1 + np.array([[0.0], [0.0], [0.95]])).astype(np.float32),
        "fs_ppg": np.int32(fs),
        "fs_ecg": np.int32(fs),
        "fs_acc": np.int32(fs),
        "hr_ref": np.array([70.0, 71.0, 72.0, 73.0, 74.0, 75.0, 76.0], dtype=np.float32),
        "hr_win_s": np.float32(8.0),
        "hr_shift_s": np.float32(2.0),
    }
    np.savez_compressed(folder / f"{name}.npz", **arrays)
    return arrays


def test_troika_reader_keeps_units_and_groups_subject_04(tmp_path: Path) -> None:
    a = _write_troika(tmp_path, "DATA_04_TYPE01")
    _write_troika(tmp_path, "DATA_04_TYPE02")
    _write_troika(tmp_path, "DATA_05_TYPE02", seconds=19.0)  # 19 s: only windows starting <= 11 s fit
    (tmp_path / "README.txt").write_text("not a recording")
    recs = read_troika(tmp_path)
    assert [r.record for r in recs] == ["DATA_04_TYPE01", "DATA_04_TYPE02", "DATA_05_TYPE02"]
    assert [r.subject for r in recs] == ["04", "04", "05"]
    r = recs[0]
    assert r.dataset == "troika" and r.fs == 125.0 and r.ref_window_s == REF_WINDOW_S
    assert r.ppg.dtype == np.float64 and r.ppg.shape == (2, 2500)
    np.testing.assert_array_equal(r.ppg, a["ppg"].astype(np.float64))  # polarity and scale as stored
    assert r.polarity == "normal"  # TROIKA's pulse rises with blood volume
    np.testing.assert_array_equal(r.acc, a["acc"].astype(np.float64))  # already g
    assert r.ecg is not None and r.ecg.shape == (2500,)
    np.testing.assert_array_equal(r.ref_start_s, [0, 2, 4, 6, 8, 10, 12])
    np.testing.assert_allclose(r.ref_bpm, a["hr_ref"])
    np.testing.assert_array_equal(
        recs[2].ref_start_s, [0, 2, 4, 6, 8, 10]
    )  # the 7th would end at 20 s > 19 s


def _write_bami(folder: Path, number: int, seconds: float = 30.0, counts_per_g: float = 4200.0) -> np.ndarray:
    fs = 50
    n = int(seconds * fs)
    rng = np.random.default_rng(number)
    gravity = np.array([[0.3], [0.0], [np.sqrt(1 - 0.09)]])
    moving = np.zeros((3, n))
    moving[:, n // 2 :] = 0.8 * np.sin(2 * np.pi * 2.5 * np.arange(n - n // 2) / fs)  # running half
    acc_g = gravity + moving + rng.normal(scale=0.002, size=(3, n))
    beats_t = np.arange(0.4, seconds, 0.75)  # 80 bpm, beat-by-beat
    beats_bpm = np.full(len(beats_t), 80.0)
    beats_bpm[(beats_t >= 10) & (beats_t < 12)] = 100.0
    np.savez_compressed(
        folder / f"BAMI1_S{number:02d}.npz",
        ppg=(32768 + 5000 + rng.integers(0, 100, size=(3, n))).astype(np.uint16),
        acc_raw=np.round(32768 + counts_per_g * acc_g).astype(np.uint16),
        gyro_raw=np.full((3, n), 32768, dtype=np.uint16),
        hr_ref=beats_bpm.astype(np.float32),
        hr_ref_t=beats_t.astype(np.float32),
        fs_ppg=np.int32(fs),
        fs_acc=np.int32(fs),
        acc_offset=np.int32(32768),
        ecg_available=np.bool_(False),
    )
    return acc_g


def test_bami_reader_removes_the_offset_calibrates_acc_and_averages_beats(tmp_path: Path) -> None:
    acc_g = _write_bami(tmp_path, 3)
    _write_bami(tmp_path, 11, counts_per_g=2048.0)
    recs = read_bami(tmp_path)
    assert [(r.subject, r.record, r.dataset) for r in recs] == [
        ("S03", "S03", "bami1"),
        ("S11", "S11", "bami1"),
    ]
    r = recs[0]
    assert r.fs == 50.0 and r.ecg is None and r.ppg.shape == (3, 1500) and r.acc.shape == (3, 1500)
    assert r.ppg.min() >= 5000 and r.ppg.max() < 5100  # offset removed, counts kept
    assert r.polarity == "inverted"  # photodiode counts fall as blood volume rises
    for rec in recs:  # gravity calibration: about 1 g at rest whatever the counts per g
        assert np.median(np.linalg.norm(rec.acc[:, :500], axis=0)) == pytest.approx(1.0, abs=0.01)
    np.testing.assert_allclose(r.acc, acc_g, atol=0.01)
    np.testing.assert_array_equal(r.ref_start_s, np.arange(0, 23, 2.0))  # 30 s: 12 whole windows
    # window [4, 12) holds beats at 10.15 and 10.9 and 11.65 s at 100 bpm among 80s
    beats_t = np.arange(0.4, 30, 0.75).astype(np.float32).astype(np.float64)
    inside = (beats_t >= 4) & (beats_t < 12)
    expected = np.where((beats_t[inside] >= 10) & (beats_t[inside] < 12), 100.0, 80.0).mean()
    assert r.ref_bpm[2] == pytest.approx(expected)
    assert r.ref_bpm[0] == pytest.approx(80.0)


def test_reference_windows_drop_windows_without_enough_beats() -> None:
    t = np.array([0.5, 1.0, 1.5, 9.0, 9.5, 15.0, 15.5, 16.0, 16.5])
    starts, bpm = reference_windows(t, np.arange(len(t)) + 60.0, 18.0)
    # windows [0,8) 3 beats; [2,10) 2; [4,12) 2; [6,14) 2; [8,16) 4; [10,18) 4
    np.testing.assert_array_equal(starts, [0.0, 8.0, 10.0])
    np.testing.assert_allclose(bpm, [61.0, np.mean([63, 64, 65, 66]), np.mean([65, 66, 67, 68])])


def test_acc_to_g_rejects_what_it_cannot_calibrate() -> None:
    with pytest.raises(InvalidSignalError, match=r"acc must have shape \(3, n\)"):
        acc_to_g(np.zeros((100, 3)), 50.0)
    with pytest.raises(InvalidSignalError, match="reads zero at rest"):
        acc_to_g(np.zeros((3, 500)), 50.0)


def test_readers_name_the_file_and_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no such folder"):
        read_troika(tmp_path / "missing")
    with pytest.raises(DataFormatError, match="no BAMI-I files"):
        read_bami(tmp_path)
    np.savez(tmp_path / "DATA_01_TYPE01.npz", ppg=np.zeros((2, 100)), fs_ppg=np.int32(125))
    with pytest.raises(DataFormatError, match=r"DATA_01_TYPE01\.npz: missing array 'acc'"):
        read_troika(tmp_path)
    np.savez(
        tmp_path / "DATA_01_TYPE01.npz",
        ppg=np.zeros((2, 100)),
        acc=np.zeros((3, 99)),
        hr_ref=np.zeros(1),
        fs_ppg=np.int32(125),
    )
    with pytest.raises(DataFormatError, match=r"acc has shape \(3, 99\); expected \(3, 100\)"):
        read_troika(tmp_path)
    (tmp_path / "BAMI1_S01.npz").write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match=r"BAMI1_S01\.npz: not an NPZ file"):
        read_bami(tmp_path)
