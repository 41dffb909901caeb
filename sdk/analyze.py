"""Batch analysis beside streaming: :func:`analyze` a whole recording, or a batch of segments, at once.

Two shapes of input, one result type (:class:`Analysis`, equal-length numpy arrays named like
:class:`~anyppg.sdk.results.Result`):

- **1-D** ``ppg`` ``(n,)``: one continuous recording. It goes through the streaming
  :class:`~anyppg.sdk.pipeline.Pipeline` exactly as ``anyppg stream replay:FILE`` sends it (same
  blocks, same timeline, same preprocessing, same tracker and fusion), so the windows (10 s every
  2 s, the first one starting after the 2 s the causal band-pass needs to settle) and their values
  are the stream's. One difference, asked for by the batch use: the model runs on every readable
  window (``Pipeline(run_model="always")``), so ``heart_rate_model``, ``af_probability``, ... are
  given where the stream's quality gate would skip the model; the gate is still reported in
  ``usable`` and the fused ``heart_rate`` of such a window may then include the model's head.
- **2-D** ``ppg`` ``(n_segments, n_samples)``: independent segments (e.g. 10 s at 100 Hz, the Liu
  et al. arrhythmia format): exactly one window per segment, in order: its **last 10 s**. A fresh
  pipeline analyses each one. The 2 s the band-pass settles on before the window are the segment's
  own samples when it is at least 12 s long; a shorter segment is held at its first value before it
  (the band-pass starts at rest, as a stream starts), so the window of a 10 s segment is the whole
  segment filtered from rest: the model input ``anyppg.trainer.heads.segment_window`` trains the
  heads on (equal to 0.003 after z-scoring, on Liu segments). The resampler's look-ahead after the
  last sample holds the last value. ``t_start`` / ``t_end`` are seconds from the segment's first
  sample (``0`` and ``10`` for a 10 s segment).

``polarity="auto"`` (not the default) reads the first windows both ways up before the analysis and
turns the PPG over only where both the signal quality index and the model's quality head prefer it
that way (:func:`check_polarity`); ``Analysis.polarity_check`` keeps what it measured.

Missing samples (NaN/inf) are handled as the stream handles them: runs up to
:data:`MAX_FILL_S` are bridged by linear interpolation. A longer run in a recording is refused by
default with an error that says where it is; with ``gaps="restart"`` the windows restart after it as
a stream's do after a lost stretch (a window never spans it) and :attr:`Analysis.gaps` lists where
each one was. A segment with a longer run is always refused (it has no other window). Every problem
with the input is one :class:`~anyppg.errors.InvalidSignalError` or
:class:`~anyppg.errors.UnsupportedRateError` naming what is wrong; an analysis is never empty.

Example::

    >>> import anyppg
    >>> sim = anyppg.simulate(30, ppg_rate=100.0, seed=1)
    >>> a = anyppg.analyze(sim.ppg, 100.0, model="none")
    >>> len(a), a.t_start[:2].tolist()
    (9, [2.0, 4.0])
    >>> b = anyppg.analyze(sim.ppg[:2000].reshape(2, 1000), 100.0, model="none")  # two 10 s segments
    >>> b.t_start.tolist(), b.t_end.tolist()
    ([0.0, 0.0], [10.0, 10.0])
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from anyppg.errors import InvalidSignalError, RuntimeUnavailableError, UnsupportedRateError
from anyppg.sdk.accounting import MAX_RATE_HZ, PPG_ABS_LIMIT
from anyppg.sdk.polarity import AUTO_QUALITY_GAIN, CHECK_WINDOWS, POLARITIES, Polarity, PolarityCheck
from anyppg.sdk.results import Result, af_alert
from anyppg.sdk.samples import SampleBlock, acc_at, acc_span_mismatch
from anyppg.signal.constants import DEFAULT_HOP_S, DEFAULT_SETTLE_S, MIN_PPG_RATE, WINDOW_S
from anyppg.signal.runs import true_runs

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = [
    "AUTO_POLARITY_S",
    "AUTO_POLARITY_SEGMENTS",
    "AUTO_QUALITY_GAIN",
    "GAP_HANDLING",
    "MAX_FILL_S",
    "SCALAR_COLUMNS",
    "Analysis",
    "PolarityCheck",
    "analyze",
    "check_polarity",
    "resolve_model",
]

#: longest run of missing (NaN/inf) samples that is bridged by interpolation, s (the stream's default).
MAX_FILL_S = 0.5

#: what ``analyze(..., gaps=)`` does with a longer run in a recording: refuse it, or restart after it.
GAP_HANDLING = ("error", "restart")

#: the per-window scalar columns of an :class:`Analysis`, in table order.
SCALAR_COLUMNS = (
    "t_start",
    "t_end",
    "heart_rate",
    "heart_rate_confidence",
    "heart_rate_tracker",
    "heart_rate_motion_model",
    "heart_rate_sources",
    "heart_rate_model",
    "heart_rate_peaks",
    "quality",
    "usable",
    "clipped",
    "quality_model",
    "af_probability",
    "beat_regularity",
    "af_alert",
    "motion",
)

_DEVICE = "analyze"
_PANDAS_INSTALL = 'pip install "anyppg[notebook]"'


@dataclass(frozen=True, eq=False)
class Analysis:
    """The windows of one :func:`analyze` call: one row per window (1-D input) or per segment (2-D).

    Every array has the same first length ``n``; missing values are NaN (a model output where no model
    ran, a heart rate that could not be read).

    Attributes:
        t_start / t_end: window start and end, s (from the recording's first sample; for segments,
            from the segment's first sample).
        heart_rate: the reported (fused) heart rate, bpm.
        heart_rate_confidence: its confidence, 0..1.
        heart_rate_tracker: the classical tracker's heart rate before fusion, bpm.
        heart_rate_motion_model: the learned motion model's heart rate before fusion, bpm (NaN
            without a motion model or without an accelerometer: it is not run then).
        heart_rate_sources: object array of str: what ``heart_rate`` was made of, joined by ``+``
            (``"tracker"``, ``"tracker+motion_model"``, ``"motion_model"``, ...); None where there is
            no heart rate.
        heart_rate_model: the model's heart-rate head, bpm (every readable window).
        heart_rate_peaks: from the systolic peaks of the window alone, bpm.
        quality: signal quality index, 0..1.
        usable: whether the window passes the quality gate (bool).
        clipped: whether the sensor saturates in the window (bool; ``Result.clipped``: it then fails
            the gate).
        quality_model: the model's quality head, P(usable), 0..1.
        af_probability: P(atrial fibrillation), 0..1 (every readable window); the shipped heads
            learnt on finger PPG and false-alarm on wrists (see :class:`anyppg.sdk.Result`).
        beat_regularity: share of the window's beat intervals within 15 % of their median, 0..1
            (``Result.beat_regularity``; NaN under three plausible intervals).
        af_alert: (property) P(AF) > 0.5 in a usable, still window whose beats are irregular
            (:func:`anyppg.sdk.results.af_alert`; bool).
        motion: accelerometer activity, g (NaN without an accelerometer).
        rhythm_probabilities: float64 ``(n, K)``, the rhythm head's softmax in the order of
            :attr:`rhythm_classes` (K = 0 when the model has no rhythm head).
        rhythm_classes: the class names of :attr:`rhythm_probabilities`.
        embedding: float32 ``(n, D)`` (D = 0 without a model).
        sampling_rate: the input's sampling rate, Hz.
        segments: True for 2-D input (one row per segment), False for a continuous recording.
        model: the model file's name, or ``"none"``.
        motion_model: the motion model file's name, or ``"none"`` (also when the input has no
            accelerometer, so it did not run).
        polarity: the polarity the PPG was read with: ``"normal"`` or ``"inverted"`` (negated).
        polarity_check: the first windows read as given and turned over
            (:class:`~anyppg.sdk.polarity.PolarityCheck`): with ``polarity="auto"`` the check that
            chose the polarity; otherwise the pipeline's own (relative to the polarity given: it
            says ``"inverted"`` where the pulse looks upside down as read, and a warning is logged);
            None for segments and without a model.
        gaps: float64 ``(k, 2)``: ``[start, end)`` in s of each run of missing samples longer than
            :data:`MAX_FILL_S` that the windows restarted after (``analyze(..., gaps="restart")``;
            ``(0, 2)`` otherwise). No window overlaps one.
    """

    t_start: np.ndarray
    t_end: np.ndarray
    heart_rate: np.ndarray
    heart_rate_confidence: np.ndarray
    heart_rate_tracker: np.ndarray
    heart_rate_motion_model: np.ndarray
    heart_rate_sources: np.ndarray
    heart_rate_model: np.ndarray
    heart_rate_peaks: np.ndarray
    quality: np.ndarray
    usable: np.ndarray
    clipped: np.ndarray
    quality_model: np.ndarray
    af_probability: np.ndarray
    beat_regularity: np.ndarray
    motion: np.ndarray
    rhythm_probabilities: np.ndarray
    rhythm_classes: tuple[str, ...]
    embedding: np.ndarray
    sampling_rate: float
    segments: bool
    model: str
    motion_model: str = "none"
    polarity: str = "normal"
    polarity_check: PolarityCheck | None = None
    gaps: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    def __len__(self) -> int:
        return int(self.t_start.shape[0])

    def __repr__(self) -> str:
        kind = "segments" if self.segments else "windows"
        return (
            f"Analysis({len(self)} {kind} at {self.sampling_rate:g} Hz, model={self.model!r}, "
            f"motion_model={self.motion_model!r}, polarity={self.polarity!r})"
        )

    @property
    def af_alert(self) -> np.ndarray:
        """:func:`anyppg.sdk.results.af_alert` per row (bool)."""
        return af_alert(self.af_probability, self.beat_regularity, self.usable, self.motion)

    @property
    def rhythm(self) -> np.ndarray:
        """The most probable rhythm class per row (object array of str; None where there is none)."""
        out = np.full(len(self), None, dtype=object)
        if self.rhythm_classes:
            probs = self.rhythm_probabilities
            ok = np.isfinite(probs).all(axis=1)
            out[ok] = np.asarray(self.rhythm_classes, dtype=object)[np.argmax(probs[ok], axis=1)]
        return out

    def columns(self) -> list[str]:
        """The table's column names: ``segment`` (the row's segment index, for 2-D input), then
        :data:`SCALAR_COLUMNS`, then ``rhythm`` and ``p_<class>`` per rhythm class."""
        head = ["segment"] if self.segments else []
        extra = ["rhythm", *(f"p_{c}" for c in self.rhythm_classes)] if self.rhythm_classes else []
        return [*head, *SCALAR_COLUMNS, *extra]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Column name -> array of one cell per row (the columns of :meth:`columns`; no embedding)."""
        out = {"segment": np.arange(len(self))} if self.segments else {}
        out.update({name: getattr(self, name) for name in SCALAR_COLUMNS})
        if self.rhythm_classes:
            out["rhythm"] = self.rhythm
            for i, c in enumerate(self.rhythm_classes):
                out[f"p_{c}"] = self.rhythm_probabilities[:, i]
        return out

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per row (NaN as None, floats rounded as :meth:`Result.to_dict` does)."""
        arrays = self.to_arrays()
        rows: list[dict[str, Any]] = []
        for i in range(len(self)):
            rows.append({name: _json_cell(name, arrays[name][i]) for name in arrays})
        return rows

    def to_dataframe(self) -> pandas.DataFrame:
        """A pandas DataFrame with the columns of :meth:`to_arrays` (the embedding is left out: use
        :attr:`embedding`).

        Raises:
            RuntimeUnavailableError: pandas is not installed (names ``pip install "anyppg[notebook]"``).
        """
        try:
            import pandas as pd
        except ImportError:
            raise RuntimeUnavailableError("pandas", _PANDAS_INSTALL) from None
        arrays = self.to_arrays()
        return pd.DataFrame(arrays, columns=list(arrays))


def _json_cell(name: str, value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer | int):
        return int(value)
    x = float(value)
    if not math.isfinite(x):
        return None
    digits = 2 if name.startswith("heart_rate") and name != "heart_rate_confidence" else 4
    return round(x, 3 if name in ("t_start", "t_end") else digits)


def resolve_model(model: Any) -> Any | None:
    """``"default"`` -> the shipped int8 student, ``"none"`` / None -> no model, a path -> that file; a
    loaded :class:`~anyppg.sdk.runtime.Model` (anything with ``run``) is used as it is.

    Raises:
        ModelLoadError, RuntimeUnavailableError: the model cannot be loaded.
    """
    if model is None or hasattr(model, "run"):
        return model
    spec = str(model)
    if spec.lower() == "none":
        return None
    from anyppg.sdk.runtime import load_model

    if spec.lower() == "default":
        from anyppg.sdk.shipped import default_model_path

        return load_model(default_model_path(), threads=1)
    return load_model(Path(spec), threads=1)


AUTO_POLARITY_S = 120.0
"""``polarity="auto"`` reads about the first this many seconds of a recording both ways up: its
first :data:`~anyppg.sdk.polarity.CHECK_WINDOWS` windows."""
_CHECK_MARGIN_S = 4.0  # the resampler's look-ahead and a hop, so the last of those windows is there

AUTO_POLARITY_SEGMENTS = 60
"""``polarity="auto"`` reads the first this many segments of a batch both ways up."""


def check_polarity(ppg: Any, sampling_rate: float, *, model: Any = "default") -> PolarityCheck:
    """Which way up a sensor's pulse looks: the first windows read as given and turned over.

    Reads the first :data:`AUTO_POLARITY_S` of a recording (1-D ``ppg``) or the first
    :data:`AUTO_POLARITY_SEGMENTS` segments of a batch (2-D) both ways up, and chooses
    ``"inverted"`` only where the signal quality index (which no data trained) and the model's quality
    head (trained on upright finger PPG) both prefer the pulse turned over. Either alone misjudges
    real recordings (docs/sdk.md, "Pulse polarity"); without a model the answer is ``"normal"``.
    Measured by ``benchmarks/bench_polarity.py``. Meant for meeting a new sensor: check a recording
    once, then declare the answer to the stream (``Device.infer(..., polarity=...)``).

    Args:
        ppg: raw PPG as :func:`analyze` takes it (channel 0 only).
        sampling_rate: its rate, Hz.
        model: as :func:`analyze` takes it; its quality head is one of the two votes.

    Returns:
        The :class:`PolarityCheck`.

    Raises:
        InvalidSignalError, UnsupportedRateError, ModelLoadError: as :func:`analyze`.
    """
    fs = _check_rate(sampling_rate)
    x = _as_real(ppg, "ppg")
    if x.ndim not in (1, 2) or x.size == 0:
        raise InvalidSignalError(
            f"ppg has shape {x.shape}; expected (n,) for a recording or (n_segments, n_samples) for segments"
        )
    return _check_polarity(x, fs, resolve_model(model))


def _check_polarity(x: np.ndarray, fs: float, model: Any | None) -> PolarityCheck:
    if x.ndim == 1:
        part = x[: max(round((AUTO_POLARITY_S + _CHECK_MARGIN_S) * fs), 1)]
        runs = {
            p: _recording(part, fs, None, model, None, p, watch=False, gaps="restart")[0][:CHECK_WINDOWS]
            for p in POLARITIES
        }
    else:
        part = x[:AUTO_POLARITY_SEGMENTS]
        runs = {p: [_segment(s, fs, None, model, i, None, p) for i, s in enumerate(part)] for p in POLARITIES}
    normal, inverted = runs["normal"], runs["inverted"]
    return PolarityCheck.from_reads(
        _floats(r.quality for r in normal),
        _floats(r.quality for r in inverted),
        _floats(r.quality_model for r in normal),  # None (NaN) without a model: no head vote
        _floats(r.quality_model for r in inverted),
    )


def analyze(
    ppg: Any,
    sampling_rate: float,
    *,
    acc: Any = None,
    model: Any = "default",
    extra_channels: Any = None,
    motion_model: Any = "auto",
    polarity: Polarity | Literal["auto"] = "normal",
    acc_sampling_rate: float | None = None,
    gaps: Literal["error", "restart"] = "error",
) -> Analysis:
    """Analyse a PPG recording (1-D) or a batch of independent segments (2-D) in one call.

    Args:
        ppg: raw PPG, ``(n,)`` for one continuous recording or ``(n_segments, n_samples)`` for
            independent segments, at ``sampling_rate``; NaN/inf mark missing samples.
        sampling_rate: the PPG rate, Hz (10 to 10,000; resampled to the model's 125 Hz).
        acc: optional accelerometer in g on the same samples: ``(n, 3)`` (or ``(3, n)``) for a
            recording, ``(n_segments, n_samples, 3)`` (or ``(n_segments, 3, n_samples)``) for segments.
            At a rate of its own, say so with ``acc_sampling_rate``.
        model: ``"default"`` (the shipped int8 student), ``"none"`` (signal only: no model columns),
            a ``.tflite`` / ``.pte`` path, or a loaded :class:`~anyppg.sdk.runtime.Model`.
        extra_channels: a recording's further PPG channels (multi-wavelength or multi-photodiode
            sensors), ``(channels - 1, n)``, streamed beside ``ppg`` as ``replay:`` streams a
            multi-channel file: the model reads ``ppg`` (channel 0), the motion tracker every
            channel. Recordings (1-D ``ppg``) only.
        motion_model: the learned PPG + accelerometer heart-rate model fused with the tracker, as
            ``anyppg stream --motion-model`` takes it: ``"auto"`` (default: the shipped int8
            ``motion-hr`` model for the runtime in use), ``"none"`` / None, a ``.tflite`` / ``.pte``
            path, or a loaded :class:`~anyppg.sdk.motion_runtime.MotionModel`. It runs only when
            ``acc`` is given (see ``heart_rate_motion_model`` and ``heart_rate_sources``).
        polarity: ``"normal"`` (default: as given, the systolic upstroke positive) or
            ``"inverted"`` for a sensor whose counts fall as blood volume rises: the PPG (and
            ``extra_channels``) is negated before anything reads it (:mod:`anyppg.sdk.polarity`);
            ``"auto"`` to choose by :func:`check_polarity` first (``Analysis.polarity`` and
            ``.polarity_check`` say what it chose and why).
        acc_sampling_rate: the accelerometer's rate, Hz, where it is not the PPG's (most wearables:
            PPG at 25-135 Hz, accelerometer at 12.5-104 Hz): ``acc`` then holds ``(m, 3)`` (or
            ``(3, m)``; per segment for a batch) samples starting with the PPG's first and covering
            the same time, and is read at the PPG's sample times (linear interpolation, as the
            ``polar:`` stream reads its 52 Hz accelerometer at its 55 Hz PPG). None (default): the
            PPG's rate.
        gaps: what a run of missing samples longer than :data:`MAX_FILL_S` in a recording does:
            ``"error"`` (default) refuses the recording, naming where the run is; ``"restart"``
            analyses around it as ``anyppg stream replay:`` does (the windows restart after it, 2 s
            of filter settling first) and lists it in :attr:`Analysis.gaps`: for real recordings
            with dropouts. Segments (2-D) are refused either way.

    Returns:
        The :class:`Analysis`: one row per 10 s window (every 2 s) of a recording, or exactly one row
        per segment, in order.

    Raises:
        InvalidSignalError: ``ppg`` is not 1-D or 2-D, not real numbers, too short for one window
            (a recording needs about 12 s, a segment 10 s), has a run of missing samples longer than
            :data:`MAX_FILL_S` (a recording: unless ``gaps="restart"``) or only missing samples, or
            ``acc`` does not match it. The message
            names the segment / sample and what was expected. ``extra_channels`` with segments, or
            not ``(channels - 1, n)``. An accelerometer at ``acc_sampling_rate`` that does not cover
            the PPG's time (within two samples).
        UnsupportedRateError: ``sampling_rate`` or ``acc_sampling_rate`` is not a number in
            10-10,000 Hz.
        ValueError: ``polarity`` is not ``normal``, ``inverted`` or ``auto``; ``gaps`` is not
            ``error`` or ``restart``.
        ModelLoadError, RuntimeUnavailableError: the model or the motion model cannot be loaded
            (the message names the file).
    """
    from anyppg.sdk.motion_runtime import resolve_motion_model

    fs = _check_rate(sampling_rate)
    acc_fs = fs if acc_sampling_rate is None else _check_rate(acc_sampling_rate, "the accelerometer")
    if polarity not in (*POLARITIES, "auto"):  # a bad value fails here, before any work
        raise ValueError(f"polarity must be 'normal', 'inverted' or 'auto'; got {polarity!r}")
    if gaps not in GAP_HANDLING:
        raise ValueError(f"gaps must be 'error' or 'restart'; got {gaps!r}")
    x = _as_real(ppg, "ppg")
    if x.ndim not in (1, 2) or x.size == 0:
        raise InvalidSignalError(
            f"ppg has shape {x.shape}; expected (n,) for a recording or (n_segments, n_samples) for segments"
        )
    a = _check_acc(acc, x.shape, fs, acc_fs)
    channels = _check_channels(extra_channels, x)
    loaded = resolve_model(model)
    name = "none" if loaded is None else Path(str(getattr(loaded, "path", "model"))).name
    # no accelerometer: the pipeline would not run the motion model, so it is not even loaded
    motion = None if a is None else resolve_motion_model(motion_model, loaded)
    motion_name = "none" if motion is None else Path(str(getattr(motion.model, "path", "model"))).name
    check = None
    if polarity == "auto":
        check = _check_polarity(x, fs, loaded)
        polarity = "inverted" if check.polarity == "inverted" else "normal"
    if x.ndim == 1:
        # with "auto" the check is made; else the pipeline makes its own (a stream's polarity_check)
        rec = x if channels is None else channels
        results, watched, restarts = _recording(
            rec, fs, a, loaded, motion, polarity, watch=check is None, gaps=gaps
        )
        check = check if check is not None else watched
    else:
        restarts = np.zeros((0, 2))
        results = [
            _segment(x[i], fs, None if a is None else a[i], loaded, i, motion, polarity)
            for i in range(x.shape[0])
        ]
    analysis = _collect(
        results, fs, segments=x.ndim == 2, model=name, motion_model=motion_name, polarity=polarity
    )
    return replace(analysis, polarity_check=check, gaps=restarts)


# --- input checks ---------------------------------------------------------------------------------


def _check_rate(rate: Any, what: str = "anyppg.analyze") -> float:
    if isinstance(rate, bool) or not isinstance(rate, int | float | np.integer | np.floating):
        raise UnsupportedRateError(math.nan, f"a number of Hz, not {rate!r}", what)
    value = float(rate)
    if not (math.isfinite(value) and MIN_PPG_RATE <= value <= MAX_RATE_HZ):
        raise UnsupportedRateError(value, f"{MIN_PPG_RATE:g}-{MAX_RATE_HZ:g} Hz", what)
    return value


def _as_real(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise InvalidSignalError(f"{name} cannot be read as an array: {exc}") from None
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise InvalidSignalError(f"{name} must hold real numbers; it has dtype {arr.dtype}")
    return arr.astype(np.float64)


def _check_acc(acc: Any, shape: tuple[int, ...], fs: float, acc_fs: float) -> np.ndarray | None:
    """``acc`` as float64 on the PPG's samples (the second-to-last axis) with 3 axes last, or None;
    an accelerometer at a rate of its own is read at the PPG's sample times."""
    if acc is None:
        return None
    a = _as_real(acc, "acc")
    if acc_fs == fs:
        want = (*shape, 3)
        if a.shape == want:
            return a
        if a.ndim == len(want) and a.shape[-2:] == (3, shape[-1]):  # (3, n) / (n_segments, 3, n)
            return np.swapaxes(a, -1, -2)
        hint = "; pass acc_sampling_rate= if it runs at a rate of its own" if a.ndim == len(want) else ""
        raise InvalidSignalError(
            f"acc has shape {a.shape}; expected {want} (in g) to match ppg {shape}{hint}"
        )
    lead = shape[:-1]  # () for a recording, (n_segments,) for segments
    if not (a.ndim == len(shape) + 1 and a.shape[:-2] == lead and 3 in a.shape[-2:]):
        first = "".join(f"{k}, " for k in lead)
        raise InvalidSignalError(
            f"acc has shape {a.shape}; expected ({first}m, 3) or ({first}3, m) (in g): m samples at {acc_fs:g} Hz"
        )
    a = a if a.shape[-1] == 3 else np.swapaxes(a, -1, -2)
    problem = acc_span_mismatch(a.shape[-2], acc_fs, shape[-1] / fs, fs)
    if problem:
        raise InvalidSignalError(f"acc does not match ppg {shape}: {problem}")
    times, acc_times = np.arange(shape[-1]) / fs, np.arange(a.shape[-2]) / acc_fs
    rows = [acc_at(times, acc_times, one) for one in a.reshape(-1, a.shape[-2], 3)]
    return np.stack(rows).reshape(*shape, 3)


