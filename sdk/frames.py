"""Turning anyppg protocol data frames into :class:`SampleBlock` objects (shared by ble: and serial:)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from anyppg.firmware_bridge.protocol import Channel, DataFrame
from anyppg.sdk.samples import SampleBlock

__all__ = ["PPG_PREFERENCE", "block_from_frame"]

#: the optical channels a block carries, in this order: the first present feeds the model (green is the
#: wrist-PPG workhorse); a frame with several gives a block of shape (n, channels).
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
    frame: DataFrame,
    device: str,
    units: Mapping[Channel, str] | Sequence[str] | None = None,
    arrival: float | None = None,
) -> SampleBlock:
    """PPG (ambient-subtracted when the frame carries ambient light) and acc in g from one frame.

    Every PPG channel of the frame is kept, in :data:`PPG_PREFERENCE` order: one gives ``ppg`` of shape
    ``(n,)``, several ``(n, channels)`` with the model's channel first.

    Never raises on what a device sends: a problem costs only what it touches and is named in the
    block's ``issues`` (the timeline counts each kind and logs it once):

    * no PPG channel in the frame: an empty block (``no_ppg_channel``), so the frame is counted but
      does not enter the PPG time line;
    * an accelerometer unit that is not known: the block carries the accelerometer as sent, marked
      ``acc_in_g=False`` (``unknown_acc_unit``); the pipeline calibrates it on gravity;
    * ``units`` given as a sequence that does not match the frame's channels: default units are
      used (``units_mismatch``).

    Args:
        frame: a decoded data frame.
        device: the device identifier (kept for the caller's logs).
        units: the unit of each channel from the device's info packet, as a mapping channel -> unit
            (preferred: the info packet's channel order need not be the frame's), or a sequence in
            the frame's channel order; default: each channel's default unit.
        arrival: ``time.perf_counter()`` when the frame arrived; default now.
    """
    channels = frame.channels
    issues: list[str] = []
    unit_of = _units(channels, units, issues)
    arrived = time.perf_counter() if arrival is None else arrival
    t0 = frame.timestamp_us / 1e6
    ppg_channels = [c for c in PPG_PREFERENCE if c in channels]
    if not ppg_channels:
        return SampleBlock(
            t0, frame.sample_rate_hz, np.empty(0), seq=frame.seq, arrival=arrived, issues=("no_ppg_channel",)
        )
    values = frame.values  # (n, C) float64 in physical units
    ppg = values[:, [channels.index(c) for c in ppg_channels]]
    if Channel.PPG_AMBIENT in channels:
        ppg = ppg - values[:, [channels.index(Channel.PPG_AMBIENT)]]
    if len(ppg_channels) == 1:
        ppg = ppg[:, 0]
    acc = None
    factor: float | None = 1.0
    if all(c in channels for c in _ACC):
        factor = _ACC_TO_G.get(unit_of(Channel.ACC_X))
        acc = values[:, [channels.index(c) for c in _ACC]] * (1.0 if factor is None else factor)
        if factor is None:
            issues.append("unknown_acc_unit")
    return SampleBlock(
        t0=t0,
        rate=frame.sample_rate_hz,
        ppg=np.ascontiguousarray(ppg),
        acc=acc,
        seq=frame.seq,
        arrival=arrived,
        issues=tuple(issues),
        acc_in_g=factor is not None,
    )


def _units(
    channels: tuple[Channel, ...], units: Mapping[Channel, str] | Sequence[str] | None, issues: list[str]
) -> Callable[[Channel], str]:
    """A lookup channel -> unit that falls back to the channel's default unit."""
    if units is None:
        table: Mapping[Channel, str] = {}
    elif isinstance(units, Mapping):
        table = units
    elif len(units) == len(channels):
        table = dict(zip(channels, units, strict=True))
    else:
        issues.append("units_mismatch")
        table = {}
    return lambda c: table.get(c, c.default_unit)
