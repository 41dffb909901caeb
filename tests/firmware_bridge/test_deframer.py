"""The incremental deframer: chunking, resync after garbage and corruption, sequence accounting, fuzz."""

from __future__ import annotations

import contextlib
import random
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyppg.errors import AnyPPGError
from anyppg.firmware_bridge.deframer import MAX_KEPT_PACKETS, Deframer
from anyppg.firmware_bridge.gatt import ControlCommand, DeviceInfo, control_frame, info_frame
from anyppg.firmware_bridge.protocol import (
    MAX_BODY_SIZE,
    SYNC,
    Channel,
    DataFrame,
    FrameEncoder,
    SampleFormat,
    crc16,
    encode_envelope,
)


def make_frames(n_frames: int = 10, first_seq: int = 0, n_per_frame: int = 20) -> list[bytes]:
    enc = FrameEncoder(
        125.0,
        (Channel.PPG_GREEN, Channel.PPG_AMBIENT),
        SampleFormat.INT24,
        max_samples=n_per_frame,
        first_seq=first_seq,
    )
    rng = np.random.default_rng(first_seq)
    return enc.encode(rng.integers(-(2**23), 2**23, size=(n_frames * n_per_frame, 2)), timestamp_us=0)


def seqs(frames: list[DataFrame]) -> list[int]:
    return [f.seq for f in frames]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 400), min_size=1, max_size=40))
def test_any_chunking_gives_the_same_frames(cuts):
    raw = make_frames(8)
    stream = b"".join(raw)
    d = Deframer()
    out, pos = [], 0
    for size in cuts:
        out += d.feed(stream[pos : pos + size])
        pos += size
    out += d.feed(stream[pos:])
    assert out == [DataFrame.from_bytes(f) for f in raw]
    assert d.stats.frames_ok == 8 and d.stats.garbage_bytes == 0 and d.stats.resyncs == 0
    assert d.stats.bytes_in == len(stream) and d.buffered == 0


def test_byte_by_byte():
    raw = make_frames(3)
    d = Deframer()
    out = [f for byte in b"".join(raw) for f in d.feed(bytes((byte,)))]
    assert seqs(out) == [0, 1, 2]


def test_garbage_between_frames_is_counted_and_skipped():
    raw = make_frames(3)
    junk = b"\x00\xa5\xff\xa5\x5a\x07hello"  # includes a false sync with a wrong version
    d = Deframer()
    out = d.feed(junk + raw[0] + junk + raw[1] + raw[2] + b"\xa5")
    assert seqs(out) == [0, 1, 2]
    assert d.stats.garbage_bytes == 2 * len(junk)
    assert d.stats.resyncs == 2 and d.stats.version_errors == 2
    assert d.buffered == 1  # the trailing 0xA5 may be the start of the next sync


def test_corrupt_byte_loses_only_its_frame():
    raw = make_frames(4)
    bad = bytearray(raw[1])
    bad[40] ^= 0x01
    d = Deframer()
    out = d.feed(raw[0] + bytes(bad) + raw[2] + raw[3])
    assert seqs(out) == [0, 2, 3]
    assert d.stats.crc_errors == 1
    assert d.stats.seq_gaps == 1 and d.stats.frames_lost == 1
    assert d.stats.garbage_bytes == len(bad) and d.stats.resyncs == 1


def test_truncated_frame_followed_by_good_one():
    raw = make_frames(3)
    d = Deframer()
    out = d.feed(raw[0] + raw[1][:30] + raw[2])
    assert seqs(out) == [0, 2]
    assert d.stats.frames_lost == 1
    assert d.stats.garbage_bytes == 30


def test_oversized_length_field_is_bounded_and_does_not_stall():
    raw = make_frames(2)
    evil = SYNC + b"\x01\x01\xff\xff"  # claims a 65535-byte body
    d = Deframer()
    out = d.feed(evil + raw[0]) + d.feed(raw[1])
    assert seqs(out) == [0, 1]
    assert d.stats.length_errors == 1 and d.buffered == 0


