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

The per-call path is bound once at load (:meth:`Model.run`): LiteRT's input and output tensor
buffers are held as numpy views, the int8 input is quantized straight into the interpreter's input
buffer and each int8 output is dequantized by one lookup in a 256-entry table built with the same
formula; ExecuTorch's input tensor, method and memory-planned output buffers are reused. A load-time
probe compares the bound path with a plain runtime call and falls back to the plain call if they
differ. The outputs are bit-identical to a plain call; a call costs the runtime's ``invoke`` plus
about 0.02 ms of Python when warm, 0.06-0.12 ms right after something evicted the caches (measured on
the shipped student-s: ``docs/quantization.md``, speed).

Importing this module imports neither torch nor any runtime.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from anyppg.errors import InvalidSignalError, ModelInputError, ModelLoadError, RuntimeUnavailableError
from anyppg.logs import native_stderr_to_log
from anyppg.model_card import OUTPUT_NAMES, ModelCard, TensorSpec, card_path_for

try:  # the C functions themselves: np.clip / np.count_nonzero add a Python layer per call
    from numpy._core.multiarray import count_nonzero as _count_nonzero  # numpy >= 2
    from numpy._core.umath import clip as _clip_ufunc
except ImportError:  # pragma: no cover - numpy 1.26
    from numpy.core.multiarray import count_nonzero as _count_nonzero
    from numpy.core.umath import clip as _clip_ufunc

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

    # The bound path (``bound`` True): ``feed(x)`` writes the window and runs the model, then each
    # of ``readers`` returns one output as a new array.
    bound: bool
    feed: Callable[[np.ndarray], None] | None
    readers: list[Callable[[], np.ndarray]]

    def invoke(self, x: np.ndarray) -> list[np.ndarray]:
        """Run one window: ``x`` is float32 of ``input_shape`` (any strides) with finite values."""
        ...


# --- LiteRT ----------------------------------------------------------------------------------------

# Bound once: the hot path looks up no module attributes.
_F32 = np.dtype(np.float32)
_isfinite, _divide, _add, _rint, _copyto = np.isfinite, np.divide, np.add, np.rint, np.copyto


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


def _dequantize_table(detail: dict[str, Any]) -> np.ndarray | None:
    """``_dequantize`` of every value of an 8- or 16-bit integer dtype, indexed by the value itself.

    The table lists the values in unsigned order (0, 1, ... then the negatives), so ``table.take(q)``
    with a signed ``q`` wraps its negative values onto them: the same bits as ``_dequantize(q)``,
    in one lookup instead of four numpy operations. None for wider dtypes.
    """
    dtype = np.dtype(detail["dtype"])
    if dtype.itemsize > 2:
        return None
    unsigned = np.dtype(f"u{dtype.itemsize}")
    return _dequantize(np.arange(1 << (8 * dtype.itemsize), dtype=unsigned).view(dtype), detail)


def _output_order(names: Sequence[str]) -> list[str]:
    """Signature outputs in model order: ``output_0, output_1, ... output_10`` (numeric, not lexical)."""

    def key(name: str) -> tuple[int, str]:
        match = re.search(r"(\d+)$", name)
        return (int(match.group(1)) if match else 1 << 30, name)

    return sorted(names, key=key)


def _litert_io(interp: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str] | None]:
    """(input details, output details in model order, output names or None) of an interpreter.

    A function of its own so that the signature runner, which holds a reference to the interpreter's
    internals (and so blocks its ``invoke()``), is gone when it returns.
    """
    signatures = interp.get_signature_list()
    if not signatures:
        return interp.get_input_details(), interp.get_output_details(), None
    key = "serving_default" if "serving_default" in signatures else sorted(signatures)[0]
    runner = interp.get_signature_runner(key)
    out_details = runner.get_output_details()
    order = _output_order(list(out_details))
    return list(runner.get_input_details().values()), [out_details[n] for n in order], order


