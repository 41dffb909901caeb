"""Phone-camera fingertip PPG with chest-strap RR intervals: the Welltory dataset (CC0 1.0).

Each recording is the mean red, green and blue of every camera frame while a fingertip covers the
lens (about 30 frames/s, irregular frame times), 68-112 s long, with the RR intervals a Polar H10
chest strap measured at the same time. The reader puts the frames on a uniform grid at the nominal
frame rate with the core's resampler (:func:`anyppg.signal.resample` with timestamps).

The RR series and the video are not time-stamped against each other: :attr:`CameraRecording.beat_times_s`
places the first beat at 0 s, so per-window heart rates are approximate in time; the recording's
mean heart rate (:attr:`CameraRecording.heart_rate_bpm`) is exact. The files are named by recording;
the 21 recordings come from 13 people and which ones share a person is not given, so keep the whole
set in one split (it serves best as an external test set).

Citation: Neshitov A. et al., Sensors 21:6798, 2021 (github.com/Welltory/welltory-ppg-dataset).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anyppg.datasets._npz import dataset_files, rate, real
from anyppg.errors import DataFormatError
from anyppg.npz import open_npz
from anyppg.signal.resampling import resample

__all__ = ["WELLTORY_PATTERN", "CameraRecording", "read_welltory", "read_welltory_file"]

WELLTORY_PATTERN = r"subject_(\d+)\.npz"
CHANNELS: tuple[str, str, str] = ("red", "green", "blue")


@dataclass(frozen=True)
class CameraRecording:
    """One camera PPG recording with chest-strap RR intervals.

    Attributes:
        dataset: ``"welltory"``.
        subject: the recording's number as ``"welltory:NN"`` (people are not identified; see above).
        record: the file's stem.
        fs: rate of ``ppg_rgb`` after resampling (Hz), the camera's nominal frame rate.
        ppg_rgb: mean red, green, blue per frame on a uniform grid, shape (3, n), float64 (0-255).
        channels: ``("red", "green", "blue")``.
        rr_s: RR intervals from the chest strap (s), shape (k,).
        dropped_frames: frames left out because their time did not increase.
    """

    dataset: str
    subject: str
    record: str
    fs: float
    ppg_rgb: np.ndarray
    rr_s: np.ndarray
    dropped_frames: int = 0
    channels: tuple[str, ...] = CHANNELS

    @property
    def beat_times_s(self) -> np.ndarray:
        """Beat times (s) from the RR series, the first beat at 0 s (alignment to the video unknown)."""
        return np.concatenate([[0.0], np.cumsum(self.rr_s)])

    @property
    def heart_rate_bpm(self) -> float:
        """Mean heart rate over the recording (bpm): 60 / mean RR."""
        return 60.0 / float(np.mean(self.rr_s))

    @property
    def duration_s(self) -> float:
        """Length of the video (s)."""
        return self.ppg_rgb.shape[1] / self.fs


def read_welltory_file(path: str | Path) -> CameraRecording:
    """Read one Welltory recording (``subject_NN.npz``: ``ppg_rgb`` (3, N), ``t_ppg`` (N,) in s,
    ``fs_ppg_nominal`` (Hz), ``rr_ms`` (k,)).

    Raises:
        DataFormatError: not a readable NPZ, a key missing, ``ppg_rgb`` not (3, N) like ``t_ppg``,
            fewer than 2 increasing frame times, or RR intervals that are not positive; the message
            names the file and the key.
    """
    p = Path(path)
    with open_npz(p) as z:
        rgb = real(z, p, "ppg_rgb", ndim=2)
        t = real(z, p, "t_ppg", ndim=1)
        fs = rate(z, p, "fs_ppg_nominal")
        rr_ms = real(z, p, "rr_ms").ravel()
    if rgb.shape != (3, len(t)):
        raise DataFormatError(str(p), f"'ppg_rgb' has shape {rgb.shape}; expected (3, {len(t)}) like 't_ppg'")
    if len(rr_ms) == 0 or np.any(rr_ms <= 0):
        raise DataFormatError(str(p), "'rr_ms' must hold positive RR intervals (ms)")
    # Frame times must increase; a repeated or backwards stamp is a dropped duplicate frame.
    keep = np.concatenate([[True], np.diff(t) > 0])
    keep &= t >= np.maximum.accumulate(t)
    if keep.sum() < 2:
        raise DataFormatError(str(p), "'t_ppg' has fewer than 2 increasing frame times (s)")
    uniform = resample(rgb[:, keep].T, fs, fs, timestamps=t[keep]).T
    number = p.stem.rsplit("_", 1)[-1]
    return CameraRecording(
        dataset="welltory",
        subject=f"welltory:{number}",
        record=p.stem,
        fs=fs,
        ppg_rgb=np.ascontiguousarray(uniform),
        rr_s=rr_ms / 1000.0,
        dropped_frames=int((~keep).sum()),
    )


def read_welltory(root: str | Path) -> list[CameraRecording]:
    """Read every Welltory recording of a folder (21 recordings, 0.5 h).

    Raises:
        DataFormatError: ``root`` is not a folder, holds no ``subject_NN.npz``, or a file is broken.
    """
    return [read_welltory_file(p) for p, _ in dataset_files(root, WELLTORY_PATTERN, "Welltory")]
