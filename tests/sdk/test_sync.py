"""Notebook use: a table of results from one blocking call, inside a running event loop or not."""

from __future__ import annotations

import asyncio
import signal
import threading

import numpy as np
import pytest

import anyppg
from anyppg import recordings
from anyppg.errors import RuntimeUnavailableError
from anyppg.sdk.tables import Results, to_dataframe

SIM = "sim:?hr=75&duration=40&seed=3"


def _check_table(results: Results, device: str) -> None:
    assert isinstance(results, Results) and len(results) > 0 and not results.interrupted
    acc = results.accounting
    assert acc.received == acc.delivered + acc.dropped_total and acc.received > 0
    cols = results.to_arrays()
    assert list(cols) == results.columns
    assert cols["t_start"].dtype == np.float64 and cols["usable"].dtype == bool
    assert np.all(np.diff(cols["t_start"]) > 0)
    assert set(cols["device"]) == {device}
    assert results.to_dict()["t_end"] == [round(r.t_end, 3) for r in results]


def test_stream_sync_inside_a_running_loop_gets_a_table_from_sim():
    """As in a Jupyter cell: an event loop is running in this thread when the blocking call is made."""
    threads: set[str] = set()

    async def cell() -> Results:
        asyncio.get_running_loop()  # the notebook's loop
        return anyppg.stream_sync(
            SIM, speed="max", seconds=20, model="default", on_result=lambda r: threads.add(r.device)
        )

    results = asyncio.run(cell())
    _check_table(results, f"{SIM}&speed=max")
    assert results[-1].t_end - results[0].t_start <= 20.0
    assert threads  # on_result was called
    df = results.to_dataframe()
    assert len(df) == len(results) and list(df.columns) == results.columns
    usable = df[df["usable"]]
    assert len(usable) > 0 and abs(usable["heart_rate"].median() - 75.0) < 5.0  # the simulator's HR
    emb = results.embeddings()
    assert emb.shape[0] == len(results) and emb.dtype == np.float32
    assert np.isfinite(emb[df["usable"].to_numpy()]).all()


def test_stream_sync_replays_a_real_recording_into_a_table(tmp_path):
    rec = recordings.load("e2epyppg-wrist-excerpt")  # ships with anyppg: always there
    path = tmp_path / "wrist.npz"
    np.savez(path, ppg=rec.ppg, fs=rec.ppg_fs, acc=rec.acc / 9.80665)
    results = anyppg.stream_sync(f"replay:{path}", speed="max", model=None)
    _check_table(results, f"replay:{path}?speed=max")
    assert results.accounting.received == len(rec.ppg)
    t, bpm = rec.reference_hr
    cols = results.to_arrays()
    mid = (cols["t_start"] + cols["t_end"]) / 2
    watch = np.interp(mid, t, bpm)
    ok = np.isfinite(cols["heart_rate"])
    assert ok.mean() > 0.9 and np.median(np.abs(cols["heart_rate"][ok] - watch[ok])) < 5.0


def test_the_await_path_and_the_plain_path_give_the_same_table():
    async def cell() -> Results:
        return await anyppg.collect(SIM, speed="max", model=None)

    awaited = asyncio.run(cell())
    plain = anyppg.stream_sync(SIM, speed="max", model=None)  # no loop running: asyncio.run inside
    assert [r.to_dict() | {"latency_ms": 0} for r in awaited] == [
        r.to_dict() | {"latency_ms": 0} for r in plain
    ]


def _interrupt_after(n: int):
    """An ``on_result`` that sends this process SIGINT (as Ctrl-C or Jupyter's stop button do) once."""
    seen = []

    def on_result(result) -> None:
        seen.append(result)
        if len(seen) == n:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    return on_result


@pytest.fixture
def python_sigint_handler():
    """Python's own SIGINT handler, as in a notebook kernel or a terminal session.

    A test run started in the background (a CI job, ``make test &``) inherits SIGINT ignored, and then
    Ctrl-C never reaches Python at all; these tests are about what happens when it does.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("python_sigint_handler")
def test_an_interrupt_inside_a_running_loop_returns_the_results_so_far():
    # A loop that, like ipykernel's, leaves SIGINT to Python's default handler (asyncio.run would not).
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    loop = asyncio.new_event_loop()

    async def cell() -> Results:
        return anyppg.stream_sync(
            "sim:?duration=3600", speed="max", model=None, on_result=_interrupt_after(3)
        )

    try:
        results = loop.run_until_complete(cell())
    finally:
        loop.close()
    assert results.interrupted and len(results) >= 3
    assert results[-1].t_end < 3600  # stopped long before the simulation's end
    assert results.accounting.received == results.accounting.delivered + results.accounting.dropped_total


@pytest.mark.usefixtures("python_sigint_handler")
def test_an_interrupt_without_a_loop_returns_the_results_so_far():
    results = anyppg.stream_sync("sim:?duration=3600", speed="max", model=None, on_result=_interrupt_after(3))
    assert results.interrupted and len(results) >= 3 and results[-1].t_end < 3600


def test_errors_reach_the_caller_from_the_worker_thread():
    async def cell():
        return anyppg.stream_sync("nosuch:device")

    with pytest.raises(anyppg.AnyPPGError, match="nosuch:device"):
        asyncio.run(cell())


def test_to_dataframe_names_the_extra_when_pandas_is_missing(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(RuntimeUnavailableError, match=r'pip install "anyppg\[notebook\]"'):
        to_dataframe([])


def test_an_empty_table_has_no_columns():
    assert Results().to_dict() == {} and Results().embeddings() is None
    assert repr(Results()) == "Results(0 windows from no device)"


def test_a_heart_rate_strap_gives_a_table_with_its_rr_intervals():
    """``hrs:`` against the bumble emulator (in-process link), awaited as in a notebook cell."""
    from anyppg.firmware_bridge.emulator.ble import emulated_ble
    from anyppg.firmware_bridge.emulator.sources import parse_source

    async def cell() -> Results:
        source = parse_source("sim:hr=70,seed=5,duration=20,rate=50")
        async with emulated_ble(source, profile="hrs", speed=10.0) as emu:
            return await anyppg.collect(
                f"hrs:{emu.name}?timeout=5", adapter=emu.adapter, seconds=6, model=None
            )

    results = asyncio.run(cell())
    assert len(results) >= 3
    cols = results.to_arrays()
    assert cols["rr_intervals"].shape == (len(results),)  # one list per row, never a 2-D block
    assert all(len(rr) >= 1 and all(300 < x < 1500 for x in rr) for rr in cols["rr_intervals"])
    df = results.to_dataframe()
    assert df["rr_intervals"].map(len).sum() == sum(len(r.rr_intervals) for r in results)
    assert ((df["heart_rate"] > 55) & (df["heart_rate"] < 90)).all()
    assert "<table" in results._repr_html_()  # what Jupyter shows for `results` at the end of a cell
