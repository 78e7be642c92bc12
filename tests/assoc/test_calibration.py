"""Null calibration of the multi-trait LRT on a simulated cohort (N=2,000, M=20,000, D=10)."""

from __future__ import annotations

import pandas as pd

from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.run import run_assoc
from gwasrep.assoc.stats import lambda_gc
from gwasrep.simulate import simulate_cohort


def test_null_calibration(tmp_path):
    c = simulate_cohort(tmp_path, n_samples=2000, n_variants=20_000, n_traits=10, n_covariates=3,
                        n_causal=0, trait_corr=0.6, missing_rate=0.005, seed=2024)
    run = run_assoc(AssocConfig(emb=c.emb, bed=c.bed, covar=c.covar, out=tmp_path / "out",
                                plots=False))
    ss = pd.read_parquet(run.files["sumstats_parquet"], columns=["P", "P_BONF"])
    assert len(ss) == 20_000
    lam = lambda_gc(ss["P"])
    frac = float((ss["P"] < 0.01).mean())
    frac_bonf = float((ss["P_BONF"] < 0.01).mean())
    print(f"\nnull N=2000 M=20000 D=10: lambda GC {lam:.4f}, fraction P<0.01 {frac:.5f}, "
          f"fraction P_BONF<0.01 {frac_bonf:.5f} (Bonferroni is conservative)")
    assert 0.95 <= lam <= 1.05
    assert 0.007 <= frac <= 0.013
    assert frac_bonf <= 0.013


def test_lambda_gc_matches_definition():
    import numpy as np
    from scipy import stats

    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 1000, 1001):
        p = rng.random(n) ** 1.3
        p[0] = np.nan
        q = p[np.isfinite(p)]
        ref = np.median(stats.chi2.isf(q, 1)) / stats.chi2.ppf(0.5, 1) if q.size else np.nan
        np.testing.assert_allclose(lambda_gc(p), ref, rtol=1e-10)
