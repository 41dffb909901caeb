"""CLIP-style alignment of PPG to a frozen ECG encoder: projectors, model and symmetric InfoNCE.

The ECG encoder is *not* part of :class:`PPGECGClip`: it is frozen and runs under ``no_grad`` in eval
mode outside the trained module, so DDP never synchronises its 30 M parameters.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .encoders import Net1D, net1d_from_config


class Projector(nn.Sequential):
    """Linear → BatchNorm → GELU → Linear: encoder feature (B, C) to embedding (B, D)."""

    def __init__(self, in_features: int, hidden: int, out_features: int):
        super().__init__(
            nn.Linear(in_features, hidden),
            nn.BatchNorm1d(hidden),
            nn.GELU(),
            nn.Linear(hidden, out_features),
        )


class PPGECGClip(nn.Module):
    """The trained part of stage 2: PPG encoder, both projectors and the learnable temperature."""

    def __init__(self, cfg: ModelConfig, ecg_features: int):
        super().__init__()
        self.ppg_encoder: Net1D = net1d_from_config(cfg.ppg_encoder)
        self.ppg_dropout = nn.Dropout(cfg.ppg_dropout)
        self.ppg_projector = Projector(self.ppg_encoder.out_features, cfg.projector_hidden, cfg.embed_dim)
        self.ecg_projector = Projector(ecg_features, cfg.projector_hidden, cfg.embed_dim)
        # log(1 / temperature), learned; CLIP's parametrisation keeps the temperature positive.
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / cfg.init_temperature)))
        self.max_log_scale = math.log(cfg.max_logit_scale)

    def forward(
        self, ppg: torch.Tensor, ecg_features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Embed a batch.

        Args:
            ppg: (B, 1, 1250) preprocessed PPG windows.
            ecg_features: (B, C_ecg) frozen ECG encoder features of the same windows.

        Returns:
            L2-normalised PPG and ECG embeddings (B, D) each, and the logit scale 1/temperature.
        """
        h = self.ppg_dropout(self.ppg_encoder(ppg))  # (B, C_ppg)
        z_ppg = F.normalize(self.ppg_projector(h), dim=-1)  # (B, D)
        z_ecg = F.normalize(self.ecg_projector(ecg_features), dim=-1)  # (B, D)
        scale = self.logit_scale.clamp(max=self.max_log_scale).exp()  # ()
        return z_ppg, z_ecg, scale


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """All-gather (B, ...) from every rank into (world·B, ...), keeping the gradient path to ``x``.

    Outside ``torch.distributed`` this is the identity.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    # torch 2.13 marks this public autograd all-gather deprecated in favour of a private
    # (_functional_collectives) one; it still works and is what the gradient path needs.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*all_gather is deprecated", category=FutureWarning)
        return torch.cat(all_gather(x), dim=0)  # (world·B, ...)


def clip_loss(
    z_ppg: torch.Tensor, z_ecg: torch.Tensor, scale: torch.Tensor, valid: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric InfoNCE over the global batch.

    Args:
        z_ppg: (B, D) normalised PPG embeddings of this rank.
        z_ecg: (B, D) normalised ECG embeddings of this rank.
        scale: () logit scale (1/temperature).
        valid: (B,) bool; False rows (skipped NaN windows) are neither anchors nor negatives.

    Returns:
        The loss (mean of PPG→ECG and ECG→PPG cross-entropy over valid pairs) and the PPG→ECG top-1
        retrieval accuracy in the global batch (no gradient).
    """
    if valid is None:
        valid = torch.ones(z_ppg.shape[0], dtype=torch.bool, device=z_ppg.device)
    all_ppg = gather_with_grad(z_ppg)  # (N, D) with N = world·B
    all_ecg = gather_with_grad(z_ecg)  # (N, D)
    all_valid = gather_with_grad(valid.float()).bool()  # (N,)
    logits = scale * all_ppg.float() @ all_ecg.float().T  # (N, N)
    pair_ok = all_valid[:, None] & all_valid[None, :]  # (N, N) invalid windows are no negatives either way
    logits = logits.masked_fill(~pair_ok, float("-inf"))
    target = torch.arange(logits.shape[0], device=logits.device)  # (N,) the diagonal pairs match
    idx = all_valid.nonzero().squeeze(1)  # (V,)
    if len(idx) == 0:  # nothing valid anywhere in the global batch: a zero loss that keeps the graph
        return z_ppg.sum() * 0.0, torch.zeros((), device=z_ppg.device)
    loss_p2e = F.cross_entropy(logits[idx], target[idx])
    loss_e2p = F.cross_entropy(logits.T[idx], target[idx])
    with torch.no_grad():
        acc = (logits[idx].argmax(1) == target[idx]).float().mean()
    return (loss_p2e + loss_e2p) / 2, acc
