"""Incremental deframer: turns a byte stream (serial) or notifications (BLE) back into frames.

It never raises on bad bytes. Garbage between frames, corrupt CRCs, impossible lengths and headers,
unknown frame types and undecodable bodies are counted in :class:`DeframerStats` and skipped; the
deframer then finds the next sync bytes and carries on (it resynchronises inside a corrupt frame too,
so a good frame that follows a truncated one is not lost).

A CRC-16 matches by chance once in 65,536 false syncs, so the CRC alone cannot tell a false sync from
a frame. A candidate whose CRC matches is therefore accepted only when no intact frame (sync, sane
header, good CRC) starts inside it; when one does, the candidate is a false sync that would swallow a
real frame: it is rejected and counted (``false_syncs``) and the scan resumes one byte later, where it
finds the real frame. Which of two overlapping intact frames is real is told by what follows them (the
next frame's sync), see ``docs/protocol.md`` section 4 for the exact guarantee. Sequence numbers are tracked across frames: a jump forward is a
gap (``frames_lost`` counts the missing frames, with u16 wrap-around), the same frame twice is a
duplicate (dropped), a jump backward is a device restart.

Example::

    >>> import numpy as np
    >>> from anyppg.firmware_bridge.protocol import Channel, FrameEncoder, SampleFormat
    >>> enc = FrameEncoder(125.0, (Channel.PPG_GREEN,), SampleFormat.INT16, max_samples=25)
    >>> stream = b"noise" + b"".join(enc.encode(np.arange(100), timestamp_us=0))
    >>> d = Deframer()
    >>> frames = d.feed(stream[:70]) + d.feed(stream[70:])
    >>> [f.seq for f in frames], d.stats.garbage_bytes
    ([0, 1, 2, 3], 5)
"""

from __future__ import annotations

import logging
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

from anyppg.errors import AnyPPGError
from anyppg.firmware_bridge.gatt import ControlCommand, DeviceInfo
from anyppg.firmware_bridge.protocol import (
    DATA_HEADER_SIZE,
    ENVELOPE_OVERHEAD,
    HEADER_SIZE,
    MAX_BODY_SIZE,
    MAX_CHANNELS,
    PROTOCOL_VERSION,
    SYNC,
    DataFrame,
    FrameType,
    crc16,
)

__all__ = ["MAX_KEPT_PACKETS", "Deframer", "DeframerStats", "Packet"]

log = logging.getLogger(__name__)

Packet = DataFrame | DeviceInfo | ControlCommand
"""Anything a frame can carry."""
MAX_KEPT_PACKETS = 64
"""Info / control packets a :class:`Deframer` without ``on_packet`` keeps (the latest ones)."""

_HEAD = struct.Struct("<BBH")  # version, type, length (after the two sync bytes)
_DATA_LAYOUT = struct.Struct("<BB")  # format, channel count (data body offsets 14, 15)
_CRC = struct.Struct("<H")
_SYNC0 = SYNC[0]
_FORMAT_SIZES = (2, 3, 4)
_SYNC1 = SYNC[1]
_MIN_BODY = {FrameType.DATA: DATA_HEADER_SIZE + 2, FrameType.INFO: 9, FrameType.CONTROL: 1}
_DATA_RATE = struct.Struct("<I")  # sample rate in mHz (data body offset 10)
# what a sync inside a candidate frame turned out to be
_NO_FRAME, _NEED_MORE, _INTACT = 0, 1, 2


