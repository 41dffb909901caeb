"""Benchmark the teacher and the students in every deployable format: size, MACs, load time, latency, RSS.

Latency is measured in interleaved rounds inside one process (:func:`measure_interleaved`): every
round runs each case once, in a freshly shuffled order, so load changes on the machine hit all cases
alike and the speed-up ratios stay fair. Load time and peak memory come from a fresh process per case.

For each model (``teacher``, ``student-s``, ``student-xs``) the benchmark measures

- ``eager`` fp32 (torch, eval mode; its size is the saved state dict),
- ``pte`` fp32 and int8 (ExecuTorch + XNNPACK, run through :mod:`anyppg.sdk.runtime`),
- ``tflite`` fp32 and int8 (LiteRT, run through :mod:`anyppg.sdk.runtime`, int8 I/O (de)quantized),

(the teacher has no int8 export: its grouped convolutions do not lower to XNNPACK int8), each at every
requested thread count: parameters, MACs, file size, load time, latency p50 / p90 / p99 over ``runs``
timed single-window inferences after ``warmup`` untimed ones (interleaved), and the peak resident
memory of a fresh process that loaded and ran the model alone (so peak RSS is the case's own and
``.tflite`` cases run without torch, as on a phone gateway).

Artifacts come from, in order: ``artifacts_dir`` (``{model}_{backend}_{fp32|q8}.{pte|tflite}``), the
shipped assets (:mod:`anyppg.assets`), or a fresh export with :mod:`anyppg.quantization.export` into
``artifacts_dir``. Latency does not depend on the weights' values; where no trained weights are shipped
the export uses the registry's seeded initialisation (the report says which).

Usage::

    from anyppg.quantization.bench import run_benchmark, to_markdown
    report = run_benchmark(["teacher", "student-s"], threads=(1, 2))
    print(to_markdown(report))
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from anyppg.errors import AnyPPGError

__all__ = [
    "DEFAULT_MODELS",
    "BenchCase",
    "BenchError",
    "BenchReport",
    "BenchResult",
    "count_macs",
    "plan_cases",
    "run_benchmark",
    "to_markdown",
]

log = logging.getLogger(__name__)

Format = Literal["eager", "pte", "tflite"]
Precision = Literal["fp32", "int8"]
DEFAULT_MODELS: tuple[str, ...] = ("teacher", "student-s", "student-xs")
_BACKEND = {"pte": "xnnpack", "tflite": "litert"}
_FILE_PRECISION = {"fp32": "fp32", "int8": "q8"}  # file names say q8 (model_card naming)
_WORKER_TIMEOUT_S = 900
_RSS_RUNS = 10  # runs of the per-case worker that measures load time and peak memory


class BenchError(AnyPPGError, RuntimeError):
    """A benchmark case could not be prepared or measured.

    Attributes:
        case: ``model/format/precision`` of the case.
        reason: what went wrong.
    """

    def __init__(self, case: str, reason: str) -> None:
        super().__init__(f"benchmark case {case}: {reason}")
        self.case = case
        self.reason = reason


@dataclass(frozen=True)
class BenchCase:
    """One model in one format.

    Attributes:
        model: registry name (``teacher``, ``student-s``, ``student-xs``).
        format: ``eager``, ``pte`` or ``tflite``.
        precision: ``fp32`` or ``int8``.
        path: the file measured (state dict for ``eager``).
        params: parameter count of the eager model.
        macs: multiply-accumulates of one ``(1, 1, 1250)`` inference (Conv1d + Linear layers).
        weights: where the weights came from, in words.
    """

    model: str
    format: Format
    precision: Precision
    path: str
    params: int
    macs: int
    weights: str = ""

    @property
    def label(self) -> str:
        return f"{self.model}/{self.format}/{self.precision}"


@dataclass
class BenchResult:
    """Measurements of one case at one thread count (times in milliseconds, memory in MiB).

    ``latency_ms`` is wall time per call; ``cpu_ms`` the process CPU time of the same calls, which a
    busy machine does not inflate (a 17 ms teacher call is often preempted on a loaded 2-core machine,
    a 0.2 ms student call rarely is; at more than 1 thread, idle pool threads may add to it).
    """

    model: str
    format: Format
    precision: Precision
    threads: int
    params: int
    macs: int
    size_bytes: int
    load_ms: float
    latency_ms: dict[str, float]
    runs: int
    peak_rss_mib: float
    runtime: str
    weights: str = ""
    cpu_ms: dict[str, float] | None = None


@dataclass
class BenchReport:
    """All results of one benchmark run on one machine."""

    results: list[BenchResult]
    machine: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "settings": self.settings,
            "models": [asdict(r) for r in self.results],
        }


# --- models and MACs (torch) -------------------------------------------------------------------------


def _eager_model(name: str):  # -> torch.nn.Module
    if name == "teacher":
        import torch

        from anyppg.trainer.encoders import ANYPPG_PPG_CONFIG, net1d_from_config

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return net1d_from_config(ANYPPG_PPG_CONFIG).eval()
    from anyppg.quantization.students import build_student

    try:
        return build_student(name)
    except KeyError as exc:
        raise BenchError(name, f"unknown model; expected 'teacher' or a student ({exc.args[0]})") from None


def count_macs(model: Any, input_shape: Sequence[int] = (1, 1, 1250)) -> int:
    """Multiply-accumulates of one forward pass, counted on Conv1d and Linear layers.

    A Conv1d output element costs ``in_channels / groups * kernel_size`` MACs; a Linear output
    element ``in_features``. Element-wise ops, pooling and normalisation are not counted.
    """
    import torch
    from torch import nn

    total = 0

    def hook(module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv1d):
            per_output = module.in_channels // module.groups * module.kernel_size[0]
        else:
            per_output = module.in_features
        total += int(output.numel()) * per_output

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv1d | nn.Linear)]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(*input_shape))
    finally:
        for h in handles:
            h.remove()
    return total


# --- artifacts -----------------------------------------------------------------------------------


def _find_artifact(model: str, fmt: str, precision: str, artifacts_dir: Path) -> Path | None:
    name = f"{model}_{_BACKEND[fmt]}_{_FILE_PRECISION[precision]}.{fmt}"
    local = artifacts_dir / name
    if local.is_file():
        return local
    shipped = importlib_resources.files("anyppg.assets").joinpath(name)
    return Path(str(shipped)) if shipped.is_file() else None


def _export(
    model_name: str, eager: Any, fmt: str, precision: str, artifacts_dir: Path, calibration: Any
) -> Path:
    from anyppg.quantization import export

    backend = _BACKEND[fmt]
    file_precision = _FILE_PRECISION[precision]
    log.info("exporting %s to %s %s (no artifact found)", model_name, backend, file_precision)
    try:
        artifact = export.export_model(
            eager,
            model_name,
            backend,
            file_precision,
            artifacts_dir,
            calibration=calibration if precision == "int8" else None,
            latency_runs=0,
            created_by="anyppg bench (seeded weights: for speed and size only)",
        )
    except Exception as exc:  # a failed lowering is reported per case, with the toolchain's message
        raise BenchError(
            f"{model_name}/{fmt}/{precision}", f"export failed: {type(exc).__name__}: {exc}"
        ) from exc
    return artifact.path


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send everything written to file descriptor 1 (Python and C++) to stderr for a while."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _calibration(n: int) -> np.ndarray:
    """Windows to calibrate int8 exports made for benchmarking (latency does not depend on them)."""
    try:
        from anyppg.quantization.ptq import calibration_windows

        return calibration_windows(n, seed=0)
    except ImportError as exc:  # the recordings/simulator window source is not installed
        log.warning("no calibration window source (%s); calibrating on z-scored noise", exc)
        return np.random.default_rng(0).standard_normal((n, 1, 1250)).astype(np.float32)


def plan_cases(
    models: Sequence[str] = DEFAULT_MODELS,
    artifacts_dir: str | Path | None = None,
    formats: Sequence[Format] = ("eager", "pte", "tflite"),
    precisions: Sequence[Precision] = ("fp32", "int8"),
    calibration_windows: int = 64,
    progress: Callable[[str], None] | None = None,
) -> list[BenchCase]:
    """Resolve every case to a file, exporting what is missing into ``artifacts_dir``.

    Args:
        models: registry names.
        artifacts_dir: where to look for and write artifacts (default: a new temporary directory).
        formats: which formats to include.
        precisions: which precisions to include for ``pte`` / ``tflite`` (eager is always fp32).
        calibration_windows: windows used to calibrate int8 exports made here.
        progress: called with a one-line message per step.

    Raises:
        BenchError: unknown model name, or an export failed.
    """
    import torch

    out = Path(artifacts_dir) if artifacts_dir else Path(tempfile.mkdtemp(prefix="anyppg-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _msg: None)
    calibration = None
    cases: list[BenchCase] = []
    for name in models:
        eager = _eager_model(name)
        params = sum(p.numel() for p in eager.parameters())
        macs = count_macs(eager)
        state_path = out / f"{name}_eager_fp32.pt"
        # always rewritten: a file left by an earlier version of the architecture would not load
        torch.save(eager.state_dict(), state_path)
        weights = "random init (seed 0)" if name == "teacher" else "registry init (seed 0)"
        if "eager" in formats:
            cases.append(BenchCase(name, "eager", "fp32", str(state_path), params, macs, weights))
        wanted = [p for p in precisions if name != "teacher" or p == "fp32"]  # no int8 teacher
        for fmt in ("pte", "tflite"):
            if fmt not in formats or (name == "teacher" and fmt == "tflite"):
                continue
            for precision in wanted:
                path = _find_artifact(name, fmt, precision, out)
                if path is not None:
                    source = "from artifacts dir" if path.parent == out else "shipped asset"
                else:
                    source = weights
                if path is None and precision == "int8" and calibration is None:
                    calibration = _calibration(calibration_windows)
                if path is None:
                    say(f"exporting {name} {fmt} {precision} ...")
                    with _stdout_to_stderr():  # converters print progress; stdout is for results
                        path = _export(name, eager, fmt, precision, out, calibration)
                cases.append(BenchCase(name, fmt, precision, str(path), params, macs, source))
    return cases


# --- measuring (runs in a worker process) --------------------------------------------------------


def _percentiles(times_ms: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(times_ms, dtype=np.float64)
    return {
        "p50": float(np.percentile(arr, 50)),
        "p90": float(np.percentile(arr, 90)),
        "p99": float(np.percentile(arr, 99)),
        "mean": float(arr.mean()),
        "min": float(arr.min()),
    }


def _time(fn: Callable[[], Any], runs: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return _percentiles(times)


def _peak_rss_mib() -> float:
    """Peak resident memory of this process (MiB).

    Linux keeps ``ru_maxrss`` across ``execve``, so a worker would report its parent's peak; the
    high-water mark ``VmHWM`` of ``/proc/self/status`` belongs to this process image only.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0  # macOS: bytes, Linux: KiB


