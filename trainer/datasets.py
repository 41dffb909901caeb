"""torch views of a window store (:mod:`anyppg.trainer.store`).

``WindowDataset`` is a map-style dataset, so it works with ``DistributedSampler`` under ``torchrun``:
each rank reads only the windows its sampler hands it, straight from the memory-mapped shards. Nothing
is loaded up front; a worker process opens its own memory maps.

Example::

    from torch.utils.data import DataLoader, DistributedSampler
    ds = WindowDataset("runs/store-sim", "train")
    loader = DataLoader(ds, batch_size=256, sampler=DistributedSampler(ds), num_workers=4)
    batch = next(iter(loader))      # batch["ppg"]: (256, 1, 1250), batch["ecg"]: (256, 1, 5000)
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset

from anyppg.trainer.store import WindowStore

__all__ = ["WindowDataset"]


class WindowDataset(Dataset):
    """The windows of one split of a store, as tensors.

    Each item is a dict:

    - ``ppg``: float32 ``(1, 1250)``, 10 s at 125 Hz, band-passed and z-scored (model input);
    - ``ecg``: float32 ``(1, 5000)``, 10 s at 500 Hz, cleaned and z-scored (zeros when ``has_ecg`` is 0);
    - ``hr``: float32 ``()``, heart rate (bpm) from the ECG R-peaks, NaN when unknown;
    - ``af``, ``quality``: int64 ``()``, 1 / 0, or -1 when unknown;
    - ``has_ecg``: bool ``()``; ``subject``, ``source``: int64 ``()`` (indices into the store's index);
    - ``index``: int64 ``()``, the window's position in the split.

    Args:
        store_path: the store folder (written by ``anyppg prepare``).
        split: ``train``, ``val`` or ``test``.
        require_ecg: keep only windows with a real ECG (ECG-guided pretraining needs pairs).

    Raises:
        StoreError: the folder is not a finished store or the split is unknown.
    """

    def __init__(self, store_path: str | os.PathLike[str], split: str, *, require_ecg: bool = False) -> None:
        self.store = WindowStore(store_path)
        self.split = split
        self.view = self.store.split(split)
        self._rows: np.ndarray | None = None
        if require_ecg:
            labels = self.view.labels()
            self._rows = np.flatnonzero(labels["has_ecg"] == 1)

    def __len__(self) -> int:
        return len(self.view) if self._rows is None else len(self._rows)

    def labels(self) -> np.ndarray:
        """The label rows of the items, in item order (structured :data:`~anyppg.trainer.store.LABEL_DTYPE`)."""
        labels = self.view.labels()
        return labels if self._rows is None else labels[self._rows]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([i])[0]

    def __getitems__(self, indices: list[int]) -> list[dict[str, torch.Tensor]]:
        """A batch of items, read with one sorted read per shard (``DataLoader`` calls this for a batch)."""
        rows = np.asarray(indices, dtype=np.int64)
        if self._rows is not None:
            rows = self._rows[rows]
        ppg, ecg, labels = self.view.take(rows)
        batch = {
            "ppg": torch.from_numpy(ppg).unsqueeze(1),  # (B, 1, 1250)
            "ecg": torch.from_numpy(ecg).unsqueeze(1),  # (B, 1, 5000)
            "hr": torch.from_numpy(labels["hr"].astype(np.float32)),
            "af": torch.from_numpy(labels["af"].astype(np.int64)),
            "ectopic": torch.from_numpy(labels["ectopic"].astype(np.int64)),
            "quality": torch.from_numpy(labels["quality"].astype(np.int64)),
            "has_ecg": torch.from_numpy(labels["has_ecg"].astype(bool)),
            "subject": torch.from_numpy(labels["subject"].astype(np.int64)),
            "source": torch.from_numpy(labels["source"].astype(np.int64)),
            "index": torch.from_numpy(rows % max(len(self.view), 1)),
        }
        return [{k: v[b] for k, v in batch.items()} for b in range(len(rows))]
