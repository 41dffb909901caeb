"""ble: / polar: security against the bumble emulator: pairing and bonds, encryption required by the
device, the address allow-list against a spoofer with the same name, the profile check before streaming."""

from __future__ import annotations

import asyncio
import json

import pytest
from bumble.link import LocalLink

import anyppg
from anyppg.firmware_bridge.emulator.ble import BleEmulator, emulated_ble
from anyppg.firmware_bridge.emulator.faults import FaultSpec
from anyppg.firmware_bridge.emulator.sources import parse_source
from anyppg.firmware_bridge.gatt import ANYPPG_DATA_UUID
from anyppg.sdk import ReconnectPolicy
from anyppg.sdk.bleak_bumble import BumbleAdapter
from anyppg.sdk.errors import (
    DeviceNotAllowedError,
    DeviceURLError,
    LinkSecurityError,
    ProfileMismatchError,
)
from anyppg.sdk.transports.ble_security import SecurityOptions, default_keystore_path
from anyppg.sdk.urls import parse_url

RATE = 64
REAL = "C0:00:00:00:00:01"
SPOOF = "C0:00:00:00:00:66"


def _source(seed: int = 1):
    return parse_source(f"sim:duration=300,rate={RATE},seed={seed}")


async def _blocks(device, n: int) -> list:
    blocks = []
    async for block in device.samples():
        blocks.append(block)
        if len(blocks) >= n:
            break
    return blocks


def test_pairing_encrypts_the_link_and_the_bond_is_reused_on_reconnect(tmp_path):
    keystore = tmp_path / "keys.json"

    async def main():
        faults = FaultSpec(disconnect_every_s=1.0, seed=2)
        async with emulated_ble(
            _source(), speed=16.0, faults=faults, max_samples=16, require_encryption=True
        ) as emu:
            links = []
            emu.emulator.device.on("connection", links.append)
            policy = ReconnectPolicy(initial_delay_s=0.05)
            url = f"ble:{emu.name}?timeout=5&pair=1&keystore={keystore}"
            device = anyppg.connect(url, adapter=emu.adapter, reconnect=policy)
            async with device:
                blocks = []
                async for block in device.samples():
                    blocks.append(block)
                    if device.accounting.reconnects >= 1 and len(blocks) >= 20:
                        break
            return blocks, device.accounting.snapshot(), emu.emulator.pairings, links

    blocks, acc, pairings, links = asyncio.run(main())
    assert len(links) >= 2 and all(link.is_encrypted for link in links)  # every connection, encrypted
    assert pairings == 1  # the reconnect encrypted with the stored bond, without pairing again
    assert acc.reconnects >= 1 and acc.is_balanced() and blocks
    stored = json.loads(keystore.read_text())
    assert len(stored) == 1 and len(next(iter(stored.values()))) == 1  # one central, one bonded peer


def test_the_bond_survives_a_restart_of_the_central(tmp_path):
    """A new adapter (a new process) with the same keystore reuses its address and the bond."""
    keystore = tmp_path / "keys.json"

    async def main():
        link = LocalLink()
        emulator = BleEmulator(_source(), speed=None, max_samples=16, require_encryption=True)
        await emulator.start(link=link)
        addresses = []
        try:
            for _ in range(2):
                adapter = BumbleAdapter(link=link)
                url = f"ble:{emulator.name}?timeout=5&pair=1&keystore={keystore}"
                try:
                    async with anyppg.connect(url, adapter=adapter) as device:
                        await _blocks(device, 3)
                        addresses.append(str(adapter.device.random_address))
                finally:
                    await adapter.close()
        finally:
            await emulator.stop()
        return addresses, emulator.pairings

    addresses, pairings = asyncio.run(main())
    assert addresses[0] == addresses[1] and pairings == 1


