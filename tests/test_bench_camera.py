"""benchmarks/bench_camera.py: the strap's window reference, and a whole run on camera files the test
writes (simulated pulses, inverted as a camera records them; no data folder)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import anyppg


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("bench_camera")


def test_strap_reference_is_60_over_the_median_rr_inside_the_window(bench) -> None:
    rr = np.array([1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0])  # beats at 1, 2, 2.5, ..., 4.5, 5.5, 6.5 s
    got = bench.strap_window_hr(rr, np.array([0.0, 2.0, 5.0]), np.array([10.0, 5.0, 6.0]))
    assert got[0] == pytest.approx(60.0 / 0.5)  # 9 beats, median interval 0.5 s
    assert got[1] == pytest.approx(120.0)  # beats at 2, 2.5, 3, 3.5, 4, 4.5
    assert np.isnan(got[2])  # one beat (5.5 s): fewer than MIN_BEATS


def test_a_run_scores_both_polarities_and_writes_json_and_markdown(bench, tmp_path) -> None:
    folder = tmp_path / "welltory"
    folder.mkdir()
    for i, bpm in enumerate((66.0, 84.0)):
        fs = 30.0
        sim = anyppg.simulate(40.0, heart_rate=bpm, hrv=0.0, ppg_rate=fs, noise=0.01, seed=i)
        t = np.arange(len(sim.ppg)) / fs
        red = 200.0 - 5.0 * sim.ppg  # the frame darkens as blood fills the fingertip
        np.savez(
            folder / f"subject_{i + 1:02d}.npz",
            ppg_rgb=np.stack([red, 20 + 0 * red, 10 + 0 * red]).astype(np.float32),
            t_ppg=t,
            fs_ppg_nominal=np.float32(fs),
            rr_ms=np.full(int(40 * bpm / 60), 60000.0 / bpm, np.float32),
        )
    out = tmp_path / "out"
    assert bench.main(["--data", str(tmp_path), "--boot", "20", "--out", str(out)]) == 0
    result = json.loads((out / "camera.json").read_text())
    assert result["recordings"] == 2 and set(result["polarity"]) == {"normal", "inverted"}
    for polarity in ("normal", "inverted"):
        rows = {r["method"]: r for r in result["polarity"][polarity]["rows"]}
        assert set(rows) == set(bench.METHODS) and rows["tracker"]["windows"] > 0
    inverted = {r["method"]: r for r in result["polarity"]["inverted"]["rows"]}
    assert inverted["reported heart_rate"]["value"] < 3.0  # read the right way up, the rate is right
    assert 'polarity="inverted"' in (out / "camera.md").read_text()
