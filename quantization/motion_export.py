"""int8 quantization and export of the motion heart-rate model; its LOSO run and the shipped files.

Pipeline (as :mod:`anyppg.quantization.export`, for the motion model's own input)::

    torch.export (dynamic batch) -> prepare_pt2e -> calibrate -> convert_pt2e -> lower -> serialize

to ``motion-hr_xnnpack_q8.pte`` (ExecuTorch, XNNPACK) and ``motion-hr_litert_q8.tflite`` (LiteRT,
int8 input and output tensors), each with a JSON model card (:mod:`anyppg.model_card`): input
``spectra`` float32 (1, 4, 64) (:mod:`anyppg.signal.motion_spectra`), output ``hr_logits`` float32
(1, 64) over :data:`anyppg.signal.motion_spectra.HR_BINS_BPM`.

Command line::

    python -m anyppg.quantization.motion_export loso --data ../shared/data    # benchmarks/results/motion_learned_loso.*
    python -m anyppg.quantization.motion_export ship --data ../shared/data    # anyppg/assets/motion-hr_*
    python -m anyppg.quantization.motion_export cards   # LOSO numbers into the shipped cards again

``--data`` defaults to ``$ANYPPG_DATA``. Both train with one torch thread; ``loso`` takes about
15 minutes on a shared 2-core machine, ``ship`` about one.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from anyppg.errors import DataFormatError
from anyppg.model_card import ModelCard, Preprocessing, TensorSpec, card_path_for
from anyppg.quantization.export import (
    machine_description,
    measure_latency_ms,
    pte_program,
    tflite_flatbuffer,
    toolchain_warnings_silenced,
)
from anyppg.quantization.ptq import QuantizationError, _quantizer
from anyppg.quantization.students import convs_over_width
from anyppg.signal.motion_spectra import HR_BINS_BPM, N_BINS, RATE_HZ, WINDOW_S
from anyppg.trainer.motion_model import N_INPUTS, MotionHRNet, TrainConfig, count_parameters, train

log = logging.getLogger("anyppg.quantization.motion_export")

NAME = "motion-hr"
INPUT_SHAPE = (1, N_INPUTS, N_BINS)
SHIPPED = (("xnnpack", ".pte"), ("litert", ".tflite"))

LICENCE_NOTE = (
    "research use: trained on TROIKA (IEEE SPC 2015; free for research with citation: Zhang, Pi, Liu, "
    "IEEE TBME 62(2):522-531, 2015) and BAMI-I (academic use with citation: Lee, Chung, Lee, IEEE "
    "Sensors J 19(3):1166-1175, 2018); not cleared for commercial use"
)


# --- quantization ----------------------------------------------------------------------------------


def fold_batchnorm(model: MotionHRNet) -> nn.Module:
    """An eval-mode copy of ``model`` with every BatchNorm folded into the conv before it."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    m = copy.deepcopy(model).eval()
    m.stem[0] = fuse_conv_bn_eval(m.stem[0], m.stem[1])
    m.stem[1] = nn.Identity()
    for block in m.blocks:
        block.conv1 = fuse_conv_bn_eval(block.conv1, block.bn1)
        block.bn1 = nn.Identity()
        block.conv2 = fuse_conv_bn_eval(block.conv2, block.bn2)
        block.bn2 = nn.Identity()
    return m


class _OverWidth(nn.Module):
    """A motion model with BatchNorm folded and every ``Conv1d`` the same ``Conv2d`` over
    ``(B, C, 1, K)``, fed ``(B, 4, 64)``."""

    def __init__(self, model: MotionHRNet) -> None:
        super().__init__()
        self.model = convs_over_width(fold_batchnorm(model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]))


def deployment_form(model: MotionHRNet) -> nn.Module:
    """What is quantized and exported (:class:`_OverWidth`): BatchNorm folded, every ``Conv1d`` the same
    ``Conv2d`` over ``(B, C, 1, K)`` (:func:`anyppg.quantization.students.convs_over_width`), one
    reshape at the input. Same outputs, same input shape.

    The 1-D graph had litert-torch wrap the convolutions in 11 layout transposes and 13 reshapes (the
    students' case, ``docs/quantization.md``); this one keeps 2 transposes and 4 reshapes, at the
    input (four channels to NHWC) and around the mean over the bins (a ``Linear`` along the last axis). Measured
    interleaved at one thread on the same weights: 41 vs 44 us per call in LiteRT, 32 vs 40 us in
    ExecuTorch. A fixed depthwise ``(1, 64)`` convolution for that mean removes the second transpose
    but cost 78 us in LiteRT."""
    return _OverWidth(model).eval()


