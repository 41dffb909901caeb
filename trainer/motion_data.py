"""Window cache for the motion heart-rate model: TROIKA + BAMI-I reference windows as model inputs.

Every reference window of every recording (8 s, 2-s step, ECG heart rate) becomes one model input
per PPG channel (see :mod:`anyppg.signal.motion_spectra`), computed once at each time stretch used
for augmentation and saved to one ``.npz`` so that leave-one-subject-out folds only index arrays.

Arrays of a :class:`MotionWindows` (``N`` = windows x PPG channels x stretches):

- ``x`` float32 (N, 4, 64): model inputs; ``bpm`` float32 (N,): the reference times the stretch;
- ``window`` int32 (N,): the index of the reference window in :attr:`MotionWindows.meta`;
- ``channel`` int8 (N,): PPG channel; ``stretch`` float32 (N,): 1.0 for the real (test) inputs.

``meta`` has one row per reference window: dataset, subject key (``troika/04``), record, window end
time (s from the recording start) and the reference heart rate (bpm).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anyppg.datasets.wrist import WristRecording, read_bami, read_troika
from anyppg.errors import DataFormatError
from anyppg.signal.motion_spectra import HR_BINS_BPM, spectra_at_model_rate, window_at_model_rate

log = logging.getLogger(__name__)

STRETCHES: tuple[float, ...] = (0.85, 1.0, 1.15)
"""Time stretches computed for augmentation (1.0 = the recording as it is; the only one tested)."""

DATASET_FOLDERS: dict[str, str] = {"troika": "troika", "bami1": "bami1"}
"""Dataset name -> its folder inside the data directory."""


@dataclass
class MotionWindows:
    """The cached model inputs of all reference windows (see the module docstring)."""

    x: np.ndarray
    bpm: np.ndarray
    window: np.ndarray
    channel: np.ndarray
    stretch: np.ndarray
    dataset: np.ndarray  # (W,) str, per reference window
    subject: np.ndarray  # (W,) str, "troika/04"
    record: np.ndarray  # (W,) str
    t_end: np.ndarray  # (W,) float64 s
    ref_bpm: np.ndarray  # (W,) float64 bpm

    @property
    def subjects(self) -> list[str]:
        """Subject keys in first-seen order."""
        return list(dict.fromkeys(self.subject.tolist()))

    def save(self, path: str | Path) -> None:
        """Write every array to one compressed-free ``.npz`` (fast to reload)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{k: getattr(self, k) for k in self.__dataclass_fields__})

    @classmethod
    def load(cls, path: str | Path) -> MotionWindows:
        """Read a cache written by :meth:`save`.

        Raises:
            DataFormatError: the file lacks an array of this class.
        """
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in cls.__dataclass_fields__ if k not in z.files]
            if missing:
                raise DataFormatError(str(path), f"not a motion-window cache: missing {missing}")
            return cls(**{k: z[k] for k in cls.__dataclass_fields__})


def recording_windows(rec: WristRecording, stretches: Sequence[float] = STRETCHES) -> tuple[np.ndarray, ...]:
    """Model inputs of one recording's reference windows.

    Returns:
        ``(x (N, 4, 64), bpm (N,), window (N,), channel (N,), stretch (N,))`` with ``window`` local
        to this recording; stretched copies whose label leaves the bin range are left out.
    """
    xs, bpms, wins, chans, strs = [], [], [], [], []
    n_win = round(rec.ref_window_s * rec.fs)
    for i, (start, ref) in enumerate(zip(rec.ref_start_s, rec.ref_bpm, strict=True)):
        a = round(start * rec.fs)
        if a + n_win > rec.ppg.shape[1]:
            continue
        ppg, acc = window_at_model_rate(rec.ppg[:, a : a + n_win], rec.acc[:, a : a + n_win], rec.fs)
        for s in stretches:
            label = ref * s
            if s != 1.0 and not HR_BINS_BPM[0] + 3 <= label <= HR_BINS_BPM[-1] - 3:
                continue
            x = spectra_at_model_rate(ppg, acc, stretch=s)
            c = x.shape[0]
            xs.append(x)
            bpms.append(np.full(c, label, np.float32))
            wins.append(np.full(c, i, np.int32))
            chans.append(np.arange(c, dtype=np.int8))
            strs.append(np.full(c, s, np.float32))
    return tuple(np.concatenate(v) for v in (xs, bpms, wins, chans, strs))


