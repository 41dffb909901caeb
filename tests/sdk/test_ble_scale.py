"""Many BLE wearables on one central: connections queued one at a time, a shared scan paused while
connecting, a virtual radio that scales, and exact accounting for every device.

Speed and the 25 / 50 / 100-device numbers are in ``benchmarks/bench_scale_ble.py``.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from bumble import hci, ll
from bumble.controller import Controller

import anyppg
from anyppg.firmware_bridge.emulator.ble import BleEmulator
from anyppg.firmware_bridge.emulator.faults import FaultSpec
from anyppg.firmware_bridge.emulator.radio import VirtualController, VirtualRadio
from anyppg.firmware_bridge.emulator.sources import parse_source
from anyppg.sdk.bleak_bumble import BumbleAdapter

FRAME = 16  # samples per anyppg frame (max_samples)


@contextlib.asynccontextmanager
async def _wearables(n: int, drop: float = 0.0, **kwargs):
    """``n`` emulated anyppg wearables (each dropping frames with probability ``drop``, its own seed)
    on one virtual radio, and a central adapter on it."""
    radio = VirtualRadio()
    async with contextlib.AsyncExitStack() as stack:
        emulators = []
        for i in range(n):
            source = parse_source(f"sim:duration=60,rate=64,seed={i}")
            faults = FaultSpec(drop=drop, seed=i)
            emulator = BleEmulator(source, name=f"SCALE-{i:02d}", max_samples=FRAME, faults=faults, **kwargs)
            await emulator.start(link=radio)
            stack.push_async_callback(emulator.stop)
            emulators.append(emulator)
        adapter = BumbleAdapter(link=radio)
        stack.push_async_callback(adapter.close)
        yield adapter, emulators


def test_ten_devices_connect_at_once_and_each_stream_is_exactly_accounted():
    n, samples_each = 10, 320

    async def stream(device: anyppg.Device) -> tuple[int, int]:
        first = last = None
        async for block in device.samples():
            first = block.seq if first is None else first
            last = block.seq
            if device.accounting.delivered >= samples_each:
                break
        return first, last

    async def body():
        async with _wearables(n, drop=0.05, speed=16.0) as (adapter, emulators):
            devices = [anyppg.connect(f"ble:{e.name}?timeout=30", adapter=adapter) for e in emulators]
            await asyncio.gather(*(d.connect() for d in devices))  # every connect() at once
            assert all(d.is_connected for d in devices)
            assert len(adapter.device.connections) == n
            spans = await asyncio.gather(*(stream(d) for d in devices))
            snapshots = [d.accounting.snapshot() for d in devices]
            for device in devices:
                await device.disconnect()
            return spans, snapshots, [e.stats for e in emulators]

    spans, snapshots, stats = asyncio.run(body())
    for (first, last), acc, emulated in zip(spans, snapshots, stats, strict=True):
        lost = [s for s in emulated.dropped_seqs if first < s < last]
        assert acc.received == acc.delivered + acc.dropped_total  # exact, per device
        assert acc.delivered >= samples_each
        # every frame between the first and the last one delivered is either delivered or a counted gap
        assert acc.delivered == FRAME * (last - first + 1 - len(lost))
        assert acc.missing == FRAME * len(lost)


def test_a_timed_out_connection_attempt_does_not_wedge_the_adapter():
    """bumble's stock virtual controller never ends a cancelled attempt: every later one was refused."""

    async def body():
        async with _wearables(1, speed=1.0) as (adapter, (emulator,)):
            absent = hci.Address("C0:00:00:00:00:01", hci.Address.RANDOM_DEVICE_ADDRESS)
            with pytest.raises(TimeoutError, match=r"no connection to C0:00:00:00:00:01 within 0\.2 s"):
                await adapter.connect(absent, 0.2)
            connection = await adapter.connect(emulator.address, 5.0)
            return connection.peer_address, emulator.address

    peer, expected = asyncio.run(body())
    assert peer == expected


def test_one_shared_scan_started_once_and_paused_while_connecting():
    async def body():
        async with _wearables(1, speed=1.0) as (adapter, (emulator,)):
            device = await adapter.open()
            starts = []
            start_scanning = device.start_scanning

            async def counting_start(**kwargs):
                starts.append(kwargs)
                await start_scanning(**kwargs)

            device.start_scanning = counting_start
            listeners = [lambda _adv: None for _ in range(20)]
            await asyncio.gather(*(adapter.add_scan_listener(f, active=True) for f in listeners))
            scanning_before = device.is_scanning
            during = []
            device.on("connection", lambda _c: during.append((device.is_scanning, adapter.is_scan_paused)))
            await adapter.connect(emulator.address, 5.0)
            scanning_after = device.is_scanning
            for f in listeners:
                await adapter.remove_scan_listener(f)
            return len(starts), scanning_before, during, scanning_after, device.is_scanning

    starts, before, during, after, at_end = asyncio.run(body())
    assert starts == 2  # once for 20 concurrent scanners, once to resume after the connection
    assert before and during == [(False, True)] and after and not at_end


def test_virtual_radio_sends_advertisements_only_to_controllers_that_listen():
    async def body():
        radio = VirtualRadio()
        sender, scanner, idle, initiator = (VirtualController(name, link=radio) for name in "ABCD")
        heard: dict[str, list[type]] = {c.name: [] for c in (sender, scanner, idle, initiator)}
        for controller in (sender, scanner, idle, initiator):
            controller.on_ll_advertising_pdu = lambda pdu, name=controller.name: heard[name].append(type(pdu))
        scanner.le_scan_enable = True
        initiator.pending_le_connection = object()  # what LE Create Connection leaves there
        address = hci.Address("C0:00:00:00:00:0A", hci.Address.RANDOM_DEVICE_ADDRESS)
        radio.send_advertising_pdu(sender, ll.AdvInd(advertiser_address=address, data=b""))
        idle.le_legacy_advertiser.enabled = True  # an advertiser hears connection requests
        radio.send_advertising_pdu(
            scanner,
            ll.ConnectInd(
                initiator_address=address, advertiser_address=address, interval=6, latency=0, timeout=50
            ),
        )
        await asyncio.sleep(0)  # the radio delivers on the next loop iteration
        return heard

    heard = asyncio.run(body())
    assert heard == {"A": [], "B": [ll.AdvInd], "C": [ll.ConnectInd], "D": [ll.AdvInd]}
    assert issubclass(VirtualController, Controller)


def test_a_transient_connection_failure_is_retried():
    """The controller refuses the first attempt (Connection Failed to be Established): the second wins."""

    async def body():
        async with _wearables(1, speed=1.0) as (adapter, (emulator,)):
            await adapter.open()
            controller = adapter._controller
            refused = []

            def refusing_once(handler):
                def handle(command):
                    if refused:
                        return handler(command)
                    refused.append(command)
                    status = hci.HCI_CONNECTION_FAILED_TO_BE_ESTABLISHED_ERROR
                    controller._send_hci_command_status(status, command.op_code)
                    return None

                return handle

            # the host sends the legacy or the extended command, depending on what the controller lists
            for name in (
                "on_hci_le_create_connection_command",
                "on_hci_le_extended_create_connection_command",
            ):
                setattr(controller, name, refusing_once(getattr(controller, name)))
            connection = await adapter.connect(emulator.address, 5.0)
            return len(refused), connection.peer_address == emulator.address

    assert asyncio.run(body()) == (1, True)
