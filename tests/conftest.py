"""Shared test configuration.

Tests that need torch import it inside the test module; the SDK-side tests must not.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

# Keep each test process to one BLAS/torch thread: `make test` runs two pytest workers on two cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def _plain_runtime_call(path, x):
    """Every output of ``path`` (.pte / .tflite) on ``x`` with the runtime called the straightforward
    way, int8 outputs dequantized as float32: the reference for the SDK's bound call path."""
    from pathlib import Path

    import numpy as np

    if Path(path).suffix == ".pte":
        import torch
        from executorch.runtime import Runtime

        method = Runtime.get().load_program(str(path)).load_method("forward")
        return [o.numpy().copy() for o in method.execute([torch.from_numpy(x)])]
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path), num_threads=1).get_signature_runner()
    (name, detail), *_ = runner.get_input_details().items()
    if np.dtype(detail["dtype"]).kind in "iu":
        scale, zero_point = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        x = np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(detail["dtype"])
    result, details = runner(**{name: x}), runner.get_output_details()
    outs = []
    for key in sorted(result, key=lambda k: int(k.rsplit("_", 1)[-1])):
        y = result[key]
        if np.dtype(details[key]["dtype"]).kind in "iu":
            scale, zero_point = details[key]["quantization"]
            y = ((y.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)
        outs.append(y)
    return outs


@pytest.fixture(scope="session")
def plain_runtime_call():
    """:func:`_plain_runtime_call`, for the runtime tests."""
    return _plain_runtime_call


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def benchmark_script():
    """``load(name)``: the module of the script ``benchmarks/{name}.py`` (not a package), imported once
    per session and registered as ``name`` in ``sys.modules`` (dataclasses look their module up there
    while the class is built; scripts import each other by that name). Unregistered at the end."""
    loaded: dict[str, object] = {}

    def load(name: str):
        if name not in loaded:
            spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            loaded[name] = module
        return loaded[name]

    yield load
    for name in loaded:
        sys.modules.pop(name, None)


def _write_multifrequency_wfdb(
    folder: Path,
    name: str,
    signals: list,
    names: list[str],
    units: list[str],
    per_frame: list[int],
    frame_fs: float,
) -> None:
    """A WFDB record whose signals have samples per frame of their own (rate: ``frame_fs`` x that)."""
    wfdb = pytest.importorskip("wfdb")
    n = len(signals)
    rec = wfdb.Record(
        record_name=name,
        n_sig=n,
        fs=frame_fs,
        sig_len=len(signals[0]) // per_frame[0],
        sig_name=names,
        units=units,
        samps_per_frame=per_frame,
        e_p_signal=signals,
        fmt=["16"] * n,
        adc_gain=[1000.0] * n,
        baseline=[0] * n,
        adc_res=[16] * n,
        adc_zero=[0] * n,
        block_size=[0] * n,
        file_name=[f"{name}.dat"] * n,
    )
    rec.e_d_signal = rec.adc(expanded=True)
    rec.set_d_features(expanded=True)
    rec.wrsamp(expanded=True, write_dir=str(folder))


@pytest.fixture(scope="session")
def write_multifrequency_wfdb():
    """:func:`_write_multifrequency_wfdb`, for the WFDB readers' tests."""
    return _write_multifrequency_wfdb


def _write_bidmc(path: Path, sim, **override) -> None:
    """A BIDMC record in the data folder's NPZ layout (``bidmc_NN.npz``) from a simulation with PPG and
    ECG at one rate; ``override`` replaces or (with None) leaves out an array."""
    arrays = {
        "ppg": sim.ppg.astype(np.float32),
        "ecg": sim.ecg.astype(np.float32),
        "fs_ppg": np.int32(round(sim.ppg_rate)),
        "fs_ecg": np.int32(round(sim.ecg_rate)),
    }
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


@pytest.fixture(scope="session")
def write_bidmc():
    """:func:`_write_bidmc`, for the clinical readers' and the benchmarks' tests."""
    return _write_bidmc
