"""Paired PPG/ECG windows for pretraining: open them, check their contract, and mask bad windows.

The contract of one window (a dict, as :class:`anyppg.trainer.datasets.WindowDataset` returns it):
``ppg`` (1, 1250) float32 = 10 s at 125 Hz, ``ecg`` (1, 5000) float32 = 10 s at 500 Hz, and labels
``hr`` (bpm, NaN when unknown) and ``af`` (1 / 0 / -1 unknown).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch.utils.data import Dataset

from anyppg.errors import AnyPPGError, ModelInputError, UnsupportedRateError

from .config import ECG_RATE_HZ, PPG_RATE_HZ, WINDOW_S, DataConfig
from .toy_pairs import ToyPairs

log = logging.getLogger(__name__)

PPG_SHAPE = (1, round(PPG_RATE_HZ * WINDOW_S))  # (1, 1250)
ECG_SHAPE = (1, round(ECG_RATE_HZ * WINDOW_S))  # (1, 5000)


class MissingDataError(AnyPPGError, FileNotFoundError):
    """The configured training data does not exist.

    Attributes:
        path: the missing store folder.
        hint: how to create it.
    """

    def __init__(self, path: str, hint: str) -> None:
        super().__init__(f"no window store at {path}; {hint}")
        self.path = path
        self.hint = hint


def open_pairs(cfg: DataConfig, split: str, seed: int = 0) -> Dataset | None:
    """The windows of one split: the configured store, else ``cfg.toy_windows`` toy pairs.

    Returns None when the store has no such split (or it is empty), so validation can be skipped.

    Raises:
        MissingDataError: ``cfg.store`` is set but has no ``index.json``.
        UnsupportedRateError: the store's PPG or ECG rate differs from 125 / 500 Hz.
        ModelInputError: a window's PPG or ECG shape differs from (1, 1250) / (1, 5000).
    """
    if cfg.store is None:
        if cfg.toy_windows <= 0:
            raise MissingDataError(
                "(none)", "pass --store DIR (built by `anyppg prepare`) or use --preset debug"
            )
        n = cfg.toy_windows if split == cfg.train_split else max(cfg.toy_windows // 4, 16)
        return check_pairs(ToyPairs(n, seed=seed, split=split))
    root = Path(cfg.store)
    if not (root / "index.json").is_file():
        raise MissingDataError(str(root), "build one with: anyppg prepare --source sim --out " + str(root))
    from .datasets import WindowDataset
    from .store import WindowStore

    store = WindowStore(root)
    _check_rates(store.index, root)
    if store.counts.get(split, 0) == 0:
        return None
    return check_pairs(WindowDataset(root, split, require_ecg=True))  # pairs only


def _check_rates(index: dict, root: Path) -> None:
    """Refuse a store whose PPG / ECG rates (``index.json``: ``ppg.rate_hz``, ``ecg.rate_hz``) differ."""
    for key, expected in (("ppg", PPG_RATE_HZ), ("ecg", ECG_RATE_HZ)):
        meta = index.get(key) if isinstance(index, dict) else None
        rate = meta.get("rate_hz") if isinstance(meta, dict) else None
        if rate is not None and float(rate) != expected:
            raise UnsupportedRateError(
                float(rate), expected, what=f"{key.upper()} in the window store {root}"
            )


def check_pairs(dataset: Dataset) -> Dataset:
    """Refuse a dataset whose first window does not have the PPG/ECG shapes the encoders need.

    Raises:
        ModelInputError: with the expected and the found shape.
    """
    first = dataset[0]
    for key, expected in (("ppg", PPG_SHAPE), ("ecg", ECG_SHAPE)):
        got = tuple(torch.as_tensor(first[key]).shape)
        if got != expected:
            rate = PPG_RATE_HZ if key == "ppg" else ECG_RATE_HZ
            raise ModelInputError(
                expected,
                got,
                what=f"{key.upper()} window ({WINDOW_S:g} s at {rate:g} Hz) of {type(dataset).__name__}",
            )
    return dataset


def valid_windows(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B,) bool: windows whose PPG and ECG are finite and whose ECG is not flat (absent).

    Invalid windows are zeroed in place so they cannot put NaN into batch norm; the caller leaves
    them out of the loss and counts them as skipped.
    """
    ppg, ecg = batch["ppg"], batch["ecg"]  # (B, 1, 1250), (B, 1, 5000)
    ok = torch.isfinite(ppg).flatten(1).all(1) & torch.isfinite(ecg).flatten(1).all(1)  # (B,)
    ok &= torch.nan_to_num(ecg).flatten(1).std(1) > 0  # a store window without ECG is all zeros
    if not bool(ok.all()):
        ppg[~ok] = 0.0
        ecg[~ok] = 0.0
    return ok
