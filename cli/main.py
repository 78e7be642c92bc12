"""``gwasrep``: one thin command per library entry point.

Each command checks its options, makes one library call and prints a short
summary. Errors from bad input become one line on stderr and exit status 2.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from gwasrep.errors import GwasrepError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Genome-wide association studies on learned phenotypes.")
err = Console(stderr=True)
out = Console()


def _fail(msg: str, code: int = 2):
    err.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def cli_errors(fn):
    """Turn library errors into one line and a non-zero exit; no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GwasrepError as exc:
            _fail(str(exc))
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            _fail(f"{exc.strerror}: {exc.filename}")
        except KeyboardInterrupt:
            _fail("interrupted; finished blocks are kept, rerun with --resume to continue", 130)
        except typer.Exit:
            raise
        except Exception as exc:  # a bug, not bad input: one line, traceback on request
            if os.environ.get("GWASREP_DEBUG"):
                raise
            _fail(f"internal error ({type(exc).__name__}: {exc}); set GWASREP_DEBUG=1 for the "
                  "traceback and please report it", 1)

    return wrapper


class RateColumn(ProgressColumn):
    """Variants per second."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        unit = {"null model": "fits", "images": "images"}.get(task.description, "variants")
        return Text(f"{speed:,.0f} {unit}/s" if speed else "", style="cyan")


def _progress(quiet: bool):
    if quiet:
        return None, None
    prog = Progress(TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(),
                    RateColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                    transient=False)
    tasks: dict[str, int] = {}

    def update(done: int, total: int, stage: str = "scanning"):
        # Stages: "kinship" (GRM variants), "null model" (LMM fits), "scanning" (variants).
        if stage not in tasks:
            if not tasks:
                prog.start()
            tasks[stage] = prog.add_task(stage, total=total, completed=done)
        prog.update(tasks[stage], completed=done)

    return prog, update


def _print_notes(notes) -> None:
    for note in notes:
        out.print(f"note: {note}", highlight=False)


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _print_run(run, *, causal: set[str] | None = None) -> None:
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
    out.print(f"samples {run.n_samples:,} | traits {run.n_traits} | variants tested "
              f"{run.n_variants_tested:,} (not tested: {excl}) | lambda GC {run.lambda_gc['P']:.3f}"
              f" | {run.wall_time_s:.1f} s", highlight=False)
    _print_notes(run.notes)
    out.print(f"outputs in {run.out}/: " + ", ".join(p.name for p in run.files.values()),
              highlight=False)


@app.command()
@cli_errors
def assoc(
    emb: Annotated[Path, typer.Option(help="Embeddings table (Parquet/TSV/CSV); data_specs/embeddings.md")],
    bed: Annotated[Path, typer.Option(help="PLINK 1 fileset prefix (.bed/.bim/.fam)")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder")] = Path("gwasrep_out"),
    covar: Annotated[Path | None, typer.Option(help="Covariates table; data_specs/covariates.md")] = None,
    covar_cols: Annotated[str | None, typer.Option(help="Comma-separated covariate columns to use")] = None,
    meta_cols: Annotated[str | None, typer.Option(help="Comma-separated embedding columns that are metadata")] = None,
    pcs: Annotated[int | None, typer.Option(help="Project embeddings on their top PCS principal components")] = None,
    regress_covariates: Annotated[bool, typer.Option(help="Regress covariates out of the embeddings before the INT")] = True,
    int_: Annotated[bool, typer.Option("--int/--no-int", help="Rank-based inverse normal transform (Blom)")] = True,
    maf: Annotated[float, typer.Option(help="Minimum minor allele frequency")] = 0.0,
    geno: Annotated[float, typer.Option(help="Maximum fraction of missing calls per variant")] = 1.0,
    chrom: Annotated[str | None, typer.Option(help="Comma-separated chromosomes to test")] = None,
    extract: Annotated[Path | None, typer.Option(help="Test only the variant IDs in this file")] = None,
    exclude: Annotated[Path | None, typer.Option(help="Do not test the variant IDs in this file")] = None,
    keep: Annotated[Path | None, typer.Option(help="Use only these samples (FID IID or IID per line)")] = None,
    remove: Annotated[Path | None, typer.Option(help="Leave out these samples")] = None,
    drop_missing: Annotated[bool, typer.Option(help="Drop samples with NaN/inf embeddings or missing covariates")] = False,
    block_size: Annotated[int, typer.Option(help="Variants per block (memory ~ block size)")] = 2048,
    threads: Annotated[int, typer.Option(help="Local threads")] = os.cpu_count() or 1,
    dask_scheduler: Annotated[str | None, typer.Option(help="Run blocks on this dask.distributed scheduler")] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet, tsv or parquet,tsv")] = "parquet",
    plots: Annotated[bool, typer.Option(help="Write manhattan.png and qq.png")] = True,
    resume: Annotated[bool, typer.Option(help="Continue an unfinished run in --out")] = False,
    overwrite: Annotated[bool, typer.Option(help="Discard an unfinished run in --out")] = False,
    lmm: Annotated[str | None, typer.Option(
        "--lmm", metavar="[auto|full|lowrank]",
        help="Linear mixed model with a GRM; bare --lmm means auto (full rank if the "
             "eigendecomposition fits in memory, else low rank)")] = None,
    grm: Annotated[Path | None, typer.Option(help="GCTA binary GRM prefix (.grm.bin/.grm.N.bin/.grm.id) instead of computing it")] = None,
    grm_extract: Annotated[Path | None, typer.Option(help="Build the GRM from these variant IDs only")] = None,
    grm_kind: Annotated[str, typer.Option(help="standardized (GCTA) or centered (GEMMA -gk 1)")] = "standardized",
    grm_maf: Annotated[float, typer.Option(help="Minimum MAF of GRM variants")] = 0.01,
    loco: Annotated[bool, typer.Option(help="Leave-one-chromosome-out GRM and null model per chromosome")] = False,
    reml: Annotated[bool, typer.Option(help="Fit the LMM variance components by REML instead of ML")] = False,
    allow_nonconverged: Annotated[bool, typer.Option(help="Scan even if the LMM null fit did not converge")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar or summary")] = False,
):
    """Multi-trait LRT, per-dimension tests and Bonferroni aggregate on a PLINK fileset (linear or LMM)."""
    from gwasrep.assoc.engine import AssocConfig, run_assoc

    cfg = AssocConfig(emb=emb, bed=bed, out=out_dir, covar=covar, covar_cols=_csv(covar_cols),
                      meta_cols=_csv(meta_cols), pcs=pcs, regress_covariates=regress_covariates,
                      inverse_normal=int_, maf=maf, geno=geno, chrom=_csv(chrom), extract=extract,
                      exclude=exclude, keep=keep, remove=remove, drop_missing=drop_missing,
                      block_size=block_size, threads=threads, dask_scheduler=dask_scheduler,
                      formats=tuple(_csv(fmt) or []), plots=plots, resume=resume,
                      overwrite=overwrite, lmm=lmm, grm=grm, grm_extract=grm_extract,
                      grm_kind=grm_kind, grm_maf=grm_maf, loco=loco, reml=reml,
                      allow_nonconverged=allow_nonconverged)
    prog, update = _progress(quiet)
    try:
        run = run_assoc(cfg, progress=update)
    finally:
        if prog is not None:
            prog.stop()
    if not quiet:
        _print_run(run)


@app.command()
@cli_errors
def grm(
    bed: Annotated[Path, typer.Option(help="PLINK 1 fileset prefix (.bed/.bim/.fam)")],
    out_prefix: Annotated[Path, typer.Option("--out", help="Output prefix: writes OUT.grm.bin, OUT.grm.N.bin, OUT.grm.id")],
    kind: Annotated[str, typer.Option(help="standardized (GCTA) or centered (GEMMA -gk 1)")] = "standardized",
    extract: Annotated[Path | None, typer.Option(help="Use only these variant IDs")] = None,
    keep: Annotated[Path | None, typer.Option(help="Use only these samples (FID IID or IID per line)")] = None,
    maf: Annotated[float, typer.Option(help="Minimum minor allele frequency")] = 0.01,
    geno: Annotated[float, typer.Option(help="Maximum fraction of missing calls per variant")] = 0.05,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
):
    """Genetic relationship matrix in GCTA's binary format (data_specs/grm.md)."""
    from gwasrep.assoc.kinship import make_grm

    prog, update = _progress(quiet)
    try:
        res = make_grm(bed, out_prefix, kind=kind, extract=extract, keep=keep, maf_min=maf,
                       max_missing=geno,
                       progress=(lambda d, t: update(d, t, "kinship")) if update else None)
    finally:
        if prog is not None:
            prog.stop()
    if not quiet:
        out.print(f"{kind} GRM of {res['n_samples']:,} samples from {res['n_variants']:,} "
                  f"variants -> " + ", ".join(str(p) for p in res["paths"].values()),
                  highlight=False)


