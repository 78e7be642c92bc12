"""Summary statistics: (ID, P) pairs for clumping and effect tables for panels and meta-analysis.

Columns are found through :data:`gwasrep.io.columns.ALIASES`; files are read by
:func:`gwasrep.io.tables.read_table` (Parquet, CSV, or whitespace-delimited text).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gwasrep.errors import InputError, preview
from gwasrep.io.checks import check_column, check_unique
from gwasrep.io.columns import find_columns
from gwasrep.io.tables import read_table

__all__ = ["read_effect_table", "read_pvalues"]


def read_pvalues(table: pd.DataFrame | str | os.PathLike, *, snp_field: str = "ID",
                 p_field: str = "P", source: str = "sumstats") -> tuple[pd.DataFrame, dict,
                                                                        list[str]]:
    """The (ID, P) pairs of a summary statistics table, validated.

    Returns
    -------
    frame : DataFrame with columns ID (str) and P (float64), valid rows only
    counts : dict with ``rows``, ``p_invalid``
    notes : list of str

    Raises
    ------
    InputError
        Missing columns (the columns found are named), duplicated IDs, or a p-value that
        is not a number in [0, 1] (missing p-values are skipped with a note).
    """
    if not isinstance(table, pd.DataFrame):
        path = Path(table)
        if not path.exists():
            raise InputError(f"{source}: file {path} not found")
        table = read_table(path, str_columns=(snp_field,))
    missing = [c for c in (snp_field, p_field) if c not in table.columns]
    if missing:
        raise InputError(f"{source}: missing column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)}; found {preview(list(table.columns), 12)}")
    ids = table[snp_field].astype(str).to_numpy()
    check_unique(ids, source=source)
    p = check_column(table[p_field], source=source, column=p_field, key="P", ids=ids)
    ok = ~np.isnan(p)
    notes = []
    if not ok.all():
        notes.append(f"{source}: {int((~ok).sum()):,} rows with a missing p-value skipped")
    frame = pd.DataFrame({"ID": ids[ok], "P": p[ok]})
    return frame, {"rows": len(table), "p_invalid": int((~ok).sum())}, notes


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