def test_plausible_length_inconsistent_with_layout_is_rejected_at_once():
    raw = make_frames(1)
    fake = bytearray(raw[0][:30])
    fake[4:6] = (4001).to_bytes(2, "little")  # within bounds, but not 20 + 2 + k * 6
    d = Deframer()
    out = d.feed(bytes(fake) + raw[0])
    assert seqs(out) == [0]  # no waiting for 4001 bytes
    assert d.stats.length_errors == 1


def test_max_body_size_can_be_lowered():
    raw = make_frames(1, n_per_frame=100)  # 622-byte body
    d = Deframer(max_body_size=256)
    assert d.feed(raw[0]) == []
    assert d.stats.length_errors == 1 and d.stats.frames_ok == 0


def test_sequence_gap_across_wrap_around():
    raw = make_frames(6, first_seq=65533)  # 65533 65534 65535 0 1 2
    d = Deframer()
    out = d.feed(raw[0] + raw[1] + raw[4] + raw[5])
    assert seqs(out) == [65533, 65534, 1, 2]
    assert d.stats.seq_gaps == 1 and d.stats.frames_lost == 2


def test_duplicates_are_dropped_and_restarts_kept():
    raw = make_frames(3)
    d = Deframer()
    out = d.feed(raw[0] + raw[1] + raw[1] + raw[2] + raw[0])
    assert seqs(out) == [0, 1, 2, 0]
    assert d.stats.duplicates == 1 and d.stats.seq_restarts == 1 and d.stats.seq_gaps == 0


def test_duplicates_can_be_kept_for_callers_that_account_for_them():
    raw = make_frames(2)
    d = Deframer(drop_duplicates=False)
    assert seqs(d.feed(raw[0] + raw[0] + raw[1])) == [0, 0, 1]
    assert d.stats.duplicates == 1 and d.stats.frames_ok == 2


def test_info_and_control_frames_on_a_serial_stream():
    info = DeviceInfo(125.0, (Channel.PPG_GREEN, Channel.PPG_AMBIENT), firmware_version="0.1")
    raw = make_frames(2)
    seen: list = []
    d = Deframer(on_packet=seen.append)
    out = d.feed(info_frame(info) + raw[0] + control_frame(ControlCommand.set_rate(55)) + raw[1])
    assert seqs(out) == [0, 1]
    assert seen == [info, ControlCommand.set_rate(55)]
    assert d.stats.packets_ok == 2
    kept = Deframer()
    kept.feed(info_frame(info) * (MAX_KEPT_PACKETS + 5))
    assert list(kept.packets) == [info] * MAX_KEPT_PACKETS  # bounded: a chatty device cannot grow it
    assert kept.stats.packets_ok == MAX_KEPT_PACKETS + 5


def test_unknown_type_and_undecodable_body_are_counted():
    raw = make_frames(1)
    good_body = DataFrame.from_bytes(raw[0]).body()
    bad_channel = bytearray(good_body)
    bad_channel[20] = 0xEE
    d = Deframer()
    out = d.feed(encode_envelope(0x42, b"future") + encode_envelope(1, bytes(bad_channel)) + raw[0])
    assert seqs(out) == [0]
    assert d.stats.unknown_types == 1 and d.stats.decode_errors == 1


def test_notifications_one_frame_each():
    raw = make_frames(4)
    d = Deframer()
    assert d.feed_notification(raw[0]).seq == 0
    assert d.feed_notification(raw[1][:20]) is None  # cut to MTU-3 by a peer that kept MTU 23
    assert d.feed_notification(raw[2]).seq == 2
    assert d.feed_notification(raw[2]) is None  # delivered twice (bleak after a reconnect)
    corrupt = bytearray(raw[3])
    corrupt[-1] ^= 0xFF
    assert d.feed_notification(bytes(corrupt)) is None
    assert d.feed_notification(b"") is None
    s = d.stats
    assert (s.frames_ok, s.length_errors, s.duplicates, s.crc_errors, s.frames_lost) == (2, 2, 1, 1, 1)


