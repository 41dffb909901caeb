"""Does the rhythm head read the rhythm or the pulse shape? Counterfactual segments from real beats.

AF is a rhythm: irregular beat timing. A head that learnt it from 22 patients may instead have learnt
what those patients' pulses look like (one BIDMC patient in a regular rhythm reads P(AF) 1.00 on every
window, docs/evaluation.md). This benchmark separates the two on the held-out Liu patients (the
model cards' list, as :mod:`bench_real` picks them): from each 10 s segment it takes one real beat
(trough to trough, the beat nearest the segment's median interval; :mod:`anyppg.signal.counterfactual`)
and builds

- **regular**: that beat repeated at the segment's median interval (no rhythm at all), and
- **irregular**: the same beat repeated at intervals drawn from 0.7-1.3 times the median (uniform,
  coefficient of variation 0.17: an AF-like ventricular rhythm), beats stretched linearly to fit,

then reads P(AF) (``anyppg.analyze`` of the segments, as a batch of strips) of each. Scores (AUROC with
95 % intervals over patients):

- ``original``: AF vs the five other rhythms on the segments themselves (``bench_real``'s number);
- ``shape only``: AF vs the others on the *regular* segments, where every segment has the same
  timing and only the beat's shape is left from its source: 0.5 for a head that reads rhythm alone;
- ``timing only``: irregular vs regular versions of the same beats (every segment both ways): 1.0 for a
  head that reads the rhythm, 0.5 for one blind to it;

and the mean P(AF) of each kind by source rhythm. Segments where fewer than four beats are found are
left out and counted.

The same on the held-out **clinical** patients (BIDMC, MIMIC-DB; no rhythm labels): a 10 s strip every
:data:`CLINICAL_STEP_S` of each recording (no missing sample in it), read as it is and as its regular
version: the share with P(AF) > 0.5 of each, and the patients whose regular strips read AF on at
least half of them. A regular strip read as AF is read so by its pulse shape alone.

Usage::

    python benchmarks/bench_rhythm_shape.py --data ../shared/data        # the shipped int8 files

Writes ``benchmarks/results/rhythm_shape.{json,md}``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_real import (
    pick_recordings,
    score,
    table_cell,
)
from results_io import held_out_models_main

import anyppg
from anyppg.signal.counterfactual import IRREGULAR_RANGE, rhythm_counterfactuals

log = logging.getLogger("bench_rhythm_shape")

CLINICAL_STEP_S = 60.0
"""One clinical strip every this many seconds of a recording (strips of one patient are alike)."""


def run(
    root: Path, models: list[Any], heldout: dict[str, set[int]], n_boot: int, seed: int
) -> dict[str, Any]:
    """The Liu patients in ``heldout`` (every one where it names none): each segment as it is, rebuilt
    regular and rebuilt irregular, scored as the module docstring says."""
    from anyppg import datasets
    from anyppg.datasets.rhythm import RHYTHM_CLASSES

    patients = datasets.read("liu", root)
    chosen, source = pick_recordings("liu", [(p.subject, p.record) for p in patients], heldout, None)
    rng = np.random.default_rng(seed)
    af_class = RHYTHM_CLASSES.index("AF")
    subj, label, kinds, skipped = [], [], {"original": [], "regular": [], "irregular": []}, 0
    rates = {p.fs for i, p in enumerate(patients) if i in chosen}
    if len(rates) != 1:
        raise SystemExit(f"the Liu segments come at {sorted(rates)} Hz; expected one rate")
    (fs,) = rates
    for index, p in enumerate(patients):
        if index not in chosen:
            continue
        for segment, y in zip(p.segments, p.labels, strict=True):
            made = rhythm_counterfactuals(np.asarray(segment, np.float64), p.fs, rng)
            if made is None:
                skipped += 1
                continue
            subj.append(p.subject)
            label.append(int(y))
            kinds["original"].append(segment)
            kinds["regular"].append(made[0])
            kinds["irregular"].append(made[1])
        log.info("liu %s: %d segments", p.subject, len(p.labels))
    s, y = np.asarray(subj, dtype=object), np.asarray(label)
    is_af = (y == af_class).astype(int)
    rows = []
    for m in models:
        p_af = {k: anyppg.analyze(np.stack(v), fs, model=m.model).af_probability for k, v in kinds.items()}
        both = np.concatenate([p_af["irregular"], p_af["regular"]])
        timing = np.concatenate([np.ones(len(y), int), np.zeros(len(y), int)])
        rows.append(
            {
                "model": m.label,
                "original": score("auroc", is_af, p_af["original"], s, n_boot=n_boot),
                "shape only": score("auroc", is_af, p_af["regular"], s, n_boot=n_boot),
                "timing only": score("auroc", timing, both, np.concatenate([s, s]), n_boot=n_boot),
                "mean_p_af": {
                    kind: {
                        "from AF": round(float(np.mean(p_af[kind][is_af == 1])), 3),
                        "from other rhythms": round(float(np.mean(p_af[kind][is_af == 0])), 3),
                    }
                    for kind in kinds
                },
            }
        )
    return {
        "segments": len(y),
        "af_segments": int(is_af.sum()),
        "skipped_segments": skipped,
        "subjects": sorted(set(subj)),
        "subject_source": source,
        "irregular_range": list(IRREGULAR_RANGE),
        "rows": rows,
    }


def run_clinical(root: Path, models: list[Any], heldout: dict[str, set[int]], seed: int) -> dict[str, Any]:
    """Per clinical dataset: the share of held-out strips with P(AF) > 0.5 as read and as their
    regular versions, and the patients whose regular strips read AF on at least half of them."""
    from bench_real import CLINICAL, held_out_recordings

    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for dataset in CLINICAL:
        subjects, strips, regular = [], [], []
        fs = None
        for subject, ppg, rate, _, _ in held_out_recordings(dataset, root, heldout):
            fs = rate if fs is None else fs
            if rate != fs:
                raise SystemExit(f"{dataset}: recordings at {fs:g} and {rate:g} Hz; expected one rate")
            n, step = round(10.0 * rate), round(CLINICAL_STEP_S * rate)
            for start in range(0, ppg.shape[1] - n + 1, step):
                strip = ppg[0, start : start + n]
                made = rhythm_counterfactuals(strip, rate, rng) if np.isfinite(strip).all() else None
                if made is not None:
                    subjects.append(subject)
                    strips.append(strip)
                    regular.append(made[0])
        if not strips:
            continue
        s = np.asarray(subjects, dtype=object)
        rows = []
        for m in models:
            as_read = anyppg.analyze(np.stack(strips), fs, model=m.model).af_probability > 0.5
            shaped = anyppg.analyze(np.stack(regular), fs, model=m.model).af_probability > 0.5
            by_patient = {p: float(shaped[s == p].mean()) for p in sorted(set(subjects))}
            rows.append(
                {
                    "model": m.label,
                    "af_as_read": round(float(as_read.mean()), 4),
                    "af_regular": round(float(shaped.mean()), 4),
                    "patients_af_by_shape": {p: round(v, 2) for p, v in by_patient.items() if v >= 0.5},
                }
            )
        out[dataset] = {"strips": len(strips), "patients": len(set(subjects)), "rows": rows}
    return out


def to_markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Rhythm head: rhythm or pulse shape?",
        "",
        f"`{result['command']}`: {result['seconds']:.0f} s on {result['machine']}. Held-out Liu patients "
        f"({', '.join(result['subjects'])}), {result['segments']} segments ({result['af_segments']} AF; "
        f"{result['skipped_segments']} left out, too few beats found). Regular: one real beat of each "
        "segment repeated at its median interval; irregular: the same beat at 0.7-1.3x that interval. "
        "AUROC [95 % CI over patients]; definitions in `benchmarks/bench_rhythm_shape.py`.",
        "",
        "| model | AF vs rest, original | AF vs rest, regular segments (shape only; 0.5 = reads no shape) "
        "| irregular vs regular, same beats (timing only; 1.0 = reads the rhythm) |",
        "|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['model']} | {table_cell(r['original'])} | {table_cell(r['shape only'])} | {table_cell(r['timing only'])} |"
        )
    lines += [
        "",
        "Mean P(AF) by source rhythm:",
        "",
        "| model | segments | from AF | from other rhythms |",
        "|---|---|---|---|",
    ]
    for r in result["rows"]:
        for kind, v in r["mean_p_af"].items():
            lines.append(f"| {r['model']} | {kind} | {v['from AF']:.3f} | {v['from other rhythms']:.3f} |")
    clinical = result.get("clinical") or {}
    if clinical:
        lines += [
            "",
            f"Held-out clinical patients (no rhythm labels): a 10 s strip every {CLINICAL_STEP_S:g} s, as read "
            "and rebuilt regular from one of its beats; share with P(AF) > 0.5, and the patients whose "
            "regular strips read AF on at least half of them (share):",
            "",
            "| dataset | model | strips (patients) | AF as read | AF on the regular strips | AF by shape alone |",
            "|---|---|---|---|---|---|",
        ]
        for name, block in clinical.items():
            for r in block["rows"]:
                who = ", ".join(f"{p} ({v:.2f})" for p, v in r["patients_af_by_shape"].items()) or "none"
                lines.append(
                    f"| {name} | {r['model']} | {block['strips']} ({block['patients']}) | {r['af_as_read']:.3f} "
                    f"| {r['af_regular']:.3f} | {who} |"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    def run_both(root: Path, models: list[Any], heldout: dict[str, set[int]], args: Any) -> dict[str, Any]:
        result = run(root, models, heldout, args.boot, args.seed)
        result["clinical"] = run_clinical(root, models, heldout, args.seed)
        return result

    def seed(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--seed", type=int, default=0, help="seed of the irregular intervals")

    return held_out_models_main(
        __doc__, "bench_rhythm_shape", "rhythm_shape", "liu_arrhythmia/", run_both, to_markdown, argv, seed
    )


if __name__ == "__main__":
    sys.exit(main())
