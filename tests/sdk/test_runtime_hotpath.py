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

import re
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


def _litert_reference(path: Path, x: np.ndarray) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    runner = interp.get_signature_runner()
    (name, detail), *_ = runner.get_input_details().items()
    if np.dtype(detail["dtype"]).kind in "iu":
        scale, zero_point = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        x = np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(detail["dtype"])
    result = runner(**{name: x})
    details = runner.get_output_details()
    outs = []
    for key in sorted(result, key=lambda k: int(re.search(r"(\d+)$", k).group(1))):
        y = result[key]
        if np.dtype(details[key]["dtype"]).kind in "iu":
            scale, zero_point = details[key]["quantization"]
            y = ((y.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)
        outs.append(y)
    return outs


def _executorch_reference(path: Path, x: np.ndarray) -> list[np.ndarray]:
    torch = pytest.importorskip("torch")
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(str(path)).load_method("forward")
    return [o.numpy().copy() for o in method.execute([torch.from_numpy(x)])]


def _reference(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    outs = (_litert_reference if path.suffix == ".tflite" else _executorch_reference)(path, x)
    return dict(zip(("embedding", "heart_rate", "quality", "af", "rhythm"), outs, strict=True))


def _assert_same_bits(got: dict[str, np.ndarray], want: dict[str, np.ndarray], what: str) -> None:
    assert list(got) == list(want), what
    for name in want:
        assert got[name].dtype == want[name].dtype == np.float32, f"{what} {name}"
        assert got[name].shape == want[name].shape, f"{what} {name}"
        np.testing.assert_array_equal(got[name], want[name], err_msg=f"{what} {name}", strict=True)


@pytest.fixture(scope="module", params=_FILES)
def shipped(request) -> tuple[Path, object, list[np.ndarray], list[dict[str, np.ndarray]]]:
    """(path, loaded model, windows, reference outputs per window)."""
    path = _ASSETS / request.param
    windows = _windows()
    return path, load_model(path, threads=1), windows, [_reference(path, x) for x in windows]


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


def test_non_finite_input_is_refused_and_huge_finite_input_is_not(shipped):
    path, model, windows, _refs = shipped
    for bad_value, count in ((np.nan, 1), (np.inf, 2), (-np.inf, 3)):
        bad = windows[1].copy()
        bad[0, 0, :count] = bad_value
        with pytest.raises(InvalidSignalError, match=f"{count} NaN/inf"):
            model.run(bad)
    huge = np.full((1, 1, 1250), 1e30, np.float32)  # finite: runs (saturating an int8 input)
    huge[0, 0, ::2] = -1e30
    _assert_same_bits(model.run(huge), _reference(path, huge), f"{path.name} huge")
