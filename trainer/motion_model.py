"""A small learned heart-rate model for wrist PPG + accelerometer during motion, and its training.

The model (:class:`MotionHRNet`) reads, for one PPG channel, the PPG spectrum and the three
accelerometer spectra of the last 8 s over 64 heart-rate bins (36-225 bpm, see
:mod:`anyppg.signal.motion_spectra`) and returns 64 logits over those bins: a distribution over heart
rate, BeliefPPG-style, from which :mod:`anyppg.signal.hr_belief` reads the rate (bpm) and a
confidence (0-1), per window or tracked causally over windows. It is a
stack of dilated residual 1-D convolutions along the frequency axis (so a peak is recognised the same
way at any rate, and the receptive field spans the 2nd harmonic) plus one global branch that tells
every bin how much motion the window holds. About 7k parameters; int8 files are a few tens of KB.

Training (:func:`train`): soft-label cross-entropy (a Gaussian of :attr:`TrainConfig.label_sigma_bpm`
around the ECG heart rate), AdamW, datasets balanced per draw, time-stretch augmentation from the
window cache (:mod:`anyppg.trainer.motion_data`), early stopping on held-back training subjects.

Evaluation (:func:`loso`): leave-one-subject-out over all subjects of TROIKA (12; DATA_04 TYPE01 and
TYPE02 are one subject) and BAMI-I (24); each fold's model is scored in fp32 and as PT2E int8
(XNNPACK quantizer, simulated in torch, calibrated on that fold's training windows).

Command line (writes ``benchmarks/results/motion_learned_loso.{json,md}`` and the shipped files)::

    python -m anyppg.trainer.motion_model loso --data ../shared/data
    python -m anyppg.trainer.motion_model final --data ../shared/data   # then motion_export
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from anyppg.signal.hr_belief import hr_from_distribution, softmax
from anyppg.signal.motion_spectra import HR_BINS_BPM, N_BINS
from anyppg.trainer.motion_data import MotionWindows

log = logging.getLogger(__name__)

N_INPUTS = 4
"""Input rows: one PPG spectrum and three accelerometer spectra."""


# --- the model -------------------------------------------------------------------------------------


class _Block(nn.Module):
    """Dilated conv -> BN -> ReLU -> conv -> BN, plus the input (a residual block along frequency)."""

    def __init__(self, width: int, kernel: int, dilation: int) -> None:
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.conv1 = nn.Conv1d(width, width, kernel, padding=pad, dilation=dilation)
        self.bn1 = nn.BatchNorm1d(width)
        self.conv2 = nn.Conv1d(width, width, 1)
        self.bn2 = nn.BatchNorm1d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, W, K) -> (B, W, K)
        return F.relu(x + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class MotionHRNet(nn.Module):
    """Spectra (B, 4, 64) -> heart-rate logits (B, 64).

    Args:
        width: channels of every layer.
        kernel: kernel size along frequency (odd).
        dilations: one residual block per dilation; the receptive field is
            ``1 + (kernel - 1) * (1 + sum(dilations))`` bins.
    """

    def __init__(self, width: int = 24, kernel: int = 5, dilations: tuple[int, ...] = (1, 2, 4, 8)) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(N_INPUTS, width, kernel, padding=kernel // 2), nn.BatchNorm1d(width), nn.ReLU()
        )
        self.blocks = nn.Sequential(*[_Block(width, kernel, d) for d in dilations])
        # window-wide motion / quality summary added to every bin; the mean over bins is a fixed
        # linear map (XNNPACK delegates it, where it leaves mean / avg_pool on this shape to the CPU)
        self.register_buffer("bin_mean", torch.full((1, N_BINS), 1.0 / N_BINS), persistent=False)
        self.context = nn.Conv1d(width, width, 1)
        self.head = nn.Conv1d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(x))  # (B, W, K)
        g = self.context(F.linear(h, self.bin_mean))  # (B, W, 1)
        return torch.flatten(self.head(F.relu(h + g)), 1)  # (B, K)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- training --------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """How one model is trained."""

    width: int = 16  # channels per layer: ~7k parameters at 16, ~16k at 24
    epochs: int = 8  # upper bound; early stopping may end sooner
    draws_per_epoch: int = 4096  # samples drawn per epoch (datasets balanced): fixes the cost per epoch
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-3
    label_sigma_bpm: float = 3.0  # width of the soft label: ~one bin, the reference's own jitter
    patience: int = 3  # epochs without validation improvement before stopping
    val_subjects: int = 3  # training subjects held back for early stopping (0: none, run all epochs)
    augment: bool = True  # use the time-stretched copies of the training windows
    seed: int = 0


def soft_targets(bpm: torch.Tensor, sigma_bpm: float) -> torch.Tensor:
    """(B,) bpm -> (B, 64) Gaussian label distributions over the bins."""
    bins = torch.tensor(HR_BINS_BPM, dtype=torch.float32)
    t = torch.exp(-0.5 * ((bins[None, :] - bpm[:, None]) / sigma_bpm) ** 2)
    return t / t.sum(dim=1, keepdim=True)


def _draw_weights(w: MotionWindows, idx: np.ndarray) -> np.ndarray:
    """Sampling weights giving each dataset an equal share of the draws."""
    ds = w.dataset[w.window[idx]]
    weights = np.zeros(len(idx))
    names = np.unique(ds)
    for name in names:
        sel = ds == name
        weights[sel] = 1.0 / (len(names) * sel.sum())
    return weights


def predict_logits(model: nn.Module, x: np.ndarray, batch: int = 2048) -> np.ndarray:
    """Logits (N, 64) for inputs (N, 4, 64), in eval mode without gradients."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(model(torch.from_numpy(np.ascontiguousarray(x[i : i + batch]))).numpy())
    return np.concatenate(out) if out else np.zeros((0, N_BINS), np.float32)


