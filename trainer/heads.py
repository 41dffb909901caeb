"""Real-label training windows for the student's heads: heart rate, signal quality and rhythm.

Every window is a model input exactly as the SDK makes it: 10 s at 125 Hz, band-passed 0.5-8 Hz and
z-scored by :mod:`anyppg.signal` (:func:`anyppg.signal.preprocess_recording` for continuous
recordings, :func:`segment_window` for stand-alone 10-s segments). Labels come from the data, never
from the model:

- **heart rate** (bpm): ECG R-peaks (:func:`anyppg.signal.ecg.ecg_rpeak_times`) inside the window,
  60 / mean RR (:func:`anyppg.datasets.labels.beat_rate`: the reference ``benchmarks/bench_real.py``
  scores against) for BIDMC and MIMIC-DB, kept only where the ECG reference is reliable
  (:func:`anyppg.datasets.labels.reference_reliable`: a second, independent R-peak detector agrees
  within 5 bpm); TROIKA's ECG heart rate and BAMI-I's Holter ECG beat-by-beat rate, each averaged over
  the 8-s reference window nearest the centre.
- **quality** (1 usable, 0 not, -1 unknown): PPG peak heart rate (:func:`anyppg.signal.ppg_findpeaks`
  on the window) against the ECG heart rate: within 5 bpm is usable, 15 bpm or more apart is not.
- **rhythm** (0-5, -1 unknown): the Liu et al. 2022 segment label (sinus, PVC, PAC, VT, SVT, AF).

Datasets are read from the data folder (``--data`` / ``ANYPPG_DATA``; see ``docs/quantization.md``):
``bidmc/``, ``mimicdb/``, ``troika/``, ``liu_arrhythmia/``, ``bami1/``. Subjects are split per dataset
(:func:`split_subjects`): by patient (:func:`patient_names`: MIMIC-DB records of one patient are one
subject), AF-stratified for Liu; nothing is split by window.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anyppg.errors import AnyPPGError
from anyppg.signal.runs import finite_runs

log = logging.getLogger(__name__)

WINDOW_SAMPLES = 1250
MODEL_FS = 125.0
HOP_S = 5.0  # step between windows of a continuous recording
USABLE_WITHIN_BPM = 5.0
UNUSABLE_FROM_BPM = 15.0
HR_LABEL_RANGE_BPM = (30.0, 220.0)
PACED_SUFFIX = "-paced"
"""Dataset name suffix of :func:`read_paced`'s windows (``bidmc-paced``, ``mimicdb-paced``)."""
PACED_STRIP_S = 16.0
"""Length of a paced strip: the stream's 2 s of band-pass settling, one 10 s window, and slack."""
PACED_MATCH_BPM = 5.0
"""A strip is paced only where its median beat's rate is within this of the ECG's: a clean pulse."""
DATASETS = ("bidmc", "mimicdb", "troika", "liu_arrhythmia", "bami1")
CLINICAL_DATASETS = ("bidmc", "mimicdb")
RESEARCH_ONLY = ("troika", "liu_arrhythmia", "bami1")
LICENCES = {
    "bidmc": "ODC-BY 1.0 (PhysioNet)",
    "mimicdb": "PhysioNet open access (ODC-BY 1.0)",
    "troika": "research use with citation (IEEE SPC 2015)",
    "liu_arrhythmia": "none stated; research use with citation (Liu et al. 2022)",
    "bami1": "academic research use with citation (Lee et al., IEEE Sensors J 2018)",
}
LICENCES.update({f"{name}{PACED_SUFFIX}": LICENCES[name] for name in CLINICAL_DATASETS})