def test_reset_forgets_sequence_but_keeps_counters():
    raw = make_frames(3)
    d = Deframer()
    d.feed(raw[0] + raw[1][:10])
    d.reset()
    assert d.buffered == 0
    d.feed(raw[2])
    assert d.stats.seq_gaps == 0 and d.stats.frames_ok == 2


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000), st.integers(1, 64))
def test_random_bytes_never_raise(data, chunk):
    d = Deframer()
    for i in range(0, len(data), chunk):
        d.feed(data[i : i + chunk])
    d.feed_notification(data[:300])
    assert d.stats.bytes_in == len(data) + min(len(data), 300)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=60), min_size=5, max_size=5), st.randoms(use_true_random=False))
def test_no_good_frame_is_ever_lost_to_garbage(junks, rnd: random.Random):
    raw = make_frames(5)
    stream = b"".join(j + f for j, f in zip(junks, raw, strict=True))
    d = Deframer()
    out, pos = [], 0
    while pos < len(stream):
        step = rnd.randint(1, 200)
        out += d.feed(stream[pos : pos + step])
        pos += step
    out += d.feed(bytes(MAX_BODY_SIZE + 8))  # a false sync in the junk may hold a frame back, never drop it
    assert seqs(out) == [0, 1, 2, 3, 4]
    assert d.stats.garbage_bytes >= sum(map(len, junks))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_mutated_streams_only_count(data):
    stream = bytearray(b"".join(make_frames(4)))
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(stream) - 1))
        stream[i] = data.draw(st.integers(0, 255))
    d = Deframer()
    try:
        out = d.feed(bytes(stream))
    except AnyPPGError as exc:  # pragma: no cover - the contract is that feed never raises
        raise AssertionError(f"feed raised {exc!r}") from exc
    assert len(out) + d.stats.frames_lost <= 4 + d.stats.seq_restarts * 4
    assert all(isinstance(f, DataFrame) for f in out)


@st.composite
def plausible_bodies(draw) -> tuple[int, bytes]:
    """Bodies with a good envelope (so the CRC passes) but fuzzed fields: the decoders' path."""
    frame_type = draw(st.sampled_from([1, 1, 1, 2, 3, 9]))
    if frame_type != 1:
        return frame_type, draw(st.binary(max_size=40))
    head = bytearray(draw(st.binary(min_size=20, max_size=20)))
    head[14] = draw(st.integers(0, 4))  # format, sometimes invalid
    head[15] = draw(st.integers(0, 18))  # channel count, sometimes invalid
    ids = draw(st.lists(st.sampled_from([1, 2, 3, 4, 0x10, 0x20, 0xEE]), max_size=18))
    return frame_type, bytes(head) + bytes(ids) + draw(st.binary(max_size=64))


@settings(max_examples=100, deadline=None)
@given(st.lists(plausible_bodies(), min_size=1, max_size=6))
def test_fuzzed_bodies_inside_good_envelopes_are_counted_not_raised(bodies):
    stream = b"".join(encode_envelope(t, b) for t, b in bodies)
    d = Deframer()
    out = d.feed(stream)
    s = d.stats
    handled = (
        s.frames_ok
        + s.duplicates
        + s.packets_ok
        + s.decode_errors
        + s.unknown_types
        + s.length_errors
        + s.header_errors
    )
    assert handled >= len(bodies)  # each frame lands in exactly one counter (length errors may add resyncs)
    assert len(out) <= s.frames_ok
    for t, b in bodies:  # the body decoder itself raises nothing but our typed errors
        if t == 1:
            with contextlib.suppress(AnyPPGError):
                DataFrame.from_body(b)


# --- false syncs whose CRC matches by chance -------------------------------------------------------


def forge_false_frame(real: bytes, frame_type: int, overlap: int, body_prefix: bytes = b"") -> bytes:
    """Garbage that opens a frame whose CRC matches and whose last ``overlap`` bytes are ``real``'s first.

    The garbage is sync, version 1, ``frame_type``, a length, ``body_prefix``, two free bytes, chosen
    (out of 65,536) so that the CRC-16 over the whole false frame equals the two bytes of ``real`` at
    its end: exactly what a random false sync achieves once in 65,536 times.
    """
    n_garbage_body = len(body_prefix) + 2
    length = n_garbage_body + overlap - 2  # the false frame's body ends 2 bytes before its end
    head = SYNC + bytes((1, frame_type)) + length.to_bytes(2, "little")
    target = int.from_bytes(real[overlap - 2 : overlap], "little")
    tail = real[: overlap - 2]
    prefix_crc = crc16(head[2:] + body_prefix)
    for x in range(65536):
        free = x.to_bytes(2, "little")
        if crc16(tail, crc16(free, prefix_crc)) == target:
            return head + body_prefix + free
    raise AssertionError("no CRC fixup found")  # pragma: no cover - CRC-16 is a bijection on 2 bytes


