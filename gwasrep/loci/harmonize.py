"""Allele harmonization between summary statistics and a reference (.bim or another study).

``align_alleles`` compares an effect/other allele pair with a reference pair:

- ``match``: same alleles, same order; the effect keeps its sign;
- ``swap``: same alleles, swapped; the effect changes sign;
- ``strand_match`` / ``strand_swap``: the same after complementing the strand
  (A<->T, C<->G);
- ``ambiguous``: an A/T or C/G variant, whose strand cannot be told from the
  alleles; kept only when allele frequencies disambiguate (see
  :func:`resolve_ambiguous`);
- ``mismatch``: different alleles (e.g. another variant at the same ID).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gwasrep.errors import InputError, preview

__all__ = ["SUMSTATS_ALIASES", "align_alleles", "read_effect_table", "resolve_ambiguous"]

_COMP = str.maketrans("ACGTacgt", "TGCAtgca")
#: Accepted alternative column names (first match wins).
SUMSTATS_ALIASES = {
    "ID": ["ID", "SNP", "RSID", "rsid", "MarkerName", "variant_id"],
    "A1": ["A1", "EA", "EFFECT_ALLELE", "effect_allele", "Allele1", "ALT"],
    "A2": ["A2", "OA", "OTHER_ALLELE", "other_allele", "Allele2", "NEA"],
    "BETA": ["BETA", "beta", "Effect", "EFFECT"],
    "SE": ["SE", "se", "StdErr", "STDERR"],
    "P": ["P", "p", "PVAL", "P-value", "pval"],
    "N": ["N", "OBS_CT", "n", "TotalSampleSize"],
    "CHROM": ["CHROM", "CHR", "chr", "chromosome"],
    "POS": ["POS", "BP", "pos", "base_pair_location"],
    "EAF": ["EAF", "A1_FREQ", "FRQ", "Freq1", "effect_allele_frequency"],
}


def _complement(a: np.ndarray) -> np.ndarray:
    return np.array([str(x).translate(_COMP) for x in a], dtype=object)


def align_alleles(a1, a2, ref_a1, ref_a2) -> tuple[np.ndarray, np.ndarray]:
    """Status and sign (+1, -1, or 0 when unusable) of each variant against the reference."""
    a1 = np.asarray(a1, dtype=object).astype(str)
    a2 = np.asarray(a2, dtype=object).astype(str)
    r1 = np.asarray(ref_a1, dtype=object).astype(str)
    r2 = np.asarray(ref_a2, dtype=object).astype(str)
    a1u, a2u = np.char.upper(a1.astype(str)), np.char.upper(a2.astype(str))
    r1u, r2u = np.char.upper(r1.astype(str)), np.char.upper(r2.astype(str))
    c1, c2 = _complement(a1u).astype(str), _complement(a2u).astype(str)
    status = np.full(a1.size, "mismatch", dtype=object)
    sign = np.zeros(a1.size, dtype=np.int8)
    ambiguous = (c1 == a2u) & (np.char.str_len(a1u) == 1)
    rules = [("match", (a1u == r1u) & (a2u == r2u), 1),
             ("swap", (a1u == r2u) & (a2u == r1u), -1),
             ("strand_match", (c1 == r1u) & (c2 == r2u), 1),
             ("strand_swap", (c1 == r2u) & (c2 == r1u), -1)]
    for name, hit, s in rules:
        new = hit & (status == "mismatch")
        status[new] = name
        sign[new] = s
    amb = ambiguous & (status != "mismatch")
    status[amb] = "ambiguous"
    sign[amb] = 0
    return status, sign


def resolve_ambiguous(eaf: np.ndarray, ref_freq: np.ndarray, *,
                      max_maf: float = 0.4) -> np.ndarray:
    """Sign for ambiguous A/T, C/G variants from frequencies (0 when unresolved).

    ``eaf`` is the effect-allele frequency in the study and ``ref_freq`` the
    frequency of the reference's first allele. Resolved only when the MAF is
    below ``max_maf`` (far from 0.5): +1 when both are on the same side of
    0.5, -1 when on opposite sides.
    """
    eaf = np.asarray(eaf, dtype=float)
    ref = np.asarray(ref_freq, dtype=float)
    ok = (np.isfinite(eaf) & np.isfinite(ref) & (np.minimum(eaf, 1 - eaf) < max_maf)
          & (np.minimum(ref, 1 - ref) < max_maf))
    same = (eaf > 0.5) == (ref > 0.5)
    return np.where(ok, np.where(same, 1, -1), 0).astype(np.int8)


def read_effect_table(path, *, source: str | None = None, beta_col: str | None = None,
                      se_col: str | None = None, p_col: str | None = None,
                      require=("ID", "A1", "A2", "BETA", "SE")) -> pd.DataFrame:
    """Read summary statistics with effects and standardize the column names.

    Columns are found by :data:`SUMSTATS_ALIASES` (or the explicit ``*_col``);
    gwasrep's own files (A1 plus REF/ALT) get ``A2`` as the other allele.

    Raises
    ------
    InputError
        Missing required columns (the columns found are named), duplicated IDs.
    """
    from pathlib import Path

    path = Path(path)
    source = source or path.name
    if not path.exists():
        raise InputError(f"{source}: file {path} not found")
    from gwasrep.io.tables import read_table

    raw = read_table(path)  # strips a leading '#' from column names
    cols = {}
    explicit = {"BETA": beta_col, "SE": se_col, "P": p_col}
    for key, names in SUMSTATS_ALIASES.items():
        if explicit.get(key):
            names = [explicit[key]]
        hit = next((n for n in names if n in raw.columns), None)
        if hit is not None:
            cols[key] = hit
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
    for k in ("BETA", "SE", "P", "N", "EAF", "POS"):
        if k in out:
            out[k] = pd.to_numeric(out[k], errors="coerce")
    dup = out["ID"].duplicated(keep=False)
    if dup.any():
        raise InputError(f"{source}: {int(out['ID'][dup].nunique()):,} variant IDs appear more "
                         f"than once (e.g. {preview(out['ID'][dup].unique())})")
    return out
