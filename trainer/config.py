"""Pretraining configuration: nested typed dataclasses and the named presets.

Each dataclass configures one part of the pipeline and says, per field, *why* it has its value.
A preset is a function returning a :class:`PretrainConfig`; the command line picks one with
``--preset`` and overrides a few fields (``--steps``, ``--batch-size``, ``--out``, ...).

========= ================================ ============================ ==========================
preset    PPG encoder                      ECG encoder                  meant for
========= ================================ ============================ ==========================
debug     Net1D 8→32 ch, 6.6 k params      Net1D 8→32 ch, 21.7 k        tests: reference loss curve
demo      AnyPPG Net1D, 4.04 M params      Net1D 16→128 ch, 117 k       2-core CPU, ≤ 15 min idle
real      Net1D 32→512 ch, 0.87 M params   Net1D 16→256 ch, 0.32 M      real pairs, 1 CPU core ~30 min
anyppg    AnyPPG Net1D, 4.04 M params      ECGFounder 30.7 M (frozen)   GPUs, paper-scale recipe
========= ================================ ============================ ==========================
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from anyppg.errors import AnyPPGError
from anyppg.trainer.net1d_configs import ANYPPG_PPG_CONFIG, ECGFOUNDER_ECG_CONFIG

PPG_RATE_HZ = 125.0
ECG_RATE_HZ = 500.0
WINDOW_S = 10.0


def _anyppg_ppg() -> dict[str, Any]:
    return copy.deepcopy(ANYPPG_PPG_CONFIG)


def _ecgfounder_ecg() -> dict[str, Any]:
    return copy.deepcopy(ECGFOUNDER_ECG_CONFIG)


@dataclass
class ModelConfig:
    """The two encoders and the CLIP head that aligns them."""

    ppg_encoder: dict[str, Any] = field(default_factory=_anyppg_ppg)
    """Net1D config of the PPG encoder: the model that ships (AnyPPG's by default)."""
    ecg_encoder: dict[str, Any] = field(default_factory=_ecgfounder_ecg)
    """Net1D config of the ECG teacher; ECGFounder's so its public weights load unchanged."""
    embed_dim: int = 128
    """Shared embedding width; 128 as in AnyPPG: enough for retrieval, cheap for the logits matrix."""
    projector_hidden: int = 512
    """Hidden width of the Linear-BN-GELU-Linear projectors."""
    ppg_dropout: float = 0.2
    """Dropout on the pooled PPG feature before its projector; regularises the only trained encoder."""
    init_temperature: float = 0.07
    """Initial softmax temperature of InfoNCE (CLIP's value); learned afterwards."""
    max_logit_scale: float = 100.0
    """Upper clamp of 1/temperature, as in CLIP, so the logits cannot blow up."""


@dataclass
class ECGStageConfig:
    """Stage 1: give the ECG side meaningful features, then freeze it (as AnyPPG froze ECGFounder)."""

    checkpoint: str | None = None
    """ECGFounder (or anyppg) checkpoint; when given, stage 1 is skipped and these weights are used."""
    steps: int = 200
    """Supervised steps on ECG-derivable labels (heart rate, AF rhythm, ectopic beats when labelled)."""
    batch_size: int = 64
    """Global batch of ECG windows; ECG labels are cheap to fit, small batches suffice."""
    lr: float = 1e-3
    """AdamW learning rate; higher than stage 2 because the ECG encoder starts from scratch."""
    weight_decay: float = 1e-2
    """AdamW weight decay."""
    hr_scale_bpm: float = 20.0
    """Heart rate is regressed as (hr - 70) / hr_scale_bpm so its loss is on the scale of the BCE terms."""


@dataclass
class OptimConfig:
    """Stage 2 optimiser and schedule (AnyPPG's recipe)."""

    lr: float = 4e-4
    """Peak AdamW learning rate."""
    weight_decay: float = 1e-2
    """AdamW weight decay (not applied to biases, norms or the temperature)."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas."""
    warmup_steps: int = 100
    """Linear warm-up from 0 before the cosine decay; keeps early large-batch updates stable."""
    min_lr_ratio: float = 0.0
    """Cosine decays to lr * min_lr_ratio at the last step."""
    grad_clip: float = 1.0
    """Max global gradient norm; contrastive losses spike when the temperature moves."""


@dataclass
class DataConfig:
    """Where the paired windows come from."""

    store: str | None = None
    """Window store written by ``anyppg prepare`` (PPG 125 Hz x 1250 + ECG 500 Hz x 5000 per window)."""
    train_split: str = "train"
    """Split of the store used for training."""
    val_split: str = "val"
    """Split used for the final validation loss and retrieval accuracy (skipped when absent)."""
    toy_windows: int = 0
    """When > 0 and no store is given: this many windows of the built-in toy generator (debug/tests)."""
    num_workers: int = 0
    """DataLoader worker processes per rank; 0 reads in the training process (CPU demo)."""
    max_val_windows: int = 512
    """Cap on validation windows so the final evaluation stays short."""
    real_data: str | None = None
    """Data folder with ``bidmc/``, ``mimicdb/``, ``troika/`` (``real`` preset): the store is built from it
    (:mod:`anyppg.trainer.real_corpus`, fixed held-out subjects) when ``store`` does not exist yet."""
    sim_hours: float = 0.0
    """Simulated hours added to the real store's training split: AF and ectopic beats for stage 1."""
    hop_s: float = 5.0
    """Step between window starts when the real store is built (s); 5 s doubles the pairs of 10 s windows."""


@dataclass
class TrainConfig:
    """The stage 2 loop: length, batch, precision, logging and checkpoints."""

    steps: int = 1000
    """Optimiser steps of stage 2."""
    batch_size: int = 64
    """Global batch (split evenly over ranks); InfoNCE negatives span all of it."""
    windows_per_subject: int = 0
    """0: batches drawn uniformly over windows. K > 0: each batch is ``batch_size / K`` subjects with K
    windows each, spread over their recordings (:class:`~anyppg.trainer.distributed.SubjectBatchSampler`),
    so a window's negatives include its own subject's other moments."""
    seed: int = 0
    """Seeds weights, data order and dropout; a run is reproducible from it."""
    bf16: bool = True
    """bf16 autocast on CUDA (ignored on CPU, where bf16 convolutions are slower)."""
    log_every: int = 1
    """Steps between CSV/TensorBoard rows."""
    checkpoint_every: int = 100
    """Steps between checkpoints (rank 0 writes; the last step is always saved)."""
    out_dir: str = "runs/pretrain"
    """Checkpoint, metrics.csv, metrics.json, curve PNG and TensorBoard events go here."""
    progress: bool = True
    """Show a tqdm bar (rank 0 only)."""
    cache_ecg_features: bool = False
    """Run the frozen ECG encoder once per training window and reuse its features at every step
    (:mod:`anyppg.trainer.ecg_cache`); costs C floats of memory per window on every rank."""


@dataclass
class PretrainConfig:
    """Everything a pretraining run needs; saved inside every checkpoint."""

    name: str = "custom"
    """Preset the config came from."""
    model: ModelConfig = field(default_factory=ModelConfig)
    ecg_stage: ECGStageConfig = field(default_factory=ECGStageConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON- and ``weights_only``-safe)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PretrainConfig:
        """Inverse of :meth:`to_dict` (unknown keys are an error).

        Raises:
            ConfigError: a section or key is unknown.
        """
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in d.items():
            if key not in sections:
                raise ConfigError(f"unknown config section {key!r}; expected one of {sorted(sections)}")
            if key == "name":
                kwargs[key] = value
                continue
            sub = {
                "model": ModelConfig,
                "ecg_stage": ECGStageConfig,
                "optim": OptimConfig,
                "data": DataConfig,
            }
            sub_cls = sub.get(key, TrainConfig)
            known = {f.name for f in dataclasses.fields(sub_cls)}
            bad = sorted(set(value) - known)
            if bad:
                raise ConfigError(f"unknown keys {bad} in config section {key!r}")
            if "betas" in value:
                value = {**value, "betas": tuple(value["betas"])}
            kwargs[key] = sub_cls(**value)
        return cls(**kwargs)


class ConfigError(AnyPPGError, ValueError):
    """A pretraining config or preset name is invalid."""


# --- presets -----------------------------------------------------------------------------------------


def debug() -> PretrainConfig:
    """Seconds on a CPU: tiny encoders on toy pairs; its loss curve is committed as a reference."""
    ppg = {**_anyppg_ppg(), "base_filters": 8, "filter_list": [8, 16, 16, 32], "m_blocks_list": [1, 1, 1, 1]}
    ppg["groups_width"] = 8
    ecg = {**_ecgfounder_ecg(), "base_filters": 8, "filter_list": [8, 16, 16, 32, 32]}
    ecg.update(m_blocks_list=[1, 1, 1, 1, 1], groups_width=8)
    return PretrainConfig(
        name="debug",
        model=ModelConfig(ppg_encoder=ppg, ecg_encoder=ecg, embed_dim=32, projector_hidden=64),
        ecg_stage=ECGStageConfig(steps=10, batch_size=16),
        optim=OptimConfig(lr=2e-3, warmup_steps=5),  # tiny model: a higher lr shows learning in 30 steps
        data=DataConfig(toy_windows=128, max_val_windows=64),
        train=TrainConfig(steps=30, batch_size=16, checkpoint_every=10, out_dir="runs/debug", progress=False),
    )


def demo() -> PretrainConfig:
    """The full two-stage pipeline on a 2-core CPU in ≤ 15 min: the real AnyPPG PPG encoder, a small
    ECG encoder trained in stage 1 (the 30.7 M ECGFounder on 5000-sample inputs is ~30x too slow here)."""
    ecg = {**_ecgfounder_ecg(), "base_filters": 16, "filter_list": [16, 32, 32, 64, 64, 128]}
    ecg.update(m_blocks_list=[1, 1, 1, 1, 1, 1], groups_width=8)
    return PretrainConfig(
        name="demo",
        model=ModelConfig(ecg_encoder=ecg),
        ecg_stage=ECGStageConfig(steps=80, batch_size=32),
        optim=OptimConfig(warmup_steps=10),
        data=DataConfig(store="runs/demo/store", max_val_windows=128),
        train=TrainConfig(steps=60, batch_size=32, checkpoint_every=20, out_dir="runs/demo"),
    )


def anyppg() -> PretrainConfig:
    """Paper-scale recipe for GPUs: full AnyPPG PPG encoder, frozen ECGFounder, batch 2048, bf16."""
    return PretrainConfig(
        name="anyppg",
        ecg_stage=ECGStageConfig(steps=20_000, batch_size=1024),
        optim=OptimConfig(warmup_steps=2_000),
        data=DataConfig(store="runs/anyppg/store", num_workers=8, max_val_windows=16_384),
        train=TrainConfig(steps=100_000, batch_size=2048, checkpoint_every=1_000, out_dir="runs/anyppg"),
    )


# The real preset's encoders: chosen by training windows/s at torch.set_num_threads(1) (docs/training.md):
# the AnyPPG PPG encoder trains at 14 windows/s on one idle core, this one at 126 with the same 512-d
# output (what the students distil into); the ECG encoder adds a 7th stage to the demo's (256-d).
REAL_PPG_ENCODER: dict[str, Any] = {
    **_anyppg_ppg(),
    "base_filters": 32,
    "filter_list": [32, 64, 64, 128, 128, 512],
    "m_blocks_list": [1, 1, 1, 2, 2, 1],
}
REAL_ECG_ENCODER: dict[str, Any] = {
    **_ecgfounder_ecg(),
    "base_filters": 16,
    "filter_list": [16, 32, 32, 64, 64, 128, 256],
    "m_blocks_list": [1, 1, 1, 1, 1, 1, 1],
    "groups_width": 8,
}


def real() -> PretrainConfig:
    """Real paired PPG+ECG (BIDMC + MIMIC-DB + TROIKA, fixed held-out subjects) + 2 simulated hours, on
    one CPU core in about 30 min: a 0.87 M-parameter Net1D PPG encoder (512-d), a 0.32 M ECG encoder
    trained on R-peak heart rate (and simulated AF / ectopic beats), ECG features cached for stage 2."""
    return PretrainConfig(
        name="real",
        model=ModelConfig(
            ppg_encoder=copy.deepcopy(REAL_PPG_ENCODER), ecg_encoder=copy.deepcopy(REAL_ECG_ENCODER)
        ),
        ecg_stage=ECGStageConfig(steps=300, batch_size=64),
        optim=OptimConfig(lr=1e-3, warmup_steps=50),  # 0.87 M params, batch 128: a higher lr than AnyPPG's
        data=DataConfig(store="runs/real/store", sim_hours=2.0, hop_s=5.0, max_val_windows=1024),
        train=TrainConfig(
            steps=800,
            batch_size=128,
            log_every=10,
            checkpoint_every=100,
            out_dir="runs/real-teacher",
            cache_ecg_features=True,
        ),
    )


PRESETS: dict[str, Callable[[], PretrainConfig]] = {
    "debug": debug,
    "demo": demo,
    "anyppg": anyppg,
    "real": real,
}


def preset(name: str) -> PretrainConfig:
    """Return a fresh copy of a named preset.

    Raises:
        ConfigError: the name is not one of :data:`PRESETS`.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]()
