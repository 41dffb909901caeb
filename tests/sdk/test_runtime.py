"""anyppg.sdk.runtime on real files, real runtimes (LiteRT, ExecuTorch) and eager torch as the oracle.

A tiny student (the real :class:`anyppg.quantization.students.Student` code at a small width) is
exported once per module with the toolchain recipes to ``.pte`` / ``.tflite``, fp32 and int8.

Tolerances: fp32 exports match eager to 1e-4 (absolute, on outputs of magnitude ~1; heart rate in bpm
to 1e-3); int8 exports keep the embedding's cosine to eager above 0.99 and heart rate within 2 bpm.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from anyppg.errors import InvalidSignalError, ModelInputError, ModelLoadError
from anyppg.model_card import ModelCard, default_io
from anyppg.sdk.runtime import available_runtimes, load_model

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.slow,  # the module fixture exports four models (~30 s on 2 cores)
    # executorch's edge dialect reads its op table with the legacy importlib.resources API.
    pytest.mark.filterwarnings("ignore:(open_text|read_text) is deprecated:DeprecationWarning"),
    # torch.export's pytree pickling warns through copyreg / typing_extensions, outside our code.
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning"),
]


def _calibration(n: int = 16, seed: int = 1) -> list:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 1, 1250, generator=g) for _ in range(n)]


def _tiny_student():
    from anyppg.quantization.students import Student, StudentConfig

    torch.manual_seed(0)
    model = Student(StudentConfig(stem_channels=4, stage_channels=(8, 8), kernel_size=5, head_hidden=8))
    model.eval()
    with torch.no_grad():  # give BatchNorm non-trivial statistics, as a trained model has
        model.train()
        for x in _calibration(8, seed=3):
            model(x)
        model.eval()
    return model.fold_batchnorm()


def _write_pte(model, x, path: Path, int8: bool) -> None:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from executorch.exir import to_edge_transform_and_lower
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if int8:
        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        gm = prepare_pt2e(torch.export.export(model, (x,)).module(), quantizer)
        for c in _calibration():
            gm(c)
        model = convert_pt2e(gm)
    ep = torch.export.export(model, (x,))
    program = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    path.write_bytes(program.buffer)


def _write_tflite(model, x, path: Path, int8: bool) -> None:
    import litert_torch

    if not int8:
        litert_torch.convert(model, (x,)).export(str(path))
        return
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    gm = prepare_pt2e(torch.export.export(model, (x,)).module(), quantizer)
    for c in _calibration():
        gm(c)
    gm = convert_pt2e(gm, fold_quantize=False)
    litert_torch.convert(gm, (x,), quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(str(path))


def _write_card(path: Path, fmt: str, precision: str) -> None:
    inputs, outputs = default_io()
    backend = "xnnpack" if fmt == "pte" else "litert"
    ModelCard("tiny", fmt, backend, precision, inputs, outputs).save(path.with_suffix(".json"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    """{'eager': model, 'pte_fp32': path, 'pte_q8': path, 'tflite_fp32': path, 'tflite_q8': path}."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("models")
    model = _tiny_student()
    (x,) = _calibration(1, seed=0)
    files = {"eager": model}
    for fmt, writer in (("pte", _write_pte), ("tflite", _write_tflite)):
        backend = "xnnpack" if fmt == "pte" else "litert"
        for precision in ("fp32", "q8"):
            path = root / f"tiny_{backend}_{precision}.{fmt}"
            writer(model, x, path, int8=precision == "q8")
            _write_card(path, fmt, precision)
            files[f"{fmt}_{precision}"] = path
    return files


def _windows(n: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 1, 1, 1250)).astype(np.float32)


def _eager(model, x: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        outs = model(torch.from_numpy(x))
    return {
        name: o.numpy()
        for name, o in zip(("embedding", "heart_rate", "quality", "af", "rhythm"), outs, strict=True)
    }


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- parity --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["pte_fp32", "tflite_fp32"])
def test_fp32_exports_match_eager(exported, key):
    model = load_model(exported[key], threads=1)
    assert model.backend == ("executorch" if key.startswith("pte") else "litert")
    assert model.input_shape == (1, 1, 1250)
    assert not model.card_derived
    for x in _windows(4):
        got, want = model.run(x), _eager(exported["eager"], x)
        assert list(got) == ["embedding", "heart_rate", "quality", "af", "rhythm"]
        for name in want:
            assert got[name].dtype == np.float32
            assert got[name].shape == want[name].shape
            atol = 1e-3 if name == "heart_rate" else 1e-4
            np.testing.assert_allclose(got[name], want[name], atol=atol, rtol=1e-4, err_msg=f"{key} {name}")


