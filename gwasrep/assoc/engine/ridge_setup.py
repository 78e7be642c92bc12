"""``gwasrep assoc --lmm ridge``: REGENIE step 1 over a .bed, then the LOCO null models.

:func:`plan_ridge` checks the settings against the inputs (blocks, chromosomes, folds)
before anything is written. :func:`run_ridge` then streams level 0 over blocks of the
.bed on the run's executor (local threads, or dask workers that read their own blocks),
checkpointing each block's out-of-fold predictions (float32) under
``OUT/.gwasrep_partial/ridge/``: that is both the spill that keeps memory bounded whatever
N and what a resumed run continues from. Level 1 reads one trait's predictors at a time
and checkpoints its LOCO predictions. :func:`loco_scan_state` fits one linear null model
per tested chromosome on the LOCO-adjusted traits; the scan is the linear engine's.
:func:`ridge_relatives` finds the close relatives the tests are calibrated for
(:mod:`gwasrep.assoc.relatives`), from ``--relatives FILE`` or from the genotypes
(checkpointed too). The method is described in :mod:`gwasrep.assoc.ridge`.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.engine.scan import ScanState, _read_packed, make_scan_state
from gwasrep.assoc.engine.schedule import run_dask, run_local
from gwasrep.assoc.kinship import standardize_packed
from gwasrep.assoc.linear import fit_null
from gwasrep.assoc.relatives import (
    MAX_GRM_VARIANTS,
    Relatives,
    calibrate_null,
    describe_relatives,
    evenly_spaced,
    grm_pairs,
    grm_threshold,
    relatives_from_table,
)
from gwasrep.assoc.ridge import (
    Level1Fit,
    LocoPredictions,
    RidgeBlocks,
    assign_folds,
    check_folds,
    covariate_projector,
    fold_bounds,
    level0_block,
    level1_all,
    residualize_columns,
    residualized_traits,
    ridge_blocks,
    ridge_penalties,
)
from gwasrep.errors import InputError, preview
from gwasrep.io.atomic import atomic_path
from gwasrep.io.plink import PlinkFileset
from gwasrep.io.relatives import read_kinship_table
from gwasrep.io.tables import read_variant_list
from gwasrep.runs import Progress
from gwasrep.system import format_bytes

__all__ = ["Level0State", "RidgePlan", "describe", "discard_ridge", "level0_task",
           "loco_scan_state", "plan_ridge", "ridge_relatives", "run_ridge"]

log = logging.getLogger("gwasrep")

#: Folder of the step-1 checkpoints inside the run's partial folder.
RIDGE_DIR = "ridge"


@dataclass
class RidgePlan:
    """Step 1 of a run, checked against the inputs; nothing computed yet."""

    #: Step-1 variants (positions in the .bim), ordered by chromosome.
    variant_idx: np.ndarray
    blocks: RidgeBlocks
    #: Fold of every used sample (in the run's sample order; its own with ``loocv``).
    folds: np.ndarray
    h2_grid: tuple[float, ...]
    #: Preprocessed traits (N, D) and covariates (N, C) or None.
    E: np.ndarray
    F: np.ndarray | None
    covariate_names: list[str]
    trait_names: list[str]
    #: Why this mode (``--lmm ridge``, or what ``auto`` found).
    why: str
    notes: list[str] = field(default_factory=list)
    #: The relatives of ``--relatives FILE`` (read before step 1), else None.
    relatives: Relatives | None = None
    #: Leave-one-out cross-validation (``--ridge-loocv``) instead of folds.
    loocv: bool = False

    def level0_bytes(self) -> int:
        """Size of the level-0 predictions (float32) on disk."""
        return 4 * self.E.shape[0] * self.E.shape[1] * len(self.blocks) * len(self.h2_grid)


def plan_ridge(cfg: AssocConfig, fileset: PlinkFileset, fam_idx: np.ndarray, E: np.ndarray,
               F: np.ndarray | None, *, covariate_names: list[str], trait_names: list[str],
               why: str) -> RidgePlan:
    """Check step 1's settings against the inputs; raises :class:`InputError` on bad ones."""
    bim = fileset.bim
    notes = []
    if cfg.grm_extract is not None:
        listed = read_variant_list(cfg.grm_extract)
        cand = np.flatnonzero(bim["ID"].isin(listed).to_numpy())
        notes.append(f"--grm-extract: {len(listed):,} IDs listed, {cand.size:,} in the .bim "
                     "(step-1 variants of the ridge regression)")
        if cand.size == 0:
            raise InputError(f"--grm-extract {cfg.grm_extract}: none of the {len(listed):,} "
                             f"IDs is in the .bim (e.g. {preview(listed)})")
    else:
        cand = np.arange(len(bim))
    chrom = bim["CHROM"].to_numpy().astype(str)[cand]
    blocks = ridge_blocks(chrom, cfg.ridge_block_size)
    N = len(fam_idx)
    n_cov = 1 + (0 if F is None else F.shape[1])
    if not cfg.ridge_loocv:
        check_folds(N, cfg.ridge_folds, n_cov)
    rel = None
    if cfg.relatives not in ("auto", "none"):
        table = read_kinship_table(cfg.relatives)
        ids = fileset.fam["IID"].to_numpy().astype(str)[np.asarray(fam_idx, dtype=np.int64)]
        rel = relatives_from_table(table["IID1"], table["IID2"], table["KINSHIP"], ids,
                                   source=Path(cfg.relatives).name)
        notes.append(f"--relatives: {len(table):,} pairs listed, {rel.n_pairs:,} among the "
                     "tested samples with relationship (2 x kinship) > "
                     f"{rel.threshold:g}")
    folds = (np.arange(N, dtype=np.int64) if cfg.ridge_loocv
             else assign_folds(N, cfg.ridge_folds))
    return RidgePlan(variant_idx=cand, blocks=blocks, folds=folds, loocv=cfg.ridge_loocv,
                     h2_grid=tuple(cfg.ridge_h2), E=E, F=F, covariate_names=covariate_names,
                     trait_names=trait_names, why=why, notes=notes, relatives=rel)