def _data_prefix(n_values_in_garbage: int) -> bytes:
    """A plausible data header (seq, time, 125 Hz, int16, 1 channel, scale 1, PPG_GREEN) + values."""
    return (
        struct.pack("<HQIBBf", 7, 123_456, 125_000, 0, 1, 1.0)
        + bytes((Channel.PPG_GREEN,))
        + bytes(2 * n_values_in_garbage)
    )


def _crc_only_scan(stream: bytes) -> list[int]:
    """Where a deframer that trusts the CRC alone finds frames (the first candidate whose CRC matches)."""
    pos, found = 0, []
    while (i := stream.find(SYNC, pos)) >= 0 and i + 6 <= len(stream):
        end = i + 8 + int.from_bytes(stream[i + 4 : i + 6], "little")
        crc_ok = end <= len(stream) and crc16(stream[i + 2 : end - 2]) == int.from_bytes(
            stream[end - 2 : end], "little"
        )
        if stream[i + 2] == 1 and crc_ok:
            found.append(i)
            pos = end
        else:
            pos = i + 1
    return found


@pytest.mark.parametrize(
    ("frame_type", "prefix", "overlap"),
    [
        (0x42, b"", 40),  # unknown type: skipped by its length
        (0x42, b"", 200),  # spans frame 0 and the start of frame 1
        (1, _data_prefix(3), 58),  # a data frame that decodes (whole int16 values)
        (2, b"\x01" * 12, 30),  # an INFO frame (undecodable body)
    ],
)
def test_a_false_sync_with_a_matching_crc_cannot_swallow_a_real_frame(frame_type, prefix, overlap):
    raw = make_frames(3)
    garbage = forge_false_frame(raw[0] + raw[1], frame_type, overlap, prefix)
    stream = b"junk" + garbage + b"".join(raw)
    real_starts = {4 + len(garbage), 4 + len(garbage) + len(raw[0])}
    assert not real_starts <= set(_crc_only_scan(stream))  # the CRC alone loses a real frame ...
    d = Deframer()
    out = d.feed(stream)
    assert seqs(out) == [0, 1, 2]  # ... the deframer keeps every real one
    assert d.stats.false_syncs == 1 and d.stats.garbage_bytes == 4 + len(garbage)
    assert d.stats.unknown_types == d.stats.decode_errors == 0


def test_a_false_sync_is_rejected_whatever_the_chunking():
    raw = make_frames(3)
    garbage = forge_false_frame(raw[0], 1, 58, _data_prefix(3))
    stream = garbage + b"".join(raw)
    for cut in range(1, len(stream)):
        d = Deframer()
        out = d.feed(stream[:cut]) + d.feed(stream[cut:])
        assert seqs(out) == [0, 1, 2], cut
        assert d.stats.garbage_bytes == len(garbage)


def test_a_false_frame_ending_in_the_first_byte_of_a_real_one_loses_nothing():
    """The hardest case: the false CRC ends on the real frame's 0xA5, and a read ends right there."""
    raw = make_frames(2)
    head = SYNC + bytes((1, 0x42)) + (2).to_bytes(2, "little")  # unknown type, 2-byte body
    for x in range(65536):  # the CRC is (free byte, 0xA5): find a body whose CRC's high byte is 0xA5
        body = x.to_bytes(2, "little")
        crc = crc16(head[2:] + body)
        if crc >> 8 == raw[0][0]:
            garbage = head + body + bytes((crc & 0xFF,))
            break
    stream = garbage + raw[0] + raw[1]
    split = len(garbage) + 1  # the read ends right after the false frame, on the real 0xA5
    assert _crc_only_scan(stream[:split])[0] == 0  # the false frame is all a CRC-only deframer sees
    d = Deframer()
    out = d.feed(stream[:split]) + d.feed(stream[split:])
    assert seqs(out) == [0, 1]
    assert d.stats.overlaps == 1 and d.stats.unknown_types == 1
    assert d.stats.garbage_bytes == 0  # the kept 0xA5 was a real frame's first byte, not garbage