def test_litert_and_executorch_agree(exported):
    pte, tfl = load_model(exported["pte_fp32"]), load_model(exported["tflite_fp32"])
    for x in _windows(3, seed=11):
        a, b = pte.run(x), tfl.run(x)
        for name in a:
            np.testing.assert_allclose(a[name], b[name], atol=1e-3 if name == "heart_rate" else 1e-4)


@pytest.mark.parametrize("key", ["pte_q8", "tflite_q8"])
def test_int8_exports_stay_close_to_eager(exported, key):
    model = load_model(exported[key])
    if key == "tflite_q8":  # a fully int8 LiteRT model: the runtime quantizes/dequantizes I/O itself
        assert model.quantized_io
    for x in _windows(4, seed=5):
        got, want = model.run(x), _eager(exported["eager"], x)
        assert got["embedding"].dtype == np.float32
        assert _cosine(got["embedding"], want["embedding"]) > 0.99
        assert abs(float(got["heart_rate"][0, 0] - want["heart_rate"][0, 0])) < 2.0


def test_run_batch_equals_window_by_window(exported):
    model = load_model(exported["tflite_fp32"])
    xs = _windows(5, seed=2)[:, 0]  # (5, 1, 1250)
    batch = model.run_batch(xs)
    assert batch["embedding"].shape == (5, 512)
    assert batch["heart_rate"].shape == (5, 1)
    for i, x in enumerate(xs):
        single = model.run(x[None])
        for name in single:
            np.testing.assert_array_equal(batch[name][i : i + 1], single[name])


def test_thread_count_does_not_change_results(exported):
    x = _windows(1)[0]
    for key in ("tflite_fp32", "pte_fp32"):
        one = load_model(exported[key], threads=1).run(x)
        two = load_model(exported[key], threads=2).run(x)
        for name in one:
            np.testing.assert_allclose(one[name], two[name], atol=1e-5)


@pytest.mark.parametrize("key", ["pte_fp32", "pte_q8", "tflite_fp32", "tflite_q8"])
def test_bound_path_gives_the_bits_of_a_plain_runtime_call(exported, key, plain_runtime_call):
    # fp32 files (float I/O) and int8 ones; the shipped students: test_runtime_hotpath.py.
    model = load_model(exported[key], threads=1)
    assert model._engine.bound
    xs = [*_windows(3, seed=4), 40 * _windows(1, seed=5)[0]]  # the last saturates int8 inputs
    results = [model.run(x) for x in xs]
    for x, got in zip(xs, results, strict=True):
        want = plain_runtime_call(exported[key], x)
        for name, w in zip(model.output_names, want, strict=True):
            np.testing.assert_array_equal(got[name], w, err_msg=f"{key} {name}", strict=True)


# --- cards ---------------------------------------------------------------------------------------


def test_card_is_derived_when_absent(exported, tmp_path, caplog):
    bare = tmp_path / "student-x_litert_q8.tflite"
    bare.write_bytes(exported["tflite_q8"].read_bytes())
    with caplog.at_level(logging.WARNING, logger="anyppg.sdk.runtime"):
        model = load_model(bare)
    assert model.card_derived
    assert "no model card" in caplog.text
    assert (model.card.name, model.card.format, model.card.precision) == ("student-x", "tflite", "q8")
    assert model.card.input_shape == (1, 1, 1250)
    assert model.output_names == ["embedding", "heart_rate", "quality", "af", "rhythm"]
    assert model.card.size_bytes == bare.stat().st_size
    assert set(model.run(_windows(1)[0])) == set(model.output_names)


def test_card_that_does_not_match_the_file_is_refused(exported, tmp_path):
    path = tmp_path / "m.pte"
    path.write_bytes(exported["pte_fp32"].read_bytes())
    inputs, outputs = default_io()
    inputs[0].shape = [1, 1, 1000]
    ModelCard("m", "pte", "xnnpack", "fp32", inputs, outputs).save(tmp_path / "m.json")
    with pytest.raises(ModelLoadError, match=r"input shape \(1, 1, 1000\).*\(1, 1, 1250\)") as info:
        load_model(path)
    assert info.value.path == str(path)

    inputs, outputs = default_io()
    ModelCard("m", "tflite", "litert", "fp32", inputs, outputs[:3]).save(tmp_path / "m.json")
    with pytest.raises(ModelLoadError, match="format 'tflite'"):
        load_model(path)
    ModelCard("m", "pte", "xnnpack", "fp32", inputs, outputs[:3]).save(tmp_path / "m.json")
    with pytest.raises(ModelLoadError, match="3 outputs; the file has 5"):
        load_model(path)
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_model(path)


