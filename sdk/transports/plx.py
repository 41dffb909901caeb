"""``plx:<name-or-address>``: any standard pulse oximeter (Bluetooth SIG Pulse Oximeter Service 0x1822).

Set-up: scan, connect, subscribe to PLX Continuous Measurement (0x2A5F, notify) or, on a spot-check-only
oximeter, to PLX Spot-check Measurement (0x2A5E, indicate). Each measurement becomes one
:class:`~anyppg.sdk.readings.Reading` (SpO2 in %, pulse rate in bpm), which
:meth:`anyppg.sdk.Device.infer` yields as one :class:`~anyppg.sdk.Result` with ``spo2`` and
``heart_rate`` (= the pulse rate); see :mod:`anyppg.sdk.readings` for timing and accounting (spot-check
timestamps are not used: the device clock is often unset).

Quality, from the device's own status fields (:func:`plx_quality`): 0.0 when a value is missing (NaN /
NRes / INF) or the device flags it invalid, unavailable or a malfunction; 0.3 when it reports a signal
problem (poor, inadequate, erratic or non-pulsatile signal, low perfusion, questionable pulse or
measurement); 0.7 for early estimates; else 1.0.

Options: ``timeout=S`` scan timeout (default 10 s), ``transport=<bumble spec>``.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from anyppg.firmware_bridge.plx import (
    PLX_CONTINUOUS_MEASUREMENT_UUID,
    PLX_SPOT_CHECK_MEASUREMENT_UUID,
    DeviceSensorStatus,
    MeasurementStatus,
    PlxContinuousMeasurement,
    PlxSpotCheckMeasurement,
)
from anyppg.sdk.errors import StreamFormatError
from anyppg.sdk.readings import Reading
from anyppg.sdk.transports.reading_link import ReadingLink
from anyppg.sdk.urls import DeviceURL

__all__ = ["PlxTransport", "plx_quality", "reading_from_plx"]

log = logging.getLogger(__name__)

PLX_PERIOD_S = 1.0
"""Nominal notification period of a continuous oximeter, s (the gap detector's prior)."""

_INVALID_MS = (
    MeasurementStatus.MEASUREMENT_UNAVAILABLE
    | MeasurementStatus.INVALID_MEASUREMENT_DETECTED
    | MeasurementStatus.CALIBRATION_ONGOING
)
_INVALID_DSS = DeviceSensorStatus.EQUIPMENT_MALFUNCTION_DETECTED
_POOR_MS = MeasurementStatus.QUESTIONABLE_MEASUREMENT_DETECTED
_POOR_DSS = (
    DeviceSensorStatus.SIGNAL_PROCESSING_IRREGULARITY_DETECTED
    | DeviceSensorStatus.INADEQUATE_SIGNAL_DETECTED
    | DeviceSensorStatus.POOR_SIGNAL_DETECTED
    | DeviceSensorStatus.LOW_PERFUSION_DETECTED
    | DeviceSensorStatus.ERRATIC_SIGNAL_DETECTED
    | DeviceSensorStatus.NONPULSATILE_SIGNAL_DETECTED
    | DeviceSensorStatus.QUESTIONABLE_PULSE_DETECTED
)

Measurement = PlxContinuousMeasurement | PlxSpotCheckMeasurement


def plx_quality(measurement: Measurement) -> float:
    """0..1 from a PLX measurement's values and status fields (see the module docstring)."""
    ms = int(measurement.measurement_status or 0)
    dss = int(measurement.device_sensor_status or 0)
    if not (math.isfinite(measurement.spo2) and math.isfinite(measurement.pulse_rate)):
        return 0.0
    if ms & _INVALID_MS or dss & _INVALID_DSS:
        return 0.0
    if ms & _POOR_MS or dss & _POOR_DSS:
        return 0.3
    if ms & MeasurementStatus.EARLY_ESTIMATED_DATA:
        return 0.7
    return 1.0


def reading_from_plx(measurement: Measurement, t: float, payload: bytes = b"") -> Reading:
    """The :class:`Reading` of one decoded PLX measurement received at host time ``t`` (s)."""
    return Reading(
        t=t,
        heart_rate=measurement.pulse_rate,
        quality=plx_quality(measurement),
        period_s=PLX_PERIOD_S,
        spo2=measurement.spo2,
        payload=payload,
        arrival=time.perf_counter(),
    )


class PlxTransport(ReadingLink):
    """PLX measurements (continuous, or spot-check on devices that have only that), as readings.

    Attributes:
        characteristic: the UUID subscribed to (continuous or spot-check), once connected.
    """

    profile_name = "Pulse Oximeter (PLX)"  # continuous or spot-check: checked in start_streaming

    def __init__(self, url: DeviceURL, adapter: Any | None = None, **kwargs: Any) -> None:
        super().__init__(url, adapter=adapter, **kwargs)
        self.characteristic: str | None = None

    async def start_streaming(self, client: Any) -> None:
        """Subscribe to continuous measurements (or spot-checks when there are none).

        Raises:
            StreamFormatError: the device has neither PLX measurement characteristic (lists its services).
        """
        for uuid in (PLX_CONTINUOUS_MEASUREMENT_UUID, PLX_SPOT_CHECK_MEASUREMENT_UUID):
            if client.services.get_characteristic(uuid) is not None:
                self.characteristic = uuid
                break
        else:
            uuids = [s.uuid for s in client.services]
            raise StreamFormatError(
                self.identifier, f"no PLX measurement characteristic (0x2A5F / 0x2A5E); services: {uuids}"
            )
        await client.start_notify(self.characteristic, self._on_notification)

    async def stop_streaming(self, client: Any) -> None:
        if self.characteristic is not None:
            await client.stop_notify(self.characteristic)

    def _on_notification(self, _sender: Any, data: bytearray) -> None:
        codec = (
            PlxContinuousMeasurement
            if self.characteristic == PLX_CONTINUOUS_MEASUREMENT_UUID
            else PlxSpotCheckMeasurement
        )
        self.deliver(
            bytes(data),
            lambda payload, t: reading_from_plx(codec.from_bytes(payload), t, payload),
            "PLX measurement",
        )
