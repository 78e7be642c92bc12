"""The h2 table: LDSC heritability of every embedding dimension from gwasrep's sumstats
(``gwasrep h2`` reads the files in :mod:`gwasrep.heritability.run`).

Dimension k uses ``Z = BETA_k / SE_k`` and ``N = OBS_CT``; a table with a ``Z`` column
(and a sample-size column: ``OBS_CT``, or one of :data:`gwasrep.io.columns.ALIASES`'s
names for N) is one trait. SNPs are matched to the LD
scores by ID and kept in the LD scores' genome order (CHR, BP), as ldsc does.
h2 needs only Z^2, so an allele flip changes nothing, and LDSC-format LD scores carry no
alleles to check against (ldsc's ``--h2`` ignores alleles too). ``drop_ambiguous`` applies
ldsc's munge_sumstats allele filter instead: only SNPs with A/C/G/T alleles that are not
strand-ambiguous (A/T, C/G) are kept, with the counts in the notes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gwasrep.errors import InputError, preview
from gwasrep.heritability.ldsc import H2Result, ldsc_h2
from gwasrep.io.checks import check_column
from gwasrep.io.columns import find_column
from gwasrep.io.ldscores import LDScores

__all__ = ["GREML_COLUMNS", "H2_COLUMNS", "add_greml", "drop_ambiguous_snps", "h2_table",
           "trait_z"]

H2_COLUMNS = ["TRAIT", "H2", "H2_SE", "INTERCEPT", "INTERCEPT_SE", "RATIO", "RATIO_SE",
              "MEAN_CHI2", "LAMBDA_GC", "N_SNPS", "M"]
#: Columns :func:`add_greml` appends (data_specs/h2.md).
GREML_COLUMNS = ["GREML_H2", "GREML_H2_SE", "GREML_METHOD"]


def trait_z(sumstats: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """ID, Z, N per trait: BETA_k/SE_k per dimension, or a single Z column."""
    cols = set(sumstats.columns)
    id_col = find_column(cols, "ID")
    # gwasrep's sumstats carry per-variant counts (OBS_CT); they come before a study-wide N.
    n_col = "OBS_CT" if "OBS_CT" in cols else find_column(cols, "N")
    dims = sorted(int(c[5:]) for c in cols if c.startswith("BETA_") and c[5:].isdigit()
                  and f"SE_{c[5:]}" in cols)
    if id_col is None or n_col is None or (not dims and "Z" not in cols):
        raise InputError("sumstats: expected ID (or SNP), OBS_CT (or N), and Z or BETA_k/SE_k "
                         f"columns; found {preview(list(sumstats.columns), 14)}")
    ids = sumstats[id_col].astype(str).to_numpy()
    N = check_column(sumstats[n_col], source="sumstats", column=n_col, key="N", ids=ids)

    def z(name: str, values: np.ndarray) -> pd.DataFrame:
        finite = np.isfinite(values) & np.isfinite(N)
        if finite.sum() >= 2 and np.ptp(values[finite]) == 0:
            raise InputError(f"sumstats: {name}: every Z equals {values[finite][0]:g}; expected "
                             "association statistics that vary across variants")
        return pd.DataFrame({"SNP": ids, "Z": values, "N": N})

    if "Z" in cols and not dims:
        return {"Z": z("Z", check_column(sumstats["Z"], source="sumstats", column="Z",
                                         ids=ids))}
    out = {}
    for k in dims:
        beta = check_column(sumstats[f"BETA_{k}"], source="sumstats", column=f"BETA_{k}",
                            key="BETA", ids=ids)
        se = check_column(sumstats[f"SE_{k}"], source="sumstats", column=f"SE_{k}", key="SE",
                          ids=ids)
        out[f"dimension {k}"] = z(f"dimension {k}", beta / se)
    return out


def add_greml(table: pd.DataFrame, vc: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Add GREML h2 (and SE) per dimension from ``assoc --lmm``'s variance_components.tsv.

    Rows ``dimension k`` take DIM k of GROUP ``all``. After ``--loco`` there is one group
    per left-out chromosome and no ``all``: the mean over groups is used (each GRM misses
    one chromosome, so it is slightly low), with its SE the mean of the groups' SEs.
    """
    need = {"GROUP", "DIM", "H2", "METHOD"}
    if not need <= set(vc.columns):
        raise InputError(f"variance components: expected columns {sorted(need)}; found "
                         f"{preview(list(vc.columns), 10)}")
    notes = []
    vc = vc.assign(GROUP=vc["GROUP"].astype(str))
    if "H2_SE" not in vc.columns:
        vc = vc.assign(H2_SE=np.nan)
        notes.append("variance components without H2_SE (written before gwasrep 0.1 added it)")
    if (vc["GROUP"] == "all").any():
        vc = vc[vc["GROUP"] == "all"]
    else:
        notes.append(f"GREML h2 is the mean over {vc['GROUP'].nunique()} LOCO null models, each "
                     "without one chromosome")
    g = vc.groupby("DIM").agg(GREML_H2=("H2", "mean"), GREML_H2_SE=("H2_SE", "mean"),
                              GREML_METHOD=("METHOD", "first"))[GREML_COLUMNS]
    dims = table["TRAIT"].str.extract(r"^dimension (\d+)$")[0]
    if dims.isna().any():
        raise InputError("GREML h2 needs gwasrep sumstats (BETA_k/SE_k per dimension); the "
                         "sumstats have a single Z column")
    out = table.assign(DIM=dims.astype(int)).join(g, on="DIM").drop(columns="DIM")
    missing = out["GREML_H2"].isna().sum()
    if missing:
        notes.append(f"{missing} dimension(s) without a GREML estimate in the variance "
                     "components")
    return out, notes


