"""Welltory, HUSM and Liang readers on files the tests write in each dataset's NPZ layout."""

from __future__ import annotations

import numpy as np
import pytest

import anyppg
from anyppg.datasets.husm import read_husm, read_husm_file
from anyppg.datasets.liang import read_liang, read_liang_file
from anyppg.datasets.welltory import read_welltory, read_welltory_file
from anyppg.errors import DataFormatError


def one_line(info: pytest.ExceptionInfo, path, key: str) -> None:
    message = str(info.value)
    assert "\n" not in message and str(path) in message and key in message, message


# --- Welltory ---------------------------------------------------------------------------------------


def write_welltory(path, **override):
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.025, 0.043, 900))  # irregular camera frames, ~30 fps
    t[300] = t[299]  # a duplicated frame time
    pulse = np.sin(2 * np.pi * 1.2 * t)  # 72 bpm
    arrays = {
        "ppg_rgb": np.stack([200 + 5 * pulse, 20 + pulse, 10 + 0.2 * pulse]).astype(np.float32),
        "t_ppg": t.astype(np.float64),
        "fs_ppg_nominal": np.float32(29.41),
        "rr_ms": np.full(30, 833.0, np.float32),
    }
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return t


def test_welltory_frames_are_put_on_a_uniform_grid(tmp_path):
    t = write_welltory(tmp_path / "subject_03.npz")
    (rec,) = read_welltory(tmp_path)
    assert (rec.dataset, rec.subject, rec.channels) == ("welltory", "welltory:03", ("red", "green", "blue"))
    assert rec.fs == pytest.approx(29.41) and rec.dropped_frames == 1
    assert rec.ppg_rgb.shape[0] == 3 and rec.duration_s == pytest.approx(t[-1] - t[0], abs=0.1)
    spectrum = np.abs(np.fft.rfft(rec.ppg_rgb[1] - rec.ppg_rgb[1].mean()))
    freqs = np.fft.rfftfreq(rec.ppg_rgb.shape[1], 1 / rec.fs)
    assert freqs[np.argmax(spectrum)] == pytest.approx(1.2, abs=0.05)  # the 72-bpm pulse survives
    assert rec.heart_rate_bpm == pytest.approx(72.0, abs=0.1)
    assert rec.beat_times_s[0] == 0.0 and rec.beat_times_s[-1] == pytest.approx(30 * 0.833)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"t_ppg": None}, "missing array 't_ppg'"),
        ({"ppg_rgb": np.zeros((2, 900), np.float32)}, "'ppg_rgb' has shape (2, 900)"),
        ({"rr_ms": np.array([800.0, -1.0])}, "'rr_ms' must hold positive"),
    ],
)
def test_welltory_broken_file(tmp_path, override, key):
    path = tmp_path / "subject_01.npz"
    write_welltory(path, **override)
    with pytest.raises(DataFormatError) as info:
        read_welltory_file(path)
    one_line(info, path, key)


# --- HUSM -------------------------------------------------------------------------------------------


def write_husm(path, **override):
    sim = anyppg.simulate(20, heart_rate=110, ppg_rate=200.0, seed=8)
    arrays = {
        "ppg_red": sim.ppg.astype(np.float32),
        "ppg_ir": (2 * sim.ppg).astype(np.float32),
        "fs_ppg": np.int32(200),
        "beat_peak_idx": np.round(sim.ppg_peaks * 200).astype(np.int64),
        "beat_peak_y": np.zeros(len(sim.ppg_peaks), np.float32),
    }
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return sim


def test_husm_beats_and_phase(tmp_path):
    sim = write_husm(tmp_path / "dpoc_0680298_balke.npz")
    write_husm(tmp_path / "health_0000001_rest.npz")
    copd, healthy = sorted(read_husm(tmp_path), key=lambda r: r.group)
    assert (copd.subject, copd.group, copd.phase) == ("husm:dpoc_0680298", "copd", "balke")
    assert (healthy.subject, healthy.group, healthy.phase) == ("husm:health_0000001", "healthy", "rest")
    assert copd.ppg.shape == (2, len(sim.ppg)) and copd.channels == ("red", "ir")
    np.testing.assert_allclose(copd.beats_s, np.round(sim.ppg_peaks * 200) / 200)
    assert copd.polarity == "normal"  # the simulator's pulse is upright at its annotated peaks


def test_husm_polarity_is_read_from_the_annotated_peaks(tmp_path):
    """Raw light counts (the real HUSM files) put the annotated systolic peaks at the pulse's troughs."""
    sim = anyppg.simulate(20, heart_rate=110, ppg_rate=200.0, seed=8)
    write_husm(tmp_path / "dpoc_0680298_rest.npz", ppg_ir=(1000 - sim.ppg).astype(np.float32))
    (rec,) = read_husm(tmp_path)
    assert rec.polarity == "inverted"


def test_husm_broken_file(tmp_path):
    path = tmp_path / "health_0000002_recovery.npz"
    write_husm(path, beat_peak_idx=np.array([5, 10**7]))
    with pytest.raises(DataFormatError) as info:
        read_husm_file(path)
    one_line(info, path, "'beat_peak_idx' holds indices outside")
    other = tmp_path / "walk_1.npz"
    write_husm(other)
    with pytest.raises(DataFormatError, match="name is not"):
        read_husm_file(other)


# --- Liang ------------------------------------------------------------------------------------------


def write_liang(path, rows=4, **override):
    sim = anyppg.simulate(10, heart_rate=65, ppg_rate=200.0, seed=9)
    n = len(sim.ppg)
    names = ["green_channel", "red_channel", "ir_channel", "Anomaly", "Anomaly_2"][:rows]
    ppg = np.vstack([30000 + 1000 * sim.ppg] * 3 + [np.zeros(n)] * (rows - 3))
    if rows > 3:
        ppg[3, 100:200] = 1
    arrays = {
        "ppg": ppg.astype(np.float32),
        "channel_names": np.array(names),
        "fs_ppg": np.int32(200),
        "sbp": np.float32(118.3),
        "dbp": np.float32(71.0),
        "age": np.float32(31),
        "gender": np.str_("female"),
    }
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


def test_liang_bp_and_anomaly_flags(tmp_path):
    write_liang(tmp_path / "subject_007.npz")
    write_liang(tmp_path / "subject_012.npz", rows=3)
    flagged, plain = read_liang(tmp_path)
    assert flagged.subject == "liang:007" and flagged.ppg.shape == (3, 2000)
    assert flagged.channels == ("green_channel", "red_channel", "ir_channel")
    assert flagged.anomaly.sum() == 100 and not plain.anomaly.any()
    assert (flagged.sbp_mmhg, flagged.dbp_mmhg) == (pytest.approx(118.3, abs=1e-4), 71.0)
    assert (flagged.age_years, flagged.sex) == (31.0, "female") and np.isnan(flagged.height_cm)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"sbp": None}, "missing array 'sbp'"),
        ({"sbp": np.float32(900)}, "'sbp' is 900; expected 40-300 mmHg"),
        ({"channel_names": np.array(["a", "b"])}, "'channel_names' 2 names"),
        ({"dbp": np.array([70.0, 71.0])}, "'dbp' has shape (2,)"),
    ],
)
def test_liang_broken_file(tmp_path, override, key):
    path = tmp_path / "subject_001.npz"
    write_liang(path, **override)
    with pytest.raises(DataFormatError) as info:
        read_liang_file(path)
    one_line(info, path, key)