@dataclass(frozen=True)
class Level0State:
    """What a worker needs to compute any level-0 block (pickled once to dask workers)."""

    bed_path: str
    n_fam: int
    #: .fam positions of the used samples, sorted by fold.
    sample_idx: np.ndarray
    #: Covariate basis with the intercept and residualized traits, rows sorted by fold.
    Q: np.ndarray
    Y: np.ndarray
    #: The folds' rows; None for leave-one-out.
    bounds: tuple[tuple[int, int], ...] | None
    penalties: np.ndarray
    maf_min: float


def level0_task(state: Level0State, variant_idx: np.ndarray) -> np.ndarray:
    """Level-0 out-of-fold predictions of one block, (D, R, N) float32 in fold order."""
    packed = _read_packed(state.bed_path, variant_idx, state.n_fam)
    N, m = state.sample_idx.size, packed.shape[0]
    Z = np.empty((N, m), order="F")
    used = np.empty(m, dtype=np.bool_)
    k = standardize_packed(packed, state.sample_idx, True, state.maf_min, 1.0, Z, used)
    Z = residualize_columns(Z[:, :k], state.Q)
    return level0_block(Z, state.Y, state.bounds, state.penalties)


def _save(path: Path, write) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        write(fh)


def run_ridge(plan: RidgePlan, fileset: PlinkFileset, fam_idx: np.ndarray, partial: Path, *,
              maf_min: float, threads: int, dask_scheduler: str | None = None,
              progress: Progress | None = None) -> tuple[LocoPredictions, dict]:
    """Step 1 with checkpoints in ``partial/ridge``; blocks and traits done earlier are
    read back (the same numbers: every block is a pure function of its inputs).

    Returns the predictions and the wall time of each level (s) in this process.
    """
    t0 = time.perf_counter()
    folder = partial / RIDGE_DIR
    folder.mkdir(exist_ok=True)
    N, D = plan.E.shape
    order = np.argsort(plan.folds, kind="stable")
    bounds = None if plan.loocv else tuple(fold_bounds(plan.folds[order]))
    Q = covariate_projector(plan.F, N, plan.covariate_names)
    Y, scale = residualized_traits(plan.E, Q)
    Ys, Qs = np.ascontiguousarray(Y[order]), np.ascontiguousarray(Q[order])
    M = int(plan.variant_idx.size)
    pen0 = ridge_penalties(M, plan.h2_grid)
    state = Level0State(bed_path=str(fileset.bed_path), n_fam=fileset.n_samples,
                        sample_idx=np.asarray(fam_idx, dtype=np.int64)[order], Q=Qs, Y=Ys,
                        bounds=bounds, penalties=pen0, maf_min=float(maf_min))
    blocks = plan.blocks
    paths = [folder / f"level0_{b:06d}.npy" for b in range(len(blocks))]
    jobs = [(b, plan.variant_idx[lo:hi]) for b, (lo, hi) in enumerate(blocks.bounds)]
    pending = [(b, idx) for b, idx in jobs if not paths[b].exists()]
    done = len(jobs) - len(pending)
    if done:
        log.info("resuming ridge level 0: %d of %d blocks done", done, len(jobs))
    log.info("ridge level 0: %d blocks x %d penalties x %d traits (%s on disk)", len(blocks),
             len(plan.h2_grid), D, format_bytes(plan.level0_bytes()))
    if progress:
        progress(done, len(jobs), "ridge level 0")
    if dask_scheduler:
        results = run_dask(state, pending, scheduler=dask_scheduler, task=level0_task,
                           one_blas_thread=True)
    else:
        results = run_local(state, pending, threads=threads, task=level0_task,
                            one_blas_thread=True)
    for b, pred in results:
        _save(paths[b], lambda fh, pred=pred: np.save(fh, pred, allow_pickle=False))
        done += 1
        if progress:
            progress(done, len(jobs), "ridge level 0")

    t1 = time.perf_counter()

    def read_dimension(d: int) -> np.ndarray:
        return np.concatenate([np.load(p, mmap_mode="r")[d] for p in paths])

    def load(d: int) -> Level1Fit | None:
        p = folder / f"level1_{d:04d}.npz"
        if not p.exists():
            return None
        with np.load(p, allow_pickle=False) as z:
            return Level1Fit(best=int(z["best"]), r2=z["r2"], loco=z["loco"],
                             prediction=z["prediction"])

    def save(d: int, fit: Level1Fit) -> None:
        _save(folder / f"level1_{d:04d}.npz",
              lambda fh: np.savez(fh, best=np.int64(fit.best), r2=fit.r2, loco=fit.loco,
                                  prediction=fit.prediction))

    loco = level1_all(read_dimension, Ys, order, bounds, blocks, M, plan.h2_grid,
                      folds=plan.folds, n_variants=M, trait_names=plan.trait_names,
                      scale=scale, load=load, save=save, progress=progress)
    return loco, {"level0": t1 - t0, "level1": time.perf_counter() - t1,
                  "level0_blocks_computed": len(pending)}


