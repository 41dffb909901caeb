"""Heart Rate Measurement (0x2A37): vectors from Polar's SDK tests and the SIG layout, every flag combination."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anyppg.firmware_bridge.errors import FieldRangeError, FrameLengthError
from anyppg.firmware_bridge.hrs import HeartRateMeasurement

# (hex, heart_rate, sensor_contact, energy_expended, rr in 1/1024 s). The first eleven are the byte
# vectors of polarofficial/polar-ble-sdk BleHrClientTest.kt (Android), decoded as that test expects.
VENDOR_VECTORS = [
    ("00ff", 255, None, None, ()),
    ("007f", 127, None, None, ()),
    ("018080", 32896, None, None, ()),
    ("017f7f", 32639, None, None, ()),
    ("0600", 0, True, None, ()),
    ("0400", 0, False, None, ()),
    ("0200", 0, None, None, ()),  # contact bit without the "supported" bit means: not supported
    ("090000ffff", 0, None, 65535, ()),
    ("08007f80", 0, None, 32895, ()),
    ("1000ffff", 0, None, None, (65535,)),
    ("110000ffff7f80", 0, None, None, (65535, 32895)),
    # a typical chest-strap notification: contact, 74 bpm, RR intervals of 810/1024 s and 829/1024 s
    ("164a" "2a03" "3d03", 74, True, None, (810, 829)),
]  # fmt: skip


@pytest.mark.parametrize(("hex_", "hr", "contact", "energy", "rr_units"), VENDOR_VECTORS)
def test_vendor_and_spec_vectors(hex_, hr, contact, energy, rr_units):
    m = HeartRateMeasurement.from_bytes(bytes.fromhex(hex_))
    assert m.heart_rate == hr
    assert m.sensor_contact is contact
    assert m.energy_expended == energy
    assert tuple(round(x * 1024) for x in m.rr_intervals) == rr_units
    assert m.rr_intervals == tuple(u / 1024 for u in rr_units)


def test_rr_in_milliseconds_matches_polar():
    m = HeartRateMeasurement.from_bytes(bytes.fromhex("110000ffff7f80"))
    assert [int(x) for x in m.rr_intervals_ms] == [63999, 32124]  # Polar's rrsMs for the same bytes


@pytest.mark.parametrize("flags", range(32))
def test_every_flag_combination(flags):
    wide = bool(flags & 0x01)
    body = bytes((flags,)) + (b"\x34\x01" if wide else b"\x48")
    if flags & 0x08:
        body += b"\x10\x27"  # 10000 kJ
    if flags & 0x10:
        body += b"\x00\x04\x00\x02"  # 1.0 s, 0.5 s
    m = HeartRateMeasurement.from_bytes(body)
    assert m.heart_rate == (0x134 if wide else 0x48)
    assert m.energy_expended == (10000 if flags & 0x08 else None)
    assert m.rr_intervals == ((1.0, 0.5) if flags & 0x10 else ())
    assert m.sensor_contact == ({0b110: True, 0b100: False}.get(flags & 0b110))
    canonical = flags if flags & 0x04 else flags & ~0x02
    assert bytes(m) == bytes((canonical,)) + body[1:]
    # reserved bits 5-7 are ignored on receipt
    assert HeartRateMeasurement.from_bytes(bytes((flags | 0xE0,)) + body[1:]) == m


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 0xFFFF),
    st.sampled_from([None, True, False]),
    st.one_of(st.none(), st.integers(0, 0xFFFF)),
    st.lists(st.integers(0, 0xFFFF), max_size=9),
    st.booleans(),
)
def test_round_trip(hr, contact, energy, rr_units, wide):
    m = HeartRateMeasurement(hr, contact, energy, tuple(u / 1024 for u in rr_units), wide or hr > 255)
    raw = bytes(m)
    assert HeartRateMeasurement.from_bytes(raw) == m
    assert len(raw) == 1 + (2 if m.wide_format else 1) + (2 if energy is not None else 0) + 2 * len(rr_units)


@pytest.mark.parametrize(
    ("hex_", "needed"),
    [("", "at least 2"), ("01", "at least 3"), ("0148", "at least 3"), ("0848", "at least 4"), ("1048ff", "multiple of 2"), ("004801", "no RR")],
)  # fmt: skip
def test_truncated_or_padded_values_are_typed(hex_, needed):
    with pytest.raises(FrameLengthError) as info:
        HeartRateMeasurement.from_bytes(bytes.fromhex(hex_))
    assert needed in info.value.expected and info.value.length == len(hex_) // 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"heart_rate": -1}, "heart_rate"), ({"heart_rate": 70000}, "heart_rate"),
     ({"heart_rate": 60, "energy_expended": 1 << 16}, "energy_expended"),
     ({"heart_rate": 60, "rr_intervals": (64.0,)}, "rr_intervals")],
)  # fmt: skip
def test_range_checks(kwargs, field):
    with pytest.raises(FieldRangeError) as info:
        HeartRateMeasurement(**kwargs)
    assert info.value.field == field


def test_wide_heart_rate_is_automatic_above_255():
    assert bytes(HeartRateMeasurement(300)) == b"\x01\x2c\x01"
    assert bytes(HeartRateMeasurement(60)) == b"\x00\x3c"


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=24))
def test_random_bytes_give_only_length_errors(data):
    try:
        m = HeartRateMeasurement.from_bytes(data)
    except FrameLengthError:
        return
    assert HeartRateMeasurement.from_bytes(bytes(m)) == m
