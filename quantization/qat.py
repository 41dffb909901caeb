"""Quantization-aware training (QAT) through PT2E, to ExecuTorch ``.pte`` and LiteRT ``.tflite`` int8.

PTQ (:mod:`anyppg.quantization.ptq`) rounds a trained model once; QAT fine-tunes it with the int8
rounding simulated in the forward pass (fake-quantize nodes, straight-through gradients), so the
weights learn to live on the int8 grid. One QAT run reaches both deployment formats::

    export (dynamic batch) -> prepare_qat_pt2e -> freeze BN stats -> fine-tune -> freeze observers
        -> convert_pt2e -> export (batch 1) -> XNNPACK .pte   |   litert-torch .tflite

Three details decide whether it works (see ``docs/quantization-qat.md``):

- **Dynamic batch.** The graph is exported with a ``torch.export.Dim`` batch: training runs on
  batches while the deployed program takes batch 1 (a static training batch fails with "Guard failed").
- **BatchNorm.** In the QAT graph each Conv1d-BN pair is simulated folded. Batch statistics in train
  mode differ from the running statistics used at inference, and short fine-tunes on small batches
  make the running statistics drift; BN statistics are therefore frozen (the graph's ``batch_norm``
  nodes switched to inference) at ``freeze_bn_step`` (from the start by default; later for QAT from
  scratch), and the rest of the run trains against the statistics that will be deployed. Frozen from
  the start is the same function as BN folded into the convolutions, which is what happens then for
  students (and spares ``convert_pt2e`` its slow QAT conv-BN fold).
- **Observers.** Quantization ranges are frozen after ``freeze_observers_step`` so the last steps
  fine-tune the weights for the final scales.

The training target is, by default, the fp32 model's own outputs (self-distillation: QAT recovers the
fp32 function under int8); pass ``targets`` (e.g. teacher embeddings) to distil from elsewhere.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from anyppg.model_card import ModelCard, card_path_for, default_io
from anyppg.quantization.ptq import QuantizationError, output_overrides, with_output_overrides

__all__ = [
    "QATConfig",
    "QATRecipe",
    "QATResult",
    "convert_qat",
    "export_qat",
    "freeze_batchnorm_stats",
    "lower_qat_to_pte",
    "lower_qat_to_tflite",
    "prepare_qat",
    "qat_finetune",
    "qat_quantizer",
]

log = logging.getLogger(__name__)

QATBackend = Literal["xnnpack", "litert"]
INPUT_SAMPLES = 1250  # 10 s at 125 Hz
OUTPUT_NAMES = ("embedding", "heart_rate", "quality", "af", "rhythm")  # students; teachers stop at af
HR_SCALE_BPM = 25.0  # heart-rate error is measured in units of 25 bpm in the loss
_BN_OPS = (torch.ops.aten.batch_norm.default, torch.ops.aten._native_batch_norm_legit.default)
_BN_TRAINING_ARG = 5  # (input, weight, bias, running_mean, running_var, training, momentum, eps, ...)


@dataclass
class QATConfig:
    """How to fine-tune with fake quantization (defaults: minutes on a 2-core CPU for student-s).

    Attributes:
        steps: optimizer steps.
        batch_size: windows per step.
        lr: Adam learning rate; QAT starts from trained weights, so it is small.
        freeze_bn_step: step from which BatchNorm uses (and stops updating) its running statistics.
            Default 0: QAT here fine-tunes a converged student whose statistics already fit the data;
            letting them update and freezing them late (e.g. ``steps // 2``, the classic schedule for
            QAT from scratch) measured worse: centred embedding cosine 0.928 vs 0.986 on the distilled
            student-s (``docs/quantization-qat.md``).
        freeze_observers_step: step after which quantization ranges stop updating
            (default: three quarters of ``steps``).
        w_cos / w_mse: embedding loss weights (1 - cosine, MSE scaled by the target's mean square).
        w_heads: weight of the head losses (heart rate in units of 25 bpm, quality and AF logits).
        w_hr_bpm: weight of an extra heart-rate term in bpm (Huber, 1 bpm knee). The 25-bpm term
            above is quadratic below 25 bpm, so a 1 bpm int8 error costs it 0.0008: too little to
            move the weights. This term makes a 1 bpm error cost ``0.5 * w_hr_bpm``; 0 leaves it out.
        max_batch: the largest batch the exported training graph accepts.
        seed: batch order.
    """

    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-4
    freeze_bn_step: int | None = None
    freeze_observers_step: int | None = None
    w_cos: float = 1.0
    w_mse: float = 1.0
    w_heads: float = 0.1
    w_hr_bpm: float = 0.0
    max_batch: int = 1024
    seed: int = 0

    def resolved(self) -> QATConfig:
        """A copy with the default freeze steps filled in."""
        bn = self.freeze_bn_step if self.freeze_bn_step is not None else 0
        obs = self.freeze_observers_step if self.freeze_observers_step is not None else (3 * self.steps) // 4
        return QATConfig(**{**asdict(self), "freeze_bn_step": bn, "freeze_observers_step": obs})


@dataclass
class QATResult:
    """A fine-tuned QAT graph and how it got there.

    Attributes:
        prepared: the trained graph with fake-quantize nodes (convert it with :func:`convert_qat`).
        config: the configuration used, with freeze steps resolved.
        history: per-step losses (``step``, ``loss``, ``cos``, ``mse``, ``heads``).
        frozen_bn_nodes: BatchNorm nodes switched to inference statistics.
        seconds: wall time of preparation + training.
        bn_folded: BatchNorm was folded into the convolutions before QAT (``freeze_bn_step=0`` on a
            model with ``fold_batchnorm()``); the graph then has no BatchNorm nodes.
    """

    prepared: torch.fx.GraphModule
    config: QATConfig
    history: list[dict[str, float]] = field(default_factory=list)
    frozen_bn_nodes: int = 0
    seconds: float = 0.0
    bn_folded: bool = False


def qat_quantizer(
    backend: QATBackend,
    fixed_outputs: Mapping[int, tuple[float, int]] | None = None,
    float_outputs: Iterable[int] = (),
):
    """The backend's PT2E quantizer in QAT mode: int8 per-channel symmetric weights, int8 activations.

    Args:
        backend: ``"xnnpack"`` or ``"litert"``.
        fixed_outputs: output index -> int8 ``(scale, zero point)`` fixed instead of observed.
        float_outputs: indices of outputs whose last op stays fp32 (a student's heart rate); see
            :func:`anyppg.quantization.ptq.with_output_overrides`.

    Raises:
        QuantizationError: unknown backend.
    """
    if fixed_outputs or float_outputs:
        return with_output_overrides(qat_quantizer(backend), fixed_outputs, float_outputs)
    if backend == "xnnpack":
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )

        return XNNPACKQuantizer().set_global(
            get_symmetric_quantization_config(is_per_channel=True, is_qat=True)
        )
    if backend == "litert":
        from litert_torch.quantize import pt2e_quantizer

        config = pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_qat=True)
        return pt2e_quantizer.PT2EQuantizer().set_global(config)
    raise QuantizationError(f"unknown QAT backend {backend!r}; expected 'xnnpack' or 'litert'")


def prepare_qat(
    model: nn.Module, backend: QATBackend = "xnnpack", max_batch: int = 1024
) -> torch.fx.GraphModule:
    """Export ``model`` (train mode, dynamic batch) and insert fake-quantize nodes for ``backend``.

    Args:
        model: an eager model taking ``(B, 1, 1250)`` float32 (not modified; a copy is exported).
        backend: whose quantizer annotates the graph. The XNNPACK graph also converts to LiteRT.
        max_batch: upper bound of the dynamic batch dimension.
    """
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    batch = torch.export.Dim("batch", min=1, max=max_batch)
    example = (torch.zeros(2, 1, INPUT_SAMPLES),)
    module = copy.deepcopy(model).train()
    exported = torch.export.export(module, example, dynamic_shapes=({0: batch},)).module()
    own = output_overrides(model)
    return prepare_qat_pt2e(exported, qat_quantizer(backend, own["fixed"], own["floating"]))


def freeze_batchnorm_stats(prepared: torch.fx.GraphModule) -> int:
    """Switch every BatchNorm node of an exported graph to inference statistics, in place.

    After this, forward passes normalise with the running mean / variance (as the deployed model
    will) and no longer update them.

    Returns:
        The number of BatchNorm nodes switched.
    """
    count = 0
    for node in prepared.graph.nodes:
        if node.op == "call_function" and node.target in _BN_OPS and node.args[_BN_TRAINING_ARG]:
            args = list(node.args)
            args[_BN_TRAINING_ARG] = False
            node.args = tuple(args)
            count += 1
    prepared.recompile()
    return count


def _as_windows(windows: np.ndarray | torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(windows, dtype=np.float32))
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3 or tuple(x.shape[1:]) != (1, INPUT_SAMPLES):
        raise QuantizationError(f"QAT windows have shape {tuple(x.shape)}; expected (N, 1, {INPUT_SAMPLES})")
    if x.shape[0] < 2:
        raise QuantizationError(f"QAT needs at least 2 windows; got {x.shape[0]}")
    if not torch.isfinite(x).all():
        raise QuantizationError("QAT windows contain NaN or inf")
    return x


def _reference_targets(model: nn.Module, x: torch.Tensor, batch: int = 128) -> dict[str, torch.Tensor]:
    ref = copy.deepcopy(model).eval()
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in OUTPUT_NAMES}
    with torch.no_grad():
        for chunk in x.split(batch):
            for key, y in zip(OUTPUT_NAMES, ref(chunk), strict=False):
                parts[key].append(y)
    return {k: torch.cat(v) for k, v in parts.items() if v}


def _loss(
    out: tuple[torch.Tensor, ...], tgt: Mapping[str, torch.Tensor], cfg: QATConfig
) -> dict[str, torch.Tensor]:
    emb, hr, quality, af = out[:4]
    t = tgt["embedding"]
    cos = 1.0 - F.cosine_similarity(emb, t, dim=1).mean()
    mse = F.mse_loss(emb, t) / t.pow(2).mean().clamp_min(1e-8)
    heads = (
        F.smooth_l1_loss(hr / HR_SCALE_BPM, tgt["heart_rate"] / HR_SCALE_BPM)
        + F.mse_loss(quality, tgt["quality"])
        + F.mse_loss(af, tgt["af"])
        + (F.mse_loss(out[4], tgt["rhythm"]) if len(out) > 4 and "rhythm" in tgt else 0.0)
    )
    total = cfg.w_cos * cos + cfg.w_mse * mse + cfg.w_heads * heads
    terms = {"cos": cos, "mse": mse, "heads": heads}
    if cfg.w_hr_bpm:
        terms["hr_bpm"] = F.huber_loss(hr, tgt["heart_rate"], delta=1.0)
        total = total + cfg.w_hr_bpm * terms["hr_bpm"]
    return {"loss": total, **terms}


def qat_finetune(
    model: nn.Module,
    windows: np.ndarray | torch.Tensor,
    *,
    targets: Mapping[str, np.ndarray | torch.Tensor] | None = None,
    backend: QATBackend = "xnnpack",
    config: QATConfig | None = None,
) -> QATResult:
    """Quantization-aware fine-tuning of a trained model.

    Args:
        model: the trained fp32 model (eager, anyppg output contract); left unchanged.
        windows: ``(N, 1, 1250)`` or ``(N, 1250)`` preprocessed training windows (10 s at 125 Hz).
        targets: ``{output name: (N, ...)}`` to match; default: ``model``'s own fp32 outputs.
        backend: quantizer that annotates the graph (the XNNPACK one also converts to LiteRT).
        config: schedule and loss weights.

    Returns:
        A :class:`QATResult`; :func:`convert_qat` then :func:`lower_qat_to_pte` /
        :func:`lower_qat_to_tflite` turn it into deployable files.

    Raises:
        QuantizationError: misshapen / non-finite windows, targets of the wrong length, unknown backend.
    """
    from torchao.quantization.pt2e import disable_observer

    cfg = (config or QATConfig()).resolved()
    x = _as_windows(windows)
    if targets is None:
        tgt = _reference_targets(model, x)
    else:
        tgt = {
            k: torch.as_tensor(np.asarray(targets[k], dtype=np.float32))
            for k in OUTPUT_NAMES
            if k != "rhythm" or k in targets
        }
        bad = {k: len(v) for k, v in tgt.items() if len(v) != len(x)}
        if bad:
            raise QuantizationError(f"QAT targets have {bad} rows; expected {len(x)} (one per window)")
    t0 = time.perf_counter()
    # BN frozen from the first step is the same function as BN folded into the convolutions; folding
    # first also spares convert_pt2e its QAT conv-BN fold (about 20 s per conversion even for a tiny
    # model). Models without a fold_batchnorm() keep BN in the graph and have it frozen at step 0.
    # A student's deployment_form() is fold_batchnorm() plus the 4-D layout it is exported in.
    from anyppg.quantization.export import deployment_method

    fold = deployment_method(model)
    bn_folded = cfg.freeze_bn_step == 0 and fold is not None
    prepared = prepare_qat(fold() if bn_folded else model, backend, cfg.max_batch)
    log.info("prepared %s QAT graph in %.1f s (BN folded: %s)", backend, time.perf_counter() - t0, bn_folded)
    optimizer = torch.optim.Adam(prepared.parameters(), lr=cfg.lr)
    g = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    frozen = 0
    for step in range(cfg.steps):
        if step == cfg.freeze_bn_step:
            frozen = freeze_batchnorm_stats(prepared)
            log.info("step %d: froze %d BatchNorm nodes", step, frozen)
        if step == cfg.freeze_observers_step:
            prepared.apply(disable_observer)
            log.info("step %d: froze quantization ranges", step)
        idx = torch.randint(0, len(x), (min(cfg.batch_size, len(x)),), generator=g)
        terms = _loss(prepared(x[idx]), {k: v[idx] for k, v in tgt.items()}, cfg)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()
        history.append({"step": step, **{k: float(v.detach()) for k, v in terms.items()}})
        if step % 50 == 0 or step == cfg.steps - 1:
            log.info("QAT step %d/%d: loss %.4f", step + 1, cfg.steps, history[-1]["loss"])
    if cfg.freeze_bn_step >= cfg.steps:  # the deployed graph always uses running statistics
        frozen = freeze_batchnorm_stats(prepared)
    return QATResult(prepared, cfg, history, frozen, time.perf_counter() - t0, bn_folded)


def convert_qat(
    result: QATResult | torch.fx.GraphModule, backend: QATBackend = "xnnpack"
) -> torch.fx.GraphModule:
    """Turn the fake-quantized training graph into an int8 graph for ``backend`` (the input is kept).

    ``xnnpack`` folds the weight quantization into int8 constants; ``litert`` keeps explicit
    quantize / dequantize pairs, which litert-torch's converter reads.
    """
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    prepared = result.prepared if isinstance(result, QATResult) else result
    graph = copy.deepcopy(prepared)
    move_exported_model_to_eval(graph)
    return convert_pt2e(graph, fold_quantize=backend == "xnnpack")


@dataclass
class QATRecipe:
    """Quantization-aware training as the int8 step of :func:`anyppg.quantization.export.export_model`
    (its ``recipe``): fine-tune once, then convert for each backend asked.

    The fake-quantized graph is always annotated by the XNNPACK quantizer: litert-torch's QAT
    annotator fails on the conv-BN pattern with this torch (``torch.export`` is handed a function),
    and the XNNPACK-annotated graph converts to a fully int8 ``.tflite`` as well. A student's fp32
    heart-rate ``Linear`` is kept (:func:`prepare_qat` applies its ``float_outputs``).

    One recipe serves one model: the first call trains, later calls (other backends) reuse it.

    Attributes:
        windows: ``(N, 1, 1250)`` training windows.
        config: schedule and loss weights.
        targets: outputs to match (default: the fp32 model's own, i.e. self-distillation).
        result: the fine-tuning run, once done.
    """

    windows: np.ndarray
    config: QATConfig = field(default_factory=QATConfig)
    targets: Mapping[str, np.ndarray] | None = None
    result: QATResult | None = None

    def __call__(self, module: nn.Module, backend: str) -> torch.fx.GraphModule:
        if self.result is None:
            self.result = qat_finetune(
                module, self.windows, targets=self.targets, backend="xnnpack", config=self.config
            )
        return convert_qat(self.result, backend)  # type: ignore[arg-type]

    def describe(self) -> dict[str, Any]:
        """What the card says of the int8 step."""
        cfg = self.result.config if self.result is not None else self.config.resolved()
        return {
            "scheme": "PT2E quantization-aware training (XNNPACKQuantizer annotations): int8 "
            "per-channel symmetric weights, int8 per-tensor activations",
            "qat": asdict(cfg),
            "qat_windows": len(self.windows),
            "targets": "given" if self.targets is not None else "the fp32 model's own outputs",
            "final_loss": self.result.history[-1]["loss"] if self.result and self.result.history else None,
        }


def lower_qat_to_pte(converted: torch.fx.GraphModule) -> bytes:
    """Export a converted (``xnnpack``) QAT graph at batch 1 and lower it to an XNNPACK ``.pte``."""
    from anyppg.quantization.export import pte_program

    return pte_program(converted)[0]


def lower_qat_to_tflite(converted: torch.fx.GraphModule) -> bytes:
    """Convert a converted (``litert``) QAT graph at batch 1 to a fully int8 ``.tflite`` (int8 I/O)."""
    from litert_torch.quantize.quant_config import QuantConfig

    from anyppg.quantization.export import tflite_flatbuffer

    return tflite_flatbuffer(converted, QuantConfig(pt2e_quantizer=qat_quantizer("litert")))


def export_qat(
    result: QATResult,
    name: str,
    out_dir: str | Path,
    *,
    parameters: int | None = None,
    training_data: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    formats: tuple[str, ...] = ("pte", "tflite"),
) -> list[Path]:
    """Write ``{name}_xnnpack_q8.pte`` and / or ``{name}_litert_q8.tflite`` with their model cards.

    Returns:
        The model files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        backend = "xnnpack" if fmt == "pte" else "litert"
        converted = convert_qat(result, backend)
        data = lower_qat_to_pte(converted) if fmt == "pte" else lower_qat_to_tflite(converted)
        path = out / f"{name}_{backend}_q8.{fmt}"
        path.write_bytes(data)
        inputs, outputs = default_io()
        card = ModelCard(
            name=name,
            format=fmt,
            backend=backend,
            precision="q8",
            inputs=inputs,
            outputs=outputs,
            parameters=parameters,
            size_bytes=len(data),
            training_data=dict(training_data or {}),
            metrics=dict(metrics or {}),
            quantization={
                "scheme": "PT2E QAT: int8 per-channel symmetric weights, int8 per-tensor activations",
                "qat": asdict(result.config),
                "frozen_bn_nodes": result.frozen_bn_nodes,
                "bn_folded_before_qat": result.bn_folded,
                "final_loss": result.history[-1]["loss"] if result.history else None,
            },
            created_by="anyppg.quantization.qat",
        )
        card.save(card_path_for(path))
        log.info("wrote %s (%d bytes)", path, len(data))
        written.append(path)
    return written
