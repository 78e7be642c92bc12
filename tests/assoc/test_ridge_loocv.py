"""``--lmm ridge --ridge-loocv``: REGENIE step 1 with leave-one-out cross-validation.

The closed forms (the hat-matrix identity at level 0, Sherman-Morrison at level 1) are
checked against the definition: for every sample, the ridge refitted without it predicts
it. The file engine equals the array API. Against BOLT-LMM: reference/test_bolt_ridge.py.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from gwasrep import multitrait_lrt, preprocess_embeddings
from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.relatives import find_relatives
from gwasrep.assoc.ridge import fit_level1, fit_loco_predictions, level0_block, ridge_penalties
from gwasrep.assoc.run import run_assoc
from gwasrep.errors import ResumeError
from gwasrep.io import open_plink, read_dosages, read_embeddings
from gwasrep.simulate.families import simulate_sibships


def _ridge(X, y, lam):
    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y)


def test_level0_leave_one_out_equals_refitting_without_each_sample():
    rng = np.random.default_rng(1)
    N, B, D = 40, 12, 2
    Z = rng.standard_normal((N, B))
    Y = rng.standard_normal((N, D))
    pen = ridge_penalties(60, (0.1, 0.5, 0.9))
    got = level0_block(Z, Y, None, pen, dtype=np.float64)
    want = np.empty_like(got)
    for i in range(N):
        keep = np.arange(N) != i
        for r, lam in enumerate(pen):
            want[:, r, i] = Z[i] @ _ridge(Z[keep], Y[keep], lam)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # And the K-fold code with every sample its own fold (the same definition).
    folds = level0_block(Z, Y, [(i, i + 1) for i in range(N)], pen, dtype=np.float64)
    np.testing.assert_allclose(got, folds, rtol=1e-10, atol=1e-12)


def test_level1_leave_one_out_equals_refitting_without_each_sample():
    """LOCO prediction of sample i for chromosome c: the level-1 ridge refitted without i,
    its coefficients of the predictors off c, on i's standardized predictors; the penalty
    is the grid value with the best pooled leave-one-out R^2."""
    rng = np.random.default_rng(2)
    N, P = 50, 12
    W = rng.standard_normal((P, N)) + rng.standard_normal(N) * 0.5
    y = W[:4].sum(axis=0) * 0.3 + rng.standard_normal(N)
    column_chrom = np.repeat([0, 1, 2], 4)
    pen = np.array([0.5, 5.0, 50.0])
    fit = fit_level1(W, y, None, pen, column_chrom, 3)

    Ws = (W - W.mean(axis=1, keepdims=True)) / W.std(axis=1, keepdims=True)
    loo = np.empty((pen.size, N))
    loco = np.empty((pen.size, 3, N))
    for i in range(N):
        keep = np.arange(N) != i
        for r, lam in enumerate(pen):
            beta = _ridge(Ws[:, keep].T, y[keep], lam)
            loo[r, i] = Ws[:, i] @ beta
            for c in range(3):
                off = column_chrom != c
                loco[r, c, i] = Ws[off, i] @ beta[off]
    r2 = 1 - ((y - loo) ** 2).sum(axis=1) / ((y - y.mean()) ** 2).sum()
    np.testing.assert_allclose(fit.r2, r2, rtol=1e-10)
    assert fit.best == int(np.argmax(r2))
    np.testing.assert_allclose(fit.prediction, loo[fit.best], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fit.loco, loco[fit.best], rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """400 unrelated samples and 100 sib pairs, 2,000 variants on 2 chromosomes, 2 traits."""
    d = tmp_path_factory.mktemp("loocv")
    sizes = np.r_[np.ones(400, dtype=int), np.full(100, 2)]
    return simulate_sibships(d, n_families=sizes.size, n_sibs=sizes, n_variants=2000,
                             n_chrom=2, n_traits=2, h2=0.6, causal_frac=0.05, seed=8)


def _cfg(c, out, **kw):
    return AssocConfig(emb=c.emb, bed=c.bed, out=out, plots=False, lmm="ridge",
                       ridge_loocv=True, ridge_block_size=250, **kw)


@pytest.fixture(scope="module")
def reference(cohort, tmp_path_factory):
    run = run_assoc(_cfg(cohort, tmp_path_factory.mktemp("ref"), threads=2))
    return pd.read_parquet(run.files["sumstats_parquet"]), run


def test_engine_equals_array_api(cohort, reference):
    ss, run = reference
    fs = open_plink(cohort.bed)
    emb = read_embeddings(cohort.emb)
    pre = preprocess_embeddings(emb.values, names=emb.columns)
    G = read_dosages(fs)
    chrom = fs.bim["CHROM"].to_numpy()
    loco = fit_loco_predictions(pre.E, G, chrom, block_size=250, maf_min=0.01, loocv=True)
    res = multitrait_lrt(pre.E, G, loco=loco, chrom=chrom, relatives=find_relatives(G))
    assert len(ss) == res.tested.sum()
    np.testing.assert_allclose(-np.log10(ss["P"]), -np.log10(res.p[res.tested]), rtol=1e-6)
    np.testing.assert_allclose(ss["BETA_1"], res.beta[res.tested, 0], rtol=1e-6, atol=1e-9)
    meta = json.loads(run.files["run_json"].read_text())["null_model"]
    assert meta["cross_validation"] == "leave-one-out"
    assert meta["n_folds"] == 600
    assert [meta["level1"][n]["h2"] for n in pre.names] == [loco.h2_grid[b] for b in loco.best]
    # Not the 5-fold predictions.
    five = fit_loco_predictions(pre.E, G, chrom, block_size=250, maf_min=0.01)
    assert np.abs(five.loco - loco.loco).max() > 1e-3
    assert "leave-one-out cross-validation" in (run.out / "report.md").read_text()


def test_threads_dask_and_resume_give_identical_sumstats(cohort, reference, tmp_path):
    """Level 0 runs on one BLAS thread per block whatever the executor: a BLAS product's
    last bits can depend on its thread count, and the eigendecomposition of leave-one-out
    shows it in the float32 predictions."""
    from distributed import LocalCluster

    ss, _ = reference
    one = run_assoc(_cfg(cohort, tmp_path / "one", threads=1))
    pd.testing.assert_frame_equal(pd.read_parquet(one.files["sumstats_parquet"]), ss,
                                  check_exact=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        run = run_assoc(_cfg(cohort, tmp_path / "dask",
                             dask_scheduler=cluster.scheduler_address))
    pd.testing.assert_frame_equal(pd.read_parquet(run.files["sumstats_parquet"]), ss,
                                  check_exact=True)

    out = tmp_path / "resumed"

    def stop(done, total, name, **_):
        if name == "ridge level 0" and done >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_assoc(_cfg(cohort, out, threads=2), progress=stop)
    with pytest.raises(ResumeError, match="settings changed .*ridge_loocv"):
        run_assoc(replace(_cfg(cohort, out, threads=2, resume=True), ridge_loocv=False))
    run = run_assoc(_cfg(cohort, out, threads=1, resume=True))
    pd.testing.assert_frame_equal(pd.read_parquet(run.files["sumstats_parquet"]), ss,
                                  check_exact=True)
