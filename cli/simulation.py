"""``gwasrep demo``, ``gwasrep simulate-emnist`` and ``gwasrep evaluate``: the harness."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

from gwasrep_cli._common import (
    Device,
    Quiet,
    Seed,
    cli_errors,
    csv_list,
    print_line,
    print_notes,
    progress_bar,
    require_torch,
)
from gwasrep_cli.association import print_run


@cli_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the demo data and results")] = Path("gwasrep_demo"),
    seed: Seed = 0,
    n_samples: Annotated[int, typer.Option(help="Samples")] = 2000,
    n_variants: Annotated[int, typer.Option(help="Variants")] = 20_000,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
):
    """Simulate a small cohort with planted multi-trait effects and run `gwasrep assoc` on it."""
    from gwasrep.harness.run import DemoConfig, run_demo

    t0 = time.perf_counter()
    with progress_bar(quiet) as progress:
        res = run_demo(DemoConfig(out=out_dir, seed=seed, n_samples=n_samples,
                                  n_variants=n_variants), progress=progress)
    c = res.cohort
    print_line(f"simulated {c.n_samples:,} samples x {c.n_variants:,} variants, {c.n_traits} "
               f"embedding dimensions, {len(c.causal_ids)} variants with planted effects -> "
               f"{c.bed.parent}/")
    print_run(res.run, causal=set(c.causal_ids))
    print_line(f"recovered {res.n_recovered} of {len(c.causal_ids)} planted variants at "
               f"P < 5e-8; {time.perf_counter() - t0:.1f} s in all")
    print_line(f"plots: {res.run.files['manhattan']}  {res.run.files['qq']}")


def _parse_vary(items: list[str] | None) -> dict[str, list]:
    """``["n_train=1000,2000", "h_g=0.2,0.8"]`` -> ``{"n_train": [1000, 2000], ...}``."""
    from gwasrep.errors import InputError
    from gwasrep.simulate.emnist import SETTING_FACTORS

    out: dict[str, list] = {}
    for item in items or []:
        factor, sep, values = item.partition("=")
        factor = factor.strip()
        if not sep or not values.strip():
            raise InputError(f"--vary {item}: expected FACTOR=v1,v2,... (e.g. n_train=10000,50000)")
        if factor not in SETTING_FACTORS:
            raise InputError(f"--vary {item}: unknown factor {factor!r}; expected one of "
                             f"{', '.join(SETTING_FACTORS)}")
        parse = SETTING_FACTORS[factor]
        try:
            out[factor] = [parse(v.strip().replace("_", "")) for v in values.split(",")
                           if v.strip()]
        except ValueError:
            raise InputError(f"--vary {item}: the values of {factor} must be "
                             f"{'integers' if parse is int else 'numbers'}") from None
    return out


def _maf_range(text: str | None) -> tuple[float, float] | None:
    from gwasrep.errors import InputError

    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--maf-range {text}: expected two numbers LOW,HIGH (e.g. "
                         "0.05,0.5)") from None
    return lo, hi


@cli_errors
def simulate_emnist(
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder: results, figure, cells, data (data_specs/simulation.md)")] = Path("gwasrep_simulation"),
    profile: Annotated[str, typer.Option(help="smoke (about a minute), quick (all eight methods, ~1.5 h on a 2-core CPU with --jobs 2) or paper (GEMCONT's sizes; a GPU run)")] = "quick",
    methods: Annotated[str | None, typer.Option(help="Comma-separated trait generators (default: the profile's)")] = None,
    seeds: Annotated[int | None, typer.Option(help="Training seeds per setting (the test set is fixed)")] = None,
    vary: Annotated[list[str] | None, typer.Option(help="FACTOR=v1,v2,...: vary one factor around the default (repeat for several); factors n_train, n_test, h_g, alpha_max, n_causal, n_null, external_n, panel_null, c")] = None,
    emnist_dir: Annotated[Path | None, typer.Option(help="Folder with the EMNIST byclass IDX files (.gz or torchvision's EMNIST/raw); default: the embedded stand-in")] = None,
    image_pool: Annotated[Path | None, typer.Option(help="Any image set instead: .npz with images (N x H x W uint8) and labels")] = None,
    n_train: Annotated[int | None, typer.Option(help="Training images")] = None,
    n_test: Annotated[int | None, typer.Option(help="Test images (fixed across seeds and methods)")] = None,
    h_g: Annotated[float | None, typer.Option(help="Variance of z explained by the causal variants, (0, 1]")] = None,
    alpha_max: Annotated[float | None, typer.Option(help="Largest rotation in degrees, (0, 180]")] = None,
    n_causal: Annotated[int | None, typer.Option(help="S, the causal variants")] = None,
    maf_range: Annotated[str | None, typer.Option(help="LOW,HIGH: allele frequencies drawn uniformly, in (0, 0.5]")] = None,
    null_variants: Annotated[int | None, typer.Option(help="Variants with no effect, tested alongside (false positives)")] = None,
    external_n: Annotated[int | None, typer.Option(help="External GWAS cohort size (the panel's BETA)")] = None,
    panel_null: Annotated[int | None, typer.Option(help="Null variants in the panel")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs (profile)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (profile)")] = None,
    dim: Annotated[int | None, typer.Option(help="Embedding dimension (profile)")] = None,
    pcs: Annotated[int | None, typer.Option(help="Principal components of the embeddings tested (profile)")] = None,
    device: Device = "auto",
    jobs: Annotated[int, typer.Option(help="Cells at once in local processes")] = 1,
    dask_scheduler: Annotated[str | None, typer.Option(help="Run the cells on this dask.distributed scheduler (workers must see --out)")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads per cell (default: cores / jobs)")] = None,
    data_seed: Annotated[int, typer.Option(help="Seed of the simulated world (effects, frequencies, test set)")] = 0,
    quiet: Quiet = False,
):
    """GEMCONT's simulation benchmark: planted genetic rotations, every trait generator, one GWAS engine."""
    require_torch()
    from gwasrep.harness.run import SimulationConfig, run_simulation

    cfg = SimulationConfig(out=out_dir, profile=profile, methods=csv_list(methods), seeds=seeds,
                           vary=_parse_vary(vary), emnist_dir=emnist_dir, image_pool=image_pool,
                           n_train=n_train, n_test=n_test, h_g=h_g, alpha_max=alpha_max,
                           n_causal=n_causal, maf_range=_maf_range(maf_range),
                           n_null=null_variants, external_n=external_n, panel_null=panel_null,
                           epochs=epochs, batch_size=batch_size, dim=dim, pcs=pcs,
                           device=device, jobs=jobs, dask_scheduler=dask_scheduler,
                           threads=threads, data_seed=data_seed)
    with progress_bar(quiet) as progress:
        res = run_simulation(cfg, progress=progress)
    if not quiet:
        print_notes(res)
        s = res.summary
        for r in s.itertuples():
            where = "default" if r.factor == "default" else f"{r.factor}={r.value}"
            print_line(f"{where:<18} {r.method:<12} R2(z) {r.r2_z_mean:.3f}  causal recovered "
                       f"{r.frac_causal_P_mean:.2f} (P) {r.frac_causal_P_BONF_mean:.2f} (P_BONF)"
                       f"  null hits {r.null_hits_P_mean:.1f}  over {r.n_seeds} seed(s)")
        print_line(f"{res.n_cells} cells ({res.n_reused} reused) -> "
                   + ", ".join(str(p) for p in res.files.values()))


