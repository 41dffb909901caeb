"""anyppg bench: MAC counting against hand counts, and one real end-to-end run of the CLI.

Latency numbers are measured, never asserted; the tests check that every case was measured with the
requested settings and that the report is complete and consistent.
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from anyppg.quantization.bench import (  # noqa: E402
    INT8_ISA_FLAGS,
    BenchError,
    count_macs,
    int8_isa,
    run_benchmark,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:(open_text|read_text) is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning"),
]


def test_count_macs_matches_hand_count():
    from torch import nn

    model = nn.Sequential(
        nn.Conv1d(1, 4, 7, stride=2, padding=3),  # 625 outputs x 4 channels x (1 * 7)
        nn.Conv1d(4, 8, 5, stride=5, groups=2),  # 125 x 8 x (4/2 * 5)
        nn.Flatten(),
        nn.Linear(8 * 125, 3),  # 3 x 1000
    )
    assert count_macs(model) == 625 * 4 * 7 + 125 * 8 * 10 + 3 * 1000


def test_teacher_size_and_macs():
    from anyppg.quantization.bench import _eager_model

    teacher = _eager_model("teacher")
    assert sum(p.numel() for p in teacher.parameters()) == 4_044_272
    macs = {name: count_macs(_eager_model(name)) for name in ("student-xs", "student-s")}
    macs["teacher"] = count_macs(teacher)
    assert macs["teacher"] > macs["student-s"] > macs["student-xs"] > 0


def test_bad_arguments_are_refused():
    with pytest.raises(BenchError, match="unknown model") as info:
        run_benchmark(["student-zz"], threads=[1], runs=1, warmup=0, formats=("eager",))
    assert info.value.case == "student-zz"
    with pytest.raises(ValueError, match="runs >= 1"):
        run_benchmark(["student-xs"], runs=0)
    with pytest.raises(ValueError, match="threads >= 1"):
        run_benchmark(["student-xs"], threads=[0])


@pytest.mark.slow
def test_cli_end_to_end_json(tmp_path, capsys):
    from anyppg.cli import main

    md = tmp_path / "table.md"
    # One export only (student-xs .tflite fp32); int8 files are measured by `make bench`.
    argv = ["bench", "teacher", "student-xs", "--format", "eager,tflite", "--precision", "fp32"]
    argv += ["--threads", "1", "2"]
    argv += ["--runs", "5", "--warmup", "1", "--artifacts", str(tmp_path), "--markdown", str(md), "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # exactly one JSON object on stdout
    assert "[3/3]" not in captured.err  # --json: no progress lines, stdout is the report alone

    rows = report["models"]
    keys = {(r["model"], r["format"], r["precision"], r["threads"]) for r in rows}
    expected = {("teacher", "eager", "fp32"), ("student-xs", "eager", "fp32")}
    expected |= {("student-xs", "tflite", "fp32")}
    assert keys == {(*e, t) for e in expected for t in (1, 2)}
    for r in rows:
        assert r["runs"] == 5
        assert 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p90"] <= r["latency_ms"]["p99"]
        assert 0 < r["cpu_ms"]["p50"] <= r["cpu_ms"]["p90"] <= r["cpu_ms"]["p99"]
        assert r["size_bytes"] > 0 and r["load_ms"] > 0 and r["peak_rss_mib"] > 0
    assert {r["params"] for r in rows if r["model"] == "teacher"} == {4_044_272}
    xs = [r for r in rows if r["model"] == "student-xs"]
    assert len({r["params"] for r in xs}) == 1 and len({r["macs"] for r in xs}) == 1
    by = {(r["model"], r["format"], r["precision"], r["threads"]): r for r in rows}
    exported = tmp_path / "student-xs_litert_fp32.tflite"
    assert by["student-xs", "tflite", "fp32", 1]["size_bytes"] == exported.stat().st_size
    assert by["teacher", "eager", "fp32", 1]["macs"] > by["student-xs", "eager", "fp32", 1]["macs"]
    settings = dict(report["settings"])
    assert settings.pop("latency").startswith("interleaved rounds in one process")
    assert "process_time" in settings.pop("cpu")
    assert settings == {"runs": 5, "warmup": 1, "threads": [1, 2], "input_shape": [1, 1, 1250]}
    assert report["machine"]["cpu_count"] >= 1
    assert set(report["machine"]["int8_isa"]) <= set(INT8_ISA_FLAGS)

    table = md.read_text()
    assert table.count("\n| teacher | eager | fp32 |") == 2
    assert "| 1.0x | 1.0x | 1.0x |" in table  # the teacher against itself: wall, CPU time, size
    assert "(int8 instructions: " in table


def test_int8_isa_reads_x86_and_arm_cpuinfo():
    x86 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\nprocessor\t: 1\nflags\t: avx2\n"
    assert int8_isa(x86) == ["avx2", "avx512f", "avx512_vnni"]  # in INT8_ISA_FLAGS order, once each
    assert int8_isa("Features\t: fp asimd asimddp i8mm\n") == ["asimddp", "i8mm"]
    assert int8_isa("model name\t: something\n") == []


def test_an_eager_state_left_by_an_older_architecture_is_replaced(tmp_path):
    import torch

    from anyppg.quantization.bench import _eager_model, plan_cases

    stale = tmp_path / "student-xs_eager_fp32.pt"
    torch.save({"features.0.conv.weight": torch.zeros(32, 1, 7)}, stale)  # not today's student-xs
    (case,) = plan_cases(["student-xs"], artifacts_dir=tmp_path, formats=("eager",))
    assert case.path == str(stale)
    _eager_model("student-xs").load_state_dict(torch.load(stale, weights_only=True))  # strict: loads
