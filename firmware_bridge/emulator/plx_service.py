"""The ``plx`` BLE profile: a fingertip pulse oximeter (Bluetooth SIG Pulse Oximeter Service, 0x1822).

GATT: PLX Continuous Measurement (0x2A5F, notify), PLX Spot-check Measurement (0x2A5E, indicate: one
indication per subscription, the first continuous value) and PLX Features (0x2A60, read). While a client
is subscribed to the continuous measurement, one notification goes out per second of stream time
(``1 / speed`` seconds of wall time; every 0.05 s when unpaced), encoded with PROTO's
:mod:`~anyppg.firmware_bridge.plx` codec.

Values: the pulse rate is the source's heart rate at that stream time (rounded to 0.1 bpm); SpO2 is a
slow, deterministic 97.0 ± 0.5 % wave (period 20 s; the simulator has no oxygen model); the measurement
status says "measurement ongoing, validated data"; the pulse amplitude index is 2.5 %. A source without
a heart rate sends NaN pulse rates with "measurement unavailable". What was sent is logged in
:attr:`PlxServer.sent` (the last 4096 payloads) so tests can compare both ends byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import struct
from collections import deque
from typing import TYPE_CHECKING

from bumble import gatt
from bumble.device import Connection

from anyppg.firmware_bridge.plx import (
    PLX_CONTINUOUS_MEASUREMENT_UUID,
    PLX_FEATURES_UUID,
    PLX_SERVICE_UUID,
    PLX_SPOT_CHECK_MEASUREMENT_UUID,
    MeasurementStatus,
    PlxContinuousMeasurement,
    PlxSpotCheckMeasurement,
)

if TYPE_CHECKING:
    from anyppg.firmware_bridge.emulator.ble import BleEmulator

__all__ = ["SPO2_BASELINE", "PlxServer"]

logger = logging.getLogger(__name__)

SPO2_BASELINE = 97.0
"""Centre of the emulated SpO2 wave, %."""
_SPO2_SWING = 0.5
_SPO2_PERIOD_S = 20.0
_PAI = 2.5
_UNPACED_PERIOD_S = 0.05
# Supported features u16: measurement status (bit 0), device & sensor status (bit 1), no storage, no
# fast/slow averages, pulse amplitude index (bit 5) -- then the supported status bits of each.
_FEATURES = 0x0001 | 0x0002 | 0x0020
_ONGOING = MeasurementStatus.MEASUREMENT_ONGOING | MeasurementStatus.VALIDATED_DATA


class PlxServer:
    """The Pulse Oximeter Service of one :class:`~.ble.BleEmulator`.

    Attributes:
        sent: the payloads notified so far, oldest first (at most 4096).
    """

    def __init__(self, emulator: BleEmulator) -> None:
        self.emulator = emulator
        self.sent: deque[bytes] = deque(maxlen=4096)
        self._tasks: dict[Connection, asyncio.Task[None]] = {}
        self.continuous: gatt.Characteristic | None = None
        self.spot_check: gatt.Characteristic | None = None

    def service(self) -> gatt.Service:
        """The PLX service (continuous, spot-check, features)."""
        props = gatt.Characteristic.Properties
        self.continuous = gatt.Characteristic(
            PLX_CONTINUOUS_MEASUREMENT_UUID, props.NOTIFY, gatt.Characteristic.READABLE, b""
        )
        self.continuous.on(gatt.Characteristic.EVENT_SUBSCRIPTION, self._on_subscription)
        self.spot_check = gatt.Characteristic(
            PLX_SPOT_CHECK_MEASUREMENT_UUID, props.INDICATE, gatt.Characteristic.READABLE, b""
        )
        self.spot_check.on(gatt.Characteristic.EVENT_SUBSCRIPTION, self._on_spot_check_subscription)
        status_bits = int(_ONGOING | MeasurementStatus.MEASUREMENT_UNAVAILABLE)
        features = gatt.Characteristic(
            PLX_FEATURES_UUID,
            props.READ,
            gatt.Characteristic.READABLE,
            struct.pack("<HH", _FEATURES, status_bits) + (0).to_bytes(3, "little"),
        )
        return gatt.Service(PLX_SERVICE_UUID, [self.continuous, self.spot_check, features])

    def measurement(self, t_s: float) -> PlxContinuousMeasurement:
        """The continuous measurement at stream time ``t_s`` (s)."""
        spo2 = round(SPO2_BASELINE + _SPO2_SWING * math.sin(2 * math.pi * t_s / _SPO2_PERIOD_S), 1)
        hr = self.emulator.source.heart_rate_at(t_s)
        if hr is None:
            return PlxContinuousMeasurement(
                spo2=math.nan,
                pulse_rate=math.nan,
                measurement_status=MeasurementStatus.MEASUREMENT_UNAVAILABLE,
            )
        return PlxContinuousMeasurement(
            spo2=spo2,
            pulse_rate=round(hr, 1),
            measurement_status=_ONGOING,
            device_sensor_status=0,
            pulse_amplitude_index=_PAI,
        )

    def on_disconnection(self, connection: Connection) -> None:
        """Stop notifying a link that went away."""
        task = self._tasks.pop(connection, None)
        if task is not None:
            task.cancel()

    async def stop(self) -> None:
        """Stop every notification task."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _on_subscription(self, connection: Connection, notify: bool, _indicate: bool) -> None:
        self.on_disconnection(connection)
        if notify:
            self._tasks[connection] = asyncio.get_running_loop().create_task(self._notify(connection))

    def _on_spot_check_subscription(self, connection: Connection, _notify: bool, indicate: bool) -> None:
        device = self.emulator.device
        if not indicate or device is None or self.spot_check is None:
            return
        m = self.measurement(self.emulator.pump.stream_time_s)
        spot = PlxSpotCheckMeasurement(
            m.spo2, m.pulse_rate, None, m.measurement_status, m.device_sensor_status, m.pulse_amplitude_index
        )

        async def indicate_once() -> None:
            with contextlib.suppress(Exception):  # the link may be gone by now
                await device.indicate_subscriber(connection, self.spot_check, bytes(spot))

        asyncio.get_running_loop().create_task(indicate_once())

    async def _notify(self, connection: Connection) -> None:
        device = self.emulator.device
        assert device is not None and self.continuous is not None
        speed = self.emulator.speed
        period = _UNPACED_PERIOD_S if speed is None else 1.0 / speed
        t = self.emulator.pump.stream_time_s
        while True:
            await asyncio.sleep(period)
            t += 1.0
            payload = bytes(self.measurement(t))
            await device.notify_subscriber(connection, self.continuous, payload)
            self.sent.append(payload)
