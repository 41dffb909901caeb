"""Per-window labels from reference beats: ECG heart rate, PPG usability by agreement, rhythm.

:func:`window_labels` cuts a recording into windows (10 s, at a hop) and gives each one

- ``hr_ecg_bpm``: 60 / mean RR of the reference beats (ECG R-peaks) inside the window, i.e. beats
  per minute (right under ectopy and AF: a median RR reads bigeminy at 80 bpm as 132), leaving out
  intervals outside 0.25-2.4 s (gaps); NaN when the beats do not cover the window;
- ``hr_ppg_bpm``: the same from the PPG's own systolic peaks (:func:`anyppg.signal.ppg_findpeaks`,
  zero-phase, on the whole recording);
- ``usable``: whether the PPG shows the heartbeat the ECG shows. 1 when the two rates agree within
  ``agree_bpm`` (5) and the beat counts within one; 0 when they differ by ``disagree_bpm`` (15) or
  more, or by three beats or more, or the PPG shows no beats; -1 (unlabelled) in between, where the
  ECG has no rate, or the PPG has missing samples;
- ``rhythm`` / ``af``: the record's rhythm class where one is known (-1 otherwise).

These are the labels the quality head is trained and scored on; they come from the ECG, not from a
PPG quality index, so a head that learns them learns what a clean pulse is, not what an SQI likes.

Example:
    >>> import anyppg
    >>> sim = anyppg.simulate(60, heart_rate=72, seed=1)
    >>> lab = window_labels(sim.ppg, sim.ppg_rate, sim.r_peaks)
    >>> len(lab), bool(abs(lab.hr_ecg_bpm - 72).max() < 6), lab.usable.tolist()
    (6, True, [1, 1, 1, 1, 1, 1])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from anyppg.signal._checks import InvalidParameterError, check_rate
from anyppg.signal.filters import ppg_clean
from anyppg.signal.peaks import ppg_findpeaks
from anyppg.signal.runs import finite_runs

__all__ = [
    "AGREE_BPM",
    "DISAGREE_BPM",
    "RELIABLE_WITHIN_BPM",
    "WindowLabels",
    "agreement",
    "annotated_polarity",
    "annotation_regular",
    "beat_rate",
    "ppg_peak_times",
    "reference_reliable",
    "second_rpeak_times",
    "window_labels",
]

AGREE_BPM = 5.0
"""PPG and ECG heart rates this close (bpm) label a window usable."""

DISAGREE_BPM = 15.0
"""PPG and ECG heart rates this far apart (bpm) label a window unusable."""

RR_RANGE_S = (0.25, 2.4)
"""RR intervals outside this range (s) (240-25 bpm) are gaps or double detections, not beats."""

MIN_COVER = 0.5
"""The beats of a window must span at least this fraction of it for a rate to be given."""

RELIABLE_WITHIN_BPM = 5.0
"""Two ECG R-peak detectors whose window rates are this close (bpm), with beat counts within one,
make the window's ECG reference reliable (:func:`reference_reliable`)."""


@dataclass(frozen=True)
class WindowLabels:
    """Labels of consecutive windows; every array has one entry per window.

    Attributes:
        start_s: window start (s from the first sample).
        window_s: window length (s).
        hr_ecg_bpm: heart rate from the reference beats (bpm), NaN where unknown.
        hr_ppg_bpm: heart rate from the PPG peaks (bpm), NaN where unknown.
        ecg_beats: reference beats inside the window.
        ppg_beats: PPG peaks inside the window.
        usable: 1 usable, 0 not, -1 unlabelled (int8).
        rhythm: rhythm class (see :data:`anyppg.datasets.rhythm.RHYTHM_CLASSES`), -1 unknown (int8).
        af: 1 atrial fibrillation, 0 another known rhythm, -1 unknown (int8).
    """

    start_s: np.ndarray
    window_s: float
    hr_ecg_bpm: np.ndarray
    hr_ppg_bpm: np.ndarray
    ecg_beats: np.ndarray
    ppg_beats: np.ndarray
    usable: np.ndarray
    rhythm: np.ndarray
    af: np.ndarray

    def __len__(self) -> int:
        return len(self.start_s)


def beat_rate(beats_s: np.ndarray, start_s: float, window_s: float) -> tuple[float, int]:
    """Heart rate (bpm) of the beats inside ``[start_s, start_s + window_s)`` and how many there are.

    The rate is 60 / mean of the RR intervals within :data:`RR_RANGE_S` (beats per minute; a missed
    beat lowers it, which is why the R-peak detector is validated, see ``docs/data.md``); NaN with
    fewer than two such intervals or when the beats span less than :data:`MIN_COVER` of the window.

    Args:
        beats_s: sorted beat times (s).
        start_s: window start (s).
        window_s: window length (s).
    """
    b = np.asarray(beats_s, dtype=np.float64)
    inside = b[np.searchsorted(b, start_s, "left") : np.searchsorted(b, start_s + window_s, "left")]
    if len(inside) < 3 or inside[-1] - inside[0] < MIN_COVER * window_s:
        return float("nan"), len(inside)
    rr = np.diff(inside)
    rr = rr[(rr >= RR_RANGE_S[0]) & (rr <= RR_RANGE_S[1])]
    if len(rr) < 2:
        return float("nan"), len(inside)
    return 60.0 / float(np.mean(rr)), len(inside)


