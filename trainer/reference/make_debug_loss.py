"""Regenerate ``debug_loss.json``, the committed reference loss curve of ``--preset debug``.

Run from the repository root after an intended change to the model, loss or loop::

    OMP_NUM_THREADS=1 python trainer/reference/make_debug_loss.py

and say in the commit why the curve moved. ``tests/trainer/test_pretrain.py`` compares a fresh run to it.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch

from anyppg.trainer.config import preset
from anyppg.trainer.pretrain import pretrain


def main() -> int:
    torch.set_num_threads(1)
    cfg = preset("debug")
    with tempfile.TemporaryDirectory() as tmp:
        cfg.train.out_dir = tmp
        result = pretrain(cfg)
    out = Path(__file__).with_name("debug_loss.json")
    record = {
        "preset": "debug",
        "torch": torch.__version__,
        "threads": 1,
        "tolerance_abs": 2e-3,
        "stage2_loss": [round(v, 6) for v in result.losses],
    }
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out} ({len(result.losses)} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
