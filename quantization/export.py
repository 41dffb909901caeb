"""Export a model to ExecuTorch ``.pte`` (XNNPACK) and LiteRT ``.tflite``, fp32 or int8, with model cards.

One straight, logged pipeline per backend (as in ExecuTorch's ``examples/xnnpack/aot_compiler.py``)::

    fold BatchNorm -> [int8: export, prepare_pt2e, calibrate, convert_pt2e] -> export -> lower -> serialize

Artifacts are named ``{model}_{backend}_{precision}`` (``student-s_xnnpack_q8.pte``,
``student-s_litert_q8.tflite``) and each gets a JSON :class:`anyppg.model_card.ModelCard` beside it.

int8 ``.tflite`` files have int8 input and output tensors (the heart-rate output too); the card
records each tensor's scale and zero point under ``quantization["io_tensors"]`` and
:func:`run_tflite` quantizes / dequantizes with the interpreter's own parameters.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import nn

from anyppg.errors import ModelInputError, ModelLoadError
from anyppg.model_card import ModelCard, card_path_for, default_io
from anyppg.quantization.ptq import BACKENDS, QuantizationError, quantize_pt2e
from anyppg.quantization.students import INPUT_SAMPLES, OUTPUT_NAMES, RHYTHM_CLASSES, count_parameters

log = logging.getLogger(__name__)

Precision = Literal["fp32", "q8"]
PRECISIONS: tuple[str, ...] = ("fp32", "q8")
SUFFIX = {"xnnpack": ".pte", "litert": ".tflite"}
FORMAT = {"xnnpack": "pte", "litert": "tflite"}
INPUT_SHAPE = (1, 1, INPUT_SAMPLES)


class Int8Recipe(Protocol):
    """Another way than PTQ to make the int8 graph (:class:`anyppg.quantization.qat.QATRecipe`).

    Called with a model's deployment form and the backend (``"xnnpack"`` or ``"litert"``), it returns
    the converted int8 graph that backend lowers; :meth:`describe` goes to the card's
    ``quantization`` field.
    """

    def __call__(self, module: nn.Module, backend: str) -> torch.fx.GraphModule: ...

    def describe(self) -> dict[str, Any]: ...


def _int8_graph(module: nn.Module, backend: str, calibration: Any, recipe: Int8Recipe | None) -> Any:
    if recipe is not None:
        return recipe(module, backend)
    if calibration is None:
        raise QuantizationError("int8 export needs calibration windows; got none")
    return quantize_pt2e(module, calibration, backend=backend)  # type: ignore[arg-type]


def artifact_name(model: str, backend: str, precision: str) -> str:
    """``{model}_{backend}_{precision}`` plus the backend's file suffix.

    Raises:
        QuantizationError: unknown backend or precision.
    """
    if backend not in BACKENDS:
        raise QuantizationError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise QuantizationError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    return f"{model}_{backend}_{precision}{SUFFIX[backend]}"


def deployment_method(model: nn.Module) -> Callable[[], nn.Module] | None:
    """The model's own way to its deployment form, or None: ``deployment_form()`` (students:
    BatchNorm folded, convolutions in 4-D), else ``fold_batchnorm()``."""
    for method in ("deployment_form", "fold_batchnorm"):
        form = getattr(model, method, None)
        if callable(form):
            return form
    return None


def deployment_form(model: nn.Module) -> nn.Module:
    """``model`` in eval mode, in its deployment form when it has one (:func:`deployment_method`)."""
    form = deployment_method(model)
    return form() if form is not None else model.eval()


@contextlib.contextmanager
def toolchain_warnings_silenced() -> Iterator[None]:
    """Silence the toolchain's own Deprecation/FutureWarnings while it runs.

    ``executorch.exir`` calls ``importlib.resources.open_text`` on import and ``torch.export`` deep-
    copies pytree specs that warn from ``copyreg``; neither comes from anyppg, and both would fail
    programs and tests that run with ``-W error``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


# --- ExecuTorch / XNNPACK --------------------------------------------------------------------------


@dataclass
class DelegationReport:
    """What the XNNPACK partitioner took.

    Attributes:
        delegate_calls: number of ``executorch_call_delegate`` nodes (1 = the whole graph in one blob).
        undelegated: ops left outside any delegate, by name and count (empty = fully delegated).
    """

    delegate_calls: int
    undelegated: dict[str, int] = field(default_factory=dict)

    @property
    def fully_delegated(self) -> bool:
        return self.delegate_calls >= 1 and not self.undelegated


def delegation_report(graph_module: torch.fx.GraphModule) -> DelegationReport:
    """Count delegate calls and the ops left outside delegates in a lowered edge graph."""
    delegates = 0
    left: Counter[str] = Counter()
    for node in graph_module.graph.nodes:
        if node.op != "call_function":
            continue
        name = getattr(node.target, "__name__", str(node.target))
        if "executorch_call_delegate" in name:
            delegates += 1
        elif name != "getitem":
            left[str(getattr(node.target, "_name", name))] += 1
    return DelegationReport(delegates, dict(left))