def _check_channels(extra: Any, x: np.ndarray) -> np.ndarray | None:
    """``ppg`` and ``extra_channels`` as one ``(n, channels)`` array, or None without extra channels."""
    if extra is None:
        return None
    if x.ndim != 1:
        raise InvalidSignalError("extra_channels is for a recording (1-D ppg), not for segments")
    e = _as_real(extra, "extra_channels")
    e = e[None, :] if e.ndim == 1 else e
    if e.ndim != 2 or e.shape[1] != x.shape[0] or e.shape[0] < 1:
        raise InvalidSignalError(
            f"extra_channels has shape {np.shape(extra)}; expected (channels - 1, {x.shape[0]}) like ppg"
        )
    return np.column_stack([x, e.T])


def _valid(x: np.ndarray) -> np.ndarray:
    """Which samples are readings (not NaN, inf, or beyond the timeline's limit); for ``(n, channels)``
    a time point is valid when every channel is, as the timeline drops it otherwise."""
    with np.errstate(invalid="ignore"):
        valid = np.abs(x) <= PPG_ABS_LIMIT
    return valid if valid.ndim == 1 else valid.all(axis=1)


def _missing_runs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop indices of the runs of invalid samples (NaN, inf, or beyond the timeline's limit)."""
    return true_runs(~_valid(x))


def _check_missing(
    x: np.ndarray, fs: float, where: str, long_runs: str = "error"
) -> tuple[np.ndarray, np.ndarray]:
    """The runs of missing samples of ``x``; refused when there is no valid sample, or (``long_runs``
    ``"error"``) when one is longer than :data:`MAX_FILL_S`, naming the longest."""
    starts, stops = _missing_runs(x)
    if starts.size and int(stops.sum() - starts.sum()) == x.shape[0]:
        raise InvalidSignalError(f"{where} has no valid sample (all {x.shape[0]} are NaN/inf)")
    longest = int(np.argmax(stops - starts)) if starts.size else -1
    if long_runs == "error" and longest >= 0 and (stops[longest] - starts[longest]) / fs > MAX_FILL_S:
        s, e = int(starts[longest]), int(stops[longest])
        fix = "cut it there or fill it" + ("" if where.startswith("segment") else ", or pass gaps='restart'")
        raise InvalidSignalError(
            f"{where} has a run of {e - s} missing (NaN/inf) samples ({(e - s) / fs:.3g} s) from sample {s} "
            f"({s / fs:.3g} s); runs up to {MAX_FILL_S:g} s are bridged: {fix}"
        )
    return starts, stops


# --- the two paths --------------------------------------------------------------------------------


def _pipeline(
    model: Any | None, motion_model: Any | None = None, polarity: Polarity = "normal", watch: bool = True
) -> Any:
    from anyppg.sdk.pipeline import DEFAULT_QUALITY_THRESHOLD, Pipeline

    return Pipeline(
        _DEVICE,
        model,
        hop_s=DEFAULT_HOP_S,
        quality_threshold=DEFAULT_QUALITY_THRESHOLD,
        max_fill_s=MAX_FILL_S,
        run_model="always",
        motion_model=motion_model,
        polarity=polarity,
        watch_polarity=watch,
    )


def _recording(
    x: np.ndarray,
    fs: float,
    acc: np.ndarray | None,
    model: Any | None,
    motion_model: Any | None = None,
    polarity: Polarity = "normal",
    watch: bool = True,
    gaps: str = "error",
) -> tuple[list[Result], PolarityCheck | None, np.ndarray]:
    """A continuous recording ``(n,)`` or ``(n, channels)`` through one pipeline, in the blocks
    ``replay:`` sends (0.25 s each): its results, its pipeline's ``polarity_check`` (``watch``: its
    ``watch_polarity``) and the ``[start, end)`` of each gap its windows restarted after."""
    for c in range(1 if x.ndim == 1 else x.shape[1]):
        _check_missing(x if x.ndim == 1 else x[:, c], fs, "ppg" if c == 0 else f"extra channel {c}", gaps)
    pipe = _pipeline(model, motion_model, polarity, watch)
    results = pipe.push_many(_blocks(x, fs, acc)) + pipe.flush()
    if not results:
        need = DEFAULT_SETTLE_S + WINDOW_S
        raise InvalidSignalError(
            f"ppg is too short for one window: {x.shape[0]} samples = {x.shape[0] / fs:.3g} s at {fs:g} Hz; "
            f"a recording needs about {need:g} s ({DEFAULT_SETTLE_S:g} s filter settling + {WINDOW_S:g} s), "
            "a segment (2-D input) 10 s"
        )
    restarts = [(g.start, g.end) for g in pipe.accounting.gaps if not g.filled]
    return results, pipe.polarity_check, np.asarray(restarts, dtype=np.float64).reshape(-1, 2)


def _blocks(x: np.ndarray, fs: float, acc: np.ndarray | None) -> list[SampleBlock]:
    """``x`` in the blocks ``replay:`` sends (0.25 s each), without its missing samples: a run of them
    is a stretch of time with no samples, as a lost stretch is in a stream (the timeline bridges it up
    to :data:`MAX_FILL_S`, restarts the windows after a longer one), not a run of invalid readings."""
    valid = _valid(x)
    size = max(1, round(fs / 4))
    blocks = []
    for i in range(0, x.shape[0], size):
        starts, stops = true_runs(valid[i : i + size])
        blocks += [
            SampleBlock((i + a) / fs, fs, x[i + a : i + b], None if acc is None else acc[i + a : i + b])
            for a, b in zip(starts.tolist(), stops.tolist(), strict=True)
        ]
    return blocks


def _segment(
    x: np.ndarray,
    fs: float,
    acc: np.ndarray | None,
    model: Any | None,
    index: int,
    motion_model: Any | None = None,
    polarity: Polarity = "normal",
) -> Result:
    """One independent segment -> the result of the window on its last 10 s."""
    where = f"segment {index}"
    n = x.shape[0]
    n_window = math.ceil(WINDOW_S * fs - 1e-6)
    if n < n_window:
        raise InvalidSignalError(
            f"{where} has {n} samples = {n / fs:.3g} s at {fs:g} Hz; each segment needs at least "
            f"{n_window} samples ({WINDOW_S:g} s) for the model's window"
        )
    starts, stops = _check_missing(x, fs, where)
    x = _bridge(x, starts, stops)
    if acc is not None:  # the timeline would repair these too; the reflections below must not copy them
        acc = np.stack([_bridge(acc[:, k], *_missing_runs(acc[:, k])) for k in range(3)], axis=1)
    # the last 12 s: 2 s for the band-pass to settle, then the window; held at the first value where
    # shorter (a filter at rest), and at the last value for the resampler's look-ahead
    n_used = min(n, round((WINDOW_S + DEFAULT_SETTLE_S) * fs))
    n_pre = max(0, round((WINDOW_S + DEFAULT_SETTLE_S) * fs) - n_used)
    pipe = _pipeline(model, motion_model, polarity)
    n_post = math.ceil(_resampler_latency_s(fs) * fs) + 2
    padded = _hold(x[n - n_used :], n_pre, n_post)
    padded_acc = None
    if acc is not None:
        padded_acc = np.stack([_hold(acc[n - n_used :, k], n_pre, n_post) for k in range(3)], axis=1)
    t0 = (n - n_used - n_pre) / fs
    results = pipe.push(SampleBlock(t0, fs, padded, padded_acc)) + pipe.flush()
    if len(results) != 1:  # pragma: no cover - the padding above makes exactly one window
        raise InvalidSignalError(f"{where} gave {len(results)} windows; expected 1")
    return results[0]


def _bridge(x: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Linear interpolation over the missing runs (the ends hold the nearest valid value)."""
    if not starts.size:
        return x
    good = np.ones(x.shape[0], dtype=bool)
    for s, e in zip(starts, stops, strict=True):
        good[s:e] = False
    idx = np.arange(x.shape[0])
    out = x.copy()
    out[~good] = np.interp(idx[~good], idx[good], x[good])
    return out


def _hold(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """``x`` with its first value repeated ``before`` times in front and its last ``after`` times after."""
    return np.concatenate([np.full(before, x[0]), x, np.full(after, x[-1])])


def _resampler_latency_s(fs: float) -> float:
    from anyppg.signal.constants import MODEL_FS
    from anyppg.signal.resampling import StreamingResampler

    return float(StreamingResampler(fs, MODEL_FS).latency_s)


# --- results -> arrays ----------------------------------------------------------------------------


def _floats(values: Iterable[float | None]) -> np.ndarray:
    return np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _collect(
    results: list[Result],
    fs: float,
    *,
    segments: bool,
    model: str,
    motion_model: str = "none",
    polarity: str = "normal",
) -> Analysis:
    n = len(results)
    classes: tuple[str, ...] = next((r.rhythm_classes for r in results if r.rhythm_classes), None) or ()
    rhythm = np.full((n, len(classes)), np.nan)
    dims = {r.embedding.shape[-1] for r in results if r.embedding is not None}
    embedding = np.full((n, max(dims) if dims else 0), np.nan, dtype=np.float32)
    for i, r in enumerate(results):
        if r.rhythm_probabilities is not None and len(r.rhythm_probabilities) == len(classes):
            rhythm[i] = r.rhythm_probabilities
        if r.embedding is not None and r.embedding.shape[-1] == embedding.shape[1]:
            embedding[i] = r.embedding
    return Analysis(
        t_start=_floats(r.t_start for r in results),
        t_end=_floats(r.t_end for r in results),
        heart_rate=_floats(r.heart_rate for r in results),
        heart_rate_confidence=_floats(r.heart_rate_confidence for r in results),
        heart_rate_tracker=_floats(r.heart_rate_tracker for r in results),
        heart_rate_motion_model=_floats(r.heart_rate_motion_model for r in results),
        heart_rate_sources=np.asarray(
            [None if not r.heart_rate_sources else "+".join(r.heart_rate_sources) for r in results],
            dtype=object,
        ),
        heart_rate_model=_floats(r.heart_rate_model for r in results),
        heart_rate_peaks=_floats(r.heart_rate_peaks for r in results),
        quality=_floats(r.quality for r in results),
        usable=np.asarray([bool(r.usable) for r in results], dtype=bool),
        clipped=np.asarray([bool(r.clipped) for r in results], dtype=bool),
        quality_model=_floats(r.quality_model for r in results),
        af_probability=_floats(r.af_probability for r in results),
        beat_regularity=_floats(r.beat_regularity for r in results),
        motion=_floats(r.motion for r in results),
        rhythm_probabilities=rhythm,
        rhythm_classes=tuple(classes),
        embedding=embedding,
        sampling_rate=fs,
        segments=segments,
        model=model,
        motion_model=motion_model,
        polarity=polarity,
    )
