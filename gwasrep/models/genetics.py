"""Genetic inputs of ContIG, GIM and MRM, built from the user's cohort (PLINK 1 fileset).

**ContIG's modalities** (Taleb et al. 2022; HealthML/ContIG), each from the .bed:

- ``raw``: every k-th variant of each chromosome (``--snp-every``; ContIG keeps every
  100th array SNP), in chromosome and position order, missing calls set to the
  variant's mode (the most frequent dosage among the used samples; ties to the lower
  dosage), as A1 dosages 0/1/2;
- ``pgs``: polygenic scores from a weights file (``ID``, ``A1``, optional ``A2``, one
  column per score): ``plink2 --score FILE 1 2 COL header cols=scoreavgs`` computed from
  the .bed (the variant's A1 dosage, or 2 - dosage when the weight's allele is the .bim's
  A2; a missing call contributes twice the variant's A1 frequency among the used samples,
  plink2's mean imputation; the average is the sum over the number of alleles
  ``2 x variants``), then z-scored over the samples;
- ``burden``: from a variant-to-gene table (``ID``, ``GENE``, optional ``A1`` naming the
  rare allele; default the cohort's minor allele): 1 when a sample carries at least one
  rare allele of a listed variant in the gene (variants whose rare allele has frequency
  ``>= rare_maf`` do not count), genes with fewer than ``min_carriers`` carriers dropped.

A sample **lacks a modality** when every one of its calls for the modality's variants is
missing (e.g. samples without exome calls in a merged fileset lack ``burden``). ContIG's
"inner" mode keeps the samples with every modality; "outer" keeps all and each
modality's loss sees only the rows that have it (``present``).

Allele matching of the PGS weights is :func:`match_to_bim`, the one used for GEMCONT's
panel (:func:`gwasrep.models.data.read_panel_genotypes`), on
:func:`gwasrep.loci.harmonize.align_alleles`.

**GIM's and MRM's SNP sequence** (``snps``): every k-th variant of each chromosome in
chromosome and position order, stored as genotype codes (int8: 0, 1, 2 copies of A1, 3 a
missing call) with each variant's mean; the models get the codes (GIM's tokens) and the
centred dosages (missing calls 0, i.e. the mean) per batch. The layout (chromosome
code, bp, cM; 1 cM/Mb from bp where the .bim's cM is 0) goes with the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from gwasrep.errors import InputError, preview
from gwasrep.io.plink import PlinkFileset, read_dosages
from gwasrep.io.tables import read_table
from gwasrep.loci.harmonize import align_alleles

__all__ = ["GeneticInputs", "Matched", "build_genetics", "burden_scores", "chrom_codes",
           "match_to_bim",
           "polygenic_scores", "raw_snps", "snp_order", "snp_sequence"]

#: Columns of a weights file that are never scores.
NOT_SCORES = {"ID", "SNP", "A1", "A2", "CHROM", "CHR", "POS", "BP", "CM", "SE", "P", "N",
              "EAF", "FREQ", "MAF", "A1_FREQ", "P_BONF", "SOURCE", "GENE"}
#: Columns holding variant IDs, in the order they are looked for.
_ID_COLS = ("ID", "SNP")


@dataclass
class GeneticInputs:
    """Named genetic inputs of the used samples (row i is sample i)."""

    #: Name -> (n, p) array: float32 features, or int8 codes for ``snp_codes``.
    arrays: dict[str, np.ndarray]
    #: Name -> (n,) bool: the rows that have the modality.
    present: dict[str, np.ndarray]
    #: Name -> feature names (variant IDs, score columns, genes).
    features: dict[str, list[str]]
    #: ``snps`` only: ``chrom`` (int codes), ``bp``, ``cm`` and ``mean`` (lists).
    layout: dict | None = None
    #: Rows to keep (ContIG's inner mode), or None for all.
    keep: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    def subset(self, rows: np.ndarray) -> GeneticInputs:
        """The inputs of rows ``rows`` (a boolean mask or positions)."""
        return replace(self, arrays={k: v[rows] for k, v in self.arrays.items()},
                       present={k: v[rows] for k, v in self.present.items()}, keep=None)

    @property
    def sizes(self) -> dict[str, int]:
        """Features per model input (``snp_codes`` is the ``snps`` input's other form)."""
        return {("snps" if k == "snp_codes" else k): int(v.shape[1])
                for k, v in self.arrays.items()}

    @property
    def n_variants(self) -> int:
        return sum(self.sizes.values())

    @property
    def ids(self) -> list[str]:
        """Every feature, as ``name:feature`` (the run's data fingerprint)."""
        return [f"{k}:{f}" for k in self.sizes for f in self.features[k]]


# --------------------------------------------------------------------------------------
# Variant selection and allele matching

_NAMED_CHROMS = {"X": 23, "Y": 24, "XY": 25, "MT": 26, "M": 26}


def chrom_codes(names) -> np.ndarray:
    """Integer codes of chromosome names: 1-22 as numbers, X 23, Y 24, XY 25, MT 26, and any
    other name 1000 + its rank among the other names in sorted order (stable across runs)."""
    names = np.asarray(names).astype(str)
    bare = np.char.upper(np.array([n.removeprefix("chr") for n in names.tolist()], dtype=str))
    codes = np.full(len(names), -1, dtype=np.int64)
    digit = np.char.isdigit(bare) if len(bare) else np.zeros(0, dtype=bool)
    codes[digit] = bare[digit].astype(np.int64)
    for name, code in _NAMED_CHROMS.items():
        codes[bare == name] = code
    other = codes < 0
    if other.any():
        uniq = np.unique(bare[other])
        codes[other] = 1000 + np.searchsorted(uniq, bare[other])
    return codes


def snp_order(fs: PlinkFileset, every: int) -> np.ndarray:
    """.bim rows of every ``every``-th variant of each chromosome, sorted by chromosome
    (1-22, X, Y, XY, MT, then other names alphabetically; :func:`chrom_codes`) and
    position; the first of each chromosome is kept."""
    bim = fs.bim
    code = chrom_codes(bim["CHROM"])
    order = np.lexsort((np.arange(len(bim)), bim["POS"].to_numpy(), code))
    keep = []
    for c in pd.unique(code[order]):
        rows = order[code[order] == c]
        keep.append(rows[::every])
    return np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)