def test_a_frame_that_is_followed_by_a_sync_wins_over_one_embedded_in_it():
    """A real frame whose samples happen to contain a whole valid frame: the outer one is kept."""
    inner = bytes(make_frames(1, first_seq=900, n_per_frame=2)[0])  # 48 bytes
    enc = FrameEncoder(125.0, (Channel.PPG_GREEN,), SampleFormat.FLOAT32, max_samples=40)
    values = np.frombuffer(inner + bytes(4 - len(inner) % 4), dtype="<f4")
    values = np.concatenate([np.ones(2, dtype="<f4"), values, np.ones(8, dtype="<f4")])
    outer = enc.encode(values.reshape(-1, 1), timestamp_us=0)
    assert inner in outer[0]
    d = Deframer()
    out = d.feed(b"".join(outer) + b"".join(make_frames(1, first_seq=1)))
    assert seqs(out) == [0, 1] and d.stats.false_syncs == 1


def test_flush_delivers_a_frame_held_for_a_plausible_frame_inside_it():
    """A frame whose samples hold a sync and a sane header is held until the bytes it claims arrive."""
    enc = FrameEncoder(125.0, (Channel.PPG_GREEN,), SampleFormat.INT16, max_samples=20)
    fake_head = SYNC + bytes((1, 1)) + (201).to_bytes(2, "little")  # claims a 201-byte data body ...
    fake_body = struct.pack("<HQIBB", 0, 0, 125_000, 0, 1)  # ... with a sane data header
    values = np.frombuffer(bytes(4) + fake_head + fake_body + bytes(2), dtype="<i2")
    (frame,) = enc.encode(values.reshape(-1, 1), timestamp_us=0)
    d = Deframer()
    assert d.feed(frame) == []  # held: the frame inside it might be real
    assert seqs(d.flush()) == [0]  # end of stream: nothing contradicts it
    assert d.stats.garbage_bytes == 0 and d.buffered == 0
    live = Deframer()
    assert seqs(live.feed(frame) + live.feed(make_frames(1, first_seq=1)[0])) == [0, 1]  # the next sync


def test_flush_counts_a_partial_frame_and_finds_frames_behind_a_false_length():
    raw = make_frames(2)
    evil = SYNC + b"\x01\x42" + (5000).to_bytes(2, "little")  # an unknown type claiming 5000 bytes
    d = Deframer()
    assert d.feed(evil + raw[0] + raw[1][:50]) == []  # waiting for the 5000 bytes
    assert seqs(d.flush()) == [0]
    assert d.stats.garbage_bytes == len(evil) + 50 and d.buffered == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_intact_frame_survives_corruption_garbage_and_chunking(data):
    """The stream fuzz of the soak benchmark as a property: untouched frames are never lost."""
    raw = make_frames(6, n_per_frame=data.draw(st.integers(1, 30)))
    parts, intact = [], []
    for k, frame in enumerate(raw):
        parts.append(data.draw(st.binary(max_size=40)))  # garbage, possibly with syncs inside
        if data.draw(st.booleans()):
            frame = bytearray(frame)
            for _ in range(data.draw(st.integers(1, 4))):
                frame[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
            frame = bytes(frame)
        if frame == raw[k]:
            intact.append(k)
        parts.append(frame)
    stream = b"".join(parts)
    d = Deframer(drop_duplicates=False)
    out, pos = [], 0
    while pos < len(stream):
        step = data.draw(st.integers(1, 300))
        out += d.feed(stream[pos : pos + step])
        pos += step
    out += d.flush()
    assert set(intact) <= set(seqs(out))
    assert d.stats.bytes_in == len(stream)