def _named_paths(items: list[str] | None) -> dict[str, Path]:
    from gwasrep.errors import InputError

    out: dict[str, Path] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise InputError(f"--emb {item}: expected NAME=PATH (e.g. gemcont=emb.parquet)")
        if name.strip() in out:
            raise InputError(f"--emb {item}: the name {name.strip()!r} is given twice")
        out[name.strip()] = Path(path.strip())
    return out


@cli_errors
def evaluate(
    emb: Annotated[list[str], typer.Option(help="NAME=PATH of each method's embeddings (repeat the option)")],
    bed: Annotated[Path, typer.Option(help="The cohort's PLINK 1 fileset")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder (data_specs/evaluation.md)")] = Path("gwasrep_evaluation"),
    covar: Annotated[Path | None, typer.Option(help="Covariates table; data_specs/covariates.md")] = None,
    covar_cols: Annotated[str | None, typer.Option(help="Comma-separated covariate columns to use")] = None,
    pcs: Annotated[int, typer.Option(help="Principal components of each method's embeddings tested")] = 10,
    int_: Annotated[bool, typer.Option("--int/--no-int", help="Rank-based inverse normal transform (Blom)")] = True,
    keep: Annotated[Path | None, typer.Option(help="Use only these samples (FID IID or IID per line)")] = None,
    reference: Annotated[Path | None, typer.Option(help="The reference (disease) GWAS's independent loci: ID (and CHROM, POS)")] = None,
    labels: Annotated[Path | None, typer.Option(help="sample_id and binary label columns (and --biomarker) for disease prediction")] = None,
    label_cols: Annotated[str | None, typer.Option(help="Comma-separated label columns (default: every other column)")] = None,
    biomarker: Annotated[str | None, typer.Option(help="Column of --labels with a clinical biomarker (e.g. fev1_fvc), predicted alone for comparison")] = None,
    panel: Annotated[Path | None, typer.Option(help="Variant panel (ID, A1, BETA) for the PRS-only model")] = None,
    clump_p: Annotated[float, typer.Option(help="Clumping p-value threshold (GEMCONT: 5e-8)")] = 5e-8,
    clump_r2: Annotated[float, typer.Option(help="Clumping r^2 (GEMCONT: 0.05)")] = 0.05,
    clump_kb: Annotated[float, typer.Option(help="Clumping window in kb (GEMCONT: 5000)")] = 5000.0,
    window_kb: Annotated[float, typer.Option(help="Window of the unique-loci comparison")] = 250.0,
    ref_ld: Annotated[Path | None, typer.Option(help="LD score prefix: add LDSC h2 per dimension")] = None,
    mi: Annotated[bool, typer.Option("--mi", help="Estimate MI between each method's embeddings and the genotypes (needs torch)")] = False,
    mi_extract: Annotated[Path | None, typer.Option(help="Variants for the MI estimate (e.g. a panel)")] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds of the AUC")] = 5,
    logistic_c: Annotated[float, typer.Option(help="Inverse L2 penalty of the logistic regressions")] = 1.0,
    threads: Annotated[int, typer.Option(help="Local threads of the GWAS")] = os.cpu_count() or 1,
    quiet: Quiet = False,
):
    """Compare trait generators on a real cohort: GWAS loci, reference loci found, disease prediction (GEMCONT Figs. 3-4)."""
    from gwasrep.harness.run import EvaluateConfig, run_evaluate

    cfg = EvaluateConfig(embeddings=_named_paths(emb), bed=bed, out=out_dir, covar=covar,
                         covar_cols=csv_list(covar_cols), pcs=pcs, inverse_normal=int_,
                         keep=keep, reference=reference, labels=labels,
                         label_cols=csv_list(label_cols), biomarker=biomarker, panel=panel,
                         clump_p=clump_p, clump_r2=clump_r2, clump_kb=clump_kb,
                         window_kb=window_kb, ref_ld=ref_ld, mi=mi, mi_extract=mi_extract,
                         folds=folds, logistic_c=logistic_c, threads=threads)
    with progress_bar(quiet) as progress:
        res = run_evaluate(cfg, progress=progress)
    if not quiet:
        print_line(res.table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        if len(res.prediction):
            print_line(res.prediction.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print_notes(res)
        print_line("outputs: " + ", ".join(str(p) for p in res.files.values()))
