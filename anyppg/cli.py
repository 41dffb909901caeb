"""The ``anyppg`` command line.

Each subcommand lives next to the code it drives and is imported only when it runs, so ``anyppg
--help`` and the SDK commands never import torch. A command module defines two functions::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...

and is listed in :data:`COMMANDS`. Command modules must keep heavy imports inside ``run``.

Every subcommand accepts the shared options, before or after its name (``anyppg -v stream ...`` =
``anyppg stream ... -v``): ``--json`` (one JSON object, or JSON lines for streams; an error is one
``{"error": ..., "type": ...}`` object on stdout and a non-zero exit code), ``-q/--quiet`` (no
progress, errors only) and ``-v/--verbose``. The rest of the vocabulary is in
:mod:`anyppg.cli_options`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass

from anyppg._version import __version__
from anyppg.errors import AnyPPGError


@dataclass(frozen=True)
class Command:
    name: str
    module: str
    help: str


COMMANDS: tuple[Command, ...] = (
    Command("demo", "anyppg.sdk.cmd_demo", "the main job: emulated BLE wearable -> int8 student, live"),
    Command("emulate", "anyppg.firmware_bridge.cmd_emulate", "run an emulated wearable (BLE or serial)"),
    Command("stream", "anyppg.sdk.cmd_stream", "stream one or more devices into a model"),
    Command("analyze", "anyppg.sdk.cmd_analyze", "analyse a recording file (or a batch of segments) at once"),
    Command("record", "anyppg.sdk.cmd_record", "record raw data from a device to NPZ/CSV/WFDB"),
    Command("scan", "anyppg.sdk.cmd_scan", "list BLE wearables in range and the profiles they offer"),
    Command("prepare", "anyppg.trainer.cmd_prepare", "build a sharded window store from sources"),
    Command("pretrain", "anyppg.trainer.cmd_pretrain", "ECG-guided pretraining (torchrun for DDP)"),
    Command("eval", "anyppg.trainer.cmd_eval", "linear-probe evaluation of frozen embeddings"),
    Command("distill", "anyppg.quantization.cmd_distill", "distil the teacher into a student"),
    Command("export", "anyppg.quantization.cmd_export", "quantize and export to .pte / .tflite"),
    Command("bench", "anyppg.quantization.cmd_bench", "benchmark latency/size of models"),
    Command("info", "anyppg.cmd_info", "versions, runtimes, recordings and shipped models"),
)


# Optional dependencies a command may import when it runs, and the extra that installs each.
_EXTRA_FOR_MODULE = {
    **dict.fromkeys(
        ("torch", "executorch", "torchao", "litert_torch", "brevitas", "onnx", "onnxruntime", "onnxoptimizer",
         "sklearn", "matplotlib", "tensorboard", "tqdm"),
        "train",
    ),
    **dict.fromkeys(("wfdb", "vitaldb", "h5py", "pyedflib"), "data"),
}  # fmt: skip


def _load(command: Command):  # -> module | ImportError
    try:
        return importlib.import_module(command.module)
    except ModuleNotFoundError as exc:
        if exc.name and command.module.startswith(exc.name):
            return None  # the command itself is not part of this build
        return exc
    except ImportError as exc:
        return exc


class UsageError(AnyPPGError):
    """The command line is malformed (unknown option, missing argument, bad value).

    Attributes:
        prog: the command whose arguments are wrong (``anyppg export``).
        usage: its usage line.
    """

    def __init__(self, prog: str, message: str, usage: str = "") -> None:
        super().__init__(f"{prog}: {message}")
        self.prog = prog
        self.message = message
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises :class:`UsageError` instead of exiting, so ``--json`` can report it."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(self.prog, message, self.format_usage())


def _shared_options(suffix: str) -> argparse.ArgumentParser:
    """``--json``, ``-q/--quiet``, ``-v/--verbose``; ``suffix`` keeps the top level's and the subcommand's apart."""
    shared = argparse.ArgumentParser(add_help=False)
    group = shared.add_argument_group("shared options (before or after the command)")
    group.add_argument(
        "--json", dest=f"json{suffix}", action="store_true", help="machine-readable output on stdout"
    )
    group.add_argument(
        "-q", "--quiet", dest=f"quiet{suffix}", action="store_true", help="no progress; errors only"
    )
    group.add_argument(
        "-v",
        "--verbose",
        dest=f"verbose{suffix}",
        action="count",
        default=0,
        help="more logging (-vv: debug)",
    )
    return shared


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="anyppg",
        description="AnyPPG on-device SDK: pretrain, distil, export, emulate and stream PPG wearables.",
        parents=[_shared_options("_top")],
    )
    parser.add_argument("--version", action="version", version=f"anyppg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    shared = _shared_options("_cmd")
    for command in COMMANDS:
        module = _load(command)
        if module is None:
            continue
        p = sub.add_parser(command.name, help=command.help, description=command.help, parents=[shared])
        if isinstance(module, ImportError):
            # The command exists but a dependency is missing: say so when it is run.
            p.set_defaults(_run=None, _import_error=module)
        else:
            module.add_arguments(p)
            p.set_defaults(_run=module.run, _import_error=None)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse a command line; the shared options given before and after the command are merged.

    Raises:
        UsageError: the command line is malformed.
    """
    args = build_parser().parse_args(argv)
    args.json = bool(getattr(args, "json_top", False) or getattr(args, "json_cmd", False))
    args.quiet = bool(getattr(args, "quiet_top", False) or getattr(args, "quiet_cmd", False))
    args.verbose = int(getattr(args, "verbose_top", 0)) + int(getattr(args, "verbose_cmd", 0))
    return args


