"""``anyppg info``: what this installation has (versions, runtimes, recordings, shipped models)."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import platform
from importlib import resources
from typing import Any

_PACKAGES = (
    "numpy", "scipy", "bleak", "bumble", "pyserial", "ai-edge-litert", "executorch",
    "executorch-numpy-runtime", "torch", "torchao", "litert-torch", "brevitas", "onnxruntime",
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults()


def collect() -> dict[str, Any]:
    """Gather installation facts without importing any heavy package."""
    from anyppg._version import __version__

    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    assets = sorted(
        p.name for p in resources.files("anyppg.assets").iterdir() if p.name.endswith((".pte", ".tflite"))
    )
    info: dict[str, Any] = {
        "anyppg": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "shipped_models": assets,
    }
    if importlib.util.find_spec("anyppg.recordings") is not None:
        from anyppg import recordings

        info["recordings"] = {r.name: r.available for r in recordings.list_recordings()}
    return info


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"anyppg {info['anyppg']} on Python {info['python']} ({info['platform']})")
    print("packages:")
    for name, version in info["packages"].items():
        print(f"  {name:26s} {version or '-'}")
    print("shipped models:", ", ".join(info["shipped_models"]) or "none")
    if "recordings" in info:
        print("recordings:")
        for name, ok in info["recordings"].items():
            print(f"  {name:26s} {'installed' if ok else 'missing'}")
    return 0
