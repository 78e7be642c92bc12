"""``gwasrep clump``, ``loci``, ``panel`` and ``meta``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gwasrep_cli._common import QuietSummary, R2Mode, cli_errors, print_line, print_notes


@cli_errors
def clump(
    sumstats: Annotated[Path, typer.Option(help="Summary statistics (Parquet, CSV, or whitespace-separated text) with variant IDs and p-values")],
    bed: Annotated[Path, typer.Option(help="PLINK 1 fileset prefix for LD (founders are used)")],
    out_prefix: Annotated[Path, typer.Option("--out", help="Writes OUT.clumped, OUT.clumped.parquet, OUT.clump_members.parquet")] = Path("gwasrep"),
    p1: Annotated[float, typer.Option(help="Index variant threshold (PLINK --clump-p1)")] = 1e-4,
    p2: Annotated[float, typer.Option(help="Secondary threshold: members with p < p2 are listed in SP2")] = 1e-2,
    r2: Annotated[float, typer.Option(help="A variant joins a clump when r^2 > r2")] = 0.5,
    kb: Annotated[float, typer.Option(help="Window half-width in kb")] = 250.0,
    r2_mode: R2Mode = "em",
    snp_field: Annotated[str, typer.Option(help="Column with the variant IDs")] = "ID",
    p_field: Annotated[str, typer.Option(help="Column with the p-values (e.g. P, P_BONF, P_3)")] = "P",
    quiet: QuietSummary = False,
):
    """LD clumping with PLINK 1.9 --clump semantics (data_specs/clumps.md)."""
    from gwasrep.loci.run import ClumpConfig, run_clump

    res = run_clump(ClumpConfig(sumstats=sumstats, bed=bed, out=out_prefix, p1=p1, p2=p2, r2=r2,
                                kb=kb, r2_mode=r2_mode, snp_field=snp_field, p_field=p_field))
    if not quiet:
        c = res.counts
        print_line(f"{res.n_loci:,} clumps from {c['index_candidates']:,} variants with p <= "
                   f"{p1:g} ({c['variants_with_p']:,} with a valid p, {c['samples']:,} founders, "
                   f"r2 > {r2:g} within {kb:g} kb, {r2_mode} r2) -> {out_prefix}.clumped")
        print_notes(res)


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
    quiet: QuietSummary = False,
):
    """Window loci per method, recovered reference loci and unique loci (data_specs/loci.md)."""
    from gwasrep.loci.run import LociConfig, run_loci

    res = run_loci(LociConfig(sumstats=list(sumstats), out=out_prefix, reference=reference, p=p,
                              bonferroni_dims=bonferroni_dims, window_kb=window_kb,
                              p_field=p_field, names=list(name) if name else None,
                              recovery_r2=recovery_r2, bed=bed))
    if not quiet:
        print_line(f"threshold {p_field} <= {res.threshold:g}, window {window_kb:g} kb")
        print_line(res.table.to_string(index=False))
        print_notes(res)


@cli_errors
def panel(
    sumstats: Annotated[Path, typer.Option(help="External GWAS: ID A1 A2 BETA SE P (and CHROM POS EAF)")],
    bed: Annotated[Path, typer.Option(help="The cohort's PLINK 1 fileset (alleles and LD)")],
    out_path: Annotated[Path, typer.Option("--out", help="Panel Parquet; dropped variants go to OUT-stem.dropped.tsv")] = Path("panel.parquet"),
    p: Annotated[float, typer.Option(help="p-value threshold")] = 1e-5,
    r2: Annotated[float, typer.Option(help="Clumping r^2")] = 0.05,
    kb: Annotated[float, typer.Option(help="Clumping window (kb)")] = 5000.0,
    r2_mode: R2Mode = "em",
    quiet: QuietSummary = False,
):
    """Variant panel: threshold, harmonize to the cohort's A1, clump (data_specs/panel.md)."""
    from gwasrep.loci.run import PanelConfig, run_panel

    res = run_panel(PanelConfig(sumstats=sumstats, bed=bed, out=out_path, p=p, r2=r2, kb=kb,
                                r2_mode=r2_mode))
    if not quiet:
        print_line(f"panel of {len(res.panel):,} variants -> {out_path}; "
                   + ", ".join(f"{k} {v:,}" for k, v in res.counts.items()))
        print_notes(res)


@cli_errors
def meta(
    studies: Annotated[list[Path], typer.Argument(help="Two or more sumstats files (ID A1 A2 BETA SE, optional N EAF)")],
    out_path: Annotated[Path, typer.Option("--out", help="Output .parquet or .tsv")] = Path("meta.parquet"),
    beta_col: Annotated[str | None, typer.Option(help="Effect column (e.g. BETA_3 in gwasrep sumstats)")] = None,
    se_col: Annotated[str | None, typer.Option(help="Standard error column")] = None,
    quiet: QuietSummary = False,
):
    """Fixed-effect inverse-variance meta-analysis with allele harmonization (data_specs/meta.md)."""
    from gwasrep.loci.run import MetaConfig, run_meta

    res = run_meta(MetaConfig(studies=list(studies), out=out_path, beta_col=beta_col,
                              se_col=se_col))
    if not quiet:
        print_line(f"{len(res.table):,} variants meta-analysed from {len(studies)} studies -> "
                   f"{out_path}")
        print_notes(res)
