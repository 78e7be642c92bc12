"""Method comparison: loci per method, recovery of reference loci, and unique loci.

Definitions (the defaults; data_specs/loci.md):

- **Loci of a method**: window loci of its significant variants
  (:func:`gwasrep.loci.windows.window_loci`, ``P <= threshold``).
- **Recovered reference locus**: a reference locus (the index variants of a
  disease GWAS, with CHROM and POS) is recovered by a method when the method
  has a significant variant on the same chromosome within ``window_kb`` of it
  (the clump-window rule, the default). With ``ld_r2`` and a genotype fileset,
  the LD rule applies instead: a significant variant within the window with
  EM r^2 >= ``ld_r2`` with the reference variant (both must be in the .bim).
- **Unique locus**: a locus of one method whose span, widened by ``window_kb``
  on each side, contains no significant variant of any other compared method.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gwasrep.aot import kernel
from gwasrep.errors import InputError
from gwasrep.io.checks import check_column
from gwasrep.io.columns import normalize_columns
from gwasrep.io.plink import read_dosages
from gwasrep.loci.clump import founders
from gwasrep.loci.windows import window_loci

__all__ = ["COMPARISON_COLUMNS", "LociComparison", "compare_methods", "recovered",
           "unique_loci"]

#: r^2 of two genotype rows (gwasrep.loci._ld_kernels.pair_r2), compiled ahead of time.
pair_r2 = kernel("gwasrep.loci._ld_kernels", "pair_r2")

COMPARISON_COLUMNS = ["METHOD", "N_SIGNIFICANT", "N_LOCI", "N_REFERENCE", "N_RECOVERED",
                      "RECOVERED_FRACTION", "N_UNIQUE"]


def _near(chrom: np.ndarray, pos: np.ndarray, q_chrom, q_lo, q_hi) -> np.ndarray:
    """For each query interval [q_lo, q_hi] on q_chrom: is any (chrom, pos) inside?"""
    out = np.zeros(len(q_lo), dtype=bool)
    chrom = np.asarray(chrom).astype(str)
    q_chrom = np.asarray(q_chrom).astype(str)
    for c in np.unique(q_chrom):
        p = np.sort(np.asarray(pos)[chrom == c])
        sel = q_chrom == c
        if p.size == 0:
            continue
        lo = np.searchsorted(p, np.asarray(q_lo)[sel], side="left")
        hi = np.searchsorted(p, np.asarray(q_hi)[sel], side="right")
        out[sel] = hi > lo
    return out


def recovered(significant: pd.DataFrame, reference: pd.DataFrame, window_kb: float, *,
              ld_r2: float | None = None, fileset=None) -> np.ndarray:
    """Mask over reference loci recovered by the significant variants (CHROM, POS).

    Without ``ld_r2``: a significant variant within ``window_kb``. With ``ld_r2``
    and ``fileset``: such a variant whose EM r^2 with the reference variant
    (matched by ID in the .bim, founders) is at least ``ld_r2``.
    """
    w = window_kb * 1000
    if ld_r2 is None:
        return _near(significant["CHROM"], significant["POS"], reference["CHROM"],
                     reference["POS"].to_numpy() - w, reference["POS"].to_numpy() + w)
    if fileset is None or "ID" not in reference.columns:
        raise InputError("the LD recovery rule needs --bed and reference IDs")
    ids = pd.Index(fileset.bim["ID"].to_numpy(dtype=object))
    samples = founders(fileset)
    out = np.zeros(len(reference), dtype=bool)
    s_chrom = significant["CHROM"].astype(str).to_numpy()
    s_pos = significant["POS"].to_numpy()
    s_idx = ids.get_indexer(significant["ID"].astype(str).to_numpy(dtype=object))
    r_idx = ids.get_indexer(reference["ID"].astype(str).to_numpy(dtype=object))
    for k, (c, pos, ri) in enumerate(zip(reference["CHROM"].astype(str), reference["POS"],
                                         r_idx, strict=True)):
        cand = s_idx[(s_chrom == c) & (np.abs(s_pos - pos) <= w) & (s_idx >= 0)]
        if ri < 0 or cand.size == 0:
            continue
        if ri in cand:
            out[k] = True
            continue
        X = read_dosages(fileset, np.r_[ri, np.sort(cand)], samples, dtype=np.float32)
        G = np.where(np.isfinite(X), X, -1).astype(np.int8).T
        out[k] = any(pair_r2(G[0], G[j], True) >= ld_r2 for j in range(1, G.shape[0]))
    return out


def unique_loci(loci: pd.DataFrame, others_significant: list[pd.DataFrame],
                window_kb: float) -> np.ndarray:
    """Mask over ``loci`` with no significant variant of any other method nearby."""
    if loci.empty:
        return np.zeros(0, dtype=bool)
    w = window_kb * 1000
    hit = np.zeros(len(loci), dtype=bool)
    for o in others_significant:
        hit |= _near(o["CHROM"], o["POS"], loci["CHROM"], loci["START"].to_numpy() - w,
                     loci["END"].to_numpy() + w)
    return ~hit


@dataclass
class LociComparison:
    #: One row per method with :data:`COMPARISON_COLUMNS`.
    table: pd.DataFrame
    #: Loci of every method, with METHOD and UNIQUE columns added.
    loci: pd.DataFrame
    #: Reference loci with one RECOVERED_BY_<method> column per method.
    reference: pd.DataFrame | None
    notes: list[str] = field(default_factory=list)


def _positions(values, source: str, ids) -> np.ndarray:
    return check_column(values, source=source, column="POS", ids=ids,
                        required="a position").astype(np.int64)


def _checked(s: pd.DataFrame, source: str, p_col: str) -> pd.DataFrame:
    """P in [0, 1] (missing allowed: never significant) and an integer POS in every row."""
    ids = s["ID"].astype(str).to_numpy()
    return s.assign(**{p_col: check_column(s[p_col], source=source, column=p_col, key="P",
                                           ids=ids),
                       "POS": _positions(s["POS"], source, ids)})


def compare_methods(sumstats: dict[str, pd.DataFrame], *, threshold: float = 5e-8,
                    window_kb: float = 250.0, reference: pd.DataFrame | None = None,
                    p_col: str = "P", ld_r2: float | None = None,
                    fileset=None) -> LociComparison:
    """Loci, recovery and uniqueness for several methods' summary statistics."""
    sig, loci_all, rows, notes = {}, [], [], []
    for name, s in sumstats.items():
        s = normalize_columns(s)
        need = [c for c in ("ID", "CHROM", "POS", p_col) if c not in s.columns]
        if need:
            raise InputError(f"{name}: missing column{'s' if len(need) > 1 else ''} "
                             f"{', '.join(need)}; found {', '.join(map(str, s.columns[:14]))}")
        s = _checked(s, name, p_col)
        p = s[p_col]
        sig[name] = s.loc[p <= threshold, ["ID", "CHROM", "POS"]].assign(
            CHROM=lambda d: d["CHROM"].astype(str))
        loci = window_loci(s, threshold=threshold, window_kb=window_kb, p_col=p_col)
        loci_all.append(loci.assign(METHOD=name))
        if loci.empty:
            notes.append(f"{name}: no variant with {p_col} <= {threshold:g}")
    ref = None
    if reference is not None:
        reference = normalize_columns(reference)
        need = [c for c in ("CHROM", "POS") if c not in reference.columns]
        if need:
            raise InputError(f"reference loci: missing column{'s' if len(need) > 1 else ''} "
                             f"{', '.join(need)}; found {', '.join(map(str, reference.columns))}")
        ref = normalize_columns(reference).copy()
        ref["CHROM"] = ref["CHROM"].astype(str)
        ids = ref["ID"].astype(str).to_numpy() if "ID" in ref else None
        ref["POS"] = _positions(ref["POS"], "reference loci", ids)
    for name, loci in zip(sumstats, loci_all, strict=True):
        others = [sig[o] for o in sumstats if o != name]
        uniq = unique_loci(loci, others, window_kb)
        loci["UNIQUE"] = uniq
        row = {"METHOD": name, "N_SIGNIFICANT": len(sig[name]), "N_LOCI": len(loci),
               "N_UNIQUE": int(uniq.sum())}
        if ref is not None:
            rec = recovered(sig[name], ref, window_kb, ld_r2=ld_r2, fileset=fileset)
            ref[f"RECOVERED_BY_{name}"] = rec
            row.update(N_REFERENCE=len(ref), N_RECOVERED=int(rec.sum()),
                       RECOVERED_FRACTION=float(rec.mean()) if len(ref) else np.nan)
        else:
            row.update(N_REFERENCE=0, N_RECOVERED=0, RECOVERED_FRACTION=np.nan)
        rows.append(row)
    table = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    loci = (pd.concat(loci_all, ignore_index=True) if loci_all else pd.DataFrame())
    return LociComparison(table=table, loci=loci, reference=ref, notes=notes)
