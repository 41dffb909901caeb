"""Linear-probe evaluation of frozen PPG embeddings, as in AnyPPG: ridge / logistic probes + bootstrap CIs.

Any embedding function can be evaluated: an ``Embedder`` wraps a callable ``(N, 1250) float32 ->
(N, D)``. Ready-made ones: the pretrained encoder from a checkpoint, the same architecture untrained
(random init), a deployed student (``.pte`` / ``.tflite``, its ``embedding`` output), and hand-crafted
HRV/statistical features (:mod:`anyppg.trainer.features`).

Protocol (per task): standardise features (train-split statistics), fit the probe on the store's
``train`` split, pick its regularisation on ``val``, report on ``test``. Splits are by subject, so no
subject is seen by both the probe and the metric. 95 % confidence intervals come from a bootstrap over
test *subjects* (windows of one subject are not independent).

Tasks on a store: ``hr`` (ridge, MAE in bpm, labels from ECG R-peaks), ``af`` (logistic, AUROC),
``quality`` (logistic, AUROC). On real recordings with a device heart rate (``hr_real:<name>``): the HR
probe fitted on the store is applied to the recording's windows and scored against the device (MAE,
block bootstrap over 1-minute blocks): a simulated-to-real transfer test.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from anyppg.errors import AnyPPGError

__all__ = [
    "Embedder",
    "EvalReport",
    "TaskResult",
    "bootstrap_ci",
    "checkpoint_embedder",
    "evaluate",
    "handcrafted_embedder",
    "model_file_embedder",
    "random_init_embedder",
    "torch_embedder",
]

log = logging.getLogger(__name__)

EmbedFn = Callable[[np.ndarray], np.ndarray]
RIDGE_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
LOGISTIC_CS = (0.001, 0.01, 0.1, 1.0, 10.0)


class EvaluationError(AnyPPGError, ValueError):
    """An evaluation cannot run as asked (e.g. an embedder returns the wrong shape).

    Attributes:
        reason: what is wrong.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- embedders -------------------------------------------------------------------------------------


@dataclass
class Embedder:
    """A named embedding function ``(N, 1250) float32 -> (N, D)``."""

    name: str
    fn: EmbedFn
    description: str = ""

    def __call__(self, windows: np.ndarray, batch_size: int = 256) -> np.ndarray:
        out = []
        for start in range(0, len(windows), batch_size):
            chunk = np.ascontiguousarray(windows[start : start + batch_size], dtype=np.float32)
            emb = np.asarray(self.fn(chunk), dtype=np.float64)
            if emb.ndim != 2 or emb.shape[0] != len(chunk):
                raise EvaluationError(
                    f"embedder {self.name!r} returned shape {emb.shape} for {len(chunk)} windows; expected ({len(chunk)}, D)"
                )
            out.append(emb)
        return np.concatenate(out) if out else np.zeros((0, 0))


def torch_embedder(module: Any, name: str, description: str = "", device: str = "cpu") -> Embedder:
    """Wrap a torch module mapping ``(B, 1, 1250)`` to ``(B, D)`` (run in eval mode, no grad)."""
    import torch

    module = module.to(device).eval()

    def fn(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.from_numpy(x).unsqueeze(1).to(device))  # (B, 1, 1250) -> (B, D)
            if isinstance(out, tuple | list):
                out = out[0]
            return out.float().cpu().numpy()

    return Embedder(name, fn, description)


def checkpoint_embedder(path: str | os.PathLike[str], name: str = "pretrained") -> Embedder:
    """The PPG encoder of a pretraining checkpoint (or an official AnyPPG file).

    Raises:
        CheckpointError: the file cannot be loaded into the encoder.
    """
    from anyppg.trainer.checkpoints import load_ppg_encoder

    return torch_embedder(load_ppg_encoder(path), name, f"PPG encoder from {os.fspath(path)}")


def random_init_embedder(
    checkpoint: str | os.PathLike[str] | None = None, seed: int = 0, name: str = "random-init"
) -> Embedder:
    """The same architecture as ``checkpoint`` (or AnyPPG's Net1D), freshly initialised with ``seed``."""
    import torch

    from anyppg.trainer.checkpoints import read_checkpoint
    from anyppg.trainer.encoders import ANYPPG_PPG_CONFIG, net1d_from_config

    config = dict(ANYPPG_PPG_CONFIG)
    if checkpoint is not None:
        stored = read_checkpoint(checkpoint).get("config") or {}
        config = dict(stored.get("ppg_encoder") or config)
    torch.manual_seed(seed)
    return torch_embedder(net1d_from_config(config), name, f"untrained Net1D (seed {seed})")