def lower_module(module: nn.Module, example: tuple[torch.Tensor, ...]):  # -> (EdgeProgramManager, report)
    """``torch.export`` ``module`` and lower it with the XNNPACK partitioner; report what was delegated."""
    with toolchain_warnings_silenced():
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        program = torch.export.export(module, example)
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    return edge, delegation_report(edge.exported_program().graph_module)


def lower_to_xnnpack(
    model: nn.Module, precision: Precision, calibration: Any = None, recipe: Int8Recipe | None = None
) -> tuple[bytes, DelegationReport]:
    """Lower ``model`` to an XNNPACK-delegated ExecuTorch program.

    Args:
        model: eager model (its deployment form is used) taking ``(1, 1, 1250)`` float32.
        precision: ``"fp32"`` or ``"q8"`` (PT2E static int8, per-channel weights).
        calibration: windows for :func:`anyppg.quantization.ptq.quantize_pt2e` (``q8`` without a
            ``recipe``).
        recipe: makes the int8 graph instead of PTQ (e.g. quantization-aware training).

    Returns:
        ``(.pte bytes, delegation report)``.

    Raises:
        QuantizationError: ``q8`` without calibration data, or bad calibration data.
    """
    module = deployment_form(model)
    if precision == "q8":
        module = _int8_graph(module, "xnnpack", calibration, recipe)
    t0 = time.perf_counter()
    buffer, report = pte_program(module)
    log.info(
        "lowered to XNNPACK %s in %.1f s: %d delegate call(s), undelegated %s, %d bytes",
        precision, time.perf_counter() - t0, report.delegate_calls, report.undelegated or "none", len(buffer),
    )  # fmt: skip
    return buffer, report


def pte_program(
    module: nn.Module, input_shape: tuple[int, ...] = INPUT_SHAPE
) -> tuple[bytes, DelegationReport]:
    """``.pte`` bytes of a ready graph (eval-mode fp32, or int8 from PTQ / QAT) taking ``input_shape``
    (a student's ``(1, 1, 1250)`` by default): ``torch.export`` at that shape, XNNPACK lowering,
    ExecuTorch serialisation; with the delegation report."""
    with toolchain_warnings_silenced():
        edge, report = lower_module(module, (torch.zeros(input_shape),))
        return edge.to_executorch().buffer, report


def run_pte(path: str | Path, x: np.ndarray | torch.Tensor) -> list[np.ndarray]:
    """Run an ExecuTorch ``.pte`` on one input with ``executorch.runtime``; outputs as float32 arrays.

    Raises:
        ModelLoadError: the file is missing or is not a loadable program.
        ModelInputError: ``x`` is not ``(1, 1, 1250)``.
    """
    program = load_pte(path)
    x = _check_input(x)
    return [np.asarray(o.detach().numpy(), dtype=np.float32) for o in program.execute([torch.from_numpy(x)])]


def load_pte(path: str | Path):  # -> executorch.runtime.Method
    """Load the ``forward`` method of a ``.pte`` file.

    Raises:
        ModelLoadError: the file is missing or is not a loadable program.
    """
    with toolchain_warnings_silenced():
        from executorch.runtime import Runtime

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(str(path), "file does not exist")
    try:
        return Runtime.get().load_program(path).load_method("forward")
    except Exception as exc:  # the runtime raises RuntimeError / ValueError with C++ messages
        raise ModelLoadError(str(path), f"not a loadable ExecuTorch program ({exc})") from exc


# --- LiteRT ----------------------------------------------------------------------------------------


def convert_to_litert(
    model: nn.Module, precision: Precision, calibration: Any = None, recipe: Int8Recipe | None = None
) -> bytes:
    """Convert ``model`` to a ``.tflite`` flatbuffer with litert-torch.

    Args:
        model: eager model (its deployment form is used) taking ``(1, 1, 1250)`` float32.
        precision: ``"fp32"`` or ``"q8"`` (PT2E static int8 per-channel; int8 I/O tensors).
        calibration: windows for :func:`anyppg.quantization.ptq.quantize_pt2e` (``q8`` without a
            ``recipe``).
        recipe: makes the int8 graph instead of PTQ (e.g. quantization-aware training).

    Raises:
        QuantizationError: ``q8`` without calibration data or recipe, or bad calibration data.
    """
    from anyppg.quantization.ptq import _quantizer

    with toolchain_warnings_silenced():
        from litert_torch.quantize.quant_config import QuantConfig

    module = deployment_form(model)
    quant_config = None
    if precision == "q8":
        module = _int8_graph(module, "litert", calibration, recipe)
        quant_config = QuantConfig(pt2e_quantizer=_quantizer("litert"))
    t0 = time.perf_counter()
    data = tflite_flatbuffer(module, quant_config)
    log.info("converted to LiteRT %s in %.1f s, %d bytes", precision, time.perf_counter() - t0, len(data))
    return data


