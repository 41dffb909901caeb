"""The per-window outputs of :class:`Pipeline` against values recorded before its CPU optimisations.

``data/pipeline_golden.json`` was written by this module (``python tests/sdk/test_pipeline_golden.py
--write``) from the implementation that cleaned each window three times, filtered the accelerometer
twice and recomputed filter initial conditions on every call. The optimised pipeline must give the
same numbers: on the machine that recorded them they are bit-identical (``rtol=0`` there); the
tolerance here (1e-12, relative) only absorbs last-bit differences of SIMD reductions between CPUs,
far below any change an algorithm would make.

Cases: simulated streams with motion (accelerometer used by the tracker), atrial fibrillation at a low
rate, dropped blocks (bridged gaps), the 3-min e2epyppg wrist excerpt that ships inside anyppg (its
values were computed by the unoptimised pipeline of commit 6c7963d on the excerpt's samples) and,
when the e2epyppg package is installed, the first 200 s of the full wrist recording; all with the
shipped int8 student.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import anyppg
from anyppg.sdk.pipeline import Pipeline
from anyppg.sdk.samples import SampleBlock

GOLDEN = Path(__file__).parent / "data" / "pipeline_golden.json"
_FLOAT_FIELDS = (
    "heart_rate",
    "heart_rate_model",
    "heart_rate_peaks",
    "quality",
    "quality_model",
    "af_probability",
    "motion",
)


def _model() -> Any:
    from anyppg.sdk.cmd_stream import resolve_model

    return resolve_model("default")


def _stream(model: Any, ppg: np.ndarray, acc: np.ndarray | None, rate: float, drop_every: int = 0) -> list:
    # The golden values were recorded with the classic tracker (the SDK's default before
    # anyppg.signal.motion_hr): that path must still give them to the last bit.
    pipeline = Pipeline("golden", model, tracker="classic")
    results = []
    block = 16
    for k, i in enumerate(range(0, len(ppg), block)):
        if drop_every and k % drop_every == drop_every - 1:
            continue
        results += pipeline.push(
            SampleBlock(i / rate, rate, ppg[i : i + block], None if acc is None else acc[i : i + block])
        )
    return results


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray | None, float, int]]:
    moving = anyppg.simulate(60, heart_rate=75, ppg_rate=64.0, motion=0.6, seed=3)
    af = anyppg.simulate(50, heart_rate=110, rhythm="af", ppg_rate=25.0, seed=4)
    gaps = anyppg.simulate(50, heart_rate=62, ppg_rate=50.0, seed=5)
    cases = {
        "sim-motion-64Hz": (moving.ppg, moving.acc, 64.0, 0),
        "sim-af-25Hz": (af.ppg, None, 25.0, 0),
        "sim-gaps-50Hz": (gaps.ppg, gaps.acc, 50.0, 23),
    }
    from anyppg import recordings

    excerpt = recordings.load("e2epyppg-wrist-excerpt")  # ships inside anyppg: always there
    cases["e2epyppg-wrist-excerpt"] = (excerpt.ppg, excerpt.acc / 9.80665, float(excerpt.ppg_fs), 0)
    try:
        rec = recordings.load("e2epyppg-wrist")
    except anyppg.AnyPPGError:
        return cases
    n = int(200 * rec.ppg_fs)
    cases["e2epyppg-wrist-200s"] = (rec.ppg[:n], rec.acc[:n] / 9.80665, float(rec.ppg_fs), 0)
    return cases


def _values(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def rows(results: list) -> list[dict[str, Any]]:
    """Per window: the result's numbers (embedding reduced to its sum and first 8 values)."""
    out = []
    for r in results:
        row: dict[str, Any] = {f: _values(getattr(r, f)) for f in _FLOAT_FIELDS}
        # The golden "heart_rate" predates fusion (anyppg.sdk.fusion): it was the tracker's value, or the
        # model head's where the tracker had none. Compared as such; the fusion has its own tests.
        before_fusion = r.heart_rate_tracker if r.heart_rate_tracker is not None else r.heart_rate_model
        row["heart_rate"] = _values(before_fusion)
        row.update(t_start=r.t_start, usable=r.usable, filled=r.filled)
        emb = None if r.embedding is None else np.asarray(r.embedding, dtype=np.float64)
        row["embedding"] = None if emb is None else [float(emb.sum()), *map(float, emb[:8])]
        row["window"] = float(np.asarray(r.window, dtype=np.float64).sum())
        out.append(row)
    return out


def collect() -> dict[str, list[dict[str, Any]]]:
    """Per case, per window: the result's numbers (see :func:`rows`)."""
    model = _model()
    return {
        name: rows(_stream(model, ppg, acc, rate, drop)) for name, (ppg, acc, rate, drop) in _cases().items()
    }


@pytest.fixture(scope="module")
def golden() -> dict[str, list[dict[str, Any]]]:
    return json.loads(GOLDEN.read_text())


@pytest.fixture(scope="module")
def current() -> dict[str, list[dict[str, Any]]]:
    return collect()


def test_every_case_is_compared(golden, current):
    assert set(current) <= set(golden)
    assert {"sim-motion-64Hz", "sim-af-25Hz", "sim-gaps-50Hz", "e2epyppg-wrist-excerpt"} <= set(current)


CASES = ["sim-motion-64Hz", "sim-af-25Hz", "sim-gaps-50Hz", "e2epyppg-wrist-excerpt", "e2epyppg-wrist-200s"]


@pytest.mark.parametrize("case", CASES)
def test_windows_match_the_unoptimised_pipeline(golden, current, case):
    if case not in current:
        pytest.skip(f"recording for {case} is not installed")
    want, got = golden[case], current[case]
    assert len(got) == len(want) > 5
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        assert (g["t_start"], g["usable"], g["filled"]) == (w["t_start"], w["usable"], w["filled"]), i
        for key in (*_FLOAT_FIELDS, "window"):
            if w[key] is None:
                assert g[key] is None, (case, i, key)
            else:
                np.testing.assert_allclose(g[key], w[key], rtol=1e-12, atol=0, err_msg=f"{case} {i} {key}")
        if w["embedding"] is None:
            assert g["embedding"] is None
        else:
            np.testing.assert_allclose(g["embedding"], w["embedding"], rtol=1e-12, atol=0)


if __name__ == "__main__":
    if "--write" not in sys.argv:
        raise SystemExit("usage: python tests/sdk/test_pipeline_golden.py --write")
    GOLDEN.write_text(json.dumps(collect(), indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {GOLDEN}")
