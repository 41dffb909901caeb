"""One process or many: the DDP context detected from ``torchrun``'s environment, and a sampler that
gives every rank its slice of the same seeded global batch at any step (so a resumed run reads exactly
the windows the uninterrupted run would have read)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job.

    Attributes:
        rank: global rank (0 .. world_size-1).
        world_size: number of processes in the job (all nodes).
        local_rank: rank on this node; picks the GPU.
        device: the device this process trains on.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that logs, plots and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def init_distributed(device: str | None = None) -> DistContext:
    """Join the process group when launched by ``torchrun`` (RANK / WORLD_SIZE / LOCAL_RANK set).

    NCCL on CUDA, gloo on CPU. Without those variables this is a single process.

    Args:
        device: "cpu" or "cuda"; default: CUDA when available.
    """
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistContext(device=torch.device("cuda" if use_cuda else "cpu"))
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    log.info("rank %d/%d (local %d) on %s", rank, world, local_rank, dev)
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: list[float], ctx: DistContext) -> list[float]:
    """Sum a few scalars over ranks (identity in one process)."""
    if not ctx.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return t.tolist()


def rng_state(ctx: DistContext) -> list[dict[str, Any]]:
    """The torch RNG states of every rank (rank order); collectives, so call on all ranks."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if ctx.device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(ctx.device)
    if not ctx.distributed:
        return [state]
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, state)
    return gathered


def set_rng_state(states: list[dict[str, Any]], ctx: DistContext, seed: int, step: int) -> None:
    """Restore this rank's RNG from :func:`rng_state`; reseed deterministically if the world changed."""
    if len(states) != ctx.world_size:
        log.warning(
            "checkpoint has RNG states of %d ranks, job has %d: reseeding", len(states), ctx.world_size
        )
        torch.manual_seed(seed + 1_000_003 * ctx.rank + step)
        return
    mine = states[ctx.rank]
    torch.set_rng_state(mine["cpu"])
    if "cuda" in mine and ctx.device.type == "cuda":
        torch.cuda.set_rng_state(mine["cuda"], ctx.device)


class StepBatchSampler(Sampler[list[int]]):
    """Batches of dataset indices for steps ``start_step .. total_steps-1`` on one rank.

    Epoch ``e`` is a permutation drawn from ``seed + e``; step ``s`` takes global batch
    ``s mod steps_per_epoch`` of it (the incomplete tail is dropped) and this rank keeps its contiguous
    slice. The batch of a step depends only on ``(seed, step)``, never on what ran before.
    """

    def __init__(
        self, n: int, global_batch: int, ctx: DistContext, seed: int, start_step: int, total_steps: int
    ) -> None:
        if global_batch % ctx.world_size:
            raise ValueError(f"global batch {global_batch} is not divisible by world size {ctx.world_size}")
        if n < global_batch:
            raise ValueError(f"dataset has {n} windows, fewer than one global batch of {global_batch}")
        self.n, self.global_batch, self.ctx = n, global_batch, ctx
        self.seed, self.start, self.total = seed, start_step, total_steps
        self.steps_per_epoch = n // global_batch
        self.local = global_batch // ctx.world_size

    def __len__(self) -> int:
        return max(0, self.total - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        perm, epoch = None, -1
        for step in range(self.start, self.total):
            e, i = divmod(step, self.steps_per_epoch)
            if e != epoch:
                perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + e))
                epoch = e
            lo = i * self.global_batch + self.ctx.rank * self.local
            yield perm[lo : lo + self.local].tolist()


class SubjectBatchSampler(Sampler[list[int]]):
    """Batches of whole subjects: ``global_batch / per_subject`` subjects, ``per_subject`` windows each.

    Drawn uniformly over windows, a batch from a few dozen people holds about one window per person,
    and the cheapest way to find a window's partner among the rest is to recognise the person (pulse
    shape, ECG morphology), not the moment. With several windows of each subject, the negatives of a
    window include its own subject's other windows, and only what changes over time tells them apart
    (heart rate, rhythm, beat-to-beat shape): what the paired ECG shares with the PPG at that moment.

    Subjects are drawn in proportion to their windows (so every window is about as likely as under
    uniform sampling), without replacement within a batch; a subject's windows are taken one from each
    of ``per_subject`` equal stretches of its windows in store order (its recording's time order), so
    they are spread over the recording. The batch of a step depends only on ``(seed, step)``; this rank keeps
    its contiguous slice of the global batch.

    Raises:
        ValueError: the batch is not a whole number of subjects or of ranks, or fewer subjects than a
            batch needs have ``per_subject`` windows.
    """

    def __init__(
        self,
        subjects: Any,
        global_batch: int,
        per_subject: int,
        ctx: DistContext,
        seed: int,
        start_step: int,
        total_steps: int,
    ) -> None:
        if per_subject < 1 or global_batch % per_subject:
            raise ValueError(
                f"global batch {global_batch} is not a multiple of {per_subject} windows per subject"
            )
        if global_batch % ctx.world_size:
            raise ValueError(f"global batch {global_batch} is not divisible by world size {ctx.world_size}")
        subjects = np.asarray(subjects)
        names, inverse = np.unique(subjects, return_inverse=True)
        self.windows = [np.flatnonzero(inverse == k) for k in range(len(names))]  # store order
        self.windows = [w for w in self.windows if len(w) >= per_subject]
        self.groups = global_batch // per_subject
        if len(self.windows) < self.groups:
            raise ValueError(
                f"{len(self.windows)} subjects have {per_subject} windows or more; a batch of "
                f"{global_batch} needs {self.groups}"
            )
        sizes = np.array([len(w) for w in self.windows], dtype=np.float64)
        self.weights = sizes / sizes.sum()
        self.per_subject, self.global_batch, self.ctx = per_subject, global_batch, ctx
        self.seed, self.start, self.total = seed, start_step, total_steps
        self.local = global_batch // ctx.world_size

    def __len__(self) -> int:
        return max(0, self.total - self.start)

    def batch(self, step: int) -> list[int]:
        """The global batch of ``step`` (all ranks)."""
        rng = np.random.default_rng([self.seed, step])
        chosen = rng.choice(len(self.windows), size=self.groups, replace=False, p=self.weights)
        out: list[int] = []
        for s in chosen:
            stretches = np.array_split(self.windows[s], self.per_subject)  # consecutive, equal lengths
            out += [int(part[rng.integers(len(part))]) for part in stretches]
        return out

    def __iter__(self) -> Iterator[list[int]]:
        lo = self.ctx.rank * self.local
        for step in range(self.start, self.total):
            yield self.batch(step)[lo : lo + self.local]
