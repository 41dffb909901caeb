"""The readers on the real data folder, when one is given (``ANYPPG_DATA``); skipped otherwise."""

from __future__ import annotations

import os

import numpy as np
import pytest

from anyppg import datasets

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get(datasets.DATA_ENV), reason="set ANYPPG_DATA to the data folder to run"
    ),
]


def present(name: str) -> None:
    if name not in datasets.available():
        pytest.skip(f"{name} is not in ANYPPG_DATA")


def test_liu_counts_and_classes():
    present("liu")
    patients = datasets.read("liu")
    labels = np.concatenate([p.labels for p in patients])
    assert len({p.subject for p in patients}) == len(patients)
    assert labels.min() >= 0 and labels.max() <= 5
    assert all(p.segments.shape[1] == 1000 and p.fs == 100.0 for p in patients)
    assert 0.1 < np.mean(labels == 5) < 0.5  # AF is a large minority


def test_bidmc_r_peak_rate_agrees_with_the_monitor():
    present("bidmc")
    from anyppg.datasets.labels import beat_rate
    from anyppg.npz import open_npz

    errors = []
    for rec in datasets.read("bidmc")[:10]:
        with open_npz(datasets.dataset_folder("bidmc") / f"{rec.record}.npz") as z:
            monitor = np.asarray(z["hr_ref"], dtype=np.float64)
        for t in np.arange(0.0, rec.duration_s - 10, 10):
            errors.append(abs(beat_rate(rec.r_peaks_s, t, 10)[0] - np.nanmean(monitor[int(t) : int(t) + 10])))
    assert np.nanmedian(errors) < 2.0


def test_mimicdb_subjects_and_beats():
    present("mimicdb")
    records = datasets.read("mimicdb")
    assert len({r.subject for r in records}) < len(records)  # nearby records grouped
    for r in records[:5]:
        assert r.reference_beats_s is not None and r.reference_beats_s.min() >= 0
        assert abs(len(r.r_peaks_s) - len(r.reference_beats_s)) < 0.3 * len(r.reference_beats_s)
