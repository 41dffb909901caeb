"""The command line's one vocabulary: option names shared by every ``anyppg`` subcommand.

=============== ====================================================================================
option          meaning
=============== ====================================================================================
``--json``      machine-readable output on stdout (errors too: ``{"error": ..., "type": ...}``)
``-q/--quiet``  no progress lines; log errors only
``-v/--verbose`` more logging (``-vv``: debug, third-party libraries included)
``--format``    model formats: ``eager``, ``pte`` (ExecuTorch/XNNPACK), ``tflite`` (LiteRT)
``--precision`` ``fp32`` or ``int8`` (artefact names keep the ``_q8`` suffix)
``--out``       where a command writes its main output
``--motion-model`` the learned PPG + ACC heart-rate model: ``auto`` (shipped), ``none``, or a file
=============== ====================================================================================

``--json``, ``--quiet`` and ``--verbose`` are accepted before and after the subcommand. List options
take space- or comma-separated values (``--format pte tflite`` = ``--format pte,tflite``). Old
spellings (``--formats``, ``--precisions``, ``--backend xnnpack``, ``--precision q8``,
``--no-progress``, ``--output``) still work, are hidden from ``--help`` and print one deprecation
line each.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = [
    "FORMATS",
    "PRECISIONS",
    "ListOption",
    "add_deprecated_flag",
    "add_deprecated_option",
    "add_format_option",
    "add_motion_model_option",
    "add_precision_option",
    "deprecated",
]

FORMATS = ("eager", "pte", "tflite")
"""Model formats: the PyTorch module, an ExecuTorch program (XNNPACK), a LiteRT flatbuffer."""
PRECISIONS = ("fp32", "int8")
"""Numeric precisions: float32, or PT2E static int8 (per-channel weights)."""

PRECISION_ALIASES = {"q8": "int8"}

_warned: set[str] = set()


def deprecated(old: str, new: str) -> None:
    """Print one line on stderr (once per process and spelling) that ``old`` is now ``new``."""
    if old in _warned:
        return
    _warned.add(old)
    print(f"anyppg: warning: {old} is deprecated; use {new}", file=sys.stderr)


class ListOption(argparse.Action):
    """A list of choices given as ``A B``, ``A,B`` or repeated options; old values mapped with a notice.

    The first use replaces the default; later uses extend it. Duplicates are dropped, order kept.
    """

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str,
        *,
        choices: Sequence[str],
        aliases: Mapping[str, str] | None = None,
        canonical: str | None = None,
        value_map: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("nargs", "+")
        kwargs.setdefault("metavar", "{" + ",".join(choices) + "}")
        super().__init__(option_strings, dest, **kwargs)
        self.allowed = tuple(choices)
        self.aliases = dict(aliases or {})  # deprecated value -> canonical value
        self.value_map = dict(value_map or {})  # accepted value -> canonical value, silently
        self.canonical = canonical  # the canonical option when this one is a deprecated spelling

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if self.canonical is not None and option_string is not None:
            deprecated(option_string, self.canonical)
        items = [v for value in values for v in str(value).split(",") if v]
        out: list[str] = []
        for item in items:
            name = item.lower()
            if name in self.aliases:
                new = self.aliases[name]
                deprecated(f"{option_string} {item}", f"{self.canonical or option_string} {new}")
                name = new
            name = self.value_map.get(name, name)
            if name not in self.allowed:
                raise argparse.ArgumentError(
                    self, f"invalid choice: {item!r} (choose from {', '.join(self.allowed)})"
                )
            out.append(name)
        seen_key = f"_{self.dest}_given"
        current = list(getattr(namespace, self.dest) or []) if getattr(namespace, seen_key, False) else []
        setattr(namespace, seen_key, True)
        setattr(namespace, self.dest, list(dict.fromkeys(current + out)))


def add_format_option(
    parser: argparse.ArgumentParser,
    choices: Sequence[str],
    default: Sequence[str],
    help: str,
    *,
    old_backend: bool = False,
) -> None:
    """``--format`` (``args.format``, a list); ``--formats`` and, with ``old_backend``, ``--backend`` as aliases."""
    parser.add_argument(
        "--format", dest="format", action=ListOption, choices=choices, default=list(default), help=help
    )
    parser.add_argument(
        "--formats",
        dest="format",
        action=ListOption,
        choices=choices,
        canonical="--format",
        help=argparse.SUPPRESS,
    )
    if old_backend:
        parser.add_argument(
            "--backend",
            dest="format",
            action=ListOption,
            choices=choices,
            canonical="--format",
            value_map={"xnnpack": "pte", "litert": "tflite"},
            help=argparse.SUPPRESS,
        )


def add_precision_option(parser: argparse.ArgumentParser, default: Sequence[str], help: str) -> None:
    """``--precision`` (``args.precision``, a list of ``fp32``/``int8``); ``--precisions`` and ``q8`` as aliases."""
    kwargs: dict[str, Any] = {"dest": "precision", "action": ListOption, "choices": PRECISIONS}
    parser.add_argument("--precision", aliases=PRECISION_ALIASES, default=list(default), help=help, **kwargs)
    parser.add_argument(
        "--precisions", aliases=PRECISION_ALIASES, canonical="--precision", help=argparse.SUPPRESS, **kwargs
    )


class _DeprecatedFlag(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, *, canonical: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)
        self.canonical = canonical

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[no-untyped-def]
        deprecated(option_string or self.option_strings[0], self.canonical)
        setattr(namespace, self.dest, self.const)


def add_deprecated_flag(
    parser: argparse.ArgumentParser, old: str, canonical: str, dest: str, const: Any = True
) -> None:
    """A hidden flag ``old`` that sets ``dest`` to ``const`` and says to use ``canonical`` instead."""
    parser.add_argument(
        old, dest=dest, action=_DeprecatedFlag, canonical=canonical, const=const, help=argparse.SUPPRESS
    )


def add_deprecated_option(
    parser: argparse.ArgumentParser, old: str, canonical: str, dest: str, type: Callable[[str], Any] = str
) -> None:
    """A hidden option ``old VALUE`` that stores into ``dest`` and says to use ``canonical`` instead."""

    class _Deprecated(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[no-untyped-def]
            deprecated(option_string or old, canonical)
            setattr(namespace, self.dest, values)

    parser.add_argument(old, dest=dest, action=_Deprecated, type=type, help=argparse.SUPPRESS)


def add_polarity_option(parser: argparse.ArgumentParser, *, auto: bool = False) -> None:
    """``--polarity normal|inverted`` (``args.polarity``, default ``normal``), for the commands that
    run the streaming pipeline (``anyppg.sdk.polarity``); ``auto`` too where a whole recording is
    at hand (``anyppg analyze``: :func:`anyppg.check_polarity`)."""
    parser.add_argument(
        "--polarity",
        default="normal",
        choices=("normal", "inverted", "auto") if auto else ("normal", "inverted"),
        help="which way up the sensor's pulse is: 'normal' (default) as read, systolic upstroke "
        "positive; 'inverted' for a sensor whose counts fall as blood volume rises (its PPG is "
        "negated before anything reads it)"
        + (
            "; 'auto' reads the first 2 min both ways and turns it over only where the quality index "
            "and the model's quality head both prefer that"
            if auto
            else ""
        ),
    )


def add_motion_model_option(parser: argparse.ArgumentParser) -> None:
    """``--motion-model auto|none|PATH`` (``args.motion_model``, default ``auto``), for the commands
    that run the streaming pipeline; resolved by ``anyppg.sdk.motion_runtime.resolve_motion_model``."""
    parser.add_argument(
        "--motion-model",
        default="auto",
        metavar="auto|none|PATH",
        help="learned PPG + accelerometer heart-rate model fused with the tracker, run only on streams "
        "with an accelerometer: 'auto' (default) = the shipped int8 motion-hr model for the runtime "
        "in use; 'none'; or a .tflite / .pte file",
    )
