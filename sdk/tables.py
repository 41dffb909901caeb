"""Results as a table: :class:`Results` (a list of :class:`~anyppg.sdk.results.Result`) with columns.

One row per window, one column per field of :meth:`Result.to_dict` (``device``, ``t_start``,
``t_end``, ``heart_rate``, ``quality``, ``received``, ...), so a field added to ``Result.to_dict``
becomes a column with no change here. Columns come as plain lists (:meth:`Results.to_dict`), numpy
arrays (:meth:`Results.to_arrays`, missing values as NaN) or a pandas DataFrame
(:meth:`Results.to_dataframe`, with the ``notebook`` extra).

Example::

    >>> from anyppg.sdk.tables import Results
    >>> table = Results([])
    >>> table.to_arrays()
    {}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from anyppg.errors import InvalidSignalError, RuntimeUnavailableError
from anyppg.sdk.accounting import Accounting
from anyppg.sdk.results import Result

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = ["Results", "to_dataframe"]

PANDAS_INSTALL = 'pip install "anyppg[notebook]"'


class Results(list[Result]):
    """The results of a stream, in arrival order, with table views.

    Attributes:
        accounting: the stream's final accounting (None when unknown, e.g. a table built by hand).
        interrupted: whether the stream was stopped (cancelled, Ctrl-C) before it ended on its own.
    """

    def __init__(
        self,
        results: Iterable[Result] = (),
        *,
        accounting: Accounting | None = None,
        interrupted: bool = False,
    ) -> None:
        super().__init__(results)
        self.accounting = accounting
        self.interrupted = interrupted

    @property
    def columns(self) -> list[str]:
        """The column names: the keys of :meth:`Result.to_dict`, in its order."""
        return list(self[0].to_dict()) if self else []

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per window (:meth:`Result.to_dict`, without embeddings)."""
        return [r.to_dict() for r in self]

    def to_dict(self) -> dict[str, list[Any]]:
        """Column name -> values (JSON-ready; None where a value is missing)."""
        records = self.to_records()
        return {c: [rec.get(c) for rec in records] for c in (list(records[0]) if records else [])}

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Column name -> numpy array of one cell per window: numbers as float64 (NaN where missing),
        whole-number columns without missing values as int64, flags as bool, anything else (text,
        an ``hrs:`` strap's list of RR intervals, a window's ``{class: probability}`` rhythm dict) as
        object. :meth:`rhythm_probabilities` gives the rhythm probabilities as one ``(N, K)`` array."""
        return {name: _column_array(values) for name, values in self.to_dict().items()}

    def embeddings(self) -> np.ndarray | None:
        """The windows' embeddings stacked ``(N, D)`` float32, NaN rows where a window has none; None
        when no window has one (no model, or every window gated).

        Raises:
            InvalidSignalError: the windows' embeddings differ in size (results of several models).
        """
        dims = {r.embedding.shape[-1] for r in self if r.embedding is not None}
        if not dims:
            return None
        if len(dims) > 1:
            raise InvalidSignalError(f"embeddings of sizes {sorted(dims)} cannot share one table")
        (dim,) = dims
        out = np.full((len(self), dim), np.nan, dtype=np.float32)
        for i, r in enumerate(self):
            if r.embedding is not None:
                out[i] = r.embedding
        return out

    def rhythm_probabilities(self) -> tuple[np.ndarray, tuple[str, ...]] | None:
        """The windows' rhythm probabilities stacked ``(N, K)`` float64 (NaN rows where a window has
        none) and their class names; None when no window has them (no rhythm head).

        Raises:
            InvalidSignalError: the windows name different rhythm classes (results of several models).
        """
        kinds = {r.rhythm_classes for r in self if r.rhythm_probabilities is not None and r.rhythm_classes}
        if not kinds:
            return None
        if len(kinds) > 1:
            raise InvalidSignalError(f"rhythm classes {sorted(kinds)} cannot share one table")
        (classes,) = kinds
        out = np.full((len(self), len(classes)), np.nan)
        for i, r in enumerate(self):
            if r.rhythm_probabilities is not None:
                out[i] = r.rhythm_probabilities
        return out, classes

    def to_dataframe(self) -> pandas.DataFrame:
        """A pandas DataFrame with the columns of :meth:`to_arrays`.

        Raises:
            RuntimeUnavailableError: pandas is not installed (names ``pip install "anyppg[notebook]"``).
        """
        return to_dataframe(self)

    def _repr_html_(self) -> str | None:
        """The table in a notebook (Jupyter calls this): the DataFrame's HTML when pandas is installed."""
        try:
            return self.to_dataframe()._repr_html_()
        except RuntimeUnavailableError:
            return None  # the notebook falls back to repr()

    def __repr__(self) -> str:
        devices = sorted({r.device for r in self})
        return f"Results({len(self)} windows from {', '.join(devices) or 'no device'})"


def _column_array(values: list[Any]) -> np.ndarray:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present) and len(present) == len(values):
        return np.asarray(values, dtype=bool)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        if present and len(present) == len(values) and all(isinstance(v, int) for v in present):
            return np.asarray(values, dtype=np.int64)
        return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    out = np.empty(len(values), dtype=object)  # one cell per window, even when the cells are lists
    for i, v in enumerate(values):
        out[i] = v
    return out


def to_dataframe(results: Iterable[Result]) -> pandas.DataFrame:
    """Results (any iterable of :class:`Result`) as a pandas DataFrame, one row per window.

    Raises:
        RuntimeUnavailableError: pandas is not installed (names ``pip install "anyppg[notebook]"``).
    """
    try:
        import pandas as pd
    except ImportError:
        raise RuntimeUnavailableError("pandas", PANDAS_INSTALL) from None
    table = results if isinstance(results, Results) else Results(results)
    arrays = table.to_arrays()
    return pd.DataFrame(arrays, columns=list(arrays))
