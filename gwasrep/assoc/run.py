"""Runners of the association commands: ``gwasrep assoc`` (:func:`run_assoc`) and
``gwasrep grm`` (:func:`run_grm`).

``run_assoc`` reads and checks every input and fits the null model before any file is
written (:mod:`~gwasrep.assoc.engine.inputs`), so bad input leaves no output. The scan
then streams over blocks of variants (:mod:`~gwasrep.assoc.engine.schedule`); each
finished block is checkpointed (:mod:`~gwasrep.assoc.engine.checkpoint`), which lets
``resume=True`` continue a killed run. Final files are written atomically
(:mod:`~gwasrep.assoc.engine.outputs`) and the checkpoints removed.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gwasrep.assoc.config import AssocConfig, GrmConfig
from gwasrep.assoc.engine.checkpoint import (
    finished_blocks,
    open_partial,
    save_block,
    verify_blocks,
)
from gwasrep.assoc.engine.inputs import Prepared, prepare_inputs
from gwasrep.assoc.engine.outputs import (
    SumstatsWriter,
    report,
    run_metadata,
    write_excluded,
    write_variance_components,
)
from gwasrep.assoc.engine.schedule import make_blocks, run_dask, run_local
from gwasrep.assoc.kinship import compute_grm_parts
from gwasrep.assoc.stats import lambda_gc
from gwasrep.errors import InputError
from gwasrep.io.atomic import atomic_write_text
from gwasrep.io.figures import FigureWorker
from gwasrep.io.fingerprint import digest
from gwasrep.io.grm import write_grm
from gwasrep.io.lock import output_lock
from gwasrep.io.plink import open_plink
from gwasrep.io.samples import align_samples
from gwasrep.io.tables import read_id_list, read_variant_list
from gwasrep.options import check_options
from gwasrep.runs import Progress, RunResult

__all__ = ["AssocRun", "GrmRun", "run_assoc", "run_grm"]


@dataclass(kw_only=True)
class AssocRun(RunResult):
    """What a finished association run produced (``files`` holds every output's path)."""

    out: Path
    n_samples: int
    n_traits: int
    n_variants_tested: int
    #: Untested variants by reason.
    excluded: dict[str, int]
    #: Genomic control lambda per test (P, P_BONF, P_1 ...).
    lambda_gc: dict[str, float]
    #: The best variants by multi-trait P.
    top_hits: pd.DataFrame
    wall_time_s: float


def run_assoc(cfg: AssocConfig, *, progress: Progress | None = None,
              figures: FigureWorker | None = None) -> AssocRun:
    """Run the association scan described by ``cfg`` and write its outputs.

    Parameters
    ----------
    cfg : AssocConfig
    progress : Progress, optional
        Stages ``kinship`` and ``null model`` (LMM only), then ``scanning`` after each
        block, in variants.
    figures : FigureWorker, optional
        Draws the plots (``cfg.plots``). The CLI starts it before importing the library,
        so that matplotlib loads in its process meanwhile; by default one starts here.

    Returns
    -------
    AssocRun

    Notes
    -----
    Outputs in ``cfg.out``: ``sumstats.parquet`` and/or ``sumstats.tsv`` (tested
    variants), ``excluded_variants.tsv`` (untested variants with the reason),
    ``variance_components.tsv`` (LMM), ``run.json`` (metadata), ``manhattan.png``,
    ``qq.png`` and ``report.md``.
    """
    check_options(cfg)
    t0 = time.perf_counter()
    out = Path(cfg.out)
    # Held from the start: a second run into the same folder fails at once, and a set-up
    # that fails leaves no folder behind.
    with output_lock(out), contextlib.ExitStack() as stack:
        # The figures' process imports matplotlib while the inputs are read and scanned.
        if not cfg.plots:
            figures = None
        elif figures is None:
            figures = stack.enter_context(FigureWorker())
        prep = prepare_inputs(cfg, progress)
        partial = open_partial(cfg, prep)
        if prep.ridge is not None:
            _ridge_step1(cfg, prep, partial, progress)
        return _scan(cfg, prep, out, partial, t0, progress, figures)


def _ridge_step1(cfg: AssocConfig, prep: Prepared, partial: Path,
                 progress: Progress | None) -> None:
    """``--lmm ridge``: REGENIE step 1 (checkpointed in ``partial``), then the scan state
    with one null model per chromosome on the LOCO-adjusted traits."""
    from gwasrep.assoc.engine.ridge_setup import (
        describe,
        discard_ridge,
        loco_scan_state,
        ridge_relatives,
        run_ridge,
    )

    try:
        loco, times = run_ridge(prep.ridge, prep.fileset, prep.fam_idx, partial,
                                maf_min=cfg.grm_maf, threads=cfg.threads,
                                dask_scheduler=cfg.dask_scheduler, progress=progress)
        t_rel = time.perf_counter()
        relatives = ridge_relatives(cfg.relatives, prep.ridge, prep.fileset, prep.fam_idx,
                                    partial, maf_min=cfg.grm_maf, progress=progress)
        times["relatives"] = time.perf_counter() - t_rel
        prep.state, prep.ridge_meta = loco_scan_state(prep.state, prep.ridge, loco,
                                                      prep.fileset.bim["CHROM"].to_numpy(),
                                                      prep.variant_idx, times, relatives)
    except InputError:
        # Bad input found by step 1 itself (a trait whose level-1 fit fails, relatives
        # whose calibrated covariance is singular): nothing of this run is kept.
        discard_ridge(partial)
        if not any(partial.glob("block_*.npz")):
            shutil.rmtree(partial)
        raise
    prep.notes.insert(0, describe(loco, prep.ridge.why, relatives))


def _scan(cfg: AssocConfig, prep: Prepared, out: Path, partial: Path, t0: float,
          progress: Progress | None, figures: FigureWorker | None) -> AssocRun:
    D = prep.state.null.n_traits
    blocks = make_blocks(prep.variant_idx, cfg.block_size, prep.state.variant_group)
    done = finished_blocks(partial)
    verify_blocks(partial, blocks, done, prep.fileset.bed_path, prep.fileset.n_samples)
    pending = [blk for blk in blocks if blk[0] not in done]
    n_total = int(prep.variant_idx.size)
    n_done = sum(len(idx) for i, idx in blocks if i in done)
    if progress:
        progress(n_done, n_total, "scanning")
    if cfg.dask_scheduler:
        results = run_dask(prep.state, pending, scheduler=cfg.dask_scheduler)
        backend = {"kind": "dask", "scheduler": cfg.dask_scheduler}
    else:
        results = run_local(prep.state, pending, threads=cfg.threads)
        backend = {"kind": "local", "threads": cfg.threads}

    # The main thread writes finished blocks in variant order while workers scan.
    t_scan = time.perf_counter()
    with SumstatsWriter(out, cfg.formats, D, prep.fileset.bim, blocks, done, partial,
                        bim_table=prep.fileset.bim_table) as writer:
        for i, res in results:
            save_block(partial, i, res)
            n_done += len(blocks[i][1])
            if progress:
                progress(n_done, n_total, "scanning")
            writer.add(i, res)
    t_scan = time.perf_counter() - t_scan
    files = dict(writer.files)

    tested, excl = writer.tested(), writer.excluded()
    files["excluded_variants"] = write_excluded(out / "excluded_variants.tsv", excl)
    excluded_counts = {str(k): int(v)
                       for k, v in excl["REASON"].value_counts().sort_index().items()}
    lam = {"P": lambda_gc(tested["P"]), "P_BONF": lambda_gc(tested["P_BONF"])}
    lam.update({f"P_{k + 1}": lambda_gc(tested[f"P_{k + 1}"]) for k in range(D)})
    top = tested.nsmallest(10, "P")[["ID", "CHROM", "POS", "A1", "A1_FREQ", "P", "P_BONF"]]

    if prep.lmm is not None:
        files["variance_components"] = write_variance_components(
            out / "variance_components.tsv", prep.lmm, prep.trait_names)
    if figures is not None and len(tested):
        figures.submit("gwasrep.assoc.plots:manhattan_arrays", tested["CHROM"].to_numpy(),
                       tested["POS"].to_numpy(), tested["P"].to_numpy(), out / "manhattan.png",
                       title=f"Multi-trait {_model_label(prep)}LRT ({D} df)")
        figures.submit("gwasrep.assoc.plots:qq_arrays",
                       {"multi-trait LRT": tested["P"].to_numpy(),
                        "Bonferroni over dimensions": tested["P_BONF"].to_numpy()},
                       {"multi-trait LRT": lam["P"], "Bonferroni over dimensions": lam["P_BONF"]},
                       out / "qq.png")
    # run.json is written while the figures' process draws.
    wall = time.perf_counter() - t0
    prep.inputs["bed"]["blocks_crc32_sha256"] = digest(np.array(writer.crcs,
                                                                dtype=np.int64).tobytes())
    meta = run_metadata(cfg, prep, tested=tested, lam=lam, excluded_counts=excluded_counts,
                        backend=backend, n_blocks=len(blocks), wall=wall, t_scan=t_scan)
    atomic_write_text(out / "run.json", json.dumps(meta, indent=1, default=float))
    files["run_json"] = out / "run.json"
    if figures is not None and len(tested):
        files["manhattan"], files["qq"] = figures.results()
    atomic_write_text(out / "report.md", report(meta, top, files))
    files["report"] = out / "report.md"
    shutil.rmtree(partial)
    return AssocRun(out=out, files=files, n_samples=int(prep.fam_idx.size), n_traits=D,
                    n_variants_tested=int(len(tested)), excluded=excluded_counts,
                    lambda_gc=lam, top_hits=top, wall_time_s=wall, notes=prep.notes)


def _model_label(prep: Prepared) -> str:
    if prep.lmm is not None:
        return "LMM "
    return "ridge-LOCO " if prep.ridge is not None else ""


@dataclass(kw_only=True)
class GrmRun(RunResult):
    """A GRM written in GCTA's binary format (``files``: bin, N, id)."""

    kind: str
    n_samples: int
    n_variants: int


def run_grm(cfg: GrmConfig, *, progress: Progress | None = None) -> GrmRun:
    """Compute a GRM from a PLINK fileset and write it in GCTA's binary format.

    Writes ``cfg.out.grm.bin``, ``.grm.N.bin`` and ``.grm.id`` (data_specs/grm.md).
    ``progress`` reports stage ``kinship`` in variants.
    """
    check_options(cfg)
    cfg.check()
    fs = open_plink(cfg.bed)
    sample_idx = np.arange(fs.n_samples)
    if cfg.keep is not None:
        sample_idx = align_samples(fs.fam, {}, keep=read_id_list(cfg.keep)).fam_idx
    variant_idx = np.arange(fs.n_variants)
    if cfg.extract is not None:
        listed = read_variant_list(cfg.extract)
        variant_idx = np.flatnonzero(fs.bim["ID"].isin(listed).to_numpy())
        if variant_idx.size == 0:
            raise InputError(f"--extract {cfg.extract}: none of the {len(listed):,} IDs is in "
                             "the .bim")
    parts = compute_grm_parts(fs, sample_idx, variant_idx, kind=cfg.kind, maf_min=cfg.maf,
                              max_missing=cfg.geno, progress=progress)
    paths = write_grm(cfg.out, parts.matrix(), fs.fam.iloc[sample_idx][["FID", "IID"]],
                      parts.n_variants)
    return GrmRun(files=dict(paths), kind=cfg.kind, n_samples=int(sample_idx.size),
                  n_variants=parts.n_variants)
