"""The bound per-call path of :mod:`anyppg.sdk.runtime` gives the same bits as a plain runtime call.

``Model.run`` quantizes into LiteRT's input buffer, dequantizes by table lookup and reuses
ExecuTorch's buffers (see the module docstring). The reference here is the straightforward call of
the same runtime, written out in full: LiteRT's signature runner with the int8 input quantized and
the outputs dequantized by the textbook formula, and ``executorch.runtime``'s ``Method.execute``.
They run on the shipped students (every ``.tflite`` / ``.pte`` in ``anyppg/assets`` with a card), on
windows of several scales (some saturate the int8 input range), zeros, a non-contiguous view and
float64 input. Equality is exact: same dtype, same shape, same bits.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from anyppg.errors import InvalidSignalError
from anyppg.sdk.runtime import load_model

_ASSETS = Path(str(resources.files("anyppg.assets")))
_FILES = sorted(
    p.name
    for p in [*_ASSETS.glob("student-*.tflite"), *_ASSETS.glob("student-*.pte")]
    if p.with_suffix(".json").is_file()
)

pytestmark = [
    pytest.mark.skipif(not _FILES, reason="no shipped student files"),
    pytest.mark.filterwarnings("ignore:(open_text|read_text) is deprecated:DeprecationWarning"),
]


def _windows() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    out = [scale * rng.standard_normal((1, 1, 1250)).astype(np.float32) for scale in (0.05, 1.0, 3.0, 50.0)]
    t = np.arange(1250, dtype=np.float32) / 125.0  # a 72 bpm pulse with its harmonic
    pulse = np.sin(2 * np.pi * 1.2 * t) + 0.4 * np.sin(2 * np.pi * 2.4 * t)
    out.append(pulse.reshape(1, 1, 1250).astype(np.float32))
    out.append(np.zeros((1, 1, 1250), np.float32))
    return out


def _reference(call, path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    """The outputs of ``call`` (the ``plain_runtime_call`` fixture of tests/conftest.py) by name."""
    outs = call(path, x)
    return dict(zip(("embedding", "heart_rate", "quality", "af", "rhythm"), outs, strict=True))


def _assert_same_bits(got: dict[str, np.ndarray], want: dict[str, np.ndarray], what: str) -> None:
    assert list(got) == list(want), what
    for name in want:
        assert got[name].dtype == want[name].dtype == np.float32, f"{what} {name}"
        assert got[name].shape == want[name].shape, f"{what} {name}"
        np.testing.assert_array_equal(got[name], want[name], err_msg=f"{what} {name}", strict=True)


@pytest.fixture(scope="module", params=_FILES)
def shipped(
    request, plain_runtime_call
) -> tuple[Path, object, list[np.ndarray], list[dict[str, np.ndarray]]]:
    """(path, loaded model, windows, reference outputs per window)."""
    path = _ASSETS / request.param
    windows = _windows()
    return (
        path,
        load_model(path, threads=1),
        windows,
        [_reference(plain_runtime_call, path, x) for x in windows],
    )


def test_bound_path_is_in_use(shipped):
    model = shipped[1]
    assert model._engine.bound  # otherwise the tests below compare the plain path with itself


def test_outputs_are_bit_identical_to_a_plain_runtime_call(shipped):
    path, model, windows, refs = shipped
    results = [model.run(x) for x in windows]
    for i, (got, want) in enumerate(zip(results, refs, strict=True)):
        _assert_same_bits(got, want, f"{path.name} window {i}")
    # Later calls did not overwrite earlier results (no output aliases a runtime buffer).
    for i, (got, want) in enumerate(zip(results, refs, strict=True)):
        _assert_same_bits(got, want, f"{path.name} window {i}, after all calls")
    a, b = results[0]["embedding"], model.run(windows[0])["embedding"]
    assert not np.shares_memory(a, b)


def test_any_layout_and_dtype_give_the_same_bits(shipped):
    path, model, windows, refs = shipped
    x = windows[1]
    strided = np.repeat(x, 2, axis=-1)[..., ::2]  # same values, not contiguous
    assert not strided.flags.c_contiguous
    for what, variant in {
        "strided": strided,
        "float64": x.astype(np.float64),
        "flat": x.reshape(1250),
        "fortran": np.asfortranarray(x),
    }.items():
        _assert_same_bits(model.run(variant), refs[1], f"{path.name} {what}")


def test_non_finite_input_is_refused_and_huge_finite_input_is_not(shipped, plain_runtime_call):
    path, model, windows, _refs = shipped
    for bad_value, count in ((np.nan, 1), (np.inf, 2), (-np.inf, 3)):
        bad = windows[1].copy()
        bad[0, 0, :count] = bad_value
        with pytest.raises(InvalidSignalError, match=f"{count} NaN/inf"):
            model.run(bad)
    huge = np.full((1, 1, 1250), 1e30, np.float32)  # finite: runs (saturating an int8 input)
    huge[0, 0, ::2] = -1e30
    _assert_same_bits(model.run(huge), _reference(plain_runtime_call, path, huge), f"{path.name} huge")
