"""DDP for real: two processes launched by torchrun (gloo, CPU) train, checkpoint and resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from anyppg.trainer.checkpoints import load_ppg_encoder, read_checkpoint  # noqa: E402
from anyppg.trainer.run_log import RunLog  # noqa: E402

STEPS = 16


def _torchrun(out, *extra: str) -> None:
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "anyppg", "pretrain", "--preset", "debug", "--out", str(out),
        "--steps", str(STEPS), "--ecg-steps", "2", "--quiet", *extra,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _clip_losses(out) -> list[float]:
    return [float(r["loss"]) for r in RunLog.read(out / "metrics.csv") if r["stage"] == "clip"]


@pytest.mark.slow
def test_two_process_training_learns_and_resumes_exactly(tmp_path):
    full, split = tmp_path / "full", tmp_path / "split"
    _torchrun(full)
    _torchrun(split, "--stop-after", str(STEPS // 2))
    _torchrun(split, "--resume")

    losses = _clip_losses(full)
    assert len(losses) == STEPS
    assert sum(losses[-4:]) < sum(losses[:4])  # the loss goes down
    assert _clip_losses(split) == pytest.approx(losses, abs=1e-4)  # and resume continues the same curve

    metrics = json.loads((full / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["step"] == STEPS
    ckpt = read_checkpoint(full / "checkpoint.pt")
    assert len(ckpt["rng"]) == 2  # every rank's RNG, so dropout resumes exactly on both
    assert not any(k.startswith("module.") for part in ("ppg_encoder", "ppg_projector") for k in ckpt[part])
    load_ppg_encoder(full / "checkpoint.pt")