def model_file_embedder(path: str | os.PathLike[str], name: str | None = None) -> Embedder:
    """A deployed model (``.pte`` / ``.tflite``) through the SDK runtime; uses its ``embedding`` output."""
    from anyppg.sdk.runtime import load_model

    model = load_model(path)

    def fn(x: np.ndarray) -> np.ndarray:
        return model.run_batch(x[:, None, :])["embedding"]

    return Embedder(name or os.path.basename(os.fspath(path)), fn, f"deployed model {os.fspath(path)}")


def handcrafted_embedder(name: str = "handcrafted") -> Embedder:
    """HRV + spectral + statistical features (:mod:`anyppg.trainer.features`), no learning."""
    from anyppg.trainer.features import FEATURE_NAMES, handcrafted_features

    return Embedder(name, handcrafted_features, f"{len(FEATURE_NAMES)} HRV/spectral/shape features")


# --- metrics, bootstrap, probes --------------------------------------------------------------------


def _mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(y - p)))


def _auroc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney U statistic (ties count half); NaN with one class.

    Equal to ``sklearn.metrics.roc_auc_score`` (a test checks) at a fraction of its cost, which matters
    inside a 1,000-fold bootstrap.
    """
    from scipy.stats import rankdata

    y = np.asarray(y) == 1
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"mae_bpm": _mae, "auroc": _auroc}


def bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y: np.ndarray,
    p: np.ndarray,
    groups: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``metric(y, p)``, resampling whole groups (subjects) with replacement.

    Resamples where the metric is undefined (e.g. AUROC with one class) are dropped. With a single group
    the interval is (nan, nan): one subject says nothing about the next.
    """
    uniq, inverse = np.unique(groups, return_inverse=True)
    if len(uniq) < 2:
        return float("nan"), float("nan")
    members = [np.flatnonzero(inverse == g) for g in range(len(uniq))]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(uniq), len(uniq))
        idx = np.concatenate([members[g] for g in pick])
        v = metric(y[idx], p[idx])
        if math.isfinite(v):
            values.append(v)
    if not values:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    lo, hi = np.quantile(values, [a, 1 - a])
    return float(lo), float(hi)


@dataclass
class TaskResult:
    """One probe on one embedding."""

    task: str
    embedder: str
    metric: str
    value: float
    ci_low: float
    ci_high: float
    n_train: int
    n_test: int
    n_test_subjects: int
    hyperparameter: float | None = None
    note: str = ""


def _probe(kind: str, h: float, seed: int = 0) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = Ridge(alpha=h) if kind == "ridge" else LogisticRegression(C=h, max_iter=2000, random_state=seed)
    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), model)


