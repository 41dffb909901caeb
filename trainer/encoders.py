"""Net1D: the 1-D ResNeXt-style encoder family of AnyPPG (PPG) and ECGFounder (ECG).

A Net1D is a strided stem convolution followed by stages of bottleneck blocks. Each block is
BN → Swish → conv1x1 → BN → Swish → grouped conv k → BN → Swish → conv1x1, then squeeze-excitation,
plus a max-pooled, zero-channel-padded shortcut. Every convolution pads "same" (TensorFlow style:
the extra sample goes on the right). The encoder returns the time-averaged last feature map, so
its output width is ``filter_list[-1]`` (512 for AnyPPG's PPG encoder, 1024 for ECGFounder).

Module and parameter names match the public AnyPPG / ECGFounder checkpoints key for key, so their
state dicts load with ``strict=True`` (see :mod:`anyppg.trainer.checkpoints`).

Example:
    >>> import torch
    >>> from anyppg.trainer.encoders import ANYPPG_PPG_CONFIG, net1d_from_config
    >>> encoder = net1d_from_config(ANYPPG_PPG_CONFIG).eval()
    >>> encoder(torch.zeros(2, 1, 1250)).shape  # 10 s of PPG at 125 Hz
    torch.Size([2, 512])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .net1d_configs import ANYPPG_PPG_CONFIG, ECGFOUNDER_ECG_CONFIG

__all__ = ["ANYPPG_PPG_CONFIG", "ECGFOUNDER_ECG_CONFIG", "Net1D", "net1d_from_config"]

_REQUIRED_KEYS = ("in_channels", "base_filters", "filter_list", "m_blocks_list", "kernel_size", "stride")
_OPTIONAL_KEYS = {"ratio": 1.0, "groups_width": 16, "use_bn": True, "use_do": True, "verbose": False}


def _same_padding(length: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """Left/right zero padding that makes a strided window cover ``ceil(length / stride)`` outputs."""
    out_length = (length + stride - 1) // stride
    total = max(0, (out_length - 1) * stride + kernel_size - length)
    return total // 2, total - total // 2


class Conv1dSame(nn.Module):
    """``nn.Conv1d`` with "same" padding: output length ``ceil(T / stride)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, groups: int = 1):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, T) -> (B, C_out, ceil(T/stride))
        x = F.pad(x, _same_padding(x.shape[-1], self.kernel_size, self.stride))
        return self.conv(x)


