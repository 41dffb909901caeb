"""Fault injection: parsing, seeded reproducibility, exact counts, corruption the CRC always catches."""

from __future__ import annotations

import numpy as np
import pytest

from anyppg.errors import AnyPPGError
from anyppg.firmware_bridge.emulator.faults import FaultInjector, FaultSpec, FaultSpecError
from anyppg.firmware_bridge.errors import CRCError
from anyppg.firmware_bridge.protocol import HEADER_SIZE, Channel, DataFrame, FrameEncoder, SampleFormat


def _frames(n: int) -> list[bytes]:
    encoder = FrameEncoder(125.0, (Channel.PPG_GREEN,), SampleFormat.INT24, max_samples=10)
    return encoder.encode(np.arange(10 * n), timestamp_us=0)


def test_parse_accepts_the_documented_form():
    spec = FaultSpec.parse("drop=0.01, corrupt=0.002,disconnect_every=30,seed=7")
    assert spec == FaultSpec(drop=0.01, corrupt=0.002, disconnect_every_s=30.0, seed=7)
    assert spec.any and not FaultSpec.parse("").any


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("drop=1.5", "probability"),
        ("corrupt=-0.1", "probability"),
        ("drop=abc", "not a number"),
        ("lose=0.1", "unknown item"),
        ("disconnect_every=0", "positive"),
        ("drop", "unknown item"),
    ],
)
def test_parse_rejects_bad_specs_with_a_typed_error(text, fragment):
    with pytest.raises(FaultSpecError, match=fragment) as excinfo:
        FaultSpec.parse(text)
    assert isinstance(excinfo.value, AnyPPGError) and excinfo.value.spec == text


def test_counts_are_exact_and_every_corruption_breaks_the_crc():
    injector = FaultInjector(FaultSpec(drop=0.2, corrupt=0.3, seed=4))
    frames = _frames(2000)
    survivors = {}
    for seq, frame in enumerate(frames):
        out = injector.apply(frame, 10, seq)
        if out is not None:
            survivors[seq] = out
    stats = injector.stats
    assert stats.frames_sent == 2000 and stats.samples_sent == 20000
    assert stats.frames_dropped + len(survivors) == 2000
    assert set(stats.dropped_seqs).isdisjoint(survivors)
    assert abs(stats.frames_dropped / 2000 - 0.2) < 0.04
    assert abs(stats.frames_corrupted / len(survivors) - 0.3) < 0.05
    for seq in stats.corrupted_seqs:
        damaged = survivors[seq]
        assert damaged[:HEADER_SIZE] == frames[seq][:HEADER_SIZE]  # the header is never touched
        assert sum(a != b for a, b in zip(damaged, frames[seq], strict=True)) == 1
        with pytest.raises(CRCError):
            DataFrame.from_bytes(damaged)
    intact = [s for s in survivors if s not in set(stats.corrupted_seqs)]
    assert stats.samples_intact == 10 * len(intact)
    assert stats.bytes_sent == sum(len(survivors[s]) for s in survivors)


def test_the_same_seed_gives_the_same_faults():
    def run(seed: int) -> tuple[list[int], list[int]]:
        injector = FaultInjector(FaultSpec(drop=0.1, corrupt=0.1, seed=seed))
        for seq, frame in enumerate(_frames(300)):
            injector.apply(frame, 10, seq)
        return injector.stats.dropped_seqs, injector.stats.corrupted_seqs

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_no_faults_passes_frames_through_and_counts():
    injector = FaultInjector()
    frames = _frames(5)
    assert [injector.apply(f, 10, i) for i, f in enumerate(frames)] == frames
    assert injector.stats.as_dict()["samples_intact"] == 50