def measure_in_process(
    case: BenchCase, threads: Sequence[int], runs: int, warmup: int
) -> list[dict[str, Any]]:
    """Measure ``case`` in this process at each thread count (the worker's job).

    ``eager`` imports torch; ``pte`` imports ExecuTorch (and torch); ``tflite`` imports only LiteRT.
    """
    x = np.random.default_rng(0).standard_normal((1, 1, 1250)).astype(np.float32)
    rows = []
    for n in threads:
        if case.format == "eager":
            import torch

            torch.set_num_threads(n)
            t0 = time.perf_counter()
            model = _eager_model(case.model)
            model.load_state_dict(torch.load(case.path, map_location="cpu", weights_only=True))
            load_ms = (time.perf_counter() - t0) * 1e3
            xt = torch.from_numpy(x)

            def infer(model=model, xt=xt) -> Any:
                with torch.no_grad():
                    return model(xt)

            runtime = f"torch {torch.__version__} eager"
        else:
            from anyppg.sdk.runtime import _executorch_module, load_model

            if case.format == "pte":
                _executorch_module()  # import the runtime (and torch) before timing the load
            t0 = time.perf_counter()
            deployed = load_model(case.path, threads=n)
            load_ms = (time.perf_counter() - t0) * 1e3

            def infer(deployed=deployed) -> Any:
                return deployed.run(x)

            runtime = "executorch.runtime (XNNPACK)" if case.format == "pte" else "ai-edge-litert"
        latency = _time(infer, runs, warmup)
        rows.append(
            {
                "model": case.model,
                "format": case.format,
                "precision": case.precision,
                "threads": n,
                "params": case.params,
                "macs": case.macs,
                "size_bytes": os.path.getsize(case.path),
                "load_ms": load_ms,
                "latency_ms": latency,
                "runs": runs,
                "peak_rss_mib": _peak_rss_mib(),
                "runtime": runtime,
                "weights": case.weights,
            }
        )
    return rows


