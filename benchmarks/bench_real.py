"""Real-data benchmark: heart rate, AF and signal quality of the SDK and its models on real recordings.

For each dataset of the data folder (the converted public sets; see the folder's README.md) and each
method, one number with a 95 % confidence interval from a bootstrap over **subjects** (1,000
resamples of the subjects, windows of a drawn subject kept together; windows of one person are
correlated, so resampling windows would give falsely narrow intervals):

- **Heart rate**, MAE in bpm against the ECG (HUSM: annotated beats), per 10 s window of :func:`anyppg.analyze` (the
  stream's windows: every 2 s). BIDMC and MIMIC-DB (ICU finger PPG): the reference is
  :func:`anyppg.datasets.labels.window_labels`, ``60 / mean RR`` of the ECG R-peaks inside the
  window (the definition of the heads' training labels; :mod:`anyppg.datasets.clinical` detects the
  R-peaks, monitor numerics are not used), NaN where the beats span less than half the window.
  Each clinical table is given twice: on every window with a reference, and on the windows whose
  reference is **reliable** (:func:`anyppg.datasets.labels.reference_reliable`: a second,
  independent R-peak detector, NeuroKit2's, gives a rate within 5 bpm and a beat count within one of
  the reference's). The rule reads the ECG only, was fixed before any method was scored with it,
  and removes the same windows for every method. The two sets are also scored **pooled**
  (``clinical finger``, :data:`CLINICAL`: every window of both, subjects resampled across both), the
  population the model cards' ``clinical_finger`` heart rate and the targets speak of.
  TROIKA and BAMI-I (wrist PPG + accelerometer while running): the datasets' ECG heart rate per 8 s
  window (2 s step), averaged over the 8 s windows inside the 10 s window. HUSM (finger red + IR
  PPG at rest, on a treadmill and in recovery; healthy and COPD volunteers; **no model trained on
  it**): the rate of the dataset's annotated systolic peaks, by ``window_labels``'s definition; the
  model, the quality index and the labels read the infrared channel (a pulse oximeter's usual one),
  the trackers both. HUSM's sensor stores raw light counts, its pulse upside down; the reader reads
  that from the annotated peaks (``BeatRecording.polarity``), and every method here reads the
  recording turned upright, as ``polarity="inverted"`` turns it as it enters the SDK (read as
  stored, upside down, every model and the quality index do worse: docs/evaluation.md); so is
  BAMI-I, whose photodiode counts are stored upside down too (:class:`anyppg.datasets.wrist.WristRecording`
  ``.polarity``). Methods: the SDK's
  ``tracker`` (``heart_rate_tracker``), the ``motion tracker`` (:mod:`anyppg.signal.motion_hr` on
  every PPG channel and the accelerometer), the model's ``heart_rate`` head (every model file given,
  fp32 and int8), the reported (``fused``) ``heart_rate`` with each model, and **NeuroKit2** 0.3.0
  as an established peer (``ppg_clean`` + ``ppg_findpeaks``, Elgendi, on the same raw window:
  ``60 / mean`` beat interval). A method that gives no value for a window is scored on the windows
  it answers, and its ``coverage`` (answered / labelled windows) is reported beside it.
- **AF** (Liu et al. 2022, 10 s finger segments at 100 Hz, one row per segment): AUROC of the model's
  ``af_probability`` for AF against the five other rhythms, and six-class accuracy where the model
  has a rhythm head; the peer is the coefficient of variation of NeuroKit2's beat intervals. Per
  model also the share of AF segments and of the others called by P(AF) > 0.5 alone and by the SDK's
  ``af_alert`` (P(AF) > 0.5, a usable, still segment, irregular beats: :func:`anyppg.sdk.results.af_alert`).
- **False AF alarms** on the healthy wrist sets (TROIKA, BAMI-I): the share of the windows past the
  quality gate (``usable``) where the rhythm head gives P(AF) above 0.5. On the clinical sets, whose
  patients' rhythm is not labelled, the same share on the windows whose ECG rules AF out: every R-R
  interval within ±15 % of their median (:data:`REGULAR_ECG_WITHIN`) and the reference reliable (two
  R-peak detectors agree), a regular ventricular rhythm that AF's irregular one is not; on HUSM the
  same rule on its annotated beats. Each set's table also scores ``af_alert`` on the same windows.
- **Quality**: AUROC of the quality index (``quality``, signal processing) and of the model's quality
  head (``quality_model``) against windows labelled by ECG/PPG heart-rate agreement: usable when the
  PPG's beat rate is within 5 bpm of the ECG's, not usable at 15 bpm or more or with no PPG beats,
  left out in between. Two PPG sides: the SDK's peak detector, as in the heads' training labels
  (clinical sets and HUSM: ``window_labels`` on the whole recording, beat counts within one; wrist sets: the
  window's ``heart_rate_peaks``), and NeuroKit2's beat rate, a detector independent of the SDK's
  quality index (which shares the SDK's peak detector).

Subjects: the held-out records the model cards name (``held_out`` / ``heldout`` lists, matched by
record number; a MIMIC-DB patient ``mimicdb:gNNN`` is all of its records), else those of
``--heldout FILE.json`` (``{"bidmc": ["bidmc_04", ...], ...}``), else
every subject (the report then says so: numbers on subjects a model was trained on are optimistic).

Usage::

    python benchmarks/bench_real.py --data ../shared/data                 # the full run
    python benchmarks/bench_real.py --data ../shared/data --quick         # 6 subjects per set, 200 resamples
    python benchmarks/bench_real.py --data ../shared/data --rate 25       # as a 25 Hz wearable would send it
    python benchmarks/bench_real.py --data DIR --models a_q8.tflite a_fp32.tflite --datasets bidmc,liu

Writes ``benchmarks/results/real.json`` and ``benchmarks/results/real.md`` (``--out`` elsewhere).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import logging
import math
import platform
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import anyppg
from anyppg.sdk.analyze import MAX_FILL_S, Analysis, analyze, resolve_model
from anyppg.sdk.results import af_alert
from anyppg.signal.constants import WINDOW_S
from anyppg.signal.quality import USABLE_SQI
from anyppg.signal.runs import true_runs

log = logging.getLogger("bench_real")
RESULTS = Path(__file__).resolve().parent / "results"
ASSETS = Path(anyppg.__file__).resolve().parent / "assets"

HR_DATASETS = ("bidmc", "mimicdb", "troika", "bami", "husm")
# What each heart-rate set's reference is (the tables' headings).
REFERENCE = {"husm": "annotated PPG beats"}
#: how each set's reference is judged reliable (the rule reads the reference only).
RELIABLE_RULE = {
    "ecg": "anyppg.datasets.labels.reference_reliable: NeuroKit2's R-peaks give a rate within 5 bpm and a "
    "beat count within one of the reference R-peaks'",
    "husm": "anyppg.datasets.labels.annotation_regular: every annotated interval in the window within "
    "0.6-1.6 times their median (no skipped or extra beat in the annotation)",
}
# HUSM's phases, in table order (a window's ``phase`` column is the index).
PHASES = ("rest", "balke", "recovery")
CLINICAL = ("bidmc", "mimicdb")
"""The ICU finger-PPG sets, also scored pooled as ``clinical finger``."""
POOLED_NAME = "clinical finger (bidmc + mimicdb)"
ALL_DATASETS = (*HR_DATASETS, "liu")
REGULAR_ECG_WITHIN = (0.85, 1.15)
"""A clinical window's ECG rules AF out when every R-R interval in it is within these times their
median (``anyppg.datasets.labels.annotation_regular`` on the R-peaks) and its reference is reliable:
AF's ventricular rhythm is irregular (its R-R intervals vary by 15-30 %), so the rhythm head's AF calls
there are false alarms. Which rhythm such a window is (sinus, flutter with fixed conduction, paced)
is not known."""
FALSE_ALARM_WINDOWS = {
    "troika": "healthy people (no AF)",
    "bami": "healthy people (no AF)",
    "clinical": "windows whose ECG rules AF out (every R-R interval within 15 % of their median, "
    "two R-peak detectors agreeing)",
    "husm": "windows whose annotated beats rule AF out (every interval within 15 % of their median)",
}
QUICK_SUBJECTS = 6
#: quality labels from ECG/PPG heart-rate agreement (bpm), as ``anyppg.datasets.labels``: usable
#: within, not usable from.
AGREE_BPM, DISAGREE_BPM = 5.0, 15.0


# --- metrics (tested on synthetic numbers in tests/test_bench_real.py) ---------------------------------


def mae(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Mean absolute error (same units as the inputs); NaN for no pairs."""
    if len(reference) == 0:
        return float("nan")
    return float(np.mean(np.abs(np.asarray(estimate, float) - np.asarray(reference, float))))


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U; ties count half); NaN unless both classes are present."""
    from scipy.stats import rankdata

    y = np.asarray(labels) == 1
    n_pos = int(y.sum())
    n_neg = y.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of equal entries; NaN for none."""
    return float(np.mean(np.asarray(labels) == np.asarray(predicted))) if len(labels) else float("nan")


