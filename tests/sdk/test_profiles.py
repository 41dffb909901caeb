"""hrs:, plx: and polar: settings negotiation, end to end against the bumble emulator (real GATT on both ends)."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

import anyppg
from anyppg.errors import UnsupportedRateError
from anyppg.firmware_bridge.emulator.ble import emulated_ble
from anyppg.firmware_bridge.emulator.sources import parse_source
from anyppg.firmware_bridge.plx import DeviceSensorStatus, MeasurementStatus, PlxContinuousMeasurement
from anyppg.firmware_bridge.polar import PmdCommand, PmdError, PmdMeasurementType, PmdOpCode
from anyppg.sdk import StreamFormatError
from anyppg.sdk.accounting import Accounting
from anyppg.sdk.cmd_stream import reading_line
from anyppg.sdk.readings import Reading, ReadingTimeline, rr_series_ms
from anyppg.sdk.transports.plx import plx_quality

SOURCE = "sim:duration=60,hr=72,seed=5,rate=64"


def _expected_rr_ms(source, seconds: float) -> np.ndarray:
    """Every RR interval the emulated strap can send, in order, quantised to 1/1024 s as on the wire."""
    beats = source.beats_between(0.0, seconds)
    return np.round(np.diff(beats) * 1024) / 1024 * 1000


def _is_contiguous_run(part: np.ndarray, whole: np.ndarray) -> bool:
    for start in np.flatnonzero(np.isclose(whole, part[0], atol=1e-6)):
        window = whole[start : start + len(part)]
        if len(window) == len(part) and np.allclose(window, part, atol=1e-6):
            return True
    return False


def test_hrs_stream_yields_the_straps_heart_rate_and_every_rr_interval():
    source = parse_source(SOURCE)

    async def main():
        async with emulated_ble(source, profile="hrs", speed=10.0) as emu:
            device = anyppg.connect(f"hrs:{emu.name}?timeout=5", adapter=emu.adapter)
            async with device:
                assert device.transport.location is not None and device.transport.location.name == "WRIST"
                results = []
                async for result in device.infer(None):
                    results.append(result)
                    if len(results) >= 12:
                        break
            async with anyppg.connect(f"hrs:{emu.name}?timeout=5", adapter=emu.adapter) as again:
                with pytest.raises(StreamFormatError, match="readings, not PPG samples"):
                    async for _ in again.samples():
                        pass
            return results, device.accounting.snapshot()

    results, acc = asyncio.run(main())
    for r in results:
        assert r.embedding is None and r.window is None and r.heart_rate_model is None
        assert r.sensor_contact is True and r.quality == 1.0 and r.usable
        assert 55 <= r.heart_rate <= 90 and isinstance(r.energy_expended, int)
        assert r.t_start < r.t_end
    energy = [r.energy_expended for r in results]
    assert energy == sorted(energy) and energy[-1] > energy[0]  # cumulative kJ
    # the RR intervals of consecutive notifications join into the source's own beat-to-beat series
    rr = rr_series_ms(results)
    assert len(rr) >= 10
    assert _is_contiguous_run(rr, _expected_rr_ms(source, 400.0))
    # one notification = one sample; the SDK's books balance
    assert acc.received == acc.delivered == len(results) and acc.is_balanced()
    line = reading_line(results[0])
    assert "HR" in line and "RR" in line and "contact" in line and "kJ" in line
    payload = results[0].to_dict()
    assert payload["rr_intervals"] == [round(x, 1) for x in results[0].rr_intervals]
    assert payload["spo2"] is None and json.dumps(payload)


def test_plx_stream_reports_what_the_oximeter_sent():
    async def main():
        async with emulated_ble(parse_source(SOURCE), profile="plx", speed=20.0) as emu:
            device = anyppg.connect(f"plx:{emu.name}?timeout=5", adapter=emu.adapter)
            async with device:
                results = []
                async for result in device.infer(None):
                    results.append(result)
                    if len(results) >= 8:
                        break
                return results, list(emu.emulator.plx.sent), device.accounting.snapshot()

    results, sent, acc = asyncio.run(main())
    decoded = [PlxContinuousMeasurement.from_bytes(p) for p in sent[: len(results)]]
    assert [(r.spo2, r.heart_rate) for r in results] == [(m.spo2, m.pulse_rate) for m in decoded]
    assert all(96.4 <= r.spo2 <= 97.6 and r.quality == 1.0 and r.rr_intervals is None for r in results)
    assert acc.received == acc.delivered == len(results) and acc.is_balanced()
    assert "SpO2" in reading_line(results[0])


def test_a_notification_that_does_not_decode_is_counted_and_the_next_one_delivered():
    """What bleak's callback hands an ``hrs:`` / ``plx:`` link: bytes that do not decode cost only
    themselves (``corrupt_frames``); the next measurement still becomes a reading."""
    from anyppg.firmware_bridge.hrs import HeartRateMeasurement
    from anyppg.firmware_bridge.plx import PLX_CONTINUOUS_MEASUREMENT_UUID
    from anyppg.sdk.transports.hrs import HrsTransport
    from anyppg.sdk.transports.plx import PlxTransport
    from anyppg.sdk.urls import parse_url

    hrs = HrsTransport(parse_url("hrs:Strap"))
    hrs._on_notification(None, bytearray(b"\x10"))  # flags promise RR intervals, no heart rate follows
    hrs._on_notification(None, bytearray(bytes(HeartRateMeasurement(72, rr_intervals=(0.8,)))))
    assert hrs.corrupt_frames == 1 and hrs.inbox.qsize() == 1
    reading = hrs.inbox.get_nowait()
    assert reading.heart_rate == 72 and reading.rr_intervals == pytest.approx((800.0,), abs=1)

    plx = PlxTransport(parse_url("plx:Oximeter"))
    plx.characteristic = PLX_CONTINUOUS_MEASUREMENT_UUID
    plx._on_notification(None, bytearray(b"\x00\x01"))  # cut short
    plx._on_notification(None, bytearray(bytes(PlxContinuousMeasurement(spo2=97.0, pulse_rate=64.0))))
    assert plx.corrupt_frames == 1 and plx.inbox.get_nowait().spo2 == pytest.approx(97.0)


def test_plx_quality_follows_the_devices_status_bits():
    def m(**kw):
        return PlxContinuousMeasurement(spo2=kw.pop("spo2", 97.0), pulse_rate=70.0, **kw)

    assert plx_quality(m()) == 1.0
    assert plx_quality(m(spo2=float("nan"))) == 0.0
    assert plx_quality(m(measurement_status=MeasurementStatus.MEASUREMENT_UNAVAILABLE)) == 0.0
    assert plx_quality(m(device_sensor_status=DeviceSensorStatus.LOW_PERFUSION_DETECTED)) == 0.3
    assert plx_quality(m(measurement_status=MeasurementStatus.EARLY_ESTIMATED_DATA)) == 0.7


def test_reading_timeline_counts_duplicates_gaps_and_disconnections():
    acc = Accounting()
    timeline = ReadingTimeline("hrs:strap", acc)

    def reading(t: float, payload: bytes, contact: bool = True) -> Reading:
        return Reading(t=t, heart_rate=70.0, quality=float(contact), payload=payload, sensor_contact=contact)

    times = [0.0, 1.0, 1.01, 2.0, 3.0, 7.0, 8.0]  # 1.01: a double delivery; 3 -> 7: three lost
    payloads = [b"a", b"b", b"b", b"c", b"d", b"e", b"f"]
    out = [timeline.push(reading(t, p)) for t, p in zip(times, payloads, strict=True)]
    assert out[2] is None and acc.dropped["duplicate"] == 1
    assert [(g.missing, g.reason) for g in acc.gaps] == [(3, "missing")]
    timeline.mark_disconnect()
    no_contact = timeline.push(reading(10.0, b"g", contact=False))
    assert no_contact is not None and not no_contact.usable and acc.windows_gated == 1
    assert acc.gaps[-1].reason == "disconnect" and acc.gaps[-1].missing == 1
    assert acc.received == 8 and acc.delivered == 7 and acc.is_balanced()
    assert out[1].t_start == 0.0 and out[1].t_end == 1.0  # a result spans the interval since the last one


def _commands(history) -> list[tuple[str, str, str]]:
    return [
        (command.op_code.name, command.measurement_type.name, getattr(response.error, "name", "?"))
        for command, response in history
    ]


def test_polar_reads_the_settings_and_enters_sdk_mode_only_for_rates_that_need_it():
    async def main():
        out = {}
        async with emulated_ble(
            parse_source("sim:duration=30,seed=2,rate=125"), profile="polar", speed=None
        ) as emu:
            server = emu.emulator.polar
            for query in ("", "&rate=135"):
                server.history.clear()
                device = anyppg.connect(f"polar:{emu.name}?timeout=5{query}", adapter=emu.adapter)
                async with device:
                    transport = device.transport
                    blocks = []
                    async for block in device.samples():
                        blocks.append(block)
                        if sum(map(len, blocks)) >= 300:
                            break
                    ecg = await transport._request(
                        transport.client, PmdCommand.get_settings(PmdMeasurementType.ECG)
                    )
                    out[query] = (transport.settings, transport.in_sdk_mode, {b.rate for b in blocks}, ecg)
                await asyncio.sleep(0.05)  # the stop requests' responses
                out[query] += (_commands(server.history),)
            with pytest.raises(UnsupportedRateError) as refused:
                async with anyppg.connect(f"polar:{emu.name}?timeout=5&rate=100", adapter=emu.adapter):
                    pass
            with pytest.raises(UnsupportedRateError) as no_sdk:
                async with anyppg.connect(
                    f"polar:{emu.name}?timeout=5&rate=135&sdk=off", adapter=emu.adapter
                ):
                    pass
        return out, refused.value, no_sdk.value

    out, refused, no_sdk = asyncio.run(main())
    settings, sdk_mode, rates, ecg, history = out[""]
    assert (
        settings == {"sample_rate": 55, "resolution": 22, "channels": 4} and not sdk_mode and rates == {55.0}
    )
    assert ecg.error == PmdError.NOT_SUPPORTED  # a Verity Sense has no ECG
    assert history[:3] == [
        ("GET_MEASUREMENT_SETTINGS", "PPG", "SUCCESS"),
        ("GET_MEASUREMENT_SETTINGS", "ACC", "SUCCESS"),
        ("REQUEST_MEASUREMENT_START", "ACC", "SUCCESS"),
    ]
    assert ("REQUEST_MEASUREMENT_START", "PPG", "SUCCESS") in history
    assert not any(kind == "SDK_MODE" for _, kind, _ in history)

    settings, sdk_mode, rates, _, history = out["&rate=135"]
    assert settings["sample_rate"] == 135 and sdk_mode and rates == {135.0}
    assert history[:4] == [
        ("GET_MEASUREMENT_SETTINGS", "PPG", "SUCCESS"),  # 55 Hz only: 135 needs SDK mode
        ("GET_SDK_MODE_SETTINGS", "PPG", "SUCCESS"),
        ("REQUEST_MEASUREMENT_START", "SDK_MODE", "SUCCESS"),
        ("GET_MEASUREMENT_SETTINGS", "ACC", "SUCCESS"),
    ]
    # at disconnect: the streams stop, then SDK mode is left (the device refuses it while streaming)
    assert history[-3:] == [
        ("STOP_MEASUREMENT", "PPG", "SUCCESS"),
        ("STOP_MEASUREMENT", "ACC", "SUCCESS"),
        ("STOP_MEASUREMENT", "SDK_MODE", "SUCCESS"),
    ]
    assert refused.rate == 100 and "55 Hz, or in SDK mode 28, 44, 135 or 176 Hz" in str(refused)
    assert no_sdk.rate == 135 and str(no_sdk).endswith("expected 55 Hz")


def test_the_emulator_refuses_135_hz_and_sdk_mode_changes_while_streaming():
    """The PMD server alone (no radio): the state machine a Verity Sense enforces."""
    from anyppg.firmware_bridge.emulator.polar_pmd import PolarPmdServer

    class _Emulator:  # what PolarPmdServer reads from its BleEmulator
        source = parse_source("sim:duration=10,seed=1,rate=125")
        faults = type("F", (), {"drop": 0.0, "seed": 0})()
        stats = None
        device = None

    class _Connection:
        att_mtu = 232

    async def main():
        server = PolarPmdServer(_Emulator())  # type: ignore[arg-type]
        link = _Connection()
        ppg = PmdMeasurementType.PPG
        steps = [
            PmdCommand.start(ppg, sample_rate=135, resolution=22, channels=4),
            PmdCommand.start(ppg, sample_rate=55, resolution=22, channels=4),
            PmdCommand.enable_sdk_mode(),  # refused: a stream runs
            PmdCommand.stop(ppg),
            PmdCommand.enable_sdk_mode(),
            PmdCommand.enable_sdk_mode(),
            PmdCommand.get_settings(ppg),
            PmdCommand.start(ppg, sample_rate=55),  # not an SDK-mode rate
            PmdCommand.start(ppg, sample_rate=135),
            PmdCommand.stop(ppg),
            PmdCommand.disable_sdk_mode(),
        ]
        responses = []
        for command in steps:
            responses.append(server._handle(link, command))  # type: ignore[arg-type]
            for stream in list(server._streams.values()):
                stream.stop()
        return responses

    r = asyncio.run(main())
    assert [x.error for x in r[:6]] == [
        PmdError.INVALID_SAMPLE_RATE,
        PmdError.SUCCESS,
        PmdError.INVALID_STATE,
        PmdError.SUCCESS,
        PmdError.SUCCESS,
        PmdError.ALREADY_IN_STATE,
    ]
    assert r[6].settings[next(iter(r[6].settings))] == (28, 44, 135, 176)
    assert r[7].error == PmdError.INVALID_SAMPLE_RATE and r[8].ok and r[9].ok and r[10].ok
    assert (
        r[10].op_code is PmdOpCode.STOP_MEASUREMENT and r[10].measurement_type == PmdMeasurementType.SDK_MODE
    )


@pytest.mark.slow  # two interpreters with the bumble stack
def test_anyppg_stream_hrs_against_an_emulator_in_another_process(capsys):
    """`anyppg emulate --profile hrs` in its own process; `anyppg stream hrs:...` through the CLI."""
    import subprocess
    import sys

    from anyppg.cli import main as cli_main

    command = [sys.executable, "-m", "anyppg", "emulate", "--profile", "hrs", "--hci-port", "0", "--json"]
    command += ["--speed", "10", "--source", SOURCE, "--duration", "60", "--stats-every", "0"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "ready" and ready["url"].startswith("hrs:HRS-EMU?")
        code = cli_main(["stream", ready["url"] + "&timeout=10", "--json", "--duration", "3"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    results = [x for x in lines if x["type"] == "result"]
    summary = lines[-1]
    assert len(results) >= 5 and all(55 <= r["heart_rate"] <= 90 and r["rr_intervals"] for r in results)
    rr = np.concatenate([r["rr_intervals"] for r in results])
    assert _is_contiguous_run(np.round(rr, 1), np.round(_expected_rr_ms(parse_source(SOURCE), 400.0), 1))
    assert summary["type"] == "summary" and summary["received"] == summary["delivered"] == len(results)


def test_hrs_reconnects_and_marks_the_silence_as_a_disconnect_gap():
    from anyppg.firmware_bridge.emulator.faults import FaultSpec
    from anyppg.sdk import ReconnectPolicy

    source = parse_source(SOURCE)

    async def main():
        faults = FaultSpec(disconnect_every_s=1.0, seed=1)
        async with emulated_ble(source, profile="hrs", speed=10.0, faults=faults) as emu:
            policy = ReconnectPolicy(max_attempts=5, initial_delay_s=0.05)
            device = anyppg.connect(f"hrs:{emu.name}?timeout=5", adapter=emu.adapter, reconnect=policy)
            async with device:
                results = []
                async for result in device.infer(None):
                    results.append(result)
                    if device.accounting.reconnects >= 1 and len(results) >= 14:
                        break
                return results, device.accounting.snapshot()

    results, acc = asyncio.run(main())
    assert acc.reconnects >= 1 and any(g.reason == "disconnect" for g in acc.gaps)
    assert acc.received == acc.delivered == len(results) and acc.is_balanced()
    ends = [r.t_end for r in results]
    assert ends == sorted(ends)  # host time keeps increasing across the reconnect
    # each connection's RR intervals are still the source's own beat-to-beat series
    expected = _expected_rr_ms(source, 400.0)
    cut = next(i for i, r in enumerate(results) if r.accounting.reconnects >= 1)
    for part in (results[:cut], results[cut:]):
        rr = rr_series_ms(part)
        assert len(rr) == 0 or _is_contiguous_run(rr, expected)
