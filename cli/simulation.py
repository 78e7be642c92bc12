"""``gwasrep demo`` (and, next, ``simulate-emnist`` and ``evaluate``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from gwasrep_cli._common import Quiet, Seed, cli_errors, print_line, progress_bar
from gwasrep_cli.association import print_run


@cli_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the demo data and results")] = Path("gwasrep_demo"),
    seed: Seed = 0,
    n_samples: Annotated[int, typer.Option(help="Samples")] = 2000,
    n_variants: Annotated[int, typer.Option(help="Variants")] = 20_000,
    quiet: Quiet = False,
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
