"""Transports, one module per URL scheme, imported only when a URL of that scheme is opened."""

from __future__ import annotations

import importlib
from typing import Any

from anyppg.sdk.transports.base import Transport
from anyppg.sdk.urls import SCHEMES, DeviceURL

__all__ = ["TRANSPORTS", "Transport", "transport_for"]

#: scheme -> "module:class". The only place that maps a scheme to code.
TRANSPORTS: dict[str, str] = {
    "ble": "anyppg.sdk.transports.ble:BleTransport",
    "polar": "anyppg.sdk.transports.polar:PolarTransport",
    "hrs": "anyppg.sdk.transports.hrs:HrsTransport",
    "plx": "anyppg.sdk.transports.plx:PlxTransport",
    "serial": "anyppg.sdk.transports.serial:SerialTransport",
    "replay": "anyppg.sdk.transports.replay:ReplayTransport",
    "sim": "anyppg.sdk.transports.sim:SimTransport",
}
assert set(TRANSPORTS) == set(SCHEMES)


def transport_for(url: DeviceURL, **kwargs: Any) -> Transport:
    """Build the transport that handles ``url.scheme`` (importing its module now).

    Raises:
        TransportUnavailableError: the transport's dependency is not installed.
    """
    module_name, _, class_name = TRANSPORTS[url.scheme].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(url, **kwargs)
