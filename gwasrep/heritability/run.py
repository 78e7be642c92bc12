"""Runners of the heritability commands: ``gwasrep ldscore`` and ``gwasrep h2``."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gwasrep.errors import InputError
from gwasrep.heritability.h2 import add_greml, drop_ambiguous_snps, h2_table
from gwasrep.heritability.ldscore import compute_ld_scores
from gwasrep.io.atomic import atomic_path
from gwasrep.io.ldscores import read_ld_scores, write_ld_scores
from gwasrep.io.plink import open_plink
from gwasrep.io.tables import read_table
from gwasrep.options import check_options, check_suffix
from gwasrep.runs import Progress, RunResult

__all__ = ["H2Config", "H2Run", "LdscoreConfig", "LdscoreRun", "run_h2", "run_ldscore"]


@dataclass
class LdscoreConfig:
    """``gwasrep ldscore``: LD scores of a reference fileset in LDSC's format."""

    bed: Path
    #: Output prefix: OUT.l2.ldscore.gz, OUT.l2.M, OUT.l2.M_5_50.
    out: Path
    #: Window half-width in kb, or in cM (needs CM in the .bim); exactly one of them.
    window_kb: float | None = None
    window_cm: float | None = None
    #: ldsc --l2's chunk-rounded windows (to reproduce published LD scores), per chromosome.
    ldsc_compat: bool = False
    #: ldsc's --chunk-size (with ``ldsc_compat``).
    chunk_size: int = 50


@dataclass(kw_only=True)
class LdscoreRun(RunResult):
    """LD scores written (``files``: ldscore, M, M_5_50) and the variant counts."""

    n_variants: int
    n_variants_5_50: int


def run_ldscore(cfg: LdscoreConfig, *, progress: Progress | None = None) -> LdscoreRun:
    """Compute and write the LD scores (data_specs/ldscore.md); stage ``LD scores``."""
    check_options(cfg)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sc = compute_ld_scores(open_plink(cfg.bed), window_kb=cfg.window_kb,
                               window_cm=cfg.window_cm, ldsc_compat=cfg.ldsc_compat,
                               chunk_size=cfg.chunk_size, progress=progress)
    paths = write_ld_scores(sc, cfg.out)
    notes = []
    if sc.excluded:
        notes.append(f"{sc.excluded:,} variants without variance among their calls "
                     "(monomorphic, all missing or all heterozygous) or with a negative "
                     "position are left out, as ldsc leaves them out")
    if cfg.ldsc_compat:
        notes.append(f"ldsc-compatible windows: chunks of {cfg.chunk_size}, each window "
                     "extended to a multiple of the chunk size (ldsc --l2 on each chromosome)")
    return LdscoreRun(files=paths, notes=notes, warnings=[str(w.message) for w in caught],
                      n_variants=int(sc.M), n_variants_5_50=int(sc.M_5_50))


@dataclass
class H2Config:
    """``gwasrep h2``: LDSC SNP heritability per embedding dimension."""

    #: gwasrep sumstats (BETA_k/SE_k and OBS_CT per dimension) or a table with SNP Z N.
    sumstats: Path
    #: LD score prefix (PREFIX.l2.ldscore.gz, PREFIX.l2.M_5_50).
    ref_ld: Path
    #: Per-dimension h2 table (TSV; data_specs/h2.md).
    out: Path
    #: Regression-weight LD score prefix (default: ``ref_ld``).
    w_ld: Path | None = None
    #: Fix the intercept at this value (1 is ldsc's --no-intercept).
    intercept: float | None = None
    #: M_5_50 (MAF > 5% variants) rather than M as the number of SNPs.
    use_m_5_50: bool = True
    #: Jackknife blocks.
    n_blocks: int = 200
    #: variance_components.tsv of ``assoc --lmm`` for GREML h2; None looks beside the
    #: sumstats.
    greml: Path | None = None
    #: Add GREML h2 at all.
    add_greml: bool = True
    #: ldsc munge_sumstats' allele filter (needs A1, A2).
    drop_ambiguous: bool = False


@dataclass(kw_only=True)
class H2Run(RunResult):
    """One row per trait (H2_COLUMNS, then GREML_COLUMNS when added)."""

    table: pd.DataFrame


def run_h2(cfg: H2Config) -> H2Run:
    """Read sumstats and LD scores, estimate h2 per dimension, write OUT (TSV)."""
    check_options(cfg)
    check_suffix(cfg.out, (".tsv", ".txt"), what="the h2 table (TSV)")
    ss, notes = read_table(cfg.sumstats), []
    if cfg.drop_ambiguous:
        ss, note = drop_ambiguous_snps(ss)
        notes.append(note)
    ref = read_ld_scores(cfg.ref_ld)
    wld = None if cfg.w_ld is None else read_ld_scores(cfg.w_ld)
    table, more = h2_table(ss, ref, wld, use_m_5_50=cfg.use_m_5_50, intercept=cfg.intercept,
                           n_blocks=cfg.n_blocks, ref_name=str(cfg.ref_ld))
    notes += more
    greml = cfg.greml if cfg.add_greml else False
    if greml is None:
        beside = Path(cfg.sumstats).with_name("variance_components.tsv")
        greml = beside if beside.is_file() else False
    if greml is not False:
        if not Path(greml).is_file():
            raise InputError(f"--greml {greml}: file not found")
        table, more = add_greml(table, pd.read_csv(greml, sep="\t"))
        notes += [f"GREML h2 from {greml}"] + more
    for col, what in (("H2", "LDSC h2"), ("GREML_H2", "GREML h2")):
        if len(table) > 1 and col in table:
            notes.append(f"{what} across {len(table)} dimensions: mean {table[col].mean():.4f} "
                         f"± sd {table[col].std(ddof=1):.4f}")
    out = Path(cfg.out)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.8g")
    return H2Run(files={"h2": out}, notes=notes, table=table)
