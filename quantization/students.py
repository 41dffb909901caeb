"""Student encoders: small CNNs distilled from the AnyPPG teacher, built for XNNPACK and LiteRT.

Every student takes the teacher's input, ``(B, 1, 1250)`` float32 (10 s of PPG at 125 Hz, band-passed
and z-scored by :mod:`anyppg.signal`), and returns the five outputs of the model I/O contract
(:mod:`anyppg.model_card`), in order:

- ``embedding``  ``(B, 512)``: the teacher's embedding space (distillation target)
- ``heart_rate`` ``(B, 1)``: beats per minute
- ``quality``    ``(B, 1)``: logit of P(signal usable)
- ``af``         ``(B, 1)``: logit of P(atrial fibrillation)
- ``rhythm``     ``(B, 6)``: logits of the six rhythm classes (:data:`RHYTHM_CLASSES`, Liu 2022 order)

Architecture (``separable=True``, the shipped students): a stride-4 stem convolution, then stages of
depthwise-separable convolutions (a depthwise ``Conv1d`` with ``groups == channels`` followed by a
pointwise 1x1 ``Conv1d``), each stage halving time; global average pooling; ``Linear`` heads. The
early stride and the separable stages cost about 1/20 of the older plain-convolution design's MACs.

student-s also has the pulse-spectrum branch (``spectral_bins``, :class:`PulseSpectrum`): a fixed
power spectrum of the window at 30-220 bpm and twice those rates, from which the heart-rate head
reads a distribution over rates (``softmax``) and outputs its expectation. Global average pooling
keeps the pulses' shape and loses their timing, and a rate read from shape alone was off by a
constant on held-out patients (``docs/quantization.md``).

Only ops the delegates run natively are used: ``Conv1d`` (plain or depthwise) + ``BatchNorm1d``
(folded into the convolution at export), ``ReLU``, residual ``add``, global average pooling,
``Linear``, and in the spectrum branch ``mul`` and ``softmax``. No squeeze-excitation, no Swish, no
grouped convolutions other than depthwise: the teacher's grouped blocks do not lower to XNNPACK
int8, depthwise ones do (``docs/quantization.md``).

The registry follows the ExecuTorch examples: each :class:`StudentSpec` gives an eager model and its
example inputs::

    from anyppg.quantization.students import STUDENTS
    spec = STUDENTS["student-s"]
    model = spec.get_eager_model()
    (x,) = spec.get_example_inputs()
    embedding, heart_rate, quality, af, rhythm = model(x)
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from anyppg.errors import CheckpointError
from anyppg.signal.constants import MODEL_FS

log = logging.getLogger(__name__)

INPUT_SAMPLES = 1250  # 10 s at 125 Hz
EMBEDDING_DIM = 512  # the teacher's embedding size
OUTPUT_NAMES = ("embedding", "heart_rate", "quality", "af", "rhythm")
RHYTHM_CLASSES = ("sinus_rhythm", "PVC", "PAC", "VT", "SVT", "AF")  # Liu et al. 2022 label order
AF_CLASS = RHYTHM_CLASSES.index("AF")

# Heart-rate head works in normalised units: bpm = HR_CENTER_BPM + HR_SCALE_BPM * raw, so the
# supported range 30-220 bpm is raw -1.9 to 1.9. Centring keeps the head's raw output near zero,
# which helps training. In the int8 files the heart rate is a float32 output (Student.float_outputs).
HR_CENTER_BPM = 125.0
HR_SCALE_BPM = 50.0
HR_RANGE_BPM = (30.0, 220.0)


@dataclass(frozen=True)
class StudentConfig:
    """Shape of a student network.

    Attributes:
        stem_channels: channels of the first convolution (stride ``stem_stride``, kernel ``stem_kernel``).
        stem_kernel: kernel of the stem convolution, in samples (7 samples = 56 ms at 125 Hz).
        stage_channels: output channels of each stage; every stage halves the time axis.
        kernel_size: kernel of the stage convolutions, in samples.
        residual: add an identity shortcut around each stage's second convolution.
        head_hidden: hidden width shared by the heart-rate / quality / AF / rhythm heads.
        embedding_dim: size of the embedding output (the teacher's, 512).
        stem_stride: stride of the stem convolution (4 = 31.25 Hz feature rate after the stem).
        separable: depthwise-separable stage convolutions (depthwise k, then pointwise 1x1).
        rhythm_classes: logits of the rhythm head (6: :data:`RHYTHM_CLASSES`).
        spectral_bins: frequency bins of the pulse-spectrum branch (:class:`PulseSpectrum`), spread
            evenly over :data:`HR_RANGE_BPM`; 0 leaves the branch out.
        spectral_harmonics: the spectrum also holds the power at 2, ..., ``spectral_harmonics`` times
            each bin's rate.
        spectral_decimate: the spectrum branch first averages this many input samples into one
            (125 Hz / 5 = 25 Hz); the highest harmonic must stay below half the reduced rate.
    """

    stem_channels: int = 32
    stem_kernel: int = 7
    stage_channels: tuple[int, ...] = (48, 64, 96, 128)
    kernel_size: int = 5
    residual: bool = True
    head_hidden: int = 64
    embedding_dim: int = EMBEDDING_DIM
    stem_stride: int = 2
    separable: bool = False
    rhythm_classes: int = len(RHYTHM_CLASSES)
    spectral_bins: int = 0
    spectral_harmonics: int = 1
    spectral_decimate: int = 5

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stage_channels"] = list(self.stage_channels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudentConfig:
        data = dict(data)
        data["stage_channels"] = tuple(data["stage_channels"])
        return cls(**data)


class ConvBNReLU(nn.Module):
    """``Conv1d`` -> ``BatchNorm1d`` -> optional ``ReLU``: the pattern XNNPACK fuses into one kernel."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int = 1, relu: bool = True, groups: int = 1
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False
        )
        self.bn: nn.Module = nn.BatchNorm1d(c_out)
        self.act: nn.Module = nn.ReLU() if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def fold(self) -> None:
        """Fold the (eval-mode) BatchNorm into the convolution, in place."""
        if isinstance(self.bn, nn.BatchNorm1d):
            self.conv = torch.nn.utils.fusion.fuse_conv_bn_eval(self.conv.eval(), self.bn.eval())
            self.bn = nn.Identity()


