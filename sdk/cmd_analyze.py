"""``anyppg analyze FILE``: analyse a recording file in one go (:func:`anyppg.analyze`), as a table.

``FILE`` is any ``replay:`` format (NPZ, CSV, WFDB directory, EDF, recorder journal; see
:mod:`anyppg.sdk.replay_files`). By default the recording is one continuous stream: one row per 10 s
window every 2 s, the same windows and values as ``anyppg stream replay:FILE`` (every PPG channel
and the accelerometer included; the model also runs on windows the quality gate marks unusable).
With ``--segments`` the file holds independent segments, one row each: an NPZ whose ``ppg`` (or
``ppg_segments``) is ``(n_segments, n_samples)`` with ``fs`` (or ``fs_ppg``), or any recording cut
into consecutive ``--segment-s`` second segments of its channel 0 (the samples after the last whole
segment are left out, with a note on stderr).

``--motion-model auto`` (default) fuses the shipped learned PPG + accelerometer model with the tracker
when the file has an accelerometer (columns ``heart_rate_motion_model`` and ``heart_rate_sources``);
``none`` leaves it out; a path loads that file. ``--polarity inverted`` negates the PPG before anything
reads it, for a sensor whose counts fall as blood volume rises (:mod:`anyppg.sdk.polarity`);
``--polarity auto`` chooses by :func:`anyppg.check_polarity` and says what it chose on stderr (and as
``polarity_check`` in ``--json``).

Output: a text line per row (default; then one line on stderr about the whole file, rows, those
past the quality gate, their heart rate's median and range and the AF alerts: :func:`summary_line`,
left out with ``--quiet``), ``--csv`` a CSV table, ``--json`` one JSON object
(``{"type": "analysis", "file", "sampling_rate", "segments", "model", "motion_model", "polarity", "polarity_check", "gaps",
"rows", "columns", "results"}``,
``--embedding`` adds each row's embedding, and ``"gaps"`` lists the recording's gaps). ``--out PATH``
writes the CSV / JSON there instead of stdout. Missing samples in the file (NaN, empty cells, gaps in
``t``) are bridged up to 0.5 s; after a longer gap the windows restart, as ``stream replay:`` does
(``analyze(..., gaps="restart")``), and stderr says where the gaps were; ``--gaps error`` refuses such
a file instead, naming the first long gap. A segment (``--segments``) with a longer gap is refused.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from anyppg.errors import AnyPPGError

__all__ = [
    "AnalysisWriteError", "add_arguments", "holds_only_segments", "load_recording", "load_segments", "run",
    "summary_line",
]  # fmt: skip


class AnalysisWriteError(AnyPPGError, OSError):
    """The table cannot be written to ``--out`` (missing folder, no permission, full disk).

    Attributes:
        path: the output path.
        reason: what the operating system said.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot write {path}: {reason}")
        self.path = path
        self.reason = reason


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", metavar="FILE", help="recording: .npz, .csv, .edf, .journal or a WFDB directory"
    )
    parser.add_argument(
        "--model",
        default="default",
        help="model file (.tflite / .pte); 'default' = the shipped int8 student; 'none' = signal only",
    )
    from anyppg.cli_options import add_motion_model_option, add_polarity_option

    add_motion_model_option(parser)
    add_polarity_option(parser, auto=True)
    parser.add_argument(
        "--segments",
        action="store_true",
        help="independent segments, one row each (2-D NPZ ppg, or the recording cut every --segment-s; "
        "an NPZ holding only 'ppg_segments' is read so without it)",
    )
    parser.add_argument(
        "--segment-s",
        type=float,
        default=10.0,
        help="with --segments on a 1-D recording: segment length, s (default 10, at least 10)",
    )
    parser.add_argument(
        "--gaps",
        choices=("restart", "error"),
        default="restart",
        help="after a gap of over 0.5 s in a recording: restart the windows, as stream replay: does "
        "(default), or refuse the file",
    )
    parser.add_argument("--csv", action="store_true", help="a CSV table (one row per window or segment)")
    parser.add_argument("--embedding", action="store_true", help="include embeddings in --json output")
    parser.add_argument("--out", metavar="PATH", default=None, help="write the CSV / JSON here, not stdout")


