"""PT2E static int8 post-training quantization (per-channel weights, per-tensor activations).

The pipeline is the ExecuTorch one, in order::

    torch.export (dynamic batch) -> prepare_pt2e(quantizer) -> calibrate -> convert_pt2e

The result is a ``torch.fx.GraphModule`` that runs in torch with simulated int8 arithmetic (so its
fidelity can be measured before lowering) and that :mod:`anyppg.quantization.export` exports again and
lowers to XNNPACK (``.pte``) or LiteRT (``.tflite``). The two backends need different quantizers:
``"xnnpack"`` uses ExecuTorch's ``XNNPACKQuantizer``; ``"litert"`` uses litert-torch's
``PT2EQuantizer`` and keeps quantize/dequantize pairs unfolded, as its converter requires.

Calibration data should look like deployment data: :func:`calibration_windows` mixes windows from the
real recordings that are installed with simulated windows, all preprocessed by :mod:`anyppg.signal`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from anyppg.errors import AnyPPGError

log = logging.getLogger(__name__)

Backend = Literal["xnnpack", "litert"]
BACKENDS: tuple[str, ...] = ("xnnpack", "litert")
INPUT_SAMPLES = 1250


class QuantizationError(AnyPPGError, ValueError):
    """Quantization cannot run with the given inputs.

    Attributes:
        reason: what is wrong, in words.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _quantizer(backend: str):  # -> torchao Quantizer
    if backend == "xnnpack":
        with warnings.catch_warnings():  # executorch.exir warns on import (importlib.resources)
            warnings.simplefilter("ignore", DeprecationWarning)
            from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
                XNNPACKQuantizer,
                get_symmetric_quantization_config,
            )

        return XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    if backend == "litert":
        from litert_torch.quantize import pt2e_quantizer

        config = pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True)
        return pt2e_quantizer.PT2EQuantizer().set_global(config)
    raise QuantizationError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def with_output_overrides(
    base: Any, fixed: Mapping[int, tuple[float, int]] | None = None, floating: Iterable[int] = ()
) -> Any:
    """``base`` quantizer, except for some graph outputs (by output index):

    - ``fixed``: index -> int8 ``(scale, zero point)`` used instead of calibrated ones. Calibration
      sets an output's range from what the calibration windows produce: a heart-rate head calibrated
      on resting windows (60-100 bpm) then saturates at exercise rates. A fixed range covers the
      whole physiological range whatever the calibration data.
    - ``floating``: the op producing each of these outputs is left unannotated, so it runs in fp32
      on dequantized inputs and the output is a float32 tensor. For an output read as a number
      (a student's heart rate) this removes the output's int8 rounding and, after a float op such
      as ``softmax``, the rounding of that op's result too, for the price of one small float op.

    Raises (from ``annotate``):
        QuantizationError: a fixed output that the base quantizer leaves unquantized.
    """
    from torchao.quantization.pt2e.quantizer import FixedQParamsQuantizationSpec, Quantizer

    fixed = dict(fixed or {})
    floating = tuple(floating)

    class _Overrides(Quantizer):
        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            model = base.annotate(model)
            (output,) = [n for n in model.graph.nodes if n.op == "output"]
            produced = output.args[0]
            for index, (scale, zero_point) in fixed.items():
                node = produced[index]
                annotation = node.meta.get("quantization_annotation")
                if annotation is None:
                    raise QuantizationError(
                        f"output {index} ({node.name}) is not quantized; cannot fix its range"
                    )
                annotation.output_qspec = FixedQParamsQuantizationSpec(
                    dtype=torch.int8, scale=float(scale), zero_point=int(zero_point),
                    quant_min=-128, quant_max=127, qscheme=torch.per_tensor_affine,
                )  # fmt: skip
            for index in floating:
                produced[index].meta.pop("quantization_annotation", None)
            return model

        def validate(self, model: torch.fx.GraphModule) -> None:
            base.validate(model)

    return _Overrides()


def output_overrides(model: nn.Module) -> dict[str, Any]:
    """A model's own output overrides for :func:`with_output_overrides`: its
    ``fixed_output_qparams`` (index -> int8 (scale, zero point)) and ``float_outputs`` (indices)
    attributes, where it has them (students keep their heart rate in float)."""
    return {
        "fixed": getattr(model, "fixed_output_qparams", None) or {},
        "floating": tuple(getattr(model, "float_outputs", ())),
    }


