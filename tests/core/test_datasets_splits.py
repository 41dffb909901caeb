"""Core subject splits: deterministic, disjoint, and equal to the window store's."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from anyppg.datasets import splits
from anyppg.datasets.splits import split_subjects
from anyppg.signal._checks import InvalidParameterError


@pytest.mark.parametrize("n", [1, 2, 3, 7, 17, 53])
@pytest.mark.parametrize(
    "fractions", [None, {"train": 0.5, "val": 0.25, "test": 0.25}, {"train": 0.7, "test": 0.3}]
)
def test_same_split_as_the_window_store(n, fractions):
    from anyppg.trainer.store import assign_splits

    subjects = [f"s{i:03d}" for i in np.random.default_rng(n).permutation(n)]
    assert split_subjects(subjects, fractions, seed=3) == assign_splits(subjects, fractions, seed=3)


def test_order_free_and_every_split_used():
    subjects = [f"bidmc:{i:02d}" for i in range(1, 54)]
    a = split_subjects(subjects, seed=7)
    b = split_subjects(list(reversed(subjects)) + subjects[:5], seed=7)
    assert a == b and set(a) == set(subjects)
    counts = {s: list(a.values()).count(s) for s in ("train", "val", "test")}
    assert counts == {"train": 43, "val": 5, "test": 5}  # 42.4 / 5.3 / 5.3: the remainder to train
    assert split_subjects(subjects, seed=8) != a


def test_bad_fractions():
    with pytest.raises(InvalidParameterError, match="fractions"):
        split_subjects(["a"], {"train": 0.9, "test": 0.2})


def test_docstring_example():
    result = doctest.testmod(splits)
    assert result.attempted > 0 and result.failed == 0