def load_recording(path: str | Path) -> tuple[np.ndarray, np.ndarray | None, float, np.ndarray | None]:
    """A replay-format file on a regular sample grid: PPG channel 0 ``(n,)``, the further channels
    ``(channels - 1, n)`` or None, the rate, and the accelerometer ``(n, 3)`` or None. Gaps in ``t``
    become NaN (bridged up to 0.5 s by :func:`anyppg.analyze`; beyond, as its ``gaps=`` says).

    Raises:
        DataFormatError: the file is not a readable recording.
        RuntimeUnavailableError: a WFDB record without the ``wfdb`` package.
    """
    from anyppg.sdk.replay_files import load_replay

    data = load_replay(path)
    ppg = data.ppg if data.ppg.ndim == 2 else data.ppg[:, None]
    acc = data.acc
    idx = np.round((data.t - data.t[0]) * data.rate).astype(np.int64)
    if not (idx.shape[0] == idx[-1] + 1 and np.all(np.diff(idx) == 1)):
        idx = np.maximum.accumulate(idx)  # jitter in t must not reorder samples
        grid = np.full((int(idx[-1]) + 1, ppg.shape[1]), np.nan)
        grid[idx] = ppg
        ppg = grid
        if acc is not None:
            acc = np.full((grid.shape[0], 3), np.nan)
            acc[idx] = data.acc
    extra = ppg[:, 1:].T if ppg.shape[1] > 1 else None
    return ppg[:, 0], extra, data.rate, acc


def holds_only_segments(path: str | Path) -> bool:
    """Whether ``path`` is an NPZ whose PPG is only segments (``ppg_segments``, no ``ppg``: the data
    folder's Liu files): such a file is analysed as segments without ``--segments``."""
    p = Path(path)
    if p.suffix.lower() != ".npz" or not p.is_file():
        return False
    from anyppg.npz import open_npz

    with open_npz(p) as z:
        return "ppg_segments" in z.files and "ppg" not in z.files


def load_segments(path: str | Path, segment_s: float) -> tuple[np.ndarray, float, np.ndarray | None, int]:
    """The segments of ``path``: ``(ppg (n_segments, n_samples), rate, acc or None, samples left out)``.

    An NPZ with a 2-D ``ppg`` / ``ppg_segments`` and ``fs`` / ``fs_ppg`` is taken as it is; any other
    recording is cut into consecutive ``segment_s`` second segments.

    Raises:
        DataFormatError: the file is not a recording, or ``segment_s`` is shorter than 10 s or longer
            than the recording.
    """
    from anyppg.errors import DataFormatError

    p = Path(path)
    if p.suffix.lower() == ".npz" and p.is_file():
        from anyppg.npz import open_npz
        from anyppg.sdk.replay_files import NPZ_RATE_KEYS

        with open_npz(p) as z:
            key = next((k for k in ("ppg_segments", "ppg") if k in z.files), None)
            rate_key = next((k for k in NPZ_RATE_KEYS if k in z.files), None)
            if key is not None and np.ndim(z[key]) == 2 and z[key].shape[0] <= z[key].shape[1]:
                if rate_key is None:
                    raise DataFormatError(str(p), f"segments {key!r} need a sampling rate 'fs' (Hz)")
                rate = np.asarray(z[rate_key])
                if rate.size != 1 or rate.dtype.kind not in "iuf":
                    raise DataFormatError(
                        str(p), f"{rate_key!r} must be one number (Hz), not shape {rate.shape}"
                    )
                return np.asarray(z[key], dtype=np.float64), float(rate.reshape(())), None, 0
    if not (math.isfinite(segment_s) and segment_s >= 10.0):
        raise DataFormatError(str(p), f"--segment-s {segment_s:g} is too short; segments need at least 10 s")
    ppg, extra, rate, acc = load_recording(p)
    if extra is not None:
        print(
            f"anyppg analyze: {p}: segments of channel 0 of {extra.shape[0] + 1} PPG channels",
            file=sys.stderr,
        )
    n_seg = round(segment_s * rate)
    count = ppg.shape[0] // n_seg
    if count == 0:
        raise DataFormatError(
            str(p), f"recording of {ppg.shape[0] / rate:.3g} s is shorter than one {segment_s:g} s segment"
        )
    used = count * n_seg
    seg_acc = None if acc is None else acc[:used].reshape(count, n_seg, 3)
    return ppg[:used].reshape(count, n_seg), rate, seg_acc, ppg.shape[0] - used


def _csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    return buf.getvalue()


def _text_line(row: dict[str, Any], label: str) -> str:
    def num(value: Any, fmt: str) -> str:
        return "--" if value is None else format(value, fmt)

    parts = [
        f"{label}  {row['t_start']:8.1f}-{row['t_end']:8.1f} s",
        f"HR {num(row['heart_rate'], '6.1f')} bpm (model {num(row['heart_rate_model'], '6.1f')}"
        + (
            f", motion model {num(row['heart_rate_motion_model'], '6.1f')}"
            if row.get("heart_rate_motion_model") is not None
            else ""
        )
        + ")",
        f"quality {num(row['quality'], '.2f')}{'' if row['usable'] else ' (gated)'}",
        f"P(AF) {num(row['af_probability'], '.2f')}" + ("  AF alert" if row.get("af_alert") else ""),
    ]
    if row.get("rhythm") is not None:
        parts.append(f"rhythm {row['rhythm']}")
    return "  ".join(parts)