def window_distributions(
    w: MotionWindows, idx: np.ndarray, logits: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per reference window, the mean of its PPG channels' distributions.

    Args:
        w: the window cache.
        idx: unstretched input rows (stretch 1.0).
        logits: their model outputs (len(idx), 64).

    Returns:
        ``(window ids (W,) ascending, probabilities (W, 64))``.
    """
    win = w.window[idx]
    ids, inverse = np.unique(win, return_inverse=True)
    probs = np.zeros((len(ids), N_BINS))
    np.add.at(probs, inverse, softmax(logits))
    probs /= np.bincount(inverse, minlength=len(ids))[:, None]
    return ids, probs


def window_estimates(
    w: MotionWindows, idx: np.ndarray, logits: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per reference window: (window ids, bpm, confidence) of the channel-averaged distribution."""
    ids, probs = window_distributions(w, idx, logits)
    est = np.array([hr_from_distribution(p) for p in probs]).reshape(-1, 2)
    return ids, est[:, 0], est[:, 1]


def window_mae(w: MotionWindows, idx: np.ndarray, logits: np.ndarray) -> float:
    """Mean absolute error (bpm) over the reference windows of ``idx`` (unstretched rows)."""
    ids, bpm, _ = window_estimates(w, idx, logits)
    return float(np.mean(np.abs(bpm - w.ref_bpm[ids]))) if len(ids) else math.nan


def train(
    w: MotionWindows, train_subjects: list[str], cfg: TrainConfig, *, deadline: float | None = None
) -> tuple[MotionHRNet, dict[str, Any]]:
    """Train one model on the windows of ``train_subjects``.

    Args:
        w: the window cache.
        train_subjects: subject keys (``"troika/04"``) to train on; ``cfg.val_subjects`` of them
            (picked with ``cfg.seed``) are held back for early stopping.
        cfg: the training configuration.
        deadline: ``time.monotonic()`` after which no new epoch starts (a wall-clock cap).

    Returns:
        ``(model with the best validation weights, log)``; the log holds per-epoch loss / validation
        MAE, the epoch kept and the wall time.

    Raises:
        ValueError: no training window is left.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    subjects = list(train_subjects)
    val = list(rng.choice(subjects, cfg.val_subjects, replace=False)) if cfg.val_subjects else []
    fit = [s for s in subjects if s not in val]
    row_subject = w.subject[w.window]
    is_fit = np.isin(row_subject, fit)
    if not cfg.augment:
        is_fit &= w.stretch == 1.0
    fit_idx = np.flatnonzero(is_fit)
    val_idx = np.flatnonzero(np.isin(row_subject, val) & (w.stretch == 1.0))
    if not len(fit_idx):
        raise ValueError(f"no training windows for subjects {fit}")
    probs = _draw_weights(w, fit_idx)

    model = MotionHRNet(width=cfg.width)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(cfg.draws_per_epoch / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
    x_all = torch.from_numpy(w.x)
    y_all = torch.from_numpy(w.bpm)
    best = (math.inf, 0, copy.deepcopy(model.state_dict()))
    history = []
    for epoch in range(cfg.epochs):
        if deadline is not None and time.monotonic() > deadline:
            log.warning("wall-clock cap reached: stopping before epoch %d", epoch)
            break
        model.train()
        draw = torch.from_numpy(rng.choice(fit_idx, cfg.draws_per_epoch, p=probs))
        total = 0.0
        for batch in draw.split(cfg.batch_size):
            logits = model(x_all[batch])
            loss = -(soft_targets(y_all[batch], cfg.label_sigma_bpm) * F.log_softmax(logits, 1)).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(batch)
        val_mae = window_mae(w, val_idx, predict_logits(model, w.x[val_idx])) if len(val_idx) else math.nan
        history.append({"epoch": epoch, "loss": total / len(draw), "val_mae_bpm": val_mae})
        log.debug("epoch %d loss %.4f val MAE %.2f", epoch, total / len(draw), val_mae)
        if not len(val_idx) or val_mae < best[0]:
            best = (val_mae if len(val_idx) else math.inf, epoch, copy.deepcopy(model.state_dict()))
        elif epoch - best[1] >= cfg.patience:
            break
    model.load_state_dict(best[2])
    model.eval()
    return model, {
        "config": asdict(cfg),
        "fit_subjects": len(fit),
        "val_subjects": val,
        "fit_inputs": len(fit_idx),
        "kept_epoch": best[1],
        "history": history,
        "wall_s": time.perf_counter() - t0,
    }
