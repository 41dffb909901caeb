"""The learned motion model as users get it: ``--motion-model`` on ``anyppg stream`` / ``analyze``,
``Device.infer(motion_model=)``, ``anyppg.analyze(motion_model=)``; never run without an accelerometer.

Real files written here (a two-channel wrist recording with motion and an accelerometer from the
simulator, and the same PPG without one), the shipped int8 motion model on LiteRT, the real CLI.
With ``ANYPPG_DATA`` set, one TROIKA recording is streamed too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest

import anyppg
from anyppg.cli import main
from anyppg.errors import ModelLoadError
from anyppg.sdk.motion_runtime import MotionModel, default_motion_model_path, resolve_motion_model
from anyppg.sdk.pipeline import Pipeline
from anyppg.sdk.samples import SampleBlock
from anyppg.sdk.shipped import default_model_path

FS = 50.0
SECONDS = 36.0


def _wrist(path: Path, with_acc: bool = True) -> tuple[int, np.ndarray, np.ndarray]:
    """Write a 2-channel wrist recording (running-like motion at 0.6 g, HR 110) as a replay NPZ."""
    sim = anyppg.simulate(SECONDS, ppg_rate=FS, heart_rate=110.0, motion=0.6, motion_fraction=1.0, seed=11)
    rng = np.random.default_rng(3)
    ppg = np.column_stack([sim.ppg, 0.7 * sim.ppg + 0.1 * rng.normal(size=sim.ppg.shape[0])])
    acc = np.asarray(sim.acc, dtype=np.float64)
    acc = acc if acc.shape[-1] == 3 else acc.T
    if with_acc:
        np.savez(path, ppg=ppg, acc=acc, fs=FS)
    else:
        np.savez(path, ppg=ppg, fs=FS)
    return ppg.shape[0], ppg, acc


def _stream(capsys, path: Path, *options: str) -> tuple[list[dict], dict]:
    code = main(["stream", f"replay:{path}", "--speed", "max", "--model", "none", "--json", *options])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["type"] == "summary" and all(x["type"] == "result" for x in lines[:-1])
    return lines[:-1], lines[-1]


def test_stream_runs_the_shipped_motion_model_on_a_wrist_file_and_counts_exactly(capsys, tmp_path):
    path = tmp_path / "wrist.npz"
    n, _, _ = _wrist(path)
    auto, s_auto = _stream(capsys, path, "--motion-model", "auto")
    none, s_none = _stream(capsys, path, "--motion-model", "none")
    assert len(auto) == len(none) > 8
    # the model ran on every readable window and its estimate is listed as a source of heart_rate
    assert all(r["heart_rate_motion_model"] is not None for r in auto)
    assert all(60 < r["heart_rate_motion_model"] < 180 for r in auto)
    joined = [r for r in auto if "motion_model" in (r["heart_rate_sources"] or [])]
    assert joined, "the motion model never contributed to heart_rate"
    for r in joined:  # the fused rate lies between the tracker's value and the model's
        if r["heart_rate_tracker"] is None:  # no track yet: the model alone
            assert r["heart_rate_sources"] == ["motion_model"]
            assert r["heart_rate"] == r["heart_rate_motion_model"]
            continue
        lo, hi = sorted((r["heart_rate_tracker"], r["heart_rate_motion_model"]))
        assert lo - 0.01 <= r["heart_rate"] <= hi + 0.01
    device = s_auto["devices"][0]
    assert device["motion_model"] == "motion-hr_litert_q8.tflite" and device["motion_model_note"] is None
    assert device["motion_model_windows"] == s_auto["motion_model_windows"] == len(auto)
    assert sum(device["heart_rate_sources"].values()) == sum(r["heart_rate"] is not None for r in auto)
    # without it: no estimate, no such source, the tracker untouched, the same accounting
    assert all(r["heart_rate_motion_model"] is None for r in none)
    assert all("motion_model" not in (r["heart_rate_sources"] or []) for r in none)
    assert s_none["devices"][0]["motion_model"] is None and s_none["motion_model_windows"] == 0
    assert [r["heart_rate_tracker"] for r in auto] == [r["heart_rate_tracker"] for r in none]
    for s in (s_auto, s_none):
        assert s["received"] == n == s["delivered"] + s["dropped"] and s["dropped"] == 0
    assert [(r["received"], r["delivered"]) for r in auto] == [(r["received"], r["delivered"]) for r in none]


def test_a_stream_without_accelerometer_never_runs_it_and_says_so_once(capsys, tmp_path, caplog):
    path = tmp_path / "ppg_only.npz"
    n, ppg, _ = _wrist(path, with_acc=False)
    results, summary = _stream(capsys, path)  # --motion-model auto by default
    device = summary["devices"][0]
    assert all(r["heart_rate_motion_model"] is None for r in results) and len(results) > 8
    assert device["motion_model_windows"] == 0 and summary["received"] == n
    assert device["motion_model_note"] == "not run: the stream has no accelerometer"
    off, _ = _stream(capsys, path, "--motion-model", "none")  # the very same results
    assert [r["heart_rate"] for r in results] == [r["heart_rate"] for r in off]
    assert [r["heart_rate_sources"] for r in results] == [r["heart_rate_sources"] for r in off]
    assert main(["stream", f"replay:{path}", "--speed", "max", "--model", "none"]) == 0
    assert "motion model not run: the stream has no accelerometer" in capsys.readouterr().err
    # the pipeline itself: the model is never called, one log line for the whole stream
    model = MotionModel.load()
    calls = []
    real = model.distribution
    model.distribution = lambda *a: calls.append(1) or real(*a)  # type: ignore[method-assign]
    pipeline = Pipeline("no-acc", motion_model=model)
    with caplog.at_level(logging.INFO, logger="anyppg.sdk.pipeline"):
        out = [r for i in range(0, n, 12) for r in pipeline.push(SampleBlock(i / FS, FS, ppg[i : i + 12]))]
        out += pipeline.flush()
    assert not calls and pipeline.motion_model_windows == 0
    assert pipeline.motion_model_no_acc_windows == len(out) > 8
    said = [m for m in caplog.messages if "no accelerometer" in m]
    assert len(said) == 1


def test_a_bad_motion_model_path_is_one_line_naming_it(capsys, tmp_path):
    path = tmp_path / "wrist.npz"
    _wrist(path)
    missing = tmp_path / "nope.tflite"
    for command in (["stream", f"replay:{path}", "--speed", "max"], ["analyze", str(path)]):
        assert main([*command, "--model", "none", "--motion-model", str(missing)]) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and str(missing) in err and "does not exist" in err
    # an encoder student is a model, but not a motion model
    assert main(["analyze", str(path), "--model", "none", "--motion-model", str(default_model_path())]) == 1
    assert "a motion model takes (1, 4, 64)" in capsys.readouterr().err
    with pytest.raises(ModelLoadError, match=r"nope\.tflite"):
        anyppg.analyze(np.zeros(3000), FS, acc=np.zeros((3000, 3)), model="none", motion_model=missing)


def test_analyze_shows_the_sources_and_equals_the_stream(capsys, tmp_path):
    path = tmp_path / "wrist.npz"
    _, ppg, acc = _wrist(path)
    streamed, _ = _stream(capsys, path)
    a = anyppg.analyze(ppg[:, 0], FS, acc=acc, extra_channels=ppg[:, 1:].T, model="none")
    assert a.motion_model == "motion-hr_litert_q8.tflite" and len(a) == len(streamed)
    assert [round(float(v), 2) for v in a.heart_rate_motion_model] == [
        r["heart_rate_motion_model"] for r in streamed
    ]
    assert list(a.heart_rate_sources) == ["+".join(r["heart_rate_sources"]) for r in streamed]
    assert {"heart_rate_motion_model", "heart_rate_sources"} <= set(a.columns())
    off = anyppg.analyze(ppg[:, 0], FS, acc=acc, model="none", motion_model=None)
    assert off.motion_model == "none" and np.isnan(off.heart_rate_motion_model).all()
    assert set(off.heart_rate_sources) <= {"tracker", None}
    no_acc = anyppg.analyze(ppg[:, 0], FS, model="none")  # "auto": nothing to run it on
    assert no_acc.motion_model == "none" and np.isnan(no_acc.heart_rate_motion_model).all()
    assert main(["analyze", str(path), "--model", "none", "--csv"]) == 0
    header, first = capsys.readouterr().out.splitlines()[:2]
    row = dict(zip(header.split(","), first.split(","), strict=True))
    assert row["heart_rate_sources"] == a.heart_rate_sources[0]


def test_device_infer_takes_auto_none_a_path_or_a_loaded_model(tmp_path):
    path = tmp_path / "wrist.npz"
    _wrist(path)

    async def run(motion_model) -> list:
        async with anyppg.connect(f"replay:{path}?speed=max") as device:
            return [r async for r in device.infer(None, motion_model=motion_model)]

    auto = asyncio.run(run("auto"))
    by_path = asyncio.run(run(str(default_motion_model_path())))
    loaded = asyncio.run(run(MotionModel.load()))
    assert [r.heart_rate_motion_model for r in auto] == [r.heart_rate_motion_model for r in by_path]
    assert [r.heart_rate for r in auto] == [r.heart_rate for r in loaded]
    assert all(r.heart_rate_motion_model is not None for r in auto)
    off = asyncio.run(run(None))
    assert all(r.heart_rate_motion_model is None and r.heart_rate == r.heart_rate_tracker for r in off)


def test_auto_follows_the_runtime_of_the_model():
    pte = pytest.importorskip("executorch.runtime")
    assert pte is not None
    from anyppg.sdk.runtime import load_model

    student = load_model(default_model_path("pte"))
    motion = resolve_motion_model("auto", student)
    assert motion is not None and motion.model.backend == "executorch"
    assert resolve_motion_model("auto").model.backend == "litert"  # type: ignore[union-attr]
    assert resolve_motion_model("none") is None and resolve_motion_model(None) is None


@pytest.mark.skipif(not os.environ.get("ANYPPG_DATA"), reason="set ANYPPG_DATA to the data folder to run")
def test_troika_streamed_with_the_motion_model(capsys, tmp_path):
    """One real TROIKA recording (first 120 s), as a user would stream it: the model runs on every
    window and the reported heart rate stays close to the ECG (in-sample for the shipped model)."""
    from anyppg.datasets.wrist import read_troika

    root = Path(os.environ["ANYPPG_DATA"]) / "troika"
    if not root.is_dir():
        pytest.skip("troika is not in ANYPPG_DATA")
    rec = read_troika(root)[2]
    n = round(120 * rec.fs)
    path = tmp_path / f"{rec.record}.npz"
    np.savez(path, ppg=rec.ppg[:, :n], acc=rec.acc[:, :n], fs=rec.fs)
    results, summary = _stream(capsys, path)
    assert summary["received"] == n and summary["motion_model_windows"] == len(results)
    ref = {round(s + rec.ref_window_s, 3): b for s, b in zip(rec.ref_start_s, rec.ref_bpm, strict=True)}
    errors = [
        abs(r["heart_rate"] - ref[round(r["t_end"], 3)]) for r in results if round(r["t_end"], 3) in ref
    ]
    assert len(errors) > 40 and np.mean(errors) < 6


def test_a_gateway_runs_it_per_stream_only_where_there_is_an_accelerometer(capsys, tmp_path):
    wrist, ppg_only = tmp_path / "wrist.npz", tmp_path / "ppg_only.npz"
    n, _, _ = _wrist(wrist)
    _wrist(ppg_only, with_acc=False)
    urls = [f"replay:{wrist}", f"replay:{ppg_only}"]
    assert main(["stream", *urls, "--speed", "max", "--model", "none", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    summary = lines[-1]
    with_acc, without = summary["devices"]
    assert (
        with_acc["motion_model_windows"] == with_acc["windows"] > 8 and with_acc["motion_model_note"] is None
    )
    assert without["motion_model_windows"] == 0 and without["motion_model_note"].startswith("not run")
    assert summary["received"] == 2 * n == summary["delivered"] and summary["dropped"] == 0
    per_device = {d["device"]: d for d in summary["devices"]}
    for r in lines[:-1]:
        has = r["heart_rate_motion_model"] is not None
        assert has == (per_device[r["device"]] is with_acc)


def test_auto_without_the_shipped_file_streams_on_without_it(monkeypatch, caplog):
    """An installation that lacks the motion-model asset: "auto" warns once and runs without it; an
    explicit path would fail instead (above)."""
    from anyppg.sdk import motion_runtime

    monkeypatch.setattr(motion_runtime, "MOTION_MODELS", {"tflite": "absent.tflite", "pte": "absent.pte"})
    with caplog.at_level(logging.WARNING, logger="anyppg.sdk.motion_runtime"):
        assert resolve_motion_model("auto") is None
    assert any("absent.tflite" in m and "missing" in m for m in caplog.messages)
