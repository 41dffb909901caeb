"""Discovery: anyppg.discover(), `anyppg scan` and URL matching against real emulated BLE wearables."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys

import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

import anyppg
from anyppg.cli import main
from anyppg.errors import DeviceNotFoundError
from anyppg.firmware_bridge.emulator.ble import BleEmulator
from anyppg.firmware_bridge.emulator.radio import VirtualRadio
from anyppg.firmware_bridge.emulator.sources import parse_source
from anyppg.firmware_bridge.polar import PMD_SERVICE_UUID
from anyppg.sdk.bleak_bumble import BumbleAdapter
from anyppg.sdk.cmd_scan import format_table
from anyppg.sdk.discovery import (
    PROFILE_SERVICES,
    DeviceMatcher,
    ServiceFilterError,
    _Sightings,
    discover,
    profiles_of,
)

HRS = "0000180d-0000-1000-8000-00805f9b34fb"
BATTERY = "0000180f-0000-1000-8000-00805f9b34fb"

# (name, profile) of the emulated devices in range
DEVICES = [
    ("AnyPPG-EMU", "anyppg"),
    ("Polar Sense EMU00001", "polar"),
    ("HRS-EMU", "hrs"),
    ("PLX-EMU", "plx"),
]


@contextlib.asynccontextmanager
async def _in_range(devices: list[tuple[str, str]]):
    """Emulated wearables advertising on one virtual radio, and a central adapter on it."""
    radio = VirtualRadio()
    emulators = []
    async with contextlib.AsyncExitStack() as stack:
        for i, (name, profile) in enumerate(devices):
            emulator = BleEmulator(
                parse_source(f"sim:duration=30,rate=64,seed={i}"), profile=profile, name=name
            )
            await emulator.start(link=radio)
            stack.push_async_callback(emulator.stop)
            emulators.append(emulator)
        adapter = BumbleAdapter(link=radio)
        stack.push_async_callback(adapter.close)
        yield adapter, emulators


def _discover(devices: list[tuple[str, str]], **kwargs):
    async def body():
        async with _in_range(devices) as (adapter, emulators):
            found = await discover(10.0, adapter=adapter, **kwargs)
            return found, {e.address.to_string(with_type_qualifier=False) for e in emulators}

    return asyncio.run(body())


def test_discover_lists_every_profile_with_name_address_rssi_and_url():
    found, addresses = _discover(DEVICES, limit=len(DEVICES))
    assert {d.name: d.profiles for d in found} == {
        "AnyPPG-EMU": ("anyppg", "hrs"),
        "Polar Sense EMU00001": ("polar", "hrs"),
        "HRS-EMU": ("hrs",),
        "PLX-EMU": ("plx",),
    }
    assert {d.address for d in found} == addresses
    for d in found:
        assert isinstance(d.rssi, int) and -127 <= d.rssi <= 20
        assert len(set(d.service_uuids)) == len(d.service_uuids)  # no duplicates
        assert d.ble_device.address == d.address
    urls = {d.name: d.url for d in found}
    assert urls["AnyPPG-EMU"] == "ble:AnyPPG-EMU"
    assert urls["Polar Sense EMU00001"] == "polar:Polar Sense EMU00001"
    assert urls["HRS-EMU"] == "hrs:HRS-EMU" and urls["PLX-EMU"] == "plx:PLX-EMU"
    polar = next(d for d in found if d.profiles[0] == "polar")
    assert polar.urls == ("polar:Polar Sense EMU00001", "hrs:Polar Sense EMU00001")
    assert json.loads(json.dumps(polar.to_dict()))["profiles"] == ["polar", "hrs"]
    header, *rows = format_table(found).splitlines()
    assert header.split() == ["NAME", "ADDRESS", "RSSI", "PROFILES", "URL"]
    assert len(rows) == len(DEVICES) and "anyppg,hrs" in next(r for r in rows if "AnyPPG-EMU" in r)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"prefix": "polar"}, {"Polar Sense EMU00001"}),  # case-insensitive
        ({"prefix": "ANYPPG-"}, {"AnyPPG-EMU"}),
        ({"services": ["plx"]}, {"PLX-EMU"}),
        ({"services": ["180d"]}, {"AnyPPG-EMU", "Polar Sense EMU00001", "HRS-EMU"}),
        ({"services": [PMD_SERVICE_UUID.upper(), "plx"]}, {"Polar Sense EMU00001", "PLX-EMU"}),
        ({"prefix": "hrs", "services": ["hrs"]}, {"HRS-EMU"}),
    ],
)
def test_discover_filters_by_name_prefix_and_service(kwargs, expected):
    found, _ = _discover(DEVICES, limit=len(expected), **kwargs)
    assert {d.name for d in found} == expected


def test_devices_sharing_a_name_get_address_urls():
    found, _ = _discover([("HRS-EMU", "hrs"), ("HRS-EMU", "hrs"), ("PLX-EMU", "plx")], limit=3)
    assert sorted(d.name for d in found) == ["HRS-EMU", "HRS-EMU", "PLX-EMU"]
    assert "plx:PLX-EMU" in [d.url for d in found]
    found = [d for d in found if d.name == "HRS-EMU"]
    assert sorted(d.url for d in found) == sorted(f"hrs:{d.address}" for d in found)


def test_bad_filters_and_arguments_raise_one_line_errors():
    with pytest.raises(ServiceFilterError, match=r"'heart'.*expected a profile"):
        asyncio.run(discover(1.0, services=["heart"]))
    with pytest.raises(ValueError, match="timeout"):
        asyncio.run(discover(0))
    with pytest.raises(ValueError, match="limit"):
        asyncio.run(discover(1.0, limit=0))


def test_matcher_forms_of_a_url_target():
    assert DeviceMatcher.from_target("AnyPPG-EMU") == DeviceMatcher(identifier="AnyPPG-EMU")
    assert DeviceMatcher.from_target("Polar*", "polar") == DeviceMatcher(prefix="Polar")
    assert DeviceMatcher.from_target("*", "hrs") == DeviceMatcher(services=(HRS,))
    exact = DeviceMatcher.from_target("anyppg-emu")
    assert exact.matches("AnyPPG-EMU", "C0:11:22:33:44:55", [])
    assert not exact.matches("AnyPPG-EMU2", "C0:11:22:33:44:55", [])
    assert DeviceMatcher.from_target("c0:11:22:33:44:55").matches(None, "C0:11:22:33:44:55", [])
    anyppg_any = DeviceMatcher.from_target("*", "ble")
    assert anyppg_any.matches(None, "A", [PROFILE_SERVICES["anyppg"].upper()])
    assert not anyppg_any.matches("AnyPPG-EMU", "A", [HRS])


def test_sightings_merge_service_uuids_from_advertisement_and_scan_response():
    sightings = _Sightings()
    device = BLEDevice("C0:11:22:33:44:55", None, details=None)

    def adv(name, uuids, rssi):
        return AdvertisementData(name, {}, {}, uuids, None, rssi, ())

    sightings.add(device, adv(None, [HRS, BATTERY], -70))  # advertising data
    sightings.add(device, adv("Polar Sense", [PMD_SERVICE_UUID, HRS], -60))  # scan response
    sightings.add(device, adv(None, [HRS.upper()], -65))  # the next advertisement, no name
    (d,) = sightings.discovered(transport="usb:0")
    assert d.service_uuids == (HRS, BATTERY, PMD_SERVICE_UUID)
    assert d.profiles == ("polar", "hrs") == profiles_of(d.service_uuids)
    assert d.name == "Polar Sense" and d.rssi == -65
    assert d.url == "polar:Polar Sense?transport=usb:0"


def test_urls_with_wildcards_connect_to_the_right_device():
    async def body():
        async with _in_range(DEVICES) as (adapter, emulators):
            by_profile = {e.profile: e.address.to_string(with_type_qualifier=False) for e in emulators}
            connected = {}
            for url in ("ble:*", "polar:polar sense*", "hrs:HRS*", "plx:*"):
                async with anyppg.connect(f"{url}?timeout=10", adapter=adapter) as device:
                    connected[url] = device.transport.client.address
            with pytest.raises(DeviceNotFoundError) as info:
                async with anyppg.connect("ble:Garmin*?timeout=0.5", adapter=adapter):
                    pass
            return by_profile, connected, info.value

    by_profile, connected, error = asyncio.run(body())
    assert connected == {
        "ble:*": by_profile["anyppg"],
        "polar:polar sense*": by_profile["polar"],
        "hrs:HRS*": by_profile["hrs"],
        "plx:*": by_profile["plx"],
    }
    assert error.identifier == "Garmin*" and any("AnyPPG-EMU" in seen for seen in error.seen)


def test_scan_cli_json_against_an_emulator_in_another_process(capsys):
    """`anyppg emulate` in its own process serves HCI over TCP; `anyppg scan --json` finds it there."""
    command = [sys.executable, "-m", "anyppg", "emulate", "--hci-port", "0", "--json", "--profile", "polar"]
    command += ["--source", "sim:seed=3,rate=64", "--duration", "60", "--stats-every", "0"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "ready"
        transport = ready["central_transport"]
        code = main(["scan", "--transport", transport, "--timeout", "10", "--limit", "1", "--json"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 1 and report["transport"] == transport
    (device,) = report["devices"]
    assert device["name"] == ready["name"] and device["address"] == ready["address"]
    assert device["profiles"] == ["polar", "hrs"]
    assert device["url"] == f"polar:{ready['name']}?transport={transport}"


def test_scan_cli_usage_errors_are_one_line(capsys):
    assert main(["scan", "--timeout", "-1"]) == 2
    assert "--timeout" in capsys.readouterr().err
    assert main(["scan", "--service", "heart", "--timeout", "0.1"]) == 1
    assert "service filter 'heart'" in capsys.readouterr().err
