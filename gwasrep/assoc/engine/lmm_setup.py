"""Set up the LMM for a file-level run: kinship source, full or low rank, LOCO, null fits.

:func:`prepare_lmm` is called by the engine before anything is written. It
decides how the kinship is represented (and records why), builds one null
model per group of variants (one group, or one per chromosome with LOCO) and
returns the :class:`~gwasrep.assoc.lmm.scan.LmmScan` of each group.
"""

from __future__ import annotations

import importlib
import logging
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gwasrep.assoc.config import LMM_MODES, AssocConfig
from gwasrep.assoc.kinship import GRM_KINDS, compute_grm_parts
from gwasrep.assoc.lmm.eigen import eigen_from_kinship, eigen_from_standardized
from gwasrep.assoc.lmm.null import (
    LmmNull,
    NonConvergenceError,
    describe_nonconvergence,
    fit_lmm_null,
)
from gwasrep.assoc.lmm.scan import LmmScan, make_lmm_scan
from gwasrep.errors import InputError, preview
from gwasrep.io.grm import grm_paths, read_grm
from gwasrep.io.plink import PlinkFileset
from gwasrep.io.tables import read_variant_list
from gwasrep.runs import Progress
from gwasrep.system import format_bytes, physical_memory

__all__ = ["LmmSetup", "choose_mode", "prepare_lmm", "resolve_mode"]

log = logging.getLogger("gwasrep")

#: Share of physical memory the kinship representation may take.
MEMORY_SHARE = 0.4


def choose_mode(mode: str, n_samples: int, n_grm_variants: int | None, n_groups: int,
                memory: int | None = None) -> tuple[str, int | None, str]:
    """Pick full rank, low rank or ridge; returns (mode, number of GRM variants, why).

    ``n_grm_variants`` is None for a GRM read from file (full rank only). The
    full-rank path holds about ``(2 + n_groups) N^2`` float64 (the GRM, its
    eigenvectors per group); the low-rank path ``(1 + n_groups) N S``. ``auto`` takes
    the exact low rank when S < N and it fits the budget, else full rank when it fits,
    else the ridge regression (:mod:`gwasrep.assoc.ridge`), whose memory does not grow
    with N^2.
    """
    if mode not in LMM_MODES:
        raise InputError(f"--lmm {mode}: expected one of {', '.join(LMM_MODES)}")
    N = n_samples
    budget = MEMORY_SHARE * (memory or physical_memory())
    full_bytes = 8.0 * (2 + n_groups) * N * N
    gb = format_bytes(full_bytes)
    if n_grm_variants is None:
        if mode == "ridge":
            raise InputError("--lmm ridge fits its whole-genome regression on the .bed's "
                             "genotypes; it cannot use a GRM read with --grm")
        if mode == "lowrank":
            raise InputError("--lmm lowrank needs the GRM built from genotypes (the SVD of the "
                             "N x S matrix); a GRM read with --grm supports only full rank")
        return "full", None, f"GRM read from file: full-rank eigendecomposition ({gb})"
    S = n_grm_variants
    if mode == "full":
        return "full", S, "requested with --lmm full"
    if mode == "lowrank":
        if S >= N:
            raise InputError(f"--lmm lowrank needs fewer GRM variants than samples (S < N); found "
                             f"S={S:,} >= N={N:,}: pick a subset with --grm-extract")
        return "lowrank", S, f"requested with --lmm lowrank (S={S:,} < N={N:,})"
    if mode == "ridge":
        return "ridge", None, "requested with --lmm ridge"
    low_bytes = 8.0 * (1 + n_groups) * N * S
    if S < N and low_bytes <= budget:
        return "lowrank", S, (f"GRM from S={S:,} < N={N:,} variants: the low-rank (FaST-LMM) "
                              "scan is exact and costs O(N S M) instead of O(N^2 M)")
    if full_bytes <= budget:
        return "full", S, (f"N={N:,} fits a dense eigendecomposition in memory ({gb} of a "
                           f"{format_bytes(budget)} budget)")
    return "ridge", None, (f"the exact LMM does not fit in memory at N={N:,} (dense "
                           f"eigendecomposition {gb}, low rank with S={S:,} "
                           f"{format_bytes(low_bytes)}, budget {format_bytes(budget)}): "
                           "whole-genome ridge regression with LOCO (REGENIE step 1)")