def false_alarm_rate(_labels: np.ndarray, af_probability: np.ndarray) -> float:
    """Share of windows with P(AF) above 0.5 where no window is AF (healthy people); NaN for none."""
    p = np.asarray(af_probability, dtype=np.float64)
    return float(np.mean(p > 0.5)) if len(p) else float("nan")


def mae_by_subject(
    reference: np.ndarray, estimate: np.ndarray, subjects: np.ndarray
) -> dict[str, float | None]:
    """MAE per subject over the windows with both values (what drives a pooled MAE), bpm."""
    ok = np.isfinite(reference) & np.isfinite(estimate)
    return {
        str(name): _r(mae(reference[ok & (subjects == name)], estimate[ok & (subjects == name)]), 2)
        for name in np.unique(subjects)
    }


def subject_bootstrap(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y: np.ndarray,
    p: np.ndarray,
    subjects: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric(y, p)`` resampling whole subjects with replacement.

    Draws where the metric is undefined (AUROC with one class) are left out; with fewer than two
    subjects the interval is ``(nan, nan)``: one person says nothing about the next.
    """
    uniq, inverse = np.unique(np.asarray(subjects), return_inverse=True)
    if uniq.shape[0] < 2:
        return float("nan"), float("nan")
    members = [np.flatnonzero(inverse == g) for g in range(uniq.shape[0])]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        idx = np.concatenate([members[g] for g in rng.integers(0, uniq.shape[0], uniq.shape[0])])
        v = metric(y[idx], p[idx])
        if math.isfinite(v):
            values.append(v)
    if not values:
        return float("nan"), float("nan")
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def score(
    metric_name: str,
    y: np.ndarray,
    p: np.ndarray,
    subjects: np.ndarray,
    *,
    labelled: int | None = None,
    n_boot: int = 1000,
) -> dict[str, Any]:
    """One table cell: the metric on the pairs where ``p`` is finite, its subject-bootstrap CI, counts.

    Args:
        metric_name: ``mae_bpm``, ``auroc``, ``accuracy`` or ``false_alarm`` (:func:`false_alarm_rate`).
        y, p: reference and estimate per window (``p`` NaN where the method gave no value).
        subjects: the subject of each window.
        labelled: windows with a reference (the denominator of ``coverage``; default ``len(y)``).
        n_boot: bootstrap resamples.
    """
    fn = {"mae_bpm": mae, "auroc": auroc, "accuracy": accuracy, "false_alarm": false_alarm_rate}[metric_name]
    y, p, subjects = np.asarray(y), np.asarray(p), np.asarray(subjects)
    ok = np.isfinite(p.astype(np.float64)) if p.dtype.kind == "f" else np.ones(p.shape[0], bool)
    value = fn(y[ok], p[ok])
    lo, hi = subject_bootstrap(fn, y[ok], p[ok], subjects[ok], n_boot=n_boot)
    total = len(y) if labelled is None else labelled
    return {
        "metric": metric_name,
        "value": _r(value),
        "ci": [_r(lo), _r(hi)],
        "windows": int(ok.sum()),
        "subjects": int(np.unique(subjects[ok]).shape[0]),
        "coverage": _r(float(ok.sum()) / total if total else float("nan")),
    }


def _r(x: float, nd: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


# --- references ----------------------------------------------------------------------------------


def reference_window_hr(
    ref_start_s: np.ndarray, ref_bpm: np.ndarray, ref_window_s: float, t_start: np.ndarray, t_end: np.ndarray
) -> np.ndarray:
    """Mean of the reference heart rates whose windows lie inside ``[t_start, t_end)``, bpm (NaN: none)."""
    starts = np.asarray(ref_start_s, dtype=np.float64)
    bpm = np.asarray(ref_bpm, dtype=np.float64)
    out = np.full(len(t_start), np.nan)
    for i, (a, b) in enumerate(zip(t_start, t_end, strict=True)):
        inside = (starts >= a - 1e-6) & (starts + ref_window_s <= b + 1e-6) & np.isfinite(bpm)
        if inside.any():
            out[i] = float(bpm[inside].mean())
    return out


def quality_labels(ppg_hr: np.ndarray, ecg_hr: np.ndarray) -> np.ndarray:
    """1 (usable) where the PPG beat-interval rate is within :data:`AGREE_BPM` of the ECG's, 0 where it
    is :data:`DISAGREE_BPM` or more away or missing, -1 (left out) in between or without an ECG rate."""
    d = np.abs(np.asarray(ppg_hr, float) - np.asarray(ecg_hr, float))
    out = np.full(d.shape[0], -1, dtype=np.int8)
    has_ecg = np.isfinite(ecg_hr)
    out[has_ecg & (d <= AGREE_BPM)] = 1
    out[has_ecg & ((d >= DISAGREE_BPM) | ~np.isfinite(ppg_hr))] = 0
    return out


def neurokit_intervals(x: np.ndarray, fs: float) -> np.ndarray | None:
    """Beat intervals (s) NeuroKit2 finds in one raw PPG window (``ppg_clean`` + ``ppg_findpeaks``,
    Elgendi); None when it finds fewer than 3 beats or cannot read the window."""
    import neurokit2 as nk

    if x.shape[0] < fs * 5 or not np.isfinite(x).all() or np.ptp(x) == 0:
        return None
    try:
        peaks = nk.ppg_findpeaks(nk.ppg_clean(x, sampling_rate=fs), sampling_rate=fs)["PPG_Peaks"]
    except (ValueError, IndexError, ZeroDivisionError):  # what neurokit raises on odd windows
        return None
    return np.diff(np.asarray(peaks, dtype=np.float64)) / fs if len(peaks) >= 3 else None


def neurokit_window_hr(ppg: np.ndarray, fs: float, t_start: np.ndarray, t_end: np.ndarray) -> np.ndarray:
    """NeuroKit2's heart rate per window of the raw PPG: ``60 / mean`` beat interval, bpm (NaN: none)."""
    out = np.full(len(t_start), np.nan)
    for i, (a, b) in enumerate(zip(t_start, t_end, strict=True)):
        rr = neurokit_intervals(ppg[max(0, round(a * fs)) : round(b * fs)], fs)
        if rr is not None:
            out[i] = 60.0 / float(rr.mean())
    return out


def neurokit_irregularity(segments: np.ndarray, fs: float) -> np.ndarray:
    """A classical AF score per segment: coefficient of variation of NeuroKit2's beat intervals."""
    out = np.full(segments.shape[0], np.nan)
    for i, x in enumerate(segments):
        rr = neurokit_intervals(x, fs)
        if rr is not None:
            out[i] = float(rr.std() / rr.mean())
    return out


# --- models and subjects ---------------------------------------------------------------------------


@dataclass
class ModelSpec:
    """A model file under test: ``label`` (name and precision), its path and the loaded model."""

    label: str
    path: Path
    model: Any
    card: dict[str, Any] = field(default_factory=dict)


def default_model_paths() -> list[Path]:
    """The shipped students, one file each (``student-s``, ``student-xs``, ...): the LiteRT
    ``.tflite`` where there is one, else the ExecuTorch ``.pte`` (the same weights either way)."""
    chosen: dict[tuple[str, str], Path] = {}
    for path in sorted(ASSETS.glob("student-*_*.*")):
        if path.suffix not in (".tflite", ".pte"):
            continue
        name, _, rest = path.stem.partition("_")
        key = (name, rest.rsplit("_", 1)[-1])  # (student, precision)
        if key not in chosen or path.suffix == ".tflite":
            chosen[key] = path
    return [chosen[k] for k in sorted(chosen)]


def load_models(paths: Sequence[str | Path]) -> list[ModelSpec]:
    """Load each model file once (one thread), labelled ``<card name> <precision>``."""
    out = []
    for p in paths:
        path = Path(p)
        model = resolve_model(str(path))
        card_path = path.with_suffix(".json")
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        precision = {"q8": "int8"}.get(str(card.get("precision", "")), str(card.get("precision", "?")))
        out.append(ModelSpec(f"{card.get('name', path.stem)} {precision}", path, model, card))
    return out


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_DATASET_PREFIX = re.compile(
    r"^(liu_arrhythmia|liu|bidmc|mimicdb|mimic|troika|bami1|bami|husm)[_:/ -]?", re.IGNORECASE
)


def _dataset_key(name: str) -> str:
    n = _norm(name)
    return {"bami1": "bami", "mimic": "mimicdb", "liuarrhythmia": "liu"}.get(n, n)


def _split(entry: str) -> tuple[str | None, str]:
    """``"bidmc:04"`` / ``"bidmc/bidmc_04"`` -> ``("bidmc", "bidmc_04")``; a bare name has no dataset."""
    for sep in (":", "/"):
        if sep in entry:
            head, _, tail = entry.rpartition(sep)
            return _dataset_key(head.split(sep)[0]), tail
    return None, entry


def _held_number(name: str) -> int | None:
    """The record number a name holds: the first number after its dataset prefix (``bidmc_04`` -> 4,
    ``DATA_03_TYPE02`` -> 3, ``S05`` -> 5). Every dataset here numbers its records, so numbers match
    names across the readers' and the cards' spellings."""
    found = re.findall(r"\d+", _DATASET_PREFIX.sub("", name.strip()))
    return int(found[0]) if found else None


def heldout_from_cards(cards: Iterable[dict[str, Any]]) -> dict[str, set[int]]:
    """Held-out subjects the model cards name, as ``{dataset: {record number}}`` (empty: none named).

    Any object under a key containing ``held`` (``held_out``, ``heldout``) is read: a mapping of
    dataset -> subjects (a list, or ``{"test": [...]}``), or a ``subjects`` list of
    ``dataset:subject`` / ``dataset/subject`` strings.
    """
    found: dict[str, set[int]] = {}

    def add(dataset: str, subjects: Any) -> None:
        if isinstance(subjects, dict):
            subjects = subjects.get("test", subjects.get("subjects", []))
        if isinstance(subjects, list | tuple):
            numbers = {_held_number(_split(str(x))[1]) for x in subjects}
            found.setdefault(_dataset_key(dataset), set()).update(n for n in numbers if n is not None)

    def visit(node: Any, held: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                inside = held or "held" in str(key).lower()
                if inside and _dataset_key(str(key)) in ALL_DATASETS:
                    add(str(key), value)
                elif inside and key == "subjects" and isinstance(value, list | tuple):
                    for x in value:
                        dataset, name = _split(str(x))
                        if dataset in ALL_DATASETS:
                            add(dataset, [name])
                else:
                    visit(value, inside)
        elif isinstance(node, list):
            for value in node:
                visit(value, held)

    for card in cards:
        visit(card, False)
    return found


def trained_on(cards: Iterable[dict[str, Any]]) -> set[str]:
    """The datasets any model card lists under ``training_data`` (training and validation alike)."""
    found: set[str] = set()
    for card in cards:
        for part in (card.get("training_data") or {}).values():
            if isinstance(part, dict):
                found.update(_dataset_key(str(k)) for k in part)
    return found


def pick_recordings(
    dataset: str, recordings: Sequence[tuple[str, str]], heldout: dict[str, set[int]], limit: int | None
) -> tuple[list[int], str]:
    """Which ``(subject, record)`` recordings to evaluate, and where the choice came from.

    ``held-out`` when the cards name the dataset: the recordings whose record number is held out
    (``mimicdb_209`` -> 209, ``DATA_03_TYPE02`` -> 3, ``MPA_181220181216``); only those, not the rest
    of their subject's records, which a split by record may have trained on. A MIMIC-DB patient
    named by its group (``mimicdb:g208``, a split by patient) holds all of its records. Else ``all``.
    ``limit`` keeps the recordings of the first ``limit`` subjects (sorted).
    """
    chosen = heldout.get(dataset)
    if chosen:
        keep = [
            i
            for i, (subject, record) in enumerate(recordings)
            if _held_number(record) in chosen
            or (dataset == "mimicdb" and re.search(r":g\d+$", subject) and _held_number(subject) in chosen)
        ]
        source = "held-out"
    else:
        keep, source = list(range(len(recordings))), "all"
    if limit:
        first = set(sorted({recordings[i][0] for i in keep})[:limit])
        keep = [i for i in keep if recordings[i][0] in first]
    return keep, source


# --- running the SDK over the datasets -------------------------------------------------------------


def finite_parts(ppg: np.ndarray, fs: float) -> list[tuple[int, int]]:
    """``(start, stop)`` sample ranges between runs of missing samples longer than the SDK bridges."""
    cuts = [
        (int(s), int(e))
        for s, e in zip(*true_runs(~np.isfinite(ppg)), strict=True)
        if (e - s) / fs > MAX_FILL_S
    ]
    parts, start = [], 0
    for s, e in cuts:
        if s > start:
            parts.append((start, s))
        start = e
    if start < ppg.shape[0]:
        parts.append((start, ppg.shape[0]))
    return [(a, b) for a, b in parts if (b - a) / fs >= 13.0]


def at_rate(x: np.ndarray, fs: float, rate: float | None) -> np.ndarray:
    """``x`` (samples on the last axis) as a device sampling at ``rate`` would have sent it: each
    stretch without a missing sample resampled on its own (``scipy.signal.resample_poly``, whose
    filter would smear NaN across a gap), the gaps kept as NaN at their new times. ``rate`` None or
    ``fs``: ``x`` itself."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    if rate is None or rate == fs:
        return x
    ratio = Fraction(rate / fs).limit_denominator(1000)
    finite = np.isfinite(x).all(axis=tuple(range(x.ndim - 1)))
    out = np.full((*x.shape[:-1], round(x.shape[-1] * rate / fs)), np.nan)
    for a, b in zip(*true_runs(finite), strict=True):
        if (b - a) * ratio < 8:  # too short to resample: left as a gap
            continue
        y = resample_poly(x[..., a:b], ratio.numerator, ratio.denominator, axis=-1)
        start = round(a * rate / fs)
        n = min(y.shape[-1], out.shape[-1] - start)
        out[..., start : start + n] = y[..., :n]
    return out


_COLUMNS = (
    "t_start",
    "t_end",
    "heart_rate",
    "heart_rate_tracker",
    "heart_rate_model",
    "heart_rate_peaks",
    "quality",
    "usable",
    "clipped",
    "quality_model",
    "af_probability",
    "beat_regularity",
    "motion",
)


def analyze_recording(
    ppg: np.ndarray, fs: float, acc: np.ndarray | None, model: Any
) -> dict[str, np.ndarray]:
    """:func:`anyppg.analyze` of a ``(channels, n)`` recording (channel 0 for the model, every channel
    for the motion tracker) over its parts between long gaps; times from its start."""
    cols: dict[str, list[np.ndarray]] = {c: [] for c in _COLUMNS}
    for a, b in finite_parts(ppg[0], fs):
        part: Analysis = analyze(
            ppg[0, a:b],
            fs,
            acc=None if acc is None else acc[a:b],
            model=model,
            extra_channels=ppg[1:, a:b] if ppg.shape[0] > 1 else None,
        )
        for c in _COLUMNS:
            v = getattr(part, c)
            cols[c].append(v + a / fs if c in ("t_start", "t_end") else v)
    return {c: np.concatenate(v) if v else np.empty(0) for c, v in cols.items()}


@dataclass
class Windows:
    """The windows of one dataset: per window its subject, reference and every method's values."""

    subject: list[np.ndarray] = field(default_factory=list)
    reference: list[np.ndarray] = field(default_factory=list)
    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, subject: str, reference: np.ndarray, values: dict[str, np.ndarray]) -> None:
        self.subject.append(np.full(reference.shape[0], subject, dtype=object))
        self.reference.append(reference)
        for k, v in values.items():
            self.columns.setdefault(k, []).append(v)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """``(subject, reference, {method: values})``, one entry per window of the dataset."""
        return _cat(self.subject), _cat(self.reference), {k: _cat(v) for k, v in self.columns.items()}


def pooled(parts: Sequence[Windows]) -> Windows:
    """The windows of several datasets as one set (subject names carry their dataset, so they stay
    apart in the bootstrap); a method is kept only where every part has it."""
    keys = [k for k in parts[0].columns if all(k in w.columns for w in parts)] if parts else []
    out = Windows()
    for w in parts:
        out.subject += w.subject
        out.reference += w.reference
        for k in keys:
            out.columns.setdefault(k, []).extend(w.columns[k])
    return out


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0)