def agreement(
    hr_ppg: float,
    hr_reference: float,
    n_ppg: int | None = None,
    n_reference: int | None = None,
    *,
    agree_bpm: float = AGREE_BPM,
    disagree_bpm: float = DISAGREE_BPM,
) -> int:
    """The usability label of one window from its PPG and reference heart rates.

    Args:
        hr_ppg: heart rate from the PPG's peaks (bpm); NaN when the PPG shows no regular beats.
        hr_reference: heart rate from the ECG (bpm); NaN when unknown.
        n_ppg: PPG peaks in the window, or None to skip the beat-count check.
        n_reference: reference beats in the window, or None to skip the beat-count check.
        agree_bpm: rates this close (and counts within one) give 1.
        disagree_bpm: rates this far apart (or counts three or more apart) give 0.

    Returns:
        1 usable, 0 unusable, -1 unlabelled (no reference, or in between).
    """
    if not np.isfinite(hr_reference):
        return -1
    if not np.isfinite(hr_ppg):
        return 0
    counts = n_ppg is not None and n_reference is not None
    count_gap = abs(int(n_ppg) - int(n_reference)) if counts else 0  # type: ignore[arg-type]
    gap = abs(hr_ppg - hr_reference)
    if gap <= agree_bpm and count_gap <= 1:
        return 1
    if gap >= disagree_bpm or count_gap >= 3:
        return 0
    return -1


def ppg_peak_times(ppg: np.ndarray, sampling_rate: float, *, min_stretch_s: float = 4.0) -> np.ndarray:
    """Systolic peak times (s) of a PPG with possible NaN gaps, each finite stretch searched alone.

    Raises:
        InvalidSignalError: ``ppg`` is not 1-D numeric.
        UnsupportedRateError: a bad rate.
    """
    return _times_per_finite_stretch(ppg, sampling_rate, "PPG", min_stretch_s, ppg_findpeaks)


def _times_per_finite_stretch(
    signal: np.ndarray,
    sampling_rate: float,
    what: str,
    min_stretch_s: float,
    find: Callable[[np.ndarray, float], np.ndarray | None],
) -> np.ndarray:
    """Event times (s) of a 1-D ``signal`` with NaN gaps: ``find(stretch, fs)`` (sample indices, or
    None for none) on each finite stretch of at least ``min_stretch_s``, offset to the whole signal.

    Raises:
        InvalidSignalError: ``signal`` is not 1-D numeric.
        UnsupportedRateError: a bad rate.
    """
    fs = check_rate(sampling_rate, what=what)
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1:
        from anyppg.errors import InvalidSignalError

        raise InvalidSignalError(f"{what} must have shape (n,); got {x.shape}")
    found = []
    for a, b in finite_runs(x):
        if (b - a) / fs >= min_stretch_s and (idx := find(x[a:b], fs)) is not None:
            found.append((a + np.asarray(idx, dtype=np.float64)) / fs)
    return np.concatenate(found).astype(np.float64) if found else np.zeros(0)


