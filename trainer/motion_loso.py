"""Leave-one-subject-out evaluation of the motion heart-rate model (TROIKA + BAMI-I).

For each of the 36 subjects (TROIKA 12, BAMI-I 24) a model is trained on the other 35
(:func:`anyppg.trainer.motion_model.train`) and scored on every reference window of the left-out
subject: per window (the channels' distributions averaged) and tracked (the causal
:class:`anyppg.signal.hr_belief.HeartRateBelief` over the recording's windows, reset per recording).
When a ``quantize`` callable is given (the CLI passes PT2E int8 from
:mod:`anyppg.quantization.motion_export`), the fold's int8 model is scored the same way.

The result (:func:`loso`) is a JSON-ready dict: per recording MAE (fp32 / int8, window / tracked),
per dataset means over recordings and over subjects, and per window ``[t_end_s, ref_bpm, bpm,
confidence, bpm_tracked, confidence_tracked]`` of the precision the files ship in (int8 when
available) so the SDK's fusion can be tabulated without rerunning the models.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
from torch import nn

from anyppg.signal.hr_belief import HeartRateBelief, hr_from_distribution
from anyppg.trainer.motion_data import MotionWindows
from anyppg.trainer.motion_model import (
    MotionHRNet,
    TrainConfig,
    count_parameters,
    predict_logits,
    train,
    window_distributions,
)

log = logging.getLogger(__name__)

Quantize = Callable[[nn.Module, np.ndarray], Callable[[np.ndarray], np.ndarray]]
"""(fp32 model, calibration inputs (N, 4, 64)) -> a function from inputs to int8 logits."""

CALIBRATION_INPUTS = 512
"""Training inputs (unstretched) used to calibrate a fold's int8 model."""


def track(t_end: np.ndarray, probs: np.ndarray, belief: HeartRateBelief | None = None) -> np.ndarray:
    """Tracked ``(bpm, confidence)`` per window of one recording, causally (windows in time order).

    Args:
        t_end: window end times (s), increasing.
        probs: the windows' distributions (W, 64).
        belief: the filter (default: :class:`HeartRateBelief` with its defaults); it is reset first.

    Returns:
        (W, 2) array of bpm and confidence.
    """
    belief = belief or HeartRateBelief()
    belief.reset()
    out = np.empty((len(t_end), 2))
    prev = None
    for i, (t, p) in enumerate(zip(t_end, probs, strict=True)):
        out[i] = belief.update(p, dt_s=0.0 if prev is None else float(t - prev))
        prev = t
    return out


def score_subject(
    w: MotionWindows, subject: str, predict: Callable[[np.ndarray], np.ndarray]
) -> dict[str, Any]:
    """Per recording of ``subject``: windows' estimates, tracked estimates and MAEs (bpm).

    Returns:
        ``{record: {"mae_window", "mae_tracked", "windows": (W, 6) array}}``.
    """
    idx = np.flatnonzero((w.subject[w.window] == subject) & (w.stretch == 1.0))
    ids, probs = window_distributions(w, idx, predict(w.x[idx]))
    out: dict[str, Any] = {}
    for record in dict.fromkeys(w.record[ids].tolist()):
        sel = w.record[ids] == record
        t_end, ref = w.t_end[ids[sel]], w.ref_bpm[ids[sel]]
        single = np.array([hr_from_distribution(p) for p in probs[sel]])
        tracked = track(t_end, probs[sel])
        out[record] = {
            "mae_window": float(np.mean(np.abs(single[:, 0] - ref))),
            "mae_tracked": float(np.mean(np.abs(tracked[:, 0] - ref))),
            "windows": np.column_stack([t_end, ref, single, tracked]),
        }
    return out


