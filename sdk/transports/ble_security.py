"""What a ``ble:`` / ``polar:`` URL asks for before any sample is trusted: pairing, encryption, allow-lists.

URL options (all optional)::

    pair=1                 encrypt the link with the stored bond, else pair (LE Secure Connections,
                           Just Works) and bond
    encrypt=1              encrypt the link with the stored bond only: a device that cannot prove it
                           (no bond yet, or an impostor) is refused; pair once with pair=1 first
    keystore=PATH          where the bumble backend keeps bonds (default: :func:`default_keystore_path`)
    address=AA:BB:..[,..]  connect only to these addresses; a device with the right name at any other
                           address is refused (a spoofer)
    service=UUID[,UUID]    the device must serve these GATT services (16-bit ``180d`` or 128-bit)

Whatever the options, the device must serve the scheme's profile (the anyppg data / control / info
characteristics, or Polar's PMD control point and data), checked on the GATT database right after
connecting and before anything is subscribed or written.

With bleak's OS backends the OS keeps the bonds (BlueZ in ``/var/lib/bluetooth``, CoreBluetooth and
WinRT in the system); ``keystore=`` applies to the bumble backend only. See ``docs/security.md``.
"""

from __future__ import annotations

import os
import re
import sys
import uuid as uuid_module
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anyppg.sdk.errors import DeviceURLError, ProfileMismatchError
from anyppg.sdk.urls import DeviceURL

__all__ = [
    "BLUETOOTH_BASE_UUID",
    "SecurityOptions",
    "check_profile",
    "default_keystore_path",
    "normalize_uuid",
]

#: 16-bit UUIDs are offsets into this base (Core spec Vol 3, Part B, 2.5.1); 32-bit ones fill the
#: first 8 hex digits.
BLUETOOTH_BASE_UUID = "0000{}-0000-1000-8000-00805f9b34fb"

_ADDRESS = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")


def default_keystore_path() -> Path:
    """Where bonds are kept unless ``keystore=`` says otherwise: ``<user config dir>/anyppg/ble-keys.json``.

    The user config dir is ``$XDG_CONFIG_HOME`` (default ``~/.config``) on Linux,
    ``~/Library/Application Support`` on macOS and ``%APPDATA%`` on Windows.
    """
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "anyppg" / "ble-keys.json"


def normalize_uuid(text: str) -> str:
    """A UUID as bleak spells it (lower-case 128-bit with dashes); ``180d`` / ``0x180D`` are 16-bit.

    Raises:
        ValueError: ``text`` is not a 16-, 32- or 128-bit UUID.
    """
    value = text.strip().lower().removeprefix("0x")
    if re.fullmatch(r"[0-9a-f]{4}", value):
        return BLUETOOTH_BASE_UUID.format(value)  # 0000xxxx-0000-1000-8000-00805f9b34fb
    if re.fullmatch(r"[0-9a-f]{8}", value):
        return f"{value}-0000-1000-8000-00805f9b34fb"
    return str(uuid_module.UUID(value))


def _split(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _flag(url: DeviceURL, key: str) -> bool:
    value = url.options.get(key)
    if value is None:
        return False
    if value.lower() in ("1", "true", "yes", "on", ""):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise DeviceURLError(str(url), f"option {key}={value!r} must be 1 or 0")


@dataclass(frozen=True)
class SecurityOptions:
    """The security options of one ``ble:`` / ``polar:`` URL (see the module docstring).

    Attributes:
        pair: pair and bond with the device when there is no bond it accepts.
        encrypt: the link must be encrypted before streaming (implied by ``pair``; alone, only with
            an existing bond).
        keystore: the bumble backend's bond file.
        addresses: allowed device addresses, upper case (empty: any address).
        services: GATT services the device must serve, as 128-bit UUIDs.
    """

    pair: bool = False
    encrypt: bool = False
    keystore: Path | None = None
    addresses: tuple[str, ...] = ()
    services: tuple[str, ...] = ()

    @classmethod
    def from_url(cls, url: DeviceURL) -> SecurityOptions:
        """Parse the options.

        Raises:
            DeviceURLError: a flag is not 0/1, an address is not ``AA:BB:CC:DD:EE:FF``, a service is
                not a UUID.
        """
        pair = _flag(url, "pair")
        encrypt = pair or _flag(url, "encrypt")
        addresses = tuple(a.upper() for a in _split(url.options.get("address")))
        for address in addresses:
            if not _ADDRESS.match(address):
                raise DeviceURLError(str(url), f"address={address!r} must look like AA:BB:CC:DD:EE:FF")
        services: list[str] = []
        for text in _split(url.options.get("service")):
            try:
                services.append(normalize_uuid(text))
            except ValueError:
                raise DeviceURLError(
                    str(url), f"service={text!r} must be a 16-bit (180d) or 128-bit UUID"
                ) from None
        keystore: Path | None = None
        if url.options.get("keystore"):
            keystore = Path(url.options["keystore"]).expanduser()
        elif encrypt:
            keystore = default_keystore_path()
        return cls(
            pair=pair,
            encrypt=encrypt,
            keystore=keystore,
            addresses=addresses,
            services=tuple(services),
        )

    def allows(self, address: str) -> bool:
        """Whether the address allow-list admits ``address`` (always, when there is no list)."""
        return not self.addresses or address.upper() in self.addresses


def check_profile(
    identifier: str,
    services: Any,
    profile: str,
    characteristics: Iterable[str],
    required_services: Iterable[str] = (),
) -> None:
    """Raise unless the discovered GATT database holds every required service and characteristic.

    Args:
        identifier: the device (for the message).
        services: bleak's ``BleakGATTServiceCollection`` of the connected client.
        profile: the profile's name (``"anyppg"``, ``"Polar PMD"``).
        characteristics: characteristic UUIDs the profile needs.
        required_services: service UUIDs the URL's ``service=`` option asks for.

    Raises:
        ProfileMismatchError: something is missing (all missing UUIDs are named, with what the
            device serves).
    """
    served = [s.uuid for s in services]
    missing = [u for u in required_services if u not in served]
    missing += [f"characteristic {u}" for u in characteristics if services.get_characteristic(u) is None]
    if missing:
        raise ProfileMismatchError(identifier, profile, missing, served)
