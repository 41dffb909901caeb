"""Train a student's heads on real labels (heart rate, quality, rhythm/AF) and score it per dataset.

One multitask loss over windows from :mod:`anyppg.trainer.heads` (each term only where its label is
known):

- heart rate: Huber on ``(bpm - 125) / 50`` (the student's normalised units) against the ECG heart rate;
  with ``stretch_p`` > 0 a labelled window is time-stretched by a random factor ``s`` (log-uniform in
  ``stretch_range``, kept so ``s * bpm`` stays in 30-220 bpm) and its label multiplied by ``s``, so the
  head sees rates the ICU recordings rarely reach;
- quality: binary cross-entropy, positives weighted down to balance the rare unusable windows;
- rhythm: six-class cross-entropy on the Liu 2022 labels;
- ``af``: binary cross-entropy of AF against every other rhythm, on the same hidden layer, plus a
  consistency term pulling it to the log-odds of P(AF) from the rhythm head's softmax, so ``af`` and
  ``softmax(rhythm)[AF]`` tell the same story;
- embedding (optional): cosine + scale-free MSE to a frozen teacher's cached embeddings
  (:func:`anyppg.quantization.distill.embedding_losses`), through the trunk or (``embed_trunk=False``)
  into the embedding ``Linear`` alone.

With ``validation`` windows (subjects carved from the *training* subjects, never the held-out ones)
every epoch is scored on them, and the weights of the epoch with the lowest validation clinical
heart-rate MAE in the second half of training are kept (:attr:`HeadTrainConfig.select`). With
:attr:`HeadTrainConfig.ema` the weights scored, kept and returned are an exponential moving average
of the trained ones (the shipped students: 0.995 per step).

:func:`head_metrics` scores any model's outputs (eager, or an exported file run through its runtime)
the same way, so the model card's numbers are those of the file it describes.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from anyppg.quantization.students import (
    AF_CLASS,
    HR_CENTER_BPM,
    HR_RANGE_BPM,
    HR_SCALE_BPM,
    RHYTHM_CLASSES,
    Student,
    build_student,
)
from anyppg.signal.constants import MODEL_FS
from anyppg.trainer.heads import HeadWindows

log = logging.getLogger(__name__)

SINUS_CLASS = RHYTHM_CLASSES.index("sinus_rhythm")

CLINICAL = ("bidmc", "mimicdb")


@dataclass
class HeadTrainConfig:
    """Hyper-parameters of :func:`train_heads` (defaults fit a shared 2-core CPU in minutes).

    Attributes:
        student: registry name.
        epochs: passes over the training windows.
        batch_size: windows per step.
        lr / weight_decay: AdamW, cosine decay to 5 % of ``lr``.
        w_hr / w_quality / w_rhythm / w_af / w_consistency / w_embed: loss weights.
        embed_trunk: let the embedding term train the shared trunk (True), or only the embedding
            ``Linear`` on the label-trained features (False: the heads are then trained exactly as
            without a teacher).
        stretch_p / stretch_range: probability and factor range of the heart-rate time-stretch.
        stretch_mode: ``"uniform"`` re-times the whole window; ``"diastole"`` re-times beat by beat,
            the diastolic part more than the systolic one (:func:`retime_beats`), falling back to
            uniform where the window's beats cannot be found. Measured (student-s, ema 0.995, seeds
            0 / 1, diastole vs uniform): validation 2.80 / 2.90 vs 2.66 / 2.54 bpm, held-out BIDMC
            2.44 / 2.23 vs 2.39 / 2.53, MIMIC-DB 2.69 / 2.55 vs 2.53 / 2.39: no gain, not shipped.
        morph_p: probability that a window with a heart-rate label is reshaped by a random
            linear filter (:func:`_reshape`): a new pulse shape, the same beats. Measured (student-s,
            seed 0, 20 epochs, 0.5 vs 0): validation 2.53 vs 2.63 bpm, held-out BIDMC 2.42 vs 2.10,
            MIMIC-DB 3.57 vs 2.49, so the shipped students do not use it.
        rhythm_stretch_p / rhythm_stretch_range: probability and factor range of a time-stretch of
            the windows with a rhythm label (the label is kept): the same rhythm at a nearby rate.
            Measured (student-s on Liu alone, 4-fold cross-validation over the 22 Liu training
            patients, 30 epochs, ema 0.995, 0.5 vs 0): pooled out-of-fold AF AUROC 0.982 vs 0.978
            (folds -0.005 / +0.004 / +0.007 / +0.000), six-class accuracy 0.807 vs 0.825 (SVT and VT
            are partly defined by rate), so the shipped students do not use it.
        rhythm_smoothing: label smoothing of the six-class rhythm cross-entropy (not measured on real
            data; the shipped students use 0).
        counterfactual_p: probability that a window with a rhythm label is swapped for its
            counterfactual (:mod:`anyppg.signal.counterfactual`, built once before training from the
            window's own median beat): an AF window for its regular version, labelled sinus rhythm;
            any other for its irregular version, labelled AF. It teaches that AF is the timing, not
            a pulse shape (``benchmarks/bench_rhythm_shape.py`` found the shipped heads reading some
            shapes as AF). Measured (student-s on Liu alone, 4-fold cross-validation over the Liu
            training patients, 30 epochs; ``benchmarks/results/rhythm_cv_counterfactual.md``): 0.05
            keeps the pooled out-of-fold AF AUROC (0.978 vs 0.978 at 0) and six-class accuracy
            (0.836 vs 0.825) while the head comes to read the timing (irregular vs regular rebuilds
            0.998 vs 0.773) and not the shape (0.474 vs 0.540); 0.1 and 0.3 cost AF AUROC (0.972,
            0.964). The shipped students were built with 0, before this was measured.
        ema: decay of an exponential moving average of the weights (and BatchNorm statistics) kept
            alongside training, per step; 0 turns it off. With it, validation scores, the selected
            epoch and the returned student are the averaged weights'. At 0.995 (a horizon of about
            three epochs) it narrowed the spread between weight seeds: held-out clinical heart-rate
            MAE, student-s fp32, seeds 0 / 1, BIDMC 2.39 / 2.53 and MIMIC-DB 2.53 / 2.39 bpm with it,
            2.10 / 2.75 and 2.49 / 3.42 without.
        select: ``"last"`` keeps the last epoch; ``"val_hr"`` the epoch (second half) with the lowest
            validation clinical heart-rate MAE (needs validation windows).
        max_seconds: stop after the epoch that crosses this wall-clock budget.
        seed: weights, batch order and augmentation follow from it.
    """

    student: str = "student-s"
    epochs: int = 12
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    w_hr: float = 2.0
    w_quality: float = 0.5
    w_rhythm: float = 1.0
    w_af: float = 0.5
    w_consistency: float = 0.1
    w_embed: float = 1.0
    embed_trunk: bool = True
    stretch_p: float = 0.0
    stretch_range: tuple[float, float] = (0.65, 1.55)
    stretch_mode: str = "uniform"
    morph_p: float = 0.0
    rhythm_stretch_p: float = 0.0
    rhythm_stretch_range: tuple[float, float] = (0.85, 1.18)
    rhythm_smoothing: float = 0.0
    counterfactual_p: float = 0.0
    ema: float = 0.0
    select: str = "last"
    max_seconds: float = 1200.0
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random circular shift (up to 1 s) and 2 % noise; the input stays z-scored."""
    shift = int(torch.randint(-125, 126, (), generator=g))
    return torch.roll(x, shift, dims=-1) + 0.02 * torch.randn(x.shape, generator=g)