@dataclass
class DeframerStats:
    """Counters of a :class:`Deframer` (all cumulative since it was created).

    Attributes:
        bytes_in: bytes fed.
        frames_ok: good data frames, not counting repeats (those are counted in ``duplicates``).
        packets_ok: info and control frames delivered.
        crc_errors: frames whose CRC did not match.
        length_errors: frames whose length field is impossible (too long, too short, inconsistent
            with the channel layout) or notifications cut short.
        header_errors: data frames whose header is impossible (sample format, channel count or rate
            out of range), rejected before their CRC is checked.
        version_errors: frames with a protocol version other than 1.
        unknown_types: well-formed frames of a type this codec does not know.
        decode_errors: frames with a good CRC whose body does not decode (unknown channel, ...).
        resyncs: times sync was regained after bytes had to be discarded.
        garbage_bytes: bytes discarded because they belong to no good frame.
        false_syncs: candidates whose CRC matched by chance but that overlap an intact frame (a false
            sync in garbage or in a corrupt frame): rejected, so the real frame is kept.
        overlaps: intact frames that start in the last byte of the frame delivered before them (seen
            only when that byte ended a read): both are delivered, one of them was a false sync.
        seq_gaps: jumps forward in the sequence number.
        frames_lost: data frames missing in those jumps.
        duplicates: data frames received twice in a row (same seq and timestamp); dropped.
        seq_restarts: jumps backward in the sequence number (a device restart); frames kept.
    """

    bytes_in: int = 0
    frames_ok: int = 0
    packets_ok: int = 0
    crc_errors: int = 0
    length_errors: int = 0
    header_errors: int = 0
    version_errors: int = 0
    unknown_types: int = 0
    decode_errors: int = 0
    resyncs: int = 0
    garbage_bytes: int = 0
    false_syncs: int = 0
    overlaps: int = 0
    seq_gaps: int = 0
    frames_lost: int = 0
    duplicates: int = 0
    seq_restarts: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict (for JSON)."""
        return asdict(self)


def _sync_at(buf: bytearray, pos: int, n: int) -> bool:
    """Whether the sync bytes are at ``pos`` (False when they have not arrived yet)."""
    return pos + 2 <= n and buf[pos] == _SYNC0 and buf[pos + 1] == _SYNC1


class Deframer:
    """Finds, checks and decodes anyppg frames in a byte stream.

    Args:
        max_body_size: longest body accepted (bytes); a larger length field is counted as a length
            error and skipped, so a corrupt length can never make the deframer wait for megabytes.
        on_packet: called with each info / control packet found in the stream (serial links); when
            ``None`` the latest :data:`MAX_KEPT_PACKETS` are kept in :attr:`packets`.
        drop_duplicates: drop a data frame that repeats the previous one (same seq and timestamp);
            when False it is still counted in ``duplicates`` but returned, for a caller that does its
            own sample accounting.

    Raises:
        ValueError: ``max_body_size`` is outside ``1..8192``.
    """

    def __init__(
        self,
        max_body_size: int = MAX_BODY_SIZE,
        on_packet: Callable[[DeviceInfo | ControlCommand], None] | None = None,
        *,
        drop_duplicates: bool = True,
    ) -> None:
        if not 1 <= max_body_size <= MAX_BODY_SIZE:
            raise ValueError(f"max_body_size = {max_body_size}; expected 1..{MAX_BODY_SIZE}")
        self.max_body_size = max_body_size
        self.on_packet = on_packet
        self.drop_duplicates = drop_duplicates
        self.packets: deque[DeviceInfo | ControlCommand] = deque(maxlen=MAX_KEPT_PACKETS)
        self.stats = DeframerStats()
        self._buf = bytearray()
        self._last: tuple[int, int] | None = None  # (seq, timestamp_us) of the last data frame
        self._discarding = False
        # The buffer's first bytes belong to a frame already delivered, kept because a frame may start
        # among them whose rest had not arrived: they are not garbage.
        self._owned = 0

    # --- public -------------------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> list[DataFrame]:
        """Consume stream bytes; return the data frames they complete, in order.

        Never raises on bad bytes: they are counted in :attr:`stats` and skipped. A partial frame at the
        end is kept until the next call.
        """
        self.stats.bytes_in += len(data)
        self._buf += data
        return self._scan()

    def feed_notification(self, value: bytes | bytearray | memoryview) -> DataFrame | None:
        """Consume one BLE notification, which holds exactly one frame; return it if it is good data.

        Unlike :meth:`feed`, nothing carries over: a notification cut short (MTU too small) counts as
        a length error and is dropped whole.
        """
        value = bytes(value)
        self.stats.bytes_in += len(value)
        n = len(value)
        if n < ENVELOPE_OVERHEAD or value[:2] != SYNC:
            self._bad(n, "length_errors" if n < ENVELOPE_OVERHEAD else None)
            return None
        version, frame_type, length = _HEAD.unpack_from(value, 2)
        if version != PROTOCOL_VERSION:
            self._bad(n, "version_errors")
            return None
        if length > self.max_body_size or n != length + ENVELOPE_OVERHEAD:
            self._bad(n, "length_errors")
            return None
        (received,) = _CRC.unpack_from(value, n - 2)
        if crc16(memoryview(value)[2 : n - 2]) != received:
            self._bad(n, "crc_errors")
            return None
        packet = self._decode(frame_type, value[HEADER_SIZE : n - 2])
        return packet if isinstance(packet, DataFrame) else None

    def flush(self) -> list[DataFrame]:
        """End of the stream: decide what was held waiting for more bytes; return the frames it yields.

        A frame that was held because a plausible frame started inside it is delivered; a partial
        frame left at the end is counted as garbage.
        """
        out = self._scan(final=True)
        if self._buf:
            self._skip(len(self._buf))
            self._buf.clear()
        self._owned = 0
        return out

    def reset(self) -> None:
        """Drop buffered bytes and forget the last sequence number (after a reconnect); keep stats."""
        self._buf.clear()
        self._last = None
        self._discarding = False
        self._owned = 0

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buf)

    # --- internals ----------------------------------------------------------------------------------

    def _bad(self, n_bytes: int, counter: str | None) -> None:
        if counter is not None:
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        self.stats.garbage_bytes += n_bytes

    def _skip(self, n_bytes: int) -> None:
        owned = min(n_bytes, self._owned)  # bytes of a delivered frame are not garbage
        self._owned -= owned
        n_bytes -= owned
        if n_bytes > 0:
            self.stats.garbage_bytes += n_bytes
            self._discarding = True

    def _scan(self, final: bool = False) -> list[DataFrame]:
        buf = self._buf
        n = len(buf)
        pos = 0
        out: list[DataFrame] = []
        while True:
            i = buf.find(SYNC, pos)
            if i < 0:
                keep = n - 1 if n > pos and buf[n - 1] == _SYNC0 else n  # a sync may straddle the feeds
                if keep > pos:
                    self._skip(keep - pos)
                pos = keep
                break
            if i > pos:
                self._skip(i - pos)
                pos = i
            verdict = self._check_header(buf, pos, n, count=True)
            if verdict == _NO_FRAME:
                self._skip(1)
                pos += 1
                continue
            end = (
                pos + _HEAD.unpack_from(buf, pos + 2)[2] + ENVELOPE_OVERHEAD if verdict == _INTACT else n + 1
            )
            if end > n:
                if not final:
                    break  # wait for the rest
                self.stats.length_errors += 1  # the stream ended inside it
                self._skip(1)
                pos += 1
                continue
            (received,) = _CRC.unpack_from(buf, end - 2)
            if crc16(buf[pos + 2 : end - 2]) != received:
                self.stats.crc_errors += 1
                self._skip(1)  # resync from the next byte: a real frame may start inside this one
                pos += 1
                continue
            rival, undecided, wait = self._rival(buf, pos, end, n)
            if wait and not final and not _sync_at(buf, end, n):
                break  # a plausible frame starts inside this one: decide when its bytes are here
            if rival is not None and not (_sync_at(buf, end, n) and not _sync_at(buf, rival, n)):
                # An intact frame starts inside this candidate, whose CRC matched by chance: a false
                # sync. Resync one byte on, which finds the real frame.
                self.stats.false_syncs += 1
                self._skip(1)
                pos += 1
                continue
            if rival is not None:  # this frame is followed by a sync, the one inside it is not
                self.stats.false_syncs += 1
            if self._owned:  # this frame starts inside the frame delivered before it
                self._owned = 0
                self.stats.overlaps += 1
            if self._discarding:
                self.stats.resyncs += 1
                self._discarding = False
            packet = self._decode(buf[pos + 2 + 1], bytes(buf[pos + HEADER_SIZE : end - 2]))
            if isinstance(packet, DataFrame):
                out.append(packet)
            pos = end
            if undecided is None and end == n and buf[n - 1] == _SYNC0:
                undecided = n - 1  # the last byte may be the first of a sync
            if undecided is not None and not _sync_at(buf, end, n):
                # A frame may start inside this one whose bytes have not all arrived (and no sync
                # after this one vouches for it): keep scanning from there once they have (those
                # bytes are this frame's, not garbage).
                self._owned, pos = end - undecided, undecided
        del buf[:pos]
        return out

    def _check_header(self, buf: bytearray, pos: int, n: int, *, count: bool = False) -> int:
        """Whether the sync at ``pos`` can open a frame, judging by the bytes that have arrived.

        Returns ``_NO_FRAME`` (counted when ``count``), ``_NEED_MORE`` (the header is incomplete) or
        ``_INTACT`` (as far as the header goes; the caller checks the CRC).
        """
        if n - pos < HEADER_SIZE:
            return _NEED_MORE
        version, frame_type, length = _HEAD.unpack_from(buf, pos + 2)
        if version != PROTOCOL_VERSION:
            if count:
                self.stats.version_errors += 1
            return _NO_FRAME
        if (
            length > self.max_body_size
            or length < _MIN_BODY.get(frame_type, 0)
            or not self._layout_ok(buf, pos, n, frame_type, length)
        ):
            if count:
                self.stats.length_errors += 1
            return _NO_FRAME
        if not self._data_header_ok(buf, pos, n, frame_type):
            if count:
                self.stats.header_errors += 1
            return _NO_FRAME
        return _INTACT

    def _rival(self, buf: bytearray, pos: int, end: int, n: int) -> tuple[int | None, int | None, bool]:
        """Look for frames starting inside the candidate ``buf[pos:end]``.

        Returns:
            ``(rival_end, undecided, wait)``: the end offset of the first intact frame found inside
            (None if there is none); the offset of the first sync inside that could still open a frame
            whose bytes have not all arrived (None if there is none); and whether one of those has a
            complete, sane header (then the candidate is worth holding until its bytes arrive).
        """
        undecided, wait = None, False
        j = buf.find(SYNC, pos + 1, min(end + 1, n))
        while j >= 0:
            verdict = self._check_header(buf, j, n)
            if verdict == _INTACT:
                j_end = j + _HEAD.unpack_from(buf, j + 2)[2] + ENVELOPE_OVERHEAD
                if j_end <= n and crc16(buf[j + 2 : j_end - 2]) == _CRC.unpack_from(buf, j_end - 2)[0]:
                    return j_end, undecided, wait
                if j_end > n:
                    undecided = j if undecided is None else undecided
                    wait = wait or buf[j + 3] != FrameType.DATA or n - j >= HEADER_SIZE + 16
            elif verdict == _NEED_MORE and undecided is None:
                undecided = j
            j = buf.find(SYNC, j + 1, min(end + 1, n))
        return None, undecided, wait

    @staticmethod
    def _data_header_ok(buf: bytearray, pos: int, n: int, frame_type: int) -> bool:
        """A data frame's format, channel count and rate are in range (True until they have arrived)."""
        if frame_type != FrameType.DATA or n - pos < HEADER_SIZE + 16:
            return True
        fmt, n_ch = _DATA_LAYOUT.unpack_from(buf, pos + HEADER_SIZE + 14)
        (rate_mhz,) = _DATA_RATE.unpack_from(buf, pos + HEADER_SIZE + 10)
        return fmt <= 2 and 1 <= n_ch <= MAX_CHANNELS and rate_mhz > 0

    @staticmethod
    def _layout_ok(buf: bytearray, pos: int, n: int, frame_type: int, length: int) -> bool:
        """Reject a data frame whose length cannot match its own channel layout, as soon as it is seen.

        Without this a false sync in noise with a plausible length would stall the stream until that
        many bytes had arrived.
        """
        if frame_type != FrameType.DATA or n - pos < HEADER_SIZE + 16:
            return True
        fmt, n_ch = _DATA_LAYOUT.unpack_from(buf, pos + HEADER_SIZE + 14)
        if fmt > 2 or not 1 <= n_ch <= MAX_CHANNELS:
            return True  # a header error (see _data_header_ok), not a length error
        value_bytes = length - DATA_HEADER_SIZE - n_ch
        per_sample = n_ch * _FORMAT_SIZES[fmt]
        return value_bytes >= per_sample and value_bytes % per_sample == 0

    def _decode(self, frame_type: int, body: bytes) -> Packet | None:
        try:
            if frame_type == FrameType.DATA:
                frame = DataFrame.from_body(body)
            elif frame_type == FrameType.INFO:
                packet: DeviceInfo | ControlCommand = DeviceInfo.from_bytes(body)
            elif frame_type == FrameType.CONTROL:
                packet = ControlCommand.from_bytes(body)
            else:
                self.stats.unknown_types += 1
                log.debug("skipping frame of unknown type %d (%d bytes)", frame_type, len(body))
                return None
        except AnyPPGError as exc:
            self.stats.decode_errors += 1
            log.debug("skipping undecodable frame of type %d: %s", frame_type, exc)
            return None
        if frame_type != FrameType.DATA:
            self.stats.packets_ok += 1
            if self.on_packet is not None:
                self.on_packet(packet)
            else:
                self.packets.append(packet)
            return packet
        return frame if self._track(frame) else None

    def _track(self, frame: DataFrame) -> bool:
        """Update the sequence counters; False for a duplicate that is to be dropped."""
        last = self._last
        self._last = (frame.seq, frame.timestamp_us)
        if last is not None:
            step = (frame.seq - last[0]) & 0xFFFF
            if step == 0 and frame.timestamp_us == last[1]:
                self.stats.duplicates += 1
                return not self.drop_duplicates
            if 1 < step < 0x8000:
                self.stats.seq_gaps += 1
                self.stats.frames_lost += step - 1
            elif step == 0 or step >= 0x8000:
                self.stats.seq_restarts += 1
        self.stats.frames_ok += 1
        return True
