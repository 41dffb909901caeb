"""benchmarks/bench_rate_range.py: real beats paced over 30-220 bpm, scored per rate (no data folder)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import anyppg


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("bench_rate_range")


def test_held_out_strips_are_paced_at_every_rate_and_tabled(bench, tmp_path, write_bidmc) -> None:
    """A BIDMC file the test writes under a held-out patient's name (bidmc_02 in the shipped cards), one
    under a training patient's (not read); 16 s strips at 0 and 60 s, paced at each target rate and
    read as a stream and as stand-alone strips."""
    import bench_real

    folder = tmp_path / "bidmc"
    folder.mkdir()
    sim = anyppg.simulate(130.0, heart_rate=70.0, hrv=0.02, ppg_rate=125.0, ecg_rate=125.0, seed=3)
    write_bidmc(folder / "bidmc_02.npz", sim)
    write_bidmc(folder / "bidmc_03.npz", sim)
    models = bench_real.load_models(bench_real.default_model_paths()[:1])
    heldout = bench_real.heldout_from_cards(m.card for m in models)
    result = bench.run(tmp_path, models, heldout, n_boot=20)
    assert result["strips"] == 2 and result["patients"] == ["bidmc:02"]
    assert [(r["mode"], r["target_bpm"]) for r in result["rows"]] == [
        (mode, rate) for mode in ("stream", "strip") for rate in bench.TARGETS_BPM
    ]
    label = models[0].label
    for mode in ("stream", "strip"):
        by_rate = {r["target_bpm"]: r["methods"] for r in result["rows"] if r["mode"] == mode}
        for rate in (60, 100, 150):  # a clean simulated beat, paced mid-range, is read right
            for method in ("tracker", f"head: {label}", f"reported: {label}"):
                assert by_rate[rate][method]["mae"]["value"] < 0.05 * rate, (mode, rate, method)
                assert by_rate[rate][method]["off_share"] == 0.0
    result.update(command="c", seconds=1.0, machine="m")
    text = bench.to_markdown(result)
    assert text.count(f"| paced bpm | tracker | head: {label} | reported: {label} |") == 2
    assert "## As a stream" in text and "## As stand-alone 10 s strips" in text
    assert text.count("\n| ") == 2 * (len(bench.TARGETS_BPM) + 1)


def test_no_model_scores_the_tracker_alone(bench, tmp_path, write_bidmc) -> None:
    folder = tmp_path / "bidmc"
    folder.mkdir()
    sim = anyppg.simulate(20.0, heart_rate=80.0, hrv=0.02, ppg_rate=125.0, ecg_rate=125.0, seed=5)
    write_bidmc(folder / "bidmc_02.npz", sim)
    result = bench.run(tmp_path, [], {"bidmc": {2}}, n_boot=10)
    assert all(list(r["methods"]) == ["tracker"] for r in result["rows"])
    assert result["strips"] == 1
    assert np.isfinite(result["rows"][6]["methods"]["tracker"]["mae"]["value"])  # 80 bpm, as a stream


def test_main_writes_json_and_markdown(bench, tmp_path, write_bidmc) -> None:
    import bench_real

    (tmp_path / "bidmc").mkdir()
    sim = anyppg.simulate(20.0, heart_rate=75.0, hrv=0.02, ppg_rate=125.0, ecg_rate=125.0, seed=6)
    write_bidmc(tmp_path / "bidmc" / "bidmc_02.npz", sim)  # held out in the shipped cards
    model = bench_real.default_model_paths()[0]
    out = tmp_path / "out"
    assert (
        bench.main(["--data", str(tmp_path), "--models", str(model), "--boot", "10", "--out", str(out)]) == 0
    )
    result = json.loads((out / "rate_range.json").read_text())
    assert result["command"] == f"python benchmarks/bench_rate_range.py --data DATA --models {model.name}"
    assert result["strips"] == 1 and len(result["rows"]) == 2 * len(bench.TARGETS_BPM)
    assert (out / "rate_range.md").read_text().startswith("# Heart rate across 30-220 bpm")