def _fit_select(
    kind: str, x_tr: np.ndarray, y_tr: np.ndarray, x_va: np.ndarray, y_va: np.ndarray
) -> tuple[Any, float]:
    """Fit on train for each hyperparameter, keep the best on val, refit on train + val."""
    grid = RIDGE_ALPHAS if kind == "ridge" else LOGISTIC_CS
    metric = _mae if kind == "ridge" else _auroc
    best_h, best_v = grid[len(grid) // 2], None
    if len(y_va) and (kind == "ridge" or len(np.unique(y_va)) == 2):
        for h in grid:
            m = _probe(kind, h).fit(x_tr, y_tr)
            pred = m.predict(x_va) if kind == "ridge" else m.predict_proba(x_va)[:, 1]
            v = metric(y_va, pred)
            if best_v is None or (v < best_v if kind == "ridge" else v > best_v):
                best_h, best_v = h, v
    x_all = np.concatenate([x_tr, x_va]) if len(y_va) else x_tr
    y_all = np.concatenate([y_tr, y_va]) if len(y_va) else y_tr
    return _probe(kind, best_h).fit(x_all, y_all), best_h


# --- data ------------------------------------------------------------------------------------------


def load_split(
    store: Any, split: str, max_windows: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(ppg (N, 1250) float32, labels)`` of a store split; a seeded subset when ``max_windows`` is set."""
    view = store.split(split)
    labels = view.labels()
    idx = np.arange(len(labels))
    if max_windows is not None and len(idx) > max_windows:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_windows, replace=False))
    ppg = view.take(idx)[0] if len(idx) else np.zeros((0, 1250), np.float32)
    return ppg, labels[idx]


def real_hr_windows(name: str, hop_s: float = 10.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model windows of a packaged recording with the device's HR: ``(ppg, reference bpm, start_s)``.

    Only windows whose 10 s all carry device readings are kept (median reading in the window).
    """
    from anyppg import recordings
    from anyppg.signal import preprocess_recording

    rec = recordings.load(name)
    if rec.reference_hr is None or rec.ppg is None:
        raise EvaluationError(f"recording {name!r} has no PPG with a device heart rate")
    t, bpm = rec.reference_hr
    ppg, ref, starts = [], [], []
    for w in preprocess_recording(rec.ppg, rec.ppg_fs, hop_s=hop_s):
        inside = (t >= w.start_s) & (t < w.end_s)
        if np.count_nonzero(inside) and (t[inside].max() - t[inside].min()) >= 8.0:
            ppg.append(w.ppg)
            ref.append(float(np.median(bpm[inside])))
            starts.append(w.start_s)
    return np.array(ppg, dtype=np.float32).reshape(-1, 1250), np.array(ref), np.array(starts)


# --- the report ------------------------------------------------------------------------------------


@dataclass
class EvalReport:
    """All results, plus what was evaluated on what."""

    results: list[TaskResult] = field(default_factory=list)
    embedders: dict[str, str] = field(default_factory=dict)
    store: str = ""
    store_counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    references: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, default=float)

    def value(self, task: str, embedder: str) -> TaskResult | None:
        return next((r for r in self.results if r.task == task and r.embedder == embedder), None)

    def to_markdown(self) -> str:
        """A table: one row per task, one column per embedder, ``value [95 % CI]``."""
        names = list(self.embedders)
        tasks = list(dict.fromkeys(r.task for r in self.results))
        lines = [
            "| task | metric | " + " | ".join(names) + " |",
            "|---|---|" + "---|" * len(names),
        ]
        for task in tasks:
            first = next(r for r in self.results if r.task == task)
            arrow = "lower is better" if first.metric == "mae_bpm" else "higher is better"
            cells = []
            for name in names:
                r = self.value(task, name)
                if r is None or not math.isfinite(r.value):
                    cells.append(f"n/a ({r.note})" if r is not None and r.note else "n/a")
                    continue
                ci = "" if not math.isfinite(r.ci_low) else f" [{r.ci_low:.3g}, {r.ci_high:.3g}]"
                cells.append(f"{r.value:.3g}{ci}")
            n = f"n={first.n_test}, {first.n_test_subjects} subj."
            lines.append(f"| {task} ({n}) | {first.metric} ({arrow}) | " + " | ".join(cells) + " |")
        lines.append("")
        lines += [f"- **{k}**: {v}" for k, v in self.embedders.items()]
        for task, ref in self.references.items():
            lines.append(
                f"- {task} without a probe: `anyppg.signal.heart_rate` MAE "
                f"{ref['anyppg.signal.heart_rate_mae_bpm']:.3g} bpm; always answering the device's mean HR: "
                f"{ref['constant_mean_device_hr_mae_bpm']:.3g} bpm"
            )
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def evaluate(
    store_path: str | os.PathLike[str],
    embedders: Sequence[Embedder],
    *,
    tasks: Sequence[str] = ("hr", "af", "quality"),
    real: Sequence[str] = ("e2epyppg-wrist",),
    max_windows: int | None = 4000,
    n_boot: int = 1000,
    seed: int = 0,
) -> EvalReport:
    """Linear probes on each embedder's frozen embeddings (see the module docstring for the protocol).

    Args:
        store_path: a window store with ``train``, ``val`` and ``test`` splits.
        embedders: what to compare.
        tasks: store tasks among ``hr``, ``af``, ``quality``.
        real: packaged recordings with a device HR for the transfer test (skipped if not installed).
        max_windows: cap per split (seeded random subset) to bound the embedding cost.
        n_boot: bootstrap resamples.
        seed: subset, probe and bootstrap seed.

    Raises:
        StoreError: not a store. EvaluationError: an embedder returns a wrong shape, or no split has data.
    """
    from anyppg.errors import RecordingNotFoundError
    from anyppg.trainer.store import WindowStore

    started = time.monotonic()
    store = WindowStore(store_path)
    data = {s: load_split(store, s, max_windows, seed) for s in ("train", "val", "test")}
    if not len(data["train"][1]) or not len(data["test"][1]):
        raise EvaluationError(
            f"store {os.fspath(store_path)} needs windows in train and test; has {store.counts}"
        )
    report = EvalReport(
        embedders={e.name: e.description for e in embedders},
        store=os.fspath(store_path),
        store_counts=store.counts,
    )
    real_data = {}
    for name in real:
        try:
            real_data[name] = real_hr_windows(name)
        except RecordingNotFoundError as exc:
            report.notes.append(f"hr_real:{name} skipped: {exc}")
    if real_data:
        from anyppg.recordings import compare_heart_rate

        for name in real_data:
            cmp = compare_heart_rate(name, hop_s=10.0)
            report.references[f"hr_real:{name}"] = {
                "anyppg.signal.heart_rate_mae_bpm": round(cmp.mae_bpm, 3),
                "constant_mean_device_hr_mae_bpm": round(cmp.constant_mae_bpm, 3),
            }

    for emb in embedders:
        t0 = time.monotonic()
        feats = {s: emb(data[s][0]) for s in data}
        real_feats = {n: emb(w) for n, (w, _, _) in real_data.items()}
        log.info("embedded with %s in %.1f s", emb.name, time.monotonic() - t0)
        hr_probe = None
        for task in tasks:
            result, probe = _run_task(task, emb.name, feats, data, n_boot, seed)
            report.results.append(result)
            if task == "hr":
                hr_probe = probe
        for name, (_, ref, starts) in real_data.items():
            report.results.append(
                _run_real(name, emb.name, hr_probe, real_feats[name], ref, starts, n_boot, seed)
            )
    report.elapsed_s = round(time.monotonic() - started, 2)
    return report


def _run_task(
    task: str, embedder: str, feats: dict[str, np.ndarray], data: dict[str, Any], n_boot: int, seed: int
) -> tuple[TaskResult, Any]:
    field_, kind, metric = {
        "hr": ("hr", "ridge", "mae_bpm"),
        "af": ("af", "logistic", "auroc"),
        "quality": ("quality", "logistic", "auroc"),
    }[task]
    keep = {}
    for s in ("train", "val", "test"):
        y = data[s][1][field_].astype(np.float64)
        keep[s] = np.isfinite(y) if field_ == "hr" else (y == 0) | (y == 1)
    y = {s: data[s][1][field_][keep[s]].astype(np.float64) for s in keep}
    x = {s: feats[s][keep[s]] for s in keep}
    groups = data["test"][1]["subject"][keep["test"]]
    n_subj = len(np.unique(groups))
    empty = TaskResult(task, embedder, metric, float("nan"), float("nan"), float("nan"), len(y["train"]),
                       len(y["test"]), n_subj)  # fmt: skip
    if len(y["train"]) < 10 or len(y["test"]) < 2:
        empty.note = "too few labelled windows"
        return empty, None
    if kind == "logistic" and (len(np.unique(y["train"])) < 2 or len(np.unique(y["test"])) < 2):
        empty.note = "train or test split has one class only"
        return empty, None
    probe, h = _fit_select(kind, x["train"], y["train"], x["val"], y["val"])
    pred = probe.predict(x["test"]) if kind == "ridge" else probe.predict_proba(x["test"])[:, 1]
    fn = METRICS[metric]
    lo, hi = bootstrap_ci(fn, y["test"], pred, groups, n_boot=n_boot, seed=seed)
    result = TaskResult(task, embedder, metric, fn(y["test"], pred), lo, hi, len(y["train"]) + len(y["val"]),
                        len(y["test"]), n_subj, h)  # fmt: skip
    return result, probe


def _run_real(
    name: str,
    embedder: str,
    probe: Any,
    x: np.ndarray,
    ref: np.ndarray,
    starts: np.ndarray,
    n_boot: int,
    seed: int,
) -> TaskResult:
    task = f"hr_real:{name}"
    if probe is None or not len(ref):
        return TaskResult(task, embedder, "mae_bpm", float("nan"), float("nan"), float("nan"), 0, len(ref), 1,
                          note="no HR probe or no windows")  # fmt: skip
    pred = probe.predict(x)
    blocks = (starts // 60.0).astype(int)  # 1-minute blocks: neighbouring windows are not independent
    lo, hi = bootstrap_ci(_mae, ref, pred, blocks, n_boot=n_boot, seed=seed)
    return TaskResult(task, embedder, "mae_bpm", _mae(ref, pred), lo, hi, 0, len(ref), 1,
                      note="HR probe fitted on the store, applied to real windows vs the device's HR")  # fmt: skip
