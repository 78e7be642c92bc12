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

__all__ = ["align_alleles", "resolve_ambiguous"]

_COMP = str.maketrans("ACGTacgt", "TGCAtgca")


def _complement(a: np.ndarray) -> np.ndarray:
    return np.array([str(x).translate(_COMP) for x in a], dtype=object)


def align_alleles(a1, a2, ref_a1, ref_a2) -> tuple[np.ndarray, np.ndarray]:
    """Status and sign (+1, -1, or 0 when unusable) of each variant against the reference.

    With ``a2=None`` only the effect allele is known (a panel with ID, A1, BETA): it is a
    ``match`` when it is the reference's first allele, a ``swap`` when it is the second,
    else a ``mismatch``; strands cannot be told apart without the other allele.
    """
    if a2 is None:
        a1u = np.char.upper(np.asarray(a1, dtype=object).astype(str))
        r1u = np.char.upper(np.asarray(ref_a1, dtype=object).astype(str))
        r2u = np.char.upper(np.asarray(ref_a2, dtype=object).astype(str))
        swap = (a1u == r2u) & (a1u != r1u)
        status = np.where(a1u == r1u, "match", np.where(swap, "swap", "mismatch")).astype(object)
        sign = np.where(status == "match", 1, np.where(swap, -1, 0)).astype(np.int8)
        return status, sign
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
