"""Read, validate and align every input of ``gwasrep assoc`` and fit the null model.

:func:`prepare_inputs` writes nothing: bad input stops the run before its output folder
is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.engine.scan import ScanState, make_scan_state
from gwasrep.assoc.linear import fit_null
from gwasrep.assoc.preprocess import preprocess_embeddings
from gwasrep.errors import InputError, preview
from gwasrep.io.checks import check_unique
from gwasrep.io.fingerprint import sha256_file
from gwasrep.io.grm import grm_paths
from gwasrep.io.plink import PlinkFileset, open_plink
from gwasrep.io.samples import align_samples
from gwasrep.io.tables import read_covariates, read_embeddings, read_id_list, read_variant_list
from gwasrep.runs import Progress

if TYPE_CHECKING:  # the LMM set-up (scipy.linalg, the GRM) is imported only for --lmm
    from gwasrep.assoc.engine.lmm_setup import LmmSetup
    from gwasrep.assoc.engine.ridge_setup import RidgePlan

__all__ = ["Prepared", "prepare_inputs"]


@dataclass
class Prepared:
    """Everything a run needs, read and checked before any output is written."""

    fileset: PlinkFileset
    #: Positions of the used samples in the .fam, increasing.
    fam_idx: np.ndarray
    #: Positions in the .bim of the variants to test.
    variant_idx: np.ndarray
    #: What a worker needs to scan any block.
    state: ScanState
    trait_names: list[str]
    #: Preprocessing steps applied, in order.
    steps: list[str]
    #: PCA explained-variance fractions (empty without --pcs).
    explained: list[float]
    covariate_names: list[str]
    notes: list[str]
    #: Path, size and digest of every input file (the resume fingerprint).
    inputs: dict[str, dict]
    sample_counts: dict
    #: The LMM (kinship, null fits, scans), or None for the linear model.
    lmm: LmmSetup | None = None
    #: Step 1 of ``--lmm ridge`` (checked, not run: it writes checkpoints), or None.
    ridge: RidgePlan | None = None
    #: The run.json record of a finished step 1 (``--lmm ridge``).
    ridge_meta: dict | None = None


def prepare_inputs(cfg: AssocConfig, progress: Progress | None = None) -> Prepared:
    """Read, validate and align every input and fit the null model; writes nothing."""
    cfg.check()
    fileset = open_plink(cfg.bed)
    emb = read_embeddings(cfg.emb, meta_cols=cfg.meta_cols)
    tables = {"embeddings": emb.keys}
    cov = None
    if cfg.covar is not None:
        cov = read_covariates(cfg.covar, columns=cfg.covar_cols)
        tables["covariates"] = cov.keys
    keep = read_id_list(cfg.keep) if cfg.keep else None
    remove = read_id_list(cfg.remove) if cfg.remove else None
    align = align_samples(fileset.fam, tables, keep=keep, remove=remove)
    notes = list(cov.notes if cov else [])
    ids = fileset.fam["IID"].to_numpy()

    def finite_rows(values: np.ndarray, name: str) -> np.ndarray:
        ok = np.isfinite(values).all(axis=1)
        if not ok.all() and not cfg.drop_missing:
            bad = ids[align.fam_idx[~ok]]
            raise InputError(f"{name}: {int((~ok).sum()):,} of the {len(ok):,} shared samples have "
                             f"NaN or inf values (e.g. {preview(bad)}); pass --drop-missing to "
                             "drop them")
        return ok

    ok = finite_rows(emb.values[align.rows["embeddings"]], "embeddings")
    align = align.subset(ok, "NaN/inf in embeddings (--drop-missing)")
    if cov is not None:
        ok = finite_rows(cov.values[align.rows["covariates"]], "covariates")
        align = align.subset(ok, "missing covariate values (--drop-missing)")
    notes += align.notes
    E = emb.values[align.rows["embeddings"]]
    F = cov.values[align.rows["covariates"]] if cov is not None else None
    cov_names = cov.columns if cov is not None else []
    pre = preprocess_embeddings(E, F, names=emb.columns, covariate_names=cov_names,
                                n_pcs=cfg.pcs, regress_covariates=cfg.regress_covariates,
                                inverse_normal=cfg.inverse_normal)
    null = fit_null(pre.E, F, covariate_names=cov_names, trait_names=pre.names)

    bim = fileset.bim
    sel = np.ones(len(bim), dtype=bool)
    if cfg.chrom:
        sel &= bim["CHROM"].isin([str(c) for c in cfg.chrom]).to_numpy()
        if not sel.any():
            raise InputError(f"--chrom {','.join(map(str, cfg.chrom))}: no such chromosome in the "
                             f".bim (found {preview(bim['CHROM'].unique(), 8)})")
    for flag, path, keep_listed in (("--extract", cfg.extract, True),
                                    ("--exclude", cfg.exclude, False)):
        if path is None:
            continue
        listed = read_variant_list(path)
        hit = bim["ID"].isin(listed).to_numpy()
        notes.append(f"{flag}: {len(listed):,} IDs listed, {int(hit.sum()):,} in the .bim")
        sel &= hit if keep_listed else ~hit
    variant_idx = np.flatnonzero(sel)
    if variant_idx.size == 0:
        raise InputError("no variant left to test after --chrom/--extract/--exclude")
    # Summary statistics are keyed by ID (clump, loci, panel and meta join on it).
    check_unique(bim["ID"].to_numpy()[variant_idx],
                 source=str(fileset.bed_path.with_suffix(".bim")),
                 hint="give them distinct IDs (plink2 --set-all-var-ids) or drop the "
                      "duplicates (plink2 --rm-dup, or --exclude)")

    setup = ridge = None
    if cfg.lmm is not None:
        from gwasrep.assoc.engine.lmm_setup import prepare_lmm, resolve_mode

        mode, why = resolve_mode(cfg, fileset, int(align.fam_idx.size), variant_idx)
        if mode == "ridge":
            from gwasrep.assoc.engine.ridge_setup import plan_ridge

            ridge = plan_ridge(cfg, fileset, align.fam_idx, pre.E, F,
                               covariate_names=cov_names, trait_names=pre.names, why=why)
            notes += ridge.notes
        else:
            setup = prepare_lmm(cfg, fileset, align.fam_idx, pre.E, F, variant_idx,
                                trait_names=pre.names, progress=progress)
            notes += setup.notes

    inputs = {}
    grm_files = {}
    if cfg.grm is not None:
        grm_files = {f"grm_{k}": v for k, v in grm_paths(cfg.grm).items() if v.exists()}
    for name, path in (("emb", cfg.emb), ("covar", cfg.covar), ("keep", cfg.keep),
                       ("remove", cfg.remove), ("extract", cfg.extract), ("exclude", cfg.exclude),
                       ("grm_extract", cfg.grm_extract), *grm_files.items(),
                       ("bim", fileset.bed_path.with_suffix(".bim")),
                       ("fam", fileset.bed_path.with_suffix(".fam"))):
        if path is not None:
            p = Path(path)
            inputs[name] = {"path": str(p), "size": p.stat().st_size, "sha256": sha256_file(p)}
    st = fileset.bed_path.stat()
    # The .bed's content is checked block by block on resume (checkpoint.verify_blocks);
    # an LMM whose kinship comes from the .bed depends on all of it, so its digest is kept.
    inputs["bed"] = {"path": str(fileset.bed_path), "size": st.st_size,
                     "n_samples": fileset.n_samples,
                     "n_variants": fileset.n_variants}
    if cfg.lmm is not None and cfg.grm is None:
        inputs["bed"]["sha256"] = sha256_file(fileset.bed_path)
    state = make_scan_state(fileset.bed_path, fileset.n_samples, align.fam_idx, null,
                            maf=cfg.maf, geno=cfg.geno, lmm=setup.scans if setup else (),
                            variant_group=setup.variant_group if setup else None)
    return Prepared(fileset=fileset, fam_idx=align.fam_idx, variant_idx=variant_idx, state=state,
                     trait_names=pre.names, steps=pre.steps, explained=pre.explained_variance,
                     covariate_names=cov_names, notes=notes, inputs=inputs,
                     sample_counts=align.counts, lmm=setup, ridge=ridge)