def quantize_motion(
    model: MotionHRNet, calibration: np.ndarray, backend: str = "xnnpack"
) -> torch.fx.GraphModule:
    """PT2E static int8 (per-channel weights, per-tensor activations) of the motion model.

    Args:
        model: the trained fp32 model.
        calibration: model inputs (N, 4, 64) float32, N >= 1, finite.
        backend: ``"xnnpack"`` or ``"litert"`` (which quantizer annotates the graph).

    Returns:
        The converted graph module: int8 simulated in torch, taking (B, 4, 64).

    Raises:
        QuantizationError: bad calibration data or an unknown backend.
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    x = np.asarray(calibration, dtype=np.float32)
    if x.ndim != 3 or x.shape[1:] != INPUT_SHAPE[1:] or len(x) == 0 or not np.isfinite(x).all():
        raise QuantizationError(
            f"calibration inputs have shape {x.shape}; expected finite (N >= 1, {N_INPUTS}, {N_BINS})"
        )
    quantizer = _quantizer(backend)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with toolchain_warnings_silenced():
        graph = torch.export.export(
            deployment_form(model), (torch.zeros(2, *INPUT_SHAPE[1:]),), dynamic_shapes=({0: batch},)
        ).module()
        prepared = prepare_pt2e(graph, quantizer)
        with torch.no_grad():
            for chunk in torch.from_numpy(x).split(256):
                prepared(chunk)
        return convert_pt2e(prepared, fold_quantize=backend == "xnnpack")


def int8_predictor(model: nn.Module, calibration: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``quantize_motion`` (XNNPACK quantizer) as a function from inputs (N, 4, 64) to logits (N, 64)."""
    q = quantize_motion(model, calibration)  # type: ignore[arg-type]

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate(
                [q(c).numpy() for c in torch.from_numpy(np.ascontiguousarray(x)).split(2048)]
            )

    return predict


# --- export ----------------------------------------------------------------------------------------


def lower_pte(model: MotionHRNet, calibration: np.ndarray) -> bytes:
    """int8 XNNPACK-delegated ExecuTorch program bytes.

    Raises:
        QuantizationError: the graph was not fully delegated, or bad calibration data.
    """
    buffer, report = pte_program(quantize_motion(model, calibration, "xnnpack"), INPUT_SHAPE)
    if not report.fully_delegated:
        raise QuantizationError(f"XNNPACK left ops undelegated: {report.undelegated}")
    return buffer


def convert_tflite(model: MotionHRNet, calibration: np.ndarray) -> bytes:
    """int8 LiteRT flatbuffer bytes (int8 input and output tensors)."""
    with toolchain_warnings_silenced():
        from litert_torch.quantize.quant_config import QuantConfig

    module = quantize_motion(model, calibration, "litert")
    return tflite_flatbuffer(module, QuantConfig(pt2e_quantizer=_quantizer("litert")), INPUT_SHAPE)


def model_card(backend: str, fmt: str, parameters: int, size: int, **fields: Any) -> ModelCard:
    """The motion model's card (inputs, outputs, preprocessing) with ``fields`` filled in."""
    return ModelCard(
        name=NAME,
        format=fmt,
        backend=backend,
        precision="q8",
        inputs=[
            TensorSpec(
                "spectra",
                list(INPUT_SHAPE),
                description="one PPG channel's spectrum and the 3 accelerometer spectra (g) of the last 8 s "
                "at 25 Hz over the 64 heart-rate bins (anyppg.signal.motion_spectra.motion_inputs)",
            )
        ],
        outputs=[
            TensorSpec(
                "hr_logits",
                [1, N_BINS],
                description="logits over heart-rate bins 36-225 bpm in 3-bpm steps "
                "(anyppg.signal.motion_spectra.HR_BINS_BPM); softmax -> anyppg.signal.hr_belief",
            )
        ],
        preprocessing=Preprocessing(
            sampling_rate_hz=RATE_HZ,
            window_s=WINDOW_S,
            bandpass_hz=(float(HR_BINS_BPM[0] / 60), float(HR_BINS_BPM[-1] / 60)),
            normalization="per-window magnitude spectra: PPG / its max; ACC / max(max, 0.02 g floor)",
            implementation="anyppg.signal.motion_spectra",
        ),
        parameters=parameters,
        size_bytes=size,
        measured_on=machine_description(1) + (", ExecuTorch" if backend == "xnnpack" else ", ai-edge-litert"),
        created_by="python -m anyppg.quantization.motion_export ship",
        **fields,
    )