def _infer_fn(case: BenchCase, threads: int) -> Callable[[], Any]:
    """Load ``case`` at ``threads`` and return a function that runs one window through it."""
    x = np.random.default_rng(0).standard_normal((1, 1, 1250)).astype(np.float32)
    if case.format == "eager":
        import torch

        torch.set_num_threads(threads)
        model = _eager_model(case.model)
        model.load_state_dict(torch.load(case.path, map_location="cpu", weights_only=True))
        xt = torch.from_numpy(x)

        def infer() -> Any:
            with torch.no_grad():
                return model(xt)

        return infer
    from anyppg.sdk.runtime import load_model

    deployed = load_model(case.path, threads=threads)
    return lambda: deployed.run(x)


def measure_interleaved(
    cases: Sequence[BenchCase], threads: Sequence[int], runs: int, warmup: int
) -> dict[tuple[str, int], dict[str, dict[str, float]]]:
    """Latency of every case measured in interleaved rounds in this one process.

    All cases are loaded side by side; each round times one inference of every case, in an order
    shuffled afresh every round (seeded), so a change of machine load (other processes, frequency
    scaling) falls on every case alike and the ratios between cases stay fair. Sequential per-case
    runs let a busy minute inflate one case only.

    Every timed call is a cold one: the case before it evicted the caches (the teacher alone moves
    16 MB of weights), which costs a small model far more, in proportion, than its run back to back.
    The order is shuffled rather than rotated because a rotation puts each case behind the same
    neighbour in nearly every round, so a case's latency would depend on where it sits in the list
    (behind the teacher, or behind a model of a few hundred KB).

    Returns:
        ``{(case label, threads): {"wall": percentiles, "cpu": percentiles}}`` in ms per call
        (``cpu``: process CPU time, see :class:`BenchResult`).
    """
    import torch

    out: dict[tuple[str, int], dict[str, dict[str, float]]] = {}
    order = np.random.default_rng(0)
    for n in threads:
        torch.set_num_threads(n)
        fns = [_infer_fn(case, n) for case in cases]
        for fn in fns:
            for _ in range(warmup):
                fn()
        wall: list[list[float]] = [[] for _ in cases]
        cpu: list[list[float]] = [[] for _ in cases]
        for _round in range(runs):
            for i in order.permutation(len(cases)):
                c0 = time.process_time_ns()
                t0 = time.perf_counter_ns()
                fns[i]()
                t1 = time.perf_counter_ns()
                cpu[i].append((time.process_time_ns() - c0) / 1e6)
                wall[i].append((t1 - t0) / 1e6)
        for case, w, c in zip(cases, wall, cpu, strict=True):
            out[case.label, n] = {"wall": _percentiles(w), "cpu": _percentiles(c)}
    return out