def dataset_recordings(
    dataset: str, root: Path, rate: float | None = None
) -> list[tuple[str, np.ndarray, float, np.ndarray | None, Any]]:
    """``(subject, ppg (channels, n), fs, acc (n, 3) or None, the reader's record)`` per recording;
    with ``rate``, the PPG and accelerometer resampled to it (:func:`at_rate`) and ``fs`` that rate."""
    from anyppg import datasets

    if rate is not None:
        return [
            (subject, at_rate(ppg, fs, rate), rate, None if acc is None else at_rate(acc.T, fs, rate).T, rec)
            for subject, ppg, fs, acc, rec in dataset_recordings(dataset, root)
        ]
    out = []
    for rec in datasets.read(dataset, root):
        # upright, as the SDK turns a sensor declared inverted (HUSM's and BAMI-I's raw counts)
        sign = -1.0 if getattr(rec, "polarity", "normal") == "inverted" else 1.0
        if dataset in ("bidmc", "mimicdb"):
            out.append((rec.subject, np.asarray(rec.ppg, float)[None, :], float(rec.ppg_fs), None, rec))
        elif dataset == "husm":  # infrared first: what the model and the labels read
            ir_first = [rec.channels.index("ir"), rec.channels.index("red")]
            out.append((rec.subject, sign * np.asarray(rec.ppg, float)[ir_first], float(rec.fs), None, rec))
        else:
            ppg = sign * np.asarray(rec.ppg, float)
            out.append(
                (
                    rec.subject,
                    ppg.reshape(-1, ppg.shape[-1]),
                    float(rec.fs),
                    np.asarray(rec.acc, float).T,
                    rec,
                )
            )
    return out


