"""Validators for the columns of every table gwasrep reads.

Each reader of summary statistics, effect tables, LD scores, reference loci and covariates
passes its columns through these, so that a value a column cannot hold is one
:class:`~gwasrep.errors.InputError` naming the file, the column, what was expected and the
first offending value with its row (1-based, header not counted) and ID when there is one.

Missing values (empty, ``NA``, ``NaN``) are missing, not invalid: the readers decide whether
to skip such rows. A value that is present but not a number, or a number outside the column's
range, is an error; it is never silently skipped.
"""

from __future__ import annotations

import numpy as np

from gwasrep.errors import InputError, preview
from gwasrep.options import Rule

__all__ = ["COLUMN_RULES", "check_column", "check_unique", "numeric_column"]

#: The range of every numeric column of summary statistics and LD score tables.
COLUMN_RULES: dict[str, tuple[Rule, str]] = {
    "P": (Rule(0, 1), "p-values in [0, 1]"),
    "SE": (Rule(0, lo_open=True), "standard errors > 0"),
    "BETA": (Rule(), "finite effects"),
    "Z": (Rule(), "finite Z scores"),
    "N": (Rule(0, lo_open=True), "sample sizes > 0"),
    "EAF": (Rule(0, 1), "allele frequencies in [0, 1]"),
    "POS": (Rule(integer=True), "integer base-pair positions"),
    "BP": (Rule(integer=True), "integer base-pair positions"),
    "L2": (Rule(), "finite LD scores"),
}


def _where(ids, i: int) -> str:
    return f"row {i + 1:,}" + (f", ID {ids[i]}" if ids is not None else "")


def numeric_column(values, *, source: str, column: str, ids=None) -> np.ndarray:
    """The column as float64, missing values as NaN; a non-numeric entry is an InputError."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        return values.astype(np.float64)      # numbers already (NaN missing): no pandas
    import pandas as pd

    s = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_bool_dtype(s):
        raise InputError(f"{source}: column {column}: expected numbers; found true/false values")
    num = pd.to_numeric(s, errors="coerce")
    bad = (num.isna() & s.notna()).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{source}: column {column}: expected numbers; found {int(bad.sum()):,} "
                         f"non-numeric value{'s' if bad.sum() > 1 else ''}, e.g. {s[i]!r} "
                         f"({_where(ids, i)})")
    return num.to_numpy(dtype=np.float64)


def check_column(values, *, source: str, column: str, key: str | None = None,
                 ids=None, required: str | None = None) -> np.ndarray:
    """:func:`numeric_column`, then the range of :data:`COLUMN_RULES` ``[key or column]``
    for the values present. Returns the float64 values (NaN where missing).

    ``required`` (e.g. "a position"): a missing value is an error too, worded with it.
    """
    v = numeric_column(values, source=source, column=column, ids=ids)
    if required is not None and np.isnan(v).any():
        i = int(np.flatnonzero(np.isnan(v))[0])
        raise InputError(f"{source}: column {column}: expected {required} in every row; found "
                         f"{int(np.isnan(v).sum()):,} missing ({_where(ids, i)})")
    rule, what = COLUMN_RULES[key or column]
    present = ~np.isnan(v)
    ok = rule.accepts_array(v[present])
    if not ok.all():
        rows = np.flatnonzero(present)[~ok]
        i = int(rows[0])
        raise InputError(f"{source}: column {column}: expected {what}; found {len(rows):,} "
                         f"row{'s' if len(rows) > 1 else ''} outside, e.g. {v[i]:g} "
                         f"({_where(ids, i)})")
    return v


def check_unique(ids, *, source: str, what: str = "variant IDs",
                 hint: str = "expected one row per variant") -> None:
    """Each ID once."""
    import pandas as pd

    s = pd.Series(np.asarray(ids, dtype=object))
    dup = s.duplicated(keep=False).to_numpy()
    if dup.any():
        names = pd.unique(s[dup])
        raise InputError(f"{source}: {len(names):,} {what} appear more than once "
                         f"(e.g. {preview(names)}); {hint}")
