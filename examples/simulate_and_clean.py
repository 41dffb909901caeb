"""Simulate a wearable recording, stream it through the preprocessing, track heart rate and quality.

The simulator gives synchronized PPG, ECG and wrist acceleration with exact labels, so every number
printed here is checked against the truth: the tracked heart rate of each 10 s window against the
simulated one, the R peaks found in the ECG against the simulated R peaks, and the windows produced
live (chunk by chunk, as samples arrive over BLE) against the windows the trainer would produce
from the whole recording.

    python examples/simulate_and_clean.py
    python examples/simulate_and_clean.py --ppg-rate 64 --motion 1.5 --cadence 2.2 --heart-rate 95
    python examples/simulate_and_clean.py --rhythm af --plot af.png    # needs matplotlib
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import numpy as np

import anyppg
from anyppg.signal import (
    HeartRateTracker,
    PPGPreprocessor,
    ecg_findpeaks,
    ppg_clean,
    ppg_quality,
    preprocess_recording,
)

log = logging.getLogger("simulate_and_clean")


async def main(args: argparse.Namespace) -> int:
    sim = anyppg.simulate(
        args.seconds,
        heart_rate=args.heart_rate,
        rhythm=args.rhythm,
        ppg_rate=args.ppg_rate,
        motion=args.motion,
        motion_fraction=1.0 if args.motion else 0.0,
        cadence=args.cadence,
        seed=args.seed,
    )
    fs = sim.ppg_rate
    log.info(
        "simulated %g s of %s rhythm at %.1f bpm: PPG %d samples at %g Hz, ECG %d at %g Hz",
        sim.duration_s, sim.rhythm, sim.heart_rate, len(sim.ppg), fs, len(sim.ecg), sim.ecg_rate,
    )  # fmt: skip

    # Live: feed the samples in BLE-notification-sized chunks, as the SDK does.
    pre = PPGPreprocessor(fs, hop_s=2.0)
    tracker = HeartRateTracker()
    live, errors = [], []
    chunk = args.chunk
    log.info("window     time (s)   true bpm  tracked bpm   sqi  usable  motion")
    for i in range(0, len(sim.ppg), chunk):
        for w in pre.push(sim.ppg[i : i + chunk], sim.acc[i : i + chunk]):
            live.append(w)
            bpm = tracker.update(w.filtered, w.acc, dt_s=pre.hop_s)
            lo, hi = round(w.start_s * fs), round(w.end_s * fs)
            q = ppg_quality(sim.ppg[lo:hi], fs, acc=sim.acc[lo:hi])
            truth = sim.mean_heart_rate(w.start_s, w.end_s)
            errors.append(abs(bpm - truth))
            log.info(
                "%6d  %5.1f-%5.1f  %9.1f  %11.1f  %4.2f  %6s  %6s",
                w.index, w.start_s, w.end_s, truth, bpm, q.sqi, q.usable, q.motion,
            )  # fmt: skip

    log.info(
        "heart-rate tracking: mean absolute error %.2f bpm over %d windows", np.mean(errors), len(errors)
    )

    # Training: the same windows from the whole recording, in one call.
    offline = preprocess_recording(sim.ppg, fs, acc=sim.acc)
    same = len(offline) == len(live) and all(
        np.array_equal(a.ppg, b.ppg) for a, b in zip(offline, live, strict=True)
    )
    log.info("live windows identical to the training windows: %s", same)

    r_found = ecg_findpeaks(sim.ecg, sim.ecg_rate) / sim.ecg_rate
    dist = np.abs(r_found[:, None] - sim.r_peaks[None, :])
    log.info(
        "ECG R peaks: %d found, %d simulated, sensitivity %.3f, PPV %.3f (30 ms tolerance)",
        len(r_found), len(sim.r_peaks), (dist.min(axis=0) <= 0.03).mean(), (dist.min(axis=1) <= 0.03).mean(),
    )  # fmt: skip

    if args.plot:
        _plot(sim, args.plot)
    return 0 if same else 1


def _plot(sim, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_ppg, t_ecg = sim.ppg_time, sim.ecg_time
    show = t_ppg < 10
    fig, axes = plt.subplots(3, 1, figsize=(10, 7), sharex=True)
    axes[0].plot(t_ecg[t_ecg < 10], sim.ecg[t_ecg < 10], lw=0.8)
    axes[0].plot(
        sim.r_peaks[sim.r_peaks < 10], np.interp(sim.r_peaks[sim.r_peaks < 10], t_ecg, sim.ecg), "rx"
    )
    axes[0].set_ylabel("ECG (mV)")
    axes[1].plot(t_ppg[show], sim.ppg[show], lw=0.8, label="raw")
    axes[1].plot(t_ppg[show], ppg_clean(sim.ppg, sim.ppg_rate)[show], lw=0.8, label="0.5-8 Hz")
    axes[1].legend(loc="upper right")
    axes[1].set_ylabel("PPG")
    axes[2].plot(t_ppg[show], sim.acc[show])
    axes[2].set_ylabel("acc (g)")
    axes[2].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    log.info("wrote %s", path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="recording length (s)")
    parser.add_argument("--heart-rate", type=float, default=72.0, help="mean heart rate (bpm)")
    parser.add_argument("--rhythm", choices=["sinus", "af"], default="sinus")
    parser.add_argument("--ppg-rate", type=float, default=25.0, help="the wearable's PPG rate (Hz)")
    parser.add_argument("--motion", type=float, default=0.0, help="motion artefact (0 none, 1 ~ the pulse)")
    parser.add_argument("--cadence", type=float, default=None, help="steps per second while moving")
    parser.add_argument("--chunk", type=int, default=10, help="samples per BLE notification")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="PNG", help="save a figure of the first 10 s (matplotlib)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    raise SystemExit(asyncio.run(main(parser.parse_args())))
