"""The README's shell commands run, so the README cannot drift from the code.

Every fenced ``sh`` block of README.md is split into commands; each command is rewritten to its
smallest settings by :data:`RULES` (or skipped, with the reason printed) and run, in order, in a
fresh folder per block, so each block's commands feed each other exactly as a reader would run them
(``prepare`` writes the store ``pretrain`` reads, ``record`` writes the file ``stream replay:`` reads).

The mapping, in one place:

================================= ===================================================================
README says                       the suite runs
================================= ===================================================================
``make demo``                     ``anyppg demo --duration 20`` (what it runs, on 20 s of the recording)
``make test`` / ``make assets``   skipped: the suite itself / minutes of retraining (each step is tested)
``torchrun --nproc_per_node=8``   skipped: needs 8 GPUs (DDP runs under torchrun in tests/trainer/test_ddp.py)
``ble:AnyPPG-1234``               an anyppg BLE emulator started by the test (bumble, loopback HCI)
``polar:"Polar Sense B5"``        a Polar PMD BLE emulator started by the test
``serial:/dev/ttyACM0``           a serial (pty) emulator started by the test
``anyppg scan``                   ``--transport <the BLE emulator's HCI> --timeout 3``
``... # terminal 1``              started in the background; the next command runs once it is ready
port ``9001`` (or none given)     a free port
``--hours N``                     ``--hours 0.5``
``anyppg emulate`` (foreground)   ``--duration 2``
``anyppg stream``                 ``--speed max`` for sim:/replay:, ``--duration 8`` (wall clock) for devices
``anyppg record``                 ``--duration 14`` (seconds of signal: one window after 2 s of settling)
``anyppg demo``                   ``--duration 20``
``pretrain --preset demo``        ``--steps 2 --ecg-steps 2 --batch-size 4`` (same encoder, same store)
``anyppg eval``                   ``--n-boot 20 --max-windows 200 --real ''``
``anyppg distill``                ``--epochs 1 --max-train 64 --max-val 32 --no-real``
``anyppg export``                 ``--calibration-windows 16 --latency-runs 0``
``anyppg bench``                  ``student-s --format eager,tflite --artifacts runs/export --threads 1 --runs 3``
================================= ===================================================================
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


@dataclass(frozen=True)
class Rule:
    """A rewrite of README commands matching ``pattern`` (a regex): ``skip`` a reason, or an edit."""

    pattern: str
    why: str
    skip: bool = False
    sub: tuple[str, str] | None = None  # regex replacement applied to the command
    append: str = ""  # options added at the end
    foreground_only: bool = False  # not for a command the README runs in another terminal


RULES: tuple[Rule, ...] = (
    Rule(r"^make test\b", "the test suite itself", skip=True),
    Rule(r"^make assets\b", "retrains, redistils and re-exports the shipped models; each step is tested", skip=True),
    Rule(r"^torchrun .*--nproc_per_node=8", "needs 8 GPUs; DDP under torchrun: tests/trainer/test_ddp.py", skip=True),
    Rule(r"^make demo\b", "what `make demo` runs, on 20 s of the recording", sub=(r"^make demo", "anyppg demo")),
    Rule(r"^anyppg demo\b", "20 s of the recording", append="--duration 20"),
    Rule(r"\bble:AnyPPG-1234\b", "an anyppg BLE emulator", sub=(r"ble:AnyPPG-1234", "{ble}")),
    Rule(r'polar:"Polar Sense B5"', "a Polar PMD BLE emulator", sub=(r'polar:"Polar Sense B5"', "{polar}")),
    Rule(r"serial:/dev/ttyACM0", "a serial emulator", sub=(r"serial:/dev/ttyACM0", "{serial}")),
    Rule(r"\b9001\b", "a free port", sub=(r"\b9001\b", "{port}")),
    Rule(r"^(?!.*--transport serial)(?!.*--hci-port)anyppg emulate\b", "any free port", append="--hci-port 0"),
    Rule(r"--hours \S+", "a small simulated store", sub=(r"--hours \S+", "--hours 0.5")),
    Rule(r"^anyppg emulate\b", "stops by itself", append="--duration 2", foreground_only=True),
    Rule(r"^anyppg stream\b.*(sim:|replay:)", "as fast as it computes", sub=(r"--speed \S+", "--speed max")),
    Rule(r"^anyppg stream\b.*\{(ble|polar|serial|port)", "devices stream until stopped", append="--duration 8"),
    Rule(r"^anyppg record\b", "14 s of signal: enough for one window", append="--duration 14"),
    Rule(r"^anyppg scan\b(?!.*--transport)", "the emulators' radio", append="--transport {ble_hci} --timeout 3"),
    Rule(r"^anyppg pretrain --preset demo\b", "two steps per stage", append="--steps 2 --ecg-steps 2 --batch-size 4"),
    Rule(r"^anyppg eval\b", "fewer resamples, no real data", append="--n-boot 20 --max-windows 200 --real ''"),
    Rule(r"^anyppg distill\b", "one epoch on few windows", append="--epochs 1 --max-train 64 --max-val 32 --no-real"),
    Rule(r"^anyppg export\b", "small calibration, no timing", append="--calibration-windows 16 --latency-runs 0"),
    Rule(r"^anyppg bench\b", "the student just exported, few runs; .pte loads are timed in tests/quantization",
         sub=(r"^anyppg bench", "anyppg bench student-s --format eager,tflite --artifacts runs/export --threads 1 --runs 3 --warmup 1")),
)  # fmt: skip


@dataclass
class Step:
    """One README command and what the suite does with it."""

    original: str
    command: str | None  # None: skipped
    why: list[str]
    background: bool = False


def readme_blocks(text: str | None = None) -> list[list[str]]:
    """The commands of each fenced ``sh`` block (comments kept, continuation lines joined)."""
    text = README.read_text() if text is None else text
    blocks = []
    for body in re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M):
        commands = []
        for line in body.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(line.strip())
        blocks.append(commands)
    return blocks


def plan(command: str) -> Step:
    """Apply :data:`RULES` to one README command."""
    code, _, comment = command.partition(" # ")
    code = code.strip()
    step = Step(command, code, [], background="terminal 1" in comment)
    for rule in RULES:  # each rule sees the command as the rules before it left it
        if not re.search(rule.pattern, code) or (rule.foreground_only and step.background):
            continue
        step.why.append(rule.why)
        if rule.skip:
            step.command = None
            return step
        if rule.sub is not None:
            code = re.sub(rule.sub[0], rule.sub[1], code)
        if rule.append:
            code = f"{code} {rule.append}"
    step.command = code
    return step


def argv_of(command: str, values: dict[str, str]) -> list[str]:
    words = shlex.split(command.format(**values))
    if words[0] == "anyppg":
        return [sys.executable, "-m", "anyppg", *words[1:]]
    return words


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(proc: subprocess.Popen[str], pattern: str, timeout: float = 60) -> str:
    """Read ``proc``'s output until a line matches ``pattern``; return that line."""
    deadline = time.monotonic() + timeout
    seen = []
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no line matching {pattern!r} within {timeout} s:\n{''.join(seen)[-3000:]}")