def test_encrypt_only_accepts_a_device_that_proves_the_bond(tmp_path):
    """encrypt=1 (no new pairing): refused before a bond exists; accepted with the bond made by pair=1;
    refused again for an impostor that clones the address and the GATT profile but not the bond."""
    keystore = tmp_path / "keys.json"

    async def attempt(link: LocalLink, emulator: BleEmulator, options: str) -> object:
        adapter = BumbleAdapter(link=link)
        url = f"ble:{emulator.name}?timeout=5&keystore={keystore}&{options}"
        try:
            async with anyppg.connect(url, adapter=adapter) as device:
                return len(await _blocks(device, 2))
        except LinkSecurityError as exc:
            return exc
        finally:
            await adapter.close()

    async def main():
        link = LocalLink()
        outcomes = []
        for options in (["encrypt=1", "pair=1", "encrypt=1"], ["encrypt=1"]):
            emulator = BleEmulator(_source(), speed=None, address=REAL, require_encryption=True)
            await emulator.start(link=link)
            try:
                outcomes += [await attempt(link, emulator, o) for o in options]
            finally:
                await emulator.stop()
        return outcomes

    before, paired, bonded, impostor = asyncio.run(main())
    assert isinstance(before, LinkSecurityError) and "no bond" in str(before)
    assert paired == 2 and bonded == 2
    assert isinstance(impostor, LinkSecurityError) and "refused the stored bond" in str(impostor)
    assert "impostor" in impostor.fix


def test_a_device_that_requires_encryption_without_pair_is_a_clear_error():
    async def main():
        async with emulated_ble(_source(), speed=None, require_encryption=True) as emu:
            with pytest.raises(LinkSecurityError) as info:
                async with anyppg.connect(f"ble:{emu.name}?timeout=5", adapter=emu.adapter):
                    pass
            return info.value, emu.stats.frames_sent

    error, sent = asyncio.run(main())
    assert "insufficient encryption" in str(error) and "?pair=1" in error.fix
    assert "\n" not in str(error) and sent == 0


def test_polar_pmd_over_an_encrypted_link(tmp_path):
    async def main():
        async with emulated_ble(
            parse_source("sim:duration=60,rate=125,seed=2"),
            profile="polar",
            speed=None,
            require_encryption=True,
        ) as emu:
            async with anyppg.connect(
                f"polar:{emu.name}?timeout=5&pair=1&keystore={tmp_path / 'k.json'}", adapter=emu.adapter
            ) as device:
                blocks = await _blocks(device, 3)
            return blocks, emu.emulator.pairings

    blocks, pairings = asyncio.run(main())
    assert len(blocks) == 3 and blocks[0].rate == 55.0 and pairings == 1


async def _two_devices_named_alike(url_options: str, *, real_running: bool = True):
    """The real wearable and a spoofer advertising the same name (and services) on one radio."""
    link = LocalLink()
    real = BleEmulator(_source(), speed=None, max_samples=16, address=REAL)
    spoof = BleEmulator(_source(), speed=None, address=SPOOF, spoof=True)
    adapter = BumbleAdapter(link=link)
    try:
        await spoof.start(link=link)
        if real_running:
            await real.start(link=link)
        async with anyppg.connect(f"ble:{real.name}?{url_options}", adapter=adapter) as device:
            blocks = await _blocks(device, 3)
            return blocks, real.stats.connections, spoof.stats.connections
    finally:
        await adapter.close()
        await real.stop()
        await spoof.stop()


def test_address_allow_list_connects_to_the_real_device_not_the_spoofer():
    blocks, real_connections, spoof_connections = asyncio.run(
        _two_devices_named_alike(f"timeout=5&address={REAL.lower()}")
    )
    assert len(blocks) == 3 and real_connections == 1 and spoof_connections == 0


def test_address_allow_list_refuses_a_spoofer_alone():
    with pytest.raises(DeviceNotAllowedError) as info:
        asyncio.run(_two_devices_named_alike(f"timeout=1&address={REAL}", real_running=False))
    assert info.value.rejected == [SPOOF] and info.value.allowed == [REAL]
    assert "spoofing" in str(info.value)