def resolve_mode(cfg: AssocConfig, fileset: PlinkFileset, n_samples: int,
                 test_idx: np.ndarray) -> tuple[str, str]:
    """The mode ``cfg.lmm`` resolves to and why, before any kinship is built."""
    if cfg.lmm == "ridge":
        return "ridge", "requested with --lmm ridge"
    if cfg.lmm != "auto" or cfg.grm is not None:
        return cfg.lmm, ""
    if cfg.grm_extract is not None:
        n = int(fileset.bim["ID"].isin(read_variant_list(cfg.grm_extract)).sum())
    else:
        n = fileset.n_variants
    chrom = fileset.bim["CHROM"].to_numpy()[test_idx]
    groups = len(set(chrom)) if cfg.loco else 1
    mode, _, why = choose_mode("auto", n_samples, max(n, 1), groups)
    return mode, why


@dataclass
class LmmSetup:
    """The LMM of a run: one scan per group of variants."""

    scans: tuple[LmmScan, ...]
    nulls: tuple[LmmNull, ...]
    #: Group name per scan: "all", or the chromosome left out with LOCO.
    group_names: tuple[str, ...]
    #: Group of every .bim variant (-1 for variants not tested), int16.
    variant_group: np.ndarray
    meta: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _grm_from_file(prefix: Path, fam, fam_idx: np.ndarray) -> np.ndarray:
    K, ids, _ = read_grm(prefix)
    keys = dict(zip(zip(ids["FID"], ids["IID"], strict=True), range(len(ids)), strict=True))
    want = list(zip(fam["FID"].to_numpy()[fam_idx], fam["IID"].to_numpy()[fam_idx],
                    strict=True))
    pos = np.array([keys.get(k, -1) for k in want])
    if (pos < 0).any():
        missing = [f"{a} {b}" for (a, b), p in zip(want, pos, strict=True) if p < 0]
        raise InputError(f"GRM IDs do not match the samples: {len(missing):,} of the "
                         f"{len(want):,} samples are absent from {grm_paths(prefix)['id']} "
                         f"(e.g. {preview(missing)}); expected every sample (FID IID) in it")
    return K[np.ix_(pos, pos)]


