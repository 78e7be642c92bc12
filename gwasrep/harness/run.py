"""Runner of ``gwasrep demo``: simulate a cohort, then run the association engine on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.run import AssocRun, run_assoc
from gwasrep.runs import Progress, RunResult
from gwasrep.simulate.cohort import SimulatedCohort, simulate_cohort

__all__ = ["DemoConfig", "DemoResult", "run_demo"]


@dataclass
class DemoConfig:
    """``gwasrep demo``: a small simulated cohort with planted multi-trait effects."""

    #: Folder for the demo data (``out/data``) and results (``out/results``).
    out: Path = Path("gwasrep_demo")
    seed: int = 0
    n_samples: int = 2000
    n_variants: int = 20_000


@dataclass(kw_only=True)
class DemoResult(RunResult):
    cohort: SimulatedCohort
    run: AssocRun
    #: Planted variants found at P < 5e-8.
    n_recovered: int


def run_demo(cfg: DemoConfig, *, progress: Progress | None = None) -> DemoResult:
    """Simulate a cohort (deterministic for a seed) into ``out/data`` and scan it into
    ``out/results``, with 3 covariates, 8 embedding dimensions, 10 planted variants and
    0.5% missing calls."""
    out = Path(cfg.out)
    cohort = simulate_cohort(out / "data", n_samples=cfg.n_samples, n_variants=cfg.n_variants,
                             n_traits=8, n_covariates=3, n_causal=10, missing_rate=0.005,
                             seed=cfg.seed, name="demo")
    run = run_assoc(AssocConfig(emb=cohort.emb, bed=cohort.bed, covar=cohort.covar,
                                out=out / "results", overwrite=True), progress=progress)
    ss = pd.read_parquet(run.files["sumstats_parquet"], columns=["ID", "P"])
    hits = set(ss.loc[ss["P"] < 5e-8, "ID"])
    return DemoResult(cohort=cohort, run=run, n_recovered=len(hits & set(cohort.causal_ids)),
                      files=run.files, notes=run.notes)