def export_motion(
    model: MotionHRNet,
    calibration: np.ndarray,
    out_dir: str | Path,
    *,
    training_data: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    latency_runs: int = 200,
) -> list[Path]:
    """Write ``motion-hr_xnnpack_q8.pte`` and ``motion-hr_litert_q8.tflite`` with their cards.

    The cards get the file size, the median / p90 latency of one invocation measured with the SDK's
    runtime (:func:`anyppg.sdk.runtime.load_model`, 1 thread; ``latency_runs`` = 0 skips it), the
    calibration size, and ``training_data`` / ``metrics`` as given.

    Returns:
        The model file paths.

    Raises:
        QuantizationError: bad calibration data or an incomplete XNNPACK delegation.
    """
    from anyppg.sdk.runtime import load_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    x = np.zeros(INPUT_SHAPE, np.float32)
    for backend, suffix in SHIPPED:
        t0 = time.perf_counter()
        data = lower_pte(model, calibration) if backend == "xnnpack" else convert_tflite(model, calibration)
        path = out / f"{NAME}_{backend}_q8{suffix}"
        path.write_bytes(data)
        card = model_card(
            backend,
            suffix[1:],
            count_parameters(model),
            len(data),
            training_data=dict(training_data or {}),
            metrics=dict(metrics or {}),
            quantization={
                "scheme": "PT2E static int8: per-channel symmetric weights, per-tensor activations",
                "quantizer": "XNNPACKQuantizer" if backend == "xnnpack" else "litert_torch PT2EQuantizer",
                "calibration_inputs": len(calibration),
            },
        )
        card.save(card_path_for(path))
        if latency_runs:
            loaded = load_model(path, threads=1)
            card.latency_ms = measure_latency_ms(lambda m=loaded: m.run(x), runs=latency_runs)
            card.save(card_path_for(path))
        log.info("wrote %s (%d bytes) in %.0f s", path, len(data), time.perf_counter() - t0)
        paths.append(path)
    return paths


# --- command line ----------------------------------------------------------------------------------


def _data_dir(arg: str | None) -> Path:
    data = arg or os.environ.get("ANYPPG_DATA")
    if not data:
        raise SystemExit(
            "no data folder: pass --data DIR or set ANYPPG_DATA (the folder holding troika/ and bami1/)"
        )
    return Path(data)