def test_profile_check_refuses_a_device_without_the_anyppg_characteristics():
    async def main():
        async with emulated_ble(_source(), speed=None, spoof=True) as emu:
            with pytest.raises(ProfileMismatchError) as info:
                async with anyppg.connect(f"ble:{emu.name}?timeout=5", adapter=emu.adapter):
                    pass
            return info.value, emu.emulator.device.connections

    error, open_links = asyncio.run(main())
    assert error.profile == "anyppg" and f"characteristic {ANYPPG_DATA_UUID}" in error.missing
    assert "0000180f-0000-1000-8000-00805f9b34fb" in error.services  # it serves Battery only
    assert not open_links  # refused and disconnected before anything was subscribed


def test_profile_check_names_the_polar_pmd_service_and_required_services():
    async def main(url_options: str, profile: str = "anyppg", scheme: str = "ble"):
        async with emulated_ble(_source(), profile=profile, speed=None) as emu:
            url = f"{scheme}:{emu.name}?timeout=5" + (f"&{url_options}" if url_options else "")
            with pytest.raises(ProfileMismatchError) as info:
                async with anyppg.connect(url, adapter=emu.adapter):
                    pass
            return info.value

    polar = asyncio.run(main("", profile="anyppg", scheme="polar"))
    assert polar.profile == "Polar PMD" and len(polar.missing) == 2
    plx = asyncio.run(main("service=180d,1822"))  # it has Heart Rate, not Pulse Oximeter
    assert plx.missing == ["00001822-0000-1000-8000-00805f9b34fb"]


@pytest.mark.parametrize(
    ("options", "field"),
    [("address=AA:BB", "address="), ("pair=maybe", "pair="), ("service=heart", "service=")],
)
def test_malformed_security_options_are_url_errors(options, field):
    with pytest.raises(DeviceURLError, match=field):
        SecurityOptions.from_url(parse_url(f"ble:AnyPPG-EMU?{options}"))


def test_security_options_and_the_default_keystore(monkeypatch, tmp_path):
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_keystore_path() == tmp_path / "anyppg" / "ble-keys.json"
    options = SecurityOptions.from_url(parse_url("ble:W?pair=1&address=aa:bb:cc:dd:ee:ff&service=0x180D"))
    assert options.encrypt and options.keystore == tmp_path / "anyppg" / "ble-keys.json"
    assert options.addresses == ("AA:BB:CC:DD:EE:FF",) and options.allows("aa:bb:cc:dd:ee:ff")
    assert options.services == ("0000180d-0000-1000-8000-00805f9b34fb",)
    assert SecurityOptions.from_url(parse_url("ble:W")) == SecurityOptions()


@pytest.mark.slow  # two interpreters with the bumble stack (~15 s on 2 shared cores)
def test_cli_emulator_that_requires_pairing_across_processes(tmp_path, capsys):
    """`anyppg emulate --require-pairing` in its own process: its printed URL (with pair=1) streams; the
    same URL without pair=1 fails with one line and the summary."""
    import subprocess
    import sys

    from anyppg.cli import main as cli_main

    command = [sys.executable, "-m", "anyppg", "emulate", "--hci-port", "0", "--json", "--speed", "40"]
    command += [
        "--require-pairing",
        "--source",
        "sim:seed=2,rate=64",
        "--duration",
        "60",
        "--stats-every",
        "0",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "ready" and "pair=1" in ready["url"]
        url = ready["url"] + f"&timeout=10&keystore={tmp_path / 'keys.json'}"

        async def main():
            async with anyppg.connect(url) as device:
                return await _blocks(device, 5), device.accounting.snapshot()

        blocks, acc = asyncio.run(main())
        assert len(blocks) == 5 and acc.is_balanced()
        unpaired = url.replace("&pair=1", "")
        assert cli_main(["stream", unpaired, "--model", "none", "--json"]) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "insufficient encryption" in summary["devices"][0]["error"]