@dataclass
class Matched:
    """Rows of a variant table matched to the .bim."""

    #: Positions in the table of the usable rows.
    rows: np.ndarray
    #: Their .bim rows.
    bim_idx: np.ndarray
    #: True where the table's allele is the .bim's A2 (count 2 - dosage).
    flip: np.ndarray
    n_absent: int
    n_mismatch: int
    mismatch_examples: list[str]
    absent_examples: list[str]


def match_to_bim(fs: PlinkFileset, ids, a1, a2=None) -> Matched:
    """Match variants (``ids``, effect allele ``a1``, optional other allele ``a2``) to the
    .bim by ID and align their alleles (:func:`~gwasrep.loci.harmonize.align_alleles`).

    With ``a2`` the other strand is recognized; an A/T or C/G variant is taken as written.
    IDs repeated in the .bim count as absent. Where the .bim has A1 = A2 (a monomorphic
    site), the allele counts as the A2, as plink2 does.
    """
    ids = pd.Series(np.asarray(ids).astype(str))
    bim = fs.bim.reset_index(drop=True)
    pos = pd.Series(np.arange(len(bim)), index=bim["ID"].astype(str).to_numpy())
    pos = pos[~pos.index.duplicated(keep=False)]
    present = ids.isin(pos.index).to_numpy()
    bidx = np.where(present, pos.reindex(ids).fillna(-1).to_numpy(), -1).astype(np.int64)
    r1 = np.where(present, bim["A1"].to_numpy()[bidx].astype(str), "")
    r2 = np.where(present, bim["A2"].to_numpy()[bidx].astype(str), "")
    a1 = np.char.upper(np.asarray(a1).astype(str))
    if a2 is None:
        status, sign = align_alleles(a1, None, r1, r2)
    else:
        status, sign = align_alleles(a1, np.char.upper(np.asarray(a2).astype(str)), r1, r2)
        amb = status == "ambiguous"  # palindromic: as written
        sign[amb] = np.where(a1[amb] == np.char.upper(r1[amb]), 1,
                             np.where(a1[amb] == np.char.upper(r2[amb]), -1, 0))
    # A .bim with A1 = A2 (a monomorphic site written with one allele twice): plink2
    # --score counts the named allele as REF (.bim A2), i.e. 2 - dosage.
    same = present & (np.char.upper(r1) == np.char.upper(r2)) & (a1 == np.char.upper(r1))
    sign[same] = -1
    ok = present & (sign != 0)
    bad = present & (sign == 0)
    shown = [f"{i} ({x} vs .bim {p}/{q})" for i, x, p, q in
             zip(ids[bad], a1[bad], r1[bad], r2[bad], strict=True)]
    return Matched(rows=np.flatnonzero(ok), bim_idx=bidx[ok], flip=sign[ok] < 0,
                   n_absent=int((~present).sum()), n_mismatch=int(bad.sum()),
                   mismatch_examples=shown[:3],
                   absent_examples=list(ids[~present][:3]))