def _resample(x: torch.Tensor, s: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Rows of ``x`` ``(B, 1, T)`` read at ``s`` ``(B,)`` times their rate from a random offset
    (reflected at the end when ``s > 1``) and re-z-scored; ``(B, T)``."""
    b, _, t = x.shape
    offset = torch.rand(b, generator=g) * torch.clamp((1.0 - s) * (t - 1), min=0.0)
    pos = offset[:, None] + s[:, None] * torch.arange(t, dtype=torch.float32)[None, :]
    period = 2 * (t - 1)
    pos = torch.remainder(pos, period)
    pos = torch.where(pos > t - 1, period - pos, pos)
    i0 = pos.floor().long().clamp(0, t - 2)
    frac = pos - i0
    row = x[:, 0, :]
    y = row.gather(1, i0) * (1 - frac) + row.gather(1, i0 + 1) * frac
    return (y - y.mean(1, keepdim=True)) / y.std(1, keepdim=True).clamp_min(1e-6)


def _log_uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return torch.exp(torch.empty(n).uniform_(math.log(lo), math.log(hi), generator=g))


def _stretch(
    x: torch.Tensor, hr: torch.Tensor, g: torch.Generator, cfg: HeadTrainConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Time-stretch rows with a heart-rate label (probability ``cfg.stretch_p``) by ``s``: the window
    is resampled at ``s`` times its rate (:func:`_resample`), and its label becomes ``s * bpm``.
    ``hr`` is in normalised units; rows without a label are untouched."""
    b = x.shape[0]
    bpm = hr * HR_SCALE_BPM + HR_CENTER_BPM
    s = _log_uniform(b, *cfg.stretch_range, g)
    lo_ok, hi_ok = HR_RANGE_BPM[0] / bpm, HR_RANGE_BPM[1] / bpm
    s = torch.minimum(torch.maximum(s, lo_ok), hi_ok)
    use = torch.isfinite(hr) & (torch.rand(b, generator=g) < cfg.stretch_p)
    if not use.any():
        return x, hr
    s = torch.where(use, s, torch.ones_like(s))
    row = x[:, 0, :]
    y = torch.where(use[:, None], _resample(x, s, g), row)
    if cfg.stretch_mode == "diastole":
        phase = torch.rand(b, generator=g)
        for i in torch.nonzero(use).flatten().tolist():
            beats = retime_beats(row[i].numpy(), float(bpm[i]), float(s[i]), phase=float(phase[i]))
            if beats is not None:
                y[i] = torch.from_numpy(beats)
    elif cfg.stretch_mode != "uniform":
        raise ValueError(f"stretch_mode must be 'uniform' or 'diastole', got {cfg.stretch_mode!r}")
    new_hr = torch.where(use, (bpm * s - HR_CENTER_BPM) / HR_SCALE_BPM, hr)
    return y[:, None, :], new_hr


def rhythm_counterfactual_windows(
    windows: HeadWindows, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The regular and irregular versions (:func:`anyppg.signal.counterfactual.rhythm_counterfactuals`,
    z-scored as model input) of every window with a rhythm label, ``(N, T)`` each, and which windows
    have them (a rhythm label and enough beats)."""
    from anyppg.signal.counterfactual import rhythm_counterfactuals

    rng = np.random.default_rng(seed)
    n, t = windows.ppg.shape
    regular, irregular = np.zeros((n, t), np.float32), np.zeros((n, t), np.float32)
    ok = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(windows.rhythm >= 0):
        made = rhythm_counterfactuals(windows.ppg[i].astype(np.float64), MODEL_FS, rng)
        if made is None:
            continue
        for out, x in zip((regular, irregular), made, strict=True):
            out[i] = (x - x.mean()) / max(float(x.std()), 1e-6)
        ok[i] = True
    return regular, irregular, ok


def _swap_counterfactuals(
    x: torch.Tensor,
    label: torch.Tensor,
    idx: torch.Tensor,
    counterfactual: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    g: torch.Generator,
    p: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ``x`` (windows ``idx``) swapped, with probability ``p`` where they have one, for their
    counterfactual: AF for its regular version labelled sinus rhythm, any other rhythm for its
    irregular version labelled AF. Rows without a rhythm label are untouched."""
    regular, irregular, ok = counterfactual
    use = ok[idx] & (torch.rand(len(idx), generator=g) < p)
    if not use.any():
        return x, label
    is_af = label == AF_CLASS
    swapped = torch.where(is_af[:, None], regular[idx], irregular[idx])
    x = torch.where(use[:, None, None], swapped[:, None, :], x)
    new = torch.where(is_af, torch.full_like(label, SINUS_CLASS), torch.full_like(label, AF_CLASS))
    return x, torch.where(use, new, label)


def _stretch_rhythm(
    x: torch.Tensor, label: torch.Tensor, g: torch.Generator, cfg: HeadTrainConfig
) -> torch.Tensor:
    """Time-stretch rows with a rhythm label (probability ``cfg.rhythm_stretch_p``) by a factor
    log-uniform in ``cfg.rhythm_stretch_range``; the label is kept. Other rows are untouched."""
    b = x.shape[0]
    use = (label >= 0) & (torch.rand(b, generator=g) < cfg.rhythm_stretch_p)
    if not use.any():
        return x
    s = torch.where(use, _log_uniform(b, *cfg.rhythm_stretch_range, g), torch.ones(b))
    return torch.where(use[:, None], _resample(x, s, g), x[:, 0, :])[:, None, :]


def retime_beats(
    x: np.ndarray,
    bpm: float,
    factor: float,
    *,
    fs: float = MODEL_FS,
    systole_share: float = 0.4,
    systole_exponent: float = 0.5,
    phase: float = 0.0,
) -> np.ndarray | None:
    """The window ``x`` with its heart rate multiplied by ``factor``, beat by beat: each beat (foot to
    foot) keeps its waveform, its first ``systole_share`` lasts ``factor ** -systole_exponent`` as long
    and the rest (diastole) absorbs the remainder, as a real heart's diastole shortens most when its
    rate rises. The beats are repeated in order to fill the window, starting ``phase`` (0-1) into the
    first; the result is z-scored, float32. A uniform time-stretch scales the pulse's width with the
    rate, which teaches a network to read width as rate.

    Returns:
        The re-timed window, or None when the beats are not found (under 3 peaks, a median interval
        more than 15 % from ``60 / bpm``, or a diastole left shorter than 50 ms).
    """
    from scipy.signal import find_peaks

    period = 60.0 / bpm
    peaks, _ = find_peaks(x, distance=max(1, int(0.6 * period * fs)), prominence=0.5)
    if len(peaks) < 3 or abs(np.median(np.diff(peaks)) / fs - period) > 0.15 * period:
        return None
    feet = np.array([a + int(np.argmin(x[a:b])) for a, b in itertools.pairwise(peaks)])
    if len(feet) < 2:
        return None
    dur = np.diff(feet) / fs  # beats, foot to foot (s)
    sys_in = systole_share * dur
    sys_out = sys_in * factor**-systole_exponent
    dia_out = dur / factor - sys_out
    if (dia_out < 0.05).any():
        return None
    n = len(x)
    out_len = dur / factor
    count = int(np.ceil((n / fs + out_len.max()) / out_len.min())) + 1
    order = np.arange(count) % len(dur)  # beat of each output slot, cycling
    starts = np.concatenate([[0.0], np.cumsum(out_len[order])])
    t = phase * out_len[order[0]] + np.arange(n) / fs
    j = np.searchsorted(starts, t, side="right") - 1
    u = t - starts[j]
    k = order[j]
    tau = np.where(
        u <= sys_out[k],
        u * sys_in[k] / sys_out[k],
        sys_in[k] + (u - sys_out[k]) * (dur[k] - sys_in[k]) / dia_out[k],
    )
    y = np.interp(feet[k] / fs + tau, np.arange(n) / fs, x)
    return ((y - y.mean()) / max(float(y.std()), 1e-6)).astype(np.float32)


MORPH_MAX_HZ = 12.0  # the reshaping filter acts below this; the preprocessing band-pass ends at 8 Hz


def _reshape(x: torch.Tensor, hr: torch.Tensor, g: torch.Generator, p: float) -> torch.Tensor:
    """Reshape the pulse of rows with a heart-rate label (probability ``p``) by a random linear
    time-invariant filter, applied in the frequency domain: a smooth random gain (a spectral tilt
    plus three cosine terms, within about +-8 dB below 12 Hz) and a smooth random phase (group delays
    within about +-0.15 s). The waveform's shape changes (upstroke, notch, relative harmonics); its
    beats, and so its heart rate, do not. On the ICU training patients each person has one narrow
    heart-rate range, so a network can learn "this pulse shape means this rate"; the held-out patients
    whose head read 4-8 bpm off for a whole recording while their PPG peaks matched the ECG showed
    exactly that. The row is re-z-scored; rows without a label, or not drawn, are untouched."""
    b, _, t = x.shape
    use = torch.isfinite(hr) & (torch.rand(b, generator=g) < p)
    if not use.any():
        return x
    row = x[:, 0, :]
    spec = torch.fft.rfft(row, dim=1)
    f = torch.fft.rfftfreq(t, d=1.0 / MODEL_FS)  # Hz
    u = (f / MORPH_MAX_HZ).clamp(max=1.0)[None, :]  # 0-1 over the band the filter shapes
    j = torch.arange(1, 4, dtype=torch.float32)[:, None, None]  # (3, 1, 1)
    gain_c = 0.25 * torch.randn(3, b, 1, generator=g)
    phase_c = 0.6 * torch.randn(3, b, 1, generator=g)
    tilt = torch.empty(b, 1).uniform_(-0.6, 0.6, generator=g)
    log_gain = tilt * (u - 0.25) + (gain_c * torch.cos(torch.pi * j * u)).sum(0)
    phase = (phase_c * torch.sin(torch.pi * j * u)).sum(0)
    y = torch.fft.irfft(spec * torch.polar(torch.exp(log_gain), phase), n=t, dim=1)
    y = (y - y.mean(1, keepdim=True)) / y.std(1, keepdim=True).clamp_min(1e-6)
    return torch.where(use[:, None], y, row)[:, None, :]


def _forward(student: Student, x: torch.Tensor, embed_trunk: bool) -> tuple[torch.Tensor, ...]:
    """``student(x)``; with ``embed_trunk=False`` the embedding ``Linear`` reads detached features,
    so the embedding term cannot move the trunk the heads share."""
    return student(x, detach_embedding=not embed_trunk)


def af_log_odds(rhythm_logits: torch.Tensor) -> torch.Tensor:
    """log P(AF) - log P(not AF) from six-class logits ``(B, 6)`` -> ``(B,)``."""
    others = torch.cat([rhythm_logits[:, :AF_CLASS], rhythm_logits[:, AF_CLASS + 1 :]], dim=1)
    return rhythm_logits[:, AF_CLASS] - torch.logsumexp(others, dim=1)


def train_heads(
    windows: HeadWindows,
    config: HeadTrainConfig | None = None,
    teacher_embeddings: np.ndarray | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
    validation: HeadWindows | None = None,
) -> tuple[Student, list[dict[str, float]]]:
    """Train a fresh student on ``windows`` (the training subjects only).

    Args:
        windows: labelled training windows.
        config: hyper-parameters.
        teacher_embeddings: ``(N, 512)`` teacher embeddings of ``windows`` for the embedding term, or
            None to train without a teacher (the embedding output is then the pooled features'
            fixed random projection).
        progress: called after each epoch with ``(epoch, mean losses)``.
        validation: windows of training subjects held back from the gradient steps, scored after each
            epoch (``val_*`` in the history) and used by ``config.select``.

    Returns:
        ``(student in eval mode, per-epoch mean losses)``.

    Raises:
        ValueError: no windows, or teacher embeddings of the wrong length.
    """
    from anyppg.quantization.distill import embedding_losses

    cfg = config or HeadTrainConfig()
    if len(windows) == 0:
        raise ValueError("head training needs windows; got 0")
    if teacher_embeddings is not None and len(teacher_embeddings) != len(windows):
        raise ValueError(f"{len(teacher_embeddings)} teacher embeddings for {len(windows)} windows")
    torch.manual_seed(cfg.seed)
    student = build_student(cfg.student, seed=cfg.seed)
    x_all = torch.from_numpy(np.ascontiguousarray(windows.ppg, np.float32))[:, None, :]
    hr_all = torch.from_numpy((windows.hr - HR_CENTER_BPM) / HR_SCALE_BPM)
    q_all = torch.from_numpy(windows.quality.astype(np.int64))
    r_all = torch.from_numpy(windows.rhythm.astype(np.int64))
    counterfactual = None
    if cfg.counterfactual_p > 0:
        counterfactual = tuple(torch.from_numpy(a) for a in rhythm_counterfactual_windows(windows, cfg.seed))
        log.info("rhythm counterfactuals for %d windows", int(counterfactual[2].sum()))
    t_all = None if teacher_embeddings is None else torch.from_numpy(teacher_embeddings.astype(np.float32))
    t_power = 1.0 if t_all is None else float(t_all.pow(2).sum(1).mean().clamp_min(1e-12))
    q_known = windows.quality[windows.quality >= 0]
    pos_weight = torch.tensor(
        float((q_known == 0).sum()) / max(float((q_known == 1).sum()), 1.0) if len(q_known) else 1.0
    )
    steps = math.ceil(len(windows) / cfg.batch_size) * cfg.epochs
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(i / max(steps, 1), 1.0)))
    )
    g = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    if cfg.select != "last" and validation is None:
        raise ValueError(f"select={cfg.select!r} needs validation windows")
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    averaged = None
    if cfg.ema > 0:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        averaged = AveragedModel(student, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
    t0 = time.perf_counter()
    student.train()
    for epoch in range(cfg.epochs):
        sums: dict[str, float] = {}
        order = torch.randperm(len(windows), generator=g)
        for start in range(0, len(windows), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            if len(idx) < 2:
                continue
            xb, hrb, rb = x_all[idx], hr_all[idx], r_all[idx]
            if counterfactual is not None:
                xb, rb = _swap_counterfactuals(xb, rb, idx, counterfactual, g, cfg.counterfactual_p)
            if cfg.stretch_p > 0:
                xb, hrb = _stretch(xb, hrb, g, cfg)
            if cfg.morph_p > 0:
                xb = _reshape(xb, hrb, g, cfg.morph_p)
            if cfg.rhythm_stretch_p > 0:
                xb = _stretch_rhythm(xb, rb, g, cfg)
            emb, hr_bpm, q_logit, af_logit, rhythm = _forward(student, _augment(xb, g), cfg.embed_trunk)
            parts = _losses(
                hr_bpm, q_logit, af_logit, rhythm, hrb, q_all[idx], rb, pos_weight,
                cfg.rhythm_smoothing,
            )  # fmt: skip
            loss = (
                cfg.w_hr * parts["hr"] + cfg.w_quality * parts["quality"] + cfg.w_rhythm * parts["rhythm"]
                + cfg.w_af * parts["af"] + cfg.w_consistency * parts["consistency"]
            )  # fmt: skip
            if t_all is not None:
                e = embedding_losses(emb, t_all[idx], t_power)
                parts["embed"] = e["cos"] + e["mse"]
                loss = loss + cfg.w_embed * parts["embed"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if averaged is not None:
                averaged.update_parameters(student)
            for k, v in {"loss": loss, **parts}.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(idx)
        means = {k: v / len(windows) for k, v in sums.items()}
        kept = student if averaged is None else averaged.module
        if validation is not None:
            means.update(_validate(kept, validation))
            student.train()
            val_hr = means.get("val_hr_mae_bpm", float("nan"))
            late = cfg.select == "val_hr" and epoch + 1 > cfg.epochs // 2 and np.isfinite(val_hr)
            if late and (best is None or val_hr < best[0]):
                state = {k: v.detach().clone() for k, v in kept.state_dict().items()}
                best = (val_hr, epoch + 1, state)
        means["seconds"] = time.perf_counter() - t0
        history.append(means)
        log.info("epoch %d/%d %s", epoch + 1, cfg.epochs, " ".join(f"{k}={v:.4f}" for k, v in means.items()))
        if progress is not None:
            progress(epoch + 1, means)
        if means["seconds"] > cfg.max_seconds:
            log.warning("stopping after epoch %d: %.0f s > max_seconds", epoch + 1, means["seconds"])
            break
    if best is not None:
        student.load_state_dict(best[2])
        history.append({"selected_epoch": float(best[1]), "val_hr_mae_bpm": best[0]})
        log.info("kept epoch %d (validation clinical heart-rate MAE %.2f bpm)", best[1], best[0])
    elif averaged is not None:
        student.load_state_dict(averaged.module.state_dict())
    return student.eval(), history


def _validate(student: Student, windows: HeadWindows) -> dict[str, float]:
    """Validation scores of the current weights: clinical heart-rate MAE, AF AUROC, quality AUROC."""
    from anyppg.quantization.distill import predict

    student.eval()
    m = head_metrics(predict(student, windows.ppg), windows, n_boot=0)
    hr = (m["heart_rate"].get("clinical_finger") or {}).get("mae_bpm")
    af = (m.get("rhythm") or {}).get("af_auroc")
    q = m["quality"]["auroc"]
    return {
        "val_hr_mae_bpm": float("nan") if hr is None else hr,
        "val_af_auroc": float("nan") if af is None else af,
        "val_quality_auroc": float("nan") if q is None else q,
    }


def _losses(
    hr_bpm: torch.Tensor,
    q_logit: torch.Tensor,
    af_logit: torch.Tensor,
    rhythm: torch.Tensor,
    hr: torch.Tensor,
    quality: torch.Tensor,
    label: torch.Tensor,
    pos_weight: torch.Tensor,
    rhythm_smoothing: float = 0.0,
) -> dict[str, torch.Tensor]:
    zero = hr_bpm.sum() * 0.0
    hr_pred = (hr_bpm[:, 0] - HR_CENTER_BPM) / HR_SCALE_BPM
    hr_known = torch.isfinite(hr)
    q_known = quality >= 0
    r_known = label >= 0
    out = {
        "hr": F.huber_loss(hr_pred[hr_known], hr[hr_known], delta=0.1) if hr_known.any() else zero,
        "quality": F.binary_cross_entropy_with_logits(
            q_logit[q_known, 0], quality[q_known].float(), pos_weight=pos_weight
        )
        if q_known.any()
        else zero,
        "rhythm": F.cross_entropy(rhythm[r_known], label[r_known], label_smoothing=rhythm_smoothing)
        if r_known.any()
        else zero,
        "af": F.binary_cross_entropy_with_logits(af_logit[r_known, 0], (label[r_known] == AF_CLASS).float())
        if r_known.any()
        else zero,
    }
    out["consistency"] = F.mse_loss(af_logit[:, 0], af_log_odds(rhythm).detach())
    return out


# --- scoring -----------------------------------------------------------------------------------


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(labels) < 2 or len(np.unique(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _subject_ci(
    values: np.ndarray, subjects: np.ndarray, stat: Callable[[np.ndarray], float | None], n_boot: int = 200
) -> list[float] | None:
    """95 % bootstrap interval of ``stat`` over subjects (resampled with replacement)."""
    names = np.unique(subjects)
    if len(names) < 2 or n_boot <= 0:
        return None
    rng = np.random.default_rng(0)
    groups = [np.flatnonzero(subjects == s) for s in names]
    stats = []
    for _ in range(n_boot):
        idx = np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])
        v = stat(idx)
        if v is not None:
            stats.append(v)
    return [float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))] if stats else None


def head_metrics(
    outputs: Mapping[str, np.ndarray], windows: HeadWindows, n_boot: int = 200
) -> dict[str, Any]:
    """Heart-rate MAE per dataset, quality AUROC, AF and six-class rhythm scores, with 95 % bootstrap
    intervals over subjects.

    Args:
        outputs: ``heart_rate (N, 1)``, ``quality (N, 1)``, ``af (N, 1)``, ``rhythm (N, 6)``.
        windows: the labelled windows they were computed on (held-out subjects).
        n_boot: bootstrap resamples of subjects for the intervals (0: none).

    Returns:
        A JSON-ready dict; a metric without labels to score is None.
    """
    hr = outputs["heart_rate"].reshape(-1)
    out: dict[str, Any] = {"windows": len(windows), "subjects": len(np.unique(windows.subject))}

    def mae(mask: np.ndarray) -> dict[str, Any] | None:
        idx = np.flatnonzero(mask & np.isfinite(windows.hr))
        if not len(idx):
            return None
        err = np.abs(hr[idx] - windows.hr[idx])
        ci = _subject_ci(err, windows.subject[idx], lambda i: float(err[i].mean()), n_boot)
        return {"mae_bpm": float(err.mean()), "ci95": ci, "windows": len(idx),
                "subjects": len(np.unique(windows.subject[idx]))}  # fmt: skip

    clinical = np.isin(windows.dataset, CLINICAL)
    out["heart_rate"] = {
        "clinical_finger": mae(clinical),
        **{name: mae(windows.dataset == name) for name in sorted(set(windows.dataset.tolist()))},
        "predictions_min_bpm": float(hr.min()) if len(hr) else None,
        "predictions_max_bpm": float(hr.max()) if len(hr) else None,
    }
    q = np.flatnonzero(windows.quality >= 0)
    q_lab, q_score = windows.quality[q], outputs["quality"].reshape(-1)[q]
    out["quality"] = {
        "auroc": _auroc(q_lab, q_score),
        "ci95": _subject_ci(q_lab, windows.subject[q], lambda i: _auroc(q_lab[i], q_score[i]), n_boot),
        "usable": int((q_lab == 1).sum()),
        "unusable": int((q_lab == 0).sum()),
    }
    r = np.flatnonzero(windows.rhythm >= 0)
    if len(r) and "rhythm" in outputs:
        label = windows.rhythm[r].astype(int)
        prob = _softmax(outputs["rhythm"][r])
        is_af = (label == AF_CLASS).astype(int)
        p_af = prob[:, AF_CLASS]
        af_logit = outputs["af"].reshape(-1)[r]
        out["rhythm"] = {
            "classes": list(RHYTHM_CLASSES),
            "af_auroc": _auroc(is_af, p_af),
            "af_auroc_ci95": _subject_ci(
                is_af, windows.subject[r], lambda i: _auroc(is_af[i], p_af[i]), n_boot
            ),
            "af_auroc_from_af_output": _auroc(is_af, af_logit),
            "six_class_accuracy": float((prob.argmax(1) == label).mean()),
            "per_class_recall": {
                c: float((prob.argmax(1)[label == k] == k).mean()) if (label == k).any() else None
                for k, c in enumerate(RHYTHM_CLASSES)
            },
            "windows": len(r),
        }
    else:
        out["rhythm"] = None
    return out
