"""Analyse a whole recording, then the same recording as independent 10-s segments, in one call each.

No device and no event loop: ``anyppg.analyze`` takes PPG already in memory. A 1-D array is one
continuous recording (the windows and values ``anyppg stream replay:`` gives); a 2-D array
``(n_segments, n_samples)`` is a batch of independent segments (one result each, e.g. 10-s clinic
strips checked for AF). The source is a packaged recording (default: the e2epyppg smartwatch, whose own
heart rate is shown beside ours) or a file written by ``anyppg record`` / ``examples/record.py``.
Which way up the pulse is: a packaged recording says so; a file of an unknown sensor is checked with
``anyppg.check_polarity`` (read both ways up; turned over only where two independent reads agree).

    python examples/analyze_recording.py                           # the packaged smartwatch recording
    python examples/analyze_recording.py walk.npz --csv walk.csv   # a recording of yours, table to CSV
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
from pathlib import Path

import numpy as np

import anyppg
from anyppg import recordings
from anyppg.sdk.cmd_analyze import load_recording

log = logging.getLogger("analyze_recording")


def load(
    source: str,
) -> tuple[np.ndarray, float, np.ndarray | None, tuple[np.ndarray, np.ndarray] | None, str]:
    """PPG, its rate, the accelerometer (n, 3) or None, the device's heart rate (t, bpm) or None, and
    which way up the pulse is (a packaged recording knows; a file is checked in ``main``)."""
    if not Path(source).exists():
        rec = recordings.load(source)
        return rec.ppg, rec.ppg_fs, rec.acc, rec.reference_hr, recordings.polarity(source)
    # Any replay: file (the recorder's NPZ, CSV, WFDB) on its time grid: a sample the link lost is
    # NaN. analyze() bridges gaps up to 0.5 s; with gaps="restart" (below) it restarts its windows
    # after a longer one, as the stream did while recording (without it: an error naming where it is).
    ppg, _, fs, acc = load_recording(source)
    return ppg, fs, acc, None, "auto"


async def main(args: argparse.Namespace) -> None:
    ppg, fs, acc, device_hr, polarity = load(args.source)
    model = None if args.model == "none" else args.model
    log.info(
        "%s: %.0f s of PPG at %g Hz%s",
        args.source,
        len(ppg) / fs,
        fs,
        ", with accelerometer" * (acc is not None),
    )

    if polarity == "auto" and model is not None:  # a sensor we do not know: read it both ways up
        check = anyppg.check_polarity(ppg, fs, model=model)
        polarity = check.polarity
        log.info(
            "polarity %s (checked: turned over, quality index %+.2f, quality head %+.1f logits)",
            polarity,
            check.quality_gain,
            check.quality_head_gain,
        )
    elif polarity == "auto":
        polarity = "normal"  # the check needs the model's quality head

    # 1. The whole recording: one row per 10-s window every 2 s.
    a = anyppg.analyze(ppg, fs, acc=acc, model=model, polarity=polarity, gaps="restart")
    usable = a.usable.astype(bool)
    log.info("recording: %d windows, %d usable; model %s", len(a), usable.sum(), a.model)
    if len(a.gaps):
        log.info(
            "  %d dropout(s) over 0.5 s, %.1f s in all: windows restart after each",
            len(a.gaps),
            np.ptp(a.gaps, axis=1).sum(),
        )
    log.info("  heart rate (reported): median %.1f bpm", np.nanmedian(a.heart_rate))
    if model is not None:
        log.info("  heart rate (model head): median %.1f bpm", np.nanmedian(a.heart_rate_model))
        log.info(
            "  P(AF): mean %.3f, windows above 0.5: %d; AF alerts (irregular beats too, still): %d",
            np.nanmean(a.af_probability),
            int(np.sum(a.af_probability > 0.5)),
            int(np.sum(a.af_alert)),
        )
    if device_hr is not None:  # the device's own reading: its median inside each window
        t, bpm = device_hr
        ref = np.full(len(a), np.nan)
        for i, (start, end) in enumerate(zip(a.t_start, a.t_end, strict=True)):
            inside = (t >= start) & (t < end)
            if inside.any():
                ref[i] = np.median(bpm[inside])
        err = np.abs(a.heart_rate - ref)
        log.info(
            "  vs the device's heart rate: MAE %.2f bpm over %d windows",
            np.nanmean(err),
            np.isfinite(err).sum(),
        )

    # 2. The same PPG as independent segments: cut into consecutive 10-s strips, one result each.
    n = round(10.0 * fs)
    count = len(ppg) // n
    strips = ppg[: count * n].reshape(count, n)
    whole = np.isfinite(strips).all(axis=1)  # a strip with missing samples would be refused
    strip_acc = None if acc is None else acc[: count * n].reshape(count, n, 3)[whole]
    seg = anyppg.analyze(strips[whole], fs, acc=strip_acc, model=model, polarity=polarity)
    log.info("segments: %d strips of 10 s, one result each (%d)", whole.sum(), len(seg))
    for i in range(min(args.show, len(seg))):
        hr = "--" if np.isnan(seg.heart_rate[i]) else f"{seg.heart_rate[i]:.1f}"
        af = "" if model is None else f"  P(AF) {seg.af_probability[i]:.2f}"
        log.info("  strip %3d: HR %s bpm  quality %.2f%s", i, hr, seg.quality[i], af)

    if args.csv:
        records = a.to_records()  # one dict per window, the Result field names
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=a.columns())
            writer.writeheader()
            writer.writerows(records)
        log.info("wrote %d windows to %s", len(records), args.csv)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "source", nargs="?", default="e2epyppg-wrist", help="packaged recording name or NPZ file"
    )
    parser.add_argument(
        "--model", default="default", help="model file, 'default' (shipped student) or 'none'"
    )
    parser.add_argument("--show", type=int, default=5, help="segments to print (default 5)")
    parser.add_argument("--csv", metavar="PATH", help="write the recording's table here")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    asyncio.run(main(parser.parse_args()))