# --- bad input -----------------------------------------------------------------------------------


def test_input_shapes(exported):
    model = load_model(exported["tflite_fp32"])
    x = _windows(1)[0]
    flat = model.run(x.reshape(1250))  # size-1 axes may be dropped
    np.testing.assert_array_equal(flat["embedding"], model.run(x)["embedding"])
    with pytest.raises(ModelInputError) as info:
        model.run(np.zeros((1, 1, 1000), np.float32))
    assert info.value.expected == (1, 1, 1250)
    assert info.value.got == (1, 1, 1000)
    with pytest.raises(ModelInputError, match=r"expected \('N', 1, 1250\)"):
        model.run_batch(np.zeros((3, 2, 1250), np.float32))
    bad = x.copy()
    bad[0, 0, 10] = np.nan
    with pytest.raises(InvalidSignalError, match="1 NaN/inf"):
        model.run(bad)


def _corruptions(good: bytes, rng: np.random.Generator) -> dict[str, bytes]:
    return {
        "truncated": good[: len(good) // 2],
        "header only": good[:64],
        "random bytes": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "empty": b"",
    }


@pytest.mark.parametrize("key", ["pte_fp32", "tflite_q8"])
def test_corrupt_files_raise_model_load_error(exported, tmp_path, key):
    good = exported[key].read_bytes()
    for what, data in _corruptions(good, np.random.default_rng(0)).items():
        path = tmp_path / f"{what.replace(' ', '_')}{exported[key].suffix}"
        path.write_bytes(data)
        with pytest.raises(ModelLoadError) as info:
            load_model(path)
        assert info.value.path == str(path), what
        assert path.name in str(info.value), what


def test_wrong_suffix_and_mismatched_content(exported, tmp_path):
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(exported["pte_fp32"].read_bytes())
    with pytest.raises(ModelLoadError, match=r"unsupported suffix '\.onnx'; expected one of \.tflite, \.pte"):
        load_model(onnx)
    swapped = tmp_path / "model.tflite"
    swapped.write_bytes(exported["pte_fp32"].read_bytes())
    with pytest.raises(ModelLoadError, match=r"content is a pte model but the suffix says \.tflite"):
        load_model(swapped)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "missing.pte")
    with pytest.raises(ValueError, match="threads"):
        load_model(exported["tflite_fp32"], threads=0)


# --- torch-free SDK side -------------------------------------------------------------------------


def _python(code: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, **kwargs
    )


def test_tflite_runs_without_importing_torch(exported):
    code = f"""
        import json, sys
        import numpy as np
        from anyppg.sdk.runtime import load_model
        model = load_model({str(exported["tflite_q8"])!r}, threads=1)
        out = model.run(np.zeros((1, 1, 1250), np.float32))
        heavy = sorted(m for m in ("torch", "executorch", "tensorflow", "jax") if m in sys.modules)
        print(json.dumps({{"heavy": heavy, "shape": list(out["embedding"].shape)}}))
    """
    result = _python(code)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"heavy": [], "shape": [1, 512]}


def test_pte_without_executorch_names_the_install_command(exported, tmp_path):
    # An installation without ExecuTorch cannot exist in this venv; a package that fails to import
    # stands in for it (the runtime must turn the ImportError into RuntimeUnavailableError).
    fake = tmp_path / "site" / "executorch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('executorch is not usable here')\n")
    code = f"""
        import sys
        sys.path.insert(0, {str(tmp_path / "site")!r})
        from anyppg.errors import RuntimeUnavailableError
        from anyppg.sdk.runtime import load_model
        try:
            load_model({str(exported["pte_fp32"])!r})
        except RuntimeUnavailableError as exc:
            print(exc.install_command)
    """
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert "pip install" in result.stdout and "executorch-numpy-runtime" in result.stdout


def test_available_runtimes_reports_what_is_installed():
    found = available_runtimes()
    assert found["litert"] == "ai_edge_litert"
    assert found["executorch"] == "executorch.runtime"