class Stage(nn.Module):
    """A strided convolution that halves time, then a convolution with an identity shortcut."""

    #: the convolution block both convolutions are made of.
    block: Callable[..., nn.Module] = ConvBNReLU

    def __init__(self, c_in: int, c_out: int, kernel: int, residual: bool) -> None:
        super().__init__()
        self.down = self.block(c_in, c_out, kernel, stride=2)
        self.conv = self.block(c_out, c_out, kernel, relu=not residual)
        self.residual = residual
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)  # (B, C_out, T/2)
        if self.residual:
            return self.act(x + self.conv(x))
        return self.conv(x)


class SeparableConv(nn.Module):
    """Depthwise ``Conv1d`` (``groups == c_in``, kernel ``kernel``, ``stride``) + BN + ReLU, then a
    pointwise 1x1 ``Conv1d`` + BN (+ ReLU): ``c_in * kernel + c_in * c_out`` weights instead of
    ``c_in * c_out * kernel``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, relu: bool = True) -> None:
        super().__init__()
        self.depthwise = ConvBNReLU(c_in, c_in, kernel, stride=stride, groups=c_in)
        self.pointwise = ConvBNReLU(c_in, c_out, 1, relu=relu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class SeparableStage(Stage):
    """:class:`Stage` with depthwise-separable convolutions: a strided separable convolution that
    halves time, then a separable convolution with an identity shortcut."""

    block = SeparableConv


class GlobalAvgPool(nn.Module):
    """Mean over time, ``(B, C, T) -> (B, C)``, written as a 4-D mean so XNNPACK delegates it.

    ``AdaptiveAvgPool1d`` and a 3-D ``mean`` leave ops outside the XNNPACK delegate; the 4-D mean with
    ``keepdim`` is XNNPACK's global average pooling.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # (B, C, T); the deployment form's (B, C, 1, T) is already 4-D
            x = x.unsqueeze(-1)
        return x.mean(dim=(-2, -1), keepdim=True).flatten(1)


SPECTRAL_GAIN_INIT = 20.0  # initial logits per unit of spectral power (a clean pulse's peak is ~1-2)


def spectral_rates(bins: int) -> torch.Tensor:
    """The rates, in bpm, of :class:`PulseSpectrum`'s ``bins`` bins: evenly spread over 30-220 bpm."""
    return torch.linspace(HR_RANGE_BPM[0], HR_RANGE_BPM[1], bins)


