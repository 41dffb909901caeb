"""Subject-level splits in the core: every subject in exactly one split, the same on every machine.

:func:`split_subjects` assigns as :func:`anyppg.trainer.store.assign_splits` does (sorted, shuffled
with ``random.Random(seed)``, cut in proportion), so a split made here for evaluation without torch
equals the split of a window store built with the same subjects, fractions and seed.

Example:
    >>> split = split_subjects(["bidmc:01", "bidmc:02", "bidmc:03", "liu:1", "liu:2"], {"train": 0.6, "test": 0.4})
    >>> sorted(split.values())
    ['test', 'test', 'train', 'train', 'train']
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

from anyppg.signal._checks import InvalidParameterError

__all__ = ["DEFAULT_FRACTIONS", "split_subjects"]

DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}


def split_subjects(
    subjects: Sequence[str], fractions: Mapping[str, float] | None = None, seed: int = 0
) -> dict[str, str]:
    """Assign each subject to exactly one split, deterministically.

    The subjects are de-duplicated, sorted, shuffled with ``seed`` and cut in the given proportions, so
    the result does not depend on the order they are listed in. With at least as many subjects as
    splits, every split with a non-zero fraction gets at least one subject.

    Args:
        subjects: subject identifiers (``"bidmc:04"``); duplicates are ignored.
        fractions: split name -> fraction of subjects; default train 0.8 / val 0.1 / test 0.1.
        seed: shuffling seed.

    Returns:
        subject -> split name.

    Raises:
        InvalidParameterError: a fraction is negative or they do not sum to 1.
    """
    fractions = dict(fractions or DEFAULT_FRACTIONS)
    if any(f < 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise InvalidParameterError("fractions", fractions, "non-negative fractions summing to 1")
    unique = sorted(set(subjects))
    random.Random(seed).shuffle(unique)
    n = len(unique)
    names = [s for s, f in fractions.items() if f > 0]
    counts = {s: math.floor(fractions[s] * n) for s in names}
    if n >= len(names):  # every split gets one subject; the largest gives them up
        for s in names:
            counts[s] = max(counts[s], 1)
        while sum(counts.values()) > n:
            counts[max(names, key=lambda s: counts[s])] -= 1
    while sum(counts.values()) < n:  # the remainder goes to the splits that lost most to rounding
        counts[max(names, key=lambda s: fractions[s] * n - counts[s])] += 1
    out: dict[str, str] = {}
    start = 0
    for s in names:
        for subject in unique[start : start + counts[s]]:
            out[subject] = s
        start += counts[s]
    return out