# --------------------------------------------------------------------------------------
# ContIG's modalities

def _any_called(D: np.ndarray) -> np.ndarray:
    return np.isfinite(D).any(axis=1) if D.shape[1] else np.zeros(D.shape[0], dtype=bool)


def raw_snps(fs: PlinkFileset, fam_idx: np.ndarray, every: int) -> tuple[np.ndarray,
                                                                         np.ndarray, list[str]]:
    """ContIG's raw SNPs: (n, p) float32 dosages with missing calls at the variant's mode,
    the rows with at least one call, and the variant IDs."""
    vidx = snp_order(fs, every)
    D = read_dosages(fs, vidx, fam_idx, dtype=np.float32)
    present = _any_called(D)
    counts = np.stack([(D == v).sum(axis=0) for v in (0.0, 1.0, 2.0)])
    mode = counts.argmax(axis=0).astype(np.float32)  # ties: the lower dosage
    miss = ~np.isfinite(D)
    D[miss] = np.broadcast_to(mode, D.shape)[miss]
    return D, present, list(fs.bim["ID"].astype(str).to_numpy()[vidx])


def _weights_table(path, cols: list[str] | None) -> tuple[pd.DataFrame, str, list[str]]:
    tab = read_table(path) if not isinstance(path, pd.DataFrame) else path
    id_col = next((c for c in _ID_COLS if c in tab.columns), None)
    if id_col is None or "A1" not in tab.columns:
        raise InputError(f"{path}: a PGS weights file needs columns ID and A1 and one weight "
                         f"column per score; found {preview(tab.columns, 8)}")
    if cols is None:
        cols = [c for c in tab.columns if str(c).upper() not in NOT_SCORES
                and pd.api.types.is_numeric_dtype(tab[c])]
        if not cols:
            raise InputError(f"{path}: no numeric weight column besides ID, A1 and the "
                             f"CHR/POS/SE/P columns (found {preview(tab.columns, 8)}); name "
                             "the score columns with --pgs-cols")
    missing = [c for c in cols if c not in tab.columns]
    if missing:
        raise InputError(f"--pgs-cols {','.join(cols)}: {path} has no column "
                         f"{', '.join(missing)} (found {preview(tab.columns, 8)})")
    for c in cols:
        w = pd.to_numeric(tab[c], errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(w).all():
            raise InputError(f"{path}: weight column {c} has {int((~np.isfinite(w)).sum()):,} "
                             "missing or non-numeric values")
    if tab[id_col].astype(str).duplicated().any():
        dup = tab[id_col].astype(str)[tab[id_col].astype(str).duplicated()]
        raise InputError(f"{path}: variant IDs appear more than once, e.g. {preview(dup, 3)}; "
                         "expected one row per variant")
    return tab, id_col, list(cols)


def polygenic_scores(fs: PlinkFileset, fam_idx: np.ndarray, weights, cols=None, *,
                     block: int = 4096) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """plink2's ``SCORE<k>_AVG`` of each score column for the samples ``fam_idx``.

    Returns ``(avg (n, S) float64, rows with a call at any score variant, score names,
    notes)``; ContIG's input is ``avg`` z-scored over the samples (:func:`build_genetics`).

    Raises
    ------
    InputError
        No weight variant in the .bed (with the counts), or alleles that match neither
        .bim allele on either strand (with the counts and examples).
    """
    tab, id_col, cols = _weights_table(weights, cols)
    m = match_to_bim(fs, tab[id_col], tab["A1"], tab["A2"] if "A2" in tab.columns else None)
    name = getattr(weights, "name", None) or str(weights)
    if m.n_mismatch:
        raise InputError(f"{name}: {m.n_mismatch:,} of {len(tab):,} weight variants have "
                         "alleles that match neither .bim allele on either strand, e.g. "
                         f"{', '.join(m.mismatch_examples)}")
    if len(m.rows) == 0:
        raise InputError(f"{name}: none of its {len(tab):,} weight variants is in "
                         f"{fs.bed_path} ({m.n_absent:,} not in the .bim, or repeated there); "
                         f"e.g. {preview(tab[id_col].astype(str), 3)} vs .bim "
                         f"{preview(fs.bim['ID'], 3)}")
    notes = []
    if m.n_absent:
        notes.append(f"PGS: {m.n_absent:,} of {len(tab):,} weight variants are not in the .bim "
                     f"and are skipped (as plink2 --score does), e.g. "
                     f"{preview(m.absent_examples, 3)}")
    W = tab[cols].to_numpy(dtype=np.float64)[m.rows]
    n = len(fam_idx)
    total = np.zeros((n, len(cols)))
    called = np.zeros(n, dtype=bool)
    for s in range(0, len(m.rows), block):
        D = read_dosages(fs, m.bim_idx[s:s + block], fam_idx, dtype=np.float64)
        flip = m.flip[s:s + block]
        D[:, flip] = 2.0 - D[:, flip]
        obs = np.isfinite(D)
        called |= obs.any(axis=1)
        with np.errstate(invalid="ignore"):
            mean = np.where(obs.any(axis=0), np.nansum(D, axis=0) / np.maximum(obs.sum(0), 1),
                            0.0)
        D = np.where(obs, D, mean)
        total += D @ W[s:s + block]
    return total / (2.0 * len(m.rows)), called, cols, notes


def _gene_table(path) -> pd.DataFrame:
    tab = read_table(path) if not isinstance(path, pd.DataFrame) else path
    id_col = next((c for c in _ID_COLS if c in tab.columns), None)
    if id_col is None or "GENE" not in tab.columns:
        raise InputError(f"{path}: a variant-to-gene table needs columns ID and GENE (and "
                         f"optionally A1, the rare allele); found {preview(tab.columns, 8)}")
    return tab.rename(columns={id_col: "ID"})


def burden_scores(fs: PlinkFileset, fam_idx: np.ndarray, table, *, min_carriers: int = 5,
                  rare_maf: float = 0.01) -> tuple[np.ndarray, np.ndarray, list[str],
                                                   list[str]]:
    """Gene burden: ``(B (n, G) float32 0/1, rows with a call at any listed variant, genes,
    notes)``.

    Raises
    ------
    InputError
        Variants not in the .bim (with the counts), an A1 that is neither .bim allele, or no
        gene with ``min_carriers`` carriers.
    """
    tab = _gene_table(table)
    name = getattr(table, "name", None) or str(table)
    ids = tab["ID"].astype(str)
    bim_pos = pd.Series(np.arange(len(fs.bim)), index=fs.bim["ID"].astype(str).to_numpy())
    bim_pos = bim_pos[~bim_pos.index.duplicated(keep=False)]
    unknown = ~ids.isin(bim_pos.index).to_numpy()
    if unknown.any():
        raise InputError(f"{name}: {int(unknown.sum()):,} of {len(tab):,} rows name variants "
                         f"that are not in {fs.bed_path.with_suffix('.bim')} (or repeated "
                         f"there), e.g. {preview(ids[unknown], 3)}")
    uniq = pd.unique(ids)
    bidx = bim_pos.loc[uniq].to_numpy()
    D = read_dosages(fs, bidx, fam_idx, dtype=np.float32)
    obs = np.isfinite(D)
    freq = np.nansum(D, axis=0) / np.maximum(2 * obs.sum(axis=0), 1)  # of A1
    if "A1" in tab.columns:
        allele = tab.drop_duplicates("ID").set_index(tab.drop_duplicates("ID")["ID"].astype(str))
        a = allele.loc[uniq, "A1"].astype(str).str.upper().to_numpy()
        b1 = fs.bim["A1"].astype(str).str.upper().to_numpy()[bidx]
        b2 = fs.bim["A2"].astype(str).str.upper().to_numpy()[bidx]
        bad = (a != b1) & (a != b2)
        if bad.any():
            raise InputError(f"{name}: {int(bad.sum()):,} rare alleles (A1) are neither .bim "
                             f"allele, e.g. {preview(uniq[bad], 3)}")
        count_a1 = a == b1
    else:
        count_a1 = freq <= 0.5
    rare_freq = np.where(count_a1, freq, 1 - freq)
    carrier = np.where(count_a1, D >= 1, (2 - D) >= 1) & obs
    usable = rare_freq < rare_maf
    notes = []
    if (~usable).any():
        notes.append(f"burden: {int((~usable).sum()):,} of {len(uniq):,} listed variants have "
                     f"a rare-allele frequency >= {rare_maf:g} in the cohort and do not count")
    col = pd.Series(np.arange(len(uniq)), index=uniq)
    genes = pd.unique(tab["GENE"].astype(str))
    Bm = np.zeros((len(fam_idx), len(genes)), dtype=bool)
    for g, (_gene, rows) in enumerate(tab.groupby(tab["GENE"].astype(str), sort=False)):
        cols = col.loc[rows["ID"].astype(str)].to_numpy()
        cols = cols[usable[cols]]
        if len(cols):
            Bm[:, g] = carrier[:, cols].any(axis=1)
    n_carriers = Bm.sum(axis=0)
    keep = n_carriers >= min_carriers
    if not keep.any():
        raise InputError(f"{name}: no gene has at least --min-carriers {min_carriers} carriers "
                         f"of a rare allele (most: {int(n_carriers.max(initial=0))}) among the "
                         f"{len(fam_idx):,} samples ({int((~usable).sum()):,} of the "
                         f"{len(uniq):,} listed variants have a rare-allele frequency >= "
                         f"--rare-maf {rare_maf:g} and do not count)")
    if (~keep).any():
        notes.append(f"burden: {int((~keep).sum()):,} of {len(genes):,} genes have fewer than "
                     f"{min_carriers} carriers and are dropped")
    return Bm[:, keep].astype(np.float32), obs.any(axis=1), list(genes[keep]), notes


# --------------------------------------------------------------------------------------
# GIM's and MRM's SNP sequence

def snp_sequence(fs: PlinkFileset, fam_idx: np.ndarray, every: int) -> GeneticInputs:
    """Genotype codes of every ``every``-th variant per chromosome, with the layout."""
    vidx = snp_order(fs, every)
    D = read_dosages(fs, vidx, fam_idx, dtype=np.float32)
    obs = np.isfinite(D)
    mean = np.where(obs.any(axis=0), np.nansum(D, axis=0) / np.maximum(obs.sum(axis=0), 1), 0)
    codes = np.where(obs, D, 3).astype(np.int8)
    bim = fs.bim.iloc[vidx]
    bp = bim["POS"].to_numpy(dtype=np.int64)
    cm = bim["CM"].to_numpy(dtype=np.float64)
    cm = np.where(cm > 0, cm, bp / 1e6)
    layout = {"chrom": chrom_codes(bim["CHROM"]).tolist(), "bp": bp.tolist(),
              "cm": cm.tolist(), "mean": mean.astype(float).tolist()}
    n = len(fam_idx)
    ids = list(bim["ID"].astype(str))
    return GeneticInputs(arrays={"snp_codes": codes}, present={"snps": np.ones(n, dtype=bool)},
                         features={"snps": ids, "snp_codes": ids}, layout=layout)


# --------------------------------------------------------------------------------------

def _at_least_two(name: str, has: np.ndarray) -> None:
    if has.sum() < 2:
        raise InputError(f"--modalities {name}: {int(has.sum())} of {len(has):,} samples have a "
                         "call at any of its variants; expected at least 2")


def build_genetics(cfg, genetic: str) -> Callable | None:
    """``(fileset, fam_idx) -> GeneticInputs`` for a TrainConfig ``cfg`` of a method whose
    genetic input is ``genetic`` (``modalities`` or ``snps``), or None for other inputs."""
    if genetic == "snps":
        return lambda fs, fam_idx: snp_sequence(fs, fam_idx, cfg.snp_every)
    if genetic != "modalities":
        return None

    chosen = cfg.modalities or (["raw"] + (["pgs"] if cfg.pgs_weights else [])
                                + (["burden"] if cfg.burden else []))

    def modalities(fs, fam_idx):
        arrays, present, features, notes = {}, {}, {}, []
        for name in chosen:
            if name == "raw":
                X, has, feats = raw_snps(fs, fam_idx, cfg.snp_every)
                _at_least_two(name, has)
            elif name == "pgs":
                if cfg.pgs_weights is None:
                    raise InputError("--modalities pgs needs --pgs-weights FILE")
                avg, has, feats, more = polygenic_scores(fs, fam_idx, cfg.pgs_weights,
                                                         cfg.pgs_cols)
                notes += more
                _at_least_two(name, has)
                X = np.zeros_like(avg)
                for j in range(avg.shape[1]):
                    v = avg[has, j]
                    sd = v.std() if len(v) else 0.0
                    if sd == 0:
                        raise InputError(f"{cfg.pgs_weights}: score {feats[j]} is constant "
                                         "over the samples; it cannot be z-scored")
                    X[:, j] = np.where(has, (avg[:, j] - v.mean()) / sd, 0.0)
                X = X.astype(np.float32)
            else:
                if cfg.burden is None:
                    raise InputError("--modalities burden needs --burden FILE (a variant-to-"
                                     "gene table)")
                X, has, feats, more = burden_scores(fs, fam_idx, cfg.burden,
                                                    min_carriers=cfg.min_carriers,
                                                    rare_maf=cfg.rare_maf)
                notes += more
                _at_least_two(name, has)
            X[~has] = 0.0
            arrays[name], present[name], features[name] = X, has, feats
        keep = None
        if cfg.missing == "inner":
            every = np.logical_and.reduce([present[m] for m in chosen])
            if not every.any():
                counts = ", ".join(f"{m}: {int(present[m].sum()):,}" for m in chosen)
                raise InputError(f"--missing inner: no sample has every modality (samples "
                                 f"with {counts}); use --missing outer")
            if not every.all():
                notes.append(f"--missing inner: {int(every.sum()):,} of {len(every):,} samples "
                             "have every modality and are used")
            keep = every
        else:
            notes += [f"--missing outer: {int((~present[m]).sum()):,} samples lack {m}"
                      for m in chosen if not present[m].all()]
        return GeneticInputs(arrays=arrays, present=present, features=features, keep=keep,
                             notes=notes)
    return modalities
