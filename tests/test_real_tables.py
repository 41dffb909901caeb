"""benchmarks/real_tables.py: the evaluation page's tables carry real.json's numbers into the right cells."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def real_tables(benchmark_script):
    return benchmark_script("real_tables")


def _hr_rows(method: str, value: float, coverage: float = 1.0) -> list[dict]:
    return [{"method": method, "value": value, "ci": [value - 0.5, value + 0.5], "coverage": coverage}]


def test_tables_put_each_dataset_in_its_column(real_tables) -> None:
    def dataset(subjects: int, tracker: float, coverage: float, auroc: float) -> dict:
        quality = [{"method": "quality", "labels_from": "PPG peaks", "value": auroc, "ci": [None, None],
                    "usable": 9, "unusable": 1}]  # fmt: skip
        return {"info": {"subjects": ["s"] * subjects}, "labelled_windows": 10,
                "rows": _hr_rows("tracker", tracker, coverage), "quality": quality}  # fmt: skip

    result = {
        "heart_rate": {"troika": dataset(4, 1.24, 1.0, 0.678), "bidmc": dataset(16, 0.69, 0.9, 0.948)},
        "liu": {
            "info": {"subjects": ["a", "b"], "segments": 20, "af_segments": 5},
            "rows": [{"method": "m", "task": "AF vs rest", "value": 0.95, "ci": [0.93, 0.98]}],
        },
    }
    result["heart_rate"]["husm"] = dataset(22, 1.14, 0.98, 0.67)
    result["heart_rate"]["husm"]["info"]["subject_source"] = "unseen"  # no card trains on it
    md = real_tables.tables(result)
    # column order, not input order; a set no model trained on says so
    assert "| method | BIDMC (16 held-out) | TROIKA (4 held-out) | HUSM (22 unseen by every model) |" in md
    assert (
        "| tracker | 0.69 [0.19, 1.19] (90% of windows) | 1.24 [0.74, 1.74] | 1.14 [0.64, 1.64] (98% of windows) |"
        in md
    )
    assert "| quality | 0.948 | 0.678 | 0.670 |" in md
    assert "| (usable / unusable windows) | 9 / 1 | 9 / 1 | 9 / 1 |" in md
    assert "| m | 0.950 [0.930, 0.980] | - |" in md and "reliable" not in md


def test_the_committed_results_render(real_tables) -> None:
    md = real_tables.tables(json.loads(real_tables.RESULTS.read_text()))
    assert md.count("### ") == 3 and "clinical finger, pooled" in md