class _LiteRTEngine:
    name: Backend = "litert"

    def __init__(self, path: Path, threads: int | None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise RuntimeUnavailableError("LiteRT (ai-edge-litert)", _LITERT_INSTALL) from exc
        try:
            # XNNPACK is LiteRT's default delegate; measured on the shipped int8 student at 1 thread
            # it takes a window in 0.06 ms against 0.37 ms for LiteRT's own int8 kernels (whose
            # outputs also differ by 1 LSB), so the default stays (docs/quantization.md, speed).
            self._interp = Interpreter(model_path=str(path), num_threads=threads)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(str(path), f"LiteRT rejected the file: {exc}") from exc
        inputs, self._outputs, self.output_names = _litert_io(self._interp)
        if len(inputs) != 1:
            raise ModelLoadError(str(path), f"model has {len(inputs)} inputs; anyppg models have exactly 1")
        self._input = inputs[0]
        self.input_shape = tuple(int(d) for d in self._input["shape"])
        self.output_shapes = [tuple(int(d) for d in o["shape"]) for o in self._outputs]
        self.input_dtype = np.dtype(self._input["dtype"])
        self.quantized_io = self.input_dtype.kind in "iu"
        self._tables = [
            _dequantize_table(d) if np.dtype(d["dtype"]).kind in "iu" else None for d in self._outputs
        ]
        self.bound = False
        self.feed: Callable[[np.ndarray], None] | None = None
        self.readers: list[Callable[[], np.ndarray]] = []
        self.invoke: Callable[[np.ndarray], list[np.ndarray]] = self._invoke_plain
        self._bind(path)

    def _invoke_plain(self, x: np.ndarray) -> list[np.ndarray]:
        """The public interpreter API: ``set_tensor``, ``invoke``, ``get_tensor`` (copies)."""
        if self.quantized_io:
            x = _quantize(x, self._input)
        self._interp.set_tensor(self._input["index"], np.ascontiguousarray(x, dtype=self.input_dtype))
        self._interp.invoke()
        outs = []
        for detail, table in zip(self._outputs, self._tables, strict=True):
            y = self._interp.get_tensor(detail["index"])
            if np.dtype(detail["dtype"]).kind in "iu":
                outs.append(table.take(y) if table is not None else _dequantize(y, detail))
            else:
                outs.append(y)  # get_tensor returns a copy
        return outs

    def _bind(self, path: Path) -> None:
        """Hold numpy views of the input and output buffers and call the interpreter directly.

        ``Interpreter.tensor()`` views stay valid while tensors are not reallocated (this class
        never resizes); the public ``invoke()`` refuses to run while such views exist, so the bound
        path calls the wrapped C++ interpreter (``Interpreter._interpreter``) itself. A probe
        window must give the same bits both ways, else the plain path stays in use.
        """
        # Wide enough that some samples saturate the int8 input range.
        probe = 4 * np.random.default_rng(0).standard_normal(self.input_shape).astype(np.float32)
        try:
            want = self._invoke_plain(probe)  # before any reference to the internals is held
        except (ValueError, RuntimeError) as exc:
            logger.debug("%s: LiteRT could not run a probe window (%s)", path.name, exc)
            return
        raw = getattr(self._interp, "_interpreter", None)
        if raw is None or not all(hasattr(raw, a) for a in ("tensor", "Invoke")):
            logger.debug("%s: LiteRT interpreter internals not found; plain set/get_tensor path", path.name)
            return
        try:
            self._in_view = raw.tensor(raw, self._input["index"])
            for detail, table in zip(self._outputs, self._tables, strict=True):
                view = raw.tensor(raw, detail["index"])
                if table is not None:
                    self.readers.append(functools.partial(table.take, view))
                elif np.dtype(detail["dtype"]).kind in "iu":
                    self.readers.append(functools.partial(_dequantize, view, detail))
                else:
                    self.readers.append(view.copy)
            self._raw_invoke = raw.Invoke
            if self.quantized_io:
                scale, zero_point = self._input["quantization"]
                info = np.iinfo(self.input_dtype)
                # _quantize's arithmetic, in float32, written into the interpreter's input buffer.
                self._scale, self._zero_point = np.float32(scale), np.float32(zero_point)
                self._qmin, self._qmax = np.float32(info.min), np.float32(info.max)
                self._scratch = np.empty(self.input_shape, np.float32)
                feed = self._feed_quantized
            else:
                feed = self._feed_float
            feed(probe)
            got = [read() for read in self.readers]
            same = all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(got, want, strict=True))
        except (TypeError, ValueError, RuntimeError) as exc:
            logger.debug("%s: binding LiteRT buffers failed (%s); plain set/get_tensor path", path.name, exc)
            same = None
        if not same:
            if same is not None:
                logger.warning(
                    "%s: bound LiteRT path differs from set/get_tensor; using the latter", path.name
                )
            # Drop every reference to the internals: the public invoke() works again.
            self._in_view, self.readers, self._raw_invoke = None, [], None
            return
        self.feed, self.invoke, self.bound = feed, self._invoke_bound, True

    def _invoke_bound(self, x: np.ndarray) -> list[np.ndarray]:
        self.feed(x)  # type: ignore[misc]
        return [read() for read in self.readers]

    def _feed_quantized(self, x: np.ndarray) -> None:
        q = self._scratch
        _divide(x, self._scale, out=q)
        _add(q, self._zero_point, out=q)
        _rint(q, out=q)  # what np.round(q) does with 0 decimals
        _clip_ufunc(q, self._qmin, self._qmax, out=self._in_view, casting="unsafe")
        self._raw_invoke()

    def _feed_float(self, x: np.ndarray) -> None:
        _copyto(self._in_view, x, casting="unsafe")
        self._raw_invoke()


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
        self.bound = False
        self.feed: Callable[[np.ndarray], None] | None = None
        self.readers: list[Callable[[], np.ndarray]] = []
        self.invoke: Callable[[np.ndarray], list[np.ndarray]] = self._invoke_plain
        if self.which == "executorch":
            import torch

            self._torch_from_numpy = torch.from_numpy
            self._bind(path)

    def _invoke_plain(self, x: np.ndarray) -> list[np.ndarray]:
        if self.which == "executorch":
            outs = self._method.execute([self._torch_from_numpy(np.ascontiguousarray(x))])
            return [o.numpy() for o in outs]  # execute returns clones: these arrays are ours
        # executorch_numpy_runtime: numpy in, numpy out (not exercised on Python 3.11).
        return [np.asarray(o).copy() for o in self._method([x])]

    def _bind(self, path: Path) -> None:
        """Reuse one input tensor and read the memory-planned output buffers in place.

        The pybind method behind ``executorch.runtime.Method`` (``Method._method``) takes
        ``set_inputs`` / ``execute`` / ``get_outputs(clone_outputs=False)``; memory-planned outputs
        live at fixed addresses in the method's arena, so numpy views of them are taken once and
        copied after each ``execute`` (``execute()`` would otherwise wrap and clone five tensors per
        call). Used only when every output is memory-planned, the buffers stay put over two probe
        windows and the probes give the same bits as ``Method.execute``.
        """
        import torch

        raw = getattr(self._method, "_method", None)
        meta = self._method.metadata
        try:
            planned = all(meta.output_tensor_meta(i).is_memory_planned() for i in range(meta.num_outputs()))
        except (AttributeError, RuntimeError, TypeError) as exc:
            logger.debug("%s: no ExecuTorch tensor metadata (%s); plain execute path", path.name, exc)
            return
        if not planned or not all(hasattr(raw, a) for a in ("set_inputs", "execute", "get_outputs")):
            logger.debug("%s: outputs not memory-planned or no raw method; plain execute path", path.name)
            return
        try:
            self._input_tensor = torch.zeros(self.input_shape, dtype=torch.float32)
            self._input_list = [self._input_tensor]
            self._input_buffer = self._input_tensor.numpy()
            rng = np.random.default_rng(0)
            probes = [4 * rng.standard_normal(self.input_shape).astype(np.float32) for _ in range(2)]
            wants = [self._invoke_plain(p) for p in probes]
            self._set_inputs, self._execute = raw.set_inputs, raw.execute
            self._set_inputs(self._input_list)
            self._execute()
            self._output_tensors = raw.get_outputs(clone_outputs=False)  # keeps the aliases alive
            self.readers = [t.numpy().copy for t in self._output_tensors]
            addresses = [t.data_ptr() for t in self._output_tensors]
            gots = []
            for p in probes:
                self._feed(p)
                gots.append([read() for read in self.readers])
            moved = [t.data_ptr() for t in raw.get_outputs(clone_outputs=False)] != addresses
        except (RuntimeError, TypeError, ValueError) as exc:
            logger.debug("%s: binding ExecuTorch buffers failed (%s); plain execute path", path.name, exc)
            self.readers = []
            return
        same = all(
            a.dtype == b.dtype and np.array_equal(a, b)
            for got, want in zip(gots, wants, strict=True)
            for a, b in zip(got, want, strict=True)
        )
        if moved or not same:
            logger.warning(
                "%s: bound ExecuTorch path differs from Method.execute; using the plain path", path.name
            )
            self.readers = []
            return
        self.feed, self.invoke, self.bound = self._feed, self._invoke_bound, True

    def _invoke_bound(self, x: np.ndarray) -> list[np.ndarray]:
        self._feed(x)
        return [read() for read in self.readers]

    def _feed(self, x: np.ndarray) -> None:
        _copyto(self._input_buffer, x, casting="unsafe")
        self._set_inputs(self._input_list)
        self._execute()


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
        self._finite = np.empty(self.input_shape, dtype=bool)  # run()'s NaN/inf mask
        self._size = self._finite.size
        # The bound path: one call writes the window and runs the model, then each output is read
        # straight into the result (no intermediate list); None: the runtime's plain API.
        self._feed = engine.feed if getattr(engine, "bound", False) else None
        self._named = (
            list(zip(self.output_names, getattr(engine, "readers", []), strict=True)) if self._feed else []
        )

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

        The returned arrays are new on every call. A :class:`Model` reuses its runtime's buffers:
        call one from one thread at a time (as the runtimes themselves require).
        """
        # Hot path: a float32 ndarray of the exact shape (any strides) needs no conversion; the
        # finiteness test writes into a preallocated mask. Anything else (another dtype or shape,
        # NaN/inf) takes _check, which converts or raises.
        fast = type(x) is np.ndarray and x.dtype is _F32 and x.shape == self.input_shape
        if not (fast and _count_nonzero(_isfinite(x, out=self._finite)) == self._size):
            x = self._check(x)
        if self._feed is None:
            return dict(zip(self.output_names, self._engine.invoke(x), strict=True))
        self._feed(x)
        return {name: read() for name, read in self._named}

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
