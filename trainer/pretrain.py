"""ECG-guided pretraining of the PPG encoder (AnyPPG recipe), on one process or under ``torchrun``.

Read top to bottom, :func:`pretrain` does: join the DDP job (if any) → open the windows → stage 1:
get a frozen ECG encoder → build the CLIP model, AdamW and the warm-up + cosine schedule → resume if
asked → loop: mask bad windows, embed PPG (trained) and ECG (frozen), all-gather, symmetric InfoNCE,
clip gradients, step → rank 0 logs and checkpoints → validate → write metrics and the curve.

Outputs (rank 0, in ``cfg.train.out_dir``): ``checkpoint.pt`` (see :mod:`anyppg.trainer.checkpoints`),
``ecg_stage.pt``, ``metrics.csv``, ``metrics.json``, ``curve.png``, ``tb/`` (TensorBoard), ``splits.json``
(which subject trained, validated or was held out) and ``READY`` (naming the checkpoint file; removed when
an invocation starts, written when it ends, at the last step or at ``stop_after``: jobs that wait for a
teacher, such as distillation, wait on it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Sampler

from anyppg.errors import CheckpointError

from .checkpoints import read_checkpoint, save_checkpoint
from .clip import PPGECGClip, clip_loss
from .config import ConfigError, PretrainConfig, TrainConfig
from .distributed import (
    DistContext,
    StepBatchSampler,
    SubjectBatchSampler,
    all_reduce_sum,
    init_distributed,
    rng_state,
    set_rng_state,
)
from .ecg_cache import CachedECGFeatures
from .ecg_stage import _progress, prepare_ecg_encoder
from .encoders import Net1D
from .optim import param_groups, warmup_cosine
from .pairs import open_pairs, valid_windows
from .run_log import RunLog, plot_curves

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
READY_FILE = "READY"  # exists while no invocation is writing the checkpoint; holds its file name
SPLITS_FILE = "splits.json"  # the store's subject -> split map (and fixed held-out lists), saved with the run


@dataclass
class PretrainResult:
    """What a run produced (filled on every rank; files exist on rank 0's machine)."""

    out_dir: Path
    step: int
    losses: list[float] = field(default_factory=list)  # stage 2 loss per step of this invocation
    metrics: dict[str, Any] = field(default_factory=dict)


def _autocast(cfg: PretrainConfig, ctx: DistContext):
    if cfg.train.bf16 and ctx.device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _step_batch(
    batch: dict[str, Any], model: torch.nn.Module, ecg_encoder: Net1D, cfg: PretrainConfig, ctx: DistContext
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss and top-1 accuracy of one (local) batch, and its validity mask."""
    if "ecg_features" in batch:  # CachedECGFeatures: the frozen encoder already ran on these windows
        ppg = batch["ppg"]
        valid = batch["ecg_valid"] & torch.isfinite(ppg).flatten(1).all(1)  # (B,)
        ppg[~valid] = 0.0
        valid = valid.to(ctx.device)
        ecg_features = batch["ecg_features"].to(ctx.device, non_blocking=True)  # (B, C_ecg)
        ppg = ppg.to(ctx.device, non_blocking=True)  # (B, 1, 1250)
    else:
        valid = valid_windows(batch).to(ctx.device)  # (B,)
        ppg = batch["ppg"].to(ctx.device, non_blocking=True)  # (B, 1, 1250)
        ecg = batch["ecg"].to(ctx.device, non_blocking=True)  # (B, 1, 5000)
        with torch.no_grad(), _autocast(cfg, ctx):
            ecg_features = ecg_encoder(ecg).float()  # (B, C_ecg), frozen
    with _autocast(cfg, ctx):
        z_ppg, z_ecg, scale = model(ppg, ecg_features)  # (B, D), (B, D), ()
    loss, acc = clip_loss(z_ppg, z_ecg, scale, valid)
    return loss, acc, valid


def pretrain(cfg: PretrainConfig, resume: bool = False, stop_after: int | None = None) -> PretrainResult:
    """Run (or resume) ECG-guided pretraining.

    Args:
        cfg: the run's configuration (see :mod:`anyppg.trainer.config` and its presets).
        resume: continue from ``out_dir/checkpoint.pt``: model, optimizer, scheduler, step, RNG and
            data position are restored, so the loss curve continues exactly.
        stop_after: end this invocation after this step (a time-limited job slot); resume later.

    Returns:
        The run's final step, this invocation's stage 2 losses and the summary metrics.

    Raises:
        MissingDataError: the window store does not exist.
        ModelInputError / UnsupportedRateError: windows are not 10 s of PPG at 125 Hz + ECG at 500 Hz.
        CheckpointError: ``resume`` without a checkpoint, or a checkpoint from another config.
    """
    # -- where am I, what do I read ------------------------------------------------------------------
    ctx = init_distributed()
    out = Path(cfg.train.out_dir)
    tc = cfg.train
    torch.manual_seed(tc.seed)
    train = open_pairs(cfg.data, cfg.data.train_split, seed=tc.seed)
    val = open_pairs(cfg.data, cfg.data.val_split, seed=tc.seed)
    ckpt = _read_resume_checkpoint(out, cfg) if resume else None
    start = int(ckpt["step"]) if ckpt else 0
    runlog = RunLog(out, enabled=ctx.is_main, resume_step=_resumed_steps(ckpt, cfg) if ckpt else None)
    if ctx.is_main:
        (out / READY_FILE).unlink(missing_ok=True)  # the checkpoint is about to change
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))

    # -- stage 1: a frozen ECG encoder ---------------------------------------------------------------
    ecg_encoder, ecg_summary = prepare_ecg_encoder(cfg, train, ctx, runlog, resume=ckpt is not None, val=val)
    if tc.cache_ecg_features:
        train = CachedECGFeatures(train, ecg_encoder, ctx.device)
        ecg_summary = {**ecg_summary, "feature_cache_seconds": round(train.seconds, 2)}

    # -- stage 2: the CLIP model, optimiser and schedule ---------------------------------------------
    torch.manual_seed(tc.seed + 2)
    model = PPGECGClip(cfg.model, ecg_features=ecg_encoder.out_features).to(ctx.device)
    optimizer = torch.optim.AdamW(
        param_groups(model, cfg.optim.weight_decay), lr=cfg.optim.lr, betas=cfg.optim.betas
    )
    scheduler = warmup_cosine(optimizer, cfg.optim, tc.steps)
    if ckpt:
        model.load_state_dict(_clip_state(ckpt))
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"], ctx, tc.seed, start)
        log.info("resumed at step %d from %s", start, out / CHECKPOINT_FILE)
    else:
        torch.manual_seed(tc.seed + 3 + 1_000_003 * ctx.rank)  # dropout differs per rank
    ddp = DistributedDataParallel(model) if ctx.distributed else model

    end = tc.steps if stop_after is None else min(tc.steps, stop_after)
    sampler = _batch_sampler(train, tc, ctx, start, end)
    loader = DataLoader(
        train,
        batch_sampler=sampler,
        num_workers=cfg.data.num_workers,
        pin_memory=ctx.device.type == "cuda",
        generator=torch.Generator().manual_seed(tc.seed + start),  # keep the global RNG (dropout) untouched
    )
    bar = _progress(cfg, ctx, tc.steps, "stage 2 (PPG↔ECG)", initial=start)

    # -- the loop ------------------------------------------------------------------------------------
    result = PretrainResult(out_dir=out, step=start)
    skipped = float(ckpt.get("skipped_windows", 0)) if ckpt else 0.0
    t0 = t_last = time.perf_counter()
    windows_per_s: list[float] = []
    model.train()
    for step, batch in enumerate(loader, start=start + 1):
        loss, acc, valid = _step_batch(batch, ddp, ecg_encoder, cfg, ctx)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        optimizer.step()
        scheduler.step()

        loss_v, acc_v, bad = all_reduce_sum([loss.item(), acc.item(), float((~valid).sum())], ctx)
        loss_v, acc_v = loss_v / ctx.world_size, acc_v / ctx.world_size  # identical on all ranks anyway
        skipped += bad
        now = time.perf_counter()
        wps = tc.batch_size / (now - t_last)  # global windows per second, reading the batch included
        t_last = now
        windows_per_s.append(wps)
        result.losses.append(loss_v)
        result.step = step
        if step % tc.log_every == 0 or step == end:
            temperature = 1.0 / model.logit_scale.detach().clamp(max=model.max_log_scale).exp().item()
            runlog.write(
                "clip",
                step,
                {
                    "loss": loss_v,
                    "lr": scheduler.get_last_lr()[0],
                    "temperature": temperature,
                    "accuracy": acc_v,
                    "windows_per_s": wps,
                    "skipped": skipped,
                    "elapsed_s": time.perf_counter() - t0,
                    "grad_norm": float(grad_norm),
                },
            )
        if bar is not None:
            bar.set_postfix(
                loss=f"{loss_v:.3f}", acc=f"{acc_v:.2f}", win_s=f"{wps:.1f}", skipped=int(skipped)
            )
            bar.update(1)
        if step % tc.checkpoint_every == 0 or step == end:
            state = rng_state(ctx)  # a collective: every rank takes part, rank 0 writes
            if ctx.is_main:
                _save(out, cfg, model, ecg_encoder, optimizer, scheduler, step, state, skipped)
    if bar is not None:
        bar.close()

    # -- validation and the record of the run -------------------------------------------------------
    seconds = time.perf_counter() - t0
    metrics: dict[str, Any] = {
        "preset": cfg.name,
        "step": result.step,
        "world_size": ctx.world_size,
        "device": str(ctx.device),
        "final_loss": result.losses[-1] if result.losses else None,
        "first_loss": result.losses[0] if result.losses else None,
        "skipped_windows": int(skipped),
        "stage2_seconds": seconds,
        "windows_per_s_median": _median(windows_per_s[1:] or windows_per_s),
        "ecg_stage": ecg_summary,
    }
    if result.step == tc.steps and val is not None:
        metrics["val"] = evaluate(model, ecg_encoder, val, cfg, ctx)
    result.metrics = metrics
    if ctx.is_main:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        _write_splits(cfg, out)
        (out / READY_FILE).write_text(CHECKPOINT_FILE + "\n")  # downstream jobs (distil) wait on it
        runlog.close()
        plot_curves(out / "metrics.csv", out / "curve.png", f"anyppg pretrain --preset {cfg.name}")
        log.info("pretraining summary: %s", metrics)
    return result


def _batch_sampler(
    train: Dataset, tc: TrainConfig, ctx: DistContext, start: int, end: int
) -> Sampler[list[int]]:
    """Stage 2's batches: uniform over windows, or whole subjects (``tc.windows_per_subject``).

    Raises:
        ConfigError: subject batches on windows that carry no subject (toy pairs).
    """
    if not tc.windows_per_subject:
        return StepBatchSampler(len(train), tc.batch_size, ctx, tc.seed, start, end)
    pairs = getattr(train, "pairs", train)  # under CachedECGFeatures
    if not hasattr(pairs, "labels"):
        raise ConfigError("train.windows_per_subject needs a window store (its windows name their subjects)")
    subjects = pairs.labels()["subject"]
    return SubjectBatchSampler(subjects, tc.batch_size, tc.windows_per_subject, ctx, tc.seed, start, end)


@torch.no_grad()
def evaluate(
    model: PPGECGClip, ecg_encoder: Net1D, val: Dataset, cfg: PretrainConfig, ctx: DistContext
) -> dict[str, float]:
    """Validation InfoNCE and PPG→ECG top-1 retrieval among ``batch_size`` candidates (eval mode).

    The windows are a seeded random draw from the split, so each batch of candidates mixes subjects
    (a store lists a subject's windows together: in order, a batch would ask the model to tell apart
    neighbouring windows of one person). Every rank evaluates the same windows locally (no gather).
    """
    model.eval()
    n = min(len(val), cfg.data.max_val_windows)
    bs = min(cfg.train.batch_size, n)
    losses, accs, chance = [], [], []
    order = torch.randperm(len(val), generator=torch.Generator().manual_seed(0))[: n - n % bs]
    loader = DataLoader(
        torch.utils.data.Subset(val, order.tolist()),
        batch_size=bs,
        num_workers=cfg.data.num_workers,
        generator=torch.Generator().manual_seed(0),
    )
    for batch in loader:
        valid = valid_windows(batch).to(ctx.device)
        with _autocast(cfg, ctx):
            feats = ecg_encoder(batch["ecg"].to(ctx.device)).float()  # (b, C_ecg)
            z_ppg, z_ecg, scale = model(batch["ppg"].to(ctx.device), feats)
        # local loss only: other ranks' embeddings are not gathered during evaluation
        logits = scale * z_ppg.float() @ z_ecg.float().T  # (b, b)
        idx = valid.nonzero().squeeze(1)
        if len(idx) == 0:
            continue
        sub = logits[idx][:, idx]
        t = torch.arange(len(idx), device=logits.device)
        losses.append(
            0.5
            * (torch.nn.functional.cross_entropy(sub, t) + torch.nn.functional.cross_entropy(sub.T, t)).item()
        )
        accs.append((sub.argmax(1) == t).float().mean().item())
        chance.append(1.0 / len(idx))
    model.train()
    if not losses:
        return {}
    return {
        "windows": n - n % bs,
        "candidates": bs,
        "loss": sum(losses) / len(losses),
        "top1_ppg_to_ecg": sum(accs) / len(accs),
        "top1_chance": sum(chance) / len(chance),
    }


# -- checkpoints ---------------------------------------------------------------------------------------


def _save(
    out: Path,
    cfg: PretrainConfig,
    model: PPGECGClip,
    ecg_encoder: Net1D,
    optimizer,
    scheduler,
    step: int,
    rng: list[dict[str, Any]],
    skipped: float,
) -> None:
    """Rank 0 writes the unwrapped model (no ``module.`` prefixes) and everything resume needs."""
    save_checkpoint(
        out / CHECKPOINT_FILE,
        {
            "ppg_encoder": model.ppg_encoder.state_dict(),
            "ecg_encoder": ecg_encoder.state_dict(),
            "ppg_projector": model.ppg_projector.state_dict(),
            "ecg_projector": model.ecg_projector.state_dict(),
            "logit_scale": model.logit_scale.detach().cpu(),
            "config": {
                **cfg.to_dict(),
                "ppg_encoder": cfg.model.ppg_encoder,
                "ecg_encoder": cfg.model.ecg_encoder,
            },
            "step": step,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng,
            "skipped_windows": int(skipped),
        },
    )


def _read_resume_checkpoint(out: Path, cfg: PretrainConfig) -> dict[str, Any]:
    """The checkpoint to resume from; refused if it was written with another model, optimiser or length."""
    path = out / CHECKPOINT_FILE
    if not path.is_file():
        raise CheckpointError(str(path), "cannot resume: no checkpoint in the output folder")
    ckpt = read_checkpoint(path)
    saved, now = ckpt.get("config", {}), cfg.to_dict()
    for key in ("model", "optim"):
        if key in saved and saved[key] != now[key]:
            raise CheckpointError(str(path), f"cannot resume: its {key!r} config differs from this run's")
    saved_steps = saved.get("train", {}).get("steps")
    if saved_steps is not None and saved_steps != cfg.train.steps:
        raise CheckpointError(
            str(path),
            f"cannot resume: the schedule was for {saved_steps} steps, this run asks {cfg.train.steps}",
        )
    return ckpt


def _resumed_steps(ckpt: dict[str, Any], cfg: PretrainConfig) -> dict[str, int]:
    return {"ecg": cfg.ecg_stage.steps, "clip": int(ckpt["step"])}


def _clip_state(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {"logit_scale": ckpt["logit_scale"]}
    for part in ("ppg_encoder", "ppg_projector", "ecg_projector"):
        state.update({f"{part}.{k}": v for k, v in ckpt[part].items()})
    return state


def _write_splits(cfg: PretrainConfig, out: Path) -> None:
    """Copy the store's subject -> split map (and its fixed ``held_out`` lists) next to the checkpoint."""
    if cfg.data.store is None:
        return
    index_path = Path(cfg.data.store) / "index.json"
    index = json.loads(index_path.read_text())
    splits = {
        "store": str(cfg.data.store),
        "subject_split": index.get("subject_split", {}),
        "held_out": index.get("held_out"),
    }
    (out / SPLITS_FILE).write_text(json.dumps(splits, indent=1) + "\n")


def _median(xs: list[float]) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[len(s) // 2]
