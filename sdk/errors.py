"""Errors raised by :mod:`anyppg.sdk`.

They extend the shared hierarchy in :mod:`anyppg.errors` (``DeviceError``, ``UnknownSchemeError``,
``DeviceNotFoundError``, ``DeviceDisconnectedError``), so ``except AnyPPGError`` catches all of them.
"""

from __future__ import annotations

from anyppg.errors import AnyPPGError, DeviceError

__all__ = [
    "ConnectionFailedError",
    "DeviceNotAllowedError",
    "DeviceURLError",
    "LinkLostError",
    "LinkSecurityError",
    "NotConnectedError",
    "ProfileMismatchError",
    "StreamFormatError",
    "TransportUnavailableError",
]


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
    """What a transport needs is missing: a package, or the Bluetooth stack / adapter itself.

    Attributes:
        scheme: the URL scheme.
        install_command: how to install a missing package (None when the package is not the problem).
        reason: what is missing (None for a missing package: the install command says it).
        fix: what to do about it, in one sentence.
    """

    def __init__(
        self,
        scheme: str,
        install_command: str | None = None,
        *,
        reason: str | None = None,
        fix: str | None = None,
    ) -> None:
        if install_command is not None:
            fix = fix or f"install it with: {install_command}"
            message = f"the {scheme}: transport needs a missing package; {fix}"
        else:
            message = f"the {scheme}: transport is unavailable: {reason or 'unknown reason'}"
            message += f"; {fix}" if fix else ""
        super().__init__(message)
        self.scheme = scheme
        self.install_command = install_command
        self.reason = reason
        self.fix = fix


class ConnectionFailedError(DeviceError):
    """A device was (or may have been) reachable but opening the link failed.

    Raised for scan, connect and set-up failures of the Bluetooth stack (``BleakError``, bumble
    errors, an HCI socket that closed, a timeout), after the connect retries are used up.

    Attributes:
        device: the device identifier.
        stage: what was being done: ``"scan"``, ``"connect"`` or ``"set-up"``.
        reason: the underlying error, as ``Type: message``.
        attempts: how many attempts were made.
    """

    def __init__(self, device: str, stage: str, reason: str, attempts: int = 1) -> None:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{device}: {stage} failed{tries}: {reason}")
        self.device = device
        self.stage = stage
        self.reason = reason
        self.attempts = attempts


class NotConnectedError(DeviceError):
    """A device was used before :meth:`~anyppg.sdk.Device.connect` (or after it was closed).

    Attributes:
        device: the device identifier.
        operation: what was attempted (``"samples()"``, ``"stream()"``, ...).
    """

    def __init__(self, device: str, operation: str) -> None:
        super().__init__(
            f"{device} is not connected: call {operation} inside 'async with anyppg.connect(url) as device:'"
            " (or after 'await device.connect()')"
        )
        self.device = device
        self.operation = operation


class DeviceNotAllowedError(DeviceError):
    """Devices matching the name were seen, but none passed the URL's address allow-list.

    Attributes:
        device: the identifier that was searched for.
        allowed: the allowed addresses (upper case).
        rejected: the addresses that matched the name but were refused.
    """

    def __init__(self, device: str, allowed: list[str], rejected: list[str]) -> None:
        super().__init__(
            f"{device!r} was seen at {', '.join(rejected)}, not in the address allow-list "
            f"({', '.join(allowed)}); refusing to connect (a spoofing device, or add its address)"
        )
        self.device = device
        self.allowed = list(allowed)
        self.rejected = list(rejected)


class ProfileMismatchError(StreamFormatError):
    """A connected device does not serve the GATT profile the URL scheme expects; nothing was streamed.

    Attributes:
        device: the device identifier.
        profile: the expected profile (``"anyppg"``, ``"Polar PMD"``, ...).
        missing: the services / characteristics (UUIDs) that the device lacks.
        services: the service UUIDs the device does serve.
    """

    def __init__(self, device: str, profile: str, missing: list[str], services: list[str]) -> None:
        super().__init__(
            device,
            f"does not serve the {profile} profile: missing {', '.join(missing)}; "
            f"it serves {', '.join(services) or 'no services'}",
        )
        self.profile = profile
        self.missing = list(missing)
        self.services = list(services)


class LinkSecurityError(DeviceError):
    """Pairing or encryption failed, or the device requires a security level the URL did not ask for.

    Attributes:
        device: the device identifier.
        reason: what failed or what the device demanded.
        fix: what to do about it (e.g. add ``?pair=1``, or remove the stale bond).
    """

    def __init__(self, device: str, reason: str, fix: str = "") -> None:
        super().__init__(f"{device}: {reason}" + (f"; {fix}" if fix else ""))
        self.device = device
        self.reason = reason
        self.fix = fix


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
