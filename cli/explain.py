"""``gwasrep explain``: Integrated Gradients attributions of a ContIG run (needs the torch extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gwasrep_cli._common import (
    Device,
    Quiet,
    cli_errors,
    print_line,
    print_notes,
    progress_bar,
    require_torch,
)


@cli_errors
def explain(
    run: Annotated[Path, typer.Option(help="Run directory of gwasrep train --method contig")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder: local.parquet, global.tsv, modalities.tsv, top_features.png, explain.json (data_specs/explain.md)")],
    reference_batch: Annotated[int, typer.Option(help="Samples in the fixed reference batch each query is appended to, drawn from the training split (ContIG: 1000)")] = 1000,
    samples: Annotated[Path | None, typer.Option(help="Explain only these samples (IID or FID IID per line, e.g. RUN/test.txt); default every sample not in the reference batch")] = None,
    images: Annotated[Path | None, typer.Option(help="Image manifest or .npz/.npy stack, if moved since training (default: the run's)")] = None,
    bed: Annotated[Path | None, typer.Option(help="PLINK 1 fileset prefix, if moved since training (default: the run's)")] = None,
    steps: Annotated[int, typer.Option(help="Integration points of Integrated Gradients")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the reference batch draw")] = 0,
    top: Annotated[int, typer.Option(help="Features shown in top_features.png")] = 30,
    device: Device = "auto",
    quiet: Quiet = False,
):
    """Attribute a ContIG run's contrastive loss to the genetic features (Integrated Gradients)."""
    require_torch()
    from gwasrep.models.explain import ExplainConfig, run_explain

    cfg = ExplainConfig(run=run, out=out_dir, reference_batch=reference_batch, samples=samples,
                        images=images, bed=bed, steps=steps, seed=seed, top=top, device=device)
    with progress_bar(quiet) as progress:
        res = run_explain(cfg, progress=progress)
    if not quiet:
        n_features = len(res.importance)
        print_line(f"{len(res.local):,} samples x {n_features:,} genetic features, reference "
                   f"batch of {len(res.reference_ids):,}, {steps} steps -> {out_dir}/")
        best = res.importance.head(min(5, n_features))
        if len(best):
            print_line("top features: " + ", ".join(
                f"{m}:{f} ({v:.3g})" for m, f, v in zip(best["modality"], best["feature"],
                                                        best["mean_abs_attribution"],
                                                        strict=True)))
        print_notes(res)
