"""BIDMC and MIMIC-DB readers on files the tests write in each dataset's NPZ layout."""

from __future__ import annotations

import numpy as np
import pytest

import anyppg
from anyppg.datasets.clinical import mimicdb_subjects, read_bidmc, read_mimicdb, read_mimicdb_file
from anyppg.errors import DataFormatError
from anyppg.signal.ecg import match_beats

FS = 125


@pytest.fixture(scope="module")
def sim():
    return anyppg.simulate(24, heart_rate=84, ppg_rate=FS, ecg_rate=FS, seed=11)


def assert_same_beats(found, truth, duration_s):
    """Every true beat away from the edges found within 20 ms, and nothing else."""

    def inner(t):
        return t[(t > 0.3) & (t < duration_s - 0.3)]

    m = match_beats(inner(found), inner(truth), tolerance_s=0.02)
    assert (m.false_negatives, m.false_positives) == (0, 0), m


def write_mimic(path, sim, first=112501, **override):
    beats = np.round(sim.r_peaks * FS).astype(np.int64) + first
    arrays = {
        "ppg": sim.ppg.astype(np.float32),
        "ecg": sim.ecg.astype(np.float32),
        "ecg_lead": np.str_("II"),
        "sample_index": np.array([first, first + len(sim.ecg) - 1], np.int64),
        "fs_ppg": np.int32(FS),
        "fs_ecg": np.int32(FS),
        "rri_point": np.concatenate([[first - 40], beats]),  # a beat before the excerpt is dropped
    }
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


def test_bidmc_r_peaks_are_detected_from_the_ecg(tmp_path, sim, write_bidmc):
    write_bidmc(tmp_path / "bidmc_07.npz", sim)
    (rec,) = read_bidmc(tmp_path)
    assert (rec.dataset, rec.subject, rec.record, rec.ecg_lead) == ("bidmc", "bidmc:07", "bidmc_07", "II")
    assert rec.ppg.shape == (len(sim.ppg),) and rec.ppg.dtype == np.float64
    assert rec.duration_s == pytest.approx(24.0, abs=0.01)
    assert_same_beats(rec.r_peaks_s, sim.r_peaks, 24.0)
    assert rec.reference_beats_s is None


def test_bidmc_nan_gap_in_the_ecg_loses_only_its_beats(tmp_path, sim, write_bidmc):
    ecg = sim.ecg.astype(np.float32).copy()
    ecg[10 * FS : 12 * FS] = np.nan
    write_bidmc(tmp_path / "bidmc_01.npz", sim, ecg=ecg)
    (rec,) = read_bidmc(tmp_path)
    outside = sim.r_peaks[(sim.r_peaks < 9.8) | (sim.r_peaks > 12.2)]
    found = rec.r_peaks_s
    assert np.all(np.isnan(rec.ecg[10 * FS : 12 * FS]))
    assert not np.any((found > 10.0) & (found < 12.0))
    assert all(np.min(np.abs(found - t)) < 0.02 for t in outside[1:-1])


def test_mimic_reference_beats_are_shifted_to_the_excerpt(tmp_path, sim):
    write_mimic(tmp_path / "mimicdb_208.npz", sim)
    write_mimic(tmp_path / "mimicdb_209.npz", sim)
    write_mimic(tmp_path / "mimicdb_401.npz", sim)
    recs = read_mimicdb(tmp_path)
    assert [r.subject for r in recs] == ["mimicdb:g208", "mimicdb:g208", "mimicdb:g401"]
    rec = recs[0]
    assert rec.ecg_lead == "II"
    np.testing.assert_allclose(rec.reference_beats_s, np.round(sim.r_peaks * FS) / FS)
    assert_same_beats(rec.r_peaks_s, sim.r_peaks, 24.0)


def test_mimicdb_subjects_group_records_at_most_3_apart():
    got = mimicdb_subjects(["039", "041", "208", "209", "212", "216", "401"])
    assert got == {
        "039": "mimicdb:g039",
        "041": "mimicdb:g039",
        "208": "mimicdb:g208",
        "209": "mimicdb:g208",
        "212": "mimicdb:g208",
        "216": "mimicdb:g216",
        "401": "mimicdb:g401",
    }


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"ecg": None}, "'ecg'"),
        ({"fs_ecg": np.array([125, 125])}, "'fs_ecg'"),
        ({"ppg": np.zeros((2, 10), np.float32)}, "'ppg'"),
        ({"rri_point": np.array(["a"])}, "'rri_point'"),
        ({"ecg": np.zeros(100, np.float32)}, "but 'ecg' 0.80 s"),
    ],
)
def test_broken_mimic_file_is_one_line_naming_path_and_key(tmp_path, sim, override, key):
    path = tmp_path / "mimicdb_039.npz"
    write_mimic(path, sim, **override)
    with pytest.raises(DataFormatError) as info:
        read_mimicdb_file(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and key in message


def test_folder_without_files_is_refused(tmp_path):
    with pytest.raises(DataFormatError, match="no BIDMC files"):
        read_bidmc(tmp_path)
    with pytest.raises(DataFormatError, match="no such folder"):
        read_mimicdb(tmp_path / "missing")


def test_not_an_npz_names_the_file(tmp_path):
    path = tmp_path / "bidmc_02.npz"
    path.write_bytes(b"ppg,ecg\n1,2\n")
    with pytest.raises(DataFormatError, match=r"bidmc_02\.npz"):
        read_bidmc(tmp_path)
