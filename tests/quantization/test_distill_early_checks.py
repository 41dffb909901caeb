"""Distillation refuses a teacher of the wrong width before any long step, and reports caching progress."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from anyppg.quantization.distill import DistillConfig, WindowSet, distill  # noqa: E402


def _windows(n: int) -> WindowSet:
    rng = np.random.default_rng(0)
    return WindowSet(
        rng.standard_normal((n, 1250)).astype(np.float32),
        rng.uniform(50, 100, n).astype(np.float32),
        np.zeros(n, np.int8),
        np.ones(n, np.int8),
        np.array(["sim"] * n),
    )


def _teacher(width: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1250, width))


def test_a_narrow_teacher_is_refused_before_caching_any_embedding():
    calls: list[tuple[int, int]] = []
    with pytest.raises(
        ValueError, match=r"teacher embeds to 32 dims but student-xs has 512; distil from a 512-d"
    ):
        distill(
            _teacher(32),
            _windows(200),
            _windows(8),
            DistillConfig(student="student-xs", epochs=1),
            embed_progress=lambda done, total: calls.append((done, total)),
        )
    assert calls == []  # no window was embedded for the cache


def test_caching_progress_counts_every_window_once_in_order():
    calls: list[tuple[int, int]] = []
    train, extra = _windows(70), _windows(30)
    result = distill(
        _teacher(512),
        train,
        _windows(8),
        DistillConfig(student="student-xs", epochs=1, batch_size=32),
        extra_unlabeled=extra,
        embed_progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(64, 100), (70, 100), (100, 100)]  # batches of 64 over train, then the extra windows
    assert len(result.history) == 1
