"""benchmarks/bench_polarity.py: every recording counts as stored and turned over, on files the test writes."""

from __future__ import annotations

import numpy as np
import pytest

import anyppg
from anyppg.sdk.analyze import resolve_model


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("bench_polarity")


def test_an_upright_and_an_upside_down_recording_count_both_ways(bench, tmp_path) -> None:
    """Two HUSM-layout files: one upright, one raw counts (upside down, read from its annotated
    peaks). Each is checked once; its turned-over copy counts too."""
    sim = anyppg.simulate(60, heart_rate=80, ppg_rate=200.0, seed=6)
    peaks = np.round(sim.ppg_peaks * 200).astype(np.int64)
    folder = tmp_path / "husm_ppg"
    folder.mkdir()
    for name, ir in (("health_0000001_rest", sim.ppg), ("health_0000002_rest", 3e4 - 50 * sim.ppg)):
        np.savez(folder / f"{name}.npz", ppg_red=ir, ppg_ir=ir, fs_ppg=np.int32(200), beat_peak_idx=peaks)
    result = bench.run(tmp_path, resolve_model("default"))
    husm = [r for r in result["recordings"] if r["dataset"] == "husm"]
    assert [r["truth"] for r in husm] == ["normal", "inverted"]
    assert all(r["right_as_stored"] and r["right_turned_over"] for r in husm)
    (counts,) = [d for d in result["datasets"] if d["dataset"] == "husm"]
    assert counts["recordings"] == 2 and counts["stored_upside_down"] == 1
    assert counts["upright_copies"] == counts["upside_down_copies"] == 2
    assert counts["flipped_upright"] == counts["kept_upside_down"] == 0
    assert "| husm | 2 (1) | 2 | 2 | 0 of 2 | 0 of 2 |" in bench.markdown(
        {**result, "command": "c", "seconds": 1, "model": "m"}
    )


def test_a_check_that_flips_an_upright_pulse_is_counted_as_harmful(bench) -> None:
    row = {"dataset": "x", "truth": "normal", "as_stored": "inverted", "turned_over": "inverted"}
    row |= {"right_as_stored": False, "right_turned_over": True}
    (x, total) = bench.summarise([row])
    assert (x["flipped_upright"], x["kept_upside_down"], total["dataset"]) == (1, 0, "all")
