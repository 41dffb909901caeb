"""``polar:<name-or-address>``: Polar Verity Sense / OH1 PPG (and accelerometer) over the PMD service.

Set-up, as Polar's own SDK does it: connect (the MTU must be raised, Polar needs ~232 bytes), subscribe
to the PMD control point (responses arrive as indications) and to the data characteristic, ask the
device which PPG settings it offers (GET_MEASUREMENT_SETTINGS), and pick from them: the requested
``rate=`` (default 55 Hz), the finest resolution, 4 channels. A rate the device offers only in SDK mode
(Verity Sense: 28, 44, 135, 176 Hz, read with GET_SDK_MODE_SETTINGS) turns SDK mode on first
(``[0x02, 0x09]``; off again, ``[0x03, 0x09]``, at disconnect); a rate offered in neither mode raises
:class:`~anyppg.errors.UnsupportedRateError` listing what is. ACC is started likewise when offered (the
rate nearest 52 Hz, ±8 g). A refused request raises with Polar's error code. The stream is not
restarted by the device after a reconnect; this transport negotiates and requests it again on every
connect. ECG (Polar H10) is not streamed here; an H10's heart rate and RR intervals stream with
``hrs:`` (:mod:`anyppg.sdk.transports.hrs`).

Decoding: PPG is the ambient channel (channel 3) minus LED channel 0. The Verity Sense's counts are
light received, which falls as blood fills the tissue: its pulse is upside down against the clinical
convention (polar-ble-sdk issue #472: the systolic phase matches the literature only inverted; Polar:
a matter of hardware design and polarity convention), so the transport turns it upright and every
consumer (recorder, pipeline, model) sees the pulse as a finger oximeter draws it
(:mod:`anyppg.sdk.polarity`). A frame's timestamp is the time
of its **last** sample, in ns since 2000-01-01; sample times step back from it at the nominal rate, and
a frame that starts within one sample period of where the previous one ended is snapped to it (the
sensor clock drifts). Accelerometer samples (mg) are converted to g and interpolated onto the PPG
sample times. Frames have no sequence numbers: losses are found from the timestamps.

Options: ``rate=HZ`` (a rate the device lists), ``sdk=auto|on|off`` (default ``auto``: only when the rate
needs it; ``on``: always, at 135 Hz unless ``rate=`` says otherwise), ``acc=0`` to not request the accelerometer,
``timeout=S``, ``transport=``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from anyppg.errors import AnyPPGError, DeviceError, UnsupportedRateError
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
from anyppg.sdk.errors import DeviceURLError, StreamFormatError
from anyppg.sdk.samples import SampleBlock, acc_at
from anyppg.sdk.transports.bluetooth import BleakLink
from anyppg.sdk.urls import DeviceURL

__all__ = ["PolarTransport"]

log = logging.getLogger(__name__)

_ACC_RATE_HZ = 52.0  # preferred; the nearest offered rate is used
_DEFAULT_PPG_HZ = 55  # Verity Sense's rate outside SDK mode
_PREFERRED_PPG_HZ = (55, 135)  # without rate=: the first of these the device offers (else its first)
_ACC_HISTORY_S = 5.0
_RESPONSE_TIMEOUT_S = 5.0
_SDK_CHOICES = {"auto": "auto", "1": "on", "on": "on", "0": "off", "off": "off"}

Options = dict[PmdSetting, tuple[int, ...]]


def _rates_text(normal: tuple[int, ...], sdk: tuple[int, ...], sdk_mode: str) -> str:
    """``"55 Hz, or in SDK mode 28, 44, 135 or 176 Hz"`` for an error message."""

    def hz(rates: tuple[int, ...]) -> str:
        return ", ".join(str(r) for r in rates[:-1]) + (" or " if len(rates) > 1 else "") + f"{rates[-1]} Hz"

    parts = [hz(normal)] if normal and sdk_mode != "on" else []
    if sdk:
        parts.append(f"in SDK mode {hz(sdk)}")
    elif sdk_mode != "off":
        parts.append("no SDK mode on this device")
    return ", or ".join(parts) or "none offered"


class PolarTransport(BleakLink):
    """PPG (+ acc) from a Polar sensor's PMD stream."""

    profile_name = "Polar PMD"
    required_characteristics = (PMD_CONTROL_POINT_UUID, PMD_DATA_UUID)

    def __init__(self, url: DeviceURL, adapter: Any | None = None, **kwargs: Any) -> None:
        super().__init__(url, adapter=adapter, **kwargs)
        rate = url.option_float("rate", 0.0)
        if rate and (rate != int(rate) or rate < 1):
            raise DeviceURLError(
                str(url), f"option rate={url.options['rate']!r} must be a whole number of Hz"
            )
        self.requested_rate: int | None = int(rate) if rate else None
        sdk = url.options.get("sdk", "auto").lower()
        if sdk not in _SDK_CHOICES:
            raise DeviceURLError(str(url), f"option sdk={sdk!r} must be one of {', '.join(_SDK_CHOICES)}")
        self.sdk_mode: str = _SDK_CHOICES[sdk]
        self.ppg_rate = float(self.requested_rate or _DEFAULT_PPG_HZ)
        self.acc_rate = _ACC_RATE_HZ
        self.want_acc = url.option_int("acc", 1) != 0
        self.has_acc = False
        self.in_sdk_mode = False
        self.settings: dict[str, int] = {}
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

    async def _options(self, client: Any, command: PmdCommand) -> Options | None:
        """The option lists a settings query returns; None when the device refuses the query."""
        response = await self._request(client, command)
        if not response.ok:
            return None
        return {setting: tuple(int(v) for v in values) for setting, values in response.settings.items()}

    async def _negotiate_ppg(self, client: Any) -> dict[str, int]:
        """Pick PPG settings the device offers, entering SDK mode when the rate needs it.

        Raises:
            UnsupportedRateError: the requested rate is offered in neither mode (names those offered).
            StreamFormatError: the device offers no 4-channel PPG (LEDs + ambient).
            DeviceError: the device refused the settings query or SDK mode.
        """
        ppg = PmdMeasurementType.PPG
        normal = await self._options(client, PmdCommand.get_settings(ppg))
        if normal is None:
            raise DeviceError(f"{self.identifier}: the device refused to list its PPG settings")
        normal_rates = normal.get(PmdSetting.SAMPLE_RATE, ())
        wanted = self.requested_rate
        options = normal
        need_sdk = self.sdk_mode == "on" or (
            self.sdk_mode == "auto" and wanted is not None and wanted not in normal_rates
        )
        if need_sdk:
            sdk = await self._options(client, PmdCommand.get_sdk_mode_settings(ppg))
            sdk_rates = () if sdk is None else sdk.get(PmdSetting.SAMPLE_RATE, ())
            if sdk is None and wanted is None:
                raise DeviceError(f"{self.identifier}: sdk=on was asked for, but the device has no SDK mode")
            if sdk is None or (wanted is not None and wanted not in sdk_rates):
                raise UnsupportedRateError(
                    float(wanted or 0),
                    _rates_text(normal_rates, sdk_rates, self.sdk_mode),
                    what=f"PPG of {self.identifier}",
                )
            response = await self._request(client, PmdCommand.enable_sdk_mode())
            if not response.ok and response.error != PmdError.ALREADY_IN_STATE:
                raise DeviceError(f"{self.identifier}: SDK mode refused: {response.error!r}")
            self.in_sdk_mode = True
            log.info("%s: SDK mode on (PPG rates %s Hz)", self.identifier, list(sdk_rates))
            options = sdk
        elif wanted is not None and wanted not in normal_rates:
            raise UnsupportedRateError(
                float(wanted), _rates_text(normal_rates, (), "off"), what=f"PPG of {self.identifier}"
            )
        rates = options.get(PmdSetting.SAMPLE_RATE, ())
        if not rates:
            raise StreamFormatError(self.identifier, "the device lists no PPG sample rate")
        rate = wanted or next((r for r in _PREFERRED_PPG_HZ if r in rates), rates[0])
        if 4 not in options.get(PmdSetting.CHANNELS, (4,)):
            raise StreamFormatError(
                self.identifier,
                f"PPG with 4 channels (3 LEDs + ambient) expected; the device offers "
                f"{list(options[PmdSetting.CHANNELS])} channels",
            )
        resolution = max(options.get(PmdSetting.RESOLUTION, (22,)))
        return {"sample_rate": rate, "resolution": resolution, "channels": 4}

    async def start_streaming(self, client: Any) -> None:
        """Subscribe to the PMD control point and data; negotiate and start PPG (and ACC when offered).

        Settings are read from the device first (GET_MEASUREMENT_SETTINGS): the requested rate, or
        55 Hz when offered, with the finest resolution and 4 channels. A rate offered only in SDK mode
        (Verity Sense 28/44/135/176 Hz) switches SDK mode on first; :meth:`stop_streaming` switches it
        off again.

        Raises:
            StreamFormatError: the device has no PMD service, or no 4-channel PPG.
            UnsupportedRateError: ``rate=`` is offered in neither mode (the message lists what is).
            DeviceError: the device refused a request (names Polar's error code).
        """
        if client.services.get_characteristic(PMD_DATA_UUID) is None:
            raise StreamFormatError(self.identifier, "no Polar PMD service (is it a Verity Sense / OH1?)")
        self._responses = asyncio.Queue()
        self._acc_t.clear()
        self._acc_v.clear()
        self._last_end = None
        self.in_sdk_mode = False
        await client.start_notify(PMD_CONTROL_POINT_UUID, self._on_control)
        await client.start_notify(PMD_DATA_UUID, self._on_data)
        try:
            ppg_settings = await self._negotiate_ppg(client)
        except TimeoutError as exc:
            raise DeviceError(f"{self.identifier}: no answer to a PMD settings request") from exc
        self.ppg_rate = float(ppg_settings["sample_rate"])
        self.settings = ppg_settings
        # ACC first: every PPG block then has acceleration on its clock, from the first one on.
        self.has_acc = False
        if self.want_acc:
            await self._start_acc(client)
        ppg = PmdCommand.start(PmdMeasurementType.PPG, **ppg_settings)
        try:
            (await self._request(client, ppg)).raise_for_error()
        except (AnyPPGError, TimeoutError) as exc:
            raise DeviceError(f"{self.identifier}: PPG stream refused: {exc}") from exc
        log.info("%s: PPG %s%s", self.identifier, ppg_settings, " (SDK mode)" if self.in_sdk_mode else "")

    async def _start_acc(self, client: Any) -> None:
        acc = PmdMeasurementType.ACC
        options = await self._options(client, PmdCommand.get_settings(acc))
        if options is None or not options.get(PmdSetting.SAMPLE_RATE):
            log.info("%s: no accelerometer stream offered", self.identifier)
            return
        rates = options[PmdSetting.SAMPLE_RATE]
        self.acc_rate = float(min(rates, key=lambda r: abs(r - _ACC_RATE_HZ)))
        chosen: dict[str, int] = {"sample_rate": int(self.acc_rate)}
        for name, setting, prefer in (
            ("resolution", PmdSetting.RESOLUTION, 16),
            ("range", PmdSetting.RANGE, 8),
            ("channels", PmdSetting.CHANNELS, 3),
        ):
            offered = options.get(setting)
            if offered:
                chosen[name] = prefer if prefer in offered else max(offered)
        response = await self._request(client, PmdCommand.start(acc, **chosen))
        self.has_acc = response.ok
        if not response.ok:
            log.info("%s: accelerometer stream refused (%s)", self.identifier, response.error)

    async def stop_streaming(self, client: Any) -> None:
        for kind in (PmdMeasurementType.PPG, *((PmdMeasurementType.ACC,) if self.has_acc else ())):
            await client.write_gatt_char(PMD_CONTROL_POINT_UUID, bytes(PmdCommand.stop(kind)), response=True)
        if self.in_sdk_mode:  # leave the sensor as we found it
            command = PmdCommand.disable_sdk_mode()
            await client.write_gatt_char(PMD_CONTROL_POINT_UUID, bytes(command), response=True)
            self.in_sdk_mode = False
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
        t = frame.sample_times_ns(sample_rate_hz=self.acc_rate) / 1e9
        self._acc_t.append(t)
        self._acc_v.append(frame.samples[:, :3].astype(np.float64) / 1000.0)  # mg -> g
        while self._acc_t and self._acc_t[-1][-1] - self._acc_t[0][-1] > _ACC_HISTORY_S:
            self._acc_t.popleft()
            self._acc_v.popleft()

    def _ppg_block(self, frame: PmdDataFrame) -> SampleBlock:
        s = frame.samples.astype(np.float64)
        ppg = s[:, 3] - s[:, 0]  # -(LED 0 - ambient): the counts fall as blood volume rises
        n = len(ppg)
        t0 = frame.timestamp_ns / 1e9 - (n - 1) / self.ppg_rate
        if self._last_end is not None and abs(t0 - self._last_end) < 1.0 / self.ppg_rate:
            t0 = self._last_end  # clock jitter, not a gap
        self._last_end = t0 + n / self.ppg_rate
        acc = None
        if self.has_acc:
            times = t0 + np.arange(n) / self.ppg_rate
            if self._acc_t:
                acc = acc_at(times, np.concatenate(self._acc_t), np.concatenate(self._acc_v))
            else:
                acc = np.tile([0.0, 0.0, 1.0], (n, 1))  # at rest until the first ACC frame arrives
        return SampleBlock(t0, self.ppg_rate, ppg, acc, arrival=time.perf_counter())

    async def stream(self) -> AsyncIterator[SampleBlock]:
        while True:
            yield await self.next_item()