def summary_line(analysis: Any) -> str:
    """One line about a whole :class:`~anyppg.sdk.analyze.Analysis`: rows, how many passed the
    quality gate, the reported heart rate's median and range over them, and the AF alerts."""
    kind = "segments" if analysis.segments else "windows"
    usable = analysis.usable
    hr = analysis.heart_rate[usable & np.isfinite(analysis.heart_rate)]
    rate = (
        f"heart rate median {np.median(hr):.1f} bpm ({hr.min():.1f}-{hr.max():.1f})"
        if hr.size
        else "no heart rate"
    )
    alerts = int(np.count_nonzero(analysis.af_alert))
    return f"{len(analysis)} {kind}, {int(usable.sum())} passed the quality gate; {rate}; AF alerts {alerts}"


def run(args: argparse.Namespace) -> int:
    import anyppg
    from anyppg.sdk.json_lines import dumps

    left_out, extra = 0, None
    segments = args.segments or holds_only_segments(args.file)
    if segments and not args.segments and not args.quiet:
        print(
            f"anyppg analyze: {args.file} holds segments ('ppg_segments', no 'ppg'): one row per segment",
            file=sys.stderr,
        )
    if segments:
        ppg, rate, acc, left_out = load_segments(args.file, args.segment_s)
    else:
        ppg, extra, rate, acc = load_recording(args.file)
    analysis = anyppg.analyze(
        ppg,
        rate,
        acc=acc,
        model=args.model,
        extra_channels=extra,
        motion_model=args.motion_model,
        polarity=args.polarity,
        gaps=args.gaps,
    )
    rows = analysis.to_records()
    columns = analysis.columns()
    check = analysis.polarity_check  # with auto: the check that chose; else the pipeline's own
    if args.polarity == "auto" and check is not None and not args.quiet:
        print(
            f"anyppg analyze: polarity auto -> {check.polarity} (turned over, over {check.windows} "
            f"{'segments' if analysis.segments else 'windows'}: quality index {check.quality_gain:+.2f}, "
            + (
                f"quality head {check.quality_head_gain:+.1f} logits)"
                if math.isfinite(check.quality_head_gain)
                else "no model, so kept as given)"
            ),
            file=sys.stderr,
        )
    if len(analysis.gaps) and not args.quiet:
        lengths = analysis.gaps[:, 1] - analysis.gaps[:, 0]
        at = int(np.argmax(lengths))
        print(
            f"anyppg analyze: {len(analysis.gaps)} gap(s) over 0.5 s ({lengths.sum():.3g} s in all, the longest "
            f"{lengths[at]:.3g} s at {analysis.gaps[at, 0]:.3g} s): the windows restart after each",
            file=sys.stderr,
        )
    if left_out and not args.quiet:
        print(
            f"anyppg analyze: {left_out} samples after the last whole segment left out ({left_out / rate:.3g} s)",
            file=sys.stderr,
        )
    if args.json:
        if args.embedding and analysis.embedding.shape[1]:
            for row, emb in zip(rows, analysis.embedding, strict=True):
                row["embedding"] = [None if not math.isfinite(v) else round(float(v), 6) for v in emb]
        text = dumps(
            {
                "type": "analysis",
                "file": str(args.file),
                "sampling_rate": rate,
                "segments": analysis.segments,
                "model": analysis.model,
                "motion_model": analysis.motion_model,
                "polarity": analysis.polarity,
                "polarity_check": None if check is None else check.to_dict(),
                "gaps": [[round(float(a), 6), round(float(b), 6)] for a, b in analysis.gaps],
                "rows": len(rows),
                "columns": columns,
                "results": rows,
            }
        )
        text += "\n"
    elif args.csv:
        text = _csv_text(rows, columns)
    else:
        label = "segment" if analysis.segments else "window"
        text = "".join(f"{_text_line(r, f'{label} {i:4d}')}\n" for i, r in enumerate(rows))
        if not args.quiet:
            print(f"anyppg analyze: {summary_line(analysis)}", file=sys.stderr)
    if args.out:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise AnalysisWriteError(str(args.out), exc.strerror or type(exc).__name__) from None
        if args.json:  # stdout stays one JSON object: where the table went
            print(dumps({"type": "written", "file": str(args.file), "rows": len(rows), "out": str(args.out)}))
        elif not args.quiet:
            print(f"anyppg analyze: {len(rows)} rows written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0
