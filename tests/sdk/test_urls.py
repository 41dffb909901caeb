"""The device URL parser: every scheme, options, and the errors for bad URLs."""

from __future__ import annotations

import math

import pytest

from anyppg.errors import UnknownSchemeError
from anyppg.sdk import DeviceURLError, parse_url
from anyppg.sdk.urls import SCHEMES, parse_speed


@pytest.mark.parametrize(
    ("url", "scheme", "target", "options"),
    [
        ("ble:AnyPPG-1234", "ble", "AnyPPG-1234", {}),
        ("ble:AA:BB:CC:DD:EE:FF?timeout=3", "ble", "AA:BB:CC:DD:EE:FF", {"timeout": "3"}),
        ("polar:Polar Sense B5", "polar", "Polar Sense B5", {}),
        ("serial:/dev/ttyACM0?baud=921600", "serial", "/dev/ttyACM0", {"baud": "921600"}),
        ("serial:socket://127.0.0.1:7000", "serial", "socket://127.0.0.1:7000", {}),
        ("replay:rec.npz?speed=max", "replay", "rec.npz", {"speed": "max"}),
        ("replay:///abs/rec.csv", "replay", "/abs/rec.csv", {}),
        ("sim:", "sim", "", {}),
        ("SIM:?hr=72&motion=0.5&seed=1", "sim", "", {"hr": "72", "motion": "0.5", "seed": "1"}),
    ],
)
def test_parse_every_scheme(url, scheme, target, options):
    parsed = parse_url(url)
    assert (parsed.scheme, parsed.target, parsed.options) == (scheme, target, options)
    assert str(parsed) == url


def test_unknown_scheme_lists_the_known_ones():
    with pytest.raises(UnknownSchemeError) as info:
        parse_url("usb:0")
    assert info.value.url == "usb:0"
    assert info.value.known == [f"{s}:" for s in SCHEMES]
    assert "ble:" in str(info.value) and "replay:" in str(info.value)
    with pytest.raises(UnknownSchemeError):
        parse_url("recording.npz")  # no scheme: never guessed


def test_missing_target_and_bad_options_are_named():
    with pytest.raises(DeviceURLError, match="needs a target"):
        parse_url("serial:")
    url = parse_url("serial:/dev/ttyUSB0?baud=fast")
    with pytest.raises(DeviceURLError, match="baud='fast' must be an integer"):
        url.option_int("baud", 115200)
    assert parse_url("serial:/dev/ttyUSB0").option_int("baud", 115200) == 115200


def test_speed_parsing():
    assert math.isinf(parse_speed("max"))
    assert parse_url("sim:?speed=8").speed() == 8.0
    for bad in ("0", "-1", "fast"):
        with pytest.raises(DeviceURLError, match="positive number or 'max'"):
            parse_speed(bad)