def _interleaved_in_worker(
    cases: Sequence[BenchCase], threads: Sequence[int], runs: int, warmup: int
) -> dict[tuple[str, int], dict[str, dict[str, float]]]:
    spec = json.dumps(
        {"interleaved": [asdict(c) for c in cases], "threads": list(threads), "runs": runs, "warmup": warmup}
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "anyppg.quantization.bench", spec],
            capture_output=True, text=True, timeout=_WORKER_TIMEOUT_S * 2, env=env, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise BenchError("interleaved", f"worker timed out after {_WORKER_TIMEOUT_S * 2} s") from exc
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines()[-3:]
        raise BenchError("interleaved", f"worker exited with {proc.returncode}: {' | '.join(tail)}")
    rows = json.loads(lines[-1])["latency"]
    return {(r["label"], r["threads"]): {"wall": r["latency_ms"], "cpu": r["cpu_ms"]} for r in rows}


def _measure_in_worker(case: BenchCase, threads: Sequence[int], runs: int, warmup: int) -> list[BenchResult]:
    spec = json.dumps({"case": asdict(case), "threads": list(threads), "runs": runs, "warmup": warmup})
    env = dict(os.environ)
    # The worker sets its own thread counts; a caller's OMP_NUM_THREADS=1 must not cap them.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(var, None)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "anyppg.quantization.bench", spec],
            capture_output=True,
            text=True,
            timeout=_WORKER_TIMEOUT_S,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(case.label, f"worker timed out after {_WORKER_TIMEOUT_S} s") from exc
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines()[-3:]
        raise BenchError(case.label, f"worker exited with {proc.returncode}: {' | '.join(tail)}")
    return [BenchResult(**row) for row in json.loads(lines[-1])["rows"]]