def windows_from_recordings(
    recs: Sequence[WristRecording], stretches: Sequence[float] = STRETCHES
) -> MotionWindows:
    """Model inputs of every reference window of ``recs`` (see :func:`recording_windows`).

    Raises:
        ValueError: ``recs`` is empty, or ``stretches`` lacks 1.0.
    """
    if not recs:
        raise ValueError("no recordings to cut windows from")
    if 1.0 not in stretches:
        raise ValueError(f"stretches {tuple(stretches)} must include 1.0 (the unstretched test inputs)")
    t0 = time.perf_counter()
    parts: list[tuple[np.ndarray, ...]] = []
    meta: dict[str, list] = {"dataset": [], "subject": [], "record": [], "t_end": [], "ref_bpm": []}
    for rec in recs:
        x, bpm, win, chan, st = recording_windows(rec, stretches)
        offset = len(meta["t_end"])
        parts.append((x, bpm, win + offset, chan, st))
        k = len(rec.ref_start_s)
        meta["dataset"] += [rec.dataset] * k
        meta["subject"] += [f"{rec.dataset}/{rec.subject}"] * k
        meta["record"] += [rec.record] * k
        meta["t_end"] += list(rec.ref_start_s + rec.ref_window_s)
        meta["ref_bpm"] += list(rec.ref_bpm)
        log.info("%s %s: %d windows, %d PPG channel(s)", rec.dataset, rec.record, k, rec.ppg.shape[0])
    arrays = [np.concatenate([p[i] for p in parts]) for i in range(5)]
    out = MotionWindows(
        *arrays,
        dataset=np.array(meta["dataset"]),
        subject=np.array(meta["subject"]),
        record=np.array(meta["record"]),
        t_end=np.array(meta["t_end"], dtype=np.float64),
        ref_bpm=np.array(meta["ref_bpm"], dtype=np.float64),
    )
    log.info(
        "cached %d inputs of %d windows from %d recordings in %.0f s",
        len(out.x), len(out.t_end), len(recs), time.perf_counter() - t0,
    )  # fmt: skip
    return out


def build_windows(data: str | Path, stretches: Sequence[float] = STRETCHES) -> MotionWindows:
    """Read TROIKA and BAMI-I from the data folder and compute every window's model inputs.

    Args:
        data: the data directory holding ``troika/`` and ``bami1/``.
        stretches: time stretches to compute (must include 1.0).

    Raises:
        DataFormatError: a dataset folder is missing or a file is malformed (from the readers).
    """
    root = Path(data)
    recs = read_troika(root / DATASET_FOLDERS["troika"]) + read_bami(root / DATASET_FOLDERS["bami1"])
    return windows_from_recordings(recs, stretches)


def simulated_recording(
    subject: str,
    *,
    duration_s: float = 60.0,
    heart_rate: float = 90.0,
    motion: float = 0.5,
    fs: float = 50.0,
    seed: int = 0,
) -> WristRecording:
    """A :class:`WristRecording` from :func:`anyppg.simulate` (one PPG channel, running motion).

    The reference of each 8-s window (2-s step) is the mean of the simulated beats' rates in it.
    Used by the tests and as a check that the pipeline learns a known rate.
    """
    from anyppg.simulator import simulate

    sim = simulate(
        duration_s, heart_rate=heart_rate, motion=motion, motion_fraction=0.7, ppg_rate=fs, seed=seed
    )
    starts = np.arange(0.0, duration_s - 8.0 + 1e-9, 2.0)
    ref = np.array([sim.mean_heart_rate(s, s + 8.0) for s in starts])
    return WristRecording(
        dataset="sim",
        subject=subject,
        record=f"sim-{subject}",
        fs=fs,
        ppg=sim.ppg[None, :].astype(np.float64),
        acc=sim.acc.T.astype(np.float64),
        ecg=None,
        ref_start_s=starts,
        ref_window_s=8.0,
        ref_bpm=ref,
    )


def load_or_build(data: str | Path, cache: str | Path) -> MotionWindows:
    """The cached windows at ``cache``, building (and saving) them from ``data`` when missing."""
    cache = Path(cache)
    if cache.is_file():
        return MotionWindows.load(cache)
    windows = build_windows(data)
    windows.save(cache)
    return windows
