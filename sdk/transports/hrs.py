"""``hrs:<name-or-address>``: any standard Heart Rate strap or watch (Bluetooth SIG Heart Rate Service).

Set-up: scan, connect, read the Body Sensor Location when the device has it, subscribe to the Heart Rate
Measurement characteristic (0x2A37). Nothing has to be started: a strap notifies about once a second
while it is subscribed. Each notification becomes one :class:`~anyppg.sdk.readings.Reading` (heart
rate, RR intervals in ms, energy expended in kJ, sensor contact), which
:meth:`anyppg.sdk.Device.infer` yields as one :class:`~anyppg.sdk.Result`; see
:mod:`anyppg.sdk.readings` for timing, accounting and what "quality" means here.

Quality: 1.0 with skin contact, 0.0 without (the strap's HR is then a guess); straps that do not detect
contact get 1.0 while they report a non-zero heart rate.

Options: ``timeout=S`` scan timeout (default 10 s), ``transport=<bumble spec>`` (see
:mod:`anyppg.sdk.transports.bluetooth`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from anyppg.firmware_bridge.hrs import (
    BODY_SENSOR_LOCATION_UUID,
    HEART_RATE_MEASUREMENT_UUID,
    BodySensorLocation,
    HeartRateMeasurement,
)
from anyppg.sdk.errors import StreamFormatError
from anyppg.sdk.readings import Reading
from anyppg.sdk.transports.reading_link import ReadingLink
from anyppg.sdk.urls import DeviceURL

__all__ = ["HrsTransport", "reading_from_hrs"]

log = logging.getLogger(__name__)

HRS_PERIOD_S = 1.0
"""Nominal notification period of a heart-rate strap, s (the gap detector's prior)."""


def reading_from_hrs(measurement: HeartRateMeasurement, t: float, payload: bytes = b"") -> Reading:
    """The :class:`Reading` of one decoded Heart Rate Measurement received at host time ``t`` (s)."""
    contact = measurement.sensor_contact
    hr = float(measurement.heart_rate) if measurement.heart_rate > 0 else None
    quality = float(contact) if contact is not None else (1.0 if hr is not None else 0.0)
    return Reading(
        t=t,
        heart_rate=hr,
        quality=quality,
        period_s=HRS_PERIOD_S,
        rr_intervals=measurement.rr_intervals_ms,
        energy_expended=measurement.energy_expended,
        sensor_contact=contact,
        payload=payload,
        arrival=time.perf_counter(),
    )


class HrsTransport(ReadingLink):
    """Heart Rate Measurement notifications of a standard strap, as readings.

    Attributes:
        location: the Body Sensor Location the device reports (None when it has none).
    """

    profile_name = "Heart Rate (HRS)"
    required_characteristics = (HEART_RATE_MEASUREMENT_UUID,)

    def __init__(self, url: DeviceURL, adapter: Any | None = None, **kwargs: Any) -> None:
        super().__init__(url, adapter=adapter, **kwargs)
        self.location: BodySensorLocation | None = None

    async def start_streaming(self, client: Any) -> None:
        """Read the sensor location (when present) and subscribe to the measurements.

        Raises:
            StreamFormatError: the device has no Heart Rate Measurement characteristic (lists its services).
        """
        if client.services.get_characteristic(HEART_RATE_MEASUREMENT_UUID) is None:
            uuids = [s.uuid for s in client.services]
            raise StreamFormatError(
                self.identifier, f"no Heart Rate Measurement characteristic (0x2A37); services: {uuids}"
            )
        if client.services.get_characteristic(BODY_SENSOR_LOCATION_UUID) is not None:
            raw = bytes(await client.read_gatt_char(BODY_SENSOR_LOCATION_UUID))
            try:
                self.location = BodySensorLocation(raw[0]) if raw else None
            except ValueError:
                self.location = BodySensorLocation.OTHER
            log.info("%s: heart-rate sensor on the %s", self.identifier, getattr(self.location, "name", "?"))
        await client.start_notify(HEART_RATE_MEASUREMENT_UUID, self._on_notification)

    async def stop_streaming(self, client: Any) -> None:
        await client.stop_notify(HEART_RATE_MEASUREMENT_UUID)

    def _on_notification(self, _sender: Any, data: bytearray) -> None:
        self.deliver(bytes(data), _decode, "heart-rate measurement")


def _decode(payload: bytes, t: float) -> Reading:
    return reading_from_hrs(HeartRateMeasurement.from_bytes(payload), t, payload)