#: Memory for the standardized genotypes the relatives are found from (float32).
RELATIVES_BUDGET = 2 << 30


def ridge_relatives(relatives: str, plan: RidgePlan, fileset: PlinkFileset,
                    fam_idx: np.ndarray, partial: Path, *, maf_min: float,
                    progress: Progress | None = None) -> Relatives | None:
    """The close relatives among the tested samples: None for ``--relatives none``, the
    pairs of a kinship table for a path, else (``auto``) the pairs whose relationship over
    up to 5,000 evenly spaced step-1 variants exceeds the threshold (checkpointed)."""
    if relatives == "none":
        return None
    if plan.relatives is not None:
        return plan.relatives
    fam_idx = np.asarray(fam_idx, dtype=np.int64)
    N = fam_idx.size
    path = partial / RIDGE_DIR / "relatives.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return Relatives(i=z["i"], j=z["j"], phi=z["phi"], n_samples=N,
                             source="genotypes", threshold=float(z["threshold"]),
                             n_variants=int(z["n_variants"]))
    m_max = int(min(MAX_GRM_VARIANTS, max(RELATIVES_BUDGET // (4 * N), 100)))
    pick = plan.variant_idx[evenly_spaced(plan.variant_idx.size, m_max)]
    Zf = np.empty((N, pick.size), dtype=np.float32)
    k = 0
    for lo in range(0, pick.size, 500):
        idx = pick[lo:lo + 500]
        Z = np.empty((N, idx.size), order="F")
        used = np.empty(idx.size, dtype=np.bool_)
        n = standardize_packed(_read_packed(str(fileset.bed_path), idx, fileset.n_samples),
                               fam_idx, True, max(float(maf_min), 0.01), 1.0, Z, used)
        Zf[:, k:k + n] = Z[:, :n]
        k += n
    thr = grm_threshold(k)
    i, j, v = grm_pairs(Zf[:, :k], thr, progress=progress)
    rel = Relatives(i=i, j=j, phi=v, n_samples=N, source="genotypes", threshold=thr,
                    n_variants=k)
    _save(path, lambda fh: np.savez(fh, i=i, j=j, phi=v, threshold=np.float64(thr),
                                    n_variants=np.int64(k)))
    return rel


def loco_scan_state(state: ScanState, plan: RidgePlan, loco: LocoPredictions,
                    bim_chrom: np.ndarray, test_idx: np.ndarray,
                    times: dict | None = None,
                    relatives: Relatives | None = None) -> tuple[ScanState, dict]:
    """The scan state with one linear null model per tested chromosome, fitted on the
    traits minus that chromosome's LOCO prediction (calibrated for ``relatives`` when
    given); and the run.json record."""
    t0 = time.perf_counter()
    chrom = np.asarray(bim_chrom).astype(str)
    groups = list(dict.fromkeys(chrom[test_idx]))
    variant_group = np.full(chrom.size, -1, dtype=np.int16)
    nulls = []
    for gi, g in enumerate(groups):
        null = fit_null(plan.E - loco.for_chromosome(g), plan.F,
                        covariate_names=plan.covariate_names, trait_names=plan.trait_names)
        nulls.append(null if relatives is None else calibrate_null(null, relatives))
        variant_group[test_idx[chrom[test_idx] == g]] = gi
    new = make_scan_state(state.bed_path, state.n_fam, state.sample_idx, state.null,
                          maf=state.maf, geno=state.geno, loco=tuple(nulls),
                          variant_group=variant_group)
    no_step1 = [g for g in groups if g not in loco.chromosomes]
    meta = {"mode": "ridge", "why": plan.why, "groups": groups, **loco.summary(),
            "tested_chromosomes_without_step1_variants": no_step1,
            "relatives": None if relatives is None else {
                **relatives.summary(),
                # C_Phi_kk / C0_kk per trait, averaged over the chromosome groups.
                "variance_factor": dict(zip(plan.trait_names, np.mean(
                    [n.se_scale**2 for n in nulls], axis=0).tolist(), strict=True))},
            "time_s": {**(times or {}), "loco_null_models": time.perf_counter() - t0}}
    return new, meta


def discard_ridge(partial: Path) -> None:
    """Remove step 1's checkpoints (a run whose step 1 failed on bad input)."""
    shutil.rmtree(partial / RIDGE_DIR, ignore_errors=True)


def describe(loco: LocoPredictions, why: str, relatives: Relatives | None = None) -> str:
    """The note of a ridge run: settings, each trait's level-1 choice and the relatives."""
    fits = ", ".join(f"{n} h2 {loco.h2_grid[int(b)]:g} R2 {loco.r2[int(b), k]:.3f}"
                     for k, (n, b) in enumerate(zip(loco.trait_names, loco.best, strict=True)))
    return (f"LMM: ridge ({why}); REGENIE step 1 on {loco.n_variants:,} variants in "
            f"{loco.n_blocks:,} blocks of {loco.block_size:,}, {loco.cross_validation} "
            f"cross-validation, LOCO over {len(loco.chromosomes)} chromosomes; level 1 per trait "
            f"(cross-validated): {fits}; "
            + describe_relatives(None if relatives is None else relatives.summary()))