def tflite_flatbuffer(
    module: nn.Module, quant_config: Any = None, input_shape: tuple[int, ...] = INPUT_SHAPE
) -> bytes:
    """``.tflite`` bytes of a ready graph taking ``input_shape`` (a student's ``(1, 1, 1250)`` by
    default), converted by litert-torch at that shape.

    Args:
        module: an eval-mode fp32 module, or an int8 graph (PTQ / QAT, with quantize / dequantize
            pairs) together with its ``quant_config`` (a litert-torch ``QuantConfig``), which makes
            the file fully int8 with int8 I/O tensors.
        quant_config: see ``module``; None for fp32.
        input_shape: the example input's shape.
    """
    with toolchain_warnings_silenced():
        import litert_torch

    # litert-torch prints progress lines to stdout; keep stdout for `--json` output.
    with (
        toolchain_warnings_silenced(),
        contextlib.redirect_stdout(sys.stderr),
        tempfile.TemporaryDirectory() as tmp,
    ):
        kwargs = {} if quant_config is None else {"quant_config": quant_config}
        edge_model = litert_torch.convert(module, (torch.zeros(input_shape),), **kwargs)
        path = Path(tmp) / "model.tflite"
        edge_model.export(str(path))
        return path.read_bytes()


def load_tflite(path: str | Path, num_threads: int = 1):  # -> ai_edge_litert Interpreter
    """An allocated LiteRT interpreter for ``path``.

    Raises:
        ModelLoadError: the file is missing or is not a valid ``.tflite`` flatbuffer.
    """
    from ai_edge_litert.interpreter import Interpreter

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(str(path), "file does not exist")
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelLoadError(str(path), f"not a valid .tflite model ({exc})") from exc
    return interpreter


def tflite_io_tensors(interpreter) -> dict[str, dict[str, Any]]:
    """Dtype, scale and zero point of each input / output tensor, keyed by contract name."""
    details = interpreter.get_input_details()[:1] + _ordered_outputs(interpreter)
    names = ("ppg", *OUTPUT_NAMES)
    result = {}
    for name, d in zip(names, details, strict=True):
        scale, zero_point = d["quantization"]
        result[name] = {
            "dtype": np.dtype(d["dtype"]).name,
            "scale": float(scale),
            "zero_point": int(zero_point),
        }
    return result


def _ordered_outputs(interpreter) -> list[dict[str, Any]]:
    # litert-torch names outputs ..._output_<i>_...; sort on i so the order matches the model's tuple.
    def index(d: Mapping[str, Any]) -> int:
        parts = d["name"].split("output_")
        return int(parts[1].split("_")[0]) if len(parts) > 1 else 0

    return sorted(interpreter.get_output_details(), key=index)


def run_tflite(path_or_interpreter: Any, x: np.ndarray | torch.Tensor) -> list[np.ndarray]:
    """Run a ``.tflite`` on one input; int8 I/O tensors are (de)quantized with their own scales.

    Raises:
        ModelLoadError: the file is missing or invalid.
        ModelInputError: ``x`` is not ``(1, 1, 1250)``.
    """
    it = path_or_interpreter
    if isinstance(it, str | os.PathLike):
        it = load_tflite(it)
    x = _check_input(x)
    (inp,) = it.get_input_details()
    it.set_tensor(inp["index"], _quantize(x, inp))
    it.invoke()
    return [_dequantize(it.get_tensor(d["index"]), d) for d in _ordered_outputs(it)]