def window_labels(
    ppg: np.ndarray,
    ppg_fs: float,
    reference_beats_s: np.ndarray,
    *,
    window_s: float = 10.0,
    hop_s: float = 10.0,
    starts_s: np.ndarray | None = None,
    rhythm: int | None = None,
    af_class: int = 5,
    agree_bpm: float = AGREE_BPM,
    disagree_bpm: float = DISAGREE_BPM,
    ppg_peaks_s: np.ndarray | None = None,
) -> WindowLabels:
    """Label each window of a recording from its reference (ECG) beats and its PPG.

    Args:
        ppg: PPG, shape (n,), raw; NaN marks missing samples.
        ppg_fs: its rate (Hz).
        reference_beats_s: reference beat times (s from the PPG's first sample), e.g. ECG R-peaks.
        window_s: window length (s).
        hop_s: step between window starts (s).
        starts_s: explicit window starts (s) instead of ``0, hop_s, ...``.
        rhythm: the record's rhythm class, or None when unknown.
        af_class: the class index of atrial fibrillation (Liu's order: 5).
        agree_bpm: rates this close label usable.
        disagree_bpm: rates this far apart label unusable.
        ppg_peaks_s: PPG peak times (s) when already found; else :func:`ppg_peak_times`.

    Returns:
        The labels, one entry per window that fits inside the recording.

    Raises:
        InvalidSignalError: ``ppg`` is not 1-D numeric.
        UnsupportedRateError: a bad rate.
        InvalidParameterError: non-positive ``window_s`` / ``hop_s``, or ``agree_bpm`` above
            ``disagree_bpm``.
    """
    fs = check_rate(ppg_fs, what="PPG")
    if not (window_s > 0 and hop_s > 0):
        raise InvalidParameterError("window_s/hop_s", (window_s, hop_s), "two positive numbers of seconds")
    if not 0 < agree_bpm <= disagree_bpm:
        raise InvalidParameterError(
            "agree_bpm", agree_bpm, f"a number of bpm in (0, disagree_bpm={disagree_bpm}]"
        )
    x = np.asarray(ppg, dtype=np.float64)
    peaks = (
        ppg_peak_times(x, fs) if ppg_peaks_s is None else np.sort(np.asarray(ppg_peaks_s, dtype=np.float64))
    )
    ref = np.sort(np.asarray(reference_beats_s, dtype=np.float64))
    duration = len(x) / fs
    if starts_s is None:
        n = int(np.floor((duration - window_s) / hop_s + 1e-9)) + 1 if duration >= window_s else 0
        starts = hop_s * np.arange(max(n, 0), dtype=np.float64)
    else:
        starts = np.asarray(starts_s, dtype=np.float64)
    nan_csum = np.concatenate([[0], np.cumsum(~np.isfinite(x))])
    k = len(starts)
    hr_ecg, hr_ppg = np.full(k, np.nan), np.full(k, np.nan)
    n_ecg, n_ppg = np.zeros(k, np.int64), np.zeros(k, np.int64)
    usable = np.full(k, -1, np.int8)
    for i, t0 in enumerate(starts):
        hr_ecg[i], n_ecg[i] = beat_rate(ref, t0, window_s)
        hr_ppg[i], n_ppg[i] = beat_rate(peaks, t0, window_s)
        a, b = max(0, round(t0 * fs)), min(len(x), round((t0 + window_s) * fs))
        if b <= a or nan_csum[b] - nan_csum[a] > 0:
            continue
        usable[i] = agreement(
            hr_ppg[i], hr_ecg[i], int(n_ppg[i]), int(n_ecg[i]), agree_bpm=agree_bpm, disagree_bpm=disagree_bpm
        )
    rhythm_arr = np.full(k, -1 if rhythm is None else int(rhythm), np.int8)
    af = np.full(k, -1, np.int8) if rhythm is None else np.full(k, int(rhythm == af_class), np.int8)
    return WindowLabels(
        start_s=starts,
        window_s=float(window_s),
        hr_ecg_bpm=hr_ecg,
        hr_ppg_bpm=hr_ppg,
        ecg_beats=n_ecg,
        ppg_beats=n_ppg,
        usable=usable,
        rhythm=rhythm_arr,
        af=af,
    )


# --- reference reliability ---------------------------------------------------------------------


def second_rpeak_times(ecg: np.ndarray, sampling_rate: float) -> np.ndarray:
    """R-peak times (s) from a second, independent ECG detector: NeuroKit2's default
    (``ecg_clean`` + ``ecg_peaks``, method ``"neurokit"``), each NaN-free stretch of at least 4 s
    searched alone. It shares no code with :func:`anyppg.signal.ecg.ecg_rpeak_times`, so where the two
    agree the ECG itself is readable (:func:`reference_reliable`).

    Raises:
        InvalidSignalError: ``ecg`` is not 1-D numeric.
        UnsupportedRateError: a bad rate.
    """
    import warnings

    import neurokit2 as nk

    def find(stretch: np.ndarray, fs: float) -> np.ndarray | None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                _, info = nk.ecg_peaks(
                    nk.ecg_clean(stretch, sampling_rate=round(fs)), sampling_rate=round(fs)
                )
            except Exception:  # NeuroKit2 raises assorted errors on flat or odd stretches: no beats there
                return None
        return np.asarray(info["ECG_R_Peaks"], dtype=np.float64)

    return np.sort(_times_per_finite_stretch(ecg, sampling_rate, "ECG", 4.0, find))


