"""Held-out evaluation of a pretrained teacher on real subjects: retrieval and linear probes with CIs.

What is measured (every number on subjects the teacher and the probes never saw):

- **retrieval**: for each test window of the real paired store (BIDMC, MIMIC-DB, TROIKA test subjects,
  :data:`anyppg.trainer.real_corpus.HELD_OUT`), is its own ECG window the nearest (top-1) or among the
  5 nearest (top-5) of N candidate ECG windows, in the CLIP space? Candidates are random pools of N test
  windows (several shuffles), and the whole test set; chance is 1/N and 5/N.
- **probes** on frozen embeddings, fitted on the training subjects, regularisation picked on the
  validation subjects, scored on the test subjects:
  ``hr`` (ridge, MAE in bpm against the ECG R-peak rate; also per dataset), ``quality`` (logistic,
  AUROC; a window is usable when the PPG heart rate of :func:`anyppg.signal.heart_rate` is within
  :data:`AGREE_BPM` of the ECG's, unusable when it is more than :data:`DISAGREE_BPM` off; in between
  is left out), and ``af`` (logistic, AUROC, AF against the five other rhythms on the Liu 2022 10-s
  finger segments, split by patient with :data:`LIU_HELD_OUT`).
- each probe is run on the pretrained encoder (its 512-d output, and its 128-d CLIP space after the
  projector), the same architecture untrained (random init) and the hand-crafted features of
  :mod:`anyppg.trainer.features`.

95 % confidence intervals are percentile bootstraps over test *subjects* (patients), never windows.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anyppg.errors import DataFormatError

from .evaluate import (
    METRICS,
    Embedder,
    EvalReport,
    TaskResult,
    _fit_select,
    bootstrap_ci,
    checkpoint_embedder,
    handcrafted_embedder,
    random_init_embedder,
)
from .real_corpus import HELD_OUT

__all__ = [
    "AGREE_BPM",
    "DISAGREE_BPM",
    "LIU_HELD_OUT",
    "RealEvalReport",
    "RetrievalResult",
    "agreement_quality",
    "clip_space_embedder",
    "evaluate_real",
    "liu_windows",
    "retrieval",
    "segment_windows",
]

log = logging.getLogger(__name__)

AGREE_BPM = 5.0
DISAGREE_BPM = 10.0
MODEL_FS = 125.0
MODEL_SAMPLES = 1250
PAD_S = 3.0  # mirrored lead-in that settles the causal band-pass before a short segment starts

#: Liu 2022 patients held out for the AF probe, drawn once per stratum (>= 50 AF segments or not).
LIU_HELD_OUT: dict[str, tuple[str, ...]] = {
    "test": (
        "MPA_181221154421",
        "MPA_190110210436",
        "MPA_190111161158",
        "MPA_190123210803",
        "MPA_190323102936",
        "MPA_190505154937",
        "MPA_200811202033",
        "MPA_200821111253",
    ),
    "val": ("MPA_190226231428", "MPA_190508215047", "MPA_191017195505", "MPA_200904171535"),
}
LIU_AF_LABEL = 5  # Liu's label order: sinus, PVC, PAC, VT, SVT, AF


@dataclass
class RetrievalResult:
    """PPG -> ECG retrieval among ``candidates`` windows of held-out subjects."""

    candidates: int
    top1: float
    top1_ci: tuple[float, float]
    top5: float
    top5_ci: tuple[float, float]
    top1_chance: float
    top5_chance: float
    windows: int
    subjects: int
    within_subject: bool = False  # the candidates are one subject's own windows


@dataclass
class RealEvalReport:
    """Retrieval and probe results of one teacher, with what they were measured on."""

    checkpoint: str
    retrieval: list[RetrievalResult] = field(default_factory=list)
    probes: EvalReport = field(default_factory=EvalReport)
    splits: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "retrieval": [asdict(r) for r in self.retrieval],
            "probes": self.probes.to_dict(),
            "splits": self.splits,
            "elapsed_s": self.elapsed_s,
        }

    def to_markdown(self) -> str:
        """Retrieval table, then the probe table (``value [95 % CI]``, CIs over subjects)."""
        lines = [
            "| PPG→ECG retrieval | top-1 [95 % CI] | chance | top-5 [95 % CI] | chance |",
            "|---|---|---|---|---|",
        ]
        for r in self.retrieval:
            among = (
                f"among {r.candidates} of the same subject's" if r.within_subject else f"among {r.candidates}"
            )
            lines.append(
                f"| {among} ({r.windows} windows, {r.subjects} subj.) | {_pct(r.top1, r.top1_ci)} | "
                f"{100 * r.top1_chance:.2g} % | {_pct(r.top5, r.top5_ci)} | {100 * r.top5_chance:.2g} % |"
            )
        return "\n".join(lines) + "\n\n" + self.probes.to_markdown()


def _pct(v: float, ci: tuple[float, float]) -> str:
    return f"{100 * v:.1f} % [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


# --- data ------------------------------------------------------------------------------------------


def segment_windows(segments: np.ndarray, fs: float) -> np.ndarray:
    """Model inputs from independent 10 s segments: ``(N, n)`` at ``fs`` -> ``(N, 1250)`` float32.

    Each segment is resampled to 125 Hz (polyphase), led in by its own first :data:`PAD_S` seconds
    mirrored (so the causal 0.5-8 Hz band-pass of the SDK has settled when the segment starts), filtered
    with :class:`anyppg.signal.filters.PPGBandpass`, and z-scored.

    Raises:
        DataFormatError: ``segments`` is not 2-D or shorter than 10 s at ``fs``.
    """
    from fractions import Fraction

    from scipy.signal import resample_poly

    from anyppg.signal import zscore
    from anyppg.signal.filters import PPGBandpass

    x = np.asarray(segments, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < round(10.0 * fs):
        raise DataFormatError("segments", f"expected (N, >= {round(10.0 * fs)}) at {fs:g} Hz; got {x.shape}")
    ratio = Fraction(MODEL_FS / fs).limit_denominator(1000)
    y = resample_poly(x, ratio.numerator, ratio.denominator, axis=1)[:, :MODEL_SAMPLES]  # (N, 1250)
    pad = round(PAD_S * MODEL_FS)
    led = np.concatenate([y[:, pad:0:-1], y], axis=1)  # (N, pad + 1250)
    out = np.empty((len(y), MODEL_SAMPLES), dtype=np.float32)
    for i, row in enumerate(led):
        out[i] = zscore(PPGBandpass(MODEL_FS).process(row)[pad:])
    return out


def liu_windows(root: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The Liu 2022 segments of the data folder as model windows.

    Returns:
        ``(ppg (N, 1250) float32, af (N,) 1/0, patient (N,) str, split (N,) str)``; split from
        :data:`LIU_HELD_OUT` (``train`` for the other patients).

    Raises:
        DataFormatError: no ``liu_arrhythmia/MPA_*.npz`` files, or a file lacks a key.
    """
    files = sorted(Path(root, "liu_arrhythmia").glob("MPA_*.npz"))
    if not files:
        raise DataFormatError(str(Path(root, "liu_arrhythmia")), "no MPA_*.npz files (Liu 2022 segments)")
    ppg, af, patient, split = [], [], [], []
    for path in files:
        with np.load(path) as z:
            try:
                segs, labels, fs = z["ppg_segments"], z["labels"].ravel(), float(z["fs_ppg"])
            except KeyError as exc:
                raise DataFormatError(str(path), f"missing array {exc}") from exc
        ppg.append(segment_windows(segs, fs))
        af.append((labels == LIU_AF_LABEL).astype(np.int8))
        patient += [path.stem] * len(labels)
        which = next((s for s, names in LIU_HELD_OUT.items() if path.stem in names), "train")
        split += [which] * len(labels)
    return np.concatenate(ppg), np.concatenate(af), np.array(patient), np.array(split)


