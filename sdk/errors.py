"""Errors raised by :mod:`anyppg.sdk`.

They extend the shared hierarchy in :mod:`anyppg.errors` (``DeviceError``, ``UnknownSchemeError``,
``DeviceNotFoundError``, ``DeviceDisconnectedError``), so ``except AnyPPGError`` catches all of them.
"""

from __future__ import annotations

from anyppg.errors import AnyPPGError, DeviceError

__all__ = ["DeviceURLError", "LinkLostError", "StreamFormatError", "TransportUnavailableError"]


class DeviceURLError(AnyPPGError, ValueError):
    """A device URL has a known scheme but a malformed target or option.

    Attributes:
        url: the URL as given.
        reason: what is wrong, naming the expected form.
    """

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"bad device URL {url!r}: {reason}")
        self.url = url
        self.reason = reason


class StreamFormatError(DeviceError):
    """A device streams something the SDK cannot turn into PPG samples (unknown channel layout, ...).

    Attributes:
        device: the device identifier.
        reason: what was expected and what arrived.
    """

    def __init__(self, device: str, reason: str) -> None:
        super().__init__(f"{device}: {reason}")
        self.device = device
        self.reason = reason


class TransportUnavailableError(DeviceError, ImportError):
    """The package a transport needs is not installed.

    Attributes:
        scheme: the URL scheme.
        install_command: how to install what is missing.
    """

    def __init__(self, scheme: str, install_command: str) -> None:
        super().__init__(
            f"the {scheme}: transport needs a missing package; install it with: {install_command}"
        )
        self.scheme = scheme
        self.install_command = install_command


class LinkLostError(DeviceError):
    """The link to a live device dropped mid-stream; :class:`anyppg.sdk.Device` may reconnect.

    Raised by transports, caught by the device's reconnect loop; an application sees
    :class:`anyppg.errors.DeviceDisconnectedError` only when reconnecting gave up.

    Attributes:
        device: the device identifier.
        reason: what was observed (EIO on a closed pty, a BLE disconnect callback, ...).
    """

    def __init__(self, device: str, reason: str) -> None:
        super().__init__(f"lost the link to {device}: {reason}")
        self.device = device
        self.reason = reason
