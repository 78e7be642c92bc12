"""The multi-trait LMM against a dense implementation from the definition: likelihood and
gradient, low rank vs full rank, per-dimension GLS, bad kinship, warnings, non-convergence.

The comparison with glimix-core is in reference/test_glimix_lmm.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gwasrep import multitrait_lrt
from gwasrep.assoc import lmm
from gwasrep.assoc.lmm import eigen_from_kinship, eigen_from_standardized, fit_lmm_null, lmm_lml
from gwasrep.assoc.lmm.likelihood import lml_terms, rotate
from gwasrep.errors import InputError
from helpers import simulate_lmm

# Small test problems are below GEMMA's N >= 100 D^2 guidance on purpose;
# test_small_n_warning checks that the warning is raised.
pytestmark = pytest.mark.filterwarnings("ignore:N=.*may be unstable:UserWarning")


def dense_lml(K, Y, F, Cg, Cn, restricted):
    """The (RE)ML log-likelihood from the definition, with (ND x ND) matrices."""
    N, D = Y.shape
    V = np.kron(Cg, K) + np.kron(Cn, np.eye(N))
    M = np.kron(np.eye(D), F)
    y = Y.T.ravel()                                             # vec stacks columns
    Vi = np.linalg.inv(V)
    H = M.T @ Vi @ M
    beta = np.linalg.solve(H, M.T @ Vi @ y)
    r = y - M @ beta
    lml = -0.5 * (np.linalg.slogdet(V)[1] + r @ Vi @ r)
    if restricted:
        k = F.shape[1]
        return lml - 0.5 * ((N * D - k * D) * np.log(2 * np.pi) + np.linalg.slogdet(H)[1]
                            - np.linalg.slogdet(M.T @ M)[1])
    return lml - 0.5 * N * D * np.log(2 * np.pi)


@pytest.mark.parametrize("restricted", [False, True])
@pytest.mark.parametrize(("D", "full"), [(1, True), (2, True), (3, False)])
def test_lml_and_gradient_match_dense_definition(restricted, D, full):
    N, S = 50, 30 if not full else 80
    Y, F, G, eig, rng = simulate_lmm(3 + D, N, D, S, 2, full=full)
    K = G @ G.T
    A = rng.standard_normal((D, D))
    Cg, Cn = A @ A.T / D, np.eye(D) * 0.7 + 0.1
    ours = lmm_lml(eig, Y, F, Cg, Cn, restricted=restricted)
    ref = dense_lml(K, Y, F, Cg, Cn, restricted)
    assert ours == pytest.approx(ref, rel=1e-10)
    # Analytic gradient vs central differences of the definition.
    dat = rotate(eig, Y, F)
    _, Gg, Gn = lml_terms(dat, Cg, Cn, restricted, grad=True)
    h = 1e-5
    for which, grad in (("g", Gg), ("n", Gn)):
        E = rng.standard_normal((D, D))
        E = E + E.T
        plus = (Cg + h * E, Cn) if which == "g" else (Cg, Cn + h * E)
        minus = (Cg - h * E, Cn) if which == "g" else (Cg, Cn - h * E)
        fd = (dense_lml(K, Y, F, *plus, restricted) - dense_lml(K, Y, F, *minus, restricted))
        assert np.sum(grad * E) == pytest.approx(fd / (2 * h), rel=1e-5, abs=1e-6)


def test_low_rank_equals_full_rank_on_the_same_kinship():
    rng = np.random.default_rng(5)
    N, S, D = 200, 60, 3
    X = rng.binomial(2, 0.3, size=(N, S)).astype(float)
    Z = (X - X.mean(0)) / X.std(0) / np.sqrt(S)
    Y = rng.standard_normal((N, D)) + Z @ rng.standard_normal((S, D))
    Gs = rng.binomial(2, 0.3, size=(N, 30)).astype(float)
    low = multitrait_lrt(Y, Gs, kinship=eigen_from_standardized(Z, scale=1.0))
    full = multitrait_lrt(Y, Gs, kinship=Z @ Z.T)
    assert low.lmm.eig.kind == "low"
    assert low.lmm.eig.rank == S
    assert full.lmm.eig.kind == "full"
    np.testing.assert_allclose(low.lmm.lml, full.lmm.lml, rtol=1e-8)
    np.testing.assert_allclose(low.lrt, full.lrt, rtol=1e-5)
    np.testing.assert_allclose(low.beta, full.beta, rtol=1e-5)


def test_per_dimension_lmm_matches_gls_from_definition():
    """BETA/SE per dimension: GLS with V_k = Cg_kk K + Cn_kk I and a re-estimated scale."""
    rng = np.random.default_rng(8)
    N, S, D = 150, 300, 2
    X = rng.binomial(2, 0.3, size=(N, S)).astype(float)
    Z = (X - X.mean(0)) / X.std(0) / np.sqrt(S)
    K = Z @ Z.T
    Y = rng.standard_normal((N, D)) + Z @ rng.standard_normal((S, D))
    g = rng.binomial(2, 0.4, size=N).astype(float)
    res = multitrait_lrt(Y, g[:, None], kinship=K)
    null = res.lmm
    for k in range(D):
        V = null.Cg[k, k] * K + null.Cn[k, k] * np.eye(N)
        Vi = np.linalg.inv(V)
        Xd = np.column_stack([np.ones(N), g])
        cov = np.linalg.inv(Xd.T @ Vi @ Xd)
        b = cov @ Xd.T @ Vi @ Y[:, k]
        r = Y[:, k] - Xd @ b
        sigma2 = r @ Vi @ r / (N - 2)
        assert res.beta[0, k] == pytest.approx(b[1], rel=1e-8)
        assert res.se[0, k] == pytest.approx(np.sqrt(sigma2 * cov[1, 1]), rel=1e-8)


def test_bad_kinship_and_too_many_traits():
    rng = np.random.default_rng(0)
    N = 40
    Y = rng.standard_normal((N, 2))
    G = rng.binomial(2, 0.3, size=(N, 3)).astype(float)
    K = np.eye(N)
    K[0, 1] = K[1, 0] = 2.0                            # not PSD
    with pytest.raises(InputError, match="not positive semi-definite"):
        multitrait_lrt(Y, G, kinship=K)
    K = np.eye(N)
    K[3, 3] = np.nan
    with pytest.raises(InputError, match="NaN or inf"):
        multitrait_lrt(Y, G, kinship=K)
    with pytest.raises(InputError, match="expected a square matrix"):
        multitrait_lrt(Y, G, kinship=np.eye(N)[:5])
    with pytest.raises(InputError, match="too many traits for the LMM"):
        fit_lmm_null(rng.standard_normal((12, 10)), None, eigen_from_kinship(np.eye(12)))


def test_small_n_warning():
    rng = np.random.default_rng(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match=r"N=100 < 100 D\^2 = 400"):
            fit_lmm_null(rng.standard_normal((100, 2)), None, eigen_from_kinship(np.eye(100)))


def test_nonconvergence_is_reported_with_the_last_state():
    rng = np.random.default_rng(1)
    N = 200
    X = rng.binomial(2, 0.3, size=(N, 300)).astype(float)
    Z = (X - X.mean(0)) / X.std(0) / np.sqrt(300)
    Y = rng.standard_normal((N, 2)) + Z @ rng.standard_normal((300, 2))
    null = fit_lmm_null(Y, None, eigen_from_kinship(Z @ Z.T), maxiter=2, n_starts=1)
    assert not null.converged
    msg = lmm.describe_nonconvergence(null)
    for part in ("did not converge", "lml=", "--allow-nonconverged"):
        assert part in msg
