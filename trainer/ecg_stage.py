"""Stage 1: the ECG encoder that guides the PPG encoder, then frozen.

With an ECGFounder checkpoint the encoder is loaded and frozen as is. Without one, it is trained first
on labels the ECG itself determines — heart rate (regression) and AF rhythm (and ectopic beats when a
store labels them) — the way AnyPPG relied on ECGFounder having learned ECG morphology from labels.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from .checkpoints import (
    extract_state_dict,
    load_ecg_encoder,
    load_encoder_weights,
    read_checkpoint,
    save_checkpoint,
)
from .config import OptimConfig, PretrainConfig
from .distributed import DistContext, StepBatchSampler, all_reduce_sum
from .encoders import Net1D, net1d_from_config
from .optim import warmup_cosine
from .pairs import valid_windows
from .run_log import RunLog

log = logging.getLogger(__name__)

BINARY_LABELS = ("af", "ectopic")  # 1 / 0, -1 unknown; "ectopic" only when the data carry it
STAGE_FILE = "ecg_stage.pt"


class ECGLabelHeads(nn.Module):
    """Linear heads on the pooled ECG feature: heart rate and one logit per binary rhythm label."""

    def __init__(self, in_features: int):
        super().__init__()
        self.hr = nn.Linear(in_features, 1)
        self.binary = nn.Linear(in_features, len(BINARY_LABELS))

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # (B, C) -> (B,), (B, K)
        return self.hr(h).squeeze(1), self.binary(h)


class ECGSupervised(nn.Module):
    def __init__(self, encoder: Net1D):
        super().__init__()
        self.encoder = encoder
        self.heads = ECGLabelHeads(encoder.out_features)

    def forward(self, ecg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads(self.encoder(ecg))  # (B,), (B, K)


def label_loss(
    hr_pred: torch.Tensor,
    logits: torch.Tensor,
    batch: dict[str, torch.Tensor],
    valid: torch.Tensor,
    hr_scale: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Masked multi-task loss: smooth-L1 on scaled HR plus BCE per known binary label.

    Returns the loss and, for logging, the batch's HR absolute error sum (bpm) and counts.
    """
    hr = batch["hr"].to(hr_pred)  # (B,) bpm, NaN unknown
    hr_ok = valid & torch.isfinite(hr)
    target = torch.nan_to_num((hr - 70.0) / hr_scale)  # (B,)
    per = F.smooth_l1_loss(hr_pred, target, reduction="none")  # (B,)
    loss = (per * hr_ok).sum() / hr_ok.sum().clamp(min=1)
    for k, name in enumerate(BINARY_LABELS):
        if name not in batch:
            continue
        y = batch[name].to(logits).reshape(-1)  # (B,)
        ok = valid & (y >= 0)
        bce = F.binary_cross_entropy_with_logits(logits[:, k], y.clamp(min=0), reduction="none")
        loss = loss + (bce * ok).sum() / ok.sum().clamp(min=1)
    with torch.no_grad():
        abs_err = ((hr_pred * hr_scale + 70.0 - torch.nan_to_num(hr)).abs() * hr_ok).sum().item()
    return loss, {"hr_abs_err": abs_err, "hr_n": float(hr_ok.sum())}


def freeze(encoder: Net1D) -> Net1D:
    """Eval mode (fixed BN statistics, no dropout) and no gradients: a fixed feature extractor."""
    encoder.requires_grad_(False)
    return encoder.eval()


def prepare_ecg_encoder(
    cfg: PretrainConfig,
    train: Dataset,
    ctx: DistContext,
    runlog: RunLog,
    resume: bool,
    val: Dataset | None = None,
) -> tuple[Net1D, dict[str, Any]]:
    """Return the frozen ECG encoder for stage 2, and stage 1's summary.

    Order: a user checkpoint (``cfg.ecg_stage.checkpoint``); on resume, this run's saved stage 1;
    otherwise train stage 1 now (rank 0 saves ``ecg_stage.pt`` in the output folder).

    Raises:
        CheckpointError: the user checkpoint is missing or does not match ``cfg.model.ecg_encoder``.
    """
    out = Path(cfg.train.out_dir)
    if cfg.ecg_stage.checkpoint:
        encoder = load_ecg_encoder(cfg.ecg_stage.checkpoint, config=cfg.model.ecg_encoder)
        log.info("stage 1: using ECG encoder from %s", cfg.ecg_stage.checkpoint)
        return freeze(encoder.to(ctx.device)), {"source": str(cfg.ecg_stage.checkpoint)}
    if resume and (out / STAGE_FILE).is_file():
        obj = read_checkpoint(out / STAGE_FILE)
        encoder = net1d_from_config(cfg.model.ecg_encoder)
        load_encoder_weights(encoder, extract_state_dict(obj, "ecg_encoder")[0], out / STAGE_FILE)
        log.info("stage 1: resumed ECG encoder from %s", out / STAGE_FILE)
        return freeze(encoder.to(ctx.device)), dict(obj.get("summary", {}))
    encoder, summary = train_ecg_encoder(cfg, train, ctx, runlog, val=val)
    if ctx.distributed:
        # DDP keeps parameters equal but BN running statistics are per rank: make every rank freeze
        # rank 0's encoder, the one that is saved (and reloaded on resume).
        for buffer in encoder.buffers():
            dist.broadcast(buffer, src=0)
    if ctx.is_main:
        save_checkpoint(
            out / STAGE_FILE,
            {
                "ecg_encoder": encoder.state_dict(),
                "config": {"ecg_encoder": cfg.model.ecg_encoder},
                "step": cfg.ecg_stage.steps,
                "summary": summary,
            },
        )
    ctx.barrier()
    return freeze(encoder), summary