def start(argv: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture
def devices(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Emulators standing in for the README's devices: ``{ble}``, ``{polar}``, ``{serial}`` URLs."""
    anyppg = [sys.executable, "-m", "anyppg", "emulate", "--speed", "10", "--json", "--stats-every", "0"]
    specs = {
        "ble": [*anyppg, "--profile", "anyppg", "--name", "AnyPPG-1234", "--hci-port", "0"],
        "polar": [*anyppg, "--profile", "polar", "--name", "Polar Sense B5", "--hci-port", "0"],
        "serial": [*anyppg, "--transport", "serial"],
    }
    procs, urls = [], {}
    try:
        for argv in specs.values():
            procs.append(start(argv, tmp_path))
        for key, proc in zip(specs, procs, strict=True):
            ready = json.loads(wait_for(proc, r'^\{"event": "ready"'))
            urls[key] = shlex.quote(ready["url"])
            if key == "ble":
                urls["ble_hci"] = ready["central_transport"]  # what a central scans through
        yield urls
    finally:
        for proc in procs:
            stop(proc)


def test_every_readme_command_has_a_plan_and_parses():
    """Fast drift check: each command is run or skipped with a reason, and its options exist."""
    from anyppg.cli import COMMANDS, parse_args

    names = {c.name for c in COMMANDS}
    values = {
        "ble": "ble:X",
        "polar": "polar:X",
        "serial": "serial:X",
        "port": "1",
        "ble_hci": "tcp-client:h:1",
    }
    steps = [plan(c) for block in readme_blocks() for c in block]
    assert len(steps) >= 15
    for step in steps:
        if step.command is None:
            assert step.why, step.original
            continue
        words = argv_of(step.command, values)
        if words[:3] == [sys.executable, "-m", "anyppg"]:
            assert words[3] in names, step.original
            parse_args(words[3:])  # raises UsageError on an option the CLI does not have
            parse_args(shlex.split(step.original.partition(" # ")[0])[1:])  # as printed, too


def _blocks_with_commands() -> list[int]:
    return [i for i, block in enumerate(readme_blocks()) if block]


@pytest.mark.slow
@pytest.mark.parametrize("block", _blocks_with_commands())
def test_readme_block_runs(block: int, tmp_path: Path, request: pytest.FixtureRequest, capsys):
    steps = [plan(c) for c in readme_blocks()[block]]
    values = {"port": str(free_port())}
    if any(s.command and re.search(r"\{(ble|polar|serial|ble_hci)\}", s.command) for s in steps):
        values.update(request.getfixturevalue("devices"))
    background = []
    try:
        for step in steps:
            with capsys.disabled():
                print(
                    f"\nREADME: {step.original}\n   ran: {step.command or 'skipped'} ({'; '.join(step.why) or 'as is'})"
                )
            if step.command is None:
                continue
            argv = argv_of(step.command, values)
            if step.background:
                proc = start(argv, tmp_path)
                background.append(proc)
                wait_for(proc, r"advertising|connect with|\"event\": \"ready\"")
                continue
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
            assert done.returncode == 0, (
                f"README command failed ({done.returncode}): {step.original}\nran: {step.command}\n"
                f"{(done.stdout + done.stderr)[-4000:]}"
            )
            assert "Traceback" not in done.stderr, done.stderr[-4000:]
            if "--json" in argv:
                lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
                assert lines and not any("error" in line for line in lines), done.stdout[-2000:]
    finally:
        for proc in background:
            stop(proc)
