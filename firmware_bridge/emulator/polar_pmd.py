"""The Polar Measurement Data (PMD) side of the ``polar`` BLE profile: a Verity-Sense-like PPG sensor.

GATT: the PMD service with its control point (read features, write requests, indicate responses) and
its data characteristic (notify). Requests and responses are PROTO's :mod:`~anyppg.firmware_bridge.polar`
codecs. Supported streams:

- PPG, compressed frame type 0 (delta frames, byte 9 = 0x80): 4 channels (three LEDs and ambient),
  22-bit resolution, 55 Hz; in SDK mode 28, 44, 135 or 176 Hz. Channel 0 is the source in counts
  turned upside down, as a Verity Sense records light (its counts fall as blood volume rises;
  polar-ble-sdk issue #472), re-centred when it does not fit 22 signed bits (``meta["polar_offset"]``);
  channels 1 and 2 are it ∓/± 1000 counts, the ambient channel is a constant 1000.
- ACC (when the source has it), raw frame type 1: x/y/z in mg, 16 bit, 52 Hz and ±8 g; in SDK mode
  26-416 Hz and ±2-16 g (the range is accepted, the source's mg are sent as they are).

Settings and SDK mode follow Verity Sense firmware 2.x (polar-ble-sdk issues #163, #166, #211, #438):
GET_MEASUREMENT_SETTINGS (0x01) answers the option lists of the current mode (:data:`NORMAL_SETTINGS`,
or :data:`SDK_MODE_SETTINGS` once SDK mode is on), GET_SDK_MODE_SETTINGS (0x04) always the SDK-mode
lists; a start request with a value outside the current lists is refused (INVALID_SAMPLE_RATE, ...).
SDK mode is entered with ``[0x02, 0x09]`` and left with ``[0x03, 0x09]``, both refused with
INVALID_STATE while a stream runs; it ends with the connection. ECG is not offered (NOT_SUPPORTED), as
on the Verity Sense.

As on the real device, a start request is answered on the control point (an indication
``[0xF0, 0x02, type, error, 0]``), errors included -- wrong rate, resolution, channels, an MTU below
:data:`MIN_MTU`, a stream already running -- and frames carry the time of their last sample in
nanoseconds since 2000-01-01. Frames have no CRC: fault injection drops them but never corrupts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

import numpy as np
from bumble import gatt
from bumble.device import Connection

from anyppg.firmware_bridge.emulator.faults import FaultInjector, FaultSpec
from anyppg.firmware_bridge.emulator.sources import Source, StreamClock
from anyppg.firmware_bridge.errors import ProtocolError
from anyppg.firmware_bridge.polar import (
    PMD_CONTROL_POINT_UUID,
    PMD_DATA_UUID,
    PMD_SERVICE_UUID,
    PmdCommand,
    PmdError,
    PmdMeasurementType,
    PmdOpCode,
    PmdResponse,
    PmdSetting,
    PmdStreamEncoder,
    encode_settings,
    unix_to_polar_ns,
)

if TYPE_CHECKING:
    from anyppg.firmware_bridge.emulator.ble import BleEmulator

__all__ = ["MIN_MTU", "NORMAL_SETTINGS", "PPG_RATES_HZ", "SDK_MODE_SETTINGS", "PolarPmdServer"]

logger = logging.getLogger(__name__)

_PPG, _ACC = PmdMeasurementType.PPG, PmdMeasurementType.ACC
_RATE, _RES, _RANGE, _CH = (
    PmdSetting.SAMPLE_RATE,
    PmdSetting.RESOLUTION,
    PmdSetting.RANGE,
    PmdSetting.CHANNELS,
)
Options = dict[PmdSetting, tuple[int, ...]]
NORMAL_SETTINGS: dict[PmdMeasurementType, Options] = {
    _PPG: {_RATE: (55,), _RES: (22,), _CH: (4,)},
    _ACC: {_RATE: (52,), _RES: (16,), _RANGE: (8,), _CH: (3,)},
}
"""Option lists outside SDK mode (what GET_MEASUREMENT_SETTINGS answers), per measurement."""
SDK_MODE_SETTINGS: dict[PmdMeasurementType, Options] = {
    _PPG: {_RATE: (28, 44, 135, 176), _RES: (22,), _CH: (4,)},
    _ACC: {_RATE: (26, 52, 104, 208, 416), _RES: (16,), _RANGE: (2, 4, 8, 16), _CH: (3,)},
}
"""Option lists in SDK mode (GET_SDK_MODE_SETTINGS; GET_MEASUREMENT_SETTINGS once SDK mode is on)."""
PPG_RATES_HZ = tuple(sorted({*NORMAL_SETTINGS[_PPG][_RATE], *SDK_MODE_SETTINGS[_PPG][_RATE]}))
"""Every PPG rate the emulated sensor can stream (Hz), in one mode or the other."""
_SETTING_ERRORS = {
    _RATE: PmdError.INVALID_SAMPLE_RATE,
    _RES: PmdError.INVALID_RESOLUTION,
    _RANGE: PmdError.INVALID_RANGE,
    _CH: PmdError.INVALID_NUMBER_OF_CHANNELS,
}
MIN_MTU = 70
"""Smallest ATT MTU a start request accepts (bytes); Polar devices refuse small MTUs too."""
_PPG_RESOLUTION = 22
_AMBIENT = 1000
_LED_OFFSET = 1000
_BLOCK_S = 0.25  # a block of this many seconds of samples is encoded at once
_FEATURES_RESPONSE = 0x0F


class _Stream:
    """One running PMD measurement: its encoder settings and the paced task."""

    def __init__(
        self, kind: PmdMeasurementType, source: Source, samples: np.ndarray, frame_type: int, compressed: bool
    ):
        self.kind = kind
        self.source = source
        self.samples = samples  # (n, channels) int32, looping
        self.frame_type = frame_type
        self.compressed = compressed
        self.task: asyncio.Task[None] | None = None
        self.sending = False

    def stop(self) -> None:
        """Stop at once, or right after the frame being sent (a counted frame always goes out)."""
        if self.task is not None and not self.sending:
            self.task.cancel()


class PolarPmdServer:
    """The PMD service of one :class:`~.ble.BleEmulator`.

    Attributes:
        epoch_ns: Polar time (ns since 2000-01-01) of sample 0 of every stream (device power-on).
        history: the last 256 decoded requests with the response each got, oldest first.
        injector: drops frames per the emulator's ``drop`` probability, counting in its stats.
    """

    def __init__(self, emulator: BleEmulator) -> None:
        self.emulator = emulator
        faults = emulator.faults
        self.injector = FaultInjector(FaultSpec(drop=faults.drop, seed=faults.seed), emulator.stats)
        self.epoch_ns = unix_to_polar_ns(time.time_ns())
        self._clock_start: float | None = None
        self._streams: dict[tuple[Connection, PmdMeasurementType], _Stream] = {}
        self._sdk_mode: set[Connection] = set()
        self.history: deque[tuple[PmdCommand, PmdResponse]] = deque(maxlen=256)
        self._frame_counter = 0
        self.control_point: gatt.Characteristic | None = None
        self.data: gatt.Characteristic | None = None

    # -- GATT ---------------------------------------------------------------------------------------

    def service(self) -> gatt.Service:
        """The PMD service (control point + data)."""
        props = gatt.Characteristic.Properties
        self.control_point = gatt.Characteristic(
            PMD_CONTROL_POINT_UUID,
            props.READ | props.WRITE | props.INDICATE,
            gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(read=self._read_features, write=self._on_write),
        )
        self.data = gatt.Characteristic(PMD_DATA_UUID, props.NOTIFY, gatt.Characteristic.READABLE, b"")
        return gatt.Service(PMD_SERVICE_UUID, [self.control_point, self.data])

    def _read_features(self, _connection: Connection) -> bytes:
        bits = 1 << PmdMeasurementType.PPG | 1 << PmdMeasurementType.SDK_MODE
        if self.emulator.source.acc is not None:
            bits |= 1 << PmdMeasurementType.ACC
        return bytes((_FEATURES_RESPONSE, bits & 0xFF, bits >> 8))

    def in_sdk_mode(self, connection: Connection) -> bool:
        """Whether SDK mode is on for this connection."""
        return connection in self._sdk_mode

    def options(
        self, connection: Connection, kind: PmdMeasurementType, *, sdk_mode: bool | None = None
    ) -> Options:
        """The option lists of a measurement in the connection's current mode (or the mode asked for)."""
        sdk = self.in_sdk_mode(connection) if sdk_mode is None else sdk_mode
        return (SDK_MODE_SETTINGS if sdk else NORMAL_SETTINGS)[kind]

    def _supported(self, kind: PmdMeasurementType) -> bool:
        return kind is PmdMeasurementType.PPG or (
            kind is PmdMeasurementType.ACC and self.emulator.source.acc is not None
        )

    # -- control point ------------------------------------------------------------------------------

    def _on_write(self, connection: Connection, value: bytes) -> None:
        raw = bytes(value)
        try:
            command = PmdCommand.from_bytes(raw)
        except ProtocolError as exc:
            logger.warning("PMD request %s refused: %s", raw.hex(), exc)
            op = raw[0] if raw else 0
            kind = raw[1] if len(raw) > 1 else 0
            error = PmdError.INVALID_LENGTH if len(raw) < 2 else PmdError.INVALID_PARAMETER
            self._respond(connection, PmdResponse(op, kind, error))
            return
        response = self._handle(connection, command)
        self.history.append((command, response))
        self._respond(connection, response)

    def _handle(self, connection: Connection, command: PmdCommand) -> PmdResponse:
        kind = command.measurement_type
        op = command.op_code
        if kind is PmdMeasurementType.SDK_MODE and op in (
            PmdOpCode.REQUEST_MEASUREMENT_START,
            PmdOpCode.STOP_MEASUREMENT,
        ):
            return self._sdk_mode_request(connection, op)
        if op in (
            PmdOpCode.GET_MEASUREMENT_SETTINGS,
            PmdOpCode.GET_SDK_MODE_SETTINGS,
            PmdOpCode.REQUEST_MEASUREMENT_START,
        ) and not self._supported(kind):
            return PmdResponse(op, kind, PmdError.NOT_SUPPORTED)
        if op in (PmdOpCode.GET_MEASUREMENT_SETTINGS, PmdOpCode.GET_SDK_MODE_SETTINGS):
            sdk = True if op is PmdOpCode.GET_SDK_MODE_SETTINGS else None
            options = self.options(connection, kind, sdk_mode=sdk)
            return PmdResponse(op, kind, PmdError.SUCCESS, parameters=encode_settings(options))
        if op is PmdOpCode.STOP_MEASUREMENT:
            stream = self._streams.pop((connection, kind), None)
            if stream is None:
                return PmdResponse(op, kind, PmdError.INVALID_STATE)
            stream.stop()
            return PmdResponse(op, kind, PmdError.SUCCESS)
        if op is PmdOpCode.REQUEST_MEASUREMENT_START:
            return self._start(connection, command)
        return PmdResponse(op, kind, PmdError.NOT_SUPPORTED)

    def _sdk_mode_request(self, connection: Connection, op: PmdOpCode) -> PmdResponse:
        kind = PmdMeasurementType.SDK_MODE
        if any(key[0] is connection for key in self._streams):
            return PmdResponse(op, kind, PmdError.INVALID_STATE)  # stop the streams first (fw 2.1+)
        want = op is PmdOpCode.REQUEST_MEASUREMENT_START
        if want == self.in_sdk_mode(connection):
            return PmdResponse(op, kind, PmdError.ALREADY_IN_STATE)
        if want:
            self._sdk_mode.add(connection)
        else:
            self._sdk_mode.discard(connection)
        return PmdResponse(op, kind, PmdError.SUCCESS)

    def _start(self, connection: Connection, command: PmdCommand) -> PmdResponse:
        op, kind, settings = command.op_code, command.measurement_type, command.settings
        if (connection, kind) in self._streams:
            return PmdResponse(op, kind, PmdError.ALREADY_IN_STATE)
        if connection.att_mtu < MIN_MTU:
            return PmdResponse(op, kind, PmdError.INVALID_MTU)
        options = self.options(connection, kind)
        for setting, value in settings.items():
            allowed = options.get(setting)
            if allowed is None or int(value) not in allowed:
                return PmdResponse(op, kind, _SETTING_ERRORS.get(setting, PmdError.INVALID_PARAMETER))
        rate = float(settings.get(_RATE, options[_RATE][0]))
        source = self.emulator.source
        if kind is PmdMeasurementType.PPG:
            resampled = source.resampled(rate)
            stream = _Stream(kind, resampled, self.ppg_channels(resampled), 0, True)
        else:
            resampled = source.resampled(rate)
            assert resampled.acc is not None
            stream = _Stream(kind, resampled, np.clip(resampled.acc, -32768, 32767), 1, False)
        self._streams[(connection, kind)] = stream
        stream.task = asyncio.get_running_loop().create_task(self._run(connection, stream))
        return PmdResponse(op, kind, PmdError.SUCCESS)

    def _respond(self, connection: Connection, response: PmdResponse) -> None:
        device = self.emulator.device
        if device is None or self.control_point is None:
            return
        logger.info(
            "PMD %s %s -> %s",
            getattr(response.op_code, "name", response.op_code),
            response.measurement_type,
            response.error,
        )

        async def indicate() -> None:
            with contextlib.suppress(Exception):  # the link may be gone by now
                await device.indicate_subscriber(connection, self.control_point, bytes(response))

        asyncio.get_running_loop().create_task(indicate())

    @staticmethod
    def ppg_channels(source: Source) -> np.ndarray:
        """The 4 PPG channels (3 LEDs + ambient) for a source, within 22 signed bits; the source's
        pulse upside down, as the sensor's light counts carry it."""
        limit = 2 ** (_PPG_RESOLUTION - 1) - 1 - _LED_OFFSET
        ppg = -source.ppg.astype(np.int64)
        offset = 0
        if ppg.max() > limit or ppg.min() < -limit:
            offset = int(np.median(ppg)) - 2**20
            source.meta["polar_offset"] = offset
        green = np.clip(ppg - offset, -limit, limit)
        ambient = np.full_like(green, _AMBIENT)
        return np.column_stack((green, green - _LED_OFFSET, green + _LED_OFFSET, ambient)).astype(np.int32)

    # -- streaming ----------------------------------------------------------------------------------

    def on_disconnection(self, connection: Connection) -> None:
        """Stop the streams of a link that went away (a reconnect must start them again, as on Polar)."""
        for key in [k for k in self._streams if k[0] is connection]:
            stream = self._streams.pop(key)
            if stream.task is not None:
                stream.task.cancel()
        self._sdk_mode.discard(connection)

    async def _run(self, connection: Connection, stream: _Stream) -> None:
        device = self.emulator.device
        assert device is not None and self.data is not None
        loop = asyncio.get_running_loop()
        if self._clock_start is None:
            self._clock_start = loop.time()
        rate = stream.source.rate_hz
        speed = self.emulator.speed
        clock = StreamClock(rate, speed, self._clock_start)
        encoder = PmdStreamEncoder(
            stream.kind, stream.frame_type, stream.compressed, rate, mtu=connection.att_mtu
        )
        position = clock.due(loop.time()) or 0
        block = max(1, round(rate * _BLOCK_S))
        n_loop = stream.samples.shape[0]
        period_ns = 1e9 / rate
        await asyncio.sleep(0)  # let the start response indication go out first
        while True:
            if speed is not None:
                delay = clock.time_of(position + block) - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            samples = stream.samples[np.arange(position, position + block) % n_loop]
            frames = encoder.encode(samples, round(self.epoch_ns + position * period_ns))
            for frame in frames:
                n = _pmd_samples(frame, samples.shape[0], len(frames))
                data = self.injector.apply(frame, n, self._frame_counter & 0xFFFF)
                self._frame_counter += 1
                if data is not None:
                    stream.sending = True
                    try:
                        await device.notify_subscriber(connection, self.data, data)
                    finally:
                        stream.sending = False
                if self._streams.get((connection, stream.kind)) is not stream:
                    return  # stopped while a frame was being sent
            position += block
            if speed is None:
                await asyncio.sleep(0)


def _pmd_samples(frame: bytes, block_samples: int, n_frames: int) -> int:
    """Samples in one encoded PMD frame (decoded; only for the counters)."""
    if n_frames == 1:
        return block_samples
    from anyppg.firmware_bridge.polar import PmdDataFrame

    return PmdDataFrame.from_bytes(frame).n_samples
