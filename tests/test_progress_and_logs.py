"""The progress helper and the routing of third-party output to the debug log."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from argparse import Namespace

from anyppg.logs import ThirdPartyFilter, native_stderr_to_log
from anyppg.progress import Progress, progress_enabled


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_silent_under_json_and_quiet():
    assert progress_enabled(Namespace(json=False, quiet=False))
    assert not progress_enabled(Namespace(json=True, quiet=False))
    assert not progress_enabled(Namespace(json=False, quiet=True))
    stream = io.StringIO()
    p = Progress("distill", total=10, unit="windows", enabled=False, stream=stream)
    p.update(5)
    p.step("lowering")
    p.close()
    assert stream.getvalue() == ""


def test_progress_into_a_pipe_writes_whole_lines_and_the_final_state():
    stream = io.StringIO()
    p = Progress("distill: teacher embeddings", total=848, unit="windows", stream=stream, every_s=3600)
    p.update(64)  # the first update is written
    for done in range(128, 848, 64):
        p.update(done)  # throttled: not written
    p.update(848)
    p.close()
    p.close()  # idempotent
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("distill: teacher embeddings: 64/848 windows (8%)") and "ETA" in lines[0]
    assert lines[1].startswith("distill: teacher embeddings: 848/848 windows (100%)")
    assert "ETA" not in lines[1]


def test_progress_on_a_terminal_rewrites_one_line_and_ends_it_before_a_step():
    stream = _Tty()
    p = Progress("export", total=4, stream=stream)
    p.update(1, force=True)
    p.step("[2/4] student-s .pte int8: lowering")
    text = stream.getvalue()
    assert text.startswith("\r\033[Kexport: 1/4 (25%)")
    assert "\nexport: [2/4] student-s .pte int8: lowering (" in text and text.endswith(")\n")


def test_native_stderr_goes_to_the_debug_log_and_our_records_stay_visible(capfd, caplog):
    log = logging.getLogger("anyppg.test.native")
    handler_stream = os.fdopen(os.dup(2), "w")
    ours = logging.StreamHandler(handler_stream)  # a CLI handler on fd 2, at the default level
    ours.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(ours)
    try:
        with caplog.at_level(logging.DEBUG, logger="anyppg.test.native"), native_stderr_to_log(log):
            os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
            os.write(2, b"ERROR: something native went wrong\n")
            log.warning("our own warning")
    finally:
        root.removeHandler(ours)
        handler_stream.close()
    err = capfd.readouterr().err
    assert "Created TensorFlow Lite" not in err  # demoted to debug
    assert err.count("something native went wrong") == 1  # an error line stays visible, as a warning
    assert "our own warning" in err  # written through the handler's duplicate of stderr
    levels = {r.getMessage(): r.levelno for r in caplog.records if r.name == "anyppg.test.native"}
    assert levels["INFO: Created TensorFlow Lite XNNPACK delegate for CPU."] == logging.DEBUG
    assert levels["ERROR: something native went wrong"] == logging.WARNING


def test_loading_the_shipped_tflite_prints_nothing():
    # A fresh interpreter: LiteRT writes its delegate line once per process, so an earlier load in this
    # test worker would hide it.
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format='%(name)s %(message)s')\n"
        "from anyppg.sdk.runtime import load_model\n"
        "from anyppg.sdk.shipped import default_model_path\n"
        "load_model(default_model_path(), threads=1)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert any(
        "anyppg.sdk.runtime" in line and "XNNPACK delegate" in line for line in proc.stdout.splitlines()
    )


def test_third_party_records_are_filtered_by_logger_and_by_source_file():
    keep = ThirdPartyFilter()

    def record(name: str, level: int, path: str) -> logging.LogRecord:
        return logging.LogRecord(name, level, path, 1, "msg", None, None)

    site = f"{sys.prefix}/lib/site-packages/litert_torch/convert.py".replace("/", os.sep)
    assert not keep.filter(record("root", logging.WARNING, site))  # litert-torch logs via root
    assert not keep.filter(record("jax._src.xla_bridge", logging.WARNING, "x.py"))
    assert keep.filter(record("root", logging.ERROR, site))  # errors always pass
    assert keep.filter(record("anyppg.sdk.runtime", logging.WARNING, "runtime.py"))
    assert keep.filter(record("root", logging.WARNING, "/home/me/app.py"))
