"""The models shipped inside the package (``anyppg/assets``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from anyppg.errors import ModelLoadError

__all__ = ["DEFAULT_MODELS", "default_model_path"]

#: file name of the shipped int8 student per format. ``tflite`` runs through LiteRT without torch.
DEFAULT_MODELS = {"tflite": "student-s_litert_q8.tflite", "pte": "student-s_xnnpack_q8.pte"}


def default_model_path(fmt: Literal["tflite", "pte"] = "tflite") -> Path:
    """Path of the shipped int8 student in ``fmt``.

    Raises:
        ModelLoadError: the asset is not in this installation (names the file).
    """
    name = DEFAULT_MODELS[fmt]
    path = Path(str(resources.files("anyppg.assets").joinpath(name)))
    if not path.is_file():
        raise ModelLoadError(str(path), "the shipped model is missing from this installation (make assets)")
    return path
