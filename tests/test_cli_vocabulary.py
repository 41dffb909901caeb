"""The command line speaks one vocabulary: every subcommand's ``--help`` uses the same option names.

Walks :data:`anyppg.cli.COMMANDS` through the real parser (what ``--help`` prints), checks the shared
options are accepted before and after the command, that old spellings are hidden aliases that still
work and say so once, and that errors under ``--json`` are one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import re

import pytest

from anyppg import cli_options
from anyppg.cli import COMMANDS, build_parser, main, parse_args

SHARED = {"--json", "-q", "--quiet", "-v", "--verbose", "-h", "--help"}
# Old or competing spellings; each may exist only as a hidden alias.
RETIRED = {"--formats", "--precisions", "--backend", "--no-progress", "--output", "--seconds", "--silent"}
# One concept, one name: a command offering the concept must use this spelling.
CANONICAL = {"format": "--format", "precision": "--precision", "out": "--out", "threads": "--threads"}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _visible(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.help is not argparse.SUPPRESS]


def test_every_command_is_built_and_has_help(capsys):
    subparsers = _subparsers()
    assert set(subparsers) == {c.name for c in COMMANDS}
    for name in subparsers:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert text.startswith(f"usage: anyppg {name}")
        assert "shared options (before or after the command)" in text
        for retired in RETIRED:
            assert not re.search(rf"(?<![\w-]){re.escape(retired)}(?![\w-])", text), (name, retired)


@pytest.mark.parametrize("name", [c.name for c in COMMANDS])
def test_option_names_are_the_shared_vocabulary(name):
    parser = _subparsers()[name]
    visible = _visible(parser)
    strings = {s for a in visible for s in a.option_strings}
    assert strings >= SHARED, f"anyppg {name} lacks {SHARED - strings}"
    assert not strings & RETIRED, f"anyppg {name} shows retired options {strings & RETIRED}"
    for action in visible:
        wanted = CANONICAL.get(action.dest)
        if wanted is not None:
            assert wanted in action.option_strings, (
                f"anyppg {name}: {action.option_strings} should be {wanted}"
            )
        if action.dest == "precision":
            assert set(action.allowed) == set(cli_options.PRECISIONS)  # int8, never q8
        if action.dest == "format":
            assert set(action.allowed) <= set(cli_options.FORMATS)
    for action in parser._actions:  # hidden aliases exist only for the retired spellings
        if action.option_strings and action.help is argparse.SUPPRESS:
            assert set(action.option_strings) <= RETIRED, (name, action.option_strings)


def test_shared_options_before_and_after_the_command():
    for argv in (
        ["-v", "-q", "--json", "info"],
        ["info", "-v", "-q", "--json"],
        ["-q", "info", "--json", "-v"],
    ):
        args = parse_args(argv)
        assert (args.command, args.verbose, args.quiet, args.json) == ("info", 1, True, True), argv
    assert parse_args(["-v", "info", "-v"]).verbose == 2  # counted on both sides
    args = parse_args(["info"])
    assert (args.verbose, args.quiet, args.json) == (0, False, False)


def test_lists_take_spaces_or_commas_and_old_spellings_warn_once(capsys):
    args = parse_args(["bench", "--format", "pte,tflite", "eager", "--precision", "int8"])
    assert args.format == ["pte", "tflite", "eager"] and args.precision == ["int8"]
    assert capsys.readouterr().err == ""
    cli_options._warned.clear()
    old = ["bench", "--formats", "pte", "--precisions", "q8", "fp32", "--output", "r.json"]
    args = parse_args(old)
    assert (args.format, args.precision, args.out) == (["pte"], ["int8", "fp32"], "r.json")
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "anyppg: warning: --formats is deprecated; use --format",
        "anyppg: warning: --precisions is deprecated; use --precision",
        "anyppg: warning: --precisions q8 is deprecated; use --precision int8",
        "anyppg: warning: --output is deprecated; use --out",
    ]
    args = parse_args(["export", "s.pt", "--backend", "xnnpack", "litert", "--precision", "q8"])
    assert (args.format, args.precision) == (["pte", "tflite"], ["int8"])
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "anyppg: warning: --backend is deprecated; use --format",
        "anyppg: warning: --precision q8 is deprecated; use --precision int8",
    ]
    assert parse_args(["pretrain", "--no-progress"]).quiet


def test_usage_errors_are_one_line_or_one_json_object(capsys):
    assert main(["export", "s.pt", "--precision", "int4"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[-1] == (
        "anyppg export: error: argument --precision: invalid choice: 'int4' (choose from fp32, int8)"
    )
    assert main(["export", "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {
        "error": "anyppg export: the following arguments are required: checkpoint",
        "type": "UsageError",
    }
    assert captured.err == ""


def test_command_errors_under_json_are_one_json_object(tmp_path, capsys):
    missing = tmp_path / "nothing.tflite"
    assert main(["stream", "sim:?duration=12", "--model", str(missing), "--json"]) == 1
    captured = capsys.readouterr()
    error = json.loads(captured.out)
    assert error["type"] == "ModelLoadError" and str(missing) in error["error"]
    assert "Traceback" not in captured.err


def test_an_unexpected_exception_under_json_is_still_one_json_object(capsys, monkeypatch):
    import anyppg.cmd_info

    def broken() -> dict:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(anyppg.cmd_info, "collect", broken)
    assert main(["info", "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"error": "division by zero", "type": "ZeroDivisionError"}
    assert "Traceback" in captured.err
    with pytest.raises(ZeroDivisionError):  # without --json a bug is a traceback, as usual
        main(["info"])
