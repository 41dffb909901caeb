"""anyppg.sdk: connect to wearables, stream samples with exact accounting, run deployed models.

Imports no torch. ``anyppg.connect`` is re-exported from here::

    async with anyppg.connect("ble:AnyPPG-1234") as device:
        async for result in device.infer("default"):
            print(result.heart_rate, result.quality, result.accounting.dropped_total)

Device URLs (one parser, :func:`parse_url`): ``ble:<name-or-address>``, ``polar:<name-or-address>``,
``serial:<port>[?baud=N]``, ``replay:<file>``, ``sim:[?hr=72&motion=0.5&seed=1]``.
"""

from __future__ import annotations

from anyppg.sdk.accounting import Accounting, Gap
from anyppg.sdk.device import Device, connect
from anyppg.sdk.discovery import DiscoveredDevice, discover
from anyppg.sdk.errors import DeviceURLError, LinkLostError, StreamFormatError, TransportUnavailableError
from anyppg.sdk.reconnect import ReconnectPolicy
from anyppg.sdk.results import Result
from anyppg.sdk.samples import SampleBlock
from anyppg.sdk.sync import collect, stream_sync
from anyppg.sdk.tables import Results, to_dataframe
from anyppg.sdk.urls import DeviceURL, parse_url

__all__ = [
    "Accounting",
    "Device",
    "DeviceURL",
    "DeviceURLError",
    "DiscoveredDevice",
    "Gap",
    "LinkLostError",
    "ReconnectPolicy",
    "Result",
    "Results",
    "SampleBlock",
    "StreamFormatError",
    "TransportUnavailableError",
    "collect",
    "connect",
    "discover",
    "parse_url",
    "stream_sync",
    "to_dataframe",
]
