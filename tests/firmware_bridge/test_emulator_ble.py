"""The BLE emulator end to end through two real bumble stacks and bleak's public API.

scan -> connect -> MTU exchange -> read info -> subscribe -> write START -> notifications -> decode
with the protocol codecs -> samples equal the source, with and without injected faults.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakGATTProtocolError

from anyppg.firmware_bridge.deframer import Deframer
from anyppg.firmware_bridge.emulator.ble import ATT_ERROR_REJECTED, BleEmulator, emulated_ble
from anyppg.firmware_bridge.emulator.faults import FaultSpec
from anyppg.firmware_bridge.emulator.sources import Source, simulator_source
from anyppg.firmware_bridge.gatt import (
    ANYPPG_CONTROL_UUID,
    ANYPPG_DATA_UUID,
    ANYPPG_INFO_UUID,
    ANYPPG_SERVICE_UUID,
    ControlCommand,
    DeviceInfo,
)
from anyppg.firmware_bridge.hrs import HeartRateMeasurement
from anyppg.firmware_bridge.protocol import Channel, max_samples_per_frame

HRM_UUID = "00002a37-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
MANUFACTURER_UUID = "00002a29-0000-1000-8000-00805f9b34fb"


def _ramp_source(n: int = 5000, rate: float = 125.0, acc: bool = True) -> Source:
    """A signal whose every sample is distinct, so any loss, reordering or shift shows."""
    ppg = 1_000_000 + np.arange(n)
    motion = np.column_stack([np.arange(n) % 997, -(np.arange(n) % 991), np.full(n, 1000)]) if acc else None
    return Source(name="ramp", rate_hz=rate, ppg=ppg, acc=motion)


def _sample_index(source: Source, timestamp_us: int) -> int:
    return round(timestamp_us * source.rate_hz / 1e6)


async def _collect(emu, seconds: float, **client_kwargs):
    device = await BleakScanner.find_device_by_name(emu.name, timeout=5, backend=emu.adapter.scanner_backend)
    assert device is not None, "the emulator was not seen advertising"
    deframer = Deframer()
    frames = []
    async with BleakClient(device, backend=emu.adapter.client_backend, **client_kwargs) as client:
        mtu = client.mtu_size
        info = DeviceInfo.from_bytes(await client.read_gatt_char(ANYPPG_INFO_UUID))

        def on_data(_char, value: bytearray) -> None:
            frame = deframer.feed_notification(value)
            if frame is not None:
                frames.append((len(value), frame))

        await client.start_notify(ANYPPG_DATA_UUID, on_data)
        await client.write_gatt_char(ANYPPG_CONTROL_UUID, bytes(ControlCommand.start()), response=True)
        await asyncio.sleep(seconds)
        await client.write_gatt_char(ANYPPG_CONTROL_UUID, bytes(ControlCommand.stop()), response=True)
        await asyncio.sleep(0.05)  # let the last shielded notification land
    return mtu, info, frames, deframer


def test_stream_decodes_to_the_source_samples_with_frames_sized_to_the_mtu():
    source = _ramp_source()

    async def main():
        async with emulated_ble(source, speed=None) as emu:
            mtu, info, frames, deframer = await _collect(emu, 0.4)
            return mtu, info, frames, deframer, emu.stats

    mtu, info, frames, deframer, stats = asyncio.run(main())
    assert mtu == 517  # the backend raised the MTU at connect, as desktop stacks do
    assert info.sample_rate_hz == 125.0
    assert info.channels == (Channel.PPG_GREEN, Channel.ACC_X, Channel.ACC_Y, Channel.ACC_Z)
    assert len(frames) > 20
    per_frame = max_samples_per_frame(mtu, 4, info.fmt)
    for size, frame in frames:
        assert size <= mtu - 3
        assert frame.n_samples == per_frame
        start = _sample_index(source, frame.timestamp_us)
        np.testing.assert_array_equal(frame.samples, source.block(start, frame.n_samples))
    seqs = [f.seq for _, f in frames]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert sum(f.n_samples for _, f in frames) == stats.samples_intact == stats.samples_sent
    assert deframer.stats.crc_errors == deframer.stats.frames_lost == 0


def test_faults_are_counted_exactly_on_both_sides():
    source = _ramp_source(acc=False)
    faults = FaultSpec(drop=0.1, corrupt=0.1, seed=5)

    async def main():
        async with emulated_ble(source, speed=None, faults=faults, max_samples=10) as emu:
            _, _, frames, deframer = await _collect(emu, 0.5)
            return frames, deframer, emu.stats

    frames, deframer, stats = asyncio.run(main())
    assert stats.frames_dropped > 0 and stats.frames_corrupted > 0
    received = [f for _, f in frames]
    assert sum(f.n_samples for f in received) == stats.samples_intact
    assert deframer.stats.crc_errors == stats.frames_corrupted
    assert {f.seq for f in received}.isdisjoint({*stats.dropped_seqs, *stats.corrupted_seqs})
    assert len(received) + stats.frames_dropped + stats.frames_corrupted == stats.frames_sent
    for frame in received:
        np.testing.assert_array_equal(
            frame.samples, source.block(_sample_index(source, frame.timestamp_us), 10)
        )


def test_the_same_seed_injects_the_same_faults():
    def run() -> tuple[list[int], list[int]]:
        async def main():
            async with emulated_ble(
                _ramp_source(acc=False), speed=None, faults=FaultSpec(drop=0.2, seed=9)
            ) as emu:
                await _collect(emu, 0.3)
                return emu.stats.dropped_seqs

        return asyncio.run(main())

    first, second = run(), run()
    common = min(len(first), len(second), 5)
    assert common > 0 and first[:common] == second[:common]


def test_start_is_refused_when_the_mtu_was_not_raised():
    async def main():
        async with emulated_ble(_ramp_source(), speed=None) as emu:
            device = await BleakScanner.find_device_by_name(
                emu.name, timeout=5, backend=emu.adapter.scanner_backend
            )
            async with BleakClient(device, backend=emu.adapter.client_backend, mtu=None) as client:
                assert client.mtu_size == 23
                with pytest.raises(BleakGATTProtocolError) as excinfo:
                    await client.write_gatt_char(
                        ANYPPG_CONTROL_UUID, bytes(ControlCommand.start()), response=True
                    )
                with pytest.raises(BleakGATTProtocolError):
                    await client.write_gatt_char(
                        ANYPPG_CONTROL_UUID, bytes(ControlCommand.set_rate(50)), response=True
                    )
                with pytest.raises(BleakGATTProtocolError):
                    await client.write_gatt_char(ANYPPG_CONTROL_UUID, b"\x7f", response=True)
                with pytest.raises(BleakGATTProtocolError):  # write-only: refused at once, no 30 s timeout
                    await client.read_gatt_char(ANYPPG_CONTROL_UUID)
                return excinfo.value.args[0]

    assert asyncio.run(main()) == ATT_ERROR_REJECTED


def test_advertising_and_standard_services():
    async def main():
        async with emulated_ble(simulator_source(30.0, heart_rate=90.0, seed=3), speed=20.0) as emu:
            found = {}
            async with BleakScanner(backend=emu.adapter.scanner_backend) as scanner:
                while emu.name not in found:
                    await asyncio.sleep(0.02)
                    found = {d.name: a for d, a in scanner.discovered_devices_and_advertisement_data.values()}
            advertisement = found[emu.name]
            device = await BleakScanner.find_device_by_name(emu.name, backend=emu.adapter.scanner_backend)
            heart_rates: list[HeartRateMeasurement] = []
            async with BleakClient(device, backend=emu.adapter.client_backend) as client:
                battery = (await client.read_gatt_char(BATTERY_LEVEL_UUID))[0]
                maker = (await client.read_gatt_char(MANUFACTURER_UUID)).decode()
                await client.start_notify(
                    HRM_UUID, lambda _c, v: heart_rates.append(HeartRateMeasurement.from_bytes(v))
                )
                while len(heart_rates) < 4:
                    await asyncio.sleep(0.02)
            return advertisement, battery, maker, heart_rates

    advertisement, battery, maker, heart_rates = asyncio.run(main())
    assert ANYPPG_SERVICE_UUID in advertisement.service_uuids
    assert "0000180d-0000-1000-8000-00805f9b34fb" in advertisement.service_uuids
    assert battery == 87 and maker == "anyppg"
    assert all(m.sensor_contact for m in heart_rates)
    assert all(70 <= m.heart_rate <= 110 for m in heart_rates)
    rr = [x for m in heart_rates for x in m.rr_intervals]
    assert rr and all(0.5 < x < 0.9 for x in rr)  # ~90 bpm: RR ~0.67 s


def test_disconnect_every_drops_the_link_and_bleak_reports_it():
    async def main():
        emulator_faults = FaultSpec(disconnect_every_s=0.3)
        async with emulated_ble(_ramp_source(), speed=4.0, faults=emulator_faults) as emu:
            device = await BleakScanner.find_device_by_name(
                emu.name, timeout=5, backend=emu.adapter.scanner_backend
            )
            lost = asyncio.Event()
            client = BleakClient(
                device, disconnected_callback=lambda _c: lost.set(), backend=emu.adapter.client_backend
            )
            await client.connect()
            data_char = client.services.get_characteristic(ANYPPG_DATA_UUID)
            await client.start_notify(data_char, lambda _c, _v: None)
            await asyncio.wait_for(lost.wait(), 5)
            assert not client.is_connected
            from bleak.exc import BleakError

            # As bleak on BlueZ (#472): stop_notify on a dead link raises, the services are gone.
            with pytest.raises(BleakError):
                await client.stop_notify(data_char)
            with pytest.raises(BleakError, match="Not connected"):
                await client._backend.stop_notify(data_char)
            await client.disconnect()  # a no-op on a dead link
            return emu.stats

    stats = asyncio.run(main())
    assert stats.disconnects >= 1 and stats.connections == 1


def test_the_emulator_rejects_bad_arguments():
    with pytest.raises(ValueError, match="profile"):
        BleEmulator(_ramp_source(), profile="fitbit")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="battery"):
        BleEmulator(_ramp_source(), battery_level=120)

    async def main():
        emulator = BleEmulator(_ramp_source())
        with pytest.raises(ValueError, match="exactly one"):
            await emulator.start()
        from anyppg.firmware_bridge.emulator.ble import EmulatorStartError

        with pytest.raises(EmulatorStartError) as excinfo:
            await emulator.start(transport="tcp-client:127.0.0.1:1")
        assert excinfo.value.transport == "tcp-client:127.0.0.1:1"

    asyncio.run(main())


def test_polar_profile_streams_verity_sense_style_compressed_ppg():
    from anyppg.firmware_bridge.polar import (
        PMD_CONTROL_POINT_UUID,
        PMD_DATA_UUID,
        PmdCommand,
        PmdDataFrame,
        PmdError,
        PmdMeasurementType,
        PmdResponse,
        PmdSetting,
    )

    source = simulator_source(20.0, seed=2)
    ppg = PmdMeasurementType.PPG

    async def main():
        async with emulated_ble(
            source, profile="polar", speed=None, faults=FaultSpec(drop=0.1, seed=3)
        ) as emu:
            device = await BleakScanner.find_device_by_name(
                emu.name, timeout=5, backend=emu.adapter.scanner_backend
            )
            responses, frames = [], []
            async with BleakClient(device, backend=emu.adapter.client_backend) as client:
                features = await client.read_gatt_char(PMD_CONTROL_POINT_UUID)
                await client.start_notify(
                    PMD_CONTROL_POINT_UUID, lambda _c, v: responses.append(PmdResponse.from_bytes(v))
                )
                await client.start_notify(
                    PMD_DATA_UUID, lambda _c, v: frames.append(PmdDataFrame.from_bytes(v))
                )
                for command in (
                    PmdCommand.get_settings(ppg),
                    PmdCommand.start(ppg, sample_rate=44),
                    PmdCommand.start(ppg, sample_rate=135),  # only in SDK mode
                    PmdCommand.enable_sdk_mode(),
                    PmdCommand.start(ppg, sample_rate=135, resolution=22, channels=4),
                    PmdCommand.start(ppg, sample_rate=135),
                ):
                    await client.write_gatt_char(PMD_CONTROL_POINT_UUID, bytes(command), response=True)
                while len(frames) < 30:
                    await asyncio.sleep(0.01)
                await client.write_gatt_char(
                    PMD_CONTROL_POINT_UUID, bytes(PmdCommand.stop(ppg)), response=True
                )
                await asyncio.sleep(0.05)
            return features, responses, frames, emu.emulator.polar, emu.stats

    features, responses, frames, server, stats = asyncio.run(main())
    assert features[0] == 0x0F and features[1] & (1 << ppg)
    settings, bad_rate, needs_sdk_mode, sdk_mode, started, again, stopped = responses
    assert settings.settings[PmdSetting.SAMPLE_RATE] == (55,)
    assert bad_rate.error == needs_sdk_mode.error == PmdError.INVALID_SAMPLE_RATE and sdk_mode.ok
    assert started.ok and again.error == PmdError.ALREADY_IN_STATE and stopped.ok
    resampled = source.resampled(135.0)
    expected = server.ppg_channels(resampled)
    # A Verity Sense counts light: the pulse arrives upside down (the SDK's polar: transport turns it back).
    offset = resampled.meta.get("polar_offset", 0)
    np.testing.assert_array_equal(expected[:, 0], -resampled.ppg.astype(np.int64) - offset)
    for frame in frames:
        assert frame.compressed and frame.measurement_type == ppg and frame.samples.shape[1] == 4
        last = round((frame.timestamp_ns - server.epoch_ns) * 135 / 1e9)  # the timestamp is the LAST sample's
        index = np.arange(last - frame.n_samples + 1, last + 1) % len(expected)
        np.testing.assert_array_equal(frame.samples, expected[index])
    assert stats.frames_dropped > 0 and stats.frames_corrupted == 0  # PMD frames have no CRC to break
    assert len(frames) + stats.frames_dropped == stats.frames_sent


def test_hrs_profile_is_a_plain_heart_rate_strap():
    async def main():
        async with emulated_ble(
            simulator_source(20.0, heart_rate=60.0, seed=4), profile="hrs", speed=20.0
        ) as emu:
            device = await BleakScanner.find_device_by_name(
                emu.name, timeout=5, backend=emu.adapter.scanner_backend
            )
            measurements: list[HeartRateMeasurement] = []
            async with BleakClient(device, backend=emu.adapter.client_backend) as client:
                services = {s.uuid for s in client.services}
                location = await client.read_gatt_char("00002a38-0000-1000-8000-00805f9b34fb")
                await client.start_notify(
                    HRM_UUID, lambda _c, v: measurements.append(HeartRateMeasurement.from_bytes(v))
                )
                while len(measurements) < 2:
                    await asyncio.sleep(0.02)
            return emu.name, services, location, measurements

    name, services, location, measurements = asyncio.run(main())
    assert name == "HRS-EMU"
    assert ANYPPG_SERVICE_UUID not in services
    assert {"0000180d-0000-1000-8000-00805f9b34fb", "0000180f-0000-1000-8000-00805f9b34fb"} <= services
    assert location == bytearray([2])  # wrist
    assert all(45 <= m.heart_rate <= 75 for m in measurements)


def test_require_encryption_refuses_reads_writes_and_subscriptions_until_the_link_is_paired():
    """``require_encryption``: ATT "insufficient encryption" (0x0F) on the info read, the control write
    and the data CCCD until the central pairs; after pairing everything works over the encrypted link."""

    async def main():
        async with emulated_ble(_ramp_source(), speed=None, require_encryption=True) as emu:
            device = await BleakScanner.find_device_by_name(
                emu.name, timeout=5, backend=emu.adapter.scanner_backend
            )
            async with BleakClient(device, backend=emu.adapter.client_backend) as client:
                refused = []
                for operation in (
                    client.read_gatt_char(ANYPPG_INFO_UUID),
                    client.write_gatt_char(ANYPPG_CONTROL_UUID, bytes(ControlCommand.start()), response=True),
                    client.start_notify(ANYPPG_DATA_UUID, lambda _c, _v: None),
                ):
                    with pytest.raises(BleakGATTProtocolError) as info:
                        await operation
                    refused.append(int(info.value.args[0]))
                battery = await client.read_gatt_char(BATTERY_LEVEL_UUID)  # generic services stay open
                await client.pair()
                notified = asyncio.Event()
                await client.start_notify(ANYPPG_DATA_UUID, lambda _c, _v: notified.set())
                info = DeviceInfo.from_bytes(await client.read_gatt_char(ANYPPG_INFO_UUID))
                await client.write_gatt_char(
                    ANYPPG_CONTROL_UUID, bytes(ControlCommand.start()), response=True
                )
                await asyncio.wait_for(notified.wait(), 5)
            return refused, battery, info, emu.emulator.pairings

    refused, battery, info, pairings = asyncio.run(main())
    assert refused == [0x0F, 0x0F, 0x0F] and battery == bytearray([87])
    assert info.sample_rate_hz == 125.0 and pairings == 1


def test_spoof_advertises_like_the_profile_but_serves_none_of_it():
    async def main():
        async with emulated_ble(_ramp_source(), speed=None, spoof=True) as emu:
            seen = await BleakScanner.find_device_by_name(
                emu.name, timeout=5, backend=emu.adapter.scanner_backend
            )
            found = await BleakScanner.discover(
                timeout=0.5, backend=emu.adapter.scanner_backend, return_adv=True
            )
            adv = next(a for d, a in found.values() if d.address == seen.address)
            async with BleakClient(seen, backend=emu.adapter.client_backend) as client:
                services = [s.uuid for s in client.services]
            return adv, services

    adv, services = asyncio.run(main())
    assert ANYPPG_SERVICE_UUID in adv.service_uuids  # advertises the anyppg service ...
    assert ANYPPG_SERVICE_UUID not in services and "0000180d-0000-1000-8000-00805f9b34fb" not in services
