"""A tiny, deterministic generator of paired PPG/ECG windows for the debug preset and tests.

Not physiology: a Gaussian QRS train (500 Hz) and a delayed pulse train (125 Hz) that share one RR
series, with regular or irregular (AF-like) rhythm. It needs nothing but torch, so the debug loss curve
does not move when the real simulator (:mod:`anyppg.simulator`) is improved. Realistic data come from
``anyppg prepare --source sim`` and the window store.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import Dataset

PPG_SAMPLES = 1250  # 10 s at 125 Hz
ECG_SAMPLES = 5000  # 10 s at 500 Hz


def _zscore(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean()) / (x.std() + 1e-6)


class ToyPairs(Dataset):
    """``n`` seeded windows: dicts with ``ppg`` (1, 1250), ``ecg`` (1, 5000), ``hr`` (bpm), ``af`` (0/1).

    Window ``i`` depends only on ``(seed, i)``, so any subset or order reproduces the same data.
    """

    def __init__(self, n: int, seed: int = 0, split: str = "train"):
        self.n = n
        self.seed = seed + (0 if split == "train" else 7_919)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < self.n:
            raise IndexError(f"window {i} out of range 0..{self.n - 1}")
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        hr = 45.0 + 105.0 * torch.rand((), generator=g).item()  # bpm
        af = bool(torch.rand((), generator=g).item() < 0.3)
        rr_mean = 60.0 / hr  # s
        jitter = 0.25 if af else 0.03
        rr = rr_mean * (1.0 + jitter * torch.randn(32, generator=g)).clamp(min=0.4)  # (32,) s
        beats = torch.cumsum(rr, 0) - rr_mean * torch.rand((), generator=g).item()  # (32,) s
        beats = beats[beats < 10.5]
        delay = 0.15 + 0.1 * torch.rand((), generator=g).item()  # pulse arrival time, s

        t_ecg = torch.arange(ECG_SAMPLES) / 500.0  # (5000,) s
        d = t_ecg[None, :] - beats[:, None]  # (beats, 5000)
        ecg = torch.exp(-0.5 * (d / 0.012) ** 2).sum(0) - 0.2 * torch.exp(
            -0.5 * ((d - 0.03) / 0.01) ** 2
        ).sum(0)
        ecg = ecg + 0.3 * torch.exp(-0.5 * ((d - 0.3) / 0.05) ** 2).sum(0)  # T wave
        if not af:
            ecg = ecg + 0.15 * torch.exp(-0.5 * ((d + 0.16) / 0.03) ** 2).sum(0)  # P wave
        ecg = ecg + 0.05 * torch.randn(ECG_SAMPLES, generator=g)

        t_ppg = torch.arange(PPG_SAMPLES) / 125.0  # (1250,) s
        d = (t_ppg[None, :] - beats[:, None] - delay).clamp(min=0.0)  # (beats, 1250)
        ppg = (d / 0.12) * torch.exp(1.0 - d / 0.12)  # gamma-like pulse, peak 0.12 s after arrival
        ppg = (
            ppg.sum(0)
            + 0.1 * torch.sin(2 * math.pi * 0.25 * t_ppg)
            + 0.05 * torch.randn(PPG_SAMPLES, generator=g)
        )

        measured_hr = 60.0 / rr[: max(len(beats), 2)].mean().item()
        return {
            "ppg": _zscore(ppg)[None, :].float(),  # (1, 1250)
            "ecg": _zscore(ecg)[None, :].float(),  # (1, 5000)
            "hr": torch.tensor(measured_hr, dtype=torch.float32),
            "af": torch.tensor(float(af)),
        }
