"""benchmarks/bench_rhythm_shape.py: its clinical strips and its tables (no data folder)."""

from __future__ import annotations

import pytest

import anyppg

FS = 100.0


@pytest.fixture(scope="module")
def bench(benchmark_script):
    return benchmark_script("bench_rhythm_shape")


def test_markdown_names_the_three_scores(bench) -> None:
    cell = {"metric": "auroc", "value": 0.9, "ci": [0.8, 0.95]}
    result = {
        "command": "python benchmarks/bench_rhythm_shape.py --data DATA", "seconds": 1.0, "machine": "m",
        "subjects": ["liu:1"], "segments": 3, "af_segments": 1, "skipped_segments": 0,
        "rows": [{"model": "student-s int8", "original": cell, "shape only": {"metric": "auroc", "value": 0.5, "ci": [0.4, 0.6]},
                  "timing only": cell, "mean_p_af": {"regular": {"from AF": 0.01, "from other rhythms": 0.0}}}],
    }  # fmt: skip
    text = bench.to_markdown(result)
    assert "| student-s int8 | 0.900 [0.800, 0.950] | 0.500 [0.400, 0.600] | 0.900 [0.800, 0.950] |" in text
    assert "| student-s int8 | regular | 0.010 | 0.000 |" in text


def test_clinical_strips_of_held_out_patients_are_read_as_is_and_regular(
    bench, tmp_path, write_bidmc
) -> None:
    """A BIDMC file the test writes under a held-out patient's name (bidmc_02 in the shipped cards):
    one strip a minute, each read as it is and rebuilt regular; the markdown gets its table."""
    import bench_real

    folder = tmp_path / "bidmc"
    folder.mkdir()
    sim = anyppg.simulate(130.0, heart_rate=70.0, hrv=0.02, ppg_rate=125.0, ecg_rate=125.0, seed=3)
    write_bidmc(folder / "bidmc_02.npz", sim)
    write_bidmc(folder / "bidmc_03.npz", sim)  # not held out: not read
    models = bench_real.load_models(bench_real.default_model_paths()[:1])
    heldout = bench_real.heldout_from_cards(m.card for m in models)
    block = bench.run_clinical(tmp_path, models, heldout, seed=0)["bidmc"]
    assert (block["strips"], block["patients"]) == (3, 1)  # at 0, 60 and 120 s
    (row,) = block["rows"]
    assert 0.0 <= row["af_as_read"] <= 1.0 and 0.0 <= row["af_regular"] <= 1.0
    result = {
        "command": "c", "seconds": 1.0, "machine": "m", "subjects": [], "segments": 0, "af_segments": 0,
        "skipped_segments": 0, "rows": [], "clinical": {"bidmc": block},
    }  # fmt: skip
    assert f"| bidmc | {row['model']} | 3 (1) |" in bench.to_markdown(result)
