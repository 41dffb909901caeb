"""One interface over the deployed-model runtimes: LiteRT for ``.tflite``, ExecuTorch for ``.pte``.

:func:`load_model` picks the runtime from the file suffix and returns a :class:`Model` whose
:meth:`Model.run` takes a numpy window and returns numpy outputs keyed by the model card's output
names (``embedding``, ``heart_rate``, ``quality``, ``af``, ``rhythm``; see :mod:`anyppg.model_card`)::

    from anyppg.sdk.runtime import load_model

    model = load_model("student-s_litert_q8.tflite", threads=2)
    out = model.run(window)            # window: float32 (1, 1, 1250), or (1250,)
    out["heart_rate"]                  # (1, 1) beats per minute

Runtimes:

- ``.tflite``: ``ai_edge_litert.interpreter`` (no torch). Fully int8 models have int8 input and output
  tensors; inputs are quantized and outputs dequantized here with the scales and zero points the file
  stores, so callers always pass and receive float32.
- ``.pte``: ``executorch.runtime`` (imports torch; imported only when a ``.pte`` is loaded), or the
  torch-free ``executorch_numpy_runtime`` (Python >= 3.12) when ExecuTorch itself is not installed.

Importing this module imports neither torch nor any runtime.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from anyppg.errors import InvalidSignalError, ModelInputError, ModelLoadError, RuntimeUnavailableError
from anyppg.logs import native_stderr_to_log
from anyppg.model_card import OUTPUT_NAMES, ModelCard, TensorSpec, card_path_for

__all__ = ["Backend", "Model", "available_runtimes", "load_model"]

logger = logging.getLogger(__name__)

Backend = Literal["litert", "executorch"]

_SUFFIX_FORMAT = {".tflite": "tflite", ".pte": "pte"}
_FORMAT_BACKEND = {"tflite": "litert", "pte": "xnnpack"}
# File identifiers (FlatBuffers file_identifier at byte offset 4).
_MAGIC = {"tflite": (b"TFL3",), "pte": (b"ET",)}
_LITERT_INSTALL = "pip install ai-edge-litert==2.3.0"
_EXECUTORCH_INSTALL = (
    'pip install "anyppg[train]"  (or, on Python >= 3.12: pip install executorch-numpy-runtime)'
)


class _Engine(Protocol):
    """What a runtime adapter provides: batch-1 invocation on numpy arrays."""

    name: Backend
    input_shape: tuple[int, ...]
    output_shapes: list[tuple[int, ...]]
    output_names: list[str] | None  # names stored in the file, when it has any

    def invoke(self, x: np.ndarray) -> list[np.ndarray]: ...


# --- LiteRT ----------------------------------------------------------------------------------------


def _quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Float -> the tensor's integer dtype with its (scale, zero point)."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    q = np.round(x / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def _dequantize(q: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    return ((q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)


def _output_order(names: Sequence[str]) -> list[str]:
    """Signature outputs in model order: ``output_0, output_1, ... output_10`` (numeric, not lexical)."""

    def key(name: str) -> tuple[int, str]:
        match = re.search(r"(\d+)$", name)
        return (int(match.group(1)) if match else 1 << 30, name)

    return sorted(names, key=key)


class _LiteRTEngine:
    name: Backend = "litert"

    def __init__(self, path: Path, threads: int | None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise RuntimeUnavailableError("LiteRT (ai-edge-litert)", _LITERT_INSTALL) from exc
        try:
            self._interp = Interpreter(model_path=str(path), num_threads=threads)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(str(path), f"LiteRT rejected the file: {exc}") from exc
        signatures = self._interp.get_signature_list()
        if signatures:
            key = "serving_default" if "serving_default" in signatures else sorted(signatures)[0]
            runner = self._interp.get_signature_runner(key)
            inputs = list(runner.get_input_details().values())
            out_details = runner.get_output_details()
            order = _output_order(list(out_details))
            self._outputs = [out_details[n] for n in order]
            self.output_names = order
        else:
            inputs = self._interp.get_input_details()
            self._outputs = self._interp.get_output_details()
            self.output_names = None
        if len(inputs) != 1:
            raise ModelLoadError(str(path), f"model has {len(inputs)} inputs; anyppg models have exactly 1")
        self._input = inputs[0]
        self.input_shape = tuple(int(d) for d in self._input["shape"])
        self.output_shapes = [tuple(int(d) for d in o["shape"]) for o in self._outputs]
        self.input_dtype = np.dtype(self._input["dtype"])
        self.quantized_io = self.input_dtype.kind in "iu"

    def invoke(self, x: np.ndarray) -> list[np.ndarray]:
        if self.input_dtype.kind in "iu":
            x = _quantize(x, self._input)
        self._interp.set_tensor(self._input["index"], x)
        self._interp.invoke()
        outs = []
        for detail in self._outputs:
            y = self._interp.get_tensor(detail["index"])
            outs.append(_dequantize(y, detail) if np.dtype(detail["dtype"]).kind in "iu" else y.copy())
        return outs


# --- ExecuTorch ------------------------------------------------------------------------------------


def _executorch_module() -> tuple[str, Any]:
    """The importable ExecuTorch runtime: (which, module). Raises RuntimeUnavailableError."""
    if importlib.util.find_spec("executorch") is not None:
        try:
            import executorch.runtime as et_runtime  # imports torch
        except ImportError as exc:
            raise RuntimeUnavailableError(f"ExecuTorch runtime ({exc})", _EXECUTORCH_INSTALL) from exc
        return "executorch", et_runtime
    if importlib.util.find_spec("executorch_numpy_runtime") is not None:
        import executorch_numpy_runtime as np_runtime

        return "executorch_numpy_runtime", np_runtime
    raise RuntimeUnavailableError("ExecuTorch", _EXECUTORCH_INSTALL)


def _set_executorch_threads(which: str, threads: int) -> None:
    if which != "executorch":
        logger.warning(
            "thread count is not settable in executorch_numpy_runtime; ignoring threads=%d", threads
        )
        return
    from executorch.extension.pybindings import _portable_lib

    _portable_lib._unsafe_reset_threadpool(threads)


def _meta_shapes(meta: Any) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """(input shapes, output shapes) from ExecuTorch ``MethodMeta`` or numpy-runtime metadata dict."""
    if isinstance(meta, dict):  # executorch_numpy_runtime: {"input_tensor_meta": [{"sizes": [...]}...]}

        def sizes(entry: Any) -> tuple[int, ...]:
            return tuple(int(d) for d in (entry.get("sizes") or entry.get("shape") or ()))

        return (
            [sizes(e) for e in meta.get("input_tensor_meta", [])],
            [sizes(e) for e in meta.get("output_tensor_meta", [])],
        )
    ins = [tuple(int(d) for d in meta.input_tensor_meta(i).sizes()) for i in range(meta.num_inputs())]
    outs = [tuple(int(d) for d in meta.output_tensor_meta(i).sizes()) for i in range(meta.num_outputs())]
    return ins, outs


class _ExecuTorchEngine:
    name: Backend = "executorch"
    output_names = None  # a .pte stores no output names

    def __init__(self, path: Path, threads: int | None) -> None:
        self.which, module = _executorch_module()
        if threads is not None:
            _set_executorch_threads(self.which, threads)
        load_errors: tuple[type[BaseException], ...] = (RuntimeError, ValueError, KeyError)
        if self.which == "executorch_numpy_runtime":
            load_errors += (module.ExecuTorchError,)
        try:
            program = module.Runtime.get().load_program(str(path))
            self._method = program.load_method("forward")
            inputs, self.output_shapes = _meta_shapes(self._method.metadata)
        except load_errors as exc:
            raise ModelLoadError(str(path), f"ExecuTorch ({self.which}) rejected the file: {exc}") from exc
        if len(inputs) != 1:
            raise ModelLoadError(str(path), f"model has {len(inputs)} inputs; anyppg models have exactly 1")
        self.input_shape = inputs[0]
        if self.which == "executorch":
            import torch

            self._torch_from_numpy = torch.from_numpy

    def invoke(self, x: np.ndarray) -> list[np.ndarray]:
        if self.which == "executorch":
            outs = self._method.execute([self._torch_from_numpy(x)])
            return [o.numpy().copy() for o in outs]
        # executorch_numpy_runtime: numpy in, numpy out (not exercised on Python 3.11).
        return [np.asarray(o).copy() for o in self._method([x])]


# --- the public model ------------------------------------------------------------------------------


class Model:
    """A deployed anyppg model, ready to run on numpy windows.

    Attributes:
        path: the model file.
        backend: ``"litert"`` or ``"executorch"``.
        card: the model card (from the sibling ``.json``, or derived from the file: see
            :attr:`card_derived`).
        card_derived: True when no card file was found and :attr:`card` was built from the file.
        input_shape: the input the model takes, e.g. ``(1, 1, 1250)`` (10 s at 125 Hz).
        output_names: the keys of :meth:`run`'s result, in the model's output order.
        threads: the thread count asked for (None: the runtime's default). ExecuTorch's XNNPACK
            thread pool is process-wide: the last ``.pte`` loaded with ``threads`` sets it for all.
    """

    def __init__(self, path: Path, engine: _Engine, card: ModelCard, card_derived: bool, threads: int | None):
        self.path = path
        self._engine = engine
        self.backend: Backend = engine.name
        self.card = card
        self.card_derived = card_derived
        self.input_shape: tuple[int, ...] = engine.input_shape
        self.output_names: list[str] = [o.name for o in card.outputs]
        self.threads = threads

    @property
    def quantized_io(self) -> bool:
        """True when the file's input tensor is integer (fully int8 LiteRT models): :meth:`run`
        quantizes the float input and dequantizes the outputs with the file's scales."""
        return bool(getattr(self._engine, "quantized_io", False))

    def __repr__(self) -> str:
        return (
            f"Model({self.path.name!r}, backend={self.backend!r}, input_shape={self.input_shape}, "
            f"outputs={self.output_names})"
        )

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        squeezed = tuple(d for d in self.input_shape if d != 1)
        if x.shape != self.input_shape:
            if tuple(d for d in x.shape if d != 1) == squeezed and x.size == int(np.prod(self.input_shape)):
                x = x.reshape(self.input_shape)
            else:
                raise ModelInputError(self.input_shape, x.shape, what=f"input of {self.path.name}")
        if not np.issubdtype(x.dtype, np.number):
            raise InvalidSignalError(f"input of {self.path.name} has dtype {x.dtype}; expected float32")
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not np.isfinite(x).all():
            raise InvalidSignalError(
                f"input of {self.path.name} has {int((~np.isfinite(x)).sum())} NaN/inf samples"
            )
        return x

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Run one window.

        Args:
            x: float32 array of :attr:`input_shape` (e.g. ``(1, 1, 1250)``: 10 s at 125 Hz,
                preprocessed as ``card.preprocessing`` says); a shape that differs only by size-1
                axes (e.g. ``(1250,)``) is accepted.

        Returns:
            ``{output name: float32 array}`` with the shapes of ``card.outputs``.

        Raises:
            ModelInputError: the shape does not match :attr:`input_shape`.
            InvalidSignalError: the input is not numeric or has NaN/inf.
        """
        outs = self._engine.invoke(self._check(x))
        return dict(zip(self.output_names, outs, strict=True))

    def run_batch(self, xs: np.ndarray) -> dict[str, np.ndarray]:
        """Run a batch of windows, one invocation each (the exported models take batch 1).

        Measured on the shipped LiteRT int8 student: its graph fixes the batch at 1 (the first RESHAPE
        node's target shape), so resizing the input tensor fails with and without the XNNPACK
        delegate; one XNNPACK call costs about 0.12 ms, under 5 % of a window's CPU in the streaming
        pipeline, so a gateway gains nothing from batching it (``docs/gateway.md``).

        Args:
            xs: float32 array ``(N, *input_shape[1:])``, e.g. ``(N, 1, 1250)``.

        Returns:
            ``{output name: array (N, *shape[1:])}``.

        Raises:
            ModelInputError: a window does not have the model's shape.
        """
        xs = np.asarray(xs)
        if xs.ndim != len(self.input_shape) or xs.shape[1:] != self.input_shape[1:]:
            expected = ("N", *self.input_shape[1:])
            raise ModelInputError(expected, xs.shape, what=f"batch for {self.path.name}")  # type: ignore[arg-type]
        per_window = [self.run(x[None]) for x in xs]
        return {name: np.concatenate([r[name] for r in per_window], axis=0) for name in self.output_names}


def available_runtimes() -> dict[str, str | None]:
    """Which runtimes this installation has, without importing them.

    Returns:
        ``{"litert": module or None, "executorch": module or None}``.
    """
    pte = None
    if importlib.util.find_spec("executorch") is not None:
        pte = "executorch.runtime"
    elif importlib.util.find_spec("executorch_numpy_runtime") is not None:
        pte = "executorch_numpy_runtime"
    litert = "ai_edge_litert" if importlib.util.find_spec("ai_edge_litert") is not None else None
    return {"litert": litert, "executorch": pte}


def _sniff_format(path: Path) -> str | None:
    """The format the file's bytes say it is (``tflite`` / ``pte``), or None."""
    with path.open("rb") as f:
        head = f.read(8)
    for fmt, magics in _MAGIC.items():
        if any(head[4 : 4 + len(m)] == m for m in magics):
            return fmt
    return None


def _derive_card(path: Path, fmt: str, engine: _Engine) -> ModelCard:
    """A card built from the file alone: standard names when the outputs look like anyppg's."""
    stem = path.stem
    match = re.fullmatch(r"(?P<name>.+)_(?P<backend>xnnpack|litert)_(?P<precision>fp32|q8)", stem)
    name = match["name"] if match else stem
    precision = match["precision"] if match else ("q8" if getattr(engine, "quantized_io", False) else "fp32")
    inputs = [TensorSpec("ppg", list(engine.input_shape), description="derived from the model file")]
    shapes = engine.output_shapes
    if len(shapes) in (len(OUTPUT_NAMES) - 1, len(OUTPUT_NAMES)):  # with or without the rhythm head
        names = list(OUTPUT_NAMES[: len(shapes)])
    elif engine.output_names:
        names = list(engine.output_names)
    else:
        names = [f"output_{i}" for i in range(len(shapes))]
    outputs = [
        TensorSpec(n, list(s), description="derived from the model file")
        for n, s in zip(names, shapes, strict=True)
    ]
    return ModelCard(
        name=name,
        format=fmt,
        backend=_FORMAT_BACKEND[fmt],
        precision=precision,
        inputs=inputs,
        outputs=outputs,
        size_bytes=path.stat().st_size,
        created_by=f"anyppg.sdk.runtime: derived from {path.name}; no model card file was found",
    )


def _check_card(path: Path, card: ModelCard, fmt: str, engine: _Engine) -> None:
    """The card must describe this file: format, input shape, output count and shapes."""
    if card.format != fmt:
        raise ModelLoadError(str(path), f"model card says format {card.format!r} but the file is {fmt!r}")
    if tuple(card.input_shape) != engine.input_shape:
        raise ModelLoadError(
            str(path),
            f"model card input shape {tuple(card.input_shape)} != file input shape {engine.input_shape}",
        )
    if len(card.outputs) != len(engine.output_shapes):
        raise ModelLoadError(
            str(path),
            f"model card lists {len(card.outputs)} outputs; the file has {len(engine.output_shapes)}",
        )
    for spec, shape in zip(card.outputs, engine.output_shapes, strict=True):
        if tuple(spec.shape) != shape:
            raise ModelLoadError(
                str(path),
                f"model card output {spec.name!r} has shape {tuple(spec.shape)}; the file gives {shape}",
            )


def load_model(
    path: str | Path,
    *,
    threads: int | None = None,
    card: ModelCard | str | Path | None = None,
) -> Model:
    """Load a deployed model, choosing the runtime by suffix (``.tflite``: LiteRT, ``.pte``: ExecuTorch).

    Args:
        path: the model file.
        threads: CPU threads for inference (None: the runtime's default). For ExecuTorch this sets
            the process-wide XNNPACK thread pool.
        card: the model card, or its path; default: the sibling ``{stem}.json``. Without one, a card
            is derived from the file (:attr:`Model.card_derived` is True and a warning is logged).

    Returns:
        The loaded :class:`Model`.

    Raises:
        ModelLoadError: the file is missing, has an unsupported suffix, its bytes are not the
            format its suffix says, the runtime rejects it (truncated, corrupt), or its card does not
            match it. The message names the file and what is wrong.
        RuntimeUnavailableError: the runtime for the format is not installed (names the install command).
        ValueError: ``threads`` is not a positive integer.
    """
    path = Path(path)
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    fmt = _SUFFIX_FORMAT.get(path.suffix.lower())
    if fmt is None:
        raise ModelLoadError(
            str(path), f"unsupported suffix {path.suffix!r}; expected one of {', '.join(_SUFFIX_FORMAT)}"
        )
    if not path.is_file():
        raise ModelLoadError(str(path), "file does not exist")
    if path.stat().st_size == 0:
        raise ModelLoadError(str(path), "file is empty")
    sniffed = _sniff_format(path)
    if sniffed is None:
        raise ModelLoadError(
            str(path), f"not a {fmt} file (no {_MAGIC[fmt][0].decode()} identifier at byte 4)"
        )
    if sniffed != fmt:
        raise ModelLoadError(
            str(path), f"file content is a {sniffed} model but the suffix says {path.suffix}"
        )

    # LiteRT's delegate banner, ExecuTorch's cpuinfo probing and torch/torchao import notices are
    # written straight to stderr by native code: they go to this module's debug log instead.
    with native_stderr_to_log(logger):
        engine: _Engine = (
            _LiteRTEngine(path, threads) if fmt == "tflite" else _ExecuTorchEngine(path, threads)
        )

    card_file = Path(card) if isinstance(card, str | Path) else card_path_for(path)
    derived = False
    if isinstance(card, ModelCard):
        model_card = card
    elif card_file.is_file():
        model_card = ModelCard.load(card_file)
    elif card is not None:
        raise ModelLoadError(str(card_file), "model card file does not exist")
    else:
        logger.warning("%s has no model card (%s); deriving one from the file", path.name, card_file.name)
        model_card = _derive_card(path, fmt, engine)
        derived = True
    _check_card(path, model_card, fmt, engine)
    logger.info("loaded %s with %s (input %s)", path.name, engine.name, engine.input_shape)
    return Model(path, engine, model_card, derived, threads)