class HeadDataError(AnyPPGError, ValueError):
    """The data folder cannot give head-training windows.

    Attributes:
        path: the folder or file.
        reason: what is wrong, in words.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass
class HeadWindows:
    """Preprocessed windows with real labels (NaN / -1 = unknown).

    Attributes:
        ppg: ``(N, 1250)`` float32 model inputs.
        hr: ``(N,)`` float32 ECG heart rate (bpm) or NaN.
        quality: ``(N,)`` int8: 1 usable, 0 not, -1 unknown.
        rhythm: ``(N,)`` int8: Liu class 0-5, -1 unknown.
        dataset: ``(N,)`` str, the dataset folder name.
        subject: ``(N,)`` str, the subject (``dataset/subject``; TROIKA's two DATA_04 files are one).
    """

    ppg: np.ndarray
    hr: np.ndarray
    quality: np.ndarray
    rhythm: np.ndarray
    dataset: np.ndarray
    subject: np.ndarray

    FIELDS = ("ppg", "hr", "quality", "rhythm", "dataset", "subject")

    def __len__(self) -> int:
        return len(self.ppg)

    def take(self, index: np.ndarray) -> HeadWindows:
        return HeadWindows(*(getattr(self, f)[index] for f in self.FIELDS))

    @staticmethod
    def concat(parts: Sequence[HeadWindows]) -> HeadWindows:
        return HeadWindows(*(np.concatenate([getattr(p, f) for p in parts]) for f in HeadWindows.FIELDS))

    def save(self, path: str | Path) -> None:
        """Write the windows to an ``.npz`` cache (ppg as float16: z-scored values need no more)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        arrays = {f: getattr(self, f) for f in self.FIELDS}
        arrays["ppg"] = self.ppg.astype(np.float16)
        arrays["dataset"] = self.dataset.astype(str)
        arrays["subject"] = self.subject.astype(str)
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> HeadWindows:
        """Read a cache written by :meth:`save`.

        Raises:
            HeadDataError: the file is missing or lacks a field.
        """
        if not Path(path).is_file():
            raise HeadDataError(str(path), "window cache does not exist")
        with np.load(path, allow_pickle=False) as data:
            missing = [f for f in cls.FIELDS if f not in data]
            if missing:
                raise HeadDataError(str(path), f"window cache lacks {', '.join(missing)}")
            return cls(
                data["ppg"].astype(np.float32),
                data["hr"].astype(np.float32),
                data["quality"].astype(np.int8),
                data["rhythm"].astype(np.int8),
                data["dataset"].astype(object),
                data["subject"].astype(object),
            )

    def summary(self) -> dict[str, Any]:
        """Windows, subjects and hours per dataset, and label counts: for model cards."""
        out: dict[str, Any] = {}
        for name in sorted(set(self.dataset.tolist())):
            m = self.dataset == name
            out[name] = {
                "windows": int(m.sum()),
                "subjects": sorted(set(self.subject[m].tolist())),
                "hours_of_windows": round(float(m.sum()) * 10.0 / 3600.0, 2),
                "hr_labels": int(np.isfinite(self.hr[m]).sum()),
                "quality_usable": int((self.quality[m] == 1).sum()),
                "quality_unusable": int((self.quality[m] == 0).sum()),
                "rhythm_counts": np.bincount(self.rhythm[m][self.rhythm[m] >= 0], minlength=6).tolist(),
                "licence": LICENCES.get(name, "unknown"),
            }
        return out


# --- labels ------------------------------------------------------------------------------------


def beats_bpm(beat_s: np.ndarray, start_s: float, end_s: float) -> float:
    """Heart rate (bpm) from beat times (s) inside ``[start_s, end_s)``: 60 / median interval.

    NaN when fewer than 4 beats fall inside, or when the intervals disagree by more than a factor of
    two (a missed or doubled beat: the window's label would be wrong either way).
    """
    inside = beat_s[(beat_s >= start_s) & (beat_s < end_s)]
    if len(inside) < 4:
        return float("nan")
    rr = np.diff(inside)
    if rr.max() > 2.0 * rr.min():
        return float("nan")
    bpm = 60.0 / float(np.median(rr))
    lo, hi = HR_LABEL_RANGE_BPM
    return bpm if lo <= bpm <= hi else float("nan")


def quality_label(ppg_bpm: float, ecg_bpm: float) -> int:
    """1 when PPG and ECG heart rate agree within 5 bpm, 0 when 15 bpm or more apart (or the PPG
    gives no heart rate), -1 in between or without an ECG heart rate."""
    if not np.isfinite(ecg_bpm):
        return -1
    if not np.isfinite(ppg_bpm):
        return 0
    gap = abs(ppg_bpm - ecg_bpm)
    if gap <= USABLE_WITHIN_BPM:
        return 1
    return 0 if gap >= UNUSABLE_FROM_BPM else -1


def _ppg_peak_bpm(filtered: np.ndarray) -> float:
    """60 / the median interval between the systolic peaks of a causally band-passed window
    (``Window.filtered``), read as the stream reads it: a still, slow pulse phase-corrected
    (:func:`anyppg.signal.quality.assess_window`), where the causal band-pass splits each beat in two
    and would label a clean window unusable."""
    from anyppg.signal import PPGSegment, ppg_findpeaks
    from anyppg.signal.quality import assess_window

    segment = PPGSegment(np.asarray(filtered, np.float64), MODEL_FS)
    view, _ = assess_window(segment)
    peaks = ppg_findpeaks(segment.signal if view is segment else view.cleaned, MODEL_FS, clean=False)
    if len(peaks) < 3:
        return float("nan")
    return 60.0 / float(np.median(np.diff(peaks))) * MODEL_FS


def segment_window(segment: np.ndarray, fs: float) -> np.ndarray:
    """One stand-alone 10-s segment as a model input: resampled to 125 Hz, causal 0.5-8 Hz band-pass
    (the streaming filter, started at rest), z-scored, cut or edge-padded to 1250 samples.

    Raises:
        InvalidSignalError: NaN/inf or too few samples (from :mod:`anyppg.signal`).
    """
    from anyppg.signal import ppg_clean, resample
    from anyppg.signal.windowing import zscore

    x = resample(np.asarray(segment, np.float64), float(fs), MODEL_FS) if fs != MODEL_FS else segment
    x = np.asarray(x, np.float64)[:WINDOW_SAMPLES]
    if len(x) < WINDOW_SAMPLES:
        x = np.pad(x, (0, WINDOW_SAMPLES - len(x)), mode="edge")
    return zscore(ppg_clean(x - x[0], MODEL_FS, method="causal")).astype(np.float32)


# --- readers -----------------------------------------------------------------------------------


def _continuous(
    ppg: np.ndarray, fs: float, beat_s: Callable[[float, float], float], dataset: str, subject: str
) -> HeadWindows:
    """Windows of one continuous recording; ``beat_s(start, end)`` gives the ECG heart rate."""
    from anyppg.signal import preprocess_recording

    parts_ppg, hr, qual = [], [], []
    for a, b in finite_runs(ppg, min_len=int(14 * fs)):
        for w in preprocess_recording(ppg[a:b], fs, hop_s=HOP_S):
            start = a / fs + w.start_s
            ecg_bpm = beat_s(start, start + 10.0)
            parts_ppg.append(w.ppg)
            hr.append(ecg_bpm)
            qual.append(quality_label(_ppg_peak_bpm(w.filtered), ecg_bpm))
    n = len(parts_ppg)
    return HeadWindows(
        np.stack(parts_ppg) if n else np.zeros((0, WINDOW_SAMPLES), np.float32),
        np.asarray(hr, np.float32),
        np.asarray(qual, np.int8),
        np.full(n, -1, np.int8),
        np.array([dataset] * n, dtype=object),
        np.array([f"{dataset}/{subject}"] * n, dtype=object),
    )


def clinical_bpm(ecg: np.ndarray, fs: float) -> Callable[[float, float], float]:
    """``bpm(start, end)`` of an ECG: 60 / mean RR of its R-peaks in the window
    (:func:`anyppg.datasets.labels.beat_rate`, the benchmark's reference), NaN outside
    :data:`HR_LABEL_RANGE_BPM` or where the reference is not reliable
    (:func:`anyppg.datasets.labels.reference_reliable`: a second R-peak detector disagrees)."""
    from anyppg.datasets.labels import beat_rate, reference_reliable, second_rpeak_times
    from anyppg.signal.ecg import ecg_rpeak_times

    r_s = ecg_rpeak_times(ecg, fs)
    r2_s = second_rpeak_times(ecg, fs)
    lo, hi = HR_LABEL_RANGE_BPM

    def bpm(start: float, end: float) -> float:
        rate = beat_rate(r_s, start, end - start)[0]
        if not (np.isfinite(rate) and lo <= rate <= hi):
            return float("nan")
        ok = reference_reliable(r_s, r2_s, np.array([start]), end - start)[0]
        return rate if ok else float("nan")

    return bpm


def _clinical_arrays(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """``(ppg, ecg, rate)`` of a BIDMC / MIMIC-DB file of the data folder (PPG and ECG at one rate)."""
    with np.load(path) as d:
        return d["ppg"].astype(np.float64), d["ecg"].astype(np.float64), float(d["fs_ppg"])


def read_clinical(folder: Path, dataset: str) -> HeadWindows:
    """BIDMC or MIMIC-DB: finger PPG with ECG; heart rate from the ECG's R-peaks
    (:func:`clinical_bpm`)."""
    parts = []
    for path in sorted(folder.glob("*.npz")):
        ppg, ecg, fs = _clinical_arrays(path)
        parts.append(_continuous(ppg, fs, clinical_bpm(ecg, fs), dataset, path.stem))
        log.info("%s: %d windows", path.stem, len(parts[-1]))
    return HeadWindows.concat(parts)


def read_troika(folder: Path) -> HeadWindows:
    """TROIKA wrist PPG (first channel) while running (:func:`anyppg.datasets.wrist.read_troika`);
    heart rate from the dataset's ECG reference (8-s windows every 2 s: the one whose centre is
    nearest the 10-s window's centre, ties to the even index). Both recordings of a runner
    (``DATA_04_TYPE01`` and ``DATA_04_TYPE02``) are one subject, ``DATA_04``."""
    from anyppg.datasets.wrist import REF_STEP_S, REF_WINDOW_S
    from anyppg.datasets.wrist import read_troika as read_recordings

    parts = []
    for rec in read_recordings(folder):

        def ref_bpm(start: float, _end: float, ref: np.ndarray = rec.ref_bpm) -> float:
            i = round((start + 5.0 - REF_WINDOW_S / 2) / REF_STEP_S)
            return float(ref[i]) if 0 <= i < len(ref) else float("nan")

        subject = rec.record.split("_TYPE")[0]
        parts.append(_continuous(rec.ppg[0], rec.fs, ref_bpm, "troika", subject))
    return HeadWindows.concat(parts)


def read_bami(folder: Path) -> HeadWindows:
    """BAMI-I wrist PPG (first channel) at rest, walking and running on a treadmill; heart rate from
    the Holter ECG's beat-by-beat rate averaged over the 8-s reference window
    (:func:`anyppg.datasets.wrist.read_bami`) whose centre is nearest the 10-s window's (none within
    1 s: no label)."""
    from anyppg.datasets.wrist import REF_WINDOW_S
    from anyppg.datasets.wrist import read_bami as read_recordings

    parts = []
    for rec in read_recordings(folder):
        centres = rec.ref_start_s + REF_WINDOW_S / 2

        def ref_bpm(
            start: float, _end: float, centres: np.ndarray = centres, ref: np.ndarray = rec.ref_bpm
        ) -> float:
            i = int(np.argmin(np.abs(centres - (start + 5.0)))) if len(centres) else -1
            return float(ref[i]) if i >= 0 and abs(centres[i] - start - 5.0) <= 1.0 else float("nan")

        parts.append(_continuous(rec.ppg[0], rec.fs, ref_bpm, "bami1", rec.subject))
    return HeadWindows.concat(parts)


def read_liu(folder: Path) -> HeadWindows:
    """Liu et al. 2022: one window per 10-s finger PPG segment at 100 Hz, with its rhythm label."""
    parts = []
    for path in sorted(folder.glob("*.npz")):
        with np.load(path) as d:
            segs, labels, fs = d["ppg_segments"], d["labels"].reshape(-1), float(d["fs_ppg"])
        ok = np.isfinite(segs).all(axis=1)
        windows = np.stack([segment_window(s, fs) for s in segs[ok]])
        n = len(windows)
        parts.append(
            HeadWindows(
                windows,
                np.full(n, np.nan, np.float32),
                np.full(n, -1, np.int8),
                labels[ok].astype(np.int8),
                np.array(["liu_arrhythmia"] * n, dtype=object),
                np.array([f"liu_arrhythmia/{path.stem}"] * n, dtype=object),
            )
        )
    return HeadWindows.concat(parts)


def read_paced(
    root: Path, patients: set[str], *, per_strip: int = 2, step_s: float = 30.0, seed: int = 0
) -> HeadWindows:
    """Real pulses at rates the recordings lack: BIDMC / MIMIC-DB beats of ``patients``, paced.

    The clinical recordings hold no heart rate under 45 bpm and few over 170, and a slow pulse is not
    a normal one stretched: the stream's causal band-pass meets its fundamental and turns its long
    diastole into a second hump (docs/signal.md, "A slow pulse in a stream"), which a window slowed
    after the band-pass never shows. So the pacing happens before preprocessing: every ``step_s``
    of each recording a :data:`PACED_STRIP_S` strip whose median beat's rate is within
    :data:`PACED_MATCH_BPM` of the ECG's (:func:`clinical_bpm`) is rebuilt from that beat at
    ``per_strip`` rates drawn uniformly from :data:`HR_LABEL_RANGE_BPM`
    (:func:`anyppg.signal.counterfactual.paced_beat`: the ejection re-timed by the square root of the rate
    change, the diastolic run-off by the rest), and each goes through
    :func:`anyppg.signal.preprocess_recording` as a stream would take it; its first window is kept,
    labelled with the paced rate, usable, rhythm unknown. Dataset ``{dataset}-paced``, subject the
    patient (:func:`patient_names`), so a split by patient holds.

    Args:
        root: the data folder.
        patients: the patients to take beats from (``bidmc:05``, ``mimicdb:g039``; training ones).
        per_strip: paced rates per strip.
        step_s: one strip every this many seconds.
        seed: the rates drawn.
    """
    from anyppg.signal import preprocess_recording
    from anyppg.signal.counterfactual import median_beat, paced_beat

    rng = np.random.default_rng(seed)
    parts = []
    for dataset in CLINICAL_DATASETS:
        paths = sorted((root / dataset).glob("*.npz"))
        names = patient_names(np.array([f"{dataset}/{p.stem}" for p in paths], dtype=object))
        for path, patient in zip(paths, names, strict=True):
            if patient not in patients:
                continue
            ppg, ecg, fs = _clinical_arrays(path)
            ecg_bpm = clinical_bpm(ecg, fs)
            n, step = round(PACED_STRIP_S * fs), round(step_s * fs)
            rows: list[np.ndarray] = []
            rates: list[float] = []
            for a, b in finite_runs(ppg, min_len=n):
                for start in range(a, b - n + 1, step):
                    strip = ppg[start : start + n]
                    found = median_beat(strip, fs)
                    reference = ecg_bpm(start / fs, start / fs + PACED_STRIP_S)
                    if found is None or not abs(60.0 * fs / found[1] - reference) <= PACED_MATCH_BPM:
                        continue
                    for target in rng.uniform(*HR_LABEL_RANGE_BPM, per_strip):
                        y = paced_beat(found[0], fs, float(target), n)
                        windows = preprocess_recording(y, fs, hop_s=HOP_S)
                        if windows:
                            rows.append(windows[0].ppg)
                            rates.append(float(target))
            k = len(rows)
            if k:
                parts.append(
                    HeadWindows(
                        np.stack(rows).astype(np.float32),
                        np.asarray(rates, np.float32),
                        np.ones(k, np.int8),
                        np.full(k, -1, np.int8),
                        np.array([f"{dataset}{PACED_SUFFIX}"] * k, dtype=object),
                        np.array([patient] * k, dtype=object),
                    )
                )
            log.info("%s %s: %d paced windows", dataset, path.stem, k)
    if not parts:
        raise HeadDataError(str(root), "no BIDMC or MIMIC-DB recording of the given patients to pace")
    return HeadWindows.concat(parts)


def data_root(path: str | Path | None) -> Path:
    """The data folder: ``path``, else ``$ANYPPG_DATA``.

    Raises:
        HeadDataError: neither is given, or the folder does not exist.
    """
    chosen = path or os.environ.get("ANYPPG_DATA")
    if not chosen:
        raise HeadDataError("--data", "no data folder given (pass --data or set ANYPPG_DATA)")
    root = Path(chosen)
    if not root.is_dir():
        raise HeadDataError(str(root), "data folder does not exist")
    return root


def read_all(root: Path, datasets: Sequence[str] = DATASETS) -> HeadWindows:
    """Windows of every dataset present under ``root`` (missing folders are logged and skipped).

    Raises:
        HeadDataError: none of ``datasets`` is present.
    """
    parts = []
    for name in datasets:
        folder = root / name
        if not folder.is_dir():
            log.warning("%s: not present, skipped", folder)
            continue
        if name in ("bidmc", "mimicdb"):
            parts.append(read_clinical(folder, name))
        elif name == "troika":
            parts.append(read_troika(folder))
        elif name == "liu_arrhythmia":
            parts.append(read_liu(folder))
        elif name == "bami1":
            parts.append(read_bami(folder))
        log.info("%s: %d windows", name, len(parts[-1]))
    if not parts:
        raise HeadDataError(str(root), f"none of {', '.join(datasets)} is in the data folder")
    return HeadWindows.concat(parts)


def patient_names(subjects: np.ndarray) -> np.ndarray:
    """The patient of each window's subject, in the datasets' naming (:mod:`anyppg.datasets`):
    ``bidmc/bidmc_05`` -> ``bidmc:05``, ``troika/DATA_03`` -> ``troika:03``,
    ``liu_arrhythmia/MPA_<id>`` -> ``liu:<id>``, and MIMIC-DB records grouped into patients by
    :func:`anyppg.datasets.clinical.mimicdb_subjects` (``mimicdb/mimicdb_209`` -> ``mimicdb:g208``):
    the database splits a stay into records with nearby numbers, so a split by record would put one
    patient on both sides. Other names pass through."""
    import re

    from anyppg.datasets.clinical import mimicdb_subjects

    names = np.asarray(subjects, dtype=object)
    unique = sorted(set(names.tolist()))
    mimic = [m.group(1) for u in unique if (m := re.fullmatch(r"mimicdb/mimicdb_(\d+)", str(u)))]
    groups = mimicdb_subjects(mimic)
    out: dict[str, str] = {}
    for u in unique:
        text = str(u)
        if m := re.fullmatch(r"mimicdb/mimicdb_(\d+)", text):
            out[u] = groups[m.group(1)]
        elif m := re.fullmatch(r"(bidmc)/bidmc_(\d+)", text):
            out[u] = f"bidmc:{m.group(2)}"
        elif m := re.fullmatch(r"troika/DATA_(\d+)", text):
            out[u] = f"troika:{m.group(1)}"
        elif m := re.fullmatch(r"liu_arrhythmia/MPA_(.+)", text):
            out[u] = f"liu:{m.group(1)}"
        else:
            out[u] = text
    return np.array([out[n] for n in names.tolist()], dtype=object)


def stratified_subjects(
    subjects: np.ndarray, labels: np.ndarray, k: int, seed: int = 0, draws: int = 2000
) -> list[str]:
    """``k`` subjects whose pooled class mix best matches the whole set's, still whole subjects.

    Among ``draws`` seeded random ``k``-subsets, the one covering every class present (when any
    does) with the smallest total absolute difference between its class fractions and the overall
    ones. Only labels decide; no model is involved.
    """
    names = sorted(set(subjects.tolist()))
    classes = sorted(set(labels[labels >= 0].tolist()))
    counts = np.array([[np.sum((subjects == n) & (labels == c)) for c in classes] for n in names], float)
    overall = counts.sum(0) / max(counts.sum(), 1.0)
    rng = np.random.default_rng(seed)
    best, best_key = None, None
    for _ in range(draws):
        pick = np.sort(rng.choice(len(names), size=min(k, len(names)), replace=False))
        c = counts[pick].sum(0)
        key = (int((c == 0).sum()), float(np.abs(c / max(c.sum(), 1.0) - overall).sum()))
        if best_key is None or key < best_key:
            best, best_key = pick, key
    return [names[i] for i in best]  # type: ignore[union-attr]


def split_subjects(
    windows: HeadWindows,
    fraction: float = 0.2,
    seed: int = 0,
    fixed: dict[str, Sequence[str]] | None = None,
) -> np.ndarray:
    """Boolean mask of held-out windows, whole subjects only, per dataset:

    - a dataset in ``fixed`` holds out exactly the subjects listed there (those present);
    - a dataset with rhythm labels holds out ``fraction`` of its subjects (at least one) chosen by
      :func:`stratified_subjects`, so every rhythm class is held out in proportion;
    - any other holds out ``fraction`` of its subjects (at least one) by a seeded permutation of the
      sorted subject names.
    """
    test = np.zeros(len(windows), dtype=bool)
    for name in sorted(set(windows.dataset.tolist())):
        rows = windows.dataset == name
        subjects = sorted(set(windows.subject[rows].tolist()))
        k = max(1, round(fraction * len(subjects)))
        if fixed is not None and name in fixed:
            held = set(fixed[name]) & set(subjects)
        elif (windows.rhythm[rows] >= 0).any():
            held = set(stratified_subjects(windows.subject[rows], windows.rhythm[rows], k, seed))
        else:
            rng = np.random.default_rng(seed)
            held = {subjects[i] for i in rng.permutation(len(subjects))[:k]}
        test |= np.isin(windows.subject, list(held))
    return test
