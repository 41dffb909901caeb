"""The model card: a JSON file shipped next to every exported model.

It is the contract between ``anyppg.quantization`` (which writes it) and ``anyppg.sdk`` (which reads it
to know how to feed the model and what its outputs mean). The SDK needs no torch to read it.

File naming: ``{model}_{backend}_{precision}.{pte|tflite}`` with its card at
``{model}_{backend}_{precision}.json`` (``backend`` is ``xnnpack`` for ExecuTorch or ``litert``;
``precision`` is ``fp32`` or ``q8``), e.g. ``student-s_litert_q8.tflite`` + ``student-s_litert_q8.json``.

Model I/O (every anyppg student and teacher export):
    input  ``ppg``: float32 ``(1, 1, 1250)``: 10 s at 125 Hz, preprocessed by
           ``anyppg.signal`` (0.5-8 Hz band-pass, z-score per window).
    outputs, in this order:
        ``embedding``  float32 ``(1, 512)``: in the teacher's embedding space
        ``heart_rate`` float32 ``(1, 1)``: beats per minute
        ``quality``    float32 ``(1, 1)``: logit of P(signal usable)
        ``af``         float32 ``(1, 1)``: logit of P(atrial fibrillation)
        ``rhythm``     float32 ``(1, 6)``: logits of the rhythm classes listed in the card's
                       ``rhythm_classes`` (Liu 2022 order: sinus_rhythm, PVC, PAC, VT, SVT, AF);
                       files made before the rhythm head have only the first four outputs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from anyppg.errors import ModelLoadError

SCHEMA_VERSION = 1
OUTPUT_NAMES = ("embedding", "heart_rate", "quality", "af", "rhythm")
RHYTHM_CLASSES = ("sinus_rhythm", "PVC", "PAC", "VT", "SVT", "AF")
"""The rhythm head's classes, in output order (Liu et al. 2022 label order)."""


@dataclass
class TensorSpec:
    name: str
    shape: list[int]
    dtype: str = "float32"
    description: str = ""


@dataclass
class Preprocessing:
    sampling_rate_hz: float = 125.0
    window_s: float = 10.0
    bandpass_hz: tuple[float, float] = (0.5, 8.0)
    normalization: str = "zscore-per-window"
    implementation: str = "anyppg.signal"


@dataclass
class ModelCard:
    """What a deployed model is, how to feed it and how good it is.

    Attributes:
        name: model family name (``student-s``, ``student-xs``, ``teacher``).
        format: ``pte`` or ``tflite``.
        backend: ``xnnpack`` or ``litert``.
        precision: ``fp32`` or ``q8``.
        inputs / outputs: tensor specs, outputs in :data:`OUTPUT_NAMES` order.
        training_data: what trained the model, and whether it was simulated or real.
        metrics: measured numbers (fidelity to teacher, downstream metrics), each key documented.
        size_bytes / latency_ms: measured on the machine named in ``measured_on``.
        rhythm_classes: the classes of the ``rhythm`` output, in order (empty when it has none).
        license_note: the terms of use the training data impose (``research use`` when a training
            set is research-only).
    """

    name: str
    format: str
    backend: str
    precision: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    parameters: int | None = None
    size_bytes: int | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    measured_on: str = ""
    training_data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    quantization: dict[str, Any] = field(default_factory=dict)
    created_by: str = ""
    rhythm_classes: list[str] = field(default_factory=list)
    license_note: str = ""
    schema_version: int = SCHEMA_VERSION

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.inputs[0].shape)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def from_dict(cls, data: Any, path: str = "<dict>") -> ModelCard:
        """A card from parsed JSON.

        Raises:
            ModelLoadError: ``data`` is not a JSON object with the fields above, or ``inputs`` /
                ``outputs`` are not non-empty lists of ``{"name", "shape": [positive ints]}``.
        """
        if not isinstance(data, dict):
            raise ModelLoadError(path, f"model card must be a JSON object; it is a {type(data).__name__}")
        try:
            data = dict(data)
            data["inputs"] = _tensor_specs(data["inputs"], "inputs")
            data["outputs"] = _tensor_specs(data["outputs"], "outputs")
            pre = dict(data.get("preprocessing") or {})
            if "bandpass_hz" in pre:
                pre["bandpass_hz"] = tuple(pre["bandpass_hz"])
            data["preprocessing"] = Preprocessing(**pre)
            return cls(**data)
        except KeyError as exc:
            raise ModelLoadError(path, f"not a valid model card: missing field {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(path, f"not a valid model card: {exc}") from exc

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        """Read a card file.

        Raises:
            ModelLoadError: the file is missing or unreadable, is not UTF-8 JSON, or is not a card
                (see :meth:`from_dict`); the one-line message names the file.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except FileNotFoundError as exc:
            raise ModelLoadError(str(path), "model card file does not exist") from exc
        except OSError as exc:
            raise ModelLoadError(str(path), f"model card cannot be read: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ModelLoadError(
                str(path),
                f"model card is not UTF-8 JSON text (byte {exc.start} is 0x{exc.object[exc.start]:02x})",
            ) from exc
        except json.JSONDecodeError as exc:
            raise ModelLoadError(str(path), f"model card is not valid JSON: {exc}") from exc
        except RecursionError as exc:
            raise ModelLoadError(str(path), "model card JSON is nested too deeply") from exc
        return cls.from_dict(data, str(path))


def _tensor_specs(items: Any, field_name: str) -> list[TensorSpec]:
    """``[{"name", "shape", ...}, ...]`` -> tensor specs, checked (a card is read from untrusted files)."""
    if not isinstance(items, list) or not items:
        raise ValueError(f"{field_name!r} must be a non-empty list of tensor specs")
    specs = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{field_name}[{i}] must be an object with 'name' and 'shape'")
        spec = TensorSpec(**item)
        shape_ok = isinstance(spec.shape, list) and all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in spec.shape
        )
        if not isinstance(spec.name, str) or not shape_ok:
            raise ValueError(f"{field_name}[{i}] needs a string 'name' and a 'shape' of positive integers")
        specs.append(spec)
    return specs


def card_path_for(model_path: str | Path) -> Path:
    """The card that belongs to a model file (same stem, ``.json``)."""
    return Path(model_path).with_suffix(".json")


def default_io() -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The standard anyppg model inputs and outputs (see module docstring)."""
    inputs = [TensorSpec("ppg", [1, 1, 1250], description="10 s PPG at 125 Hz, band-passed, z-scored")]
    outputs = [
        TensorSpec("embedding", [1, 512], description="embedding in the teacher's 512-d space"),
        TensorSpec("heart_rate", [1, 1], description="heart rate, beats per minute"),
        TensorSpec("quality", [1, 1], description="logit of P(signal usable)"),
        TensorSpec("af", [1, 1], description="logit of P(atrial fibrillation)"),
        TensorSpec("rhythm", [1, len(RHYTHM_CLASSES)], description="logits of the rhythm_classes"),
    ]
    return inputs, outputs
