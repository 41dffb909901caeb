"""The C reference encoder (firmware_bridge/c) against the Python codec, byte for byte.

The C sources are compiled here with ``gcc -std=c99 -Wall -Wextra -Werror -pedantic``; a small driver
program prints the bytes the C code produces for inputs the test generates, and the test compares them
with what :mod:`anyppg.firmware_bridge.protocol` produces for the same inputs.
"""

from __future__ import annotations

import itertools
import json
import os
import pty
import shutil
import struct
import subprocess
import sys
import tty
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from anyppg.errors import AnyPPGError
from anyppg.firmware_bridge.deframer import Deframer
from anyppg.firmware_bridge.gatt import ControlCommand, DeviceInfo
from anyppg.firmware_bridge.protocol import (
    Channel,
    DataFrame,
    SampleFormat,
    crc16,
    encode_envelope,
    max_samples_per_frame,
)

CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
# what stricter firmware projects turn on; the library itself must stay clean under them too
FIRMWARE_CFLAGS = ["-Wconversion", "-Wshadow", "-Wcast-qual", "-Wstrict-prototypes", "-Wmissing-prototypes"]
SANITIZERS = ["-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
C_DIR = resources.files("anyppg.firmware_bridge") / "c"


def compiler() -> str:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler on this machine")
    return cc


def compile_c(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([compiler(), *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def binaries(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("c")
    built = {}
    for name in ("test_driver", "example_firmware"):
        sources = [str(C_DIR / f"{name}.c"), str(C_DIR / "anyppg_frame.c")]
        exe = out / name
        result = compile_c([*CFLAGS, "-o", str(exe), *sources])
        assert result.returncode == 0, f"{name} does not compile cleanly:\n{result.stderr}"
        built[name] = exe
    # the driver also runs under AddressSanitizer + UBSan where the toolchain has them: an overflow
    # or undefined shift in the encoder then fails the byte-for-byte tests instead of passing silently
    asan = out / "test_driver_asan"
    sources = [str(C_DIR / "test_driver.c"), str(C_DIR / "anyppg_frame.c")]
    if compile_c([*CFLAGS, *SANITIZERS, "-o", str(asan), *sources]).returncode == 0:
        built["test_driver"] = asan
    return built


def test_library_is_clean_under_strict_firmware_warnings(tmp_path):
    result = compile_c(
        [*CFLAGS, *FIRMWARE_CFLAGS, "-c", str(C_DIR / "anyppg_frame.c"), "-o", str(tmp_path / "a.o")]
    )
    assert result.returncode == 0, result.stderr


def drive(binaries, commands: list[str]) -> list[str]:
    result = subprocess.run(
        [str(binaries["test_driver"])],
        input="\n".join(commands) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == len(commands)
    return lines


def f32_bits(x: float) -> str:
    return struct.pack("<f", x)[::-1].hex()  # big-endian hex digits of the float32 bit pattern


def random_frames(n: int, seed: int = 7) -> list[DataFrame]:
    rng = np.random.default_rng(seed)
    all_channels = list(Channel)
    frames = []
    for i in range(n):
        fmt = SampleFormat(i % 3)
        n_ch = int(rng.integers(1, 6))
        n = int(rng.integers(1, 60))
        if fmt is SampleFormat.FLOAT32:
            samples = rng.normal(0, 1e3, (n, n_ch)).astype(np.float32)
        else:
            lo, hi = fmt.limits
            samples = rng.integers(int(lo), int(hi) + 1, (n, n_ch))
            samples[0, 0] = lo  # the extremes are where sign handling goes wrong
            samples[-1, -1] = hi
        frames.append(
            DataFrame(
                seq=int(rng.integers(0, 65536)),
                timestamp_us=int(rng.integers(0, 2**63)) * 2 + 1,
                sample_rate_hz=float(rng.choice([25.0, 55.0, 125.0, 128.0, 135.0, 1000.0, 25.6, 0.001])),
                channels=tuple(all_channels[j] for j in rng.integers(0, len(all_channels), n_ch)),
                fmt=fmt,
                samples=samples,
                scale=float(rng.choice([1.0, 0.5, 1e-6, -3.25, 4.0e3])),
            )
        )
    return frames


def frame_command(f: DataFrame) -> str:
    if f.fmt is SampleFormat.FLOAT32:
        values = [f32_bits(float(v)) for v in f.samples.reshape(-1)]
    else:
        values = [str(int(v)) for v in f.samples.reshape(-1)]
    rate_mhz = round(f.sample_rate_hz * 1000)
    channels = " ".join(str(int(c)) for c in f.channels)
    return (
        f"frame {f.seq} {f.timestamp_us} {rate_mhz} {int(f.fmt)} {f32_bits(f.scale)} "
        f"{len(f.channels)} {channels} {f.n_samples} {' '.join(values)}"
    )


def test_data_frames_match_python_byte_for_byte(binaries):
    frames = random_frames(240)
    lines = drive(binaries, [frame_command(f) for f in frames])
    for f, line in zip(frames, lines, strict=True):
        assert line == bytes(f).hex(), f
        assert DataFrame.from_bytes(bytes.fromhex(line)) == f


def test_crc_matches(binaries):
    rng = np.random.default_rng(3)
    blobs = [b"123456789", b"\x00", bytes(300)] + [rng.bytes(int(k)) for k in rng.integers(1, 400, 40)]
    lines = drive(binaries, [f"crc {b.hex()}" for b in blobs])
    assert lines[0] == "29b1"
    assert [int(x, 16) for x in lines] == [crc16(b) for b in blobs]


def test_mtu_sizing_matches(binaries):
    cases = [(mtu, n_ch, fmt) for mtu in (0, 23, 30, 40, 64, 100, 185, 247, 251, 512, 517) for n_ch in (1, 2, 4, 16) for fmt in SampleFormat]  # fmt: skip
    lines = drive(binaries, [f"max {mtu} {n_ch} {int(fmt)}" for mtu, n_ch, fmt in cases])
    for (mtu, n_ch, fmt), line in zip(cases, lines, strict=True):
        try:
            expected = max_samples_per_frame(mtu or None, n_ch, fmt)
        except AnyPPGError:
            expected = 0  # the C API says "0 samples fit"
        assert int(line) == expected, (mtu, n_ch, fmt)


def test_info_envelope_and_control_match(binaries):
    info = DeviceInfo(55.0, (Channel.PPG_GREEN, Channel.PPG_RED, Channel.PPG_IR, Channel.PPG_AMBIENT), SampleFormat.INT24, ("counts", "counts", "counts", "lux"), "fw-2.3.1")  # fmt: skip
    controls = ["01", "02", "04", "0348e80100", "03ccd80000", "0300000000", "09", "0101", "0348e801", "-"]
    lines = drive(
        binaries,
        [
            "info 55000 1 4 1 2 3 4 counts counts counts lux fw-2.3.1",
            "info 125000 0 1 16 - -",
            "info 125000 0 3 1 2 3 " + " ".join(["u" * 200] * 3) + " fw",  # 617 bytes > 512
            f"envelope 2 {bytes(info).hex()}",
            "envelope 3 -",
            *[f"control {c}" for c in controls],
        ],
    )
    assert lines[0] == bytes(info).hex()
    assert lines[1] == bytes(DeviceInfo(125.0, (Channel.ECG,), SampleFormat.INT16, ("",), "")).hex()
    assert lines[2] == "E-1"
    with pytest.raises(AnyPPGError):  # Python refuses the same packet
        DeviceInfo(125.0, (Channel.PPG_GREEN, Channel.PPG_RED, Channel.PPG_IR), units=("u" * 200,) * 3)
    assert lines[3] == encode_envelope(2, bytes(info)).hex()
    assert lines[4] == encode_envelope(3, b"").hex()
    for hex_, line in zip(controls, lines[5:], strict=True):
        try:
            cmd = ControlCommand.from_bytes(bytes.fromhex(hex_) if hex_ != "-" else b"")
        except AnyPPGError:
            assert line == "E-4", hex_
            continue
        rate = 0 if cmd.sample_rate_hz is None else round(cmd.sample_rate_hz * 1000)
        assert line == f"{int(cmd.opcode)} {rate}"


def test_bad_input_gives_error_codes_and_writes_nothing(binaries):
    lines = drive(
        binaries,
        [
            "frame 0 0 125000 0 3f800000 1 1 2 40000 1",  # 40000 does not fit int16
            "frame 0 0 125000 1 3f800000 1 1 1 8388608",  # nor 2**23 int24
            "frame 0 0 0 0 3f800000 1 1 1 1",  # rate 0
            "frame 0 0 125000 7 3f800000 1 1 1 1",  # unknown format
            "frame 0 0 125000 0 7fc00000 1 1 1 1",  # NaN scale
            "frame 0 0 125000 0 3f800000 1 1 5000 " + " ".join(["1"] * 5000),  # body over 8192 bytes
        ],
    )
    assert lines == ["E-3", "E-3", "E-1", "E-1", "E-1", "E-1"]


@pytest.mark.parametrize(("mtu", "per_frame"), [(247, 35), (64, 5), (0, 125)])
def test_example_firmware_stream_decodes(binaries, mtu, per_frame):
    out = subprocess.run(
        [str(binaries["example_firmware"]), "40", str(mtu)], capture_output=True, timeout=60, check=True
    ).stdout
    d = Deframer()
    frames = d.feed(out)
    errors = {k: v for k, v in d.stats.as_dict().items() if k not in ("bytes_in", "frames_ok", "packets_ok")}
    assert set(errors.values()) == {0}, errors
    assert [f.seq for f in frames] == list(range(40))
    assert all(f.n_samples == per_frame for f in frames)
    if mtu:
        assert all(len(bytes(f)) <= mtu - 3 for f in frames)
    info = d.packets[0]
    assert info.firmware_version == "example-1.0" and info.sample_rate_hz == 125.0
    assert info.channels == frames[0].channels == (Channel.PPG_GREEN, Channel.PPG_AMBIENT)
    # one unbroken time line: each frame starts where the previous one ended
    for a, b in itertools.pairwise(frames):
        assert b.timestamp_us == a.end_timestamp_us
    green = np.concatenate([f.channel(Channel.PPG_GREEN) for f in frames])
    # the synthetic pulse beats at 72 bpm: its spectrum peaks at 1.2 Hz
    spectrum = np.abs(np.fft.rfft(green - green.mean()))
    peak_hz = np.fft.rfftfreq(green.size, 1 / 125)[spectrum.argmax()]
    assert abs(peak_hz - 1.2) < 125 / green.size + 1e-9


def test_decode_frames_example_reads_the_firmware_stream(binaries):
    stream = subprocess.run(
        [str(binaries["example_firmware"]), "5", "247"], capture_output=True, timeout=60, check=True
    ).stdout
    script = Path(__file__).resolve().parents[2] / "examples" / "decode_frames.py"
    result = subprocess.run(
        [sys.executable, str(script), "--json", "-"],
        input=stream,
        capture_output=True,
        timeout=120,
        check=True,
    )
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [line["seq"] for line in lines[:-1]] == [0, 1, 2, 3, 4]
    assert lines[0]["channels"]["PPG_GREEN"]["min"] >= 400_000
    assert lines[-1]["stats"]["frames_ok"] == 5 and lines[-1]["stats"]["crc_errors"] == 0
    assert b"example-1.0" in result.stderr  # the INFO frame is logged


def test_example_firmware_over_a_real_pty(binaries):
    """The C firmware writes to a pseudo-terminal, as a USB-CDC device would; the host reads the master."""
    master, slave = pty.openpty()
    tty.setraw(slave)  # a tty in cooked mode would turn 0x0A into 0x0D 0x0A and corrupt frames
    proc = subprocess.Popen([str(binaries["example_firmware"]), "30", "0"], stdout=slave)
    os.close(slave)
    d, frames = Deframer(), []
    try:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the writer closed its side
                break
            if not chunk:
                break
            frames += d.feed(chunk)
    finally:
        os.close(master)
        assert proc.wait(timeout=60) == 0
    assert [f.seq for f in frames] == list(range(30))
    assert d.stats.crc_errors == 0 and d.stats.garbage_bytes == 0