def agreement_quality(ppg: np.ndarray, ecg_hr: np.ndarray) -> np.ndarray:
    """Quality labels from heart-rate agreement: 1 when the PPG window's heart rate
    (:func:`anyppg.signal.heart_rate`, bpm) is within :data:`AGREE_BPM` of the ECG's, 0 when more than
    :data:`DISAGREE_BPM` off or not found, -1 in between or without an ECG rate."""
    from anyppg.signal import heart_rate

    out = np.full(len(ppg), -1, dtype=np.int8)
    for i, (w, ref) in enumerate(zip(ppg, ecg_hr, strict=True)):
        if not math.isfinite(ref):
            continue
        est = heart_rate(np.asarray(w, dtype=np.float64), MODEL_FS)
        err = abs(est - ref) if math.isfinite(est) else math.inf
        out[i] = 1 if err <= AGREE_BPM else 0 if err > DISAGREE_BPM else -1
    return out


def _store_split(store: Any, split: str, max_windows: int | None, seed: int) -> dict[str, np.ndarray]:
    """PPG, ECG and labels of the real windows (no simulated ones) of one store split."""
    view = store.split(split)
    labels = view.labels()
    sources = np.array(store.sources)[labels["source"]] if len(labels) else np.array([], dtype=str)
    idx = np.flatnonzero((sources != "sim") & (labels["has_ecg"] == 1))
    if max_windows is not None and len(idx) > max_windows:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_windows, replace=False))
    ppg, ecg, lab = view.take(idx) if len(idx) else (np.zeros((0, 1250), np.float32), None, labels[:0])
    subjects = np.array(store.subjects)[lab["subject"]] if len(idx) else np.array([], dtype=str)
    return {
        "ppg": ppg,
        "ecg": ecg,
        "hr": lab["hr"].astype(np.float64),
        "subject": subjects,
        "dataset": sources[idx],
    }


