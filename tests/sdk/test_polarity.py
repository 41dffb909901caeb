"""Sensor polarity: an upside-down pulse, declared ``polarity="inverted"``, is negated as it enters the
pipeline, so every result (quality index, peaks, trackers, model) is the upright pulse's.

The shipped int8 student runs here (LiteRT); the recordings are simulated.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

import anyppg
from anyppg.cli import main
from anyppg.sdk.analyze import analyze, resolve_model
from anyppg.sdk.pipeline import POLARITY_WATCH_WINDOWS, Pipeline
from anyppg.sdk.polarity import polarity_sign
from anyppg.sdk.samples import SampleBlock

MODEL_COLUMNS = ("heart_rate_model", "quality_model", "af_probability", "rhythm_probabilities", "embedding")
ALL_COLUMNS = (*MODEL_COLUMNS, "heart_rate", "heart_rate_tracker", "heart_rate_peaks", "quality", "usable")


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
    for name in ALL_COLUMNS:
        np.testing.assert_array_equal(getattr(declared, name), getattr(upright, name), err_msg=name)
    # Undeclared, the model sees the pulse upside down: its outputs are not the upright ones.
    assert not np.array_equal(flipped.embedding, upright.embedding)


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
    for name in ALL_COLUMNS:
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


def test_auto_turns_over_only_what_both_scores_read_better_turned_over(model):
    """``polarity="auto"``: the first windows read both ways; the upright pulse stays, the upside-down
    one is turned over and then reads field for field as the upright one; no model, no turning."""
    fs = 64.0
    ppg = anyppg.simulate(60.0, ppg_rate=fs, heart_rate=72.0, hrv=0.02, seed=3).ppg.astype(np.float64)
    stays = anyppg.check_polarity(ppg, fs, model=model)
    assert stays.polarity == "normal" and stays.quality_gain < 0 and stays.quality_head_gain < 0
    turned = anyppg.check_polarity(-ppg, fs, model=model)
    assert turned.polarity == "inverted" and turned.windows == stays.windows >= 20
    assert turned.quality_gain == pytest.approx(-stays.quality_gain)  # the same two reads, swapped
    upright = analyze(ppg, fs, model=model)
    auto = analyze(-ppg, fs, model=model, polarity="auto")
    assert (auto.polarity, auto.polarity_check) == ("inverted", turned)
    assert upright.polarity_check.polarity == "normal"  # the pipeline's own reads: nothing to declare
    as_read = analyze(-ppg, fs, model=model)  # not declared: the analysis says how it looks
    assert as_read.polarity == "normal" and as_read.polarity_check.polarity == "inverted"
    assert as_read.polarity_check.quality_gain == pytest.approx(turned.quality_gain, abs=1e-9)
    for name in ALL_COLUMNS:
        np.testing.assert_array_equal(getattr(auto, name), getattr(upright, name), err_msg=name)
    signal_only = anyppg.check_polarity(-ppg, fs, model="none")
    assert signal_only.polarity == "normal" and np.isnan(signal_only.quality_head_gain)
    assert signal_only.quality_gain > 0.05  # the index alone would turn it; alone it is not trusted
    segments = -ppg[: 6 * 640].reshape(6, 640)  # a batch of 10 s segments, checked as a batch
    batch = analyze(segments, fs, model=model, polarity="auto")
    assert batch.polarity == "inverted" and batch.polarity_check.windows == 6 and len(batch) == 6
    with pytest.raises(ValueError, match="recording at hand"):
        Pipeline("dev", model, polarity="auto")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'auto'"):
        analyze(ppg, fs, model=model, polarity="sideways")  # type: ignore[arg-type]


def test_a_stream_says_when_its_pulse_looks_upside_down(model, caplog):
    """The pipeline reads its first windows turned over too, with check_polarity's reads and rule:
    the same numbers on the same recording; a warning names the polarity to declare."""
    fs = 50.0
    ppg = anyppg.simulate(130.0, ppg_rate=fs, heart_rate=66.0, hrv=0.02, seed=9).ppg.astype(np.float64)

    def stream(x: np.ndarray, polarity: str = "normal") -> Pipeline:
        pipe = Pipeline("dev", model, polarity=polarity)  # type: ignore[arg-type]
        for i in range(0, x.shape[0], 25):
            pipe.push(SampleBlock(i / fs, fs, x[i : i + 25]))
        pipe.flush()
        return pipe

    with caplog.at_level(logging.WARNING, logger="anyppg.sdk.pipeline"):
        raw_counts = stream(4e4 - 100 * ppg)
    check = raw_counts.polarity_check
    assert check is not None and check.polarity == "inverted" and check.windows == POLARITY_WATCH_WINDOWS
    want = anyppg.check_polarity(4e4 - 100 * ppg, fs, model=model)
    assert check.windows == want.windows
    assert check.quality_gain == pytest.approx(want.quality_gain, abs=1e-9)
    assert check.quality_head_gain == pytest.approx(want.quality_head_gain, abs=1e-6)
    assert [r.getMessage() for r in caplog.records if "upside down as read" in r.getMessage()]
    assert "declare polarity='inverted'" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="anyppg.sdk.pipeline"):
        declared = stream(4e4 - 100 * ppg, "inverted")
        upright = stream(ppg)
    assert declared.polarity_check.polarity == upright.polarity_check.polarity == "normal"
    assert "upside down" not in caplog.text
    assert Pipeline("dev", None).polarity_check is None  # no model, no vote


def test_the_stream_summary_carries_the_polarity_check(tmp_path: Path, capsys, caplog):
    fs = 125.0
    ppg = anyppg.simulate(40.0, ppg_rate=fs, heart_rate=70.0, seed=2).ppg
    path = tmp_path / "raw_counts.npz"
    np.savez(path, ppg=5e4 - 200 * ppg, fs=fs)
    with caplog.at_level(logging.WARNING, logger="anyppg.sdk.pipeline"):
        assert main(["stream", f"replay:{path}", "--speed", "max", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (device,) = lines[-1]["devices"]
    check = device["polarity_check"]  # a 40 s stream: concluded at its end, on its 15 windows
    assert check["polarity"] == "inverted" and check["windows"] == 15 and check["quality_gain"] > 0.05
    assert "declare polarity='inverted'" in caplog.text


def test_analyze_command_chooses_polarity_and_says_why(tmp_path: Path, capsys):
    fs = 125.0
    ppg = anyppg.simulate(30.0, ppg_rate=fs, heart_rate=70.0, seed=2).ppg
    path = tmp_path / "raw_counts.npz"
    np.savez(path, ppg=5e4 - 200 * ppg, fs=fs)
    assert main(["analyze", str(path), "--json", "--polarity", "auto"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["polarity"] == "inverted" and report["polarity_check"]["polarity"] == "inverted"
    assert report["polarity_check"]["quality_gain"] > 0.05 and report["polarity_check"]["windows"] >= 5
    assert "polarity auto -> inverted" in captured.err


def test_devices_and_the_gateway_pass_polarity_to_their_pipelines(tmp_path: Path, model):
    """A real ``replay:`` of an inverted file, declared inverted through ``Device.infer`` and through a
    ``Gateway``, gives the model outputs of the upright file's stream."""
    import asyncio

    from anyppg.sdk.gateway import Gateway

    fs = 125.0
    ppg = anyppg.simulate(30.0, ppg_rate=fs, heart_rate=66.0, hrv=0.02, seed=8).ppg
    np.savez(tmp_path / "up.npz", ppg=ppg, fs=fs)
    np.savez(tmp_path / "down.npz", ppg=-ppg, fs=fs)

    async def alone(name: str, polarity: str) -> list:
        async with anyppg.connect(f"replay:{tmp_path / name}?speed=max") as device:
            return [r async for r in device.infer(model, motion_model=None, polarity=polarity)]

    async def gateway(name: str, polarity: str) -> list:
        url = f"replay:{tmp_path / name}?speed=max"
        async with Gateway([url], model, motion_model=None, polarity=polarity) as gw:
            assert gw.streams[0].pipeline.polarity == polarity
            return [r async for r in gw.results()]

    upright = asyncio.run(alone("up.npz", "normal"))
    for got in (asyncio.run(alone("down.npz", "inverted")), asyncio.run(gateway("down.npz", "inverted"))):
        assert len(got) == len(upright) >= 5
        for a, b in zip(got, upright, strict=True):
            np.testing.assert_array_equal(a.embedding, b.embedding)
            np.testing.assert_array_equal(a.window, b.window)
            fields = (
                "heart_rate",
                "heart_rate_model",
                "af_probability",
                "quality",
                "usable",
                "heart_rate_peaks",
            )
            assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
