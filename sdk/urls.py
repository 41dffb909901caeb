"""Device URLs: the one parser for every way the SDK reaches a wearable.

Forms (``?key=value&...`` options are allowed on every scheme)::

    ble:<name-or-address>        a wearable speaking the anyppg frame protocol over BLE
    polar:<name-or-address>      a Polar Verity Sense / OH1 through its PMD service (PPG)
    hrs:<name-or-address>        any standard heart-rate strap or watch (heart rate, RR intervals)
    plx:<name-or-address>        any standard pulse oximeter (SpO2, pulse rate)
    serial:<port>[?baud=N]       the anyppg frame protocol over a serial port, pty or pyserial URL
    replay:<file>                a recording (.npz, .csv or a WFDB record directory)
    sim:[?hr=72&motion=0.5&seed=1]   an in-process simulated wearable

Options shared by the BLE schemes: ``timeout=S`` (scan timeout in seconds) and
``transport=<bumble HCI transport>`` (``usb:0``, ``tcp-client:127.0.0.1:9000``: use bleak on the bumble
stack instead of the OS Bluetooth service; ``anyppg emulate`` prints such a URL, with a redundant
``backend=bumble``). Replay and sim accept ``speed=X`` (real-time multiple, or ``max``).

Example:
    >>> url = parse_url("serial:/dev/ttyACM0?baud=921600")
    >>> url.scheme, url.target, url.options["baud"]
    ('serial', '/dev/ttyACM0', '921600')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import parse_qsl

from anyppg.errors import UnknownSchemeError
from anyppg.sdk.errors import DeviceURLError

_T = TypeVar("_T")

__all__ = ["SCHEMES", "DeviceURL", "parse_url"]

#: scheme -> whether it needs a target after the colon.
SCHEMES: dict[str, bool] = {
    "ble": True,
    "polar": True,
    "hrs": True,
    "plx": True,
    "serial": True,
    "replay": True,
    "sim": False,
}


@dataclass(frozen=True)
class DeviceURL:
    """A parsed device URL.

    Attributes:
        scheme: one of :data:`SCHEMES`.
        target: what follows the colon, up to ``?`` (a name, address, port or path; may be empty).
        options: the ``?key=value`` options, as strings.
        raw: the URL as given.
    """

    scheme: str
    target: str
    options: dict[str, str] = field(default_factory=dict)
    raw: str = ""

    def __str__(self) -> str:
        return self.raw or f"{self.scheme}:{self.target}"

    def option_float(self, key: str, default: float) -> float:
        """An option as a float.

        Raises:
            DeviceURLError: the option is present but not a number.
        """
        return self._option(key, default, float, "a number")

    def option_int(self, key: str, default: int) -> int:
        """An option as an int.

        Raises:
            DeviceURLError: the option is present but not an integer.
        """
        return self._option(key, default, int, "an integer")

    def _option(self, key: str, default: _T, convert: Callable[[str], _T], kind: str) -> _T:
        value = self.options.get(key)
        if value is None:
            return default
        try:
            return convert(value)
        except ValueError:
            raise DeviceURLError(str(self), f"option {key}={value!r} must be {kind}") from None

    def speed(self, default: float = 1.0) -> float:
        """The ``speed`` option: a real-time multiple; ``max`` is ``inf``.

        Raises:
            DeviceURLError: not a positive number or ``max``.
        """
        value = self.options.get("speed")
        if value is None:
            return default
        return parse_speed(value, str(self))


def parse_speed(value: str, where: str = "--speed") -> float:
    """Parse a replay speed: a positive real-time multiple, or ``max`` (as fast as possible -> ``inf``).

    Raises:
        DeviceURLError: not a positive number or ``max``.
    """
    if value.strip().lower() == "max":
        return float("inf")
    try:
        speed = float(value)
    except ValueError:
        speed = -1.0
    if not speed > 0:
        raise DeviceURLError(where, f"speed {value!r} must be a positive number or 'max'")
    return speed


def parse_url(url: str) -> DeviceURL:
    """Split a device URL into scheme, target and options.

    A bare path to an existing-looking recording (``*.npz``, ``*.csv``) is *not* guessed: every URL
    names its scheme, so a typo cannot silently pick another transport.

    Raises:
        UnknownSchemeError: no scheme, or a scheme no transport handles (lists the known ones).
        DeviceURLError: the scheme needs a target and has none, or an option is malformed.
    """
    scheme, sep, rest = url.partition(":")
    scheme = scheme.strip().lower()
    if not sep or scheme not in SCHEMES:
        raise UnknownSchemeError(url, [f"{s}:" for s in SCHEMES])
    # Tolerate URL-style double slashes ("replay://file.npz" -> "file.npz"; "replay:///abs" -> "/abs").
    if rest.startswith("//"):
        rest = rest[2:]
    target, _, query = rest.partition("?")
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise DeviceURLError(url, f"options {query!r} must be key=value pairs joined by '&'") from None
    if SCHEMES[scheme] and not target:
        raise DeviceURLError(url, f"the {scheme}: scheme needs a target, e.g. {_EXAMPLES[scheme]}")
    return DeviceURL(scheme=scheme, target=target, options=options, raw=url)


_EXAMPLES = {
    "ble": "ble:AnyPPG-1234 or ble:AA:BB:CC:DD:EE:FF",
    "polar": "polar:Polar Sense or polar:A0:9E:1A:00:00:01",
    "hrs": "hrs:Polar H10 12345678 or hrs:A0:9E:1A:00:00:02",
    "plx": "plx:Nonin3150 or plx:00:1C:05:00:00:03",
    "serial": "serial:/dev/ttyACM0?baud=921600 or serial:socket://127.0.0.1:7000",
    "replay": "replay:recording.npz",
}