def machine_info() -> dict[str, Any]:
    """The machine and library versions a report was measured with."""
    import importlib.metadata

    versions = {}
    for pkg in ("torch", "executorch", "ai-edge-litert", "numpy"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "int8_isa": int8_isa(),
        "python": platform.python_version(),
        "load_average_1min_at_start": load,
        "versions": versions,
    }


#: CPU features that decide how fast int8 kernels can be (``/proc/cpuinfo`` flag names): x86 dot
#: products (VNNI), AVX-512 and AMX tiles; Arm dot products (``asimddp``) and int8 matrix multiply.
INT8_ISA_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")


def int8_isa(cpuinfo: str | None = None) -> list[str]:
    """The :data:`INT8_ISA_FLAGS` this CPU has (from ``/proc/cpuinfo``; empty where it is unreadable).

    An int8 speed-up depends on them: without a dot-product instruction (x86 VNNI, Arm ``asimddp``) an
    int8 kernel widens to 16 bits and gains little over fp32, so a ratio measured on one machine holds
    only for machines with the same features.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return [f for f in INT8_ISA_FLAGS if f in flags]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run_benchmark(
    models: Sequence[str] = DEFAULT_MODELS,
    threads: Iterable[int] = (1, 2),
    runs: int = 200,
    warmup: int = 20,
    artifacts_dir: str | Path | None = None,
    formats: Sequence[Format] = ("eager", "pte", "tflite"),
    precisions: Sequence[Precision] = ("fp32", "int8"),
    progress: Callable[[str], None] | None = None,
) -> BenchReport:
    """Prepare every case and measure it in its own worker process.

    Args:
        models: registry names (``teacher``, ``student-s``, ``student-xs``).
        threads: thread counts to measure each case at.
        runs: timed single-window inferences per case and thread count (the brief asks >= 200).
        warmup: untimed inferences before timing.
        artifacts_dir: where model files are found / exported (default: a temporary directory).
        formats: formats to include.
        precisions: precisions to include for ``pte`` / ``tflite``.
        progress: called with a one-line message per step (the CLI prints them to stderr).

    Returns:
        A :class:`BenchReport` with one :class:`BenchResult` per case and thread count.

    Raises:
        BenchError: an unknown model, a failed export or a failed measurement.
        ValueError: ``runs`` < 1, ``warmup`` < 0 or a thread count < 1.
    """
    threads = list(threads)
    if runs < 1 or warmup < 0 or not threads or min(threads) < 1:
        raise ValueError(f"need runs >= 1, warmup >= 0, threads >= 1; got {runs}, {warmup}, {threads}")
    say = progress or (lambda _msg: None)
    machine = machine_info()
    cases = plan_cases(models, artifacts_dir, formats, precisions, progress=say)
    results: list[BenchResult] = []
    # Load time and peak memory: each case alone in a fresh process (a few runs suffice for both).
    for i, case in enumerate(cases, 1):
        say(f"[{i}/{len(cases)}] {case.label}: load time and peak memory, threads {threads} ...")
        results.extend(_measure_in_worker(case, threads, min(runs, _RSS_RUNS), min(warmup, 2)))
    # Latency: every case in one process, interleaved round by round (see measure_interleaved).
    say(f"latency: {runs} interleaved rounds of {len(cases)} cases x threads {threads} ...")
    latency = _interleaved_in_worker(cases, threads, runs, warmup)
    for r in results:
        measured = latency[f"{r.model}/{r.format}/{r.precision}", r.threads]
        r.latency_ms, r.cpu_ms = measured["wall"], measured["cpu"]
        r.runs = runs
        say(f"    {r.model}/{r.format}/{r.precision} threads={r.threads}: p50 {r.latency_ms['p50']:.3f} ms")
    settings = {
        "runs": runs,
        "warmup": warmup,
        "threads": threads,
        "input_shape": [1, 1, 1250],
        "latency": "interleaved rounds in one process (each round runs every case once, order shuffled per round)",
        "cpu": "process CPU time of the same calls (time.process_time_ns)",
    }
    return BenchReport(results, machine, settings)


# --- reporting -----------------------------------------------------------------------------------


def _baseline(report: BenchReport, threads: int) -> BenchResult | None:
    for r in report.results:
        if (r.model, r.format, r.precision, r.threads) == ("teacher", "eager", "fp32", threads):
            return r
    return None


def ratios(report: BenchReport) -> list[dict[str, Any]]:
    """Speed-up (p50) and size reduction of every result against teacher fp32 eager at its thread count.

    Returns:
        One dict per result: ``model``, ``format``, ``precision``, ``threads``, ``speedup`` (wall
        time p50), ``speedup_cpu`` (CPU time p50), ``smaller`` (None where the teacher eager
        baseline was not measured).
    """
    rows = []
    for r in report.results:
        base = _baseline(report, r.threads)
        rows.append(
            {
                "model": r.model,
                "format": r.format,
                "precision": r.precision,
                "threads": r.threads,
                "speedup": base.latency_ms["p50"] / r.latency_ms["p50"] if base else None,
                "speedup_cpu": base.cpu_ms["p50"] / r.cpu_ms["p50"]
                if base and base.cpu_ms and r.cpu_ms
                else None,
                "smaller": base.size_bytes / r.size_bytes if base else None,
            }
        )
    return rows


def to_markdown(report: BenchReport) -> str:
    """A markdown table of the report, with ratios to teacher fp32 eager at the same thread count."""
    head = (
        "| model | format | precision | threads | params | MMACs | size (KB) | load (ms) "
        "| p50 (ms) | p90 (ms) | p99 (ms) | CPU p50 (ms) | peak RSS (MiB) | speed-up vs teacher "
        "| speed-up, CPU time | smaller than teacher |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for r, q in zip(report.results, ratios(report), strict=True):
        speed = f"{q['speedup']:.1f}x" if q["speedup"] else "-"
        speed_cpu = f"{q['speedup_cpu']:.1f}x" if q.get("speedup_cpu") else "-"
        smaller = f"{q['smaller']:.1f}x" if q["smaller"] else "-"
        lat = r.latency_ms
        cpu = f"{r.cpu_ms['p50']:.3f}" if r.cpu_ms else "-"
        lines.append(
            f"| {r.model} | {r.format} | {r.precision} | {r.threads} | {r.params:,} | {r.macs / 1e6:.1f} "
            f"| {r.size_bytes / 1e3:,.1f} | {r.load_ms:.1f} | {lat['p50']:.3f} | {lat['p90']:.3f} "
            f"| {lat['p99']:.3f} | {cpu} | {r.peak_rss_mib:.0f} | {speed} | {speed_cpu} | {smaller} |"
        )
    m = report.machine
    footer = (
        f"\n{report.settings.get('runs')} timed runs after {report.settings.get('warmup')} warm-up runs per row, "
        "interleaved in one process in an order shuffled every round; CPU p50: process CPU time of the "
        "same calls (not inflated by preemption on a busy machine). "
        f"{m.get('processor', '?')}, {m.get('cpu_count', '?')} cores "
        f"(int8 instructions: {', '.join(m.get('int8_isa') or []) or 'none found'}), "
        f"Python {m.get('python', '?')}, load average {_load(m.get('load_average_1min_at_start'))} at start.\n"
    )
    return head + "\n".join(lines) + "\n" + footer


def _load(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "?"


def _worker_main(argv: Sequence[str]) -> int:
    spec = json.loads(argv[0])
    if "interleaved" in spec:
        cases = [BenchCase(**c) for c in spec["interleaved"]]
        latency = measure_interleaved(cases, spec["threads"], spec["runs"], spec["warmup"])
        rows = [
            {"label": label, "threads": n, "latency_ms": v["wall"], "cpu_ms": v["cpu"]}
            for (label, n), v in latency.items()
        ]
        sys.stdout.write(json.dumps({"latency": rows}) + "\n")
        return 0
    case = BenchCase(**spec["case"])
    rows = measure_in_process(case, spec["threads"], spec["runs"], spec["warmup"])
    sys.stdout.write(json.dumps({"rows": rows}) + "\n")
    return 0


if __name__ == "__main__":  # the per-case worker process (see _measure_in_worker)
    sys.exit(_worker_main(sys.argv[1:]))
