"""``anyppg prepare``: build a sharded window store from the simulator or a corpus on disk.

Examples::

    anyppg prepare --source sim --hours 2 --out runs/store-sim
    anyppg prepare --source wfdb:/data/mimic3wdb-matched --out runs/store-mimic --workers 8
    anyppg prepare --source npz:recordings/ --out runs/store-mine --json
    anyppg prepare --source bidmc:../shared/data --out runs/store-bidmc
    anyppg prepare --source liu:../shared/data/liu_arrhythmia --out runs/store-liu

The store is what ``anyppg pretrain`` and ``anyppg eval`` read (see :mod:`anyppg.trainer.store`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        required=True,
        help="sim, SCHEME:PATH with SCHEME a format (wfdb, vitaldb, pulsedb, edf, csv, npz), or a published "
        "dataset DATASET:DIR (bidmc, mimicdb, liu, troika, bami; DIR is its folder or the data folder)",
    )
    parser.add_argument("--out", required=True, type=Path, help="store folder to create")
    parser.add_argument("--hours", type=float, default=1.0, help="simulated hours (--source sim)")
    parser.add_argument("--record-s", type=float, default=120.0, help="simulated record length (s)")
    parser.add_argument("--seed", type=int, default=0, help="simulation and split seed")
    parser.add_argument("--hop-s", type=float, default=10.0, help="step between window starts (s)")
    parser.add_argument("--shard-size", type=int, default=4096, help="windows per shard")
    parser.add_argument(
        "--split",
        type=_fractions,
        default="0.8,0.1,0.1",
        help="train,val,test fractions of subjects (default 0.8,0.1,0.1)",
    )
    parser.add_argument("--workers", type=int, default=1, help="processes that cut windows in parallel")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing store at --out")


def _window_job(args: tuple[Any, float, float | None]) -> Any:
    from anyppg.trainer.sources import record_windows

    rec, hop_s, settle_s = args
    batch = record_windows(rec, hop_s=hop_s, settle_s=settle_s)
    return rec.subject, rec.record, batch


def build_store(
    source: Any,
    out: str | Path,
    *,
    hop_s: float = 10.0,
    shard_size: int = 4096,
    fractions: dict[str, float] | None = None,
    seed: int = 0,
    workers: int = 1,
    overwrite: bool = False,
    on_progress: Callable[[int, dict[str, int]], None] | None = None,
) -> dict[str, Any]:
    """Cut every record of ``source`` into windows and write them into a new store at ``out``.

    Subjects are assigned to splits first (:func:`anyppg.trainer.store.assign_splits`), so no subject
    is in two splits. Windows that fail checks and files that cannot be read are counted, by reason,
    in the index's ``skipped``.

    Args:
        source: a :class:`anyppg.trainer.sources.Source` (e.g. from ``open_source``).
        out: store folder.
        hop_s: step between window starts (s); 10 s gives non-overlapping windows.
        shard_size: windows per shard.
        fractions: split -> fraction of subjects (default 0.8 / 0.1 / 0.1).
        seed: split seed.
        workers: processes that cut windows (1 = in this process).
        overwrite: replace an existing store.
        on_progress: called with (records done, windows per split) after each record.

    Returns:
        The store index (also written to ``out/index.json``), plus ``elapsed_s``.

    Raises:
        StoreError: ``out`` already holds a store and ``overwrite`` is False, the source is empty, or
            it gives no window (nothing readable, or every record too short); the store is then not
            written.
    """
    from anyppg.signal import DEFAULT_SETTLE_S
    from anyppg.trainer.store import StoreError, StoreWriter, assign_splits

    started = time.monotonic()
    subjects = source.subjects()
    if not subjects:
        raise StoreError(out, f"source {getattr(source, 'name', source)!r} has no subjects")
    split_of = assign_splits(subjects, fractions, seed=seed)
    settle_s = getattr(source, "settle_s", None)
    preprocessing = {
        "ppg": "anyppg.signal.preprocess_recording: resample to 125 Hz, causal 0.5-8 Hz band-pass, "
        "z-score per 10 s window (the SDK's streaming code)",
        "ecg": "anyppg.signal.ecg_clean (0.5 Hz high-pass, 50 Hz notch), resample to 500 Hz, z-score per window",
        "hr": "exact R-peaks (simulated): 60 * (beats - 1) / (last - first); detected R-peaks: 60 / mean RR without gaps; "
        "a per-window ECG reference (TROIKA, BAMI-I): its mean over the window",
        "quality": "simulator: mean per-second pulse power fraction >= 0.8; with an ECG heart rate: PPG-peak "
        "vs ECG heart rate agreement (<= 5 bpm usable, >= 15 bpm not, else -1); else anyppg.signal.ppg_quality",
        "hop_s": hop_s,
        "settle_s": DEFAULT_SETTLE_S if settle_s is None else settle_s,
    }
    existed = Path(out).exists()
    writer = StoreWriter(
        out, split_of, shard_size=shard_size, preprocessing=preprocessing, overwrite=overwrite
    )
    done = 0

    def results() -> Iterator[Any]:
        jobs = ((rec, hop_s, settle_s) for rec in source.records())
        if workers <= 1:
            yield from map(_window_job, jobs)
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield from _bounded_map(pool, _window_job, jobs, 4 * workers)

    for subject, record, batch in results():
        writer.add(subject, getattr(source, "name", "source"), record, batch.ppg, batch.ecg, batch.labels)
        for reason, n in batch.skipped.items():
            writer.count_skipped(reason, n)
        done += 1
        if on_progress is not None:
            on_progress(done, writer.counts)
    for reason, n in getattr(source, "skipped", {}).items():
        writer.count_skipped(reason, n)
    if not sum(writer.counts.values()):
        _refuse_empty(out, existed, done, writer.skipped, preprocessing["settle_s"])
    extra = {"source": getattr(source, "name", "source"), "records": done}
    if hasattr(source, "hours"):
        extra["simulation"] = {
            "hours": source.hours,
            "record_s": source.record_s,
            "records_per_subject": source.records_per_subject,
            "af_fraction": source.af_fraction,
            "seed": source.seed,
        }
    index = writer.close(extra={"build": extra})
    index = dict(index)
    index["elapsed_s"] = round(time.monotonic() - started, 3)
    return index


def _refuse_empty(
    out: str | Path, existed: bool, records: int, skipped: dict[str, int], settle_s: float
) -> None:
    """Raise the one-line error for a source that gave no window; remove the folder if this run made it.

    Raises:
        StoreError: always; names what was read, what was skipped and the minimum record length.
    """
    from anyppg.signal import WINDOW_S
    from anyppg.trainer.store import StoreError

    if not existed:
        with contextlib.suppress(OSError):  # only an empty folder goes; nothing else was written
            Path(out).rmdir()
    why = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())) or "nothing skipped"
    unreadable = skipped.get("corrupt_file", 0)
    hint = f"{unreadable} file(s) could not be read (see the warnings above); " if unreadable else ""
    raise StoreError(
        out,
        f"no windows from {records} readable record(s) ({why}); {hint}a record needs at least "
        f"{settle_s + WINDOW_S:g} s of NaN-free PPG ({settle_s:g} s of filter settling + one {WINDOW_S:g} s window)",
    )


def _bounded_map(pool: ProcessPoolExecutor, fn: Callable, items: Iterable, window: int) -> Iterator[Any]:
    """``pool.map`` in order, with at most ``window`` jobs in flight (records can be large)."""
    pending = []
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.pop(0).result()
    for fut in pending:
        yield fut.result()


def _fractions(text: str) -> dict[str, float]:
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or any(p < 0 for p in parts) or abs(sum(parts) - 1.0) > 1e-6:
        raise argparse.ArgumentTypeError(
            f"expected three fractions train,val,test summing to 1; got {text!r}"
        )
    return dict(zip(("train", "val", "test"), parts, strict=True))


def run(args: argparse.Namespace) -> int:
    from anyppg.trainer.sources import open_source

    sim = {"hours": args.hours, "record_s": args.record_s, "records_per_subject": 2, "seed": args.seed}
    source = open_source(args.source, **sim)
    total = getattr(source, "n_records", None)
    if total is None and hasattr(source, "paths"):
        total = None if args.source.startswith("pulsedb:") else len(source.paths())
    from anyppg.progress import Progress, progress_enabled

    progress = Progress("prepare", total=total, unit="records", enabled=progress_enabled(args))

    def on_progress(done: int, counts: dict[str, int]) -> None:
        split = " / ".join(f"{k} {v:,}" for k, v in counts.items())
        progress.update(done, f"{sum(counts.values()):,} windows ({split})")

    index = build_store(
        source,
        args.out,
        hop_s=args.hop_s,
        shard_size=args.shard_size,
        fractions=args.split,
        seed=args.seed,
        workers=args.workers,
        overwrite=args.overwrite,
        on_progress=on_progress,
    )
    progress.close()
    summary = {
        "out": str(args.out),
        "source": args.source,
        "records": index["build"]["records"],
        "subjects": len(index["subjects"]),
        "counts": index["counts"],
        "shards": len(index["shards"]),
        "skipped": index["skipped"],
        "elapsed_s": index["elapsed_s"],
    }
    if args.json:
        print(json.dumps(summary))
    else:
        c = summary["counts"]
        print(
            f"wrote {sum(c.values()):,} windows from {summary['records']} records of {summary['subjects']} "
            f"subjects to {args.out} (train {c['train']:,} / val {c['val']:,} / test {c['test']:,}; "
            f"{summary['shards']} shards) in {summary['elapsed_s']:.1f} s"
        )
        if summary["skipped"]:
            print("skipped: " + ", ".join(f"{k} {v}" for k, v in summary["skipped"].items()))
    return 0