@app.command()
@cli_errors
def clump(
    sumstats: Annotated[Path, typer.Option(help="Summary statistics (Parquet, or whitespace-separated text) with variant IDs and p-values")],
    bed: Annotated[Path, typer.Option(help="PLINK 1 fileset prefix for LD (founders are used)")],
    out_prefix: Annotated[Path, typer.Option("--out", help="Writes OUT.clumped, OUT.clumped.parquet, OUT.clump_members.parquet")] = Path("gwasrep"),
    p1: Annotated[float, typer.Option(help="Index variant threshold (PLINK --clump-p1)")] = 1e-4,
    p2: Annotated[float, typer.Option(help="Secondary threshold: members with p < p2 are listed in SP2")] = 1e-2,
    r2: Annotated[float, typer.Option(help="A variant joins a clump when r^2 > r2")] = 0.5,
    kb: Annotated[float, typer.Option(help="Window half-width in kb")] = 250.0,
    r2_mode: Annotated[str, typer.Option(help="em (haplotype r^2 from EM, PLINK 1.9's) or unphased (squared genotype correlation)")] = "em",
    snp_field: Annotated[str, typer.Option(help="Column with the variant IDs")] = "ID",
    p_field: Annotated[str, typer.Option(help="Column with the p-values (e.g. P, P_BONF, P_3)")] = "P",
    quiet: Annotated[bool, typer.Option(help="No summary")] = False,
):
    """LD clumping with PLINK 1.9 --clump semantics (data_specs/clumps.md)."""
    from gwasrep.loci.clump import run_clump

    res = run_clump(sumstats, bed, out_prefix, p1=p1, p2=p2, r2=r2, kb=kb, r2_mode=r2_mode,
                    snp_field=snp_field, p_field=p_field)
    if not quiet:
        c = res.counts
        out.print(f"{res.n_loci:,} clumps from {c['index_candidates']:,} variants with p <= {p1:g} "
                  f"({c['variants_with_p']:,} with a valid p, {c['samples']:,} founders, r2 > {r2:g} "
                  f"within {kb:g} kb, {r2_mode} r2) -> {out_prefix}.clumped", highlight=False)
        _print_notes(res.notes)