def export_for_quantization(model: nn.Module) -> torch.fx.GraphModule:
    """``torch.export`` ``model`` with a dynamic batch dimension and return the graph module.

    A dynamic batch lets calibration run in batches while the lowered program still takes batch 1.
    """
    batch = torch.export.Dim("batch", min=1, max=4096)
    example = (torch.zeros(2, 1, INPUT_SAMPLES),)
    return torch.export.export(model.eval(), example, dynamic_shapes=({0: batch},)).module()


def _batches(windows: torch.Tensor | np.ndarray | Iterable, batch_size: int) -> Iterable[torch.Tensor]:
    if isinstance(windows, np.ndarray | torch.Tensor):
        tensor = torch.as_tensor(np.asarray(windows, dtype=np.float32))
        if tensor.ndim == 2:
            tensor = tensor[:, None, :]
        if tensor.ndim != 3 or tensor.shape[1:] != (1, INPUT_SAMPLES):
            raise QuantizationError(
                f"calibration windows have shape {tuple(tensor.shape)}; expected (N, 1, {INPUT_SAMPLES})"
            )
        if tensor.shape[0] == 0:
            raise QuantizationError("calibration needs at least one window; got 0")
        if not torch.isfinite(tensor).all():
            raise QuantizationError("calibration windows contain NaN or inf")
        yield from tensor.split(batch_size)
    else:
        yield from windows


def quantize_pt2e(
    model: nn.Module,
    calibration: torch.Tensor | np.ndarray | Iterable[torch.Tensor],
    backend: Backend = "xnnpack",
    batch_size: int = 64,
    fixed_outputs: Mapping[int, tuple[float, int]] | None = None,
    float_outputs: Iterable[int] | None = None,
) -> torch.fx.GraphModule:
    """Static int8 PT2E quantization of ``model`` calibrated on ``calibration`` windows.

    Args:
        model: an eager model taking ``(B, 1, 1250)`` float32.
        calibration: ``(N, 1, 1250)`` (or ``(N, 1250)``) preprocessed windows, or an iterable of batches.
        backend: ``"xnnpack"`` (ExecuTorch) or ``"litert"`` (litert-torch): which quantizer annotates.
        batch_size: windows per calibration forward pass.
        fixed_outputs: output index -> int8 ``(scale, zero point)`` fixed instead of calibrated
            (default: ``model.fixed_output_qparams`` when the model has it; see
            :func:`with_output_overrides`).
        float_outputs: indices of outputs whose last op stays fp32 (default: ``model.float_outputs``
            when the model has it, as students do for heart rate).

    Returns:
        The converted graph module (int8 simulated in torch), ready to be exported and lowered.

    Raises:
        QuantizationError: unknown backend, empty / misshapen / non-finite calibration data.
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    batches = list(_batches(calibration, batch_size))  # validate before the slow export
    if not batches:
        raise QuantizationError("calibration needs at least one window; got 0")
    quantizer = _quantizer(backend)
    own = output_overrides(model)
    fixed = own["fixed"] if fixed_outputs is None else fixed_outputs
    floating = own["floating"] if float_outputs is None else tuple(float_outputs)
    if fixed or floating:
        quantizer = with_output_overrides(quantizer, fixed, floating)
    with warnings.catch_warnings():  # torch.export's own Future/DeprecationWarnings (see export.py)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        prepared = prepare_pt2e(export_for_quantization(model), quantizer)
        with torch.no_grad():
            for batch in batches:
                prepared(batch)
        log.info("calibrated %s int8 observers on %d windows", backend, sum(len(b) for b in batches))
        # litert-torch's converter reads the explicit quantize/dequantize pairs, so keep them unfolded.
        return convert_pt2e(prepared, fold_quantize=backend == "xnnpack")


def calibration_windows(n: int = 256, seed: int = 0, real_fraction: float = 0.5) -> np.ndarray:
    """Preprocessed ``(n, 1, 1250)`` windows for calibration: real recordings mixed with simulated ones.

    Real windows come from the recordings installed on this machine (``anyppg.recordings``); when
    none is installed every window is simulated (``anyppg.simulator``), and the log says so.

    Args:
        n: number of windows.
        seed: seed of the simulator and of the window selection.
        real_fraction: share of real windows when recordings are available (0 to 1).
    """
    from anyppg.quantization.distill import real_windows, simulated_windows

    rng = np.random.default_rng(seed)
    real = real_windows(seed=seed).ppg
    n_real = min(len(real), round(n * real_fraction))
    if n_real:
        real = real[rng.choice(len(real), n_real, replace=False)]
    else:
        log.warning("no real recording windows available; calibrating on simulated windows only")
    sim = simulated_windows(n - n_real, seed=seed).ppg
    windows = np.concatenate([real[:n_real], sim]) if n_real else sim
    return windows[rng.permutation(len(windows))][:, None, :].astype(np.float32)
