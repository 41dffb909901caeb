"""Opening NPZ files that come from users: every way one can be broken is a one-line :class:`DataFormatError`.

``np.load`` on an untrusted file raises ``EOFError`` (empty), ``zipfile.BadZipFile`` (truncated),
a ``ValueError`` about pickles (any other bytes), leaks its file handle when the archive is bad, and
allocates whatever a member's header declares before reading it (a 100-byte member can ask for
745 GiB). :func:`open_npz` checks the archive first, then hands back numpy's lazy ``NpzFile``.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "rec.npz"
    >>> np.savez(path, ppg=np.zeros(10), fs=np.float64(64))
    >>> with open_npz(path) as z:
    ...     sorted(z.files)
    ['fs', 'ppg']
"""

from __future__ import annotations

import contextlib
import math
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from anyppg.errors import DataFormatError

__all__ = ["NPZ_ERRORS", "open_npz"]

#: what numpy and zipfile raise on a damaged archive or member (for callers that read members).
NPZ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive's end record


@contextlib.contextmanager
def open_npz(path: str | Path) -> Iterator[Any]:
    """Open an NPZ archive for reading its members (``z["ppg"]``), without pickles.

    Raises:
        DataFormatError: the file is empty, not a zip archive, truncated, or a member's header
            declares more data than the member holds; the message names the file (and member).
            Errors while reading members inside the ``with`` block are turned into the same
            one-line error.
    """
    p = Path(path)
    with p.open("rb") as f:  # our own handle: numpy leaks the one it opens when the zip is bad
        head = f.read(4)
        if not head:
            raise DataFormatError(str(p), "file is empty; expected an NPZ (zip) archive")
        if head not in _ZIP_MAGIC:
            raise DataFormatError(str(p), f"not an NPZ file (starts with {head!r}, not a zip archive's 'PK')")
        f.seek(0)
        try:
            _check_members(p, f)
            f.seek(0)
            with np.load(f, allow_pickle=False) as z:
                yield z
        except DataFormatError:
            raise
        except NPZ_ERRORS as exc:
            detail = " ".join(str(exc).split())[:200]
            raise DataFormatError(
                str(p), f"not a readable NPZ file ({type(exc).__name__}: {detail})"
            ) from None


def _check_members(path: Path, f: Any) -> None:
    """Each ``.npy`` member must hold the bytes its header declares (checked before numpy allocates)."""
    with zipfile.ZipFile(f) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                else:  # 3.0 only adds UTF-8 field names, which no recording array has
                    raise DataFormatError(
                        str(path), f"member {info.filename} uses .npy format {version}; expected 1.0 or 2.0"
                    )
            if dtype.hasobject:
                continue  # np.load refuses pickled members by itself
            declared = math.prod(shape) * dtype.itemsize
            if declared > info.file_size:
                raise DataFormatError(
                    str(path),
                    f"member {info.filename} declares shape {shape} ({declared:,} bytes) but holds "
                    f"{info.file_size:,} bytes",
                )