# --- retrieval --------------------------------------------------------------------------------------


def _load_clip(checkpoint: str | os.PathLike[str]) -> tuple[Any, Any]:
    """The CLIP model (PPG encoder + both projectors) and the frozen ECG encoder of a checkpoint, in eval mode."""
    from .checkpoints import read_checkpoint
    from .clip import PPGECGClip
    from .config import PretrainConfig
    from .encoders import net1d_from_config

    ckpt = read_checkpoint(checkpoint)
    config = dict(ckpt["config"])
    cfg = PretrainConfig.from_dict({k: config[k] for k in ("name", "model")})
    ecg_encoder = net1d_from_config(config["ecg_encoder"])
    ecg_encoder.load_state_dict(ckpt["ecg_encoder"])
    model = PPGECGClip(cfg.model, ecg_features=ecg_encoder.out_features)
    state = {"logit_scale": ckpt["logit_scale"]}
    for part in ("ppg_encoder", "ppg_projector", "ecg_projector"):
        state.update({f"{part}.{k}": v for k, v in ckpt[part].items()})
    model.load_state_dict(state)
    return model.eval(), ecg_encoder.eval()


def clip_space_embedder(checkpoint: str | os.PathLike[str], name: str = "pretrained, CLIP space") -> Embedder:
    """The PPG side of the alignment: encoder, then projector, L2-normalised ``(N, 128)`` (the space
    where PPG meets ECG; the encoder's 512-d output is what students distil)."""
    import torch

    model, _ = _load_clip(checkpoint)

    def fn(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            h = model.ppg_encoder(torch.from_numpy(x).unsqueeze(1))  # (B, 512)
            return torch.nn.functional.normalize(model.ppg_projector(h), dim=1).numpy()  # (B, 128)

    return Embedder(name, fn, f"PPG encoder + projector from {os.fspath(checkpoint)}, 128-d")


def _clip_embeddings(
    checkpoint: str | os.PathLike[str], ppg: np.ndarray, ecg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised CLIP embeddings ``(N, D)`` of PPG and ECG windows with a pretraining checkpoint."""
    import torch

    model, ecg_encoder = _load_clip(checkpoint)
    zp, ze = [], []
    with torch.inference_mode():
        for a in range(0, len(ppg), 256):
            p = torch.from_numpy(np.ascontiguousarray(ppg[a : a + 256])).unsqueeze(1)  # (b, 1, 1250)
            e = torch.from_numpy(np.ascontiguousarray(ecg[a : a + 256])).unsqueeze(1)  # (b, 1, 5000)
            z_ppg, z_ecg, _ = model(p, ecg_encoder(e))  # (b, D), (b, D)
            zp.append(z_ppg.numpy())
            ze.append(z_ecg.numpy())
    return np.concatenate(zp), np.concatenate(ze)


def _pool_hits(
    sims: np.ndarray, idx: np.ndarray, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 and top-5 hits (1 / 0) of the windows ``idx`` in one random partition of them into pools
    of ``size`` (the windows left over join a pool topped up from the others)."""
    n = len(idx)
    hits1, hits5 = np.zeros(n), np.zeros(n)
    order = rng.permutation(n)
    pools = [order[a : a + size] for a in range(0, n - n % size, size)]
    for pool in pools:
        block = sims[np.ix_(idx[pool], idx[pool])]  # (size, size): PPG rows, ECG columns
        rank = (block > np.diag(block)[:, None]).sum(1)  # candidates scoring above the true one
        hits1[pool] += rank == 0
        hits5[pool] += rank < 5
    if n % size:
        rest = order[n - n % size :]
        pool = np.concatenate([rest, order[: size - len(rest)]])
        block = sims[np.ix_(idx[pool], idx[pool])][: len(rest)]
        rank = (block > np.diag(sims[np.ix_(idx[rest], idx[rest])])[:, None]).sum(1)
        hits1[rest] += rank == 0
        hits5[rest] += rank < 5
    return hits1, hits5


def retrieval(
    z_ppg: np.ndarray,
    z_ecg: np.ndarray,
    subjects: np.ndarray,
    *,
    pool_sizes: tuple[int, ...] = (32, 128),
    within_subject: int = 32,
    repeats: int = 10,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[RetrievalResult]:
    """PPG -> ECG top-1 / top-5 retrieval in random candidate pools, among all windows, and among one
    subject's own windows.

    Window ``i``'s PPG embedding is compared (dot product) with the ECG embeddings of its pool; a hit
    is its own ECG ranking first (top-1) or within the first five (top-5). Each window's hit rate is
    averaged over ``repeats`` shuffles; the CI resamples subjects. Pools drawn from everyone are mostly
    other people's windows, so recognising the person goes a long way there; pools of one subject's
    own windows (``within_subject`` candidates, subjects with fewer windows left out) can only be told
    apart by what changes over time (heart rate, rhythm).

    Args:
        z_ppg, z_ecg: ``(N, D)`` embeddings of the same N windows.
        subjects: ``(N,)`` subject of each window.
        pool_sizes: candidates per pool; the whole set (N candidates) is always added.
        within_subject: candidates per pool of one subject's windows (0: none).
        repeats: random pool draws per size.
        n_boot: bootstrap resamples.
        seed: pools and bootstrap.
    """
    n = len(z_ppg)
    rng = np.random.default_rng(seed)
    sims = z_ppg @ z_ecg.T  # (N, N)
    everyone = np.arange(n)
    pools: list[tuple[int, list[np.ndarray], bool]] = [
        (s, [everyone], False) for s in [s for s in pool_sizes if s < n] + [n]
    ]
    if within_subject:
        own = [np.flatnonzero(subjects == s) for s in np.unique(subjects)]
        own = [idx for idx in own if len(idx) >= within_subject]
        if own:
            pools.append((within_subject, own, True))
    results = []
    for size, groups, within in pools:
        draws = repeats if size < n else 1
        scored = np.concatenate(groups)
        hits1, hits5 = np.zeros(n), np.zeros(n)
        for _ in range(draws):
            for idx in groups:
                h1, h5 = _pool_hits(sims, idx, size, rng)
                hits1[idx] += h1
                hits5[idx] += h5
        hits1, hits5 = hits1[scored] / draws, hits5[scored] / draws
        who = subjects[scored]
        mean = lambda y, p: float(np.mean(y))  # noqa: E731 - the bootstrap's metric(y, p)
        results.append(
            RetrievalResult(
                candidates=size,
                top1=float(hits1.mean()),
                top1_ci=bootstrap_ci(mean, hits1, hits1, who, n_boot=n_boot, seed=seed),
                top5=float(hits5.mean()),
                top5_ci=bootstrap_ci(mean, hits5, hits5, who, n_boot=n_boot, seed=seed),
                top1_chance=1.0 / size,
                top5_chance=min(5, size) / size,
                windows=len(scored),
                subjects=len(np.unique(who)),
                within_subject=within,
            )
        )
    return results


# --- probes -----------------------------------------------------------------------------------------


def _probe(
    task: str,
    embedder: str,
    kind: str,
    x: dict[str, np.ndarray],
    y: dict[str, np.ndarray],
    groups: np.ndarray,
    n_boot: int,
    seed: int,
    subsets: dict[str, np.ndarray] | None = None,
) -> list[TaskResult]:
    """Fit on train, pick on val, score on test (and on each named test subset)."""
    metric = "mae_bpm" if kind == "ridge" else "auroc"
    fn = METRICS[metric]
    if kind == "logistic" and min(len(np.unique(y["train"])), len(np.unique(y["test"]))) < 2:
        nan = float("nan")
        n_train, n_test = len(y["train"]) + len(y["val"]), len(y["test"])
        note = "train or test split has one class only"
        return [
            TaskResult(
                task, embedder, metric, nan, nan, nan, n_train, n_test, len(np.unique(groups)), note=note
            )
        ]
    model, h = _fit_select(kind, x["train"], y["train"], x["val"], y["val"])
    pred = model.predict(x["test"]) if kind == "ridge" else model.predict_proba(x["test"])[:, 1]
    out = []
    for name, mask in {task: np.ones(len(pred), bool), **(subsets or {})}.items():
        if not mask.any():
            continue
        lo, hi = bootstrap_ci(fn, y["test"][mask], pred[mask], groups[mask], n_boot=n_boot, seed=seed)
        value = fn(y["test"][mask], pred[mask])
        n_train = len(y["train"]) + len(y["val"])
        n_subj = len(np.unique(groups[mask]))
        out.append(TaskResult(name, embedder, metric, value, lo, hi, n_train, int(mask.sum()), n_subj, h))
    return out


def evaluate_real(
    checkpoint: str | os.PathLike[str],
    store_path: str | os.PathLike[str],
    data: str | os.PathLike[str] | None,
    *,
    embedders: list[Embedder] | None = None,
    max_windows: int = 4000,
    n_boot: int = 1000,
    seed: int = 0,
) -> RealEvalReport:
    """Retrieval and probes of a teacher on held-out real subjects (see the module docstring).

    Args:
        checkpoint: the pretraining checkpoint (``anyppg pretrain --preset real``).
        store_path: the real store (:func:`anyppg.trainer.real_corpus.build_real_store`).
        data: the data folder for the Liu AF probe (None: ``ANYPPG_DATA``; skipped when neither has it).
        embedders: what to probe (default: the checkpoint, the same architecture untrained, hand-crafted).
        max_windows: cap on the train split's windows (seeded subset); val and test are used whole.
        n_boot: bootstrap resamples.
        seed: subsets, pools and bootstraps.

    Raises:
        StoreError: not a store. CheckpointError: the checkpoint does not load.
    """
    from .store import WindowStore

    started = time.monotonic()
    store = WindowStore(store_path)
    split = {
        "train": _store_split(store, "train", max_windows, seed),
        "val": _store_split(store, "val", None, seed),
        "test": _store_split(store, "test", None, seed),
    }
    test = split["test"]
    report = RealEvalReport(checkpoint=os.fspath(checkpoint))
    report.splits = {
        "paired": {k: {s: list(v) for s, v in d.items()} for k, d in HELD_OUT.items()},
        "liu": {s: list(v) for s, v in LIU_HELD_OUT.items()},
    }
    log.info("retrieval on %d test windows", len(test["hr"]))
    z_ppg, z_ecg = _clip_embeddings(checkpoint, test["ppg"], test["ecg"])
    report.retrieval = retrieval(z_ppg, z_ecg, test["subject"], n_boot=n_boot, seed=seed)

    embedders = embedders or [
        checkpoint_embedder(checkpoint, "pretrained"),
        clip_space_embedder(checkpoint),
        random_init_embedder(checkpoint, seed=seed, name="untrained"),
        handcrafted_embedder("handcrafted"),
    ]
    probes = EvalReport(
        embedders={e.name: e.description for e in embedders},
        store=os.fspath(store_path),
        store_counts=store.counts,
    )
    quality = {s: agreement_quality(d["ppg"], d["hr"]) for s, d in split.items()}
    hr_ok = {s: np.isfinite(d["hr"]) for s, d in split.items()}
    q_ok = {s: quality[s] >= 0 for s in split}
    liu = None
    try:
        from .real_corpus import data_folder

        root = data_folder(data)
        if (root / "liu_arrhythmia").is_dir():
            liu = liu_windows(root)
    except DataFormatError as exc:
        probes.notes.append(f"af skipped: {exc}")
    datasets = sorted(set(test["dataset"]))
    for emb in embedders:
        t0 = time.monotonic()
        feats = {s: emb(d["ppg"]) for s, d in split.items()}
        subsets = {f"hr:{ds}": test["dataset"][hr_ok["test"]] == ds for ds in datasets}
        probes.results += _probe(
            "hr",
            emb.name,
            "ridge",
            {s: feats[s][hr_ok[s]] for s in split},
            {s: split[s]["hr"][hr_ok[s]] for s in split},
            test["subject"][hr_ok["test"]],
            n_boot,
            seed,
            subsets,
        )
        probes.results += _probe(
            "quality (HR agreement)",
            emb.name,
            "logistic",
            {s: feats[s][q_ok[s]] for s in split},
            {s: quality[s][q_ok[s]].astype(np.float64) for s in split},
            test["subject"][q_ok["test"]],
            n_boot,
            seed,
        )
        if liu is not None:
            ppg, af, patient, which = liu
            train_idx = np.flatnonzero(which == "train")
            if len(train_idx) > max_windows:
                train_idx = np.sort(np.random.default_rng(seed).choice(train_idx, max_windows, replace=False))
            idx = {
                "train": train_idx,
                "val": np.flatnonzero(which == "val"),
                "test": np.flatnonzero(which == "test"),
            }
            probes.results += _probe(
                "af (Liu 2022, AF vs 5 other rhythms)",
                emb.name,
                "logistic",
                {s: emb(ppg[i]) for s, i in idx.items()},
                {s: af[i].astype(np.float64) for s, i in idx.items()},
                patient[idx["test"]],
                n_boot,
                seed,
            )
        log.info("probes with %s in %.1f s", emb.name, time.monotonic() - t0)
    probes.notes.append(
        f"quality label: |PPG HR - ECG HR| <= {AGREE_BPM:g} bpm usable, > {DISAGREE_BPM:g} bpm unusable "
        f"(test: {int((quality['test'] == 1).sum())} usable, {int((quality['test'] == 0).sum())} unusable)"
    )
    probes.notes.append(f"95 % CIs: percentile bootstrap over test subjects ({n_boot} resamples)")
    report.probes = probes
    report.elapsed_s = round(time.monotonic() - started, 1)
    return report


def write_report(report: RealEvalReport, out: str | os.PathLike[str]) -> None:
    """``real_eval.json`` and ``real_eval.md`` in ``out``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "real_eval.json").write_text(json.dumps(report.to_dict(), indent=1, default=float) + "\n")
    (folder / "real_eval.md").write_text(report.to_markdown())
