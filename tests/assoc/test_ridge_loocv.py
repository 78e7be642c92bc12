"""``--lmm ridge --ridge-loocv``: REGENIE step 1 with leave-one-out cross-validation.

The closed forms (the hat-matrix identity at level 0, Sherman-Morrison at level 1) are
checked against the definition: for every sample, the ridge refitted without it predicts
it. The file engine (equal to the array API, identical under every executor and after a
resume): test_ridge_engine.py; against BOLT-LMM: reference/test_bolt_ridge.py.
"""

from __future__ import annotations

import numpy as np

from gwasrep.assoc.ridge import fit_level1, level0_block, ridge_penalties


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