def held_out_recordings(
    dataset: str, root: Path, heldout: dict[str, set[int]]
) -> list[tuple[str, np.ndarray, float, np.ndarray | None, Any]]:
    """The :func:`dataset_recordings` of ``dataset`` that ``heldout`` picks (:func:`pick_recordings`);
    none when the data folder lacks the dataset (logged)."""
    from anyppg.errors import DataFormatError

    try:
        recs = dataset_recordings(dataset, root)
    except DataFormatError as exc:  # not in this data folder
        log.info("%s skipped: %s", dataset, exc)
        return []
    chosen, _ = pick_recordings(dataset, [(r[0], r[4].record) for r in recs], heldout, None)
    return [recs[i] for i in chosen]


def motion_tracker_hr(ppg: np.ndarray, fs: float, acc: np.ndarray | None, t_end: np.ndarray) -> np.ndarray:
    """:class:`anyppg.signal.motion_hr.MotionHeartRateTracker` over every PPG channel and the
    accelerometer, as a stream runs it (a window every 2 s, each part between long gaps on its own);
    its value at each analysis window's end, bpm (NaN: no window ends there)."""
    from anyppg.signal.motion_hr import track_heart_rate

    out = np.full(t_end.shape[0], np.nan)
    ends_ms = np.round(t_end * 1000).astype(np.int64)
    for a, b in finite_parts(ppg[0], fs):
        x = ppg[:, a:b]
        if not np.isfinite(x).all():  # short holes: bridged as the SDK bridges them
            x = np.stack([_bridge_nan(c) for c in x])
        track = track_heart_rate(x, fs, None if acc is None else acc[a:b].T)
        at = {round((e + a / fs) * 1000): v for e, v in zip(track.t_end_s, track.bpm, strict=True)}
        for i, e in enumerate(ends_ms):
            if int(e) in at:
                out[i] = at[int(e)]
    return out


