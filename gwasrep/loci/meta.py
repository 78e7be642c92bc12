"""Fixed-effect inverse-variance meta-analysis (as METAL's ``SCHEME STDERR``).

The first study's alleles are the reference: every other study is aligned to
them (:func:`gwasrep.loci.harmonize.align_alleles`), flipping effect signs when
the alleles are swapped; strand-ambiguous A/T and C/G variants are used only
when effect-allele frequencies resolve them; mismatched alleles are dropped.
Per variant, with ``w_i = 1 / SE_i^2``::

    BETA = sum w_i b_i / sum w_i,   SE = 1 / sqrt(sum w_i),   Z = BETA / SE,
    P = 2 Phi(-|Z|),   Q = sum w_i (b_i - BETA)^2 (df = k - 1),
    I2 = max(0, (Q - df) / Q),   N = sum N_i.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from gwasrep.errors import InputError, preview
from gwasrep.loci.harmonize import align_alleles, resolve_ambiguous

__all__ = ["MetaResult", "ivw_meta"]


@dataclass
class MetaResult:
    #: ID A1 A2 BETA SE Z P Q Q_DF Q_P I2 N N_STUDIES DIRECTION
    table: pd.DataFrame
    #: Variants dropped from a study, with STUDY, ID and REASON.
    dropped: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def ivw_meta(studies: list[pd.DataFrame], names: list[str] | None = None) -> MetaResult:
    """Meta-analyse studies with standardized columns ID A1 A2 BETA SE (and N, EAF, P)."""
    if len(studies) < 2:
        raise InputError(f"meta-analysis needs at least 2 studies, found {len(studies)}")
    names = names or [f"study{k + 1}" for k in range(len(studies))]
    for k, (s, name) in enumerate(zip(studies, names, strict=True)):
        others = pd.concat([o["ID"] for j, o in enumerate(studies) if j != k])
        if not s["ID"].isin(others).any():
            raise InputError(f"{name}: shares no variant ID with the other studies (its IDs, "
                             f"e.g. {preview(s['ID'], 3)}; theirs, e.g. {preview(others, 3)}); "
                             "expected the same variants under the same IDs")
    ref = studies[0][["ID", "A1", "A2"]].copy()
    for s in studies[1:]:
        extra = s.loc[~s["ID"].isin(ref["ID"]), ["ID", "A1", "A2"]]
        ref = pd.concat([ref, extra], ignore_index=True)
    ref_eaf = {}
    parts, dropped, notes = [], [], []
    for k, (s, name) in enumerate(zip(studies, names, strict=True)):
        bad = ~(np.isfinite(s["BETA"]) & np.isfinite(s["SE"]) & (s["SE"] > 0))
        if bad.any():
            dropped.append(pd.DataFrame({"STUDY": name, "ID": s["ID"][bad],
                                         "REASON": "missing_or_invalid_beta_se"}))
        s = s.loc[~bad]
        m = s.merge(ref, on="ID", suffixes=("", "_REF"))
        status, sign = align_alleles(m["A1"], m["A2"], m["A1_REF"], m["A2_REF"])
        amb = status == "ambiguous"
        if amb.any():
            eaf = m["EAF"].to_numpy(dtype=float) if "EAF" in m else np.full(len(m), np.nan)
            rf = np.array([ref_eaf.get(i, np.nan) for i in m["ID"]])
            if k == 0:
                sign[amb] = 1  # the reference study defines the alleles
            else:
                sign[amb] = resolve_ambiguous(eaf[amb], rf[amb])
        if "EAF" in m and k == 0:
            ref_eaf.update(zip(m["ID"], m["EAF"].to_numpy(dtype=float), strict=True))
        use = sign != 0
        reason = np.where(status == "ambiguous", "strand_ambiguous_unresolved", "allele_mismatch")
        if (~use).any():
            dropped.append(pd.DataFrame({"STUDY": name, "ID": m["ID"][~use],
                                         "REASON": reason[~use]}))
        n_flip = int(((sign == -1) & use).sum())
        if n_flip:
            notes.append(f"{name}: {n_flip:,} variants with swapped alleles flipped")
        part = pd.DataFrame({"ID": m["ID"][use], "b": m["BETA"][use] * sign[use],
                             "se": m["SE"][use], "k": k,
                             "n": m["N"][use] if "N" in m else np.nan})
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    w = 1.0 / long["se"] ** 2
    long = long.assign(w=w, wb=w * long["b"])
    g = long.groupby("ID", sort=False)
    sw, swb = g["w"].sum(), g["wb"].sum()
    beta = swb / sw
    se = 1.0 / np.sqrt(sw)
    long = long.join(beta.rename("bhat"), on="ID")
    Q = (long["w"] * (long["b"] - long["bhat"]) ** 2).groupby(long["ID"], sort=False).sum()
    k = g.size()
    df = k - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        i2 = np.where(Q > 0, np.maximum(0.0, (Q - df) / Q), 0.0)
        qp = np.where(df > 0, special.chdtrc(np.maximum(df, 1), Q), np.nan)
    z = beta / se
    direction = (long.assign(sgn=np.where(long["b"] > 0, "+", np.where(long["b"] < 0, "-", "0")))
                 .pivot_table(index="ID", columns="k", values="sgn", aggfunc="first")
                 .reindex(columns=range(len(studies))).fillna("?").agg("".join, axis=1))
    table = pd.DataFrame({"ID": beta.index, "BETA": beta.to_numpy(), "SE": se.to_numpy(),
                          "Z": z.to_numpy(), "P": 2 * special.ndtr(-np.abs(z.to_numpy())),
                          "Q": Q.to_numpy(), "Q_DF": df.to_numpy(), "Q_P": qp, "I2": i2,
                          "N": g["n"].sum(min_count=1).to_numpy(),
                          "N_STUDIES": k.to_numpy()})
    table["DIRECTION"] = direction.reindex(table["ID"]).to_numpy()
    table = table.merge(ref, on="ID", how="left")
    table = table[["ID", "A1", "A2", "BETA", "SE", "Z", "P", "Q", "Q_DF", "Q_P", "I2", "N",
                   "N_STUDIES", "DIRECTION"]]
    drop = (pd.concat(dropped, ignore_index=True) if dropped else
            pd.DataFrame(columns=["STUDY", "ID", "REASON"]))
    for (study, reason), cnt in drop.groupby(["STUDY", "REASON"]).size().items():
        notes.append(f"{study}: {cnt:,} variants dropped ({reason})")
    return MetaResult(table=table, dropped=drop, notes=notes)
