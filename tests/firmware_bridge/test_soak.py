"""The codec soak benchmark, small: fuzzed frames raise nothing untyped and lose no intact frame."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def soak(benchmark_script):
    return benchmark_script("soak_codecs")


def test_every_codec_survives_fuzzed_frames(soak, tmp_path):
    assert soak.main(["--frames", "3000", "--seed", "7", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "soak.json").read_text())
    codecs = {r["codec"]: r for r in result["codecs"]}
    assert len(codecs) == 5
    for r in codecs.values():
        assert r["frames"] == 3000 and r["exceptions"] == 0 and r["frames_lost"] == 0
        assert 700 < r["intact"] < 1500  # about a third of the frames are left intact
    protocol = codecs["anyppg protocol (Deframer.feed)"]
    assert protocol["deframer"]["frames_ok"] == protocol["intact"]  # and nothing but them came out
    assert protocol["deframer"]["crc_errors"] > 0 and protocol["deframer"]["garbage_bytes"] > 0
    assert "| Polar PMD data" in (tmp_path / "soak.md").read_text()


def test_the_deframer_soak_counts_a_lost_frame(soak, monkeypatch):
    """The harness itself: a deframer that drops every 50th frame is caught."""
    from anyppg.firmware_bridge.deframer import Deframer

    real_feed = Deframer.feed
    count = {"n": 0}

    def lossy_feed(self, data):
        out = []
        for frame in real_feed(self, data):
            count["n"] += 1
            if count["n"] % 50:
                out.append(frame)
        return out

    monkeypatch.setattr(Deframer, "feed", lossy_feed)
    res = soak.soak_protocol(2000, seed=3)
    assert res.frames_lost > 0 and res.exceptions == 0
