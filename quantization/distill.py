"""Distil the AnyPPG teacher into a student: embeddings in the teacher's space plus HR / quality / AF heads.

The teacher is frozen, so its embeddings are computed once per window and cached; a distillation
epoch then costs only the student's forward and backward passes. The loss has two parts:

- **embedding** (every window, labelled or not): ``w_cos * (1 - cos(s, t))`` + ``w_mse * |s - t|^2 /
  E|t|^2`` (scale-free MSE in the teacher's space) + ``w_rel * |C_s - C_t|^2`` where ``C`` is the
  batch's cosine-similarity matrix (relational distillation: the student keeps how windows relate).
- **heads**: heart rate (Huber on bpm / 25 where the store has an HR label), signal quality and AF
  (binary cross-entropy where labelled), plus the teacher heads' outputs as soft targets on every window
  (``w_soft``), so unlabelled real recordings still teach the heads.

The teacher's own heads are linear probes on its frozen embeddings (ridge for HR, logistic regression
for quality and AF), fitted on the training windows, as in AnyPPG's evaluation. :class:`TeacherWithHeads`
wraps encoder and probes into a model with the anyppg output contract, so teacher and student are
evaluated - and exported - the same way.

Data: windows from a window store (``anyppg prepare``; labelled, split by subject) and, optionally,
unlabelled windows from the real recordings installed on this machine (``anyppg.recordings``),
preprocessed exactly as the SDK does live (:func:`anyppg.signal.preprocess_recording`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from anyppg.errors import CheckpointError
from anyppg.quantization.students import (
    DEFAULT_STUDENT,
    HR_CENTER_BPM,
    HR_SCALE_BPM,
    INPUT_SAMPLES,
    OUTPUT_NAMES,
    Student,
    build_student,
)
from anyppg.signal.runs import finite_runs

log = logging.getLogger(__name__)

EMBED_BATCH = 64  # windows per teacher forward pass when caching embeddings


# --- windows ---------------------------------------------------------------------------------------


@dataclass
class WindowSet:
    """Preprocessed windows and their labels (NaN / -1 = unknown).

    Attributes:
        ppg: ``(N, 1250)`` float32, 10 s at 125 Hz, band-passed and z-scored.
        hr: ``(N,)`` float32 heart rate in bpm, NaN when unknown.
        af: ``(N,)`` int8, 1 = atrial fibrillation, 0 = not, -1 = unknown.
        quality: ``(N,)`` int8, 1 = usable, 0 = not, -1 = unknown.
        origin: ``(N,)`` str, where each window came from (``sim``, a recording name, ...).
    """

    ppg: np.ndarray
    hr: np.ndarray
    af: np.ndarray
    quality: np.ndarray
    origin: np.ndarray

    def __post_init__(self) -> None:
        self.ppg = np.ascontiguousarray(self.ppg, dtype=np.float32).reshape(-1, INPUT_SAMPLES)
        n = len(self.ppg)
        for name in ("hr", "af", "quality", "origin"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"WindowSet.{name} has {len(getattr(self, name))} rows; expected {n}")

    def __len__(self) -> int:
        return len(self.ppg)

    @classmethod
    def unlabeled(cls, ppg: np.ndarray, origin: str | Sequence[str]) -> WindowSet:
        n = len(ppg)
        origins = np.array([origin] * n if isinstance(origin, str) else list(origin), dtype=object)
        return cls(
            ppg, np.full(n, np.nan, np.float32), np.full(n, -1, np.int8), np.full(n, -1, np.int8), origins
        )

    def take(self, index: np.ndarray | slice) -> WindowSet:
        return WindowSet(
            self.ppg[index], self.hr[index], self.af[index], self.quality[index], self.origin[index]
        )

    @staticmethod
    def concat(sets: Sequence[WindowSet]) -> WindowSet:
        sets = [s for s in sets if len(s)]
        if not sets:
            return WindowSet.unlabeled(np.zeros((0, INPUT_SAMPLES), np.float32), "none")
        return WindowSet(
            *(np.concatenate([getattr(s, f) for s in sets]) for f in ("ppg", "hr", "af", "quality", "origin"))
        )

    def summary(self) -> dict[str, Any]:
        """Counts by origin and of each label, for model cards and logs."""
        origins, counts = np.unique(self.origin.astype(str), return_counts=True)
        return {
            "windows": len(self),
            "by_origin": {str(o): int(c) for o, c in zip(origins, counts, strict=True)},
            "hr_labels": int(np.isfinite(self.hr).sum()),
            "af_labels": int((self.af >= 0).sum()),
            "af_positive": int((self.af == 1).sum()),
            "quality_labels": int((self.quality >= 0).sum()),
        }


def store_windows(path: str | Path, split: str, limit: int | None = None, seed: int = 0) -> WindowSet:
    """The windows of one split of a window store (``anyppg prepare``), optionally a seeded subset.

    Raises:
        StoreError: not a store, or no such split (from :mod:`anyppg.trainer.store`).
    """
    from anyppg.trainer.store import WindowStore

    store = WindowStore(path)
    view = store.split(split)
    labels = view.labels()
    index = np.arange(len(view))
    if limit is not None and limit < len(index):
        index = np.sort(np.random.default_rng(seed).choice(len(index), limit, replace=False))
    ppg = (
        np.stack([np.asarray(view[int(i)][0]) for i in index]) if len(index) else np.zeros((0, INPUT_SAMPLES))
    )
    sources = np.array(store.sources, dtype=object)
    lab = labels[index]
    origin = sources[lab["source"]] if len(sources) else np.array(["store"] * len(index), dtype=object)
    return WindowSet(ppg, lab["hr"].astype(np.float32), lab["af"], lab["quality"], origin)


_MAX_SIM_COHORTS = 100


def simulated_windows(n: int, seed: int = 0) -> WindowSet:
    """``n`` labelled windows from the simulator, windowed by the data pipeline (``anyppg.trainer.sources``).

    Subjects vary HR, HRV, AF, ectopic beats, motion and noise; labels are HR from the R-peaks, AF from
    the rhythm and quality from the simulated artefacts.
    """
    from anyppg.trainer.sources import SimSource, record_windows

    if n <= 0:
        return WindowSet.concat([])
    parts: list[WindowSet] = []
    total = 0
    # A 60 s record yields a handful of windows (fewer when some are skipped), so a source sized from
    # `n` can run short: draw further cohorts (new seeds, new subjects) until `n` windows exist.
    for cohort in range(_MAX_SIM_COHORTS):
        hours = max((n - total) * 10.0 / 3600.0 * 1.3, 60 / 3600)
        source = SimSource(hours=hours, record_s=60.0, records_per_subject=1, seed=seed + 1_000_003 * cohort)
        for record in source.records():
            batch = record_windows(record)
            lab = batch.labels
            parts.append(
                WindowSet(
                    batch.ppg,
                    lab["hr"].astype(np.float32),
                    lab["af"],
                    lab["quality"],
                    np.array(["sim"] * len(lab), dtype=object),
                )
            )
            total += len(lab)
            if total >= n:
                return WindowSet.concat(parts).take(slice(0, n))
    raise RuntimeError(f"the simulator gave only {total} of {n} windows")


def real_windows(max_per_recording: int = 200, seed: int = 0) -> WindowSet:
    """Unlabelled windows from every real PPG recording installed (``anyppg.recordings``).

    Each recording is preprocessed as the SDK does live (resampled to 125 Hz, band-passed, z-scored)
    with 5 s hops; at most ``max_per_recording`` windows are kept from each (seeded choice). Recordings
    that are missing or too short are skipped and logged.
    """
    from anyppg import recordings
    from anyppg.errors import AnyPPGError
    from anyppg.signal import preprocess_recording_array

    rng = np.random.default_rng(seed)
    parts = []
    for info in recordings.list_recordings():
        if not info.available or "ppg" not in info.signals or info.excerpt_of:  # excerpts repeat data
            continue
        try:
            rec = recordings.load(info.name)
            ppg, fs = _ppg_of(rec)
            windows, _ = preprocess_recording_array(ppg, fs, hop_s=5.0)
        except (AnyPPGError, ValueError) as exc:
            log.warning("recording %s skipped: %s", info.name, exc)
            continue
        if len(windows) > max_per_recording:
            windows = windows[np.sort(rng.choice(len(windows), max_per_recording, replace=False))]
        parts.append(WindowSet.unlabeled(windows, info.name))
        log.info("recording %s: %d windows", info.name, len(windows))
    return WindowSet.concat(parts)


def _ppg_of(rec: Any) -> tuple[np.ndarray, float]:
    ppg, fs = rec.ppg, rec.ppg_fs
    if ppg is None or not fs:
        raise ValueError("recording has no PPG channel")
    ppg = np.asarray(ppg, dtype=np.float64)
    if ppg.ndim > 1:
        ppg = ppg[:, 0]
    if not np.isfinite(ppg).all():  # keep the longest finite stretch
        a, b = max(finite_runs(ppg), key=lambda e: e[1] - e[0])
        ppg = ppg[a:b]
    return ppg, float(fs)


# --- teacher ---------------------------------------------------------------------------------------


def load_teacher(path: str | Path) -> nn.Module:
    """The PPG encoder of an anyppg pretraining checkpoint or of an official AnyPPG file (eval mode).

    Raises:
        CheckpointError: missing / corrupt file, or keys and shapes that do not fit the architecture.
    """
    from anyppg.trainer.checkpoints import load_ppg_encoder

    return load_ppg_encoder(path)


@torch.no_grad()
def embed(
    model: Callable[[torch.Tensor], Any],
    ppg: np.ndarray,
    batch_size: int = EMBED_BATCH,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Embeddings ``(N, D)`` of ``(N, 1250)`` windows; ``model`` returns a tensor or a tuple led by one.

    ``progress`` is called with the number of windows embedded so far after each batch.
    """
    out = []
    for start in range(0, len(ppg), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(ppg[start : start + batch_size]))[:, None, :]
        y = model(x)
        out.append((y[0] if isinstance(y, tuple | list) else y).float().numpy())
        if progress is not None:
            progress(min(start + batch_size, len(ppg)))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


