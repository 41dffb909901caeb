"""Stage 2 with the frozen ECG encoder's features computed once per window instead of at every step.

The ECG encoder is frozen (eval mode, no gradients) for the whole of stage 2, so its output for a
window never changes: recomputing it at every step is pure waste (78 % of the ``anyppg`` preset's
compute, docs/training.md). :class:`CachedECGFeatures` runs it once over the training split and then
serves ``ecg_features`` in place of the ECG samples. Memory: ``C`` floats per window (256 x 4 bytes for
the ``real`` preset: 15 MB for 15,000 windows); under DDP every rank holds the whole cache.
"""

from __future__ import annotations

import logging
import time

import torch
from torch.utils.data import DataLoader, Dataset

from .pairs import valid_windows

__all__ = ["CachedECGFeatures"]

log = logging.getLogger(__name__)


class CachedECGFeatures(Dataset):
    """A pairs dataset whose items carry ``ecg_features`` (C,) and ``ecg_valid`` () instead of ``ecg``.

    ``ecg_valid`` is False for windows :func:`anyppg.trainer.pairs.valid_windows` rejects on their ECG
    (non-finite or flat); the loss leaves them out as it would without the cache.

    Args:
        pairs: items with ``ppg`` (1, 1250) and ``ecg`` (1, 5000) (a ``WindowDataset`` of pairs).
        encoder: the frozen ECG encoder, (B, 1, 5000) -> (B, C), already in eval mode.
        device: where the encoder runs.
        batch_size: windows per forward pass while filling the cache.
    """

    def __init__(
        self, pairs: Dataset, encoder: torch.nn.Module, device: torch.device, batch_size: int = 256
    ) -> None:
        self.pairs = pairs
        t0 = time.perf_counter()
        feats, valid = [], []
        loader = DataLoader(pairs, batch_size=batch_size, shuffle=False)
        with torch.no_grad():
            for batch in loader:
                ok = valid_windows(batch)  # (b,), zeroes the bad windows in place
                feats.append(encoder(batch["ecg"].to(device)).float().cpu())  # (b, C)
                valid.append(ok)
        self.features = torch.cat(feats)  # (N, C)
        self.valid = torch.cat(valid)  # (N,)
        self.seconds = time.perf_counter() - t0
        log.info("cached ECG features of %d windows in %.1f s", len(self.features), self.seconds)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([i])[0]

    def __getitems__(self, indices: list[int]) -> list[dict[str, torch.Tensor]]:
        if hasattr(self.pairs, "__getitems__"):
            items = self.pairs.__getitems__(indices)
        else:
            items = [self.pairs[i] for i in indices]
        out = []
        for i, item in zip(indices, items, strict=True):
            item = {k: v for k, v in item.items() if k != "ecg"}
            item["ecg_features"] = self.features[i]
            item["ecg_valid"] = self.valid[i]
            out.append(item)
        return out
