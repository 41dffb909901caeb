"""anyppg: on-device SDK for the AnyPPG ECG-guided PPG foundation model.

The core (this package) needs only numpy and scipy. Heavier parts load on first use:

- ``anyppg.signal``: preprocessing shared by training and streaming.
- ``anyppg.simulate`` (module ``anyppg.simulator``): synchronized PPG + ECG simulator.
- ``anyppg.recordings``: real recordings shipped by Python packages.
- ``anyppg.sdk`` (``anyppg.connect``): stream from wearables into deployed models;
  ``anyppg.collect`` (await it) / ``anyppg.stream_sync`` return the results as a table;
  ``anyppg.analyze`` analyses a recording or a batch of segments already in memory;
  ``anyppg.check_polarity`` tells which way up a new sensor's pulse looks.
- ``anyppg.firmware_bridge``: wire protocol, vendor codecs, device emulators.
- ``anyppg.trainer`` / ``anyppg.quantization``: need the ``train`` extra (torch).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from anyppg._version import __version__
from anyppg.errors import AnyPPGError

if TYPE_CHECKING:  # pragma: no cover
    from anyppg.sdk import DiscoveredDevice, Results, collect, connect, discover, stream_sync
    from anyppg.sdk.analyze import Analysis, analyze, check_polarity
    from anyppg.simulator import simulate

__all__ = [
    "Analysis",
    "AnyPPGError",
    "DiscoveredDevice",
    "Results",
    "__version__",
    "analyze",
    "check_polarity",
    "collect",
    "connect",
    "discover",
    "simulate",
    "stream_sync",
]

# name -> module that defines it; imported on first attribute access so `import anyppg` stays light.
_LAZY = {
    "simulate": "anyppg.simulator",
    "connect": "anyppg.sdk",
    "discover": "anyppg.sdk",
    "DiscoveredDevice": "anyppg.sdk",
    "collect": "anyppg.sdk",
    "stream_sync": "anyppg.sdk",
    "Results": "anyppg.sdk",
    "analyze": "anyppg.sdk.analyze",
    "Analysis": "anyppg.sdk.analyze",
    "check_polarity": "anyppg.sdk.analyze",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'anyppg' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