@dataclass
class LinearProbes:
    """Linear heads on frozen embeddings: ridge for HR (bpm), logistic regression for quality and AF.

    Each head is ``(weight (D,), bias)``; a head without labels to fit is None and predicts a
    constant (the labelled mean, or 0 logit).
    """

    hr: tuple[np.ndarray, float]
    quality: tuple[np.ndarray, float] | None
    af: tuple[np.ndarray, float] | None

    @classmethod
    def fit(cls, embeddings: np.ndarray, windows: WindowSet, l2: float = 1.0) -> LinearProbes:
        from sklearn.linear_model import LogisticRegression, Ridge

        d = embeddings.shape[1]
        ok = np.isfinite(windows.hr)
        if ok.sum() >= 2:
            ridge = Ridge(alpha=l2).fit(embeddings[ok], windows.hr[ok])
            hr = (ridge.coef_.astype(np.float32), float(ridge.intercept_))
        else:
            hr = (np.zeros(d, np.float32), HR_CENTER_BPM)

        def logistic(labels: np.ndarray) -> tuple[np.ndarray, float] | None:
            known = labels >= 0
            if known.sum() < 2 or len(np.unique(labels[known])) < 2:
                return None
            clf = LogisticRegression(C=1.0 / l2, max_iter=2000).fit(embeddings[known], labels[known])
            return clf.coef_[0].astype(np.float32), float(clf.intercept_[0])

        return cls(hr, logistic(windows.quality), logistic(windows.af))


