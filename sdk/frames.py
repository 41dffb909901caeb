"""Turning anyppg protocol data frames into :class:`SampleBlock` objects (shared by ble: and serial:)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from anyppg.firmware_bridge.protocol import Channel, DataFrame
from anyppg.sdk.errors import StreamFormatError
from anyppg.sdk.samples import SampleBlock

__all__ = ["PPG_PREFERENCE", "block_from_frame"]

#: which optical channel feeds the model, best first (green is the wrist-PPG workhorse).
PPG_PREFERENCE = (
    Channel.PPG_GREEN,
    Channel.PPG_GREEN_2,
    Channel.PPG_GREEN_3,
    Channel.PPG_IR,
    Channel.PPG_RED,
    Channel.PPG_BLUE,
)
_ACC = (Channel.ACC_X, Channel.ACC_Y, Channel.ACC_Z)
#: factor from a device's accelerometer unit to g.
_ACC_TO_G = {"g": 1.0, "mg": 1e-3, "m/s2": 1 / 9.80665, "m/s^2": 1 / 9.80665}


def block_from_frame(
    frame: DataFrame, device: str, units: Sequence[str] | None = None, arrival: float | None = None
) -> SampleBlock:
    """PPG (ambient-subtracted when the frame carries ambient light) and acc in g from one frame.

    Args:
        frame: a decoded data frame.
        device: the device identifier, for errors.
        units: per-channel units from the device's info packet; default: each channel's default unit.
        arrival: ``time.perf_counter()`` when the frame arrived; default now.

    Raises:
        StreamFormatError: the frame has no PPG channel, or an accelerometer unit that is not known.
    """
    channels = frame.channels
    values = frame.values  # (n, C) float64 in physical units
    ppg_channel = next((c for c in PPG_PREFERENCE if c in channels), None)
    if ppg_channel is None:
        names = [c.name for c in channels]
        raise StreamFormatError(device, f"data frame carries no PPG channel (channels {names})")
    ppg = values[:, channels.index(ppg_channel)]
    if Channel.PPG_AMBIENT in channels:
        ppg = ppg - values[:, channels.index(Channel.PPG_AMBIENT)]
    acc = None
    if all(c in channels for c in _ACC):
        idx = [channels.index(c) for c in _ACC]
        unit = units[idx[0]] if units else Channel.ACC_X.default_unit
        factor = _ACC_TO_G.get(unit)
        if factor is None:
            raise StreamFormatError(
                device, f"accelerometer unit {unit!r}; expected one of {sorted(_ACC_TO_G)}"
            )
        acc = values[:, idx] * factor
    return SampleBlock(
        t0=frame.timestamp_us / 1e6,
        rate=frame.sample_rate_hz,
        ppg=np.ascontiguousarray(ppg),
        acc=acc,
        seq=frame.seq,
        arrival=time.perf_counter() if arrival is None else arrival,
    )