def drop_ambiguous_snps(sumstats: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Keep SNPs whose A1/A2 are single A/C/G/T bases and not strand-ambiguous."""
    cols = [c for c in ("A1", "A2") if c in sumstats.columns]
    if len(cols) < 2:
        raise InputError("--drop-ambiguous: the sumstats need A1 and A2 columns; found "
                         f"{preview(list(sumstats.columns), 12)}")
    a1 = sumstats["A1"].astype(str).str.upper()
    a2 = sumstats["A2"].astype(str).str.upper()
    comp = {"A": "T", "T": "A", "C": "G", "G": "C"}
    snp = a1.isin(list(comp)) & a2.isin(list(comp)) & (a1 != a2)
    ambiguous = snp & (a1.map(comp) == a2)
    keep = snp & ~ambiguous
    note = (f"--drop-ambiguous: {int(ambiguous.sum()):,} strand-ambiguous (A/T, C/G) and "
            f"{int((~snp).sum()):,} non-SNP variants dropped, {int(keep.sum()):,} kept")
    return sumstats[keep.to_numpy()], note


def _row(name: str, r: H2Result) -> dict:
    return {"TRAIT": name, "H2": r.h2, "H2_SE": r.h2_se, "INTERCEPT": r.intercept,
            "INTERCEPT_SE": r.intercept_se, "RATIO": r.ratio, "RATIO_SE": r.ratio_se,
            "MEAN_CHI2": r.mean_chi2, "LAMBDA_GC": r.lambda_gc, "N_SNPS": r.n_snps, "M": r.M}


def h2_table(sumstats: pd.DataFrame, ref: LDScores, wld: LDScores | None = None, *,
             use_m_5_50: bool = True, intercept: float | None = None, n_blocks: int = 200,
             two_step: float | None = 30.0, ref_name: str = "--ref-ld"
             ) -> tuple[pd.DataFrame, list[str]]:
    """Per-trait LDSC h2 (:data:`H2_COLUMNS`) and notes.

    ``ref`` are the reference LD scores, ``wld`` the regression-weight ones (default:
    ``ref``); ``ref_name`` names ``ref`` in errors (its file prefix).
    """
    wld = ref if wld is None else wld
    M = ref.M_5_50 if use_m_5_50 else ref.M
    if not np.isfinite(M):
        raise InputError(f"{ref_name}.l2.{'M_5_50' if use_m_5_50 else 'M'} not found or empty")
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
