"""Sensor polarity: an upside-down pulse, declared ``polarity="inverted"``, reaches the model exactly
as the upright pulse does (band-pass, resampling and z-score are odd functions, so negating the
window after them undoes a negated input bit for bit).

The shipped int8 student runs here (LiteRT); the recordings are simulated.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import anyppg
from anyppg.cli import main
from anyppg.sdk.analyze import analyze, resolve_model
from anyppg.sdk.pipeline import Pipeline
from anyppg.sdk.polarity import polarity_sign

MODEL_COLUMNS = ("heart_rate_model", "quality_model", "af_probability", "rhythm_probabilities", "embedding")


@pytest.fixture(scope="module")
def model():
    return resolve_model("default")


def test_polarity_sign_and_a_clear_error():
    assert polarity_sign("normal") == 1.0 and polarity_sign("inverted") == -1.0
    with pytest.raises(ValueError, match=r"'normal' or 'inverted'.*'auto'"):
        polarity_sign("auto")
    with pytest.raises(ValueError, match="polarity"):
        Pipeline("dev", None, polarity="upside-down")  # type: ignore[arg-type]


def test_an_inverted_recording_declared_inverted_reads_as_the_upright_one(model):
    fs = 50.0  # resampled to 125 Hz on the way: also an odd function
    ppg = anyppg.simulate(40.0, ppg_rate=fs, heart_rate=84.0, hrv=0.02, seed=5).ppg.astype(np.float64)
    upright = analyze(ppg, fs, model=model)
    flipped = analyze(-ppg, fs, model=model)
    declared = analyze(-ppg, fs, model=model, polarity="inverted")
    assert upright.polarity == "normal" and declared.polarity == "inverted"
    assert len(upright) == len(declared) >= 10
    for name in MODEL_COLUMNS:
        np.testing.assert_array_equal(getattr(declared, name), getattr(upright, name), err_msg=name)
    # Undeclared, the model sees the pulse upside down: its outputs are not the upright ones.
    assert not np.array_equal(flipped.embedding, upright.embedding)
    # The signal side does not depend on the sign.
    np.testing.assert_allclose(declared.heart_rate_tracker, upright.heart_rate_tracker, atol=1.0)


def test_inverted_segments_declared_inverted_read_as_the_upright_ones(model):
    fs = 100.0
    segments = np.stack(
        [
            anyppg.simulate(10.0, ppg_rate=fs, heart_rate=hr, hrv=0.01, seed=i).ppg
            for i, hr in enumerate((60, 95))
        ]
    )
    upright = analyze(segments, fs, model=model)
    declared = analyze(-segments, fs, model=model, polarity="inverted")
    for name in MODEL_COLUMNS:
        np.testing.assert_array_equal(getattr(declared, name), getattr(upright, name), err_msg=name)


def test_analyze_command_takes_polarity(tmp_path: Path, capsys):
    fs = 125.0
    ppg = anyppg.simulate(20.0, ppg_rate=fs, heart_rate=70.0, seed=2).ppg
    path = tmp_path / "inverted.npz"
    np.savez(path, ppg=-ppg, fs=fs)
    assert main(["analyze", str(path), "--json", "--polarity", "inverted"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["polarity"] == "inverted"
    rows = report["results"]
    want = analyze(ppg, fs).heart_rate_model
    got = np.array([row["heart_rate_model"] for row in rows], dtype=float)
    np.testing.assert_allclose(got, want, atol=0.05)  # the JSON rounds to 0.1 bpm