@app.command()
@cli_errors
def loci(
    sumstats: Annotated[list[Path], typer.Option(help="Summary statistics of each method (repeat the option); the method name is the file's parent folder or stem")],
    reference: Annotated[Path | None, typer.Option(help="Reference loci (disease GWAS index variants): TSV/Parquet with CHROM and POS")] = None,
    out_prefix: Annotated[Path, typer.Option("--out", help="Writes OUT.comparison.tsv, OUT.loci.tsv, OUT.png (and OUT.reference.tsv)")] = Path("loci"),
    p: Annotated[float | None, typer.Option(help="Significance threshold (default 5e-8, or 5e-8/D with --bonferroni-dims D)")] = None,
    bonferroni_dims: Annotated[int | None, typer.Option(help="Divide 5e-8 by this many dimensions (GIM: 10)")] = None,
    window_kb: Annotated[float, typer.Option(help="Merge significant variants closer than this (GIM: 250)")] = 250.0,
    p_field: Annotated[str, typer.Option(help="p-value column (P, P_BONF, P_k)")] = "P",
    name: Annotated[list[str] | None, typer.Option(help="Method names, in the order of --sumstats")] = None,
    recovery_r2: Annotated[float | None, typer.Option(help="LD recovery rule: a significant variant in the window with EM r^2 >= this with the reference variant (needs --bed)")] = None,
    bed: Annotated[Path | None, typer.Option(help="Genotypes for the LD recovery rule")] = None,
    quiet: Annotated[bool, typer.Option(help="No table")] = False,
):
    """Window loci per method, recovered reference loci and unique loci (data_specs/loci.md)."""
    from gwasrep.io._atomic import atomic_path
    from gwasrep.loci.recovery import compare_methods, plot_comparison
    from gwasrep.loci.windows import significance_threshold

    names = name or [(f.parent.name if f.name.startswith("sumstats") else f.stem) for f in sumstats]
    if len(names) != len(sumstats) or len(set(names)) != len(names):
        _fail(f"--name: expected {len(sumstats)} distinct names, one per --sumstats; found {names}")

    from gwasrep.io.plink import open_plink
    from gwasrep.io.tables import read_table as read

    if recovery_r2 is not None and bed is None:
        _fail("--recovery-r2 needs --bed (genotypes for r^2)")

    thr = significance_threshold(p, n_dims=bonferroni_dims)
    res = compare_methods({n: read(f) for n, f in zip(names, sumstats, strict=True)},
                          threshold=thr, window_kb=window_kb,
                          reference=read(reference) if reference else None, p_col=p_field,
                          ld_r2=recovery_r2, fileset=open_plink(bed) if bed else None)
    files = {"comparison": res.table, "loci": res.loci}
    if res.reference is not None:
        files["reference"] = res.reference
    for key, frame in files.items():
        with atomic_path(out_prefix.with_name(f"{out_prefix.name}.{key}.tsv")) as tmp:
            frame.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    plot_comparison(res.table, out_prefix.with_name(out_prefix.name + ".png"))
    if not quiet:
        out.print(f"threshold {p_field} <= {thr:g}, window {window_kb:g} kb", highlight=False)
        out.print(res.table.to_string(index=False), highlight=False)
        _print_notes(res.notes)