def _quantize(x: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return x
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def _dequantize(y: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    if np.dtype(detail["dtype"]) == np.float32:
        return np.array(y, dtype=np.float32)
    scale, zero_point = detail["quantization"]
    return ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)


def _check_input(x: np.ndarray | torch.Tensor) -> np.ndarray:
    arr = np.ascontiguousarray(x.detach().numpy() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
    if arr.shape != INPUT_SHAPE:
        raise ModelInputError(INPUT_SHAPE, arr.shape)
    return arr


# --- the whole export ------------------------------------------------------------------------------


def measure_latency_ms(fn: Callable[[], Any], runs: int = 50, warmup: int = 5) -> dict[str, float]:
    """Median and 90th-percentile wall time of ``fn()`` in milliseconds (``runs`` timed calls)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median": float(np.median(times)), "p90": float(np.percentile(times, 90)), "runs": runs}


def machine_description(threads: int = 1) -> str:
    """The machine a latency was measured on, in words (CPU architecture, cores, threads used)."""
    return f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores, {threads} thread(s)"


@dataclass
class Artifact:
    """One exported model file and its card.

    Attributes:
        path: the model file (``.pte`` or ``.tflite``).
        card_path: its JSON model card.
        card: the card.
        delegation: for ``.pte`` files, what XNNPACK took.
    """

    path: Path
    card_path: Path
    card: ModelCard
    delegation: DelegationReport | None = None


def export_model(
    model: nn.Module,
    name: str,
    backend: str,
    precision: str,
    out_dir: str | Path,
    calibration: Any = None,
    training_data: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    latency_runs: int = 50,
    created_by: str = "anyppg export",
    recipe: Int8Recipe | None = None,
) -> Artifact:
    """Export ``model`` to ``out_dir/{name}_{backend}_{precision}.{pte|tflite}`` and write its card.

    The card records the parameter count, the file size, the median / p90 latency measured here with
    the backend's own runtime (1 thread, ``latency_runs`` runs; 0 skips it), what trained the model
    and the ``metrics`` given, plus quantization details (calibration size or the ``recipe``'s
    description, int8 I/O tensor scales). ``recipe`` makes the int8 graph instead of PTQ.

    Raises:
        QuantizationError: unknown backend / precision, or ``q8`` without calibration data or recipe.
    """
    filename = artifact_name(name, backend, precision)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / filename
    report = None
    if backend == "xnnpack":
        data, report = lower_to_xnnpack(model, precision, calibration, recipe)  # type: ignore[arg-type]
    else:
        data = convert_to_litert(model, precision, calibration, recipe)  # type: ignore[arg-type]
    path.write_bytes(data)

    x = np.zeros(INPUT_SHAPE, dtype=np.float32)
    quant: dict[str, Any] = {}
    if precision == "q8" and recipe is not None:
        quant = recipe.describe()
    elif precision == "q8":
        quant = {
            "scheme": "PT2E static int8: per-channel symmetric weights, per-tensor activations",
            "quantizer": "XNNPACKQuantizer" if backend == "xnnpack" else "litert_torch PT2EQuantizer",
            "calibration_windows": _count(calibration),
        }
    latency: dict[str, float] = {}
    if backend == "xnnpack":
        method = load_pte(path)
        xt = torch.from_numpy(x)
        if latency_runs:
            latency = measure_latency_ms(lambda: method.execute([xt]), runs=latency_runs)
    else:
        interpreter = load_tflite(path)
        io = tflite_io_tensors(interpreter)
        if precision == "q8":
            quant["io_tensors"] = io
        if latency_runs:
            latency = measure_latency_ms(lambda: run_tflite(interpreter, x), runs=latency_runs)

    inputs, outputs = default_io()
    # A bare encoder (the teacher) returns only the embedding; a student returns all four outputs.
    with torch.no_grad():
        produced = model.eval()(torch.from_numpy(x))
    produced = (produced,) if isinstance(produced, torch.Tensor) else tuple(produced)
    outputs = outputs[: len(produced)]
    for spec, tensor in zip(outputs, produced, strict=True):
        spec.shape = list(tensor.shape)
    card = ModelCard(
        name=name,
        format=FORMAT[backend],
        backend=backend,
        precision=precision,
        inputs=inputs,
        outputs=outputs,
        parameters=count_parameters(model),
        size_bytes=len(data),
        latency_ms=latency,
        measured_on=machine_description(1) + (", ExecuTorch" if backend == "xnnpack" else ", ai-edge-litert"),
        training_data=dict(training_data or {}),
        metrics=dict(metrics or {}),
        quantization=quant,
        created_by=created_by,
        rhythm_classes=list(RHYTHM_CLASSES) if len(produced) > OUTPUT_NAMES.index("rhythm") else [],
    )
    if report is not None:
        card.quantization["xnnpack_delegate_calls"] = report.delegate_calls
        card.quantization["undelegated_ops"] = report.undelegated
    card_path = card_path_for(path)
    card.save(card_path)
    log.info("wrote %s (%d bytes) and %s", path, len(data), card_path.name)
    return Artifact(path, card_path, card, report)


def _count(calibration: Any) -> int | None:
    if isinstance(calibration, np.ndarray | torch.Tensor):
        return int(calibration.shape[0])
    return None


def export_all(
    model: nn.Module,
    name: str,
    out_dir: str | Path,
    calibration: Any,
    backends: Sequence[str] = BACKENDS,
    precisions: Sequence[str] = PRECISIONS,
    **card_fields: Any,
) -> list[Artifact]:
    """:func:`export_model` for every backend x precision pair; returns the artifacts in that order."""
    return [
        export_model(model, name, b, p, out_dir, calibration if p == "q8" else None, **card_fields)
        for b in backends
        for p in precisions
    ]
