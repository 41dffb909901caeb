"""The package layout contract: one distribution, namespaced subsystems, a torch-free SDK side."""

from __future__ import annotations

import json
import subprocess
import sys


def _python(code: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_sdk_side_imports_without_torch(tmp_path):
    code = (
        "import sys, anyppg, anyppg.sdk, anyppg.firmware_bridge, anyppg.cli\n"
        "anyppg.cli.build_parser()\n"
        "heavy = sorted(m for m in ('torch', 'executorch', 'tensorflow', 'jax') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"SDK side imported {result.stdout.strip()}"


def test_subsystems_install_under_the_anyppg_namespace(tmp_path):
    code = (
        "import importlib.util, json\n"
        "names = ['anyppg.sdk', 'anyppg.firmware_bridge', 'anyppg.trainer', 'anyppg.quantization',\n"
        "         'sdk', 'trainer', 'quantization', 'firmware_bridge']\n"
        "print(json.dumps({n: importlib.util.find_spec(n) is not None for n in names}))\n"
    )
    result = _python(code, tmp_path)  # outside the repository, so only installed modules count
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    for name in ("anyppg.sdk", "anyppg.firmware_bridge", "anyppg.trainer", "anyppg.quantization"):
        assert found[name], name
    for bare in ("sdk", "trainer", "quantization", "firmware_bridge"):
        assert not found[bare], f"a bare top-level {bare!r} module is installed"


def test_py_typed_is_shipped():
    from importlib import resources

    assert resources.files("anyppg").joinpath("py.typed").is_file()


def test_cli_version_help_and_info():
    import anyppg
    from anyppg.cli import main

    assert main(["info", "--json"]) == 0
    out = subprocess.run(
        [sys.executable, "-m", "anyppg", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"anyppg {anyppg.__version__}"


def test_every_subcommand_has_help(capsys):
    from anyppg.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert "info" in sub.choices
    for name, p in sub.choices.items():
        text = p.format_help()
        assert "--json" in text, name


def test_a_missing_optional_dependency_names_the_extra(monkeypatch, capsys):
    import anyppg.cmd_info
    from anyppg.cli import main

    def needs_torch(args):
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    monkeypatch.setattr(anyppg.cmd_info, "run", needs_torch)
    assert main(["info"]) == 2
    assert 'pip install "anyppg[train]"' in capsys.readouterr().err