def annotated_polarity(ppg: np.ndarray, sampling_rate: float, systolic_s: np.ndarray) -> str:
    """Which way up a recording's pulse is, read from its annotated systolic peaks.

    The PPG is band-passed (0.5-8 Hz, zero-phase; missing samples bridged) and read at each annotated
    peak: an upright pulse is above its mean there, a pulse drawn as raw light counts (which fall as
    blood volume rises) below it. The majority decides. Only an annotation can settle this: the
    waveform-only tests (skewness, rise against fall) disagree with it on real upright recordings
    (docs/sdk.md, "Pulse polarity").

    Args:
        ppg: one PPG channel, shape (n,), NaN where missing.
        sampling_rate: its rate (Hz).
        systolic_s: annotated systolic peak times (s from the first sample).

    Returns:
        ``"normal"`` or ``"inverted"``, the value to declare as ``polarity`` when the recording is
        analysed (:func:`anyppg.analyze`, ``Device.infer``).

    Raises:
        InvalidParameterError: no annotated peak falls on a sample of the recording, or no sample is
            finite.
        UnsupportedRateError: the rate is not above 16 Hz (the band-pass needs it).

    Example:
        >>> import anyppg
        >>> sim = anyppg.simulate(30, heart_rate=72, seed=1)
        >>> peaks = ppg_peak_times(sim.ppg, sim.ppg_rate)
        >>> annotated_polarity(sim.ppg, sim.ppg_rate, peaks), annotated_polarity(-sim.ppg, sim.ppg_rate, peaks)
        ('normal', 'inverted')
    """
    x = np.asarray(ppg, dtype=np.float64)
    ok = np.isfinite(x)
    if not ok.any():
        raise InvalidParameterError("ppg", "no finite sample", "a PPG channel with samples")
    if not ok.all():
        x = np.interp(np.arange(x.shape[0]), np.flatnonzero(ok), x[ok])
    idx = np.round(np.asarray(systolic_s, dtype=np.float64) * sampling_rate).astype(np.int64)
    idx = idx[(idx >= 0) & (idx < x.shape[0])]
    if idx.shape[0] == 0:
        raise InvalidParameterError("systolic_s", "no peak within the recording", "annotated peak times (s)")
    at_peaks = ppg_clean(x, sampling_rate)[idx]
    return "normal" if np.mean(at_peaks > 0) >= 0.5 else "inverted"


ANNOTATION_INTERVALS = (0.6, 1.6)
"""An annotated beat interval outside these multiples of its window's median marks a skipped (long)
or extra (short) beat in the annotation (:func:`annotation_regular`)."""


def annotation_regular(
    beats_s: np.ndarray,
    starts_s: np.ndarray,
    window_s: float = 10.0,
    *,
    within: tuple[float, float] = ANNOTATION_INTERVALS,
) -> np.ndarray:
    """Which windows' annotated beats are complete: at least three intervals inside the window, each
    within ``within`` times their median.

    An annotator who leaves out the beats of a corrupted stretch leaves a long interval, and the
    window's rate (beats per minute) drops with it although the heart did not slow: HUSM's treadmill
    recordings have such holes (intervals of 0.9-1.6 s among 0.4 s ones). The rule reads the
    annotation only, never a method's answer, so it removes the same windows for every method; it
    would also remove a genuinely irregular rhythm (AF, pauses), so it is for sets without one.

    Returns:
        ``(len(starts_s),)`` bool.
    """
    beats = np.sort(np.asarray(beats_s, dtype=np.float64))
    lo, hi = within
    out = np.zeros(len(starts_s), dtype=bool)
    for i, start in enumerate(np.asarray(starts_s, dtype=np.float64)):
        inside = beats[(beats >= start) & (beats < start + window_s)]
        rr = np.diff(inside)
        if rr.shape[0] >= 3:
            med = float(np.median(rr))
            out[i] = bool(np.all((rr >= lo * med) & (rr <= hi * med)))
    return out


def reference_reliable(
    beats_a_s: np.ndarray,
    beats_b_s: np.ndarray,
    starts_s: np.ndarray,
    window_s: float = 10.0,
    *,
    within_bpm: float = RELIABLE_WITHIN_BPM,
) -> np.ndarray:
    """Which windows have a reliable ECG heart-rate reference: two independent R-peak detectors
    (``beats_a_s``, the reference's own, and ``beats_b_s``, e.g. :func:`second_rpeak_times`) both give
    a rate (:func:`beat_rate`), the rates agree within ``within_bpm`` and the beat counts within one.

    The rule looks at the ECG only, never at any PPG method's answer, so it is applied identically to
    every method scored against the reference. Where it fails the ECG lead is noisy, paced, or one
    detector misses or doubles beats: the reference itself is in doubt.

    Returns:
        ``(len(starts_s),)`` bool.
    """
    starts = np.asarray(starts_s, dtype=np.float64)
    out = np.zeros(len(starts), dtype=bool)
    a = np.sort(np.asarray(beats_a_s, dtype=np.float64))
    b = np.sort(np.asarray(beats_b_s, dtype=np.float64))
    for i, t0 in enumerate(starts):
        ra, na = beat_rate(a, t0, window_s)
        rb, nb = beat_rate(b, t0, window_s)
        out[i] = bool(
            np.isfinite(ra) and np.isfinite(rb) and abs(ra - rb) <= within_bpm and abs(na - nb) <= 1
        )
    return out
