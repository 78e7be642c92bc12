"""The demo pipeline behind ``gwasrep demo``: simulate a cohort, then run the association engine."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gwasrep.assoc.engine import AssocConfig, AssocRun, run_assoc
from gwasrep.simulate.cohort import SimulatedCohort, simulate_cohort

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    cohort: SimulatedCohort
    run: AssocRun
    #: Planted variants found at P < 5e-8.
    n_recovered: int


def run_demo(out_dir: str | os.PathLike = "gwasrep_demo", *, seed: int = 0,
             n_samples: int = 2000, n_variants: int = 20_000,
             progress: Callable[[int, int], None] | None = None) -> DemoResult:
    """Simulate a cohort (deterministic for a seed) into ``out_dir/data`` and scan it into
    ``out_dir/results``, with 3 covariates, 8 embedding dimensions, 10 planted variants and
    0.5% missing calls."""
    out = Path(out_dir)
    cohort = simulate_cohort(out / "data", n_samples=n_samples, n_variants=n_variants,
                             n_traits=8, n_covariates=3, n_causal=10, missing_rate=0.005,
                             seed=seed, name="demo")
    run = run_assoc(AssocConfig(emb=cohort.emb, bed=cohort.bed, covar=cohort.covar,
                                out=out / "results", overwrite=True), progress=progress)
    import pandas as pd

    ss = pd.read_parquet(run.files["sumstats_parquet"], columns=["ID", "P"])
    hits = set(ss.loc[ss["P"] < 5e-8, "ID"])
    return DemoResult(cohort=cohort, run=run, n_recovered=len(hits & set(cohort.causal_ids)))