def _training_data(w: Any) -> dict[str, Any]:
    base = w.stretch == 1.0
    out: dict[str, Any] = {"simulated": False, "real": True, "licence": LICENCE_NOTE, "datasets": {}}
    for ds in ("troika", "bami1"):
        sel = w.dataset == ds
        out["datasets"][ds] = {
            "subjects": len(set(w.subject[sel].tolist())),
            "recordings": len(set(w.record[sel].tolist())),
            "windows_8s": int(sel.sum()),
            "hours": round(float(sel.sum()) * 2.0 / 3600 + 6 / 3600 * len(set(w.record[sel].tolist())), 2),
            "inputs_per_channel_unstretched": int((base & sel[w.window]).sum()),
        }
    out["reference"] = (
        "ECG heart rate per 8-s window, 2-s step (TROIKA: given; BAMI-I: beat-by-beat Holter ECG averaged)"
    )
    out["augmentation"] = "time stretch x0.85 / x1.15 of the spectra (labels scaled)"
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``loso`` or ``ship`` (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m anyppg.quantization.motion_export", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=("loso", "merge", "ship", "cards"))
    parser.add_argument("--data", help="data folder holding troika/ and bami1/ (default: $ANYPPG_DATA)")
    parser.add_argument(
        "--cache", default="runs/motion/windows.npz", help="window cache (built when missing)"
    )
    parser.add_argument(
        "--results", default="benchmarks/results", help="where loso writes motion_learned_loso.*"
    )
    parser.add_argument(
        "--out", default=None, help="where ship writes the model files (default: anyppg/assets)"
    )
    parser.add_argument(
        "--subjects", default=None, help="loso: comma-separated subject keys (default: all 36)"
    )
    parser.add_argument("--no-int8", action="store_true", help="loso: score fp32 only")
    parser.add_argument(
        "--parts", nargs="+", default=(), help="merge: LOSO JSON files of disjoint subject runs"
    )
    parser.add_argument(
        "--wall-cap-s", type=float, default=1800.0, help="loso: stop starting folds after this"
    )
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--width", type=int, default=TrainConfig.width)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)

    from anyppg.trainer.motion_data import load_or_build
    from anyppg.trainer.motion_loso import loso, markdown, merge_results, to_json_ready

    if args.command == "cards":  # refresh the LOSO metrics in the shipped cards after a new LOSO run
        out_dir = Path(args.out) if args.out else Path(str(resources.files("anyppg.assets")))
        metrics = _loso_metrics(Path(args.results) / "motion_learned_loso.json")
        for backend, suffix in SHIPPED:
            card_file = card_path_for(out_dir / f"{NAME}_{backend}_q8{suffix}")
            card = ModelCard.load(card_file)
            card.metrics = metrics
            card.save(card_file)
            log.info("updated the LOSO metrics of %s", card_file)
        return 0
    if args.command == "merge":
        merged = merge_results([json.loads(Path(p).read_text()) for p in args.parts])
        out = Path(args.results)
        out.mkdir(parents=True, exist_ok=True)
        (out / "motion_learned_loso.json").write_text(json.dumps(merged) + "\n")
        cmd = "python -m anyppg.quantization.motion_export loso --data DATA [--subjects ...], then merge --parts ..."
        (out / "motion_learned_loso.md").write_text(markdown(merged, cmd))
        log.info("merged %d parts into %s", len(args.parts), out / "motion_learned_loso.{json,md}")
        return 0

    try:
        w = load_or_build(_data_dir(args.data), args.cache)
    except DataFormatError as exc:
        raise SystemExit(str(exc)) from None
    cfg = TrainConfig(epochs=args.epochs, width=args.width)
    command = (
        f"python -m anyppg.quantization.motion_export {args.command} --data DATA"
        + "".join(
            f" --{k.replace('_', '-')} {v}"
            for k, v in (("subjects", args.subjects), ("epochs", args.epochs), ("width", args.width))
            if v is not None
        )
        + (" --no-int8" if args.no_int8 else "")
    )
    if args.command == "loso":
        subjects = args.subjects.split(",") if args.subjects else None
        result = loso(
            w,
            cfg,
            subjects=subjects,
            quantize=None if args.no_int8 else int8_predictor,
            wall_cap_s=args.wall_cap_s,
        )
        out = Path(args.results)
        out.mkdir(parents=True, exist_ok=True)
        (out / "motion_learned_loso.json").write_text(json.dumps(to_json_ready(result)) + "\n")
        (out / "motion_learned_loso.md").write_text(markdown(result, command))
        log.info("wrote %s", out / "motion_learned_loso.{json,md}")
        return 0
    # ship: one model on every subject (early stopping off: all subjects train), int8 files + cards.
    ship_cfg = TrainConfig(epochs=args.epochs, width=args.width, val_subjects=0)
    model, info = train(w, w.subjects, ship_cfg)
    rng = np.random.default_rng(0)
    base = np.flatnonzero(w.stretch == 1.0)
    calibration = w.x[rng.choice(base, 512, replace=False)]
    metrics = _loso_metrics(Path(args.results) / "motion_learned_loso.json")
    training = _training_data(w) | {"config": info["config"], "train_wall_s": round(info["wall_s"], 1)}
    out_dir = Path(args.out) if args.out else Path(str(resources.files("anyppg.assets")))
    export_motion(model, calibration, out_dir, training_data=training, metrics=metrics)
    return 0


def _loso_metrics(path: Path) -> dict[str, Any]:
    """The LOSO summary for the card (empty with a note when the LOSO result is missing)."""
    if not path.is_file():
        return {"note": f"no LOSO result at {path.name}; run `... motion_export loso` first"}
    result = json.loads(path.read_text())
    return {
        "loso_mae_bpm": result["summary"],
        "scored_on": "each fold's model as PT2E int8 simulated in torch (XNNPACK quantizer) and fp32; "
        "the shipped files are the same architecture trained on all 36 subjects",
        "definitions": "mean_over_recordings: mean of per-recording MAE (bpm) vs the ECG reference; "
        "window: each 8-s window alone; tracked: causal belief filter (anyppg.signal.hr_belief)",
        "source": "benchmarks/results/motion_learned_loso.json",
    }


if __name__ == "__main__":
    raise SystemExit(main())
