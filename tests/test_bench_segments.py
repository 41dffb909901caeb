"""benchmarks/bench_segments.py: the segmenting, and a whole run on BIDMC-layout files the test writes
(simulated PPG + ECG; no data folder)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import anyppg

FS = 125


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("bench_segments")


def test_segments_are_consecutive_and_skip_missing_samples(bench) -> None:
    x = np.arange(60 * FS, dtype=float)
    x[25 * FS] = np.nan  # a lone missing sample (bridged by the SDK) spoils only its own segment
    segs, starts = bench.segments_of(x, FS)
    assert segs.shape == (5, 10 * FS)
    assert starts.tolist() == [0.0, 10.0, 30.0, 40.0, 50.0]
    assert np.array_equal(segs[2], x[30 * FS : 40 * FS])


def test_a_run_scores_the_held_out_segments_and_writes_json_and_markdown(
    bench, tmp_path, write_bidmc
) -> None:
    folder = tmp_path / "bidmc"
    folder.mkdir()
    # bidmc_02 is a held-out patient of the shipped cards, bidmc_03 is not: only 02 is scored.
    for number, bpm in (("02", 72.0), ("03", 90.0)):
        sim = anyppg.simulate(45.0, heart_rate=bpm, hrv=0.02, ppg_rate=FS, ecg_rate=FS, seed=int(number))
        write_bidmc(folder / f"bidmc_{number}.npz", sim)
    out = tmp_path / "out"
    assert (
        bench.main(["--data", str(tmp_path), "--datasets", "bidmc", "--boot", "20", "--out", str(out)]) == 0
    )
    result = json.loads((out / "segments.json").read_text())
    block = result["datasets"]["bidmc"]
    assert block["info"]["subjects"] == ["bidmc:02"] and block["info"]["subject_source"] == "held-out"
    rows = {r["method"]: r for r in block["all"]}
    label = result["models"][0]["label"]
    assert set(rows) == {f"reported: {label}", f"model head: {label}", "tracker", "neurokit2"}
    assert rows["neurokit2"]["windows"] == 4  # 45 s: four whole 10 s segments
    assert rows[f"reported: {label}"]["value"] < 3.0  # a clean 72 bpm pulse is read right
    assert list(rows["tracker"]["by_subject"]) == ["bidmc:02"]
    assert "| bidmc | tracker |" in (out / "segments.md").read_text()
