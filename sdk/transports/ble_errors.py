"""One place that turns what bleak, BlueZ and bumble raise into the SDK's one-line ``DeviceError`` types.

The Bluetooth stacks raise many unrelated types: ``BleakError`` and its D-Bus / protocol subclasses,
``FileNotFoundError`` when BlueZ's D-Bus socket is missing, bumble's ``BaseBumbleError`` /
``HCI_Error`` / ``TransportLostError``, ``EOFError`` / ``ConnectionError`` when an HCI socket closes,
``TimeoutError``. :func:`link_error` maps each to one of:

- :class:`~anyppg.sdk.errors.TransportUnavailableError`: there is no Bluetooth stack or adapter to
  use (no BlueZ, adapter powered off, the HCI transport cannot be opened), with the fix;
- :class:`~anyppg.sdk.errors.LinkSecurityError`: the device refused an operation for lack of
  encryption / authentication, or pairing failed;
- :class:`~anyppg.sdk.errors.ConnectionFailedError`: everything else on the link (worth retrying).
"""

from __future__ import annotations

from anyppg.errors import DeviceError
from anyppg.sdk.errors import ConnectionFailedError, LinkSecurityError, TransportUnavailableError

__all__ = ["LINK_ERRORS", "link_error", "link_error_types", "no_stack_fix"]

#: errors of the standard library that mean "the link (or the HCI socket under it) failed".
LINK_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, TimeoutError)

# ATT error codes (Core spec Vol 3, Part F, 3.4.1.1) that mean "secure the link first".
_INSUFFICIENT_AUTHENTICATION = 0x05
_INSUFFICIENT_AUTHORIZATION = 0x08
_INSUFFICIENT_KEY_SIZE = 0x0C
_INSUFFICIENT_ENCRYPTION = 0x0F
_SECURITY_ATT_ERRORS = {
    _INSUFFICIENT_AUTHENTICATION: "insufficient authentication",
    _INSUFFICIENT_AUTHORIZATION: "insufficient authorization",
    _INSUFFICIENT_KEY_SIZE: "insufficient encryption key size",
    _INSUFFICIENT_ENCRYPTION: "insufficient encryption",
}

# D-Bus error names that mean BlueZ (or the adapter) is not there.
_NO_STACK_DBUS = {
    "org.freedesktop.DBus.Error.ServiceUnknown": "BlueZ (bluetoothd) is not running",
    "org.freedesktop.DBus.Error.NoReply": "BlueZ (bluetoothd) does not answer",
    "org.freedesktop.DBus.Error.AccessDenied": "access to BlueZ over D-Bus is denied",
    "org.bluez.Error.NotReady": "the Bluetooth adapter is powered off",
    "org.bluez.Error.NotAvailable": "the Bluetooth adapter is not available",
}


def no_stack_fix(scheme: str) -> str:
    """The fix named in a :class:`TransportUnavailableError` when no Bluetooth stack can be used."""
    return (
        "start BlueZ (bluetoothd) and power the adapter on, or drive a USB Bluetooth dongle without "
        f'BlueZ with "{scheme}:NAME?transport=usb:0", or reach an emulator started with '
        f'"anyppg emulate --hci-port 9001" with "{scheme}:NAME?transport=tcp-client:127.0.0.1:9001"'
    )


def link_error_types() -> tuple[type[BaseException], ...]:
    """Every exception type that means a Bluetooth link-level failure (bleak and bumble loaded lazily)."""
    from bleak.exc import BleakError
    from bumble import core, hci

    return (*LINK_ERRORS, BleakError, core.BaseBumbleError, hci.HCI_Error)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _no_stack_reason(exc: BaseException) -> str | None:
    """Why no Bluetooth stack is usable, if ``exc`` says so (else None)."""
    from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError, BleakError

    if isinstance(exc, FileNotFoundError):  # BlueZ backend: no D-Bus system bus socket
        where = exc.filename or "the D-Bus system bus socket"
        return f"no BlueZ: {where} is missing ({exc.strerror or exc})"
    if isinstance(exc, BleakBluetoothNotAvailableError):
        return f"Bluetooth is not available ({exc.reason.name.lower().replace('_', ' ')})"
    if isinstance(exc, BleakDBusError):
        reason = _NO_STACK_DBUS.get(exc.dbus_error)
        return f"{reason} ({exc.dbus_error})" if reason else None
    if isinstance(exc, BleakError) and "no bluetooth adapters found" in str(exc).lower():
        return "no Bluetooth adapter found"
    return None


def _security_reason(exc: BaseException) -> str | None:
    from bleak.exc import BleakGATTProtocolError
    from bumble import core

    if isinstance(exc, BleakGATTProtocolError) and int(exc.args[0]) in _SECURITY_ATT_ERRORS:
        return f"the device refused access: {_SECURITY_ATT_ERRORS[int(exc.args[0])]} (ATT 0x{int(exc.args[0]):02X})"
    if isinstance(exc, core.ProtocolError) and getattr(exc, "error_namespace", "") == "smp":
        return f"pairing failed: {exc.error_name or exc.error_code}"
    return None


def link_error(
    identifier: str,
    scheme: str,
    stage: str,
    exc: BaseException,
    *,
    secured: bool = False,
    attempts: int = 1,
) -> DeviceError:
    """The one-line SDK error for ``exc``, raised while doing ``stage`` with device ``identifier``.

    Args:
        identifier: the device (name or address).
        scheme: the URL scheme (``ble``, ``polar``), named in the fix.
        stage: ``"open the adapter"``, ``"scan"``, ``"connect"``, ``"set-up"`` or ``"pairing"``.
        exc: what the Bluetooth stack raised.
        secured: whether the URL asked for pairing / encryption (decides the fix of a security error).
        attempts: connection attempts made so far.

    Returns:
        ``exc`` itself when it already is a ``DeviceError``; otherwise a
        :class:`TransportUnavailableError`, :class:`LinkSecurityError` or
        :class:`ConnectionFailedError` (its ``__cause__`` should be set to ``exc`` by the caller).
    """
    if isinstance(exc, DeviceError):
        return exc
    reason = _no_stack_reason(exc)
    if reason is not None:
        return TransportUnavailableError(scheme, reason=reason, fix=no_stack_fix(scheme))
    reason = _security_reason(exc)
    if reason is None and stage == "pairing":
        reason = f"pairing failed: {_describe(exc)}"
    if reason is not None:
        fix = (
            f'pair with "{scheme}:{identifier}?pair=1" (a device that cannot prove the bond may be an'
            " impostor, or forgot the bond)"
            if secured
            else f'connect with "{scheme}:{identifier}?pair=1" to pair and encrypt the link'
        )
        return LinkSecurityError(identifier, f"{stage}: {reason}", fix)
    return ConnectionFailedError(identifier, stage, _describe(exc), attempts)
