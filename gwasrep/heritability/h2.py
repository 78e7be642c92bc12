"""``gwasrep h2``: LDSC heritability of every embedding dimension from gwasrep's sumstats.

Dimension k uses ``Z = BETA_k / SE_k`` and ``N = OBS_CT``; a table with a ``Z``
column (and ``N`` or ``OBS_CT``) is one trait. SNPs are matched to the LD
scores by ID and kept in the LD scores' genome order (CHR, BP), as ldsc does.
h2 needs only Z^2, so alleles do not enter (ldsc's ``--h2`` ignores them too).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gwasrep.errors import InputError, preview
from gwasrep.heritability.ldsc import H2Result, ldsc_h2
from gwasrep.heritability.ldscore import read_ld_scores

__all__ = ["H2_COLUMNS", "h2_table", "run_h2", "trait_z"]

H2_COLUMNS = ["TRAIT", "H2", "H2_SE", "INTERCEPT", "INTERCEPT_SE", "RATIO", "RATIO_SE",
              "MEAN_CHI2", "LAMBDA_GC", "N_SNPS", "M"]


def trait_z(sumstats: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """ID, Z, N per trait: BETA_k/SE_k per dimension, or a single Z column."""
    cols = set(sumstats.columns)
    id_col = next((c for c in ("ID", "SNP") if c in cols), None)
    n_col = next((c for c in ("OBS_CT", "N") if c in cols), None)
    dims = sorted(int(c[5:]) for c in cols if c.startswith("BETA_") and c[5:].isdigit()
                  and f"SE_{c[5:]}" in cols)
    if id_col is None or n_col is None or (not dims and "Z" not in cols):
        raise InputError("sumstats: expected ID (or SNP), OBS_CT (or N), and Z or BETA_k/SE_k "
                         f"columns; found {preview(list(sumstats.columns), 14)}")
    ids = sumstats[id_col].astype(str).to_numpy()
    N = pd.to_numeric(sumstats[n_col], errors="coerce").to_numpy(float)
    if "Z" in cols and not dims:
        return {"Z": pd.DataFrame({"SNP": ids, "Z": pd.to_numeric(sumstats["Z"],
                                                                 errors="coerce"), "N": N})}
    return {f"dimension {k}": pd.DataFrame({
        "SNP": ids, "Z": sumstats[f"BETA_{k}"].to_numpy(float)
        / sumstats[f"SE_{k}"].to_numpy(float), "N": N}) for k in dims}


def _row(name: str, r: H2Result) -> dict:
    return {"TRAIT": name, "H2": r.h2, "H2_SE": r.h2_se, "INTERCEPT": r.intercept,
            "INTERCEPT_SE": r.intercept_se, "RATIO": r.ratio, "RATIO_SE": r.ratio_se,
            "MEAN_CHI2": r.mean_chi2, "LAMBDA_GC": r.lambda_gc, "N_SNPS": r.n_snps, "M": r.M}


def h2_table(sumstats: pd.DataFrame, ref_ld: str | os.PathLike,
             w_ld: str | os.PathLike | None = None, *, use_m_5_50: bool = True,
             intercept: float | None = None, n_blocks: int = 200,
             two_step: float | None = 30.0) -> tuple[pd.DataFrame, list[str]]:
    """Per-trait LDSC h2 (:data:`H2_COLUMNS`) and notes."""
    ref = read_ld_scores(ref_ld)
    wld = ref if w_ld is None else read_ld_scores(w_ld)
    M = ref.M_5_50 if use_m_5_50 else ref.M
    if not np.isfinite(M):
        raise InputError(f"{ref_ld}.l2.{'M_5_50' if use_m_5_50 else 'M'} not found or empty")
    lw = wld.table[["SNP", "L2"]].rename(columns={"L2": "LW"})
    rows, notes = [], []
    for name, z in trait_z(sumstats).items():
        z = z.dropna().drop_duplicates("SNP")
        m = ref.table[["SNP", "L2"]].merge(z, on="SNP").merge(lw, on="SNP")
        notes.append(f"{name}: {len(z):,} SNPs with Z and N, {len(m):,} after merging with the "
                     f"LD scores ({len(ref.table):,})")
        if len(m) == 0:
            raise InputError(f"{name}: no SNP shared between the sumstats ({len(z):,}) and the "
                             f"LD scores ({len(ref.table):,}; e.g. {preview(ref.table['SNP'])} "
                             f"vs {preview(z['SNP'])})")
        res = ldsc_h2(m["Z"].to_numpy() ** 2, m["L2"].to_numpy(), m["LW"].to_numpy(),
                      m["N"].to_numpy(), M, n_blocks=n_blocks, intercept=intercept,
                      two_step=two_step)
        rows.append(_row(name, res))
    table = pd.DataFrame(rows, columns=H2_COLUMNS)
    return table, notes


def run_h2(sumstats_path: str | os.PathLike, ref_ld, out: str | os.PathLike, *, w_ld=None,
           use_m_5_50: bool = True, intercept: float | None = None,
           n_blocks: int = 200) -> tuple[pd.DataFrame, list[str]]:
    """Read sumstats, estimate h2 per dimension, write OUT (TSV) with a mean ± sd footer."""
    from gwasrep.io._atomic import atomic_path
    from gwasrep.io.tables import read_table

    table, notes = h2_table(read_table(sumstats_path), ref_ld, w_ld, use_m_5_50=use_m_5_50,
                            intercept=intercept, n_blocks=n_blocks)
    if len(table) > 1:
        notes.append(f"h2 across {len(table)} dimensions: mean {table['H2'].mean():.4f} "
                     f"± sd {table['H2'].std(ddof=1):.4f}")
    with atomic_path(Path(out)) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.8g")
    return table, notes
