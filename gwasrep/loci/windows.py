"""Window loci (GIM): significant variants merged when within a distance of each other.

Variants with ``P <= threshold`` are sorted by chromosome and position; a new
locus starts whenever the gap to the previous significant variant on the same
chromosome exceeds ``window_kb * 1000`` bp (single linkage, so a locus can be
longer than the window). Each locus reports its lead (smallest P, ties by
position) and its span.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gwasrep.errors import InputError
from gwasrep.io.columns import normalize_columns

__all__ = ["LOCUS_COLUMNS", "significance_threshold", "window_loci"]

LOCUS_COLUMNS = ["LOCUS", "CHROM", "START", "END", "LEAD_ID", "LEAD_POS", "LEAD_P",
                 "N_VARIANTS"]


def significance_threshold(p: float | None = None, *, alpha: float = 5e-8,
                           n_dims: int | None = None) -> float:
    """``p`` if given, else ``alpha / n_dims`` (GIM's 5e-8/10 for 10 dimensions), else alpha."""
    if p is not None:
        if not 0 < p <= 1:
            raise InputError(f"--p {p}: expected a value in (0, 1]")
        return float(p)
    return alpha / n_dims if n_dims else alpha


def window_loci(sumstats: pd.DataFrame, *, threshold: float = 5e-8,
                window_kb: float = 250.0, p_col: str = "P") -> pd.DataFrame:
    """Loci of ``sumstats`` (columns ID, CHROM, POS and ``p_col``).

    Returns
    -------
    DataFrame with :data:`LOCUS_COLUMNS`, one row per locus (empty if none).
    """
    sumstats = normalize_columns(sumstats)
    need = [c for c in ("ID", "CHROM", "POS", p_col) if c not in sumstats.columns]
    if need:
        raise InputError(f"sumstats: missing column{'s' if len(need) > 1 else ''} "
                         f"{', '.join(need)} for window loci; found "
                         f"{', '.join(map(str, sumstats.columns[:14]))}")
    s = sumstats.loc[pd.to_numeric(sumstats[p_col], errors="coerce") <= threshold,
                     ["ID", "CHROM", "POS", p_col]].copy()
    if s.empty:
        return pd.DataFrame(columns=LOCUS_COLUMNS)
    s["CHROM"] = s["CHROM"].astype(str)
    s["POS"] = s["POS"].astype(np.int64)
    s = s.sort_values(["CHROM", "POS"], kind="stable").reset_index(drop=True)
    new = np.r_[True, (s["CHROM"].to_numpy()[1:] != s["CHROM"].to_numpy()[:-1])
                | (np.diff(s["POS"].to_numpy()) > window_kb * 1000)]
    s["LOCUS"] = np.cumsum(new)
    g = s.groupby("LOCUS", sort=True)
    lead = s.loc[s.sort_values([p_col, "POS"], kind="stable").groupby("LOCUS").head(1).index]
    lead = lead.set_index("LOCUS")
    out = pd.DataFrame({"LOCUS": g.size().index, "CHROM": g["CHROM"].first().to_numpy(),
                        "START": g["POS"].min().to_numpy(), "END": g["POS"].max().to_numpy(),
                        "N_VARIANTS": g.size().to_numpy()})
    out["LEAD_ID"] = lead.loc[out["LOCUS"], "ID"].to_numpy()
    out["LEAD_POS"] = lead.loc[out["LOCUS"], "POS"].to_numpy()
    out["LEAD_P"] = lead.loc[out["LOCUS"], p_col].to_numpy()
    return out[LOCUS_COLUMNS]
