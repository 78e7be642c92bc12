"""``gwasrep assoc`` and ``gwasrep grm``."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gwasrep_cli._common import (
    Bed,
    Emb,
    Keep,
    MetaCols,
    Quiet,
    Resume,
    cli_errors,
    csv_list,
    float_list,
    out,
    print_line,
    print_notes,
    progress_bar,
)

GrmKind = Annotated[str, typer.Option(help="standardized (GCTA) or centered (GEMMA -gk 1)")]


@cli_errors
def assoc(
    emb: Emb,
    bed: Bed,
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder")] = Path("gwasrep_out"),
    covar: Annotated[Path | None, typer.Option(help="Covariates table; data_specs/covariates.md")] = None,
    covar_cols: Annotated[str | None, typer.Option(help="Comma-separated covariate columns to use")] = None,
    meta_cols: MetaCols = None,
    pcs: Annotated[int | None, typer.Option(help="Project embeddings on their top PCS principal components")] = None,
    regress_covariates: Annotated[bool, typer.Option(help="Regress covariates out of the embeddings before the INT")] = True,
    int_: Annotated[bool, typer.Option("--int/--no-int", help="Rank-based inverse normal transform (Blom)")] = True,
    maf: Annotated[float, typer.Option(help="Minimum minor allele frequency")] = 0.0,
    geno: Annotated[float, typer.Option(help="Maximum fraction of missing calls per variant")] = 1.0,
    chrom: Annotated[str | None, typer.Option(help="Comma-separated chromosomes to test")] = None,
    extract: Annotated[Path | None, typer.Option(help="Test only the variant IDs in this file")] = None,
    exclude: Annotated[Path | None, typer.Option(help="Do not test the variant IDs in this file")] = None,
    keep: Keep = None,
    remove: Annotated[Path | None, typer.Option(help="Leave out these samples")] = None,
    drop_missing: Annotated[bool, typer.Option(help="Drop samples with NaN/inf embeddings or missing covariates")] = False,
    block_size: Annotated[int, typer.Option(help="Variants per block (memory ~ block size)")] = 2048,
    threads: Annotated[int, typer.Option(help="Local threads")] = os.cpu_count() or 1,
    dask_scheduler: Annotated[str | None, typer.Option(help="Run blocks on this dask.distributed scheduler")] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet, tsv or parquet,tsv")] = "parquet",
    plots: Annotated[bool, typer.Option(help="Write manhattan.png and qq.png")] = True,
    resume: Resume = False,
    overwrite: Annotated[bool, typer.Option(help="Discard an unfinished run in --out")] = False,
    lmm: Annotated[str | None, typer.Option(
        "--lmm", metavar="[auto|full|lowrank|ridge]",
        help="Mixed model: full/lowrank is the exact LMM with a GRM; ridge is whole-genome "
             "ridge regression with LOCO (REGENIE step 1) for biobank-sized cohorts; bare "
             "--lmm means auto (the exact LMM if it fits in memory, else ridge)")] = None,
    grm: Annotated[Path | None, typer.Option(help="GCTA binary GRM prefix (.grm.bin/.grm.N.bin/.grm.id) instead of computing it")] = None,
    grm_extract: Annotated[Path | None, typer.Option(help="Build the GRM from these variant IDs only")] = None,
    grm_kind: GrmKind = "standardized",
    grm_maf: Annotated[float, typer.Option(help="Minimum MAF of GRM variants")] = 0.01,
    loco: Annotated[bool, typer.Option(help="Leave-one-chromosome-out GRM and null model per chromosome")] = False,
    reml: Annotated[bool, typer.Option(help="Fit the LMM variance components by REML instead of ML")] = False,
    allow_nonconverged: Annotated[bool, typer.Option(help="Scan even if the LMM null fit did not converge")] = False,
    ridge_block_size: Annotated[int, typer.Option(help="--lmm ridge: variants per level-0 block")] = 1000,
    ridge_folds: Annotated[int, typer.Option(help="--lmm ridge: cross-validation folds")] = 5,
    ridge_loocv: Annotated[bool, typer.Option(help="--lmm ridge: leave-one-out cross-validation at both levels instead of folds (REGENIE's --loocv; closer to BOLT-LMM's BLUP, about twice the level-0 work)")] = False,
    ridge_h2: Annotated[str, typer.Option(help="--lmm ridge: comma-separated heritabilities in (0, 1) of the shrinkage grid")] = "0.01,0.25,0.5,0.75,0.99",
    relatives: Annotated[str, typer.Option(help="--lmm ridge: close relatives the tests are calibrated for: auto (found from the genotypes), none (plain REGENIE step 2), or a KING table such as plink2 --make-king-table writes")] = "auto",
    quiet: Quiet = False,
):
    """Multi-trait LRT, per-dimension tests and Bonferroni aggregate on a PLINK fileset (linear or LMM)."""
    from gwasrep.io.figures import FigureWorker

    # Started before the library is imported: matplotlib loads on the other core meanwhile.
    with FigureWorker() if plots else contextlib.nullcontext() as figures:
        from gwasrep.assoc.config import AssocConfig
        from gwasrep.assoc.run import run_assoc

        cfg = AssocConfig(emb=emb, bed=bed, out=out_dir, covar=covar,
                          covar_cols=csv_list(covar_cols), meta_cols=csv_list(meta_cols),
                          pcs=pcs, regress_covariates=regress_covariates,
                          inverse_normal=int_, maf=maf, geno=geno, chrom=csv_list(chrom),
                          extract=extract, exclude=exclude, keep=keep, remove=remove,
                          drop_missing=drop_missing, block_size=block_size, threads=threads,
                          dask_scheduler=dask_scheduler, formats=tuple(csv_list(fmt) or []),
                          plots=plots, resume=resume, overwrite=overwrite, lmm=lmm, grm=grm,
                          grm_extract=grm_extract, grm_kind=grm_kind, grm_maf=grm_maf,
                          loco=loco, reml=reml, allow_nonconverged=allow_nonconverged,
                          ridge_block_size=ridge_block_size, ridge_folds=ridge_folds,
                          ridge_loocv=ridge_loocv,
                          ridge_h2=tuple(float_list(ridge_h2, "--ridge-h2")),
                          relatives=relatives)
        with progress_bar(quiet) as progress:
            run = run_assoc(cfg, progress=progress, figures=figures)
    if not quiet:
        print_run(run)


def print_run(run, *, causal: set[str] | None = None) -> None:
    """The top variants, the counts, the notes and the files of an association run."""
    table = Table(title="Top variants (multi-trait LRT)", title_justify="left")
    for col in ("ID", "CHROM", "POS", "A1", "A1_FREQ", "P", "P_BONF"):
        table.add_column(col, justify="right" if col not in ("ID", "A1") else "left")
    if causal is not None:
        table.add_column("planted")
    for r in run.top_hits.itertuples():
        row = [str(r.ID), str(r.CHROM), str(r.POS), str(r.A1), f"{r.A1_FREQ:.3f}", f"{r.P:.3g}",
               f"{r.P_BONF:.3g}"]
        if causal is not None:
            row.append("yes" if r.ID in causal else "")
        table.add_row(*row)
    out.print(table)
    excl = ", ".join(f"{v:,} {k}" for k, v in run.excluded.items()) or "none"
    print_line(f"samples {run.n_samples:,} | traits {run.n_traits} | variants tested "
               f"{run.n_variants_tested:,} (not tested: {excl}) | lambda GC "
               f"{run.lambda_gc['P']:.3f} | {run.wall_time_s:.1f} s")
    print_notes(run)
    print_line(f"outputs in {run.out}/: " + ", ".join(p.name for p in run.files.values()))


@cli_errors
def grm(
    bed: Bed,
    out_prefix: Annotated[Path, typer.Option("--out", help="Output prefix: writes OUT.grm.bin, OUT.grm.N.bin, OUT.grm.id")],
    kind: GrmKind = "standardized",
    extract: Annotated[Path | None, typer.Option(help="Use only these variant IDs")] = None,
    keep: Keep = None,
    maf: Annotated[float, typer.Option(help="Minimum minor allele frequency")] = 0.01,
    geno: Annotated[float, typer.Option(help="Maximum fraction of missing calls per variant")] = 0.05,
    quiet: Quiet = False,
):
    """Genetic relationship matrix in GCTA's binary format (data_specs/grm.md)."""
    from gwasrep.assoc.config import GrmConfig
    from gwasrep.assoc.run import run_grm

    cfg = GrmConfig(bed=bed, out=out_prefix, kind=kind, extract=extract, keep=keep, maf=maf,
                    geno=geno)
    with progress_bar(quiet) as progress:
        res = run_grm(cfg, progress=progress)
    if not quiet:
        print_line(f"{res.kind} GRM of {res.n_samples:,} samples from {res.n_variants:,} "
                   "variants -> " + ", ".join(str(p) for p in res.files.values()))