class MaxPool1dSame(nn.Module):
    """Max pooling with window = stride = ``kernel_size`` after zero "same" padding (the shortcut path)."""

    def __init__(self, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.pool = nn.MaxPool1d(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, C, ceil(T/k))
        x = F.pad(x, _same_padding(x.shape[-1], self.kernel_size, 1))
        return self.pool(x)


class Swish(nn.Module):
    """x · sigmoid(x) (SiLU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


class BottleneckBlock(nn.Module):
    """Pre-activation bottleneck with a grouped k-conv, squeeze-excitation and a padded shortcut.

    The first block of the network skips the leading BN/Swish (the stem already applied them); the
    first block of every stage downsamples by ``stride`` and widens the channels.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ratio: float,
        kernel_size: int,
        stride: int,
        groups: int,
        is_first_block: bool,
        use_bn: bool,
        use_do: bool,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.is_first_block = is_first_block
        self.use_bn = use_bn
        self.use_do = use_do
        middle = int(out_channels * ratio)

        self.bn1 = nn.BatchNorm1d(in_channels)
        if is_first_block:  # kept for checkpoint compatibility, never applied: no gradient (and DDP skips it)
            self.bn1.requires_grad_(False)
        self.act1 = Swish()
        self.do1 = nn.Dropout(0.5)
        self.conv1 = Conv1dSame(in_channels, middle, kernel_size=1, stride=1)

        self.bn2 = nn.BatchNorm1d(middle)
        self.act2 = Swish()
        self.do2 = nn.Dropout(0.5)
        self.conv2 = Conv1dSame(middle, middle, kernel_size=kernel_size, stride=stride, groups=groups)

        self.bn3 = nn.BatchNorm1d(middle)
        self.act3 = Swish()
        self.do3 = nn.Dropout(0.5)
        self.conv3 = Conv1dSame(middle, out_channels, kernel_size=1, stride=1)

        self.se_fc1 = nn.Linear(out_channels, out_channels // 2)
        self.se_act = Swish()
        self.se_fc2 = nn.Linear(out_channels // 2, out_channels)

        self.shortcut_pool = MaxPool1dSame(stride) if stride > 1 else nn.Identity()

    def _pre(self, x: torch.Tensor, bn: nn.Module, act: nn.Module, do: nn.Module) -> torch.Tensor:
        if self.use_bn:
            x = bn(x)
        x = act(x)
        return do(x) if self.use_do else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, T) -> (B, C_out, ceil(T/stride))
        out = x if self.is_first_block else self._pre(x, self.bn1, self.act1, self.do1)
        out = self.conv1(out)  # (B, M, T)
        out = self.conv2(self._pre(out, self.bn2, self.act2, self.do2))  # (B, M, T')
        out = self.conv3(self._pre(out, self.bn3, self.act3, self.do3))  # (B, C_out, T')

        gate = self.se_act(self.se_fc1(out.mean(-1)))  # (B, C_out/2)
        gate = torch.sigmoid(self.se_fc2(gate))  # (B, C_out)
        out = out * gate.unsqueeze(-1)  # (B, C_out, T')

        shortcut = self.shortcut_pool(x)  # (B, C_in, T')
        if self.out_channels != self.in_channels:
            extra = self.out_channels - self.in_channels
            shortcut = F.pad(shortcut, (0, 0, extra // 2, extra - extra // 2))  # (B, C_out, T')
        return out + shortcut


class Stage(nn.Module):
    """``m_blocks`` bottleneck blocks; the first one downsamples and changes the width."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ratio: float,
        kernel_size: int,
        stride: int,
        groups: int,
        i_stage: int,
        m_blocks: int,
        use_bn: bool,
        use_do: bool,
    ):
        super().__init__()
        self.block_list = nn.ModuleList(
            BottleneckBlock(
                in_channels=in_channels if i == 0 else out_channels,
                out_channels=out_channels,
                ratio=ratio,
                kernel_size=kernel_size,
                stride=stride if i == 0 else 1,
                groups=groups,
                is_first_block=i_stage == 0 and i == 0,
                use_bn=use_bn,
                use_do=use_do,
            )
            for i in range(m_blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.block_list:
            x = block(x)
        return x


class Net1D(nn.Module):
    """The Net1D encoder: stem conv (stride 2) → stages → mean over time.

    Args:
        in_channels: input leads (1 for single-channel PPG or ECG).
        base_filters: stem width.
        ratio: bottleneck width as a fraction of each stage's width.
        filter_list: output width of each stage.
        m_blocks_list: blocks per stage.
        kernel_size: width of the stem and grouped convolutions (samples).
        stride: downsampling of each stage's first block.
        groups_width: channels per group in the grouped convolution.
        use_bn: batch normalisation before each convolution.
        use_do: dropout 0.5 before each block convolution (train mode only).

    The output is ``(B, filter_list[-1])``; ``forward_features`` gives the map ``(B, C, T')``.
    """

    def __init__(
        self,
        in_channels: int,
        base_filters: int,
        ratio: float,
        filter_list: Sequence[int],
        m_blocks_list: Sequence[int],
        kernel_size: int,
        stride: int,
        groups_width: int,
        use_bn: bool = True,
        use_do: bool = True,
    ):
        super().__init__()
        self.out_features = int(filter_list[-1])
        self.use_bn = use_bn
        self.first_conv = Conv1dSame(in_channels, base_filters, kernel_size=kernel_size, stride=2)
        self.first_bn = nn.BatchNorm1d(base_filters)
        self.first_act = Swish()
        widths = [base_filters, *filter_list]
        self.stage_list = nn.ModuleList(
            Stage(
                in_channels=widths[i],
                out_channels=widths[i + 1],
                ratio=ratio,
                kernel_size=kernel_size,
                stride=stride,
                groups=widths[i + 1] // groups_width,
                i_stage=i,
                m_blocks=m_blocks_list[i],
                use_bn=use_bn,
                use_do=use_do,
            )
            for i in range(len(filter_list))
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, T) -> (B, C, T')
        x = self.first_conv(x)  # (B, base, T/2)
        if self.use_bn:
            x = self.first_bn(x)
        x = self.first_act(x)
        for stage in self.stage_list:
            x = stage(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, T) -> (B, C)
        return self.forward_features(x).mean(-1)


def net1d_from_config(cfg: Mapping[str, Any]) -> Net1D:
    """Build a :class:`Net1D` from an AnyPPG-style config dict.

    Args:
        cfg: keys ``in_channels``, ``base_filters``, ``filter_list``, ``m_blocks_list``, ``kernel_size``,
            ``stride`` and optionally ``ratio`` (1.0), ``groups_width`` (16), ``use_bn`` (True),
            ``use_do`` (True), ``verbose`` (ignored), e.g. :data:`ANYPPG_PPG_CONFIG`.

    Returns:
        The encoder, in train mode, with freshly initialised weights.

    Raises:
        ValueError: a required key is missing, a key is unknown, or the lists differ in length.
    """
    missing = [k for k in _REQUIRED_KEYS if k not in cfg]
    unknown = sorted(set(cfg) - set(_REQUIRED_KEYS) - set(_OPTIONAL_KEYS))
    if missing or unknown:
        raise ValueError(f"Net1D config: missing keys {missing}, unknown keys {unknown}")
    if len(cfg["filter_list"]) != len(cfg["m_blocks_list"]):
        raise ValueError(
            f"Net1D config: filter_list has {len(cfg['filter_list'])} stages but m_blocks_list has "
            f"{len(cfg['m_blocks_list'])}; expected equal lengths"
        )
    full = {**_OPTIONAL_KEYS, **cfg}
    return Net1D(
        in_channels=int(full["in_channels"]),
        base_filters=int(full["base_filters"]),
        ratio=float(full["ratio"]),
        filter_list=[int(v) for v in full["filter_list"]],
        m_blocks_list=[int(v) for v in full["m_blocks_list"]],
        kernel_size=int(full["kernel_size"]),
        stride=int(full["stride"]),
        groups_width=int(full["groups_width"]),
        use_bn=bool(full["use_bn"]),
        use_do=bool(full["use_do"]),
    )


def count_parameters(module: nn.Module) -> int:
    """Number of trainable and frozen parameters (buffers excluded)."""
    return sum(p.numel() for p in module.parameters())
