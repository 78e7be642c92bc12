"""The multi-trait LRT and per-dimension tests against references written from the definitions."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import optimize, stats

from gwasrep import multitrait_lrt
from gwasrep.assoc.engine.lut import packed_crossprod
from gwasrep.assoc.linear import block_moments_dense, block_moments_from_packed, fit_null
from gwasrep.io._bed_kernels import encode_bed
from helpers import random_design


def _mvn_loglik(E, X, B, C):
    """sum_i log N(E_i; X_i B, C), straight from scipy."""
    mean = X @ B
    return float(np.sum([stats.multivariate_normal.logpdf(E[i], mean[i], C)
                         for i in range(E.shape[0])]))


def _gls(E, X, C):
    """GLS of vec(E) on (I_D kron X) with covariance C kron I_N, as dense algebra."""
    N, D = E.shape
    Vinv = np.kron(np.linalg.inv(C), np.eye(N))
    Z = np.kron(np.eye(D), X)
    y = E.T.reshape(-1)  # vec(E), column-major
    b = np.linalg.solve(Z.T @ Vinv @ Z, Z.T @ Vinv @ y)
    return b.reshape(D, X.shape[1]).T


def slow_lrt(E, g, F):
    """LRT from the likelihood: C = C0 (ML) under the null, C = s C0 under the alternative."""
    N, D = E.shape
    X0 = np.column_stack([np.ones(N), F])
    A0 = np.linalg.lstsq(X0, E, rcond=None)[0]
    R0 = E - X0 @ A0
    C0 = R0.T @ R0 / N
    lml0 = _mvn_loglik(E, X0, A0, C0)
    X1 = np.column_stack([X0, g])

    def neg_profile(log_s):
        C = np.exp(log_s) * C0
        return -_mvn_loglik(E, X1, _gls(E, X1, C), C)

    opt = optimize.minimize_scalar(neg_profile, bounds=(-3, 1), method="bounded",
                                   options={"xatol": 1e-12})
    return 2 * (-opt.fun - lml0), lml0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lrt_matches_likelihood_reference(seed):
    rng = np.random.default_rng(seed)
    N, D, K = 40, 3, 2
    E, G, F = random_design(rng, N, D, K, 4)
    res = multitrait_lrt(E, G, covariates=F)
    for j in range(G.shape[1]):
        lrt, lml0 = slow_lrt(E, G[:, j], F)
        np.testing.assert_allclose(res.lrt[j], lrt, rtol=1e-8)
        np.testing.assert_allclose(res.lml0, lml0, rtol=1e-10)
        np.testing.assert_allclose(res.p[j], stats.chi2.sf(lrt, D), rtol=1e-6)


def test_per_dimension_matches_statsmodels_with_imputation():
    rng = np.random.default_rng(3)
    N, D, K = 150, 3, 2
    E, G, F = random_design(rng, N, D, K, 5)
    G[rng.random(G.shape) < 0.05] = np.nan
    res = multitrait_lrt(E, G, covariates=F)
    for j in range(G.shape[1]):
        g = np.where(np.isnan(G[:, j]), np.nanmean(G[:, j]), G[:, j])
        X = sm.add_constant(np.column_stack([F, g]))
        for k in range(D):
            fit = sm.OLS(E[:, k], X).fit()
            np.testing.assert_allclose(res.beta[j, k], fit.params[-1], rtol=1e-9)
            np.testing.assert_allclose(res.se[j, k], fit.bse[-1], rtol=1e-9)
            np.testing.assert_allclose(res.p_dim[j, k], fit.pvalues[-1], rtol=1e-7)
        assert res.p_bonf[j] == pytest.approx(min(1.0, D * res.p_dim[j].min()), rel=1e-12)
        assert res.obs_ct[j] == np.isfinite(G[:, j]).sum()


@pytest.mark.parametrize("K", [2, 3])  # D + K - 1 = 4 or 5 columns (odd: a last single pass)
def test_packed_kernel_matches_dense_path_with_sample_subset(K):
    rng = np.random.default_rng(5)
    n_fam, M, D = 157, 23, 3  # M not a multiple of 4
    codes = rng.binomial(2, rng.uniform(0.05, 0.5, M), size=(n_fam, M)).astype(np.int8)
    codes[rng.random(codes.shape) < 0.03] = -1
    codes[:, 3] = 0                       # monomorphic
    codes[:, 4] = -1                      # all missing
    packed = np.zeros((M, (n_fam + 3) // 4), np.uint8)
    encode_bed(codes, packed)
    used = np.sort(rng.choice(n_fam, size=120, replace=False))
    Gf = codes[used].astype(float)
    Gf[codes[used] < 0] = np.nan
    E = rng.standard_normal((len(used), D))
    null = fit_null(E, rng.standard_normal((len(used), K)))
    n_pad = packed.shape[1] * 4
    XT = np.zeros((null.design.shape[1], n_pad))
    XT[:, used] = null.design.T
    mask = np.zeros(n_pad)
    mask[used] = 1.0
    c = XT.shape[0]
    u, s1, s2, nm = np.empty((M, c)), np.empty(M), np.empty(M), np.empty(M)
    sm_ = np.zeros((M, c))
    byte_full = mask.reshape(-1, 4).min(axis=1) > 0
    packed_crossprod(packed, XT, mask, byte_full, u, s1, s2, nm, sm_)
    fast = block_moments_from_packed(u, s1, s2, nm, sm_, null.design.sum(axis=0), len(used))
    dense = block_moments_dense(null, Gf)
    ok = dense.obs_ct > 0
    np.testing.assert_allclose(fast.gX[ok], dense.gX[ok], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fast.gg[ok], dense.gg[ok], rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(fast.obs_ct, dense.obs_ct)
    np.testing.assert_allclose(fast.a1_freq[ok], dense.a1_freq[ok], rtol=1e-12)


def test_untested_variants_are_reported_not_nan_rows():
    rng = np.random.default_rng(8)
    N = 300
    E = rng.standard_normal((N, 2))
    F = rng.standard_normal((N, 1))
    G = rng.binomial(2, 0.3, size=(N, 6)).astype(float)
    G[:, 1] = 2.0                                   # monomorphic
    G[:, 2] = np.nan                                # all missing
    G[: N // 2, 3] = np.nan                         # 50% missing
    G[:, 4] = 0.0
    G[7, 4] = 1.0                                   # MAF 1/600 < 0.01
    G[:, 5] = 3.0 * F[:, 0] + 1.0                   # collinear with a covariate
    res = multitrait_lrt(E, G, covariates=F, maf=0.01, geno=0.2)
    assert list(res.reason) == ["", "monomorphic", "all_missing", "geno", "maf",
                                "collinear_with_covariates"]
    assert np.isfinite(res.p[0])
    assert np.isnan(res.p[1:]).all()
    assert list(res.tested) == [True] + [False] * 5