@app.command()
@cli_errors
def panel(
    sumstats: Annotated[Path, typer.Option(help="External GWAS: ID A1 A2 BETA SE P (and CHROM POS EAF)")],
    bed: Annotated[Path, typer.Option(help="The cohort's PLINK 1 fileset (alleles and LD)")],
    out_path: Annotated[Path, typer.Option("--out", help="Panel Parquet; dropped variants go to OUT-stem.dropped.tsv")] = Path("panel.parquet"),
    p: Annotated[float, typer.Option(help="p-value threshold")] = 1e-5,
    r2: Annotated[float, typer.Option(help="Clumping r^2")] = 0.05,
    kb: Annotated[float, typer.Option(help="Clumping window (kb)")] = 5000.0,
    r2_mode: Annotated[str, typer.Option(help="em or unphased")] = "em",
    quiet: Annotated[bool, typer.Option(help="No summary")] = False,
):
    """Variant panel: threshold, harmonize to the cohort's A1, clump (data_specs/panel.md)."""
    from gwasrep.loci.panel import run_panel

    res = run_panel(sumstats, bed, out_path, p=p, r2=r2, kb=kb, r2_mode=r2_mode)
    if not quiet:
        out.print(f"panel of {len(res.panel):,} variants -> {out_path}; "
                  + ", ".join(f"{k} {v:,}" for k, v in res.counts.items()), highlight=False)
        _print_notes(res.notes)


@app.command()
@cli_errors
def meta(
    studies: Annotated[list[Path], typer.Argument(help="Two or more sumstats files (ID A1 A2 BETA SE, optional N EAF)")],
    out_path: Annotated[Path, typer.Option("--out", help="Output .parquet or .tsv")] = Path("meta.parquet"),
    beta_col: Annotated[str | None, typer.Option(help="Effect column (e.g. BETA_3 in gwasrep sumstats)")] = None,
    se_col: Annotated[str | None, typer.Option(help="Standard error column")] = None,
    quiet: Annotated[bool, typer.Option(help="No summary")] = False,
):
    """Fixed-effect inverse-variance meta-analysis with allele harmonization (data_specs/meta.md)."""
    from gwasrep.loci.meta import run_meta

    res = run_meta(studies, out_path, beta_col=beta_col, se_col=se_col)
    if not quiet:
        out.print(f"{len(res.table):,} variants meta-analysed from {len(studies)} studies -> {out_path}",
                  highlight=False)
        _print_notes(res.notes)


