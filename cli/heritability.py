"""``gwasrep ldscore``, ``gwasrep h2`` and ``gwasrep mi``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gwasrep_cli._common import (
    Keep,
    MetaCols,
    Quiet,
    QuietSummary,
    cli_errors,
    csv_list,
    err,
    print_line,
    print_notes,
    progress_bar,
)


@cli_errors
def ldscore(
    bed: Annotated[Path, typer.Option(help="Reference PLINK 1 fileset")],
    out_prefix: Annotated[Path, typer.Option("--out", help="Writes OUT.l2.ldscore.gz, OUT.l2.M, OUT.l2.M_5_50")],
    window_kb: Annotated[float | None, typer.Option(help="Window half-width in kb")] = None,
    window_cm: Annotated[float | None, typer.Option(help="Window half-width in cM (needs CM in the .bim)")] = None,
    ldsc_compat: Annotated[bool, typer.Option("--ldsc-compat", help="ldsc --l2's chunk-rounded windows, per chromosome (to reproduce published LD scores)")] = False,
    chunk_size: Annotated[int, typer.Option(help="ldsc's --chunk-size (with --ldsc-compat)")] = 50,
    quiet: Quiet = False,
):
    """LD scores in LDSC's format (bias-corrected r^2 summed over the window; data_specs/ldscore.md)."""
    from gwasrep.heritability.run import LdscoreConfig, run_ldscore

    cfg = LdscoreConfig(bed=bed, out=out_prefix, window_kb=window_kb, window_cm=window_cm,
                        ldsc_compat=ldsc_compat, chunk_size=chunk_size)
    with progress_bar(quiet) as progress:
        res = run_ldscore(cfg, progress=progress)
    for w in res.warnings:
        err.print(f"warning: {w}", highlight=False)
    if not quiet:
        print_line(f"LD scores of {res.n_variants:,} variants (M_5_50 {res.n_variants_5_50:,}) -> "
                   + ", ".join(str(p) for p in res.files.values()))
        for note in res.notes:
            print_line(f"note: {note}")


@cli_errors
def h2(
    sumstats: Annotated[Path, typer.Option(help="gwasrep sumstats (BETA_k/SE_k and OBS_CT per dimension) or a table with SNP Z N")],
    ref_ld: Annotated[Path, typer.Option(help="LD score prefix (PREFIX.l2.ldscore.gz, PREFIX.l2.M_5_50)")],
    w_ld: Annotated[Path | None, typer.Option(help="Regression-weight LD score prefix (default: --ref-ld)")] = None,
    out_path: Annotated[Path, typer.Option("--out", help="Per-dimension h2 table (TSV)")] = Path("h2.tsv"),
    intercept_h2: Annotated[float | None, typer.Option(help="Fix the intercept at this value")] = None,
    no_intercept: Annotated[bool, typer.Option("--no-intercept", help="Fix the intercept at 1")] = False,
    not_m_5_50: Annotated[bool, typer.Option("--not-M-5-50", help="Use M (all SNPs) instead of M_5_50")] = False,
    n_blocks: Annotated[int, typer.Option(help="Jackknife blocks")] = 200,
    greml: Annotated[Path | None, typer.Option(help="variance_components.tsv of `assoc --lmm` for GREML h2 (default: the one beside --sumstats, if any)")] = None,
    no_greml: Annotated[bool, typer.Option("--no-greml", help="Do not add GREML h2")] = False,
    drop_ambiguous: Annotated[bool, typer.Option(help="Keep only non-ambiguous A/C/G/T SNPs (ldsc munge_sumstats' allele filter); needs A1, A2")] = False,
    quiet: QuietSummary = False,
):
    """LDSC SNP heritability per embedding dimension, as bulik/ldsc --h2 (data_specs/h2.md)."""
    from gwasrep.heritability.run import H2Config, run_h2

    res = run_h2(H2Config(sumstats=sumstats, ref_ld=ref_ld, out=out_path, w_ld=w_ld,
                          intercept=1.0 if no_intercept else intercept_h2,
                          use_m_5_50=not not_m_5_50, n_blocks=n_blocks, greml=greml,
                          add_greml=not no_greml, drop_ambiguous=drop_ambiguous))
    if not quiet:
        print_line(res.table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print_notes(res)


@cli_errors
def mi(
    emb: Annotated[Path, typer.Option(help="Embeddings of held-out samples (data_specs/embeddings.md)")],
    bed: Annotated[Path, typer.Option(help="PLINK 1 fileset of the same samples")],
    out_prefix: Annotated[Path, typer.Option("--out", help="Writes OUT.mi.tsv (per seed) and OUT.mi.json")] = Path("gwasrep_mi"),
    extract: Annotated[Path | None, typer.Option(help="Variants to use: a gwasrep panel / table with ID, or one ID per line")] = None,
    keep: Keep = None,
    meta_cols: MetaCols = None,
    seeds: Annotated[int, typer.Option(help="Number of seeds (split and initialization), 0..SEEDS-1")] = 5,
    estimators: Annotated[str, typer.Option(help="jse, infonce or jse,infonce")] = "jse,infonce",
    geno_dropout: Annotated[float, typer.Option(help="Dropout on the genotype encoder's input (keep it fixed across the methods compared)")] = 0.5,
    quiet: Quiet = False,
):
    """MI (nats) between embeddings and genotypes: JSE discriminator as in GIM, plus InfoNCE (needs torch; data_specs/mi.md)."""
    from gwasrep.mi.run import MIConfig, run_mi

    try:
        from gwasrep.mi.estimator import CriticConfig

        critic = CriticConfig(estimators=tuple(csv_list(estimators) or []),
                              geno_dropout=geno_dropout)
    except ImportError:
        critic = None  # run_mi reports the missing torch
    cfg = MIConfig(emb=emb, bed=bed, out=out_prefix, extract=extract, keep=keep,
                   meta_cols=csv_list(meta_cols), seeds=seeds, critic=critic)
    with progress_bar(quiet) as progress:
        run = run_mi(cfg, progress=progress)
    if not quiet:
        res = run.result
        print_line(f"MI between {res.emb_dim} embedding dimensions and {res.geno_dim:,} "
                   f"variants, {res.n_pairs:,} samples, {len(res.seeds)} seeds (nats):")
        for k, v in res.summary.items():
            print_line(f"  {k:<11} {v['mean']:.4f} ± {v['sd']:.4f}")
        print_notes(run)
        unconv = [f"seed {s.seed} {e}" for s in res.seeds for e, c in s.converged.items() if not c]
        if unconv:
            err.print(f"warning: not converged within {res.config.max_epochs} epochs: "
                      + ", ".join(unconv), highlight=False)
