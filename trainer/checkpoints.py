"""Reading and writing encoder checkpoints.

Two kinds of file are accepted everywhere an encoder is loaded:

* **anyppg pretraining checkpoints** (written by :func:`save_checkpoint`): a dict with
  ``"ppg_encoder"`` / ``"ecg_encoder"`` state dicts, ``"config"`` (whose ``"ppg_encoder"`` and
  ``"ecg_encoder"`` entries are Net1D config dicts), ``"step"`` and, for resuming, the projectors,
  optimizer, scheduler and RNG states. Format tag ``"anyppg.pretrain/1"``.
* **official AnyPPG / ECGFounder files as users download them**: a plain state dict, or one wrapped in
  ``{"state_dict": ...}`` / ``{"model": ...}``, with or without DDP's ``module.`` prefixes. ECGFounder's
  150-label classification head (``dense.*``) is dropped; the encoder returns the pooled features.

Everything is read with ``torch.load(weights_only=True)``: a checkpoint never runs code.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from anyppg.errors import CheckpointError

from .encoders import ANYPPG_PPG_CONFIG, ECGFOUNDER_ECG_CONFIG, Net1D, net1d_from_config

log = logging.getLogger(__name__)

FORMAT = "anyppg.pretrain/1"
_WRAPPERS = ("state_dict", "model", "model_state_dict", "net")
_HEAD_PREFIXES = ("dense.",)  # classification heads of the public checkpoints; not part of the encoder


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint file safely (``weights_only=True``) onto the CPU.

    Raises:
        CheckpointError: the file is missing, is not a torch file, or is not a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(str(path), "no such checkpoint file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for bad files
        raise CheckpointError(
            str(path), f"not a loadable torch checkpoint ({type(exc).__name__}: {_one_line(exc)})"
        ) from exc
    if not isinstance(obj, Mapping):
        raise CheckpointError(str(path), f"expected a dict of tensors, found {type(obj).__name__}")
    return dict(obj)


def _one_line(exc: BaseException) -> str:
    """The informative line of a torch.load error: torch's weights-only refusal is a page of advice
    whose one specific sentence follows "WeightsUnpickler error:"; other errors keep their first line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    marker = "WeightsUnpickler error:"
    if marker in text:
        rest = [ln.strip() for ln in text.split(marker, 1)[1].splitlines() if ln.strip()]
        if rest:
            return f"weights-only load refused: {rest[0].split('. ')[0].rstrip('.')}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0][:300] if lines else "no message"


def _strip_prefix(state: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return dict(state)


def extract_state_dict(
    obj: Mapping[str, Any], role: str
) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """Find the encoder weights for ``role`` (``"ppg_encoder"`` or ``"ecg_encoder"``) in a loaded file.

    Returns:
        The state dict (wrappers, ``module.`` prefixes and ``dense.*`` heads removed) and the Net1D
        config stored with it, or None when the file carries none (official checkpoints).
    """
    config = None
    if role in obj and isinstance(obj[role], Mapping):  # an anyppg checkpoint
        state = obj[role]
        stored = obj.get("config")
        if isinstance(stored, Mapping) and isinstance(stored.get(role), Mapping):
            config = dict(stored[role])
    else:
        state = obj
        for key in _WRAPPERS:
            if key in state and isinstance(state[key], Mapping):
                state = state[key]
                break
    state = _strip_prefix(state, "module.")
    state = _strip_prefix(state, "_orig_mod.")  # torch.compile wrapper
    heads = [k for k in state if k.startswith(_HEAD_PREFIXES)]
    if heads:
        log.info("dropping classification head keys %s", heads)
    return {k: v for k, v in state.items() if k not in heads}, config


def load_encoder_weights(
    model: nn.Module, state: Mapping[str, torch.Tensor], path: str | os.PathLike[str]
) -> None:
    """``model.load_state_dict(state, strict=True)`` with a :class:`CheckpointError` that lists the keys.

    Raises:
        CheckpointError: keys are missing or unexpected, or a tensor's shape differs.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise CheckpointError(
            str(path),
            f"state dict does not match {type(model).__name__}",
            missing=missing,
            unexpected=unexpected,
        )
    wrong = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
        for k, v in own.items()
        if tuple(state[k].shape) != tuple(v.shape)
    ]
    if wrong:
        raise CheckpointError(str(path), f"{len(wrong)} tensors have the wrong shape: {'; '.join(wrong[:5])}")
    model.load_state_dict(state, strict=True)


def _load_encoder(
    path: str | os.PathLike[str],
    role: str,
    default_config: Mapping[str, Any],
    config: Mapping[str, Any] | None,
) -> Net1D:
    obj = read_checkpoint(path)
    state, stored = extract_state_dict(obj, role)
    cfg = config or stored or default_config
    model = net1d_from_config(cfg)
    load_encoder_weights(model, state, path)
    return model.eval()


def load_ppg_encoder(path: str | os.PathLike[str], config: Mapping[str, Any] | None = None) -> Net1D:
    """Load a PPG encoder (eval mode) from an anyppg checkpoint or an official AnyPPG file.

    Args:
        path: the ``.pt`` / ``.pth`` file.
        config: Net1D config; default: the one stored in the file, else AnyPPG's
            (:data:`~anyppg.trainer.encoders.ANYPPG_PPG_CONFIG`).

    Returns:
        The encoder mapping (B, 1, 1250) PPG at 125 Hz to (B, C) features.

    Raises:
        CheckpointError: the file is missing or unreadable, or its keys/shapes do not match (the
            error lists the missing and unexpected keys).
    """
    return _load_encoder(path, "ppg_encoder", ANYPPG_PPG_CONFIG, config)


def load_ecg_encoder(path: str | os.PathLike[str], config: Mapping[str, Any] | None = None) -> Net1D:
    """Load an ECG encoder (eval mode) from an anyppg checkpoint or an official ECGFounder file.

    Args:
        path: the file; ECGFounder's ``dense.*`` classification head is ignored.
        config: Net1D config; default: the stored one, else ECGFounder's single-lead config.

    Returns:
        The encoder mapping (B, 1, 5000) ECG at 500 Hz to (B, C) features.

    Raises:
        CheckpointError: as :func:`load_ppg_encoder`.
    """
    return _load_encoder(path, "ecg_encoder", ECGFOUNDER_ECG_CONFIG, config)


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` atomically (temporary file, then rename) so a crash never leaves half a file.

    ``payload`` must hold only tensors, containers and plain Python values, so that it reloads with
    ``weights_only=True``; the format tag is added.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, **payload}, tmp)
    os.replace(tmp, path)
    return path