class PulseSpectrum(nn.Module):
    """A fixed power spectrum of the input window at the heart-rate bins and their harmonics:
    ``(B, 1, 1250) -> (B, harmonics * bins)``, harmonic-major (``[:, :bins]`` the rates themselves,
    ``[:, bins:2 * bins]`` twice them, ...).

    The convolutional trunk ends in global average pooling, which keeps what the pulses look like and
    loses when they happen; a head reading rate from it learns rate from pulse shape, and on a new
    patient whose pulses are shaped unlike the training patients' it is off by a constant. This branch
    hands the heads the beat period directly. The harmonics are there because a PPG pulse's second
    harmonic (the dicrotic notch) can be as strong as its fundamental: the power at twice a rate tells
    the rate from its own second harmonic.

    The window is averaged down to ``fs / decimate`` (a fixed stride-``decimate`` box ``Conv1d``: 25 Hz
    for 5, 15.6 Hz for 8; the input is band-limited to 8 Hz), then projected onto Hann-windowed
    cosines and sines at ``bins`` rates evenly spread over 30-220 bpm and their multiples (two fixed
    bias-free ``Linear`` layers: a discrete Fourier transform evaluated only at those rates), and the
    two squared projections are added. A sinusoid of amplitude ``A`` at one of the rates gives about
    ``A**2`` in its bin (less the box average's loss: 7 % at 220 bpm for 5 samples, 17 % for 8).
    XNNPACK and LiteRT run every op here natively in int8 (``Conv1d``, ``Linear``, ``mul``, ``add``);
    no weight here is trained.
    """

    def __init__(
        self,
        bins: int,
        harmonics: int = 1,
        samples: int = INPUT_SAMPLES,
        fs: float = MODEL_FS,
        decimate: int = 5,
    ) -> None:
        super().__init__()
        if bins < 2 or harmonics < 1 or decimate < 1:
            raise ValueError(
                "PulseSpectrum needs at least 2 bins, 1 harmonic and a decimation of at least 1; "
                f"got {bins}, {harmonics}, {decimate}"
            )
        fs_low = fs / decimate
        if harmonics * HR_RANGE_BPM[1] / 60.0 >= fs_low / 2:
            raise ValueError(
                f"{harmonics} harmonics of {HR_RANGE_BPM[1]:g} bpm exceed the {fs_low:g} Hz rate's band"
            )
        n = samples // decimate
        self.decimate = nn.Conv1d(1, 1, decimate, stride=decimate, bias=False)
        self.cos = nn.Linear(n, harmonics * bins, bias=False)
        self.sin = nn.Linear(n, harmonics * bins, bias=False)
        t = torch.arange(n, dtype=torch.float64) / fs_low
        window = torch.hann_window(n, periodic=False, dtype=torch.float64)
        hz = torch.cat([h * spectral_rates(bins).double() / 60.0 for h in range(1, harmonics + 1)])
        phase = 2 * torch.pi * hz[:, None] * t[None, :]
        gain = 2.0 * window / window.sum()
        with torch.no_grad():
            self.decimate.weight.fill_(1.0 / decimate)
            self.cos.weight.copy_((gain * torch.cos(phase)).float())
            self.sin.weight.copy_((gain * torch.sin(phase)).float())
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.decimate(x).flatten(1)  # (B, n) at fs / decimate; x is (B, 1, T) or (B, 1, 1, T)
        c, s = self.cos(d), self.sin(d)
        return c * c + s * s


