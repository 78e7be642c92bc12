"""Configurations of the association commands: ``gwasrep assoc`` and ``gwasrep grm``.

The CLI builds one of these from its options and hands it to the runner in
:mod:`gwasrep.assoc.run`; from Python, build them directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gwasrep.assoc.kinship import GRM_KINDS
from gwasrep.assoc.ridge import DEFAULT_BLOCK_SIZE, DEFAULT_FOLDS, DEFAULT_H2_GRID, check_h2_grid
from gwasrep.errors import InputError

__all__ = ["LMM_MODES", "RESULT_SETTINGS", "AssocConfig", "GrmConfig"]

#: Modes of ``--lmm``: the exact LMM with a full- or low-rank kinship
#: (:mod:`gwasrep.assoc.engine.lmm_setup`), or whole-genome ridge regression with LOCO
#: (:mod:`gwasrep.assoc.ridge`); ``auto`` picks the exact LMM when it fits.
LMM_MODES = ("auto", "full", "lowrank", "ridge")
#: Settings that change results; a resumed run must match them exactly.
RESULT_SETTINGS = ("emb", "bed", "covar", "covar_cols", "meta_cols", "pcs", "regress_covariates",
                    "inverse_normal", "maf", "geno", "chrom", "extract", "exclude", "keep",
                    "remove", "drop_missing", "block_size", "lmm", "grm", "grm_extract",
                    "grm_kind", "grm_maf", "loco", "reml", "ridge_block_size", "ridge_folds",
                    "ridge_loocv", "ridge_h2", "relatives")


@dataclass
class AssocConfig:
    """Parameters of an association run (the CLI's options)."""

    emb: Path
    bed: Path
    out: Path
    covar: Path | None = None
    covar_cols: list[str] | None = None
    meta_cols: list[str] | None = None
    pcs: int | None = None
    regress_covariates: bool = True
    inverse_normal: bool = True
    maf: float = 0.0
    geno: float = 1.0
    chrom: list[str] | None = None
    extract: Path | None = None
    exclude: Path | None = None
    keep: Path | None = None
    remove: Path | None = None
    drop_missing: bool = False
    block_size: int = 2048
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    dask_scheduler: str | None = None
    formats: tuple[str, ...] = ("parquet",)
    plots: bool = True
    resume: bool = False
    overwrite: bool = False
    #: Mixed model: None (off), "auto", "full", "lowrank" (the exact LMM, see
    #: assoc/engine/lmm_setup.py) or "ridge" (REGENIE step 1, see assoc/ridge.py).
    lmm: str | None = None
    #: GCTA binary GRM prefix to use instead of computing one from the .bed.
    grm: Path | None = None
    #: Variant IDs to build the GRM (or the ridge's step 1) from (default: every variant).
    grm_extract: Path | None = None
    grm_kind: str = "standardized"
    #: Minimum MAF of a GRM (or step-1) variant.
    grm_maf: float = 0.01
    #: ``--lmm ridge``: variants per level-0 block, folds, heritability grid.
    ridge_block_size: int = DEFAULT_BLOCK_SIZE
    ridge_folds: int = DEFAULT_FOLDS
    #: ``--lmm ridge``: leave-one-out cross-validation at both levels instead of folds.
    ridge_loocv: bool = False
    ridge_h2: tuple[float, ...] = DEFAULT_H2_GRID
    #: ``--lmm ridge``: the close relatives the tests are calibrated for: "auto" (found
    #: from the genotypes), "none", or a KING table (see assoc/relatives.py).
    relatives: str = "auto"
    loco: bool = False
    reml: bool = False
    allow_nonconverged: bool = False

    def check(self) -> None:
        if not 0.0 <= self.maf <= 0.5:
            raise InputError(f"--maf {self.maf}: expected a value in [0, 0.5]")
        if not 0.0 <= self.geno <= 1.0:
            raise InputError(f"--geno {self.geno}: expected a value in [0, 1]")
        if self.block_size < 1:
            raise InputError(f"--block-size {self.block_size}: expected a positive integer")
        if self.threads < 1:
            raise InputError(f"--threads {self.threads}: expected a positive integer")
        if self.lmm is None and (self.grm or self.grm_extract or self.loco or self.reml):
            raise InputError("--grm, --grm-extract, --loco and --reml need --lmm")
        if self.lmm is not None and self.lmm not in LMM_MODES:
            raise InputError(f"--lmm {self.lmm}: expected one of {', '.join(LMM_MODES)}")
        if self.lmm == "ridge":
            if self.grm is not None:
                raise InputError("--lmm ridge fits its whole-genome regression on the .bed's "
                                 "genotypes; it cannot use a GRM read with --grm")
            if self.reml:
                raise InputError("--reml applies to the exact LMM (--lmm full/lowrank); "
                                 "--lmm ridge has no variance components to fit")
        if self.ridge_block_size < 1:
            raise InputError(f"--ridge-block-size {self.ridge_block_size}: expected a positive "
                             "integer")
        if self.ridge_folds < 2:
            raise InputError(f"--ridge-folds {self.ridge_folds}: expected at least 2 folds")
        if self.ridge_loocv and self.ridge_folds != DEFAULT_FOLDS:
            raise InputError(f"--ridge-folds {self.ridge_folds} with --ridge-loocv: "
                             "leave-one-out uses no folds; give one of the two")
        self.ridge_h2 = check_h2_grid(self.ridge_h2)
        self.relatives = str(self.relatives)
        if self.relatives not in ("auto", "none"):
            if self.lmm not in ("ridge", "auto"):
                raise InputError(f"--relatives {self.relatives}: applies to --lmm ridge (the "
                                 "exact LMM models relatedness with its GRM)")
            if not Path(self.relatives).is_file():
                raise InputError(f"--relatives {self.relatives}: file not found; expected "
                                 "a KING table (plink2 --make-king-table), 'auto' or 'none'")
        if not 0.0 <= self.grm_maf <= 0.5:
            raise InputError(f"--grm-maf {self.grm_maf}: expected a value in [0, 0.5]")
        bad = set(self.formats) - {"parquet", "tsv"}
        if bad or not self.formats:
            raise InputError(f"--format {','.join(self.formats)}: expected parquet, tsv or both")


@dataclass
class GrmConfig:
    """Parameters of ``gwasrep grm``: a GRM from a PLINK fileset in GCTA's binary format."""

    bed: Path
    #: Output prefix: writes OUT.grm.bin, OUT.grm.N.bin and OUT.grm.id.
    out: Path
    #: "standardized" (GCTA) or "centered" (GEMMA -gk 1).
    kind: str = "standardized"
    #: Variant IDs to use (default: all).
    extract: Path | None = None
    #: Samples to include (FID IID or IID per line; default: all).
    keep: Path | None = None
    #: Minimum minor allele frequency of a GRM variant.
    maf: float = 0.01
    #: Maximum fraction of missing calls of a GRM variant.
    geno: float = 0.05

    def check(self) -> None:
        if self.kind not in GRM_KINDS:
            raise InputError(f"--kind {self.kind}: expected one of {', '.join(GRM_KINDS)}")
