"""Where training windows come from: the simulator and readers for users' corpora.

A *source* lists its subjects up front (so splits can be assigned before anything is written) and then
yields :class:`SourceRecord` objects: raw PPG and/or ECG of one continuous recording at native rates,
with whatever labels the format carries. :func:`record_windows` turns a record into store windows with
the same preprocessing the SDK runs live.

Readers (each needs the ``data`` extra: ``pip install "anyppg[data]"``):

===========  ===========================================================  ============================
scheme       format                                                       channels
===========  ===========================================================  ============================
``sim``      :func:`anyppg.simulate`, many seeded subjects                PPG + ECG + exact labels
``wfdb``     WFDB records (MIMIC-III matched waveforms), ``.atr`` rhythm  ``PLETH`` / ``II``
``vitaldb``  VitalDB ``.vital`` files                                     ``SNUADC/PLETH`` / ``ECG_II``
``pulsedb``  PulseDB ``.mat`` segments (v7.3 via h5py, older via scipy)   ``PPG_Raw`` / ``ECG_Raw``...
``edf``      EDF/EDF+ (NSRR MESA/CFS/HSP) + EDF+ or NSRR-XML annotations  ``Pleth`` / ``EKG``...
``csv``      ``t,ppg[,acc_x,acc_y,acc_z]``                                 PPG (+ acc)
``npz``      ``ppg`` + ``fs`` or ``t``, optional ``acc``, ``ecg``, ``ecg_fs``   PPG (+ acc, ECG)
===========  ===========================================================  ============================

Published datasets read by :mod:`anyppg.datasets` have their own schemes (``bidmc``, ``mimicdb``, ``liu``,
``troika``, ``bami``): see :mod:`anyppg.trainer.dataset_sources`.

A file that cannot be read is logged, counted in ``source.skipped`` and left out; everything else goes on.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from anyppg.channels import ECG_NAMES, PPG_NAMES, match_channel
from anyppg.errors import AnyPPGError, DataFormatError, InvalidSignalError
from anyppg.npz import open_npz
from anyppg.signal.constants import MIN_PPG_RATE
from anyppg.signal.runs import finite_runs
from anyppg.trainer.store import ECG_SAMPLES, PPG_SAMPLES, empty_labels

__all__ = [
    "CsvSource",
    "EdfSource",
    "NpzSource",
    "PulseDBSource",
    "SimSource",
    "Source",
    "SourceRecord",
    "VitalDBSource",
    "WfdbSource",
    "WindowBatch",
    "open_source",
    "record_windows",
]

log = logging.getLogger(__name__)

MAX_PPG_RATE_HZ = 10_000.0  # no PPG front end samples faster; resampling from far above needs huge filters
DURATION_TOLERANCE_S = 1.0  # PPG and ECG of one record may differ by this much (s)
HR_RANGE_BPM = (25.0, 250.0)
SIM_QUALITY_THRESHOLD = 0.8  # usable when the pulse carries >= 80 % of the PPG power (simulator truth)  # ECG-derived HR outside this is an ECG failure, not physiology
_DATA_EXTRA = 'pip install "anyppg[data]"'


@dataclass
class SourceRecord:
    """One continuous recording of one subject, at native rates.

    Attributes:
        subject: subject identifier (splits are made per subject).
        record: record name, unique within the source.
        ppg: raw PPG (n,), or None for ECG-only records (they are not used: windows are PPG-led).
        ppg_fs: PPG rate (Hz).
        ecg: raw ECG (m,) recorded simultaneously, or None.
        ecg_fs: ECG rate (Hz).
        acc: accelerometer (n, 3) at ``ppg_fs``, or None.
        r_peaks_s: exact R-peak times (s) when known (the simulator); else R-peaks are detected.
        ectopic_s: times (s) of the ectopic (premature) beats among ``r_peaks_s`` when known (the
            simulator); windows then get a 1/0 ``ectopic`` label, else -1 (unknown).
        af: rhythm of the whole record: 1 AF, 0 not AF, -1 unknown.
        af_intervals: AF episodes as (start_s, end_s) when annotated; overrides ``af`` per window.
        quality_s: per-second PPG usability (1/0) when known (the simulator); else computed.
        start_offset_s: where this record starts within its original recording (s).
        hr_reference: a reference heart rate given per window instead of beats, as ``(start_s (k,),
            window_s, bpm (k,))`` (TROIKA, BAMI-I: ECG heart rate per 8-s window). When present it is
            the window's ``hr`` label (the mean over the reference windows inside it), before any
            R-peaks.
        rhythm: rhythm class of the whole record (Liu's six classes,
            :data:`anyppg.datasets.rhythm.RHYTHM_CLASSES`), -1 unknown. The store keeps ``af`` from
            it; the class itself is for readers that need it.
    """

    subject: str
    record: str
    ppg: np.ndarray | None
    ppg_fs: float
    ecg: np.ndarray | None = None
    ecg_fs: float | None = None
    acc: np.ndarray | None = None
    r_peaks_s: np.ndarray | None = None
    ectopic_s: np.ndarray | None = None
    af: int = -1
    af_intervals: list[tuple[float, float]] | None = None
    quality_s: np.ndarray | None = None
    start_offset_s: float = 0.0
    hr_reference: tuple[np.ndarray, float, np.ndarray] | None = None
    rhythm: int = -1

    def check(self, path: str = "") -> None:
        """Refuse records whose PPG and ECG do not describe the same stretch of time.

        Raises:
            DataFormatError: missing or non-positive rates, a PPG rate outside ``MIN_PPG_RATE`` to
                :data:`MAX_PPG_RATE_HZ`, or PPG/ECG durations that differ by more
                than :data:`DURATION_TOLERANCE_S`; the message gives both.
        """
        where = path or self.record
        if self.ppg is not None and not self.ppg_fs > 0:
            raise DataFormatError(where, f"PPG sampling rate must be > 0 Hz; got {self.ppg_fs}")
        if self.ppg is not None and not MIN_PPG_RATE <= self.ppg_fs <= MAX_PPG_RATE_HZ:
            raise DataFormatError(
                where,
                f"PPG sampling rate {self.ppg_fs:g} Hz; expected {MIN_PPG_RATE:g}-{MAX_PPG_RATE_HZ:g} Hz "
                "(resampled to 125 Hz)",
            )
        if self.ecg is not None:
            if not (self.ecg_fs and self.ecg_fs > 0):
                raise DataFormatError(where, f"ECG sampling rate must be > 0 Hz; got {self.ecg_fs}")
            if self.ppg is not None:
                d_ppg, d_ecg = len(self.ppg) / self.ppg_fs, len(self.ecg) / self.ecg_fs
                if abs(d_ppg - d_ecg) > DURATION_TOLERANCE_S:
                    raise DataFormatError(
                        where,
                        f"PPG and ECG lengths do not match: PPG {len(self.ppg)} samples at {self.ppg_fs:g} Hz "
                        f"= {d_ppg:.2f} s, ECG {len(self.ecg)} samples at {self.ecg_fs:g} Hz = {d_ecg:.2f} s; "
                        f"expected {round(d_ppg * self.ecg_fs)} ECG samples (within {DURATION_TOLERANCE_S:g} s)",
                    )
        if self.acc is not None and self.ppg is not None and self.acc.shape != (len(self.ppg), 3):
            raise DataFormatError(where, f"acc has shape {self.acc.shape}; expected ({len(self.ppg)}, 3)")


class Source(Protocol):
    """What ``anyppg prepare`` reads: subjects first, then records."""

    name: str
    skipped: dict[str, int]

    def subjects(self) -> list[str]: ...

    def records(self) -> Iterator[SourceRecord]: ...


# --- windows ---------------------------------------------------------------------------------------


@dataclass
class WindowBatch:
    """Store-ready windows of one record: ``ppg`` (n, 1250), ``ecg`` (n, 5000) or None, ``labels``."""

    ppg: np.ndarray
    ecg: np.ndarray | None
    labels: np.ndarray
    skipped: dict[str, int] = field(default_factory=dict)


def _ecg_at_500(ecg: np.ndarray, fs: float, n_out: int) -> np.ndarray:
    """Clean each finite stretch of the ECG and resample it to 500 Hz; NaN elsewhere."""
    from anyppg.signal import ECG_FS, ecg_clean, resample

    out = np.full(n_out, np.nan, dtype=np.float64)
    for a, b in finite_runs(ecg):
        if (b - a) / fs < 2.0:  # too short to filter; its windows are skipped as NaN
            continue
        seg = resample(ecg_clean(ecg[a:b], fs), fs, ECG_FS) if fs != ECG_FS else ecg_clean(ecg[a:b], fs)
        start = round(a / fs * ECG_FS)
        stop = min(n_out, start + len(seg))
        out[start:stop] = seg[: stop - start]
    return out


def record_windows(rec: SourceRecord, *, hop_s: float = 10.0, settle_s: float | None = None) -> WindowBatch:
    """Turn one record into store windows, with the preprocessing the SDK uses live.

    PPG: :func:`anyppg.signal.preprocess_recording` (resample to 125 Hz, causal 0.5-8 Hz band-pass,
    z-score) on each NaN-free stretch. ECG: :func:`anyppg.signal.ecg_clean` (0.5 Hz high-pass, notch),
    resampled to 500 Hz, cut at the PPG window's time and z-scored. Labels: HR (bpm) from R-peaks in the
    window: exact R-peaks (the simulator) give ``60 * (beats - 1) / (last - first)``; R-peaks detected
    in the ECG give 60 / mean RR without gaps (:func:`anyppg.datasets.labels.beat_rate`); a per-window reference
    (``hr_reference``) gives its mean. AF from the record's annotations. Quality: the simulator's
    truth; else, where there is an ECG-derived heart rate, whether the PPG's own beats agree with it
    (:func:`anyppg.datasets.labels.agreement`: within 5 bpm usable, 15 bpm or more not, -1 between);
    else the stream's quality gate (:func:`anyppg.signal.quality.assess_window`: ``ppg_quality`` of the
    window, a still, slow pulse read phase-corrected).

    Windows are skipped, and counted by reason, when they contain NaN (``nan``), the PPG or ECG is flat
    (``flat_ppg``, ``flat_ecg``), the ECG gives fewer than 3 R-peaks or an HR outside 25-250 bpm
    (``ecg_no_beats``), a per-window reference covers none of the window (``no_reference``), or a
    NaN-free stretch is too short for one window (``short_segment``).

    Args:
        rec: the record.
        hop_s: step between window starts (s). 10 s gives non-overlapping windows.
        settle_s: filter settling dropped at the start of each stretch (s); default the SDK's.

    Raises:
        DataFormatError: the record's PPG and ECG do not match (see :meth:`SourceRecord.check`).
    """
    from anyppg.signal import (
        DEFAULT_SETTLE_S,
        ECG_FS,
        WINDOW_S,
        PPGSegment,
        ecg_findpeaks,
        preprocess_recording,
        zscore,
    )
    from anyppg.signal.quality import assess_window

    rec.check()
    skipped: dict[str, int] = {}

    def skip(reason: str, n: int = 1) -> None:
        if n:
            skipped[reason] = skipped.get(reason, 0) + n

    settle = DEFAULT_SETTLE_S if settle_s is None else settle_s
    if rec.ppg is None:
        skip("no_ppg")
        return WindowBatch(np.zeros((0, PPG_SAMPLES), np.float32), None, empty_labels(0), skipped)
    ppg = np.asarray(rec.ppg, dtype=np.float64)
    fs = float(rec.ppg_fs)
    duration = len(ppg) / fs

    # Windows lost to NaN, counted on the nominal hop grid over the whole record.
    nan = ~np.isfinite(ppg)
    if nan.any():
        n_win, n_hop = round(WINDOW_S * fs), round(hop_s * fs)
        csum = np.concatenate([[0], np.cumsum(nan)])
        starts = np.arange(0, len(ppg) - n_win + 1, n_hop)
        skip("nan", int(np.count_nonzero(csum[starts + n_win] - csum[starts])))

    ecg500 = None
    if rec.ecg is not None:
        ecg500 = _ecg_at_500(
            np.asarray(rec.ecg, dtype=np.float64), float(rec.ecg_fs), round(duration * ECG_FS)
        )
    from anyppg.datasets.labels import agreement, beat_rate, ppg_peak_times

    r_peaks = None
    exact_peaks = rec.r_peaks_s is not None
    if rec.r_peaks_s is not None:
        r_peaks = np.asarray(rec.r_peaks_s, dtype=np.float64)
    elif ecg500 is not None:
        found = []
        for a, b in finite_runs(ecg500):
            if b - a >= 2 * ECG_FS:
                found.append((a + ecg_findpeaks(ecg500[a:b], ECG_FS, clean=False)) / ECG_FS)
        r_peaks = np.concatenate(found) if found else np.zeros(0)
    has_reference = rec.hr_reference is not None or (r_peaks is not None and not exact_peaks)
    ppg_peaks = ppg_peak_times(ppg, fs) if has_reference and rec.quality_s is None else None

    out_ppg, out_ecg, out_labels = [], [], []
    for a, b in finite_runs(ppg):
        if (b - a) / fs < settle + WINDOW_S:
            skip("short_segment")
            continue
        acc = None if rec.acc is None else np.asarray(rec.acc[a:b], dtype=np.float64)
        try:
            windows = preprocess_recording(ppg[a:b], fs, acc=acc, hop_s=hop_s, settle_s=settle)
        except InvalidSignalError:
            skip("short_segment")
            continue
        offset = a / fs
        for w in windows:
            t0 = offset + w.start_s
            if not np.all(np.isfinite(w.ppg)):
                skip("nan")
                continue
            if np.ptp(w.filtered) < 1e-9 or not np.any(w.ppg):
                skip("flat_ppg")
                continue
            labels = empty_labels(1)
            labels["start_s"] = rec.start_offset_s + t0
            ecg_win = None
            if ecg500 is not None:
                i0 = round(t0 * ECG_FS)
                ecg_win = ecg500[i0 : i0 + ECG_SAMPLES]
                if len(ecg_win) < ECG_SAMPLES or not np.all(np.isfinite(ecg_win)):
                    skip("nan")
                    continue
                if np.ptp(ecg_win) < 1e-9:
                    skip("flat_ecg")
                    continue
                ecg_win = zscore(ecg_win).astype(np.float32)
            ref_beats = None
            if rec.hr_reference is not None:
                hr = _reference_hr(rec.hr_reference, t0)
                if not HR_RANGE_BPM[0] <= hr <= HR_RANGE_BPM[1]:
                    skip("no_reference")
                    continue
                labels["hr"] = hr
            elif r_peaks is not None:
                if exact_peaks:
                    inside = r_peaks[(r_peaks >= t0) & (r_peaks < t0 + WINDOW_S)]
                    hr = 60.0 * (len(inside) - 1) / (inside[-1] - inside[0]) if len(inside) >= 3 else np.nan
                else:
                    hr, ref_beats = beat_rate(r_peaks, t0, WINDOW_S)
                if not HR_RANGE_BPM[0] <= hr <= HR_RANGE_BPM[1]:
                    skip("ecg_no_beats")
                    continue
                labels["hr"] = hr
            labels["af"] = _af_label(rec, t0)
            if rec.ectopic_s is not None:
                ectopic = np.asarray(rec.ectopic_s, dtype=np.float64)
                labels["ectopic"] = int(np.any((ectopic >= t0) & (ectopic < t0 + WINDOW_S)))
            if rec.quality_s is not None:
                q = rec.quality_s[int(t0) : int(np.ceil(t0 + WINDOW_S))]
                labels["quality"] = int(len(q) > 0 and np.mean(q) >= SIM_QUALITY_THRESHOLD)
            elif ppg_peaks is not None:
                hr_ppg, n_ppg = beat_rate(ppg_peaks, t0, WINDOW_S)
                labels["quality"] = agreement(hr_ppg, float(labels["hr"][0]), n_ppg, ref_beats)
            else:
                labels["quality"] = int(assess_window(PPGSegment(w.filtered, 125.0, acc=w.acc))[1].usable)
            out_ppg.append(w.ppg)
            out_ecg.append(ecg_win)
            out_labels.append(labels)
    n = len(out_ppg)
    ppg_arr = np.stack(out_ppg).astype(np.float32) if n else np.zeros((0, PPG_SAMPLES), np.float32)
    ecg_arr = None
    if ecg500 is not None:
        ecg_arr = np.stack(out_ecg) if n else np.zeros((0, ECG_SAMPLES), np.float32)
    labels = np.concatenate(out_labels) if n else empty_labels(0)
    return WindowBatch(ppg_arr, ecg_arr, labels, skipped)


def _reference_hr(reference: tuple[np.ndarray, float, np.ndarray], t0: float) -> float:
    """Mean reference heart rate (bpm) over the reference windows that lie inside [t0, t0 + 10 s)."""
    from anyppg.signal import WINDOW_S

    starts, length, bpm = reference
    starts = np.asarray(starts, dtype=np.float64)
    bpm = np.asarray(bpm, dtype=np.float64)
    inside = (starts >= t0 - 1e-9) & (starts + length <= t0 + WINDOW_S + 1e-9) & np.isfinite(bpm)
    return float(np.mean(bpm[inside])) if inside.any() else float("nan")


def _af_label(rec: SourceRecord, t0: float) -> int:
    if rec.af_intervals is None:
        return rec.af
    overlap = sum(max(0.0, min(b, t0 + 10.0) - max(a, t0)) for a, b in rec.af_intervals)
    return int(overlap >= 5.0)


# --- the simulator ---------------------------------------------------------------------------------


@dataclass
class SimSource:
    """Many simulated subjects: varied HR, HRV, AF, ectopic beats, motion and noise (seeded).

    Each subject draws fixed traits (resting HR, AF or sinus, ectopic rate, noise, how much they move)
    and gets ``records_per_subject`` records of ``record_s`` seconds that vary around those traits.

    Args:
        hours: total simulated time (h).
        record_s: length of one record (s).
        records_per_subject: records per subject (so the subject count is hours*3600 / record_s / this).
        af_fraction: share of subjects in atrial fibrillation.
        seed: everything follows from it.
    """

    hours: float = 1.0
    record_s: float = 120.0
    records_per_subject: int = 2
    af_fraction: float = 0.25
    seed: int = 0
    ppg_rate: float = 125.0
    ecg_rate: float = 500.0
    name: str = "sim"
    skipped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.hours <= 0 or self.record_s < 20 or self.records_per_subject < 1:
            raise ValueError(
                f"SimSource needs hours > 0, record_s >= 20 s, records_per_subject >= 1; got {self.hours}, "
                f"{self.record_s}, {self.records_per_subject}"
            )
        n_records = max(1, round(self.hours * 3600 / self.record_s))
        self.n_subjects = max(1, int(np.ceil(n_records / self.records_per_subject)))
        self.n_records = n_records

    def subjects(self) -> list[str]:
        return [f"sim{i:05d}" for i in range(self.n_subjects)]

    def traits(self, subject_index: int) -> dict[str, Any]:
        """The fixed traits of one simulated subject (deterministic in ``seed``)."""
        rng = np.random.default_rng([self.seed, subject_index, 0])
        return {
            "heart_rate": float(rng.uniform(48, 130)),  # rest to exercise / tachycardia
            "rhythm": "af" if rng.random() < self.af_fraction else "sinus",
            "ectopic_rate": float(rng.choice([0.0, 0.0, 0.02, 0.08])),
            "noise": float(rng.uniform(0.01, 0.08)),
            "motion": float(rng.choice([0.0, 0.0, 0.3, 0.8])),
        }

    def records(self) -> Iterator[SourceRecord]:
        import anyppg

        made = 0
        for s, subject in enumerate(self.subjects()):
            traits = self.traits(s)
            for r in range(self.records_per_subject):
                if made >= self.n_records:
                    return
                rng = np.random.default_rng([self.seed, s, r + 1])
                sim = anyppg.simulate(
                    self.record_s,
                    heart_rate=float(np.clip(traits["heart_rate"] + rng.normal(0, 8), 40, 160)),
                    rhythm=traits["rhythm"],
                    ectopic_rate=traits["ectopic_rate"],
                    noise=traits["noise"],
                    motion=float(traits["motion"] * rng.uniform(0.5, 1.5)),
                    ppg_rate=self.ppg_rate,
                    ecg_rate=self.ecg_rate,
                    seed=int(rng.integers(2**31)),
                )
                made += 1
                yield SourceRecord(
                    subject=subject,
                    record=f"{subject}/r{r}",
                    ppg=sim.ppg,
                    ppg_fs=sim.ppg_rate,
                    ecg=sim.ecg,
                    ecg_fs=sim.ecg_rate,
                    acc=sim.acc,
                    r_peaks_s=sim.r_peaks,
                    ectopic_s=sim.r_peaks[sim.ectopic],
                    af=int(sim.rhythm == "af"),
                    quality_s=_per_second(sim.quality, sim.ppg_rate, sim.duration_s),
                )


def _per_second(quality: np.ndarray, fs: float, duration_s: float) -> np.ndarray:
    q = np.asarray(quality, dtype=np.float64)
    n = int(np.ceil(duration_s))
    if len(q) == n:  # already per second
        return q
    per = max(1, round(fs))
    usable = len(q) // per * per
    return q[:usable].reshape(-1, per).mean(axis=1)


# --- file readers ----------------------------------------------------------------------------------


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        from anyppg.errors import RuntimeUnavailableError

        raise RuntimeUnavailableError(module, _DATA_EXTRA) from exc


def _files(root: Path, patterns: Sequence[str]) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DataFormatError(str(root), "no such file or folder")
    found = sorted({p for pattern in patterns for p in root.rglob(pattern)})
    if not found:
        raise DataFormatError(str(root), f"no files matching {', '.join(patterns)} under this folder")
    return found


def _subject_from_stem(stem: str) -> str:
    """``p000020-2183-04-28-17-47`` -> ``p000020`` (MIMIC-III matched); otherwise the stem."""
    return re.split(r"[-_]", stem, maxsplit=1)[0] or stem


class _FileSource:
    """Shared plumbing: list files, derive subjects, read each file, skip and count broken ones."""

    name = "files"
    patterns: tuple[str, ...] = ()

    def __init__(self, root: str | os.PathLike[str], subject_of: Callable[[Path], str] | None = None) -> None:
        self.root = Path(root)
        self.subject_of = subject_of or (lambda p: _subject_from_stem(p.stem))
        self.skipped: dict[str, int] = {}
        self._paths: list[Path] | None = None

    def paths(self) -> list[Path]:
        if self._paths is None:
            self._paths = _files(self.root, self.patterns)
        return self._paths

    def subjects(self) -> list[str]:
        return sorted({self.subject_of(p) for p in self.paths()})

    def read(self, path: Path) -> list[SourceRecord]:  # pragma: no cover - abstract
        raise NotImplementedError

    def records(self) -> Iterator[SourceRecord]:
        for path in self.paths():
            try:
                recs = self.read(path)
                for rec in recs:
                    rec.check(str(path))
            except (DataFormatError, InvalidSignalError) as exc:
                log.warning("skipping %s: %s", path, exc)
                self.skipped["corrupt_file"] = self.skipped.get("corrupt_file", 0) + 1
                continue
            except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
                log.warning("skipping %s: cannot read it (%s: %s)", path, type(exc).__name__, exc)
                self.skipped["corrupt_file"] = self.skipped.get("corrupt_file", 0) + 1
                continue
            yield from recs


class WfdbSource(_FileSource):
    """WFDB records (``.hea`` + signal files), e.g. MIMIC-III waveform database matched subset.

    PPG is the channel named ``PLETH`` (or another of :data:`PPG_NAMES`), ECG lead ``II`` (or another
    of :data:`ECG_NAMES`), each at its own rate (the record's frame rate x its samples per frame; a
    multi-frequency record is not averaged down to the frame rate). Rhythm annotations in a ``.atr`` file
    (MIT-BIH convention: ``aux_note`` ``(AFIB`` starts AF, any other ``(XXX`` ends it) give AF labels.
    The subject is the record name up to the first ``-`` (``p000020-2183-...`` -> ``p000020``).
    """

    name = "wfdb"
    patterns = ("*.hea",)

    def read(self, path: Path) -> list[SourceRecord]:
        wfdb = _require("wfdb")
        stem = str(path.with_suffix(""))
        try:
            record = wfdb.rdrecord(stem, smooth_frames=False)  # every signal at its own rate
        except Exception as exc:  # wfdb raises bare Exceptions for malformed headers
            raise DataFormatError(str(path), f"not a readable WFDB record: {exc}") from exc
        names = list(record.sig_name or [])
        signals = record.e_p_signal or []
        per_frame = list(record.samps_per_frame or [1] * len(names))
        i_ppg, i_ecg = match_channel(names, PPG_NAMES), match_channel(names, ECG_NAMES)
        if i_ppg is None:
            raise DataFormatError(str(path), f"no PPG channel (one of {PPG_NAMES}); channels are {names}")
        fs = float(record.fs)  # the frame rate, which annotation sample numbers count in
        ppg = np.asarray(signals[i_ppg], dtype=np.float64)
        af_intervals = None
        if Path(stem + ".atr").is_file():
            ann = wfdb.rdann(stem, "atr")
            af_intervals = _rhythm_intervals(
                np.asarray(ann.sample) / fs, ann.aux_note or [], len(ppg) / (fs * per_frame[i_ppg])
            )
        return [
            SourceRecord(
                subject=self.subject_of(path),
                record=path.stem,
                ppg=ppg,
                ppg_fs=fs * per_frame[i_ppg],
                ecg=None if i_ecg is None else np.asarray(signals[i_ecg], dtype=np.float64),
                ecg_fs=None if i_ecg is None else fs * per_frame[i_ecg],
                af=-1 if af_intervals is None else 0,
                af_intervals=af_intervals,
            )
        ]


def _rhythm_intervals(times: np.ndarray, notes: Sequence[str], end_s: float) -> list[tuple[float, float]]:
    """AF episodes from MIT-BIH style rhythm notes (``(AFIB`` ... next ``(XXX``)."""
    intervals, start = [], None
    for t, note in zip(times, notes, strict=False):
        note = (note or "").strip("\x00 ")
        if not note.startswith("("):
            continue
        if note.upper().startswith("(AFIB") or note.upper().startswith("(AF"):
            start = float(t) if start is None else start
        elif start is not None:
            intervals.append((start, float(t)))
            start = None
    if start is not None:
        intervals.append((start, end_s))
    return intervals


class VitalDBSource(_FileSource):
    """VitalDB ``.vital`` files (one surgical case each; the case is the subject).

    Reads ``SNUADC/PLETH`` and ``SNUADC/ECG_II`` each at its own recorded rate (VitalDB's
    ``to_numpy`` would repeat samples to reach a common rate). Gaps come back as NaN and are skipped.
    """

    name = "vitaldb"
    patterns = ("*.vital",)
    ppg_track = "SNUADC/PLETH"
    ecg_track = "SNUADC/ECG_II"

    def __init__(self, root: str | os.PathLike[str], subject_of: Callable[[Path], str] | None = None) -> None:
        super().__init__(root, subject_of or (lambda p: p.stem))

    def read(self, path: Path) -> list[SourceRecord]:
        vitaldb = _require("vitaldb")
        try:
            with warnings.catch_warnings():
                # vitaldb 1.x closes its gzip reader but not the file under it: a ResourceWarning
                # that is vitaldb's, not the data's.
                warnings.simplefilter("ignore", ResourceWarning)
                vf = vitaldb.VitalFile(str(path))
        except Exception as exc:  # vitaldb raises bare Exceptions on broken files
            raise DataFormatError(str(path), f"not a readable .vital file: {exc}") from exc
        names = vf.get_track_names()
        if self.ppg_track not in names:
            raise DataFormatError(str(path), f"no {self.ppg_track} track; tracks are {names}")

        def track(name: str) -> tuple[np.ndarray, float] | None:
            if name not in names:
                return None
            rate = float(vf.trks[name].srate)
            if rate <= 0:
                raise DataFormatError(str(path), f"track {name} is not a waveform (srate {rate})")
            return vf.to_numpy([name], 1.0 / rate)[:, 0].astype(np.float64), rate

        ppg, ppg_fs = track(self.ppg_track)
        ecg = track(self.ecg_track)
        return [
            SourceRecord(
                subject=self.subject_of(path),
                record=path.stem,
                ppg=ppg,
                ppg_fs=ppg_fs,
                ecg=None if ecg is None else ecg[0],
                ecg_fs=None if ecg is None else ecg[1],
            )
        ]


class PulseDBSource(_FileSource):
    """PulseDB ``.mat`` files of 10 s segments at 125 Hz (MIMIC-III and VitalDB derived).

    Two layouts are read: per-subject files with a ``Subj_Wins`` struct (fields ``PPG_Raw`` or
    ``PPG_F``, ``ECG_Raw`` or ``ECG_F``, ``SubjectID``) and subset files with ``Subset.Signals``
    (n, 3, 1250: ECG, PPG, ABP) and ``Subset.Subject``. MATLAB v7.3 files are read with h5py, older ones
    with scipy.io.loadmat. Each segment is one record and gives one window: there is no room for the
    filter to settle, so the band-pass starts at its steady state for the first sample (settle 0 s).
    """

    name = "pulsedb"
    patterns = ("*.mat",)
    fs = 125.0
    settle_s = 0.0

    def subjects(self) -> list[str]:
        out: set[str] = set()
        for path in self.paths():
            try:
                out.update(seg[0] for seg in self._segments(path))
            except (DataFormatError, OSError, ValueError, KeyError) as exc:
                log.warning("cannot list subjects of %s: %s", path, exc)
        return sorted(out)

    def read(self, path: Path) -> list[SourceRecord]:
        return [
            SourceRecord(
                subject=s, record=f"{path.stem}/{i}", ppg=ppg, ppg_fs=self.fs, ecg=ecg, ecg_fs=self.fs
            )
            for i, (s, ppg, ecg) in enumerate(self._segments(path))
        ]

    def _segments(self, path: Path) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
        fields = _mat_fields_h5(path) if _is_hdf5(path) else _mat_fields_v5(path)
        return _pulsedb_segments(str(path), fields)


def _is_hdf5(path: Path) -> bool:
    """MATLAB v7.3 files are HDF5 (signature at byte 0 or after the 512-byte MATLAB preamble)."""
    with open(path, "rb") as f:
        head = f.read(1024)
    return b"\x89HDF\r\n\x1a\n" in head


def _mat_fields_v5(path: Path) -> dict[str, Any]:
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except (ValueError, TypeError, OSError) as exc:
        raise DataFormatError(str(path), f"not a readable .mat file: {exc}") from exc
    for top in ("Subj_Wins", "Subset"):
        if top in mat:
            obj = mat[top]
            items = np.atleast_1d(obj)
            names = items[0]._fieldnames
            if top == "Subset":
                return {"layout": "subset", **{k: getattr(obj, k) for k in names}}
            return {"layout": "wins", **{k: [getattr(it, k) for it in items] for k in names}}
    raise DataFormatError(
        str(path),
        f"expected a Subj_Wins or Subset struct; found {sorted(k for k in mat if not k.startswith('__'))}",
    )


def _mat_fields_h5(path: Path) -> dict[str, Any]:
    h5py = _require("h5py")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataFormatError(str(path), f"not a readable MATLAB v7.3 (HDF5) file: {exc}") from exc
    with f:
        for top in ("Subj_Wins", "Subset"):
            if top not in f:
                continue
            group = f[top]
            out: dict[str, Any] = {"layout": "subset" if top == "Subset" else "wins"}
            for key in group:
                ds = group[key]
                if ds.dtype == h5py.ref_dtype:  # a struct array: one referenced dataset per element
                    out[key] = [_h5_value(f[ref]) for ref in ds[()].ravel()]
                else:
                    out[key] = _h5_value(ds)
            return out
        raise DataFormatError(str(path), f"expected a Subj_Wins or Subset group; found {list(f.keys())}")


def _h5_value(ds: Any) -> Any:
    value = ds[()]
    if ds.attrs.get("MATLAB_class", b"") in (b"char", "char"):
        return "".join(chr(c) for c in np.asarray(value).ravel())
    return np.asarray(value)


def _pulsedb_segments(path: str, fields: dict[str, Any]) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    def first(*keys: str) -> Any:
        for k in keys:
            if k in fields:
                return fields[k]
        return None

    if fields["layout"] == "subset":
        signals = np.asarray(first("Signals"), dtype=np.float64)
        subjects = first("Subject", "SubjectID", "Subj_ID")
        # MATLAB stores (n, 3, 1250); h5py sees it transposed as (1250, 3, n).
        if signals.ndim != 3:
            raise DataFormatError(path, f"Signals has shape {signals.shape}; expected (n, 3, 1250)")
        if signals.shape[-1] != PPG_SAMPLES and signals.shape[0] == PPG_SAMPLES:
            signals = signals.transpose(2, 1, 0)
        if signals.shape[1:] != (3, PPG_SAMPLES):
            raise DataFormatError(path, f"Signals has shape {signals.shape}; expected (n, 3, 1250)")
        subjects = [str(s).strip() for s in np.atleast_1d(subjects)] if subjects is not None else None
        if subjects is None or len(subjects) != len(signals):
            raise DataFormatError(path, f"expected Subject with one id per segment ({len(signals)})")
        return [(subjects[i], signals[i, 1], signals[i, 0]) for i in range(len(signals))]

    ppg = first("PPG_Raw", "PPG_F", "PPG")
    ecg = first("ECG_Raw", "ECG_F", "ECG")
    ids = first("SubjectID", "Subj_ID", "Subject")
    if ppg is None:
        raise DataFormatError(path, f"no PPG field (PPG_Raw / PPG_F); fields are {sorted(fields)}")
    ppg_list = [np.asarray(p, dtype=np.float64).ravel() for p in ppg]
    ecg_list = None if ecg is None else [np.asarray(e, dtype=np.float64).ravel() for e in ecg]
    if ids is None:
        ids = [Path(path).stem] * len(ppg_list)
    ids = [str(np.asarray(i).ravel()[0]) if not isinstance(i, str) else i.strip() for i in ids]
    if len(ids) != len(ppg_list):
        raise DataFormatError(path, f"{len(ids)} subject ids for {len(ppg_list)} PPG segments")
    return [(ids[i], ppg_list[i], None if ecg_list is None else ecg_list[i]) for i in range(len(ppg_list))]


class EdfSource(_FileSource):
    """EDF / EDF+ polysomnography (NSRR MESA, CFS, HSP style).

    PPG is the first channel named like ``Pleth`` (:data:`PPG_NAMES`), ECG like ``EKG`` / ``ECG``
    (:data:`ECG_NAMES`), each at its own rate. AF episodes come from EDF+ annotations or an NSRR XML
    file next to the EDF (``<name>-nsrr.xml`` or ``<name>.xml``): events whose text mentions atrial
    fibrillation. In a file with AF events, windows outside them are labelled 0; in a file without any,
    AF is unknown (-1), since sleep scoring alone says nothing about rhythm.
    """

    name = "edf"
    patterns = ("*.edf", "*.EDF")

    def read(self, path: Path) -> list[SourceRecord]:
        pyedflib = _require("pyedflib")
        try:
            reader = pyedflib.EdfReader(str(path))
        except OSError as exc:
            raise DataFormatError(str(path), f"not a readable EDF file: {exc}") from exc
        try:
            labels = [label.strip() for label in reader.getSignalLabels()]
            i_ppg, i_ecg = match_channel(labels, PPG_NAMES), match_channel(labels, ECG_NAMES)
            if i_ppg is None:
                raise DataFormatError(
                    str(path), f"no PPG channel (one of {PPG_NAMES}); channels are {labels}"
                )
            ppg, ppg_fs = reader.readSignal(i_ppg), float(reader.getSampleFrequency(i_ppg))
            ecg = ecg_fs = None
            if i_ecg is not None:
                ecg, ecg_fs = reader.readSignal(i_ecg), float(reader.getSampleFrequency(i_ecg))
            onsets, durations, texts = reader.readAnnotations()
        finally:
            reader.close()
        events = [(float(o), float(d), str(t)) for o, d, t in zip(onsets, durations, texts, strict=False)]
        for xml in (path.with_name(path.stem + "-nsrr.xml"), path.with_suffix(".xml")):
            if xml.is_file():
                events += _nsrr_events(xml)
        af_events = [(o, o + d) for o, d, t in events if _is_af(t)]
        # Sleep scoring (stages, apneas, arousals) says nothing about rhythm: only a file that marks AF
        # somewhere is taken as rhythm-scored; elsewhere AF stays unknown.
        has_rhythm = bool(af_events)
        return [
            SourceRecord(
                subject=self.subject_of(path),
                record=path.stem,
                ppg=np.asarray(ppg, dtype=np.float64),
                ppg_fs=ppg_fs,
                ecg=None if ecg is None else np.asarray(ecg, dtype=np.float64),
                ecg_fs=ecg_fs,
                af=0 if has_rhythm else -1,
                af_intervals=af_events if has_rhythm else None,
            )
        ]


def _is_af(text: str) -> bool:
    t = text.lower()
    return "atrial fib" in t or "afib" in t or t.strip("( ") == "af"


def _nsrr_events(path: Path) -> list[tuple[float, float, str]]:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise DataFormatError(str(path), f"not valid NSRR XML: {exc}") from exc
    out = []
    for ev in root.iter("ScoredEvent"):
        text = " ".join(filter(None, [ev.findtext("EventConcept"), ev.findtext("EventType")]))
        start, dur = ev.findtext("Start"), ev.findtext("Duration")
        if start is not None and dur is not None:
            out.append((float(start), float(dur), text))
    return out


class CsvSource(_FileSource):
    """CSV files with a header ``t,ppg[,acc_x,acc_y,acc_z]`` (t in seconds); one file per record.

    The rate is taken from ``t``; irregular timestamps (jitter over 5 % of the median step) are put on a
    uniform grid at the mean rate. The subject is the file stem up to the first ``-`` or ``_``.
    """

    name = "csv"
    patterns = ("*.csv",)

    def read(self, path: Path) -> list[SourceRecord]:
        try:
            with open(path, newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
        except (UnicodeDecodeError, csv.Error) as exc:
            raise DataFormatError(str(path), f"not a CSV text file with a header t,ppg ({exc})") from None
        header = [h.strip().lower() for h in header]
        if "t" not in header or "ppg" not in header:
            shown = ",".join(header)[:80]
            raise DataFormatError(str(path), f"expected a header t,ppg[,acc_x,acc_y,acc_z]; got {shown!r}")
        acc_cols = [c for c in ("acc_x", "acc_y", "acc_z") if c in header]
        if 0 < len(acc_cols) < 3:
            raise DataFormatError(
                str(path), f"has {','.join(acc_cols)} but acc needs all of acc_x,acc_y,acc_z"
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an empty body: "input contained no data"
                data = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=np.float64, ndmin=2)
        except ValueError as exc:  # rows of different lengths; numpy's message spans lines
            detail = " ".join(str(exc).split())[:160]
            raise DataFormatError(
                str(path), f"rows must match the header {','.join(header)}: {detail}"
            ) from None
        if data.size == 0:
            raise DataFormatError(str(path), f"has a header but no rows; expected rows of {','.join(header)}")
        if data.shape[1] != len(header):
            raise DataFormatError(
                str(path), f"rows have {data.shape[1]} columns; the header has {len(header)}"
            )
        t, ppg = data[:, header.index("t")], data[:, header.index("ppg")]
        acc = None
        if all(c in header for c in ("acc_x", "acc_y", "acc_z")):
            acc = np.column_stack([data[:, header.index(c)] for c in ("acc_x", "acc_y", "acc_z")])
        ppg, fs, acc = _uniform(str(path), t, ppg, acc)
        return [SourceRecord(subject=self.subject_of(path), record=path.stem, ppg=ppg, ppg_fs=fs, acc=acc)]


def _uniform(
    where: str, t: np.ndarray, ppg: np.ndarray, acc: np.ndarray | None
) -> tuple[np.ndarray, float, np.ndarray | None]:
    """(samples, rate) on a uniform grid from timestamps in seconds."""
    if len(t) < 2 or not np.all(np.isfinite(t)):
        raise DataFormatError(where, "t must hold at least 2 finite timestamps (s)")
    dt = np.diff(t)
    if np.any(dt <= 0):
        i = int(np.argmax(dt <= 0))
        raise DataFormatError(
            where, f"t must increase strictly; t[{i + 1}] = {t[i + 1]} after t[{i}] = {t[i]}"
        )
    step = float(t[-1] - t[0]) / (len(t) - 1)  # the mean step: jitter does not bias it
    fs = 1.0 / step
    if np.max(np.abs(dt - step)) <= 0.05 * step:
        return ppg, fs, acc
    grid = np.arange(t[0], t[-1], step)
    ppg_u = np.interp(grid, t, ppg)
    acc_u = None if acc is None else np.column_stack([np.interp(grid, t, acc[:, k]) for k in range(3)])
    return ppg_u, fs, acc_u


class NpzSource(_FileSource):
    """NPZ files with ``ppg`` and ``fs`` (Hz) or ``t`` (s); optional ``acc`` (n, 3), ``ecg`` + ``ecg_fs``,
    ``subject`` (else the file stem up to the first ``-`` or ``_``). This is also what ``anyppg record``
    writes."""

    name = "npz"
    patterns = ("*.npz",)

    def subjects(self) -> list[str]:
        return sorted({self._subject(p) for p in self.paths()})

    def _subject(self, path: Path) -> str:
        try:
            with open_npz(path) as z:
                if "subject" in z.files:
                    return str(z["subject"])
        except DataFormatError:
            pass  # read() reports the file; here it only loses its stored subject name
        return self.subject_of(path)

    def read(self, path: Path) -> list[SourceRecord]:
        """One record from an NPZ file.

        Raises:
            DataFormatError: the file is not a readable NPZ archive, or lacks or mis-shapes an array.
        """
        with open_npz(path) as z:
            if "ppg" not in z.files:
                raise DataFormatError(str(path), f"no 'ppg' array; arrays are {z.files}")
            ppg = _ppg_channel0(str(path), z["ppg"])
            acc = _npz_real(str(path), z, "acc") if "acc" in z.files else None
            if "fs" in z.files:
                fs = _npz_number(str(path), z, "fs")
            elif "t" in z.files:
                t = _npz_real(str(path), z, "t")
                if t.shape != ppg.shape:
                    raise DataFormatError(
                        str(path), f"t has {t.shape} samples; expected {ppg.shape} like ppg"
                    )
                ppg, fs, acc = _uniform(str(path), t, ppg, acc)
            else:
                raise DataFormatError(str(path), "needs 'fs' (Hz) or 't' (s) next to 'ppg'")
            ecg = ecg_fs = None
            if "ecg" in z.files:
                if "ecg_fs" not in z.files:
                    raise DataFormatError(str(path), "has 'ecg' but no 'ecg_fs' (Hz)")
                ecg, ecg_fs = (
                    _npz_real(str(path), z, "ecg").ravel(),
                    _npz_number(str(path), z, "ecg_fs"),
                )
            subject = str(z["subject"]) if "subject" in z.files else self.subject_of(path)
        return [
            SourceRecord(
                subject=subject, record=path.stem, ppg=ppg, ppg_fs=fs, acc=acc, ecg=ecg, ecg_fs=ecg_fs
            )
        ]


def _npz_real(where: str, z: Any, key: str) -> np.ndarray:
    """An NPZ array as float64, refusing text, complex, boolean or object arrays by name."""
    value = np.asarray(z[key])
    if value.dtype.kind not in "iuf":
        raise DataFormatError(where, f"{key!r} must hold real numbers; it has dtype {value.dtype}")
    return value.astype(np.float64)


def _npz_number(where: str, z: Any, key: str) -> float:
    """A scalar stored in an NPZ (``fs``, ``ecg_fs``), refused with its shape when it is an array."""
    value = np.asarray(z[key])
    if value.size != 1 or value.dtype.kind not in "iuf":
        raise DataFormatError(
            where, f"{key!r} must be one number (Hz); it has shape {value.shape}, dtype {value.dtype}"
        )
    return float(value.reshape(()))


def _ppg_channel0(where: str, ppg: Any) -> np.ndarray:
    """``ppg`` ``(n,)``, or channel 0 of ``(n, channels)`` (samples along axis 0, as ``anyppg record`` and
    ``replay:`` read it); any other shape is refused rather than flattened."""
    arr = np.asarray(ppg)
    if arr.dtype.kind not in "iuf":
        raise DataFormatError(where, f"ppg must hold real numbers; it has dtype {arr.dtype}")
    if arr.ndim == 1:
        return arr.astype(np.float64)
    if arr.ndim == 2 and arr.shape[0] > arr.shape[1] >= 1:
        if arr.shape[1] > 1:
            log.warning("%s: ppg has %d channels %s; using channel 0", where, arr.shape[1], arr.shape)
        return arr[:, 0].astype(np.float64)
    raise DataFormatError(
        where, f"ppg has shape {arr.shape}; expected (n,) or (n, channels) with samples along axis 0"
    )


_READERS: dict[str, type[_FileSource]] = {
    "wfdb": WfdbSource,
    "vitaldb": VitalDBSource,
    "pulsedb": PulseDBSource,
    "edf": EdfSource,
    "csv": CsvSource,
    "npz": NpzSource,
}


class UnknownSourceError(AnyPPGError, ValueError):
    """A ``--source`` string names no known source.

    Attributes:
        spec: the string.
        known: the schemes that are supported.
    """

    def __init__(self, spec: str, known: Sequence[str]) -> None:
        super().__init__(
            f"unknown source {spec!r}; expected sim or one of {', '.join(f'{k}:DIR' for k in known)}"
        )
        self.spec = spec
        self.known = list(known)


def open_source(spec: str, **sim_options: Any) -> Any:
    """A source from a ``--source`` string: ``sim``, a format (``wfdb:DIR``, ``vitaldb:DIR``,
    ``pulsedb:DIR``, ``edf:DIR``, ``csv:PATH``, ``npz:PATH``) or a published dataset (``bidmc:DIR``,
    ``mimicdb:DIR``, ``liu:DIR``, ``troika:DIR``, ``bami:DIR``; DIR is the dataset's folder or the data
    folder holding it, see :mod:`anyppg.trainer.dataset_sources`).

    Raises:
        UnknownSourceError: the scheme is not one of those.
        DataFormatError: the path does not exist, or holds none of the dataset's files.
    """
    from anyppg.trainer.dataset_sources import DATASET_SOURCES

    if spec == "sim":
        return SimSource(**sim_options)
    scheme, sep, rest = spec.partition(":")
    if not sep or scheme not in (*_READERS, *DATASET_SOURCES) or not rest:
        raise UnknownSourceError(spec, [*_READERS, *DATASET_SOURCES])
    path = Path(rest).expanduser()
    if not path.exists():
        raise DataFormatError(str(path), "no such file or folder")
    if scheme in DATASET_SOURCES:
        from anyppg.datasets import dataset_folder

        return DATASET_SOURCES[scheme](dataset_folder(scheme, path))
    return _READERS[scheme](path)
