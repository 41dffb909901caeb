"""The incremental deframer: chunking, resync after garbage and corruption, sequence accounting, fuzz."""

from __future__ import annotations

import contextlib
import random

import numpy as np
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
    handled = s.frames_ok + s.duplicates + s.packets_ok + s.decode_errors + s.unknown_types + s.length_errors
    assert handled >= len(bodies)  # each frame lands in exactly one counter (length errors may add resyncs)
    assert len(out) <= s.frames_ok
    for t, b in bodies:  # the body decoder itself raises nothing but our typed errors
        if t == 1:
            with contextlib.suppress(AnyPPGError):
                DataFrame.from_body(b)
