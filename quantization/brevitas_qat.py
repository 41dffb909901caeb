"""Sub-8-bit QAT of the microcontroller student with brevitas, carried into integer artifacts by hand.

PT2E stops at int8 (XNNPACK and LiteRT kernels are 8-bit). For the ``student-xs`` student on a
microcontroller, 4-bit weights halve the flash again; brevitas trains them. brevitas has no ExecuTorch
or LiteRT exporter (its QCDQ ONNX keeps float weights; its QONNX does not load in onnxruntime), so
this module takes the learned integers and scales out of the trained model itself:

    fp32 student -> fold BN -> :class:`BrevitasStudent` (4-bit per-channel weights, 8-bit activations)
        -> QAT (self-distillation) -> :func:`extract_integer_model` (int weights, scales, biases)
        -> :class:`IntegerStudent` (numpy, integer MACs)   and   C header (:mod:`.c_export`)

Arithmetic of every Conv1d / Linear, as a microcontroller runs it::

    acc[c, t] = sum(w_int[c, i, k] * x_int[i, t*stride + k - pad])      # int32, exact
    y[c, t]   = acc[c, t] * (s_x * s_w[c]) + bias[c]                      # float32 rescale
    x_int'    = clamp(round(y / s_y), qmin, qmax)                         # next layer's input

Residual adds and the time average run on the dequantized values (one float add / mean per
element), then requantize; that is what the brevitas graph computes too, so the numpy reference
matches it to the last integer step (see ``tests/quantization/test_brevitas.py``).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from anyppg.quantization.ptq import QuantizationError

__all__ = [
    "BrevitasStudent",
    "IntegerStudent",
    "QuantLayer",
    "brevitas_qat",
    "extract_integer_model",
]

log = logging.getLogger(__name__)

HR_SCALE_BPM = 25.0  # heart-rate errors count in units of 25 bpm in the QAT loss


def _brevitas():
    try:
        import brevitas.nn as qnn
        from brevitas.quant import Int8ActPerTensorFloat, Int8WeightPerChannelFloat, Uint8ActPerTensorFloat
    except ImportError as exc:
        from anyppg.errors import RuntimeUnavailableError

        raise RuntimeUnavailableError("brevitas", 'pip install "anyppg[train]"') from exc
    return qnn, Int8WeightPerChannelFloat, Int8ActPerTensorFloat, Uint8ActPerTensorFloat


class BrevitasStudent(nn.Module):
    """A :class:`~anyppg.quantization.students.Student` (BN folded) with brevitas quantizers.

    Every Conv1d / Linear has ``weight_bits``-bit per-channel weights; every ReLU output, the input
    and the pooled feature are ``act_bits``-bit per-tensor. Same outputs as the student.
    """

    def __init__(self, config: Any, weight_bits: int = 4, act_bits: int = 8) -> None:
        super().__init__()
        qnn, WQ, SignedAct, UnsignedAct = _brevitas()
        self.config = config
        self.weight_bits = weight_bits
        self.act_bits = act_bits

        def conv(c_in: int, c_out: int, k: int, stride: int) -> nn.Module:
            return qnn.QuantConv1d(
                c_in,
                c_out,
                k,
                stride=stride,
                padding=k // 2,
                bias=True,
                weight_quant=WQ,
                weight_bit_width=weight_bits,
            )

        def relu() -> nn.Module:
            return qnn.QuantReLU(act_quant=UnsignedAct, bit_width=act_bits)

        def linear(c_in: int, c_out: int) -> nn.Module:
            return qnn.QuantLinear(c_in, c_out, bias=True, weight_quant=WQ, weight_bit_width=weight_bits)

        self.quant_in = qnn.QuantIdentity(act_quant=SignedAct, bit_width=act_bits)
        self.stem = conv(1, config.stem_channels, config.stem_kernel, 2)
        self.stem_act = relu()
        self.down, self.down_act, self.conv, self.conv_act = (nn.ModuleList() for _ in range(4))
        c = config.stem_channels
        for c_out in config.stage_channels:
            self.down.append(conv(c, c_out, config.kernel_size, 2))
            self.down_act.append(relu())
            self.conv.append(conv(c_out, c_out, config.kernel_size, 1))
            self.conv_act.append(relu())
            c = c_out
        self.quant_pool = qnn.QuantIdentity(act_quant=SignedAct, bit_width=act_bits)
        self.embed = linear(c, config.embedding_dim)
        self.head_hidden = linear(c, config.head_hidden)
        self.head_act = relu()
        self.heart_rate = linear(config.head_hidden, 1)
        self.quality = linear(config.head_hidden, 1)
        self.af = linear(config.head_hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.stem_act(self.stem(self.quant_in(x)))  # (B, C, T/2)
        for i in range(len(self.down)):
            d = self.down_act[i](self.down[i](h))  # (B, C_i, T/2^(i+2))
            if self.config.residual:
                h = self.conv_act[i](d + self.conv[i](d))
            else:
                h = self.conv_act[i](self.conv[i](d))
        pooled = self.quant_pool(h.mean(-1))  # (B, C)
        z = self.head_act(self.head_hidden(pooled))
        # The folded student's heart-rate Linear outputs bpm directly (its bpm affine is folded in).
        return self.embed(pooled), self.heart_rate(z), self.quality(z), self.af(z)

    @classmethod
    def from_student(cls, student: nn.Module, weight_bits: int = 4, act_bits: int = 8) -> BrevitasStudent:
        """Copy a trained student's weights (BatchNorm folded into the convolutions).

        Raises:
            QuantizationError: the student has no non-residual-free layout this class mirrors.
        """
        folded = student.fold_batchnorm()
        cfg = folded.config
        if getattr(cfg, "separable", False) or getattr(cfg, "stem_stride", 2) != 2:
            raise QuantizationError(
                "BrevitasStudent mirrors the plain-convolution layout (students.PLAIN_STUDENT_XS_CONFIG); "
                "this student has separable stages or a stem stride other than 2"
            )
        if not cfg.residual:
            raise QuantizationError("BrevitasStudent mirrors residual students only (config.residual=True)")
        model = cls(cfg, weight_bits, act_bits)
        feats = list(folded.features)
        pairs = [(model.stem, feats[0].conv)]
        for i, stage in enumerate(feats[1:]):
            pairs += [(model.down[i], stage.down.conv), (model.conv[i], stage.conv.conv)]
        pairs += [
            (model.embed, folded.embed),
            (model.head_hidden, folded.head_hidden[0]),
            (model.heart_rate, folded.heart_rate),
            (model.quality, folded.quality),
            (model.af, folded.af),
        ]
        with torch.no_grad():
            for dst, src in pairs:
                dst.weight.copy_(src.weight)
                if src.bias is not None:
                    dst.bias.copy_(src.bias)
                else:
                    dst.bias.zero_()
        return model


# --- QAT -----------------------------------------------------------------------------------------


@dataclass
class BrevitasResult:
    """A QAT-trained brevitas student and its per-step losses."""

    model: BrevitasStudent
    history: list[float] = field(default_factory=list)


def brevitas_qat(
    student: nn.Module,
    windows: np.ndarray | torch.Tensor,
    *,
    weight_bits: int = 4,
    act_bits: int = 8,
    steps: int = 200,
    batch_size: int = 32,
    lr: float = 3e-4,
    seed: int = 0,
) -> BrevitasResult:
    """Fine-tune ``student`` with ``weight_bits``-bit weights to reproduce its own fp32 outputs.

    Args:
        student: a trained fp32 student (left unchanged).
        windows: ``(N, 1, 1250)`` preprocessed training windows (10 s at 125 Hz).
        weight_bits / act_bits: bit widths (e.g. 4 / 8).
        steps / batch_size / lr / seed: Adam schedule.

    Raises:
        QuantizationError: misshapen or non-finite windows, bit widths outside 2..8.
    """
    if not (2 <= weight_bits <= 8 and 2 <= act_bits <= 8):
        raise QuantizationError(f"bit widths must be 2..8; got weights {weight_bits}, activations {act_bits}")
    x = torch.as_tensor(np.asarray(windows, dtype=np.float32))
    if x.ndim != 3 or tuple(x.shape[1:]) != (1, 1250) or len(x) < 2:
        raise QuantizationError(f"windows have shape {tuple(x.shape)}; expected (N >= 2, 1, 1250)")
    if not torch.isfinite(x).all():
        raise QuantizationError("windows contain NaN or inf")
    reference = copy.deepcopy(student).eval()
    with torch.no_grad():
        targets = [torch.cat(t) for t in zip(*(reference(c) for c in x.split(128)), strict=True)]
    model = BrevitasStudent.from_student(student, weight_bits, act_bits).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    history = []
    for step in range(steps):
        idx = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=g)
        emb, hr, quality, af = model(x[idx])
        t_emb, t_hr, t_q, t_af = (t[idx] for t in targets[:4])  # the rhythm head is not mirrored
        loss = (
            (1 - F.cosine_similarity(emb, t_emb, dim=1).mean())
            + F.mse_loss(emb, t_emb) / t_emb.pow(2).mean().clamp_min(1e-8)
            + 0.1
            * (
                F.smooth_l1_loss(hr / HR_SCALE_BPM, t_hr / HR_SCALE_BPM)
                + F.mse_loss(quality, t_q)
                + F.mse_loss(af, t_af)
            )
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append(float(loss.detach()))
        if step % 50 == 0 or step == steps - 1:
            log.info("brevitas QAT step %d/%d: loss %.4f", step + 1, steps, history[-1])
    return BrevitasResult(model.eval(), history)


# --- integer extraction and the numpy reference -----------------------------------------------------


@dataclass
class QuantLayer:
    """One Conv1d or Linear in integer form.

    Attributes:
        name: layer name (``stem``, ``down0``, ``conv0``, ..., ``embed``, ``head_hidden``, ``heart_rate``,
            ``quality``, ``af``).
        w_int: int8 array holding ``bits``-bit weights, ``(C_out, C_in, K)`` or ``(C_out, C_in)``.
        w_scale: float32 ``(C_out,)`` per-channel weight scale.
        bias: float32 ``(C_out,)``.
        bits: weight bit width.
        stride / padding: Conv1d geometry in samples (1 / 0 for Linear).
    """

    name: str
    w_int: np.ndarray
    w_scale: np.ndarray
    bias: np.ndarray
    bits: int
    stride: int = 1
    padding: int = 0


@dataclass
class ActQuant:
    """A per-tensor activation quantizer: ``q = clamp(round(x / scale), qmin, qmax)``."""

    name: str
    scale: float
    qmin: int
    qmax: int


def _act(name: str, module: nn.Module, probe: torch.Tensor) -> ActQuant:
    out = module.act_quant(probe)  # an IntQuantTensor in eval mode: fixed scale
    bits = int(out.bit_width)
    signed = bool(out.signed)
    qmin, qmax = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return ActQuant(name, float(out.scale), qmin, qmax)


def _layer(name: str, module: nn.Module) -> QuantLayer:
    qw = module.quant_weight()
    w_int = qw.int().detach().numpy().astype(np.int8)
    scale = qw.scale.detach().reshape(-1).numpy().astype(np.float32)
    bias = module.bias.detach().numpy().astype(np.float32)
    stride = int(module.stride[0]) if hasattr(module, "stride") else 1
    padding = int(module.padding[0]) if hasattr(module, "padding") else 0
    return QuantLayer(name, w_int, scale, bias, int(qw.bit_width), stride, padding)


def extract_integer_model(model: BrevitasStudent) -> IntegerStudent:
    """The trained brevitas student's integers and scales, as a numpy :class:`IntegerStudent`."""
    model = model.eval()
    probe = torch.zeros(1, 1, 4)
    layers = [_layer("stem", model.stem)]
    acts = [_act("input", model.quant_in, probe), _act("stem", model.stem_act, probe)]
    for i in range(len(model.down)):
        layers += [_layer(f"down{i}", model.down[i]), _layer(f"conv{i}", model.conv[i])]
        acts += [_act(f"down{i}", model.down_act[i], probe), _act(f"conv{i}", model.conv_act[i], probe)]
    acts += [_act("pool", model.quant_pool, torch.zeros(1, 4)), _act("head_hidden", model.head_act, probe)]
    for name in ("embed", "head_hidden", "heart_rate", "quality", "af"):
        layers.append(_layer(name, getattr(model, name)))
    return IntegerStudent({layer.name: layer for layer in layers}, {a.name: a for a in acts})


