"""The runnable examples in the signal core's and the simulator's docstrings stay correct."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "anyppg.signal",
    "anyppg.signal.filters",
    "anyppg.signal.resampling",
    "anyppg.signal.windowing",
    "anyppg.signal.preprocess",
    "anyppg.signal.peaks",
    "anyppg.signal.runs",
    "anyppg.signal.heart_rate",
    "anyppg.signal.quality",
    "anyppg.signal.segment",
    "anyppg.simulator",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0
