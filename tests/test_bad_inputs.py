"""Every input error is one line naming the file / URL / option and what is expected, a non-zero exit
code, and no traceback: the reported cases one by one, then property tests that corrupt valid files,
URLs and cards at random and fail on any exception that is not an :class:`AnyPPGError`."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import anyppg
from anyppg.cli import main
from anyppg.errors import AnyPPGError, ModelLoadError
from anyppg.model_card import ModelCard
from anyppg.sdk.replay_files import load_replay
from anyppg.sdk.urls import parse_url
from anyppg.trainer.sources import CsvSource, NpzSource

ASSETS = Path(anyppg.__file__).parent / "assets"
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _error_line(err: str, command: str) -> str:
    """The one ``anyppg COMMAND: error: ...`` line; a traceback or a second error line fails."""
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith(f"anyppg {command}: error:")]
    assert len(errors) == 1, err
    return errors[0]


# --- valid fixtures the fuzzing starts from ---------------------------------------------------------


def _ppg(n: int = 320, rate: float = 64.0) -> np.ndarray:
    return np.sin(2 * np.pi * 1.2 * np.arange(n) / rate)


def _write_npz(path: Path, **arrays) -> Path:
    with path.open("wb") as f:
        np.savez(f, **arrays)
    return path


def _valid_npz(path: Path) -> Path:
    return _write_npz(path, ppg=_ppg(), fs=np.float64(64.0), acc=np.zeros((320, 3)))


def _valid_csv(path: Path) -> Path:
    rows = "".join(f"{i / 64!r},{v!r},0.0,0.0,1.0\n" for i, v in enumerate(_ppg().tolist()))
    path.write_text("t,ppg,acc_x,acc_y,acc_z\n" + rows)
    return path


def _valid_wfdb(folder: Path) -> Path:
    wfdb = pytest.importorskip("wfdb")
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(
        "rec",
        fs=64,
        units=["au"],
        sig_name=["PPG"],
        p_signal=_ppg()[:, None],
        fmt=["16"],
        adc_gain=[1000.0],
        baseline=[0],
        write_dir=str(folder),
    )
    return folder


# --- the reported cases, one by one ---------------------------------------------------------------


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, a phrase the error must contain)."""
    good = _valid_npz(tmp / "good.npz").read_bytes()
    (tmp / "empty.npz").write_bytes(b"")
    (tmp / "truncated.npz").write_bytes(good[: len(good) // 2])
    (tmp / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (tmp / "header_only.csv").write_text("t,ppg\n")
    (tmp / "one_column.csv").write_text("t\n0\n0.1\n")
    (tmp / "missing_acc.csv").write_text("t,ppg,acc_x\n0,1,0\n0.1,2,0\n")
    cases = {
        "npz member bomb": (_npz_bomb(tmp / "bomb.npz"), "declares shape (100000000000,)"),
        "empty npz": (tmp / "empty.npz", "file is empty"),
        "truncated npz": (tmp / "truncated.npz", "not a readable NPZ"),
        "fs array": (
            _write_npz(tmp / "fs_array.npz", ppg=_ppg(), fs=np.full(3, 64.0)),
            "'fs' must be one number",
        ),
        "fs 1e7": (_write_npz(tmp / "fs_big.npz", ppg=_ppg(), fs=np.float64(1e7)), "outside 1-10000 Hz"),
        "ppg (40, n)": (
            _write_npz(tmp / "ppg_40n.npz", ppg=np.zeros((40, 320)), fs=64.0),
            "at most 16 channels",
        ),
        "csv header only": (tmp / "header_only.csv", "0 data rows"),
        "csv one column": (tmp / "one_column.csv", "must start with 't,ppg'"),
        "csv missing acc": (tmp / "missing_acc.csv", "acc needs all of acc_x,acc_y,acc_z"),
        "csv binary": (tmp / "binary.csv", "binary"),
    }
    if _has_wfdb():
        corrupt = _valid_wfdb(tmp / "wfdb_corrupt_header")
        (corrupt / "rec.hea").write_bytes(bytes(range(256)))
        missing = _valid_wfdb(tmp / "wfdb_missing_dat")
        (missing / "rec.dat").unlink()
        cut = _valid_wfdb(tmp / "wfdb_truncated_dat")
        (cut / "rec.dat").write_bytes((cut / "rec.dat").read_bytes()[:101])
        huge = _valid_wfdb(tmp / "wfdb_huge_length")
        header = (huge / "rec.hea").read_text().splitlines()
        (huge / "rec.hea").write_text("\n".join(["rec 1 64 99999999999", *header[1:]]) + "\n")
        cases["wfdb huge length"] = (huge, "header declares 99,999,999,999 samples")  # not 186 GiB
        cases["wfdb corrupt header"] = (corrupt, "not a readable WFDB record")
        cases["wfdb missing dat"] = (missing, "rec.dat is missing")
        cases["wfdb truncated dat"] = (cut, "not a readable WFDB record")
    return cases


def _npz_bomb(path: Path) -> Path:
    """A valid zip whose 'ppg' member declares 10^11 float64 (745 GiB) and holds 800 bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**11,)})
    fs = io.BytesIO()
    np.save(fs, np.float64(64.0))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ppg.npy", header.getvalue() + bytes(800))
        archive.writestr("fs.npy", fs.getvalue())
    return path


def _has_wfdb() -> bool:
    try:
        import wfdb  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    return _bad_files(tmp_path_factory.mktemp("bad"))


CASES = [
    "npz member bomb",
    "empty npz",
    "truncated npz",
    "fs array",
    "fs 1e7",
    "ppg (40, n)",
    "csv header only",
    "csv one column",
    "csv missing acc",
    "csv binary",
    "wfdb corrupt header",
    "wfdb missing dat",
    "wfdb truncated dat",
    "wfdb huge length",
]


@pytest.mark.parametrize("case", CASES)
def test_each_bad_recording_is_one_line_naming_the_file(case, bad_files, capsys):
    if case not in bad_files:
        pytest.skip("wfdb is not installed")
    path, phrase = bad_files[case]
    with pytest.raises(AnyPPGError) as info:
        load_replay(path)
    assert "\n" not in str(info.value) and phrase in str(info.value)
    assert main(["stream", f"replay:{path}", "--speed", "max", "--model", "none"]) == 1
    line = _error_line(capsys.readouterr().err, "stream")
    assert path.name in line and phrase in line


@pytest.mark.parametrize("layout", ["samples first", "channels first"])
def test_a_multichannel_ppg_replays_every_channel(tmp_path, layout):
    ppg = np.column_stack([_ppg(), -_ppg()])  # (n, 2): two wavelengths
    stored = ppg if layout == "samples first" else ppg.T  # the data folder stores (channels, n)
    data = load_replay(_write_npz(tmp_path / "two.npz", ppg=stored, fs=np.float64(64.0)))
    np.testing.assert_array_equal(data.ppg, ppg)
    np.testing.assert_array_equal(data.ppg0, ppg[:, 0])
    assert data.ppg_channels == 2


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("sim:?seed=-1", "seed=-1 must be a non-negative integer"),
        ("sim:?rate=1e5&duration=86400", "at most 5e+07"),
        ("sim:?rate=nan", "must be positive"),
        ("sim:?drop=2", "probability"),
        ("sim:?hr=500&duration=5", "heart_rate=500"),
        ("sim:?block=abc", "block='abc' must be an integer"),
    ],
)
def test_bad_sim_options_are_one_line(url, phrase, capsys):
    assert main(["stream", url, "--speed", "max", "--model", "none"]) == 1
    line = _error_line(capsys.readouterr().err, "stream")
    assert phrase in line


@pytest.mark.parametrize(
    ("option", "value"),
    [("--hci-port", "99999"), ("--hci-port", "-1"), ("--max-samples", "0"), ("--duration", "nan")],
)
def test_bad_emulate_options_are_one_line(option, value, capsys):
    assert main(["emulate", option, value]) == 2
    line = _error_line(capsys.readouterr().err, "emulate")
    assert option in line and repr(value) in line


def test_emulate_bad_port_exits_2_without_a_traceback_in_a_real_process():
    proc = subprocess.run(
        [sys.executable, "-m", "anyppg", "emulate", "--hci-port", "99999"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "0-65535" in _error_line(proc.stderr, "emulate")


def test_a_binary_or_garbled_model_card_is_one_line(tmp_path, capsys):
    pytest.importorskip("ai_edge_litert")
    model = tmp_path / "student-s_litert_q8.tflite"
    shutil.copyfile(ASSETS / "student-s_litert_q8.tflite", model)
    card = model.with_suffix(".json")
    for content, phrase in [
        (bytes(range(256)), "not UTF-8"),
        (b'{"name": "x", "inputs": [{"name": "ppg", "shape": "1250"}]', "not valid JSON"),
        (
            b'{"name": "x", "format": "tflite", "backend": "litert", "precision": "q8", "inputs": [], "outputs": []}',
            "non-empty list",
        ),
        (b"[1, 2, 3]", "must be a JSON object"),
    ]:
        card.write_bytes(content)
        assert main(["stream", "sim:?duration=1", "--speed", "max", "--model", str(model)]) == 1
        line = _error_line(capsys.readouterr().err, "stream")
        assert str(card) in line and phrase in line


def test_prepare_refuses_a_source_that_gives_no_windows(tmp_path, capsys):
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "a.npz").write_bytes(os.urandom(300))
    assert main(["prepare", "--source", f"npz:{garbage}", "--out", str(tmp_path / "s1")]) == 1
    line = _error_line(capsys.readouterr().err, "prepare")
    assert "no windows" in line and "could not be read" in line
    assert not (tmp_path / "s1").exists()

    short = tmp_path / "short"
    short.mkdir()
    _write_npz(short / "b.npz", ppg=_ppg(5 * 64), fs=np.float64(64.0))  # 5 s: valid but too short
    assert main(["prepare", "--source", f"npz:{short}", "--out", str(tmp_path / "s2")]) == 1
    line = _error_line(capsys.readouterr().err, "prepare")
    assert "at least 12 s of NaN-free PPG" in line


def test_prepare_garbage_exits_1_in_a_real_process(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"PK\x03\x04" + os.urandom(200))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "anyppg",
            "prepare",
            "--source",
            f"npz:{tmp_path}",
            "--out",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "no windows" in _error_line(proc.stderr, "prepare")


# --- property tests: corrupted files, cards and URLs ------------------------------------------------


@st.composite
def _corruptions(draw, size: int):
    """A way to damage a file of ``size`` bytes: cut it, overwrite some bytes, or splice in garbage."""
    kind = draw(st.sampled_from(["truncate", "flip", "splice", "replace"]))
    if kind == "truncate":
        return kind, draw(st.integers(0, max(size - 1, 0))), b""
    if kind == "replace":
        return kind, 0, draw(st.binary(min_size=0, max_size=200))
    at = draw(st.integers(0, max(size - 1, 0)))
    return kind, at, draw(st.binary(min_size=1, max_size=16))


def _damage(data: bytes, corruption) -> bytes:
    kind, at, junk = corruption
    if kind == "truncate":
        return data[:at]
    if kind == "replace":
        return junk
    if kind == "flip":
        return data[:at] + junk + data[at + len(junk) :]
    return data[:at] + junk + data[at:]


def _assert_reads_or_one_line_error(read, path: Path) -> None:
    try:
        read()
    except AnyPPGError as exc:
        message = str(exc)
        assert "\n" not in message, message
        assert path.name in message or path.parent.name in message, message


@pytest.mark.parametrize("fmt", ["npz", "csv", "journal"])
@FUZZ
@given(data=st.data())
def test_fuzz_replay_readers_raise_only_one_line_anyppg_errors(fmt, data, tmp_path):
    path = tmp_path / f"rec.{fmt}"
    if fmt == "journal":
        rows = np.column_stack([np.arange(320) / 64, _ppg(), np.zeros((320, 3))])
        original = rows.astype("<f8").tobytes()
    else:
        original = (_valid_npz if fmt == "npz" else _valid_csv)(path).read_bytes()
    path.write_bytes(_damage(original, data.draw(_corruptions(len(original)))))
    _assert_reads_or_one_line_error(lambda: load_replay(path), path)
    if fmt != "journal":
        source = (NpzSource if fmt == "npz" else CsvSource)(path)
        _assert_reads_or_one_line_error(lambda: source.read(path), path)
        assert len(list(source.records())) + sum(source.skipped.values()) == 1


@pytest.mark.parametrize("member", ["rec.hea", "rec.dat"])
@FUZZ
@given(data=st.data())
def test_fuzz_wfdb_reader_raises_only_one_line_anyppg_errors(member, data, tmp_path):
    folder = _valid_wfdb(tmp_path / "wfdb")
    target = folder / member
    original = target.read_bytes()
    target.write_bytes(_damage(original, data.draw(_corruptions(len(original)))))
    _assert_reads_or_one_line_error(lambda: load_replay(folder), target)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(data=st.data())
def test_fuzz_model_cards_raise_only_one_line_model_load_errors(data, tmp_path):
    original = (ASSETS / "student-s_litert_q8.json").read_bytes()
    card = tmp_path / "card.json"
    choice = data.draw(st.sampled_from(["damage", "json", "field"]))
    if choice == "damage":
        card.write_bytes(_damage(original, data.draw(_corruptions(len(original)))))
    elif choice == "json":
        card.write_text(json.dumps(data.draw(_JSON)))
    else:  # a valid card with one field replaced by arbitrary JSON
        fields = json.loads(original)
        fields[data.draw(st.sampled_from(sorted(fields)))] = data.draw(_JSON)
        card.write_text(json.dumps(fields))
    try:
        ModelCard.load(card)
    except ModelLoadError as exc:
        assert "\n" not in str(exc) and str(card) in str(exc)


_NASTY = st.sampled_from(
    ["-1", "0", "nan", "inf", "-inf", "1e309", "1e5", "", "abc", "2.5", "99999999999999999999", "-0"]
)
_SIM_KEYS = st.sampled_from(
    [
        "hr",
        "rhythm",
        "motion",
        "seed",
        "rate",
        "duration",
        "speed",
        "block",
        "drop",
        "dup",
        "reorder",
        "disconnect_at",
        "down",
    ]
)


@FUZZ
@given(options=st.dictionaries(_SIM_KEYS, _NASTY, min_size=1, max_size=4))
def test_fuzz_sim_urls_raise_only_one_line_anyppg_errors(options):
    options.setdefault("speed", "max")
    options["duration"] = (
        "2"
        if options.get("duration") in ("inf", "1e309", "1e5", "99999999999999999999")
        else options.get("duration", "2")
    )
    url = "sim:?" + "&".join(f"{k}={v}" for k, v in options.items())

    async def first_block() -> None:
        async with anyppg.connect(url) as device:
            async for _ in device.samples():
                break

    try:
        asyncio.run(first_block())
    except AnyPPGError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(options=st.dictionaries(st.sampled_from(["speed", "block"]), _NASTY, min_size=1, max_size=2))
def test_fuzz_replay_url_options_raise_only_one_line_anyppg_errors(options, tmp_path):
    path = _valid_npz(tmp_path / "rec.npz")
    if options.get("speed", "max") not in ("-1", "0", "nan", "-inf", "", "abc", "-0"):
        options["speed"] = "max"  # a valid pace: do not wait in real time
    url = f"replay:{path}?" + "&".join(f"{k}={v}" for k, v in options.items())

    async def drain() -> int:
        async with anyppg.connect(url) as device:
            return sum([len(b) async for b in device.samples()])

    try:
        assert asyncio.run(drain()) == 320
    except AnyPPGError as exc:
        assert "\n" not in str(exc) and url in str(exc)


@FUZZ
@given(text=st.text(max_size=40))
def test_fuzz_any_url_text_raises_only_anyppg_errors(text):
    try:
        parse_url(text)
    except AnyPPGError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize("fmt", ["npz", "csv"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_cli_never_shows_a_traceback(fmt, data, tmp_path, capsys):
    """The real CLI on damaged recordings: exit 0, or exit 1 with exactly one error line; never an exception."""
    path = tmp_path / f"rec.{fmt}"
    original = (_valid_npz if fmt == "npz" else _valid_csv)(path).read_bytes()
    path.write_bytes(_damage(original, data.draw(_corruptions(len(original)))))
    out = tmp_path / "copy.npz"
    out.unlink(missing_ok=True)
    capsys.readouterr()
    for argv, command in [
        (["stream", f"replay:{path}", "--speed", "max", "--model", "none"], "stream"),
        (["record", f"replay:{path}", str(out), "--speed", "max"], "record"),
    ]:
        rc = main(argv)
        err = capsys.readouterr().err
        assert "Traceback" not in err
        if rc != 0:
            assert rc == 1
            assert path.name in _error_line(err, command)


_DTYPES = st.sampled_from(["<f8", "<f4", "<i2", "|u1", "|b1", "<c16", "<U3"])


@st.composite
def _npz_arrays(draw) -> dict[str, np.ndarray]:
    """Well-formed NPZ archives with arbitrary content: dtypes, shapes, NaN, inf, 1e308, t going backwards."""
    from hypothesis.extra import numpy as hnp

    n = draw(st.integers(0, 40))
    arrays: dict[str, np.ndarray] = {}
    # the PPG under any of the names the reader takes: one array, a camera's, or one per wavelength
    ppg_keys = draw(st.sampled_from([("ppg",), ("ppg_rgb",), ("ppg_ir",), ("ppg_ir", "ppg_red")]))
    for key, shapes in (
        *((k, [(n,), (n, 2), (2, n), (n, 1, 1), (max(n - 1, 0),)]) for k in ppg_keys),
        (draw(st.sampled_from(["t", "t_ppg"])), [(n,), (n, 2)]),
        ("acc", [(n, 3), (n,), (3, n)]),
        ("fs", [(), (2,)]),
    ):
        if key not in ppg_keys and draw(st.booleans()):
            continue
        dtype = draw(_DTYPES)
        shape = draw(st.sampled_from(shapes))
        width = {"<f8": 64, "<f4": 32}.get(dtype)
        elements = st.floats(allow_nan=True, allow_infinity=True, width=width) if width else None
        arrays[key] = draw(hnp.arrays(dtype, shape, elements=elements))
    return arrays


@FUZZ
@given(arrays=_npz_arrays())
def test_fuzz_npz_content_raises_only_one_line_anyppg_errors(arrays, tmp_path):
    path = _write_npz(tmp_path / "arrays.npz", **arrays)
    _assert_reads_or_one_line_error(lambda: load_replay(path), path)
    source = NpzSource(path)
    _assert_reads_or_one_line_error(lambda: source.read(path), path)
    assert len(list(source.records())) + sum(source.skipped.values()) == 1


_SPEC_KEYS = st.sampled_from(
    ["hr", "motion", "seed", "rate", "drop", "corrupt", "disconnect_every", "duplicate", "x", ""]
)
_SPEC = st.lists(st.tuples(_SPEC_KEYS, _NASTY), max_size=4).map(
    lambda kv: ",".join(f"{k}={v}" for k, v in kv)
)


@FUZZ
@given(spec=_SPEC, text=st.text(max_size=20))
def test_fuzz_emulate_and_prepare_option_parsers_raise_only_one_line_anyppg_errors(spec, text):
    """What ``anyppg emulate --source/--faults/--speed`` and ``anyppg prepare --source`` parse."""
    from anyppg.firmware_bridge.emulator.faults import FaultSpec
    from anyppg.firmware_bridge.emulator.sources import parse_source, parse_speed
    from anyppg.trainer.sources import open_source

    for parse, value in [
        (parse_source, f"sim:{spec}"),
        (parse_source, text),
        (FaultSpec.parse, spec),
        (parse_speed, text),
        (open_source, text),
    ]:
        try:
            parse(value)
        except AnyPPGError as exc:
            assert "\n" not in str(exc)