class Student(nn.Module):
    """A student encoder with the anyppg output heads (see the module docstring for I/O)."""

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = [
            ConvBNReLU(1, config.stem_channels, config.stem_kernel, stride=config.stem_stride)
        ]
        c = config.stem_channels
        stage = SeparableStage if config.separable else Stage
        for c_out in config.stage_channels:
            layers.append(stage(c, c_out, config.kernel_size, config.residual))
            c = c_out
        self.features = nn.Sequential(*layers)
        self.pool = GlobalAvgPool()
        self.embed = nn.Linear(c, config.embedding_dim)
        self.head_hidden = nn.Sequential(nn.Linear(c, config.head_hidden), nn.ReLU())
        bins = config.spectral_bins
        self.spectrum: PulseSpectrum | None = None
        if bins:
            # The pulse-spectrum branch: a learned projection of the fixed spectrum joins the heads'
            # shared hidden layer before its ReLU, and the heart rate is read from the spectrum as a
            # distribution over its bins: logits = a learned map of the spectrum (initially
            # SPECTRAL_GAIN_INIT x the power at the bins' own rates) + a bin prior from the hidden
            # layer (which peak on a noisy window). The rate is the distribution's expectation: a
            # Linear whose fixed weights are the bins' rates.
            features = bins * config.spectral_harmonics
            self.spectrum = PulseSpectrum(bins, config.spectral_harmonics, decimate=config.spectral_decimate)
            self.spectral = nn.Linear(features, config.head_hidden)
            self.spectral_logits = nn.Linear(features, bins, bias=False)
            self.bin_prior = nn.Linear(config.head_hidden, bins)
            self.heart_rate = nn.Linear(bins, 1)
            with torch.no_grad():
                self.spectral_logits.weight.zero_()
                self.spectral_logits.weight[:, :bins] = SPECTRAL_GAIN_INIT * torch.eye(bins)
                self.bin_prior.weight.zero_()
                self.bin_prior.bias.zero_()
                # Offsets from the centre keep the int8 weights' range (and so their rounding) small.
                self.heart_rate.weight.copy_(spectral_rates(bins)[None, :] - HR_CENTER_BPM)
                self.heart_rate.bias.fill_(HR_CENTER_BPM)
            self.heart_rate.requires_grad_(False)
        else:
            self.heart_rate = nn.Linear(config.head_hidden, 1)
        self.quality = nn.Linear(config.head_hidden, 1)
        self.af = nn.Linear(config.head_hidden, 1)
        self.rhythm = nn.Linear(config.head_hidden, config.rhythm_classes)
        # Training form: the heart-rate Linear outputs normalised units, mapped to bpm in forward().
        # fold_batchnorm() folds this affine map into the Linear so the exported graph ends in that
        # Linear (no extra ops after it).
        self.hr_affine = not config.spectral_bins
        # The heart-rate Linear stays fp32 in the int8 files (anyppg.quantization.ptq
        # .with_output_overrides): the rate is a float32 output, never saturated or rounded to an
        # int8 step, and with the spectrum branch the softmax feeding it is not rounded either.
        self.float_outputs = (OUTPUT_NAMES.index("heart_rate"),)
        # Set by deployment_form(): every convolution is a Conv2d over (B, C, 1, T).
        self.time_as_width = False

    def forward(
        self, x: torch.Tensor, detach_embedding: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode PPG windows.

        Args:
            x: ``(B, 1, 1250)`` float32, preprocessed PPG (10 s at 125 Hz).
            detach_embedding: (training) the embedding ``Linear`` reads detached features, so a loss
                on the embedding cannot move the trunk the heads share.

        Returns:
            ``(embedding (B, 512), heart_rate (B, 1) bpm, quality (B, 1) logit, af (B, 1) logit,
            rhythm (B, 6) logits)``.
        """
        h, power, z = self.head_inputs(x)
        if power is None:
            heart_rate = self.heart_rate(z)  # (B, 1)
        else:
            logits = self.spectral_logits(power) + self.bin_prior(z)  # (B, bins)
            heart_rate = self.heart_rate(torch.softmax(logits, dim=-1))
        if self.hr_affine:
            heart_rate = heart_rate * HR_SCALE_BPM + HR_CENTER_BPM
        embedding = self.embed(h.detach() if detach_embedding else h)
        return embedding, heart_rate, self.quality(z), self.af(z), self.rhythm(z)

    def head_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """What the output layers read, for ``(B, 1, 1250)`` windows: the pooled trunk features
        ``(B, C)`` (the embedding's input), the pulse spectrum ``(B, harmonics * bins)`` (None without
        the spectrum branch) and the heads' shared hidden layer ``(B, head_hidden)``."""
        if self.time_as_width:
            x = x.reshape(x.shape[0], x.shape[1], 1, x.shape[-1])  # (B, 1, 1, T)
        h = self.pool(self.features(x))  # (B, C)
        if self.spectrum is None:
            return h, None, self.head_hidden(h)
        power = self.spectrum(x)  # (B, harmonics * bins)
        return h, power, self.head_hidden[1](self.head_hidden[0](h) + self.spectral(power))

    def fold_batchnorm(self) -> Student:
        """The deployment form: a copy in eval mode with every BatchNorm folded into its convolution
        and the bpm scaling folded into the heart-rate Linear. Same outputs, fewer ops."""
        folded = copy.deepcopy(self).eval()
        for module in folded.modules():
            if isinstance(module, ConvBNReLU):
                module.fold()
        if folded.hr_affine:
            with torch.no_grad():
                folded.heart_rate.weight.mul_(HR_SCALE_BPM)
                folded.heart_rate.bias.mul_(HR_SCALE_BPM).add_(HR_CENTER_BPM)
            folded.hr_affine = False
        return folded

    def with_rate_temperature(self, tau: float) -> Student:
        """A copy whose heart-rate softmax reads ``tau`` times the logits: ``tau`` folded into the two
        ``Linear`` layers that make them (``spectral_logits``; ``bin_prior``'s weight and bias), so the
        graph is unchanged. ``tau < 1`` spreads the distribution over the rates, ``tau > 1`` sharpens
        it toward its peak; the other outputs do not read these layers and stay as they are.

        Raises:
            ValueError: the student has no spectrum branch, or ``tau`` is not a positive number.
        """
        if self.spectrum is None:
            raise ValueError("only a student with the spectrum branch (spectral_bins > 0) has a rate softmax")
        return self._scaled("rate", tau, ("spectral_logits.weight", "bin_prior.weight", "bin_prior.bias"))

    def with_rhythm_temperature(self, tau: float) -> Student:
        """A copy whose ``rhythm`` logits are ``tau`` times this student's (``tau`` folded into the
        ``rhythm`` ``Linear``): temperature scaling of the six-class softmax, so ``rhythm_probabilities``
        and the P(AF) read from them can be calibrated. The arg-max class, and every other output, stay
        as they are.

        Raises:
            ValueError: ``tau`` is not a positive number.
        """
        return self._scaled("rhythm", tau, ("rhythm.weight", "rhythm.bias"))

    def _scaled(self, what: str, tau: float, names: tuple[str, ...]) -> Student:
        """A copy with the parameters ``names`` multiplied by ``tau`` (the ``what`` temperature)."""
        if not (math.isfinite(tau) and tau > 0):
            raise ValueError(f"the {what} temperature must be a positive number, got {tau!r}")
        scaled = copy.deepcopy(self)
        params = dict(scaled.named_parameters())
        with torch.no_grad():
            for name in names:
                params[name].mul_(tau)
        return scaled

    def deployment_form(self) -> Student:
        """What is exported: :meth:`fold_batchnorm`, then every ``Conv1d`` rewritten as the same
        ``Conv2d`` over ``(B, C, 1, T)`` (kernel ``(1, k)``). Same outputs, same input shape.

        A 1-D convolution reaches LiteRT and XNNPACK as a 2-D one on an NHWC tensor, and litert-torch
        wraps each in layout transposes and reshapes back to ``(B, C, T)`` wherever a residual add or
        the pooling reads it (15 transposes and 14 reshapes in student-s); ExecuTorch adds its own
        views. Written in 4-D from the start, the graph has none of them: measured interleaved at one
        thread on the int8 student-s, 9.5 % less time per call in LiteRT and 23 % in ExecuTorch
        (``docs/quantization.md``). The weights are the same numbers, so training and checkpoints keep
        the 1-D form.
        """
        deployed = self.fold_batchnorm()
        convs_over_width(deployed)
        deployed.time_as_width = True
        return deployed


def convs_over_width(model: nn.Module) -> nn.Module:
    """Replace, in place, every ``Conv1d`` inside ``model`` by :func:`conv2d_of` it; returns ``model``.
    Its forward must then feed them ``(B, C, 1, T)``."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Conv1d):
                setattr(module, name, conv2d_of(child))
    return model


def conv2d_of(conv: nn.Conv1d) -> nn.Conv2d:
    """The ``Conv2d`` that computes ``conv`` on ``(B, C, 1, T)``: kernel, stride, padding along width."""
    if not isinstance(conv.padding, tuple) or conv.padding_mode != "zeros":
        raise ValueError(f"only zero-padded convolutions with explicit padding are rewritten; got {conv}")
    out = nn.Conv2d(
        conv.in_channels, conv.out_channels, (1, conv.kernel_size[0]), stride=(1, conv.stride[0]),
        padding=(0, conv.padding[0]), dilation=(1, conv.dilation[0]), groups=conv.groups,
        bias=conv.bias is not None,
    )  # fmt: skip
    with torch.no_grad():
        out.weight.copy_(conv.weight.unsqueeze(2))
        if conv.bias is not None:
            out.bias.copy_(conv.bias)
    out.requires_grad_(conv.weight.requires_grad)
    return out.train(conv.training)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not) of ``model``."""
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class StudentSpec:
    """A registry entry: how to build one student and feed it (ExecuTorch-examples style).

    Attributes:
        name: registry key, also the model-card name (``student-s``).
        config: the network shape.
        target: the hardware class it is sized for, in words.
    """

    name: str
    config: StudentConfig
    target: str

    def get_eager_model(self, seed: int | None = 0) -> Student:
        """A freshly initialised student in eval mode (seeded for reproducibility unless ``seed=None``)."""
        if seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = Student(self.config)
        else:
            model = Student(self.config)
        return model.eval()

    def get_example_inputs(self, batch: int = 1) -> tuple[torch.Tensor]:
        """One ``(batch, 1, 1250)`` float32 input shaped like a preprocessed window."""
        g = torch.Generator().manual_seed(0)
        return (torch.randn(batch, 1, INPUT_SAMPLES, generator=g),)


STUDENTS: dict[str, StudentSpec] = {
    "student-s": StudentSpec(
        name="student-s",
        config=StudentConfig(
            stem_channels=32,
            stem_kernel=9,
            stem_stride=4,
            stage_channels=(64, 96, 128, 160),
            kernel_size=7,
            head_hidden=64,
            separable=True,
            spectral_bins=64,
            spectral_harmonics=2,
        ),
        target="phone / Raspberry Pi class (XNNPACK, LiteRT)",
    ),
    "student-xs": StudentSpec(
        name="student-xs",
        config=StudentConfig(
            stem_channels=16,
            stem_kernel=9,
            stem_stride=4,
            stage_channels=(24, 32, 48, 64),
            kernel_size=7,
            head_hidden=32,
            separable=True,
        ),
        target="microcontroller class (<= 64 KB of int8 weights)",
    ),
}

DEFAULT_STUDENT = "student-s"

PLAIN_STUDENT_XS_CONFIG = StudentConfig(
    stem_channels=8, stem_kernel=7, stage_channels=(16, 24, 32, 32), kernel_size=5, head_hidden=32
)
"""The earlier plain-convolution student-xs layout (stride-2 stem, no depthwise convolutions): the
one the brevitas 4-bit microcontroller path (:mod:`anyppg.quantization.brevitas_qat`) mirrors."""


def get_spec(name: str) -> StudentSpec:
    """The registry entry for ``name``.

    Raises:
        KeyError: ``name`` is not in :data:`STUDENTS` (the message lists the known names).
    """
    try:
        return STUDENTS[name]
    except KeyError:
        raise KeyError(f"unknown student {name!r}; known: {', '.join(STUDENTS)}") from None


def build_student(name: str = DEFAULT_STUDENT, seed: int | None = 0) -> Student:
    """A freshly initialised student from the registry, in eval mode.

    Raises:
        KeyError: unknown ``name``.
    """
    return get_spec(name).get_eager_model(seed)


# --- checkpoints -----------------------------------------------------------------------------------

CHECKPOINT_KIND = "anyppg-student"


def save_student(model: Student, path: str | Path, name: str, extra: dict[str, Any] | None = None) -> None:
    """Write a student checkpoint: its config, registry name, state dict and ``extra`` metadata.

    The file loads with ``torch.load(..., weights_only=True)``.
    """
    payload = {
        "kind": CHECKPOINT_KIND,
        "name": name,
        "config": model.config.to_dict(),
        "state_dict": model.state_dict(),
        "extra": extra or {},
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)


def load_student(path: str | Path) -> tuple[Student, dict[str, Any]]:
    """Load a student checkpoint written by :func:`save_student`.

    Returns:
        ``(model in eval mode, metadata)``; metadata holds ``name`` and the saved ``extra`` dict.

    Raises:
        CheckpointError: the file is missing, not a torch file, not a student checkpoint, or its
            weights do not fit its config (names the missing / unexpected keys or the bad shape).
    """
    path = str(path)
    if not Path(path).is_file():
        raise CheckpointError(path, "student checkpoint file does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise CheckpointError(path, f"not a readable torch checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("kind") != CHECKPOINT_KIND:
        got = payload.get("kind") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            path, f"not an anyppg student checkpoint (kind={got!r}, expected {CHECKPOINT_KIND!r})"
        )
    try:
        config = StudentConfig.from_dict(payload["config"])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(path, f"student config is invalid: {exc}") from exc
    model = Student(config)
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(path, "checkpoint has no state_dict")
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of the wrong shape
        raise CheckpointError(path, f"weights do not fit the student config: {exc}") from exc
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            path, "weights do not match the student config", result.missing_keys, result.unexpected_keys
        )
    return model.eval(), {"name": payload.get("name", ""), "extra": payload.get("extra", {})}
