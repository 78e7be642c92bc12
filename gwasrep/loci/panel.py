"""Variant panels (GEMCONT's genetic input): threshold, harmonize to the cohort, clump.

1. Keep external variants with ``P <= p``.
2. Match them to the cohort's .bim by ID, else by ``CHROM:POS`` with the same
   allele pair (needs CHROM and POS columns).
3. Align effects to the cohort's A1 (:func:`~gwasrep.loci.harmonize.align_alleles`):
   swapped alleles flip the sign; strand flips are complemented; A/T and C/G
   variants are kept only when the external EAF and the cohort's A1 frequency
   resolve the strand; mismatched alleles are dropped.
4. Clump the survivors on the cohort's genotypes (PLINK 1.9 rules, p1 = p2 = p).

Every variant that passes step 1 and is not in the panel is listed with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gwasrep.errors import InputError
from gwasrep.io.checks import check_column
from gwasrep.io.plink import PlinkFileset, read_dosages
from gwasrep.loci.clump import clump
from gwasrep.loci.harmonize import align_alleles, resolve_ambiguous

__all__ = ["PANEL_COLUMNS", "PanelResult", "build_panel"]

PANEL_COLUMNS = ["ID", "CHROM", "POS", "A1", "A2", "BETA", "SE", "P", "SOURCE"]


@dataclass
class PanelResult:
    #: :data:`PANEL_COLUMNS`; BETA is the effect of one copy of the cohort's A1.
    panel: pd.DataFrame
    #: ID and REASON of every variant below the threshold left out of the panel.
    dropped: pd.DataFrame
    counts: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def build_panel(external: pd.DataFrame, fileset: PlinkFileset, *, p: float = 1e-5,
                r2: float = 0.05, kb: float = 5000.0, source: str = "external",
                r2_mode: str = "em") -> PanelResult:
    """Build a panel from standardized external sumstats (see
    :func:`gwasrep.io.sumstats.read_effect_table`)."""
    if "P" not in external:
        raise InputError(f"{source}: missing column P")
    bim = fileset.bim
    ids = external["ID"].astype(str).to_numpy()
    checked = {k: check_column(external[k], source=source, column=k, ids=ids)
               for k in ("BETA", "SE", "P")}
    external = external.assign(**checked)
    dropped = []

    def drop(ids, reason):
        if len(ids):
            dropped.append(pd.DataFrame({"ID": np.asarray(ids), "REASON": reason}))

    ext = external.loc[external["P"] <= p].copy()
    counts = {"rows": len(external), "below_p": len(ext)}
    # P, BETA and SE are in range where present (checked above). A variant that can enter
    # the panel must carry its effect: dropping a top hit for a missing BETA would change
    # the genetic input silently.
    for col in ("BETA", "SE"):
        missing = ~np.isfinite(ext[col].to_numpy())
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise InputError(f"{source}: column {col}: {int(missing.sum()):,} variants with "
                             f"P <= {p:g} have no {col} (e.g. ID {ext['ID'].iloc[i]}); expected "
                             "BETA and SE for every variant that can enter the panel")

    bim_pos = pd.Index(bim["ID"].to_numpy(dtype=object))
    where = bim_pos.get_indexer(ext["ID"].to_numpy(dtype=object)) if bim_pos.is_unique else \
        pd.Series(np.arange(len(bim)), index=bim_pos).groupby(level=0).first().reindex(
            ext["ID"]).fillna(-1).astype(int).to_numpy()
    by_pos = 0
    if (where < 0).any() and {"CHROM", "POS"} <= set(ext.columns):
        key = bim["CHROM"].astype(str) + ":" + bim["POS"].astype(str)
        first = pd.Series(np.arange(len(bim)), index=key.to_numpy()).groupby(level=0).first()
        miss = np.flatnonzero(where < 0)
        k2 = (ext["CHROM"].astype(str).to_numpy()[miss] + ":"
              + pd.to_numeric(ext["POS"], errors="coerce").astype("Int64").astype(str)
              .to_numpy()[miss])
        hit = first.reindex(k2).fillna(-1).astype(int).to_numpy()
        # chrom:pos only counts when the allele pair agrees (checked below).
        where[miss] = hit
        by_pos = int((hit >= 0).sum())
    counts["matched_by_id"] = int((where >= 0).sum()) - by_pos
    counts["matched_by_position"] = by_pos
    drop(ext["ID"][where < 0], "not_in_cohort")
    ext, where = ext.loc[where >= 0], where[where >= 0]
    status, sign = align_alleles(ext["A1"], ext["A2"], bim["A1"].to_numpy()[where],
                                 bim["A2"].to_numpy()[where])
    amb = status == "ambiguous"
    if amb.any():
        X = read_dosages(fileset, np.sort(where[amb]))
        freq = pd.Series(np.nanmean(X, axis=0) / 2, index=np.sort(where[amb]))
        eaf = ext["EAF"].to_numpy(dtype=float)[amb] if "EAF" in ext else np.full(amb.sum(),
                                                                                   np.nan)
        sign[amb] = resolve_ambiguous(eaf, freq.reindex(where[amb]).to_numpy())
    drop(ext["ID"][(status == "mismatch")], "allele_mismatch")
    drop(ext["ID"][amb & (sign == 0)], "strand_ambiguous")
    keep = sign != 0
    counts["flipped"] = int((keep & (sign == -1)).sum())
    ext, where, sign = ext.loc[keep], where[keep], sign[keep]
    aligned = pd.DataFrame({
        "ID": bim["ID"].to_numpy()[where], "CHROM": bim["CHROM"].to_numpy()[where],
        "POS": bim["POS"].to_numpy()[where], "A1": bim["A1"].to_numpy()[where],
        "A2": bim["A2"].to_numpy()[where], "BETA": ext["BETA"].to_numpy() * sign,
        "SE": ext["SE"].to_numpy(), "P": ext["P"].to_numpy(), "SOURCE": source})
    notes = []
    if aligned.empty:
        notes.append(f"{source}: no variant with P <= {p:g} survives matching and "
                     "harmonization: empty panel")
        panel = aligned
    else:
        cl = clump(aligned[["ID", "P"]], fileset, p1=p, p2=p, r2=r2, kb=kb, r2_mode=r2_mode)
        panel = aligned.loc[aligned["ID"].isin(cl.clumps["SNP"])]
        panel = panel.set_index("ID").loc[cl.clumps["SNP"]].reset_index()
        gone = cl.members.loc[cl.members["INDEX"] != cl.members["ID"]]
        if len(gone):
            dropped.append(pd.DataFrame({"ID": gone["ID"].to_numpy(),
                                         "REASON": "clumped_with_" + gone["INDEX"].astype(str)}))
        notes += cl.notes
    drop_df = (pd.concat(dropped, ignore_index=True) if dropped else
               pd.DataFrame(columns=["ID", "REASON"]))
    counts["panel"] = len(panel)
    for reason, cnt in drop_df["REASON"].str.replace(r"clumped_with_.*", "clumped",
                                                     regex=True).value_counts().items():
        counts[f"dropped_{reason}"] = int(cnt)
    return PanelResult(panel=panel[PANEL_COLUMNS].reset_index(drop=True), dropped=drop_df,
                       counts=counts, notes=notes)