@app.command()
@cli_errors
def ldscore(
    bed: Annotated[Path, typer.Option(help="Reference PLINK 1 fileset")],
    out_prefix: Annotated[Path, typer.Option("--out", help="Writes OUT.l2.ldscore.gz, OUT.l2.M, OUT.l2.M_5_50")],
    window_kb: Annotated[float | None, typer.Option(help="Window half-width in kb")] = None,
    window_cm: Annotated[float | None, typer.Option(help="Window half-width in cM (needs CM in the .bim)")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
):
    """LD scores in LDSC's format (bias-corrected r^2 summed over the window; data_specs/ldscore.md)."""
    import warnings

    from gwasrep.heritability.ldscore import compute_ld_scores, write_ld_scores
    from gwasrep.io.plink import open_plink

    prog, update = _progress(quiet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sc = compute_ld_scores(open_plink(bed), window_kb=window_kb, window_cm=window_cm,
                                   progress=(lambda d, t: update(d, t, "LD scores")) if update else None)
        finally:
            if prog is not None:
                prog.stop()
    paths = write_ld_scores(sc, out_prefix)
    for w in caught:
        err.print(f"warning: {w.message}", highlight=False)
    if not quiet:
        out.print(f"LD scores of {int(sc.M):,} variants (M_5_50 {int(sc.M_5_50):,}) -> "
                  + ", ".join(str(p) for p in paths.values()), highlight=False)


@app.command()
@cli_errors
def h2(
    sumstats: Annotated[Path, typer.Option(help="gwasrep sumstats (BETA_k/SE_k and OBS_CT per dimension) or a table with SNP Z N")],
    ref_ld: Annotated[Path, typer.Option(help="LD score prefix (PREFIX.l2.ldscore.gz, PREFIX.l2.M_5_50)")],
    w_ld: Annotated[Path | None, typer.Option(help="Regression-weight LD score prefix (default: --ref-ld)")] = None,
    out_path: Annotated[Path, typer.Option("--out", help="Per-dimension h2 table (TSV)")] = Path("h2.tsv"),
    intercept_h2: Annotated[float | None, typer.Option(help="Fix the intercept at this value")] = None,
    no_intercept: Annotated[bool, typer.Option(help="Fix the intercept at 1")] = False,
    not_m_5_50: Annotated[bool, typer.Option("--not-M-5-50", help="Use M (all SNPs) instead of M_5_50")] = False,
    n_blocks: Annotated[int, typer.Option(help="Jackknife blocks")] = 200,
    greml: Annotated[Path | None, typer.Option(help="variance_components.tsv of `assoc --lmm` for GREML h2 (default: the one beside --sumstats, if any)")] = None,
    no_greml: Annotated[bool, typer.Option(help="Do not add GREML h2")] = False,
    drop_ambiguous: Annotated[bool, typer.Option(help="Keep only non-ambiguous A/C/G/T SNPs (ldsc munge_sumstats' allele filter); needs A1, A2")] = False,
    quiet: Annotated[bool, typer.Option(help="No table")] = False,
):
    """LDSC SNP heritability per embedding dimension, as bulik/ldsc --h2 (data_specs/h2.md)."""
    from gwasrep.heritability.h2 import run_h2

    icpt = 1.0 if no_intercept else intercept_h2
    table, notes = run_h2(sumstats, ref_ld, out_path, w_ld=w_ld, use_m_5_50=not not_m_5_50,
                          intercept=icpt, n_blocks=n_blocks,
                          greml=False if no_greml else greml, drop_ambiguous=drop_ambiguous)
    if not quiet:
        out.print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"), highlight=False)
        _print_notes(notes)


@app.command()
@cli_errors
def mi(
    emb: Annotated[Path, typer.Option(help="Embeddings of held-out samples (data_specs/embeddings.md)")],
    bed: Annotated[Path, typer.Option(help="PLINK 1 fileset of the same samples")],
    out_prefix: Annotated[Path, typer.Option("--out", help="Writes OUT.mi.tsv (per seed) and OUT.mi.json")] = Path("gwasrep_mi"),
    extract: Annotated[Path | None, typer.Option(help="Variants to use: a gwasrep panel / table with ID, or one ID per line")] = None,
    keep: Annotated[Path | None, typer.Option(help="Use only these samples (FID IID or IID per line)")] = None,
    meta_cols: Annotated[str | None, typer.Option(help="Comma-separated embedding columns that are metadata")] = None,
    seeds: Annotated[int, typer.Option(help="Number of seeds (split and initialization), 0..SEEDS-1")] = 5,
    estimators: Annotated[str, typer.Option(help="jse, infonce or jse,infonce")] = "jse,infonce",
    geno_dropout: Annotated[float, typer.Option(help="Dropout on the genotype encoder's input (keep it fixed across the methods compared)")] = 0.5,
    quiet: Annotated[bool, typer.Option(help="No progress bar or summary")] = False,
):
    """MI (nats) between embeddings and genotypes: JSE discriminator as in GIM, plus InfoNCE (needs torch; data_specs/mi.md)."""
    from gwasrep.heritability.mi_run import run_mi

    try:
        from gwasrep.heritability.mi import MIConfig

        cfg = MIConfig(estimators=tuple(_csv(estimators) or []), geno_dropout=geno_dropout)
    except ImportError:
        cfg = None  # run_mi reports the missing torch
    except ValueError as exc:
        _fail(str(exc))
    prog, update = _progress(quiet)
    try:
        res, notes = run_mi(emb, bed, out_prefix, extract=extract, keep=keep,
                            meta_cols=_csv(meta_cols), seeds=seeds, config=cfg,
                            progress=(lambda d, t: update(d, t, "training")) if update else None)
    finally:
        if prog is not None:
            prog.stop()
    if not quiet:
        out.print(f"MI between {res.emb_dim} embedding dimensions and {res.geno_dim:,} variants, "
                  f"{res.n_pairs:,} samples, {len(res.seeds)} seeds (nats):", highlight=False)
        for k, v in res.summary.items():
            out.print(f"  {k:<11} {v['mean']:.4f} ± {v['sd']:.4f}", highlight=False)
        _print_notes(notes)
        unconv = [f"seed {s.seed} {e}" for s in res.seeds for e, c in s.converged.items() if not c]
        if unconv:
            err.print(f"warning: not converged within {res.config.max_epochs} epochs: "
                      + ", ".join(unconv), highlight=False)


def _torch_or_fail():
    try:
        import torch  # noqa: F401
    except ImportError:
        _fail("this command needs PyTorch: pip install 'gwasrep[torch]' (on a CPU-only machine "
              "install the CPU wheel first, e.g. pip install torch==2.13.0)")


def _train_progress(quiet: bool):
    """A bar over each epoch's steps, showing loss and samples/s; one line per epoch."""
    if quiet:
        return None, None
    prog = Progress(TextColumn("{task.description:>12}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=err)
    state: dict = {}

    def update(r: dict):
        if r.get("done"):
            val = f"{r['val_loss']:.4f}" if r["val_loss"] == r["val_loss"] else "n/a"
            prog.console.print(f"epoch {r['epoch']}/{r['epochs']}: train loss "
                               f"{r['train_loss']:.4f}, val loss {val}, "
                               f"{r['samples_per_s']:,.0f} samples/s", highlight=False)
            return
        desc = f"epoch {r['epoch']}/{r['epochs']}"
        if state.get("epoch") != r["epoch"]:
            if "task" in state:
                prog.remove_task(state["task"])
            else:
                prog.start()
            state.update(epoch=r["epoch"], task=prog.add_task(desc, total=r["steps"], info=""))
        prog.update(state["task"], completed=r["step"],
                    info=f"loss {r['loss']:.4f}  {r['samples_per_s']:,.0f} samples/s")

    return prog, update


@app.command()
@cli_errors
def train(
    method: Annotated[str, typer.Option(help="gemcont, prs, simclr, vae, autoencoder or supervised")],
    images: Annotated[Path, typer.Option(help="Image manifest (.parquet/.csv: sample_id, path) or an .npz/.npy stack (data_specs/images.md)")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory (data_specs/train_run.md)")],
    bed: Annotated[Path | None, typer.Option(help="PLINK 1 fileset (gemcont, prs)")] = None,
    panel: Annotated[Path | None, typer.Option(help="Variant panel with ID, A1, BETA (gwasrep panel; gemcont, prs)")] = None,
    split: Annotated[Path | None, typer.Option(help="Training samples (IID or FID IID per line); default: a seeded random split")] = None,
    val: Annotated[Path | None, typer.Option(help="Validation samples; default: --val-fraction of the training samples")] = None,
    val_fraction: Annotated[float, typer.Option(help="Validation fraction of a random split")] = 0.1,
    test_fraction: Annotated[float, typer.Option(help="Test fraction of a random split (without --split)")] = 0.2,
    target: Annotated[Path | None, typer.Option(help="Table with sample_id and the target column (supervised)")] = None,
    target_col: Annotated[str | None, typer.Option(help="Target column (supervised)")] = None,
    task: Annotated[str | None, typer.Option(help="Supervised task: regress or classify")] = None,
    image_ids: Annotated[Path | None, typer.Option(help="Sample IDs of an .npy stack, one per image")] = None,
    image_size: Annotated[int | None, typer.Option(help="Resize images to SIZE x SIZE on load")] = None,
    profile: Annotated[str, typer.Option(help="paper (GEMCONT Sec. 3.4) or quick")] = "paper",
    encoder: Annotated[str | None, typer.Option(help="cnn (28x28), resnet18, resnet50 or backbone:PATH (frozen .pt2/TorchScript)")] = None,
    geno_encoder: Annotated[str | None, typer.Option(help="linear (GEMCONT) or mlp (ContIG H1)")] = None,
    dim: Annotated[int | None, typer.Option(help="Embedding dimension D")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (profile)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (profile)")] = None,
    lr: Annotated[float | None, typer.Option(help="AdamW learning rate (profile)")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="AdamW weight decay (profile)")] = None,
    warmup_epochs: Annotated[int | None, typer.Option(help="Linear warm-up epochs before the cosine schedule (profile)")] = None,
    augment: Annotated[str | None, typer.Option(help="Comma-separated: rotation, crop, blur, jitter, erasing, flip; 'none' for no augmentation")] = None,
    scarf_p: Annotated[float | None, typer.Option(help="SCARF genotype corruption rate (profile)")] = None,
    temperature: Annotated[float | None, typer.Option(help="Initial CLIP temperature (gemcont 0.07) or NT-Xent temperature (simclr 0.2)")] = None,
    patience: Annotated[int | None, typer.Option(help="Early-stopping patience in epochs (supervised; profile)")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the weights, splits and every random draw")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps")] = "auto",
    workers: Annotated[int, typer.Option(help="DataLoader worker processes for decoding images")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last finished epoch")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar or summary")] = False,
):
    """Train a trait generator on images (and genotypes) and save it in a run directory."""
    _torch_or_fail()
    from gwasrep.models.train import run_train

    aug = None if augment is None else ([] if augment == "none" else _csv(augment))
    prog, update = _train_progress(quiet)
    try:
        res = run_train(method, images, out_dir, image_ids=image_ids, image_size=image_size, bed=bed,
                        panel=panel, split=split, val=val, val_fraction=val_fraction,
                        test_fraction=test_fraction, target=target, target_col=target_col,
                        resume=resume, profile=profile, progress=update, encoder=encoder,
                        geno_encoder=geno_encoder, dim=dim, epochs=epochs, batch_size=batch_size,
                        lr=lr, weight_decay=weight_decay, warmup_epochs=warmup_epochs,
                        augment=aug, scarf_p=scarf_p, temperature=temperature, task=task,
                        patience=patience, seed=seed, device=device, workers=workers)
    finally:
        if prog is not None:
            prog.stop()
    if not quiet:
        last = res.metrics[-1] if res.metrics else None
        if last:
            out.print(f"{res.config.method}: {res.epochs_run} epochs, final train loss "
                      f"{last['train_loss']:.4f}, val loss {last['val_loss']:.4f} -> {res.run_dir}/",
                      highlight=False)
        _print_notes(res.notes)


@app.command()
@cli_errors
def embed(
    run: Annotated[Path, typer.Option(help="Run directory of gwasrep train")],
    images: Annotated[Path, typer.Option(help="Image manifest or .npz/.npy stack")],
    out_path: Annotated[Path, typer.Option("--out", help="Embeddings Parquet (data_specs/embeddings.md)")],
    samples: Annotated[Path | None, typer.Option(help="Embed only these samples (e.g. RUN/test.txt)")] = None,
    representation: Annotated[str, typer.Option(help="projection (the trained embedding) or backbone (features before the projector, as ContIG's GWAS)")] = "projection",
    image_ids: Annotated[Path | None, typer.Option(help="Sample IDs of an .npy stack")] = None,
    image_size: Annotated[int | None, typer.Option(help="Resize images on load (as in training)")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass")] = 256,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps")] = "auto",
    quiet: Annotated[bool, typer.Option(help="No progress bar or summary")] = False,
):
    """Write embeddings of a trained run, one row per sample (images of a sample are averaged)."""
    _torch_or_fail()
    from gwasrep.models.data import read_images
    from gwasrep.models.embed import run_embed

    src = read_images(images, ids=image_ids, image_size=image_size)
    prog, update = _progress(quiet)
    try:
        df, notes = run_embed(run, src, out_path, samples=samples, representation=representation,
                              batch_size=batch_size, device=device,
                              progress=(lambda d, t: update(d, t, "images")) if update else None)
    finally:
        if prog is not None:
            prog.stop()
    if not quiet:
        out.print(f"{len(df):,} samples x {df.shape[1] - 2} dimensions ({representation}) -> "
                  f"{out_path}", highlight=False)
        _print_notes(notes)


@app.command()
@cli_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the demo data and results")] = Path("gwasrep_demo"),
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    n_samples: Annotated[int, typer.Option(help="Samples")] = 2000,
    n_variants: Annotated[int, typer.Option(help="Variants")] = 20_000,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
):
    """Simulate a small cohort with planted multi-trait effects and run `gwasrep assoc` on it."""
    from gwasrep.harness.demo import run_demo

    t0 = time.perf_counter()
    prog, update = _progress(quiet)
    try:
        res = run_demo(out_dir, seed=seed, n_samples=n_samples, n_variants=n_variants,
                       progress=update)
    finally:
        if prog is not None:
            prog.stop()
    c = res.cohort
    out.print(f"simulated {c.n_samples:,} samples x {c.n_variants:,} variants, {c.n_traits} "
              f"embedding dimensions, {len(c.causal_ids)} variants with planted effects -> "
              f"{c.bed.parent}/", highlight=False)
    _print_run(res.run, causal=set(c.causal_ids))
    out.print(f"recovered {res.n_recovered} of {len(c.causal_ids)} planted variants at P < 5e-8; "
              f"{time.perf_counter() - t0:.1f} s in all", highlight=False)
    out.print(f"plots: {res.run.files['manhattan']}  {res.run.files['qq']}", highlight=False)


def _bare_flags(argv: list[str]) -> list[str]:
    """Let ``--lmm`` stand alone for ``--lmm auto``.

    Typer (0.29, on click 8.4) has no option with an optional value, so a
    bare ``--lmm`` (last, or followed by another option) gets its value here.
    """
    out_argv = []
    for i, tok in enumerate(argv):
        out_argv.append(tok)
        if tok == "--lmm" and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            out_argv.append("auto")
    return out_argv


def main() -> None:  # the console script
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    app(args=_bare_flags(sys.argv[1:]), prog_name="gwasrep")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