def _quant(x: np.ndarray, a: ActQuant) -> np.ndarray:
    return np.clip(np.round(x / np.float32(a.scale)), a.qmin, a.qmax).astype(np.int32)


def _conv_int(x_int: np.ndarray, layer: QuantLayer) -> np.ndarray:
    """Integer Conv1d: ``(C_in, T)`` int32 -> ``(C_out, T_out)`` int64 accumulators."""
    k = layer.w_int.shape[2]
    xp = np.pad(x_int, ((0, 0), (layer.padding, layer.padding)))
    t_out = (xp.shape[1] - k) // layer.stride + 1
    cols = np.lib.stride_tricks.sliding_window_view(xp, k, axis=1)[:, :: layer.stride][
        :, :t_out
    ]  # (C_in, T_out, K)
    return np.einsum("oik,itk->ot", layer.w_int.astype(np.int64), cols.astype(np.int64))


class IntegerStudent:
    """Numpy reference of the 4-bit student: integer MACs, per-channel float rescale, int8 activations.

    Attributes:
        layers: :class:`QuantLayer` by name.
        acts: :class:`ActQuant` by name (``input``, ``stem``, ``down{i}``, ``conv{i}``, ``pool``,
            ``head_hidden``).
    """

    def __init__(self, layers: dict[str, QuantLayer], acts: dict[str, ActQuant]) -> None:
        self.layers = layers
        self.acts = acts
        self.stages = sum(1 for n in layers if n.startswith("down"))

    def _conv(self, x_int: np.ndarray, a_in: ActQuant, name: str) -> np.ndarray:
        layer = self.layers[name]
        acc = _conv_int(x_int, layer)
        return (acc * (a_in.scale * layer.w_scale[:, None]) + layer.bias[:, None]).astype(np.float32)

    def _linear(self, x_int: np.ndarray, a_in: ActQuant, name: str) -> np.ndarray:
        layer = self.layers[name]
        acc = layer.w_int.astype(np.int64) @ x_int.astype(np.int64)
        return (acc * (a_in.scale * layer.w_scale) + layer.bias).astype(np.float32)

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """One window ``(1250,)`` or ``(1, 1, 1250)`` float32 -> contract outputs with batch axis 1."""
        a = self.acts
        q = _quant(np.asarray(x, np.float32).reshape(1, -1), a["input"])  # (1, T)
        h = _quant(np.maximum(self._conv(q, a["input"], "stem"), 0), a["stem"])
        a_h = a["stem"]
        for i in range(self.stages):
            d_q = _quant(np.maximum(self._conv(h, a_h, f"down{i}"), 0), a[f"down{i}"])
            d = d_q * np.float32(a[f"down{i}"].scale)
            y = d + self._conv(d_q, a[f"down{i}"], f"conv{i}")
            h, a_h = _quant(np.maximum(y, 0), a[f"conv{i}"]), a[f"conv{i}"]
        pooled = _quant((h * np.float32(a_h.scale)).mean(axis=1), a["pool"])  # (C,)
        z = _quant(np.maximum(self._linear(pooled, a["pool"], "head_hidden"), 0), a["head_hidden"])
        hr = self._linear(z, a["head_hidden"], "heart_rate")  # bpm
        return {
            "embedding": self._linear(pooled, a["pool"], "embed")[None],
            "heart_rate": hr[None].astype(np.float32),
            "quality": self._linear(z, a["head_hidden"], "quality")[None],
            "af": self._linear(z, a["head_hidden"], "af")[None],
        }

    def weight_bytes(self) -> int:
        """Flash needed for the packed weights (``bits`` per weight) plus float32 scales and biases."""
        total = 0
        for layer in self.layers.values():
            total += (layer.w_int.size * layer.bits + 7) // 8 + 4 * (layer.w_scale.size + layer.bias.size)
        return total + 4 * len(self.acts)

    def save(self, path: str | Path) -> None:
        """Write every array to one ``.npz`` (``{layer}.w_int``, ``{layer}.w_scale``, ...)."""
        arrays: dict[str, np.ndarray] = {}
        for n, layer in self.layers.items():
            arrays.update({f"{n}.w_int": layer.w_int, f"{n}.w_scale": layer.w_scale, f"{n}.bias": layer.bias})
            arrays[f"{n}.geometry"] = np.array([layer.bits, layer.stride, layer.padding], np.int32)
        for n, act in self.acts.items():
            arrays[f"act.{n}"] = np.array([act.scale, act.qmin, act.qmax], np.float64)
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> IntegerStudent:
        """Read a file written by :meth:`save`."""
        data = np.load(path)
        layers, acts = {}, {}
        for key in data.files:
            if key.startswith("act."):
                scale, qmin, qmax = data[key]
                acts[key[4:]] = ActQuant(key[4:], float(scale), int(qmin), int(qmax))
            elif key.endswith(".w_int"):
                n = key[: -len(".w_int")]
                bits, stride, padding = (int(v) for v in data[f"{n}.geometry"])
                layers[n] = QuantLayer(
                    n, data[key], data[f"{n}.w_scale"], data[f"{n}.bias"], bits, stride, padding
                )
        order = ["stem"] + [
            f"{p}{i}" for i in range(len(layers)) for p in ("down", "conv") if f"{p}{i}" in layers
        ]
        order += [n for n in ("embed", "head_hidden", "heart_rate", "quality", "af") if n in layers]
        return cls({n: layers[n] for n in order}, acts)