def train_ecg_encoder(
    cfg: PretrainConfig, train: Dataset, ctx: DistContext, runlog: RunLog, val: Dataset | None = None
) -> tuple[Net1D, dict[str, Any]]:
    """Supervised stage 1 on ECG-derivable labels; returns the trained encoder and its metrics."""
    sc = cfg.ecg_stage
    torch.manual_seed(cfg.train.seed + 1)
    model = ECGSupervised(net1d_from_config(cfg.model.ecg_encoder)).to(ctx.device)
    ddp = DistributedDataParallel(model) if ctx.distributed else model
    opt = torch.optim.AdamW(model.parameters(), lr=sc.lr, weight_decay=sc.weight_decay)
    sched = warmup_cosine(opt, OptimConfig(warmup_steps=max(1, sc.steps // 10)), sc.steps)
    sampler = StepBatchSampler(len(train), sc.batch_size, ctx, cfg.train.seed + 1, 0, sc.steps)
    loader = DataLoader(
        train,
        batch_sampler=sampler,
        num_workers=cfg.data.num_workers,
        generator=torch.Generator().manual_seed(0),
    )
    bar = _progress(cfg, ctx, sc.steps, "stage 1 (ECG)")
    t0 = t_last = time.perf_counter()
    skipped = 0.0
    hr_errors: list[tuple[float, float]] = []  # (sum of |error| in bpm, count) per step
    loss_v = float("nan")
    for step, batch in enumerate(loader, start=1):
        valid = valid_windows(batch)  # (B,)
        ecg = batch["ecg"].to(ctx.device)  # (B, 1, 5000)
        hr_pred, logits = ddp(ecg)  # (B,), (B, K)
        loss, stats = label_loss(
            hr_pred,
            logits,
            {k: v.to(ctx.device) for k, v in batch.items() if isinstance(v, torch.Tensor)},
            valid.to(ctx.device),
            sc.hr_scale_bpm,
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        opt.step()
        sched.step()
        loss_v, e, c, bad = all_reduce_sum(
            [loss.item(), stats["hr_abs_err"], stats["hr_n"], float((~valid).sum())], ctx
        )
        loss_v /= ctx.world_size
        skipped += bad
        hr_errors.append((e, c))
        now = time.perf_counter()
        wps = sc.batch_size / (now - t_last)  # includes reading the batch
        t_last = now
        runlog.write(
            "ecg",
            step,
            {
                "loss": loss_v,
                "lr": sched.get_last_lr()[0],
                "windows_per_s": wps,
                "skipped": skipped,
                "elapsed_s": time.perf_counter() - t0,
            },
        )
        if bar is not None:
            bar.set_postfix(loss=f"{loss_v:.3f}", win_s=f"{wps:.0f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    summary = {
        "steps": sc.steps,
        "final_loss": loss_v,
        "train_hr_mae_bpm": _mae(hr_errors[-max(1, len(hr_errors) // 4) :]),  # last quarter of the steps
        "skipped_windows": int(skipped),
        "seconds": time.perf_counter() - t0,
    }
    if val is not None:
        summary["val"] = evaluate_labels(model, val, cfg, ctx)
    log.info("stage 1 done: %s", summary)
    return model.encoder, summary


@torch.no_grad()
def evaluate_labels(
    model: ECGSupervised, val: Dataset, cfg: PretrainConfig, ctx: DistContext
) -> dict[str, float]:
    """Held-out heart-rate MAE (bpm) and AF / ectopic-beat accuracy of the stage 1 heads (eval mode)."""
    model.eval()
    n = min(len(val), cfg.data.max_val_windows)
    loader = DataLoader(torch.utils.data.Subset(val, range(n)), batch_size=64, generator=torch.Generator())
    hr_err = hr_n = 0.0
    correct = dict.fromkeys(BINARY_LABELS, 0.0)
    counted = dict.fromkeys(BINARY_LABELS, 0.0)
    for batch in loader:
        valid = valid_windows(batch).to(ctx.device)  # (B,)
        hr_pred, logits = model(batch["ecg"].to(ctx.device))  # (B,), (B, K)
        hr = batch["hr"].to(ctx.device)  # (B,) bpm
        ok = valid & torch.isfinite(hr)
        hr_err += (
            ((hr_pred * cfg.ecg_stage.hr_scale_bpm + 70.0 - torch.nan_to_num(hr)).abs() * ok).sum().item()
        )
        hr_n += ok.sum().item()
        for k, name in enumerate(BINARY_LABELS):
            if name not in batch:
                continue
            y = batch[name].to(ctx.device).reshape(-1)  # (B,) 1 / 0 / -1
            ok = valid & (y >= 0)
            correct[name] += (((logits[:, k] > 0).long() == y) & ok).sum().item()
            counted[name] += ok.sum().item()
    model.train()
    out = {"windows": float(n), "hr_mae_bpm": hr_err / max(hr_n, 1.0)}
    for name in BINARY_LABELS:
        if counted[name]:
            out[f"{name}_accuracy"] = correct[name] / counted[name]
    return out


def _mae(errors: list[tuple[float, float]]) -> float:
    total, count = map(sum, zip(*errors, strict=True)) if errors else (0.0, 0.0)
    return total / max(count, 1.0)


def _progress(cfg: PretrainConfig, ctx: DistContext, total: int, desc: str, initial: int = 0):
    if not (cfg.train.progress and ctx.is_main):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="step", dynamic_ncols=True)
