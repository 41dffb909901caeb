"""The learned PPG + accelerometer heart-rate model, run on LiteRT (or ExecuTorch) without torch.

:class:`MotionModel` wraps the shipped ``motion-hr_litert_q8.tflite`` (or any file exported by
``python -m anyppg.quantization.motion_export ship``) behind one call::

    from anyppg.sdk.motion_runtime import MotionModel

    model = MotionModel.load()                       # the shipped int8 model
    bpm, confidence = model.estimate(ppg, acc, fs)   # ppg (channels, n), acc (3, n) in g, >= 8 s

Each PPG channel gives one model input (its spectrum with the accelerometer's, see
:mod:`anyppg.signal.motion_spectra`); the channels' distributions over the heart-rate bins are
averaged, and :func:`anyppg.signal.hr_belief.hr_from_distribution` reads the rate and a confidence
(the probability mass within +-6 bpm of it). :meth:`MotionModel.tracker` returns a
:class:`MotionTracker` that also carries a causal belief across windows (much better during running:
see docs/motion-model.md).

Importing this module imports neither torch nor a runtime; :meth:`MotionModel.load` imports the one
the file needs.

:func:`resolve_motion_model` turns what a user writes (``"auto"``, ``"none"``, a path, a loaded
model) into a model or None: ``anyppg stream / analyze / demo --motion-model``, ``Device.infer(...,
motion_model=)`` and ``anyppg.analyze(..., motion_model=)`` all go through it. The pipeline runs the
motion model only on streams that carry an accelerometer.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from anyppg.errors import ModelLoadError
from anyppg.signal.hr_belief import HeartRateBelief, hr_from_distribution, softmax
from anyppg.signal.motion_spectra import N_BINS, RATE_HZ, WINDOW_S, motion_inputs

__all__ = [
    "DEFAULT_MOTION_MODEL",
    "MOTION_MODELS",
    "MotionModel",
    "MotionTracker",
    "default_motion_model_path",
    "resolve_motion_model",
]

log = logging.getLogger(__name__)

DEFAULT_MOTION_MODEL = "motion-hr_litert_q8.tflite"
"""File name of the shipped int8 motion model (in ``anyppg/assets``)."""

MOTION_MODELS = {"tflite": DEFAULT_MOTION_MODEL, "pte": "motion-hr_xnnpack_q8.pte"}
"""File name of the shipped int8 motion model per format (LiteRT ``.tflite``, ExecuTorch ``.pte``)."""

_INPUT_SHAPE = (1, 4, N_BINS)
_OUTPUT_SHAPE = (1, N_BINS)
_FEATURES = "anyppg.signal.motion_spectra"


def default_motion_model_path(fmt: Literal["tflite", "pte"] = "tflite") -> Path:
    """Path of the shipped int8 motion model in ``fmt``.

    Raises:
        ModelLoadError: the asset is not in this installation.
    """
    path = Path(str(resources.files("anyppg.assets").joinpath(MOTION_MODELS[fmt])))
    if not path.is_file():
        raise ModelLoadError(str(path), "the shipped motion model is missing from this installation")
    return path


def resolve_motion_model(
    spec: Any, model: Any | None = None, *, threads: int | None = 1
) -> MotionModel | None:
    """What ``--motion-model`` / ``motion_model=`` names, loaded: the one place these are resolved.

    Args:
        spec: ``"auto"`` (the shipped int8 motion model in the format of the runtime in use: the
            ``.pte`` on ExecuTorch when ``model`` runs there, else the ``.tflite`` on LiteRT, else the
            ``.pte`` when only ExecuTorch is installed; None with one log line when neither runtime
            is, or when the shipped file is missing or its runtime fails to load), ``"none"`` or None
            (no motion model), a ``.tflite`` / ``.pte`` path, or a loaded :class:`MotionModel` (used
            as it is).
        model: the encoder model of the same stream (a loaded :class:`anyppg.sdk.runtime.Model`) or
            None; only its runtime matters (for ``"auto"``).
        threads: CPU threads for inference.

    Returns:
        The motion model, or None. The pipeline runs it only on streams with an accelerometer.

    Raises:
        ModelLoadError: the path does not exist, is not a model, or is not a motion model (one line
            naming the path, as ``--model`` errors do).
        RuntimeUnavailableError: the path's runtime is not installed.
    """
    if spec is None or isinstance(spec, MotionModel) or hasattr(spec, "estimate"):
        return spec
    text = str(spec)
    if text.lower() == "none":
        return None
    if text.lower() != "auto":
        return MotionModel.load(Path(text), threads=threads)
    from anyppg.sdk.runtime import available_runtimes

    have = available_runtimes()
    if getattr(model, "backend", None) == "executorch" and have["executorch"]:
        fmt: Literal["tflite", "pte"] | None = "pte"
    elif have["litert"]:
        fmt = "tflite"
    else:
        fmt = "pte" if have["executorch"] else None
    if fmt is None:
        log.info("no motion model: neither LiteRT nor ExecuTorch is installed")
        return None
    from anyppg.errors import RuntimeUnavailableError

    try:
        return MotionModel.load(default_motion_model_path(fmt), threads=threads)
    except (ModelLoadError, RuntimeUnavailableError) as exc:  # "auto" is best effort; a path is not
        log.warning("no motion model: %s", exc)
        return None


class MotionModel:
    """A loaded motion heart-rate model.

    Attributes:
        model: the underlying :class:`anyppg.sdk.runtime.Model` (card, backend, path).
        window_s: seconds of signal each estimate uses (8.0, from the card).
        rate_hz: rate the window is resampled to (25.0, from the card).
    """

    def __init__(self, model) -> None:  # model: anyppg.sdk.runtime.Model
        self.model = model
        self.window_s: float = float(model.card.preprocessing.window_s)
        self.rate_hz: float = float(model.card.preprocessing.sampling_rate_hz)

    def __repr__(self) -> str:
        return f"MotionModel({self.model.path.name!r}, backend={self.model.backend!r})"

    @classmethod
    def load(cls, path: str | Path | None = None, *, threads: int | None = 1) -> MotionModel:
        """Load a motion model file (``.tflite`` on LiteRT, ``.pte`` on ExecuTorch) and check its card.

        Args:
            path: the model file; None loads the shipped int8 ``.tflite``.
            threads: CPU threads for inference (None: the runtime's default).

        Raises:
            ModelLoadError: the file is missing or invalid, or its card is not a motion model's
                (input (1, 4, 64), output (1, 64), 25 Hz, 8 s, ``anyppg.signal.motion_spectra``
                preprocessing); the one-line message names the file and what was expected.
            RuntimeUnavailableError: the runtime for the format is not installed.
        """
        from anyppg.sdk.runtime import load_model

        model = load_model(default_motion_model_path() if path is None else path, threads=threads)
        card = model.card
        where = str(model.path)
        if tuple(model.input_shape) != _INPUT_SHAPE:
            raise ModelLoadError(
                where, f"input shape {tuple(model.input_shape)}; a motion model takes {_INPUT_SHAPE}"
            )
        if len(card.outputs) != 1 or tuple(card.outputs[0].shape) != _OUTPUT_SHAPE:
            shapes = [tuple(o.shape) for o in card.outputs]
            raise ModelLoadError(where, f"outputs {shapes}; a motion model returns one {_OUTPUT_SHAPE}")
        pre = card.preprocessing
        if (pre.implementation, float(pre.sampling_rate_hz), float(pre.window_s)) != (
            _FEATURES,
            RATE_HZ,
            WINDOW_S,
        ):
            raise ModelLoadError(
                where,
                f"card preprocessing is {pre.implementation} at {pre.sampling_rate_hz} Hz over {pre.window_s} s; "
                f"expected {_FEATURES} at {RATE_HZ} Hz over {WINDOW_S} s",
            )
        return cls(model)

    def distribution(self, ppg: np.ndarray, acc: np.ndarray, fs: float) -> np.ndarray:
        """Probabilities over the heart-rate bins for the last 8 s (channels averaged).

        Args:
            ppg: PPG, shape (channels, n) or (n,), raw or band-passed, at ``fs``; n / fs >= 8 s.
            acc: acceleration (3, n) in g, sampled with the PPG.
            fs: their rate (Hz).

        Returns:
            float64 (64,) over :data:`anyppg.signal.motion_spectra.HR_BINS_BPM`, summing to 1.

        Raises:
            InvalidSignalError: shapes disagree, fewer than 8 s, or NaN/inf samples.
            UnsupportedRateError: ``fs`` is not a positive finite rate.
        """
        x = motion_inputs(ppg, acc, fs)  # (channels, 4, 64)
        name = self.model.output_names[0]
        probs = [softmax(self.model.run(xc[None])[name][0]) for xc in x]
        return np.mean(probs, axis=0)

    def estimate(self, ppg: np.ndarray, acc: np.ndarray, fs: float) -> tuple[float, float]:
        """Heart rate of the last 8 s from this window alone.

        Args:
            ppg: PPG, shape (channels, n) or (n,), at ``fs``; n / fs >= 8 s (the last 8 s are used).
            acc: acceleration (3, n) in g.
            fs: their rate (Hz).

        Returns:
            ``(bpm, confidence)``: the rate (bpm) and the model's probability mass within +-6 bpm of
            it (0-1).

        Raises:
            InvalidSignalError: shapes disagree, fewer than 8 s, or NaN/inf samples.
            UnsupportedRateError: ``fs`` is not a positive finite rate.
        """
        return hr_from_distribution(self.distribution(ppg, acc, fs))

    def tracker(self, *, drift_bpm_per_s: float = 1.5) -> MotionTracker:
        """A causal tracker over consecutive windows of one stream (see :class:`MotionTracker`)."""
        return MotionTracker(self, HeartRateBelief(drift_bpm_per_s=drift_bpm_per_s))


class MotionTracker:
    """The motion model over a stream: each window's distribution joins a causal belief.

    Args:
        model: the loaded model.
        belief: the filter (:class:`anyppg.signal.hr_belief.HeartRateBelief`).
    """

    def __init__(self, model: MotionModel, belief: HeartRateBelief | None = None) -> None:
        self.model = model
        self.belief = belief or HeartRateBelief()

    def update(self, ppg: np.ndarray, acc: np.ndarray, fs: float, *, dt_s: float) -> tuple[float, float]:
        """Add the window ending now and return the tracked heart rate.

        Args:
            ppg: PPG (channels, n) at ``fs``, n / fs >= 8 s (the last 8 s are used).
            acc: acceleration (3, n) in g.
            fs: their rate (Hz).
            dt_s: time since the previous window's end (s); 0 for the first.

        Returns:
            ``(bpm, confidence)`` of the belief (posterior mass within +-6 bpm).

        Raises:
            InvalidSignalError: bad window (see :meth:`MotionModel.estimate`) or a negative ``dt_s``.
            UnsupportedRateError: ``fs`` is not a positive finite rate.
        """
        return self.belief.update(self.model.distribution(ppg, acc, fs), dt_s=dt_s)

    def reset(self) -> None:
        """Forget the track (after a gap or a new wearer)."""
        self.belief.reset()
