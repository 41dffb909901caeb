"""Error types of anyppg.

Every error the library raises on purpose derives from :class:`AnyPPGError`, so an application can
catch one type. Where a builtin exception fits the meaning (bad input is a ``ValueError``, a missing
file is a ``FileNotFoundError``) the subclass also derives from it. Each subclass carries the facts
of the failure as attributes, not only in its message.

Subsystems add their own subclasses next to their code (``anyppg.firmware_bridge``, ``anyppg.sdk``,
...); the ones shared across subsystems live here.
"""

from __future__ import annotations

from collections.abc import Sequence


class AnyPPGError(Exception):
    """Root of all anyppg errors."""


# --- bad input -------------------------------------------------------------------------------------


class InvalidSignalError(AnyPPGError, ValueError):
    """A signal cannot be processed: NaN/inf, wrong dtype or shape, too short, ...

    Attributes:
        reason: what is wrong, in words.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsupportedRateError(AnyPPGError, ValueError):
    """A sampling rate is outside what a function or a model accepts.

    Attributes:
        rate: the rate that was given (Hz).
        expected: the rate, or a description of the range, that is accepted.
    """

    def __init__(self, rate: float, expected: float | str, what: str = "signal") -> None:
        exp = f"{expected:g} Hz" if isinstance(expected, int | float) else str(expected)
        super().__init__(f"unsupported sampling rate {rate:g} Hz for {what}; expected {exp}")
        self.rate = rate
        self.expected = expected


class TimestampError(AnyPPGError, ValueError):
    """Timestamps are not strictly increasing, or do not match the samples.

    Attributes:
        index: the first offending sample index, or None when the whole array is wrong.
    """

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


# --- files and data --------------------------------------------------------------------------------


class RecordingNotFoundError(AnyPPGError, FileNotFoundError):
    """A packaged recording is not installed, or its file is missing.

    Attributes:
        name: the recording's name (see ``anyppg.recordings.list_recordings()``).
        install_command: the exact command that installs the package that ships it.
    """

    def __init__(self, name: str, install_command: str, detail: str = "") -> None:
        msg = f"recording {name!r} is not available"
        if detail:
            msg += f" ({detail})"
        msg += f"; install it with: {install_command}"
        super().__init__(msg)
        self.name = name
        self.install_command = install_command


class DataFormatError(AnyPPGError, ValueError):
    """A data file exists but its content is not what the reader expects.

    Attributes:
        path: the file.
        reason: what is wrong with it.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class CheckpointError(AnyPPGError, ValueError):
    """A model checkpoint cannot be loaded into the requested architecture.

    Attributes:
        path: the checkpoint file.
        missing: state-dict keys the model needs that the file lacks.
        unexpected: keys in the file that the model does not have.
    """

    def __init__(
        self,
        path: str,
        reason: str,
        missing: Sequence[str] = (),
        unexpected: Sequence[str] = (),
    ) -> None:
        msg = f"{path}: {reason}"
        if missing:
            msg += f"; missing keys ({len(missing)}): {', '.join(list(missing)[:10])}"
            msg += " ..." if len(missing) > 10 else ""
        if unexpected:
            msg += f"; unexpected keys ({len(unexpected)}): {', '.join(list(unexpected)[:10])}"
            msg += " ..." if len(unexpected) > 10 else ""
        super().__init__(msg)
        self.path = path
        self.missing = list(missing)
        self.unexpected = list(unexpected)


# --- models and runtimes ---------------------------------------------------------------------------


class ModelLoadError(AnyPPGError):
    """A deployed model file (``.pte``, ``.tflite``, model card) cannot be loaded.

    Attributes:
        path: the model file.
        reason: what is wrong with it.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot load model {path}: {reason}")
        self.path = path
        self.reason = reason


class ModelInputError(AnyPPGError, ValueError):
    """An input does not match what a model expects.

    Attributes:
        expected: the expected shape.
        got: the shape that was given.
    """

    def __init__(self, expected: Sequence[int], got: Sequence[int], what: str = "model input") -> None:
        super().__init__(f"{what} has shape {tuple(got)}; expected {tuple(expected)}")
        self.expected = tuple(expected)
        self.got = tuple(got)


class RuntimeUnavailableError(AnyPPGError, ImportError):
    """The runtime needed for a model format is not installed.

    Attributes:
        runtime: the runtime's name.
        install_command: how to install it.
    """

    def __init__(self, runtime: str, install_command: str) -> None:
        super().__init__(f"{runtime} is not installed; install it with: {install_command}")
        self.runtime = runtime
        self.install_command = install_command


# --- devices and protocols -------------------------------------------------------------------------


class ProtocolError(AnyPPGError, ValueError):
    """Bytes on the wire do not decode as the protocol says (bad length, field out of range, ...)."""


class DeviceError(AnyPPGError):
    """Root of device and transport errors."""


class DeviceNotFoundError(DeviceError):
    """No device matched the identifier.

    Attributes:
        identifier: the name or address that was searched for.
        seen: the devices the scan saw (names or addresses).
    """

    def __init__(self, identifier: str, seen: Sequence[str] = ()) -> None:
        seen_text = ", ".join(seen) if seen else "nothing"
        super().__init__(f"device {identifier!r} not found; the scan saw: {seen_text}")
        self.identifier = identifier
        self.seen = list(seen)


class DeviceDisconnectedError(DeviceError):
    """The link to a device was lost and could not be re-established.

    Attributes:
        identifier: the device.
        attempts: how many reconnect attempts were made.
    """

    def __init__(self, identifier: str, attempts: int = 0, reason: str = "") -> None:
        msg = f"device {identifier!r} disconnected"
        if attempts:
            msg += f" (gave up after {attempts} reconnect attempts)"
        if reason:
            msg += f": {reason}"
        super().__init__(msg)
        self.identifier = identifier
        self.attempts = attempts


class UnknownSchemeError(AnyPPGError, ValueError):
    """A device URL uses a scheme that no transport handles.

    Attributes:
        url: the URL.
        known: the schemes that are supported.
    """

    def __init__(self, url: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown device URL {url!r}; known schemes: {', '.join(known)}")
        self.url = url
        self.known = list(known)
