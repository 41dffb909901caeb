"""The ``anyppg`` command line.

Each subcommand lives next to the code it drives and is imported only when it runs, so ``anyppg
--help`` and the SDK commands never import torch. A command module defines two functions::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...

and is listed in :data:`COMMANDS`. Command modules must keep heavy imports inside ``run``.
Every subcommand accepts ``--json`` (one JSON object, or JSON lines for streams).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
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
    Command("record", "anyppg.sdk.cmd_record", "record raw data from a device to NPZ/CSV/WFDB"),
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anyppg",
        description="AnyPPG on-device SDK: pretrain, distil, export, emulate and stream PPG wearables.",
    )
    parser.add_argument("--version", action="version", version=f"anyppg {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        module = _load(command)
        if module is None:
            continue
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        if isinstance(module, ImportError):
            # The command exists but a dependency is missing: say so when it is run.
            p.set_defaults(_run=None, _import_error=module)
        else:
            module.add_arguments(p)
            p.set_defaults(_run=module.run, _import_error=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return 0
    if args._run is None:
        print(
            f"anyppg {args.command}: a dependency is missing ({args._import_error}).\n"
            'Install the training stack with: pip install "anyppg[train]"',
            file=sys.stderr,
        )
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:
        extra = _EXTRA_FOR_MODULE.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(
            f"anyppg {args.command}: {exc.name} is not installed; this command needs the "
            f'{extra!r} extra: pip install "anyppg[{extra}]"',
            file=sys.stderr,
        )
        return 2
    except AnyPPGError as exc:
        print(f"anyppg {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
