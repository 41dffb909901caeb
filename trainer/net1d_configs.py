"""Net1D configurations of AnyPPG's PPG encoder and ECGFounder's ECG encoder.

Plain dicts with no torch import, so that reading or printing a training config stays light;
:mod:`anyppg.trainer.encoders` builds the modules from them.
"""

from __future__ import annotations

from typing import Any

# The config dicts use the keys of the public AnyPPG code (also the keys of its JSON configs).
ANYPPG_PPG_CONFIG: dict[str, Any] = {
    "in_channels": 1,
    "base_filters": 64,
    "ratio": 1.0,
    "filter_list": [64, 160, 160, 400, 400, 512],
    "m_blocks_list": [2, 2, 2, 3, 3, 1],
    "kernel_size": 3,
    "stride": 2,
    "groups_width": 16,
    "use_bn": True,
    "use_do": True,
    "verbose": False,
}
"""AnyPPG's PPG encoder: 4,044,272 parameters, (B, 1, 1250) at 125 Hz → (B, 512)."""

ECGFOUNDER_ECG_CONFIG: dict[str, Any] = {
    "in_channels": 1,
    "base_filters": 64,
    "ratio": 1.0,
    "filter_list": [64, 160, 160, 400, 400, 1024, 1024],
    "m_blocks_list": [2, 2, 2, 3, 3, 4, 4],
    "kernel_size": 16,
    "stride": 2,
    "groups_width": 16,
    "use_bn": True,
    "use_do": False,
    "verbose": False,
}
"""ECGFounder's single-lead encoder: 30,654,000 parameters, (B, 1, 5000) at 500 Hz → (B, 1024)."""