def _bridge_nan(x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x)
    if ok.all() or not ok.any():
        return x
    idx = np.arange(x.shape[0])
    out = x.copy()
    out[~ok] = np.interp(idx[~ok], idx[ok], x[ok])
    return out


def run_hr_dataset(
    dataset: str,
    root: Path,
    models: list[ModelSpec],
    subjects_limit: int | None,
    heldout: dict[str, set[str]],
    rate: float | None = None,
) -> tuple[Windows, dict[str, Any]]:
    """Analyse every chosen recording of one heart-rate dataset with every model (and none); with
    ``rate``, every recording resampled to it first (:func:`dataset_recordings`)."""
    from anyppg.datasets.labels import (
        annotation_regular,
        reference_reliable,
        second_rpeak_times,
        window_labels,
    )

    recs = dataset_recordings(dataset, root, rate)
    chosen, source = pick_recordings(dataset, [(r[0], r[4].record) for r in recs], heldout, subjects_limit)
    windows = Windows()
    t0 = time.perf_counter()
    for index, (subject, ppg, fs, acc, rec) in enumerate(recs):
        if index not in chosen:
            continue
        runs = {m.label: analyze_recording(ppg, fs, acc, m.model) for m in models}
        base = next(iter(runs.values())) if runs else analyze_recording(ppg, fs, acc, None)
        channels, ppg = ppg, ppg[0]  # NeuroKit2 and the labels read channel 0, as the model does
        ts, te = base["t_start"], base["t_end"]
        nk_hr = neurokit_window_hr(ppg, fs, ts, te)
        if dataset in ("bidmc", "mimicdb"):  # the labels the heads are trained on
            labels = window_labels(ppg, fs, rec.r_peaks_s, window_s=WINDOW_S, starts_s=ts)
            ref, usable = labels.hr_ecg_bpm, labels.usable
            second = second_rpeak_times(rec.ecg, rec.ecg_fs)
            reliable = reference_reliable(rec.r_peaks_s, second, ts, WINDOW_S).astype(float)
            not_af = (reliable > 0) & annotation_regular(
                rec.r_peaks_s, ts, WINDOW_S, within=REGULAR_ECG_WITHIN
            )
        elif dataset == "husm":  # annotated beats instead of R-peaks, the same definition
            labels = window_labels(ppg, fs, rec.beats_s, window_s=WINDOW_S, starts_s=ts)
            ref, usable = labels.hr_ecg_bpm, labels.usable
            reliable = annotation_regular(rec.beats_s, ts, WINDOW_S).astype(float)
            not_af = annotation_regular(rec.beats_s, ts, WINDOW_S, within=REGULAR_ECG_WITHIN)
        else:
            ref = reference_window_hr(rec.ref_start_s, rec.ref_bpm, rec.ref_window_s, ts, te)
            usable = quality_labels(base["heart_rate_peaks"], ref)
            not_af = np.ones(ts.shape[0], dtype=bool)  # the wrist sets (TROIKA, BAMI-I): healthy people
        values = {
            "tracker": base["heart_rate_tracker"],
            "motion tracker": motion_tracker_hr(channels, fs, acc, te),
            "quality": base["quality"],
            "clipped": base["clipped"].astype(np.float64),
            "neurokit2": nk_hr,
            "label: PPG peaks": usable,
            "label: NeuroKit2 peaks": quality_labels(nk_hr, ref),
        }
        if dataset in ("bidmc", "mimicdb", "husm"):
            values["reference reliable"] = reliable
        if dataset == "husm":
            values["phase"] = np.full(ts.shape[0], float(PHASES.index(rec.phase)))
        for label, cols in runs.items():
            values[f"model head: {label}"] = cols["heart_rate_model"]
            values[f"fused: {label}"] = cols["heart_rate"]
            values[f"quality head: {label}"] = cols["quality_model"]
            # P(AF) of the windows past the gate that are not AF: false alarms where above 0.5
            values[f"rhythm head: {label}"] = np.where(
                (cols["usable"] > 0) & not_af, cols["af_probability"], np.nan
            )
            # the SDK's AF screen (Result.af_alert: the same P(AF) > 0.5, irregular beats, a still window)
            alert = af_alert(
                cols["af_probability"], cols["beat_regularity"], cols["usable"] > 0, cols["motion"]
            )
            values[f"AF alert: {label}"] = np.where(
                (cols["usable"] > 0) & not_af, alert.astype(float), np.nan
            )
        windows.add(subject, ref, values)
        log.info("%s %s: %d windows", dataset, subject, ts.shape[0])
    info = {
        "dataset": dataset,
        "subjects": sorted({recs[i][0] for i in chosen}),
        "recordings": [recs[i][4].record for i in chosen],
        "subject_source": source,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return windows, info


def hr_table(
    windows: Windows, n_boot: int, reliable_only: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Heart-rate MAE rows and quality AUROC rows of one dataset; ``reliable_only`` scores only the
    windows whose ``reference reliable`` column is 1 (the same windows for every method)."""
    subjects, ref, cols = windows.arrays()
    if reliable_only:
        ref = np.where(cols["reference reliable"] == 1, ref, np.nan)
    has_ref = np.isfinite(ref)
    hr_rows, q_rows = [], []
    methods = [
        "tracker",
        "motion tracker",
        *[k for k in cols if k.startswith("fused: ")],
        *[k for k in cols if k.startswith("model head: ")],
    ]
    methods += ["neurokit2"]
    common = has_ref & np.all([np.isfinite(cols[m]) for m in methods], axis=0)  # every method answers
    for m in methods:
        row = score("mae_bpm", ref[has_ref], cols[m][has_ref], subjects[has_ref], n_boot=n_boot)
        same = score("mae_bpm", ref[common], cols[m][common], subjects[common], n_boot=n_boot)
        hr_rows.append(
            {"method": m, **row, "common": same, "by_subject": mae_by_subject(ref, cols[m], subjects)}
        )
    for source in ("PPG peaks", "NeuroKit2 peaks"):
        labels = cols[f"label: {source}"].astype(np.int8)
        keep = labels >= 0
        for m in ["quality", *[k for k in cols if k.startswith("quality head: ")]]:
            row = score("auroc", labels[keep], cols[m][keep], subjects[keep], n_boot=n_boot)
            q_rows.append(
                {
                    "method": m,
                    "labels_from": source,
                    "usable": int(labels[keep].sum()),
                    "unusable": int((labels[keep] == 0).sum()),
                    **row,
                }
            )
    return hr_rows, q_rows


def run_liu(
    root: Path,
    models: list[ModelSpec],
    subjects_limit: int | None,
    heldout: dict[str, set[str]],
    n_boot: int,
    rate: float | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """AF AUROC and six-class accuracy on the Liu segments, one row per model; with ``rate``, the
    segments resampled to it first (:func:`at_rate`)."""
    from anyppg import datasets
    from anyppg.datasets.rhythm import RHYTHM_CLASSES

    patients = datasets.read("liu", root)
    chosen, source = pick_recordings(
        "liu", [(p.subject, p.record) for p in patients], heldout, subjects_limit
    )
    t0 = time.perf_counter()
    subj, labels, irregularity, per_model = [], [], [], {m.label: ([], [], []) for m in models}
    for index, p in enumerate(patients):
        if index not in chosen:
            continue
        segments, fs = at_rate(np.asarray(p.segments, np.float64), p.fs, rate), rate or p.fs
        subj.append(np.full(p.labels.shape[0], p.subject, dtype=object))
        labels.append(np.asarray(p.labels))
        irregularity.append(neurokit_irregularity(segments, fs))
        for m in models:
            a = analyze(segments, fs, model=m.model)
            af, rhythm, alert = per_model[m.label]
            af.append(a.af_probability)
            alert.append(a.af_alert.astype(float))
            names = list(a.rhythm_classes)
            pred = np.full(len(a), -1)
            if names == list(p.classes):
                pred = np.where(
                    np.isfinite(a.rhythm_probabilities).all(axis=1),
                    np.argmax(np.nan_to_num(a.rhythm_probabilities), axis=1),
                    -1,
                )
            rhythm.append(pred)
        log.info("liu %s: %d segments", p.subject, p.labels.shape[0])
    s, y = np.concatenate(subj), np.concatenate(labels)
    is_af = (y == RHYTHM_CLASSES.index("AF")).astype(int)
    peer = score("auroc", is_af, np.concatenate(irregularity), s, labelled=y.shape[0], n_boot=n_boot)
    rows = [{"method": "neurokit2 beat-interval CV (peer)", "task": "AF vs rest", **peer}]
    for m in models:
        af, rhythm, alert = (np.concatenate(v) for v in per_model[m.label])
        rows.append(
            {
                "method": m.label,
                "task": "AF vs rest",
                **score("auroc", is_af, af, s, n_boot=n_boot),
            }
        )
        # P(AF) > 0.5 alone and the SDK's AF alert (also irregular beats, a usable, still segment): the
        # share of AF segments called (sensitivity) and of the others (false calls)
        for task, call in (("P(AF) > 0.5", (af > 0.5).astype(float)), ("AF alert", alert)):
            for kind, pick in (("AF segments called", is_af == 1), ("other segments called", is_af == 0)):
                cell = score("false_alarm", is_af[pick], call[pick], s[pick], n_boot=n_boot)
                rows.append({"method": m.label, "task": f"{task}: {kind}", **cell, "metric": "share"})
        if (rhythm >= 0).any():
            rows.append(
                {"method": m.label, "task": "six-class", **score("accuracy", y, rhythm, s, n_boot=n_boot)}
            )
    info = {
        "subjects": sorted({patients[i].subject for i in chosen}),
        "subject_source": source,
        "segments": int(y.shape[0]),
        "af_segments": int(is_af.sum()),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return rows, info


# --- report ----------------------------------------------------------------------------------------


def table_cell(row: dict[str, Any]) -> str:
    v, (lo, hi) = row["value"], row["ci"]
    if v is None:
        return "n/a"
    nd = 2 if row["metric"] == "mae_bpm" else 3
    ci = f" [{lo:.{nd}f}, {hi:.{nd}f}]" if lo is not None and hi is not None else ""
    return f"{v:.{nd}f}{ci}"


def _source(info: dict[str, Any]) -> str:
    """``held-out: a, b, c`` (the names, when few), ``unseen`` or ``all``."""
    if info["subject_source"] == "unseen":
        return "every subject: no model under test was trained or validated on this set"
    if info["subject_source"] != "held-out":
        return "all subjects: the model cards name no held-out ones here"
    names = info["subjects"]
    return "held-out: " + (", ".join(names) if len(names) <= 12 else f"{', '.join(names[:12])}, ...")


def to_markdown(result: dict[str, Any]) -> str:
    """The report: one table per dataset and task."""
    lines = [
        "# Real-data benchmark",
        "",
        f"`{result['command']}`: {result['seconds']:.0f} s on {result['machine']}. Values are "
        "`point [95 % CI]`, CI from 1,000 bootstrap resamples of subjects"
        + (" (200 with --quick)" if result["quick"] else "")
        + ". Method definitions: `benchmarks/bench_real.py` docstring and docs/evaluation.md."
        + (
            f" Every recording resampled to {result['rate_hz']:g} Hz first (`--rate`); the sensor's "
            "plateaus at its rails do not survive the resampling, so `clipped` reads none."
            if result.get("rate_hz")
            else ""
        ),
        "",
    ]
    for name, ds in result["heart_rate"].items():
        info = ds["info"]
        reference = REFERENCE.get(name, "ECG")
        lines += [
            f"## {name}: heart rate (MAE vs {reference}, bpm)",
            "",
            f"{len(info['subjects'])} subjects ({_source(info)}), {ds['labelled_windows']} windows with a "
            f"reference from {reference}.",
            "",
            "| method | MAE bpm [95 % CI] | windows | coverage | MAE on the windows every method answers |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['method']} | {table_cell(r)} | {r['windows']} | {r['coverage']:.2f} | {table_cell(r['common'])} |"
            for r in ds["rows"]
        ]
        rel = ds.get("reliable_reference")
        if rel:
            lines += [
                "",
                f"Same, on the {rel['labelled_windows']} of {ds['labelled_windows']} windows whose "
                f"reference is reliable (`{rel['rule'].split(':')[0]}`: {rel['rule'].split(': ', 1)[1]}; "
                "same windows for every method):",
                "",
                "| method | MAE bpm [95 % CI] | windows | coverage | MAE on the windows every method answers |",
                "|---|---|---|---|---|",
            ]
            lines += [
                f"| {r['method']} | {table_cell(r)} | {r['windows']} | {r['coverage']:.2f} | {table_cell(r['common'])} |"
                for r in rel["rows"]
            ]
        phases = ds.get("phases")
        if phases:
            names = list(phases[0]["methods"])
            lines += [
                "",
                "By phase (MAE bpm [95 % CI]; coverage in parentheses where under 100 %):",
                "",
                "| phase | windows | mean reference bpm | " + " | ".join(names) + " |",
                "|---|---|---|" + "---|" * len(names),
            ]
            for ph in phases:
                cells = [
                    table_cell(c) + (f" ({c['coverage']:.0%})" if c["coverage"] < 0.995 else "")
                    for c in ph["methods"].values()
                ]
                lines.append(
                    f"| {ph['phase']} | {ph['windows']} | {ph['mean_reference_bpm']} | "
                    + " | ".join(cells)
                    + " |"
                )
        clip = ds.get("clipping")
        if clip:
            lines += [
                "",
                f"Windows where the sensor saturates (`clipped`: cut-off plateaus at the raw extremes): "
                f"{clip['clipped_windows']} ({clip['share']:.1%}) in {clip['subjects']} subjects; "
                f"{clip['passed_quality_index']:.0%} of them pass the quality index alone.",
                "",
                "| method | MAE bpm, clipped windows | MAE bpm, the others |",
                "|---|---|---|",
            ]
            lines += [
                f"| {r['method']} | {table_cell(r['clipped'])} | {table_cell(r['not clipped'])} |"
                for r in clip["rows"]
            ]
        alarms = ds.get("false_alarms")
        if alarms:
            lines += [
                "",
                f"Rhythm head on {name}'s {ds.get('false_alarm_windows') or 'healthy people (no AF)'}: "
                "share of the windows past the quality gate with P(AF) > 0.5 (`rhythm head`), and with "
                "P(AF) > 0.5, irregular beats and no movement (`AF alert`, `Result.af_alert`) [95 % CI]",
                "",
                "| model | false alarms [95 % CI] | windows |",
                "|---|---|---|",
            ]
            lines += [f"| {r['method']} | {table_cell(r)} | {r['windows']} |" for r in alarms]
        lines += ["", f"Quality ({name}): AUROC vs heart-rate agreement of the PPG and {reference}", ""]
        lines += ["| score | PPG side of the labels | AUROC [95 % CI] | usable / unusable windows |"]
        lines += ["|---|---|---|---|"]
        lines += [
            f"| {r['method']} | {r['labels_from']} | {table_cell(r)} | {r['usable']} / {r['unusable']} |"
            for r in ds["quality"]
        ]
        lines.append("")
    if result.get("liu"):
        info = result["liu"]["info"]
        lines += [
            "## Liu 2022: rhythm from one 10 s finger segment",
            "",
            f"{len(info['subjects'])} patients ({_source(info)}), {info['segments']} segments, "
            f"{info['af_segments']} AF.",
            "",
            "| model | task | value [95 % CI] | segments |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['method']} | {r['task']} ({r['metric']}) | {table_cell(r)} | {r['windows']} |"
            for r in result["liu"]["rows"]
        ]
        lines.append("")
    return "\n".join(lines)


def false_alarm_table(windows: Windows, n_boot: int) -> list[dict[str, Any]] | None:
    """Per model, the share of a healthy set's windows past the quality gate where the rhythm head
    says AF (P > 0.5), with its subject-bootstrap CI; None for a set with no such column."""
    subjects, _, cols = windows.arrays()
    names = [k for k in cols if k.startswith(("rhythm head: ", "AF alert: "))]
    if not names:
        return None
    rows = []
    for name in names:
        cell = score("false_alarm", np.zeros(len(subjects)), cols[name], subjects, n_boot=n_boot)
        rows.append({"method": name, **cell})
    return rows


def clipping_table(windows: Windows, n_boot: int) -> dict[str, Any] | None:
    """Heart-rate MAE on the windows where the sensor saturates (``Analysis.clipped``) and on the
    others, for the tracker and each model's fused value and head; None without clipped windows.
    ``passed_quality_index``: the share of clipped windows whose quality index alone passes the gate
    (they were counted usable before the stream read clipping from the raw samples)."""
    subjects, ref, cols = windows.arrays()
    has = np.isfinite(ref)
    clipped = has & (cols["clipped"] == 1)
    if not clipped.any():
        return None
    methods = ["tracker", *[k for k in cols if k.startswith(("fused: ", "model head: "))]]
    rows = []
    for m in methods:
        cell = {}
        for name, mask in (("clipped", clipped), ("not clipped", has & ~clipped)):
            cell[name] = score("mae_bpm", ref[mask], cols[m][mask], subjects[mask], n_boot=n_boot)
        rows.append({"method": m, **cell})
    return {
        "clipped_windows": int(clipped.sum()),
        "share": _r(float(clipped.sum() / has.sum())),
        "passed_quality_index": _r(float(np.mean(cols["quality"][clipped] >= USABLE_SQI))),
        "subjects": int(np.unique(subjects[clipped]).shape[0]),
        "rows": rows,
    }


def phase_table(windows: Windows, n_boot: int) -> list[dict[str, Any]] | None:
    """Heart-rate MAE per HUSM phase (rest, treadmill, recovery) for the tracker, each model's fused
    value and head, and NeuroKit2; None for a dataset without phases."""
    subjects, ref, cols = windows.arrays()
    if "phase" not in cols:
        return None
    methods = [
        "tracker",
        *[k for k in cols if k.startswith("fused: ")],
        *[k for k in cols if k.startswith("model head: ")],
        "neurokit2",
    ]
    rows = []
    for i, name in enumerate(PHASES):
        mask = np.isfinite(ref) & (cols["phase"] == i)
        if not mask.any():
            continue
        cells = {
            m: score("mae_bpm", ref[mask], cols[m][mask], subjects[mask], n_boot=n_boot) for m in methods
        }
        rows.append(
            {
                "phase": name,
                "windows": int(mask.sum()),
                "mean_reference_bpm": _r(float(np.mean(ref[mask])), 1),
                "methods": cells,
            }
        )
    return rows


def _af_free_kind(dataset: str | None) -> str:
    """The :data:`FALSE_ALARM_WINDOWS` key of a dataset (None: the pooled clinical sets)."""
    return "clinical" if dataset is None or dataset in CLINICAL else dataset


def hr_result(windows: Windows, info: dict[str, Any], n_boot: int) -> dict[str, Any]:
    """One heart-rate dataset's section of ``real.json``: its tables on every labelled window and, for
    the clinical sets, on the windows with a reliable reference."""
    rows, q_rows = hr_table(windows, n_boot)
    _, ref, cols = windows.arrays()
    out: dict[str, Any] = {
        "info": info,
        "labelled_windows": int(np.isfinite(ref).sum()),
        "rows": rows,
        "quality": q_rows,
        "clipping": clipping_table(windows, n_boot),
        "phases": phase_table(windows, n_boot),
        "false_alarms": false_alarm_table(windows, n_boot),
        "false_alarm_windows": FALSE_ALARM_WINDOWS.get(_af_free_kind(info.get("dataset"))),
    }
    if "reference reliable" in cols:
        rel_rows, _ = hr_table(windows, n_boot, reliable_only=True)
        out["reliable_reference"] = {
            "rule": RELIABLE_RULE.get(info.get("dataset", ""), RELIABLE_RULE["ecg"]),
            "labelled_windows": int((np.isfinite(ref) & (cols["reference reliable"] == 1)).sum()),
            "rows": rel_rows,
        }
    return out


def _without_options(argv: Sequence[str], *names: str) -> list[str]:
    """``argv`` without the named options and their values (``--out DIR`` or ``--out=DIR``): where a
    run read its data and wrote its results is not part of the command that reproduces it."""
    kept, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in names:
            skip = True
        elif not a.startswith(tuple(f"{n}=" for n in names)):
            kept.append(a)
    return kept


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", default=os.environ.get("ANYPPG_DATA"), help="the data folder (or ANYPPG_DATA)"
    )
    parser.add_argument(
        "--models", nargs="*", default=None, help="model files (default: the shipped students)"
    )
    parser.add_argument("--datasets", default=",".join(ALL_DATASETS), help="comma-separated subset")
    parser.add_argument("--heldout", default=None, help="JSON {dataset: [subjects]} when the cards name none")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SUBJECTS} subjects per dataset, 200 resamples"
    )
    parser.add_argument(
        "--rate", type=float, default=None, metavar="HZ",
        help="resample every recording to HZ first, as a device sampling at HZ would send it (each "
        "stretch without missing samples on its own); default: each dataset's own rate",
    )  # fmt: skip
    parser.add_argument("--out", default=str(RESULTS), help="folder for real.json and real.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.data:
        parser.error("--data DIR (or ANYPPG_DATA) is required: the folder holding bidmc/, mimicdb/, ...")
    root = Path(args.data)
    wanted = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = sorted(set(wanted) - set(ALL_DATASETS))
    if unknown:
        parser.error(f"unknown datasets {unknown}; choose from {', '.join(ALL_DATASETS)}")
    models = load_models(args.models if args.models is not None else default_model_paths())
    heldout = heldout_from_cards(m.card for m in models)
    trained = trained_on(m.card for m in models)
    heldout_source = "model cards" if heldout else None
    if not heldout and args.heldout:
        heldout = heldout_from_cards([{"held_out": json.loads(Path(args.heldout).read_text())}])
        heldout_source = args.heldout
    limit = QUICK_SUBJECTS if args.quick else None
    n_boot = 200 if args.quick else 1000
    start = time.perf_counter()
    result: dict[str, Any] = {
        "command": "python benchmarks/bench_real.py --data DATA"
        + "".join(f" {a}" for a in _without_options(argv or sys.argv[1:], "--data", "--out")),
        "quick": args.quick,
        "rate_hz": args.rate,
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores, 1 thread",
        "models": [{"label": m.label, "file": m.path.name} for m in models],
        "heldout_source": heldout_source or "none named: every subject evaluated",
        "anyppg": anyppg.__version__,
        "heart_rate": {},
    }
    clinical: dict[str, tuple[Windows, dict[str, Any]]] = {}
    for dataset in [d for d in wanted if d in HR_DATASETS]:
        windows, info = run_hr_dataset(dataset, root, models, limit, heldout, args.rate)
        if info["subject_source"] == "all" and models and dataset not in trained:
            info["subject_source"] = "unseen"
        if dataset in CLINICAL:
            clinical[dataset] = (windows, info)
        result["heart_rate"][dataset] = hr_result(windows, info, n_boot)
    if len(clinical) == len(CLINICAL):
        infos = [info for _, info in clinical.values()]
        info = {
            "subjects": [s for i in infos for s in i["subjects"]],
            "recordings": [r for i in infos for r in i["recordings"]],
            "subject_source": "held-out" if all(i["subject_source"] == "held-out" for i in infos) else "all",
            "seconds": sum(i["seconds"] for i in infos),
        }
        result["heart_rate"][POOLED_NAME] = hr_result(pooled([w for w, _ in clinical.values()]), info, n_boot)
    if "liu" in wanted:
        rows, info = run_liu(root, models, limit, heldout, n_boot, args.rate)
        result["liu"] = {"info": info, "rows": rows}
    result["seconds"] = round(time.perf_counter() - start, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "real.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "real.md").write_text(to_markdown(result) + "\n")
    print(to_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
