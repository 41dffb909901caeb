"""``polar:<name-or-address>``: Polar Verity Sense / OH1 PPG (and accelerometer) over the PMD service.

Set-up, as Polar's own SDK does it: connect (the MTU must be raised, Polar needs ~232 bytes), subscribe
to the PMD control point (responses arrive as indications) and to the data characteristic, then request
PPG (``sample_rate`` 55 Hz, or 135 Hz with ``?rate=135`` in SDK mode; 22-bit, 4 channels) and, when the
device offers it, ACC (52 Hz). A refused request raises with Polar's error code. The stream is not
restarted by the device after a reconnect; this transport requests it again on every connect.

Decoding: PPG is LED channel 0 minus the ambient channel (channel 3). A frame's timestamp is the time
of its **last** sample, in ns since 2000-01-01; sample times step back from it at the nominal rate, and
a frame that starts within one sample period of where the previous one ended is snapped to it (the
sensor clock drifts). Accelerometer samples (mg) are converted to g and interpolated onto the PPG
sample times. Frames have no sequence numbers: losses are found from the timestamps.

Options: ``rate=55|135``, ``acc=0`` to not request the accelerometer, ``timeout=S``, ``transport=``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from anyppg.errors import AnyPPGError, DeviceError
from anyppg.firmware_bridge.polar import (
    PMD_CONTROL_POINT_UUID,
    PMD_DATA_UUID,
    PmdCommand,
    PmdDataFrame,
    PmdMeasurementType,
    PmdResponse,
)
from anyppg.sdk.errors import StreamFormatError
from anyppg.sdk.samples import SampleBlock
from anyppg.sdk.transports.bluetooth import BleakLink
from anyppg.sdk.urls import DeviceURL

__all__ = ["PolarTransport"]

log = logging.getLogger(__name__)

_ACC_RATE_HZ = 52.0
_ACC_HISTORY_S = 5.0
_RESPONSE_TIMEOUT_S = 5.0


class PolarTransport(BleakLink):
    """PPG (+ acc) from a Polar sensor's PMD stream."""

    profile_name = "Polar PMD"
    required_characteristics = (PMD_CONTROL_POINT_UUID, PMD_DATA_UUID)

    def __init__(self, url: DeviceURL, adapter: Any | None = None, **kwargs: Any) -> None:
        super().__init__(url, adapter=adapter, **kwargs)
        self.ppg_rate = url.option_float("rate", 55.0)
        self.want_acc = url.option_int("acc", 1) != 0
        self.has_acc = False
        self._responses: asyncio.Queue[PmdResponse] = asyncio.Queue()
        self._acc_t: deque[np.ndarray] = deque()
        self._acc_v: deque[np.ndarray] = deque()
        self._last_end: float | None = None
        self._bad_frames = 0

    @property
    def corrupt_frames(self) -> int:
        return self._bad_frames

    async def _request(self, client: Any, command: PmdCommand) -> PmdResponse:
        await client.write_gatt_char(PMD_CONTROL_POINT_UUID, bytes(command), response=True)
        while True:
            response = await asyncio.wait_for(self._responses.get(), _RESPONSE_TIMEOUT_S)
            if (
                int(response.op_code) == int(command.op_code)
                and response.measurement_type == command.measurement_type
            ):
                return response

    async def start_streaming(self, client: Any) -> None:
        """Subscribe to the PMD control point and data; start PPG (and ACC when offered).

        Raises:
            StreamFormatError: the device has no PMD service.
            DeviceError: the device refused the PPG request (names Polar's error code).
        """
        if client.services.get_characteristic(PMD_DATA_UUID) is None:
            raise StreamFormatError(
                self.identifier, "no Polar PMD service (is it a Verity Sense / OH1 / H10?)"
            )
        self._responses = asyncio.Queue()
        self._acc_t.clear()
        self._acc_v.clear()
        self._last_end = None
        await client.start_notify(PMD_CONTROL_POINT_UUID, self._on_control)
        await client.start_notify(PMD_DATA_UUID, self._on_data)
        # ACC first: every PPG block then has acceleration on its clock, from the first one on.
        self.has_acc = False
        if self.want_acc:
            acc = PmdCommand.start(
                PmdMeasurementType.ACC, sample_rate=int(_ACC_RATE_HZ), resolution=16, range=8
            )
            response = await self._request(client, acc)
            self.has_acc = response.ok
            if not response.ok:
                log.info("%s: no accelerometer stream (%s)", self.identifier, response.error)
        ppg = PmdCommand.start(
            PmdMeasurementType.PPG, sample_rate=int(self.ppg_rate), resolution=22, channels=4
        )
        try:
            (await self._request(client, ppg)).raise_for_error()
        except (AnyPPGError, TimeoutError) as exc:
            raise DeviceError(f"{self.identifier}: PPG stream refused: {exc}") from exc

    async def stop_streaming(self, client: Any) -> None:
        for kind in (PmdMeasurementType.PPG, *((PmdMeasurementType.ACC,) if self.has_acc else ())):
            await client.write_gatt_char(PMD_CONTROL_POINT_UUID, bytes(PmdCommand.stop(kind)), response=True)
        await client.stop_notify(PMD_DATA_UUID)
        await client.stop_notify(PMD_CONTROL_POINT_UUID)

    def _on_control(self, _sender: Any, data: bytearray) -> None:
        try:
            self._responses.put_nowait(PmdResponse.from_bytes(bytes(data)))
        except AnyPPGError as exc:
            log.warning("%s: undecodable PMD response %s: %s", self.identifier, bytes(data).hex(), exc)

    def _on_data(self, _sender: Any, data: bytearray) -> None:
        try:
            frame = PmdDataFrame.from_bytes(bytes(data))
        except AnyPPGError as exc:
            self._bad_frames += 1
            log.debug("%s: bad PMD frame: %s", self.identifier, exc)
            return
        if frame.measurement_type is PmdMeasurementType.ACC:
            self._add_acc(frame)
        elif frame.measurement_type is PmdMeasurementType.PPG:
            self.inbox.put_nowait(self._ppg_block(frame))

    def _add_acc(self, frame: PmdDataFrame) -> None:
        t = frame.sample_times_ns(sample_rate_hz=_ACC_RATE_HZ) / 1e9
        self._acc_t.append(t)
        self._acc_v.append(frame.samples[:, :3].astype(np.float64) / 1000.0)  # mg -> g
        while self._acc_t and self._acc_t[-1][-1] - self._acc_t[0][-1] > _ACC_HISTORY_S:
            self._acc_t.popleft()
            self._acc_v.popleft()

    def _ppg_block(self, frame: PmdDataFrame) -> SampleBlock:
        s = frame.samples.astype(np.float64)
        ppg = s[:, 0] - s[:, 3]  # LED 0 minus ambient light
        n = len(ppg)
        t0 = frame.timestamp_ns / 1e9 - (n - 1) / self.ppg_rate
        if self._last_end is not None and abs(t0 - self._last_end) < 1.0 / self.ppg_rate:
            t0 = self._last_end  # clock jitter, not a gap
        self._last_end = t0 + n / self.ppg_rate
        acc = None
        if self.has_acc:
            times = t0 + np.arange(n) / self.ppg_rate
            if self._acc_t:
                at = np.concatenate(self._acc_t)
                av = np.concatenate(self._acc_v)
                acc = np.column_stack([np.interp(times, at, av[:, k]) for k in range(3)])
            else:
                acc = np.tile([0.0, 0.0, 1.0], (n, 1))  # at rest until the first ACC frame arrives
        return SampleBlock(t0, self.ppg_rate, ppg, acc, arrival=time.perf_counter())

    async def stream(self) -> AsyncIterator[SampleBlock]:
        while True:
            yield await self.next_item()