def _summary(records: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
    """Mean MAE per dataset over recordings and over subjects (a subject's recordings averaged)."""
    out: dict[str, Any] = {}
    for ds in sorted({r["dataset"] for r in records.values()}):
        rows = [r for r in records.values() if r["dataset"] == ds and key in r]
        if not rows:
            continue
        per_subject: dict[str, list[float]] = {}
        for r in rows:
            per_subject.setdefault(r["subject"], []).append(r[key])
        out[ds] = {
            "recordings": len(rows),
            "subjects": len(per_subject),
            "mean_over_recordings": float(np.mean([r[key] for r in rows])),
            "mean_over_subjects": float(np.mean([np.mean(v) for v in per_subject.values()])),
            "worst_recording": max(rows, key=lambda r: r[key])["record"],
            "worst_mae": float(max(r[key] for r in rows)),
        }
    return out


def loso(
    w: MotionWindows,
    cfg: TrainConfig,
    *,
    subjects: list[str] | None = None,
    quantize: Quantize | None = None,
    wall_cap_s: float | None = None,
) -> dict[str, Any]:
    """Leave-one-subject-out training and scoring (see the module docstring).

    Args:
        w: the window cache.
        cfg: training configuration of every fold.
        subjects: the subjects to leave out in turn (default: all of them; training always uses all
            the others).
        quantize: makes a fold's int8 predictor (None: fp32 only).
        wall_cap_s: total wall-clock cap (s); folds not started by then are skipped (and listed).

    Returns:
        A JSON-ready dict (numpy arrays as nested lists; see :func:`to_json_ready`).
    """
    t0 = time.monotonic()
    deadline = None if wall_cap_s is None else t0 + wall_cap_s
    everyone = w.subjects
    todo = subjects or everyone
    records: dict[str, dict[str, Any]] = {}
    folds = []
    skipped = []
    for n, subject in enumerate(todo):
        if deadline is not None and time.monotonic() > deadline:
            skipped.append(subject)
            continue
        model, info = train(w, [s for s in everyone if s != subject], cfg)
        fp32 = score_subject(w, subject, lambda x, m=model: predict_logits(m, x))
        q8 = None
        if quantize is not None:
            rng = np.random.default_rng(cfg.seed)
            pool = np.flatnonzero((w.subject[w.window] != subject) & (w.stretch == 1.0))
            q8 = score_subject(
                w, subject, quantize(model, w.x[rng.choice(pool, CALIBRATION_INPUTS, replace=False)])
            )
        for record, r in fp32.items():
            row = {
                "dataset": subject.split("/")[0],
                "subject": subject,
                "record": record,
                "fp32_mae_window": r["mae_window"],
                "fp32_mae_tracked": r["mae_tracked"],
                "windows": (q8 or fp32)[record]["windows"],
            }
            if q8 is not None:
                row["int8_mae_window"] = q8[record]["mae_window"]
                row["int8_mae_tracked"] = q8[record]["mae_tracked"]
            records[record] = row
        folds.append(
            {"subject": subject, "kept_epoch": info["kept_epoch"], "wall_s": round(info["wall_s"], 1)}
        )
        log.info(
            "fold %d/%d %s: %s (%.0f s)", n + 1, len(todo), subject,
            ", ".join(f"{k} fp32 {r['fp32_mae_window']:.2f}/{r['fp32_mae_tracked']:.2f}"
                      + (f" int8 {r['int8_mae_window']:.2f}/{r['int8_mae_tracked']:.2f}" if q8 else "")
                      for k, r in records.items() if r["subject"] == subject),
            time.monotonic() - t0,
        )  # fmt: skip
    keys = [k for k in ("fp32_mae_window", "fp32_mae_tracked", "int8_mae_window", "int8_mae_tracked")]
    return {
        "what": "leave-one-subject-out heart-rate MAE (bpm) of the learned PPG+ACC motion model",
        "config": asdict(cfg),
        "parameters": count_parameters(MotionHRNet(width=cfg.width)),
        "summary": {k: _summary(records, k) for k in keys},
        "records": records,
        "folds": folds,
        "skipped_subjects": skipped,
        "wall_s": round(time.monotonic() - t0, 1),
        "machine": f"{platform.machine()} {platform.system()}, 1 torch thread",
        "window_columns": ["t_end_s", "ref_bpm", "bpm", "confidence", "bpm_tracked", "confidence_tracked"],
    }


def to_json_ready(obj: Any, decimals: int = 2) -> Any:
    """Nested dicts / lists with numpy arrays and floats rounded to ``decimals``."""
    if isinstance(obj, dict):
        return {k: to_json_ready(v, decimals) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_json_ready(v, decimals) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_json_ready(np.round(obj.astype(np.float64), decimals).tolist(), decimals)
    if isinstance(obj, float | np.floating):
        return round(float(obj), decimals + 2) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def markdown(result: dict[str, Any], command: str) -> str:
    """The LOSO result as a markdown report (summary table, then per recording)."""
    s = result["summary"]
    has_q8 = bool(s.get("int8_mae_window"))
    lines = [
        "# Learned motion heart-rate model: leave-one-subject-out",
        "",
        f"`{command}` ({result['wall_s']:.0f} s wall"
        + (f" summed over {result['parts']} parts" if result.get("parts") else "")
        + f", {result['machine']}; {result['parameters']} parameters).",
        "MAE in bpm against the ECG reference, 8-s windows with a 2-s step. *window*: each window alone;",
        "*tracked*: the causal belief filter over the recording's windows (`anyppg.signal.hr_belief`).",
        "int8: PT2E static int8 (XNNPACK quantizer), simulated in torch, calibrated per fold."
        if has_q8
        else "",
        "",
        "| dataset | recordings | subjects | fp32 window | fp32 tracked |"
        + (" int8 window | int8 tracked |" if has_q8 else ""),
        "|---|---|---|---|---|" + ("---|---|" if has_q8 else ""),
    ]
    for ds, row in s["fp32_mae_window"].items():
        cells = [ds, str(row["recordings"]), str(row["subjects"])]
        keys = ["fp32_mae_window", "fp32_mae_tracked"] + (
            ["int8_mae_window", "int8_mae_tracked"] if has_q8 else []
        )
        cells += [f"{s[k][ds]['mean_over_recordings']:.2f}" for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Means are over recordings (TROIKA: 13 recordings of 12 subjects; BAMI-I: 24 subjects).",
        "",
    ]
    lines += [
        "| recording | subject | fp32 window | fp32 tracked |"
        + (" int8 window | int8 tracked |" if has_q8 else ""),
        "|---|---|---|---|" + ("---|---|" if has_q8 else ""),
    ]
    for rec, r in result["records"].items():
        keys = ["fp32_mae_window", "fp32_mae_tracked"] + (
            ["int8_mae_window", "int8_mae_tracked"] if has_q8 else []
        )
        lines.append(f"| {rec} | {r['subject']} | " + " | ".join(f"{r[k]:.2f}" for k in keys) + " |")
    if result["skipped_subjects"]:
        lines += ["", f"Skipped (wall-clock cap): {', '.join(result['skipped_subjects'])}."]
    return "\n".join(lines) + "\n"


def merge_results(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One LOSO result from runs over disjoint subject lists (as written by the CLI, JSON-loaded).

    A LOSO run may be split (``--subjects``) to fit wall-clock caps; every fold still trains on all
    the other subjects, so the parts merge exactly. The summary is recomputed from the records; a
    subject left out by a later part replaces the earlier one.

    Raises:
        ValueError: no parts, or parts with different training configurations.
    """
    if not parts:
        raise ValueError("nothing to merge")
    if any(p["config"] != parts[0]["config"] for p in parts):
        raise ValueError("LOSO parts were run with different training configurations")
    records: dict[str, dict[str, Any]] = {}
    folds: dict[str, Any] = {}
    for p in parts:
        records.update(p["records"])
        folds.update({f["subject"]: f for f in p["folds"]})
    records = dict(sorted(records.items()))
    done = set(folds)
    skipped = sorted({s for p in parts for s in p["skipped_subjects"]} - done)
    keys = [k for k in ("fp32_mae_window", "fp32_mae_tracked", "int8_mae_window", "int8_mae_tracked")]
    return {
        **parts[0],
        "summary": {k: _summary(records, k) for k in keys},
        "records": records,
        "folds": list(folds.values()),
        "skipped_subjects": skipped,
        "wall_s": round(sum(p["wall_s"] for p in parts), 1),
        "parts": len(parts),
    }
