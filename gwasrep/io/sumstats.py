"""Summary statistics: (ID, P) pairs for clumping and effect tables for panels and meta-analysis.

Columns are found through :data:`gwasrep.io.columns.ALIASES`; files are read by
:func:`gwasrep.io.tables.read_table` (Parquet, CSV, or whitespace-delimited text).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gwasrep.errors import InputError, preview
from gwasrep.io.checks import check_column, check_unique

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["PValues", "read_effect_table", "read_pvalue_arrays", "read_pvalues"]


@dataclass(frozen=True)
class PValues:
    """Validated (ID, P) pairs: what clumping needs, without pandas."""

    #: Variant IDs, an Arrow string array without missing values, each ID once.
    ids: pa.Array
    #: float64 p-values in [0, 1], none missing.
    p: np.ndarray

    def __len__(self) -> int:
        return len(self.p)

    def to_frame(self) -> pd.DataFrame:
        """Columns ID (str) and P (float64)."""
        import pandas as pd

        return pd.DataFrame({"ID": self.ids.to_numpy(zero_copy_only=False), "P": self.p})


def read_pvalue_arrays(table: pd.DataFrame | str | os.PathLike, *, snp_field: str = "ID",
                       p_field: str = "P", source: str = "sumstats"
                       ) -> tuple[PValues, dict, list[str]]:
    """The (ID, P) pairs of a summary statistics table, validated, as :class:`PValues`.

    A file in a layout gwasrep or PLINK writes (Parquet, CSV, tab-separated text) is read
    by pyarrow alone (:mod:`gwasrep.io.fast_tables`); any other, or a DataFrame, goes
    through pandas. Both give the same pairs, counts and errors.

    Returns
    -------
    pairs : PValues, valid rows only
    counts : dict with ``rows``, ``p_invalid``
    notes : list of str

    Raises
    ------
    InputError
        Missing columns (the columns found are named), duplicated IDs, or a p-value that
        is not a number in [0, 1] (missing p-values are skipped with a note).
    """
    import pyarrow as pa

    cols = None
    if not _is_frame(table):
        path = Path(table)
        if not path.exists():
            raise InputError(f"{source}: file {path} not found")
        from gwasrep.io.fast_tables import read_columns

        cols = read_columns(path, {snp_field: "string", p_field: "number"})
        if cols is None:
            from gwasrep.io.tables import read_table

            table = read_table(path, str_columns=(snp_field,))
    if cols is not None:
        ids = cols[snp_field]
        p_raw = cols[p_field].to_numpy(zero_copy_only=False).astype(np.float64)
        _check_unique_arrow(ids, source)
        n_rows = len(ids)
    else:
        missing = [c for c in (snp_field, p_field) if c not in table.columns]
        if missing:
            raise InputError(f"{source}: missing column{'s' if len(missing) > 1 else ''} "
                             f"{', '.join(missing)}; found {preview(list(table.columns), 12)}")
        ids_np = table[snp_field].astype(str).to_numpy()
        check_unique(ids_np, source=source)
        ids = pa.array(ids_np, type=pa.string(), from_pandas=True)  # NaN (no ID) -> null
        p_raw = table[p_field]
        n_rows = len(table)
    p = check_column(p_raw, source=source, column=p_field, key="P",
                     ids=_LazyIds(ids))
    ok = ~np.isnan(p)
    notes = []
    if not ok.all():
        notes.append(f"{source}: {int((~ok).sum()):,} rows with a missing p-value skipped")
        ids = ids.filter(pa.array(ok))
    return (PValues(ids=ids, p=p[ok]), {"rows": n_rows, "p_invalid": int((~ok).sum())},
            notes)


def read_pvalues(table: pd.DataFrame | str | os.PathLike, *, snp_field: str = "ID",
                 p_field: str = "P", source: str = "sumstats") -> tuple[pd.DataFrame, dict,
                                                                        list[str]]:
    """:func:`read_pvalue_arrays` with the pairs as a DataFrame (columns ID (str) and P
    (float64), valid rows only)."""
    pairs, counts, notes = read_pvalue_arrays(table, snp_field=snp_field, p_field=p_field,
                                              source=source)
    return pairs.to_frame(), counts, notes


def _is_frame(obj) -> bool:
    """A pandas DataFrame (or subclass), without importing pandas to ask."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, pd.DataFrame)


class _LazyIds:
    """Row -> ID of an Arrow array, for error messages (nothing converted until asked)."""

    def __init__(self, ids):
        self._ids = ids

    def __getitem__(self, i: int) -> str:
        return self._ids[int(i)].as_py()


def _check_unique_arrow(ids, source: str) -> None:
    from gwasrep.io.fast_tables import duplicated_values

    if duplicated_values(ids):
        check_unique(ids.to_numpy(zero_copy_only=False), source=source)  # raises, with names


def read_effect_table(path, *, source: str | None = None, beta_col: str | None = None,
                      se_col: str | None = None, p_col: str | None = None,
                      require=("ID", "A1", "A2", "BETA", "SE")) -> pd.DataFrame:
    """Read summary statistics with effects and standardize the column names.

    Columns are found by :data:`gwasrep.io.columns.ALIASES` (or the explicit ``*_col``);
    gwasrep's own files (A1 plus REF/ALT) get ``A2`` as the other allele.

    Raises
    ------
    InputError
        Missing required columns (the columns found are named), duplicated IDs, or a
        value outside its column's range (:data:`gwasrep.io.checks.COLUMN_RULES`; missing
        values stay NaN).
    """
    import pandas as pd

    from gwasrep.io.columns import find_columns
    from gwasrep.io.tables import read_table

    path = Path(path)
    source = source or path.name
    if not path.exists():
        raise InputError(f"{source}: file {path} not found")
    raw = read_table(path)  # strips a leading '#' from column names
    cols = find_columns(raw.columns, explicit={"BETA": beta_col, "SE": se_col, "P": p_col})
    if "A2" not in cols and {"A1", "REF", "ALT"} <= set(raw.columns):
        raw = raw.assign(_A2=np.where(raw["A1"] == raw["ALT"], raw["REF"], raw["ALT"]))
        cols["A2"] = "_A2"
    missing = [k for k in require if k not in cols]
    if missing:
        raise InputError(f"{source}: missing column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)}; found {preview(list(raw.columns), 14)}")
    out = pd.DataFrame({k: raw[v].to_numpy() for k, v in cols.items()})
    out["ID"] = out["ID"].astype(str)
    for k in ("A1", "A2"):
        if k in out:
            out[k] = out[k].astype(str)
    check_unique(out["ID"], source=source)
    ids = out["ID"].to_numpy()
    for k in ("BETA", "SE", "P", "N", "EAF", "POS"):
        if k in out:
            out[k] = check_column(out[k], source=source, column=cols[k], key=k, ids=ids)
    return out
