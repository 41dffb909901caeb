"""sim: and replay: transports, fault injection against the simulator's own counts, reconnects."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import anyppg
from anyppg.errors import DataFormatError, DeviceDisconnectedError
from anyppg.sdk import ReconnectPolicy
from anyppg.sdk.recorder import Recorder


async def _drain(device, **kwargs):
    return [b async for b in device.samples(**kwargs)]


def _run(url: str, **kwargs):
    async def main():
        async with anyppg.connect(url, **kwargs) as device:
            blocks = await _drain(device)
            return device, blocks

    return asyncio.run(main())


def test_sim_streams_the_simulation_sample_for_sample():
    device, blocks = _run("sim:?hr=80&seed=3&duration=12&rate=50&speed=max")
    sim = device.transport.simulation
    np.testing.assert_array_equal(np.concatenate([b.ppg for b in blocks]), sim.ppg)
    np.testing.assert_array_equal(np.concatenate([b.acc for b in blocks]), sim.acc)
    assert blocks[1].t0 == pytest.approx(16 / 50)
    acc = device.accounting
    assert acc.received == acc.delivered == len(sim.ppg) and acc.gaps == []


def test_sim_faults_are_accounted_exactly():
    url = "sim:?seed=5&duration=30&speed=max&drop=0.05&dup=0.05&reorder=0.05"
    device, blocks = _run(url)
    truth = device.transport.truth
    acc = device.accounting
    assert truth["samples_dropped"] > 0 and truth["samples_duplicated"] > 0 and truth["samples_reordered"] > 0
    # every sample that arrived is accounted for; duplicates are recognised as such
    assert acc.received == truth["samples_sent"] - truth["samples_dropped"] + truth["samples_duplicated"]
    assert acc.dropped["duplicate"] == truth["samples_duplicated"]
    assert acc.dropped["out_of_order"] <= truth["samples_reordered"]
    assert acc.is_balanced()
    # what was delivered is exactly the simulation minus the holes the gaps describe
    sim = device.transport.simulation
    t = np.concatenate([b.times() for b in blocks])
    idx = np.round(t * 64).astype(int)
    np.testing.assert_array_equal(np.concatenate([b.ppg for b in blocks]), sim.ppg[idx])
    assert acc.delivered + acc.missing == len(sim.ppg) - (len(sim.ppg) - 1 - idx[-1])


def test_sim_link_loss_reconnects_and_marks_the_gap():
    policy = ReconnectPolicy(max_attempts=3, initial_delay_s=0.01)
    device, _ = _run("sim:?duration=20&speed=max&disconnect_at=8&down=1.5", reconnect=policy)
    acc = device.accounting
    assert acc.reconnects == 1
    (gap,) = acc.gaps
    assert gap.reason == "disconnect" and not gap.filled
    assert gap.start == pytest.approx(8.0) and gap.end == pytest.approx(9.5)
    assert acc.delivered == 64 * 20 - 96


def test_sim_link_loss_without_reconnect_raises():
    with pytest.raises(DeviceDisconnectedError, match="simulated link loss"):
        _run("sim:?duration=20&speed=max&disconnect_at=2", reconnect=ReconnectPolicy(max_attempts=0))


@pytest.mark.parametrize("name", ["rec.npz", "rec.csv", "rec_wfdb"])
def test_record_then_replay_round_trip(tmp_path, name):
    """A recording of a lossy stream replays with the same samples and the same gaps."""
    if name.endswith("wfdb"):
        pytest.importorskip("wfdb")
    out = tmp_path / name

    async def record():
        async with anyppg.connect("sim:?seed=2&duration=15&speed=max&drop=0.03") as device:
            with Recorder(out, flush_every_s=2.0) as rec:
                async for block in device.samples():
                    rec.write(block)
            return device.accounting, rec.samples

    acc, n = asyncio.run(record())
    assert n == acc.delivered
    assert not out.with_name(out.name + ".journal").exists()
    device, _ = _run(f"replay:{out}?speed=max")
    replayed = device.accounting
    assert replayed.delivered == acc.delivered
    assert [(round(g.start, 4), g.missing) for g in replayed.gaps] == [
        (round(g.start, 4), g.missing) for g in acc.gaps
    ]


def test_crashed_recording_replays_from_its_journal(tmp_path):
    out = tmp_path / "crash.npz"
    rec = Recorder(out, flush_every_s=1.0)
    device, blocks = _run("sim:?duration=5&speed=max")
    for b in blocks:
        rec.write(b)
    rec.flush()  # what the periodic flush leaves on disk; then the process "dies" without close()
    replay_device, replayed = _run(f"replay:{out}?speed=max")
    assert replay_device.accounting.delivered == 5 * 64
    np.testing.assert_array_equal(np.concatenate([b.ppg for b in replayed]), device.transport.simulation.ppg)
    rec._file.close()  # the dead process's file handle (the OS would close it)


def test_replay_errors_name_the_file_and_the_expected_content(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, signal=np.zeros(10))
    with pytest.raises(DataFormatError, match=r"must hold 'ppg' \(or 'ppg_rgb', .*\) and 'fs' or 't'"):
        _run(f"replay:{bad}")
    csv = tmp_path / "bad.csv"
    csv.write_text("time,value\n0,1\n")
    with pytest.raises(DataFormatError, match="header must start with 't,ppg'"):
        _run(f"replay:{csv}")
    with pytest.raises(DataFormatError, match="does not exist"):
        _run(f"replay:{tmp_path / 'missing.npz'}")


def test_a_csv_with_empty_cells_reads_them_as_missing_values(tmp_path):
    """A logger that writes the accelerometer at half the PPG's rate leaves every other row's acc cells
    empty: those rows read it at their time. An empty PPG cell is a missing sample: dropped, counted."""
    from anyppg.sdk.replay_files import load_replay

    sim = anyppg.simulate(20.0, ppg_rate=50.0, motion=0.5, motion_fraction=1.0, seed=4)
    acc = np.asarray(sim.acc, dtype=np.float64)
    acc = acc if acc.shape[-1] == 3 else acc.T
    lines = ["t,ppg,acc_x,acc_y,acc_z"]
    for i, (p, a) in enumerate(zip(sim.ppg, acc, strict=True)):
        ppg_cell = "" if i == 300 else f"{p:.6f}"
        acc_cells = ",".join(f"{v:.6f}" for v in a) if i % 2 == 0 else ",,"
        lines.append(f"{i / 50.0:.4f},{ppg_cell},{acc_cells}")
    path = tmp_path / "logger.csv"
    path.write_text("\n".join(lines) + "\n")

    data = load_replay(path)
    assert np.isnan(data.ppg[300]) and np.isfinite(np.delete(data.ppg, 300)).all()
    assert np.isfinite(data.acc).all()
    np.testing.assert_allclose(data.acc[1::2][:-1], 0.5 * (acc[0::2][:-1] + acc[2::2]), atol=1e-6)
    device, blocks = _run(f"replay:{path}?speed=max")
    counts = device.accounting
    assert counts.received == len(sim.ppg) and counts.dropped == {"invalid": 1} and counts.delivered == 999
    assert sum(len(b) for b in blocks) == len(sim.ppg) - 1  # every other sample delivered
    assert "invalid_acc" not in counts.issues  # filled rows are readings, not repairs


def test_a_multifrequency_wfdb_record_keeps_every_ppg_sample(tmp_path, write_multifrequency_wfdb):
    """PPG at 64 Hz (2 samples a frame) beside ACC at 32 Hz: wfdb's default reading averages the PPG
    down to the 32 Hz frame rate, which lost half of its samples without a word."""
    from anyppg.sdk.replay_files import load_replay

    sim = anyppg.simulate(40.0, ppg_rate=64.0, motion=0.3, motion_fraction=1.0, seed=6)
    acc = np.asarray(sim.acc, dtype=np.float64)
    acc = acc if acc.shape[-1] == 3 else acc.T
    ppg = np.round(sim.ppg, 3)
    slow = np.round(acc[::2], 3)  # the accelerometer at half the PPG's rate
    names, units = ["PPG", "ACC_X", "ACC_Y", "ACC_Z"], ["NU", "g", "g", "g"]
    write_multifrequency_wfdb(tmp_path, "mf", [ppg, *slow.T], names, units, [2, 1, 1, 1], 32)

    data = load_replay(tmp_path)
    assert data.rate == 64.0 and len(data.ppg) == len(ppg)
    np.testing.assert_allclose(data.ppg, ppg, atol=1e-3)
    np.testing.assert_allclose(data.acc[::2], slow, atol=1e-3)  # its own samples, where it has them
    assert np.abs(data.acc[1::2][:-1] - acc[1::2][:-1]).mean() < 0.02  # between them, interpolated

    write_multifrequency_wfdb(tmp_path, "mf", [ppg, ppg[::2]], ["PPG", "PPG_1"], ["NU", "NU"], [2, 1], 32)
    with pytest.raises(
        DataFormatError, match=r"PPG channels must share one rate; they are at \[32.0, 64.0\] Hz"
    ):
        load_replay(tmp_path)


def test_an_edf_file_replays_its_pleth_and_a_slower_accelerometer(tmp_path):
    """A polysomnograph's or a wearable's EDF export: ``Pleth`` at 128 Hz, ``ACC X/Y/Z`` at 32 Hz."""
    pyedflib = pytest.importorskip("pyedflib")
    from anyppg.sdk.replay_files import load_replay

    sim = anyppg.simulate(30.0, ppg_rate=128.0, motion=0.3, motion_fraction=1.0, seed=8)
    acc = np.asarray(sim.acc, dtype=np.float64)
    acc = acc if acc.shape[-1] == 3 else acc.T
    header = [pyedflib.highlevel.make_signal_header("Pleth", "", 128, -10, 10)]
    header += [pyedflib.highlevel.make_signal_header(f"ACC {a}", "g", 32, -4, 4) for a in "XYZ"]
    path = tmp_path / "night.edf"
    signals = [np.ascontiguousarray(x) for x in (sim.ppg, *acc[::4].T)]
    pyedflib.highlevel.write_edf(str(path), signals, header)

    data = load_replay(path)
    assert data.rate == 128.0 and len(data.ppg) == len(sim.ppg) and data.acc.shape == (len(sim.ppg), 3)
    np.testing.assert_allclose(data.ppg, sim.ppg, atol=1e-3)  # 16-bit over +-10
    assert np.abs(data.acc - acc).mean() < 0.01  # between its own samples, interpolated
    device, blocks = _run(f"replay:{path}?speed=max")
    assert sum(len(b) for b in blocks) == device.accounting.received == len(sim.ppg)

    pyedflib.highlevel.write_edf(str(path), signals[1:], header[1:])
    with pytest.raises(DataFormatError, match=r"needs a PPG channel .*it has \['ACC X', 'ACC Y', 'ACC Z'\]"):
        load_replay(path)
    path.write_bytes(b"not an edf file at all" * 20)
    with pytest.raises(DataFormatError, match="not a readable EDF file"):
        load_replay(path)


def test_a_stream_left_with_break_makes_way_for_the_next_one():
    """``break`` does not close an async generator at once (the event loop's finalizer does, a few
    iterations later): the next infer()/samples() waits for that instead of calling itself a second
    concurrent stream. Two streams at the same time are still refused."""

    async def main():
        async with anyppg.connect("sim:?seed=2&duration=60&speed=max") as device:
            runs = []
            for _ in range(2):
                got = 0
                async for _result in device.infer(None):
                    got += 1
                    if got == 2:
                        break
                runs.append(got)
            async for _block in device.samples():
                break
            first = device.samples()
            await first.__anext__()
            with pytest.raises(RuntimeError, match="already streaming"):
                await device.samples().__anext__()
            await first.aclose()
            return runs

    assert asyncio.run(main()) == [2, 2]