def _fail(json_mode: bool, prefix: str, exc: BaseException, code: int, message: str | None = None) -> int:
    """Report an error: one JSON object on stdout under ``--json``, else one line on stderr."""
    text = str(exc) if message is None else message
    if json_mode:
        print(json.dumps({"error": text, "type": type(exc).__name__}), flush=True)
    else:
        print(f"{prefix}: error: {text}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``anyppg`` command line and return its exit code.

    0: success; 1: the command failed with an :class:`~anyppg.errors.AnyPPGError`; 2: a usage error or
    a missing optional dependency; 130: Ctrl-C. Errors are one line on stderr, or under ``--json`` one
    ``{"error": ..., "type": ...}`` object on stdout (an unexpected exception too, with its traceback
    on stderr; without ``--json`` it propagates).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    json_mode = "--json" in argv[: argv.index("--") if "--" in argv else len(argv)]
    try:
        args = parse_args(argv)
    except UsageError as exc:
        if json_mode:
            return _fail(True, exc.prog, exc, 2)
        sys.stderr.write(exc.usage)
        print(f"{exc.prog}: error: {exc.message}", file=sys.stderr)
        return 2
    from anyppg.logs import configure

    configure(args.verbose, args.quiet)
    if args.command is None:
        build_parser().print_help()
        return 0
    prefix = f"anyppg {args.command}"
    if args._run is None:
        return _fail(
            args.json,
            prefix,
            args._import_error,
            2,
            f"a dependency is missing ({args._import_error}); "
            'install the training stack with: pip install "anyppg[train]"',
        )
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # stdout closed early (`anyppg info | head`): not a failure of the command
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except ModuleNotFoundError as exc:
        extra = _EXTRA_FOR_MODULE.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        return _fail(
            args.json,
            prefix,
            exc,
            2,
            f"{exc.name} is not installed; this command needs the {extra!r} extra: "
            f'pip install "anyppg[{extra}]"',
        )
    except UsageError as exc:
        return _fail(args.json, exc.prog, exc, 2, exc.message)
    except AnyPPGError as exc:
        return _fail(args.json, prefix, exc, 1)
    except Exception as exc:  # a bug or an unexpected library error
        if not args.json:
            raise
        traceback.print_exc()  # the details for a bug report, on stderr; stdout stays one JSON object
        return _fail(True, prefix, exc, 1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