class TeacherWithHeads(nn.Module):
    """Teacher encoder plus its linear probes: the anyppg output contract ``(embedding, hr, quality, af)``."""

    def __init__(self, encoder: nn.Module, probes: LinearProbes) -> None:
        super().__init__()
        self.encoder = encoder.eval()
        dim = int(probes.hr[0].shape[0])
        self.heads = nn.Linear(dim, 3)
        with torch.no_grad():
            for row, head in enumerate((probes.hr, probes.quality, probes.af)):
                w, b = head if head is not None else (np.zeros(dim, np.float32), 0.0)
                self.heads.weight[row] = torch.from_numpy(np.asarray(w, np.float32))
                self.heads.bias[row] = float(b)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.encoder(x)  # (B, 512)
        h = self.heads(z)  # (B, 3)
        return z, h[:, 0:1], h[:, 1:2], h[:, 2:3]


# --- metrics ---------------------------------------------------------------------------------------


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    known = labels >= 0
    if known.sum() < 2 or len(np.unique(labels[known])) < 2:
        return None
    return float(roc_auc_score(labels[known], scores[known]))


def predict(
    model: Callable[[torch.Tensor], Any], ppg: np.ndarray, batch_size: int = EMBED_BATCH
) -> dict[str, np.ndarray]:
    """All outputs of a contract model on ``(N, 1250)`` windows, as arrays keyed by output name
    (four for a teacher with heads, five for a student with its rhythm head)."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in OUTPUT_NAMES}
    with torch.no_grad():
        for start in range(0, len(ppg), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(ppg[start : start + batch_size]))[:, None, :]
            for key, y in zip(OUTPUT_NAMES, model(x), strict=False):  # teachers have no rhythm head
                parts[key].append(y.float().numpy())
    return {k: np.concatenate(v) for k, v in parts.items() if v}


def downstream_metrics(outputs: Mapping[str, np.ndarray], windows: WindowSet) -> dict[str, float | None]:
    """HR MAE (bpm), quality AUROC and AF AUROC of a model's outputs against the window labels."""
    ok = np.isfinite(windows.hr)
    hr = outputs["heart_rate"].reshape(-1)
    return {
        "hr_mae_bpm": float(np.mean(np.abs(hr[ok] - windows.hr[ok]))) if ok.any() else None,
        "quality_auroc": _auroc(windows.quality, outputs["quality"].reshape(-1)),
        "af_auroc": _auroc(windows.af, outputs["af"].reshape(-1)),
    }


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two ``(N, D)`` arrays."""
    na = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.maximum(na, 1e-12)


def compare(
    student_out: Mapping[str, np.ndarray], teacher_out: Mapping[str, np.ndarray], windows: WindowSet
) -> dict[str, Any]:
    """Student vs teacher side by side: embedding cosine (mean, 5th percentile) and downstream metrics."""
    cos = cosine_rows(student_out["embedding"], teacher_out["embedding"])
    return {
        "windows": len(windows),
        "embedding_cosine_mean": float(cos.mean()) if len(cos) else None,
        "embedding_cosine_p05": float(np.percentile(cos, 5)) if len(cos) else None,
        "teacher": downstream_metrics(teacher_out, windows),
        "student": downstream_metrics(student_out, windows),
    }


# --- distillation ----------------------------------------------------------------------------------


@dataclass
class DistillConfig:
    """How to distil (defaults fit a 2-core CPU in minutes).

    Attributes:
        student: registry name (:data:`anyppg.quantization.students.STUDENTS`).
        epochs: passes over the training windows.
        batch_size: windows per step; the relational term needs a batch of several windows.
        lr / weight_decay: AdamW, cosine decay to 5 % of ``lr``.
        w_cos / w_mse / w_rel: embedding loss weights (cosine, scale-free MSE, relational).
        w_hr / w_quality / w_af: supervised head weights (labelled windows only).
        w_soft: weight of the teacher heads' outputs as soft targets (all windows).
        augment: random gain / time shift / noise on student inputs (teacher targets are fixed).
        seed: weights, batches and augmentation follow from it.
    """

    student: str = DEFAULT_STUDENT
    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    w_cos: float = 1.0
    w_mse: float = 1.0
    w_rel: float = 1.0
    w_hr: float = 1.0
    w_quality: float = 0.5
    w_af: float = 0.5
    w_soft: float = 0.5
    augment: bool = False
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DistillResult:
    """A distilled student and how it got there.

    Attributes:
        student: the trained student (eval mode).
        teacher: the teacher with its linear-probe heads.
        history: per-epoch mean training losses by term.
        metrics: :func:`compare` on the held-out windows.
        seconds: wall time of the distillation loop.
    """

    student: Student
    teacher: TeacherWithHeads
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def embedding_losses(s: torch.Tensor, t: torch.Tensor, t_power: float) -> dict[str, torch.Tensor]:
    """Cosine, scale-free MSE and relational terms between student ``s`` and teacher ``t`` ``(B, D)``."""
    cos = 1.0 - F.cosine_similarity(s, t, dim=1).mean()
    mse = (s - t).pow(2).sum(1).mean() / t_power
    sn, tn = F.normalize(s, dim=1), F.normalize(t, dim=1)
    rel = (sn @ sn.T - tn @ tn.T).pow(2).mean()  # (B, B) similarity structure
    return {"cos": cos, "mse": mse, "rel": rel}


def _bce_known(logit: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    known = labels >= 0
    if not known.any():
        return logit.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logit[known], labels[known].float())


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    gain = 1.0 + 0.1 * torch.randn(b, 1, 1, generator=g)
    shift = int(torch.randint(-12, 13, (), generator=g))
    return torch.roll(x, shift, dims=-1) * gain + 0.02 * torch.randn(x.shape, generator=g)


def distill(
    teacher_encoder: nn.Module,
    train: WindowSet,
    val: WindowSet,
    config: DistillConfig | None = None,
    extra_unlabeled: WindowSet | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
    embed_progress: Callable[[int, int], None] | None = None,
) -> DistillResult:
    """Distil ``teacher_encoder`` into a fresh student (see the module docstring for the loss).

    Args:
        teacher_encoder: frozen PPG encoder mapping ``(B, 1, 1250)`` to ``(B, D)``.
        train: labelled training windows (the teacher's probes are fitted on them too).
        val: held-out windows for the side-by-side report.
        config: hyper-parameters.
        extra_unlabeled: more windows (e.g. real recordings) for the embedding and soft-head terms.
        progress: called after each epoch with ``(epoch, mean losses)``.
        embed_progress: called while the teacher's embeddings are cached (the long first step) with
            ``(windows embedded, windows in all)``.

    Raises:
        ValueError: no training windows, or the teacher's embedding size differs from the student's
            (checked on two windows before any other work).
    """
    cfg = config or DistillConfig()
    if len(train) == 0:
        raise ValueError("distillation needs training windows; got 0")
    torch.manual_seed(cfg.seed)
    teacher_encoder = teacher_encoder.eval()
    student = build_student(cfg.student, seed=cfg.seed)
    teacher_dim = embed(teacher_encoder, train.ppg[:2]).shape[1]
    if student.config.embedding_dim != teacher_dim:
        raise ValueError(
            f"teacher embeds to {teacher_dim} dims but {cfg.student} has {student.config.embedding_dim}; "
            f"distil from a {student.config.embedding_dim}-d teacher (pretrain --preset demo or anyppg; "
            "the debug preset's encoder is 32-d)"
        )
    t0 = time.perf_counter()
    n_extra = 0 if extra_unlabeled is None else len(extra_unlabeled)
    n_all = len(train) + n_extra

    def report(offset: int) -> Callable[[int], None] | None:
        if embed_progress is None:
            return None
        return lambda done: embed_progress(offset + done, n_all)

    t_train = embed(teacher_encoder, train.ppg, progress=report(0))  # (N, D)
    probes = LinearProbes.fit(t_train, train)
    teacher = TeacherWithHeads(teacher_encoder, probes).eval()
    data = WindowSet.concat([train, extra_unlabeled]) if extra_unlabeled is not None else train
    t_emb = (
        t_train
        if data is train
        else np.concatenate(
            [t_train, embed(teacher_encoder, extra_unlabeled.ppg, progress=report(len(train)))]
        )
    )
    log.info("teacher embeddings for %d windows in %.1f s", len(data), time.perf_counter() - t0)
    # Soft targets: the teacher heads' outputs (HR in the student's normalised units).
    with torch.no_grad():
        t_heads = teacher.heads(torch.from_numpy(t_emb))  # (N, 3)
    soft_hr = (t_heads[:, 0] - HR_CENTER_BPM) / HR_SCALE_BPM
    x_all = torch.from_numpy(data.ppg)[:, None, :]  # (N, 1, 1250)
    t_all = torch.from_numpy(t_emb)
    hr_all = torch.from_numpy((data.hr - HR_CENTER_BPM) / HR_SCALE_BPM)  # NaN where unknown
    q_all = torch.from_numpy(data.quality.astype(np.int64))
    af_all = torch.from_numpy(data.af.astype(np.int64))
    t_power = float(t_all.pow(2).sum(1).mean().clamp_min(1e-12))

    steps_per_epoch = math.ceil(len(data) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step / max(total, 1), 1.0)))
    )
    g = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    student.train()
    for epoch in range(cfg.epochs):
        sums: dict[str, float] = {}
        order = torch.randperm(len(data), generator=g)
        for start in range(0, len(data), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            if len(idx) < 2:
                continue  # BatchNorm and the relational term need two windows
            x = x_all[idx]
            if cfg.augment:
                x = _augment(x, g)
            emb, hr_bpm, q_logit, af_logit, _rhythm = student(x)
            hr = (hr_bpm[:, 0] - HR_CENTER_BPM) / HR_SCALE_BPM
            parts = embedding_losses(emb, t_all[idx], t_power)
            hr_known = torch.isfinite(hr_all[idx])
            parts["hr"] = (
                F.huber_loss(hr[hr_known], hr_all[idx][hr_known]) if hr_known.any() else hr.sum() * 0
            )
            parts["quality"] = _bce_known(q_logit[:, 0], q_all[idx])
            parts["af"] = _bce_known(af_logit[:, 0], af_all[idx])
            parts["soft"] = (
                F.huber_loss(hr, soft_hr[idx])
                + F.mse_loss(q_logit[:, 0], t_heads[idx, 1])
                + F.mse_loss(af_logit[:, 0], t_heads[idx, 2])
            ) / 3
            loss = (
                cfg.w_cos * parts["cos"] + cfg.w_mse * parts["mse"] + cfg.w_rel * parts["rel"]
                + cfg.w_hr * parts["hr"] + cfg.w_quality * parts["quality"] + cfg.w_af * parts["af"]
                + cfg.w_soft * parts["soft"]
            )  # fmt: skip
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            for k, v in {"loss": loss, **parts}.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(idx)
        means = {k: v / len(data) for k, v in sums.items()}
        history.append(means)
        log.info("epoch %d/%d %s", epoch + 1, cfg.epochs, " ".join(f"{k}={v:.4f}" for k, v in means.items()))
        if progress is not None:
            progress(epoch + 1, means)
    student.eval()
    seconds = time.perf_counter() - t0
    metrics = compare(predict(student, val.ppg), predict(teacher, val.ppg), val) if len(val) else {}
    return DistillResult(student, teacher, history, metrics, seconds)


def check_teacher_dim(teacher: nn.Module, path: str, expected: int) -> None:
    """Refuse a teacher whose embedding size does not match the student's.

    Raises:
        CheckpointError: naming the file, the found and the expected size.
    """
    with torch.no_grad():
        dim = int(teacher(torch.zeros(2, 1, INPUT_SAMPLES)).shape[-1])
    if dim != expected:
        raise CheckpointError(path, f"teacher embeds to {dim} dims; the students expect {expected}")