def prepare_lmm(cfg: AssocConfig, fileset: PlinkFileset, fam_idx: np.ndarray, Y: np.ndarray,
                F: np.ndarray | None, test_idx: np.ndarray, *, trait_names: list[str],
                progress: Progress | None = None) -> LmmSetup:
    """Kinship, null fits and scans for ``cfg`` (an :class:`AssocConfig` with ``lmm`` set)."""
    if cfg.grm_kind not in GRM_KINDS:
        raise InputError(f"--grm-kind {cfg.grm_kind}: expected one of {', '.join(GRM_KINDS)}")
    if cfg.grm is not None and cfg.loco:
        raise InputError("--loco needs the GRM computed from the .bed (one per chromosome); it "
                         "cannot be combined with --grm")
    if cfg.grm is not None and cfg.grm_extract is not None:
        raise InputError("--grm-extract selects variants for a GRM computed from the .bed; it "
                         "cannot be combined with --grm")
    # The null fit needs scipy.optimize (0.3-0.4 s to import). Import it on a thread while
    # the GRM is built: the GRM's numba kernel and BLAS release the GIL.
    prefetch = threading.Thread(target=importlib.import_module, args=("scipy.optimize",),
                                daemon=True)
    prefetch.start()
    N = len(fam_idx)
    bim = fileset.bim
    chrom_all = bim["CHROM"].to_numpy().astype(str)
    groups = (list(dict.fromkeys(chrom_all[test_idx])) if cfg.loco else ["all"])
    meta: dict = {"loco": bool(cfg.loco), "fit": "REML" if cfg.reml else "ML"}
    notes: list[str] = []

    if cfg.grm is not None:
        mode, _, why = choose_mode(cfg.lmm, N, None, 1)
        K = _grm_from_file(Path(cfg.grm), fileset.fam, fam_idx)
        meta["grm"] = {"source": str(cfg.grm), "n_samples_in_file": None}
        parts = None
    else:
        if cfg.grm_extract is not None:
            listed = read_variant_list(cfg.grm_extract)
            cand = np.flatnonzero(bim["ID"].isin(listed).to_numpy())
            notes.append(f"--grm-extract: {len(listed):,} IDs listed, {cand.size:,} in the .bim")
            if cand.size == 0:
                raise InputError(f"--grm-extract {cfg.grm_extract}: none of the {len(listed):,} "
                                 f"IDs is in the .bim (e.g. {preview(listed)})")
        else:
            cand = np.arange(len(bim))
        mode, S_keep, why = choose_mode(cfg.lmm, N, int(cand.size), len(groups))
        if S_keep is not None and S_keep < cand.size:
            cand = cand[np.linspace(0, cand.size - 1, S_keep).round().astype(np.int64)]
        parts = compute_grm_parts(
            fileset, fam_idx, cand, kind=cfg.grm_kind, maf_min=cfg.grm_maf, loco=cfg.loco,
            keep_z=(mode == "lowrank"),
            progress=progress)
        if mode == "lowrank" and parts.n_variants >= N:  # pragma: no cover - guarded above
            mode = "full"
        meta["grm"] = {"source": "bed", "kind": cfg.grm_kind, "maf_min": cfg.grm_maf,
                       "n_candidates": int(cand.size), "n_variants": parts.n_variants,
                       "extract": str(cfg.grm_extract) if cfg.grm_extract else None}
        K = None
    meta["mode"] = mode
    meta["why"] = why
    log.info("LMM: %s rank (%s)", mode, why)
    if cfg.relatives not in ("auto", "none"):
        notes.append(f"--relatives {cfg.relatives}: not used; --lmm auto chose the exact "
                     "LMM, which models relatedness with its GRM")

    scans, nulls, bad = [], [], []
    variant_group = np.full(len(bim), -1, dtype=np.int16)
    for gi, g in enumerate(groups):
        excl = None if g == "all" else g
        if parts is None:
            eig = eigen_from_kinship(K, name=f"GRM {cfg.grm}")
        elif mode == "lowrank":
            eig = eigen_from_standardized(parts.z_matrix(excl), scale=1.0)
        else:
            eig = eigen_from_kinship(parts.matrix(excl), name="GRM")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            null = fit_lmm_null(Y, F, eig, restricted=cfg.reml, trait_names=trait_names)
        for w in caught:
            msg = str(w.message)
            if msg not in notes:
                notes.append(msg)
                log.warning("warning: %s", msg)
        if not null.converged:
            bad.append((g, null))
        nulls.append(null)
        scans.append(make_lmm_scan(null, Y, F))
        if g == "all":
            variant_group[test_idx] = gi
        else:
            variant_group[test_idx[chrom_all[test_idx] == g]] = gi
        if progress:
            progress(gi + 1, len(groups), "null model")
    if bad and not cfg.allow_nonconverged:
        g, null = bad[0]
        where = "" if g == "all" else f" (LOCO without chromosome {g})"
        raise NonConvergenceError(describe_nonconvergence(null) + where)
    for g, _ in bad:
        notes.append(f"LMM null model{'' if g == 'all' else f' without chromosome {g}'} did "
                     "not converge; scanned anyway (--allow-nonconverged)")
    meta["null"] = {g: n.summary() for g, n in zip(groups, nulls, strict=True)}
    h2 = np.array([n.h2 for n in nulls])
    h2_text = ", ".join(
        f"{name} {lo:.3f}" if lo == hi else f"{name} {lo:.3f}-{hi:.3f}"
        for name, lo, hi in zip(trait_names, h2.min(axis=0), h2.max(axis=0), strict=True))
    notes.insert(0, f"LMM: {mode} rank ({why}); {meta['fit']} null fit"
                    f"{' per chromosome (LOCO)' if cfg.loco else ''}; h2 {h2_text}")
    return LmmSetup(scans=tuple(scans), nulls=tuple(nulls), group_names=tuple(groups),
                    variant_group=variant_group, meta=meta, notes=notes)
