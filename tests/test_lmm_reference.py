"""The multi-trait LMM against a dense implementation from the definition and glimix-core.

glimix-core's ``Kron2Sum`` is the LIMIX team's maintained Kronecker LMM
(METHODS.md section 1). Its own optimizer often stops short of the optimum
(see ``test_our_fit_is_at_least_as_good_as_glimix_fit``), so the likelihood and
the scan are compared at the same parameters, and optimality of our fit is
checked against glimix's likelihood function.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gwasrep import multitrait_lrt
from gwasrep.assoc import lmm
from gwasrep.assoc.lmm import (
    _lml_terms,
    _rotate,
    eigen_from_kinship,
    eigen_from_standardized,
    fit_lmm_null,
    lmm_lml,
    make_lmm_scan,
)
from helpers import require_glimix

# Small test problems are below GEMMA's N >= 100 D^2 guidance on purpose;
# test_small_n_warning checks that the warning is raised.
pytestmark = pytest.mark.filterwarnings("ignore:N=.*may be unstable:UserWarning")


def simulate(seed: int, N: int, D: int, S: int, n_cov: int, *, full: bool):
    """Traits with genetic (rank S) and noise covariance, plus covariate effects."""
    rng = np.random.default_rng(seed)
    X = rng.binomial(2, rng.uniform(0.1, 0.5, S), size=(N, S)).astype(float)
    Z = (X - X.mean(0)) / X.std(0) / np.sqrt(S)            # K = Z Z^T
    F = np.hstack([np.ones((N, 1)), rng.standard_normal((N, n_cov))])
    A = rng.standard_normal((D, D))
    B = rng.standard_normal((D, D))
    Cg, Cn = A @ A.T / D, B @ B.T / D + 0.2 * np.eye(D)
    Y = (Z @ rng.standard_normal((S, D)) @ np.linalg.cholesky(Cg).T
         + rng.standard_normal((N, D)) @ np.linalg.cholesky(Cn).T
         + 0.3 * F @ rng.standard_normal((n_cov + 1, D)))
    if full:
        eig = eigen_from_kinship(Z @ Z.T)
        G = eig.U * np.sqrt(eig.s)                              # G G^T = K, N x N
    else:
        eig = eigen_from_standardized(Z, scale=1.0)
        G = Z
    return Y, F, G, eig, rng


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
    Y, F, G, eig, rng = simulate(3 + D, N, D, S, 2, full=full)
    K = G @ G.T
    A = rng.standard_normal((D, D))
    Cg, Cn = A @ A.T / D, np.eye(D) * 0.7 + 0.1
    ours = lmm_lml(eig, Y, F, Cg, Cn, restricted=restricted)
    ref = dense_lml(K, Y, F, Cg, Cn, restricted)
    assert ours == pytest.approx(ref, rel=1e-10)
    # Analytic gradient vs central differences of the definition.
    dat = _rotate(eig, Y, F)
    _, Gg, Gn = _lml_terms(dat, Cg, Cn, restricted, grad=True)
    h = 1e-5
    for which, grad in (("g", Gg), ("n", Gn)):
        E = rng.standard_normal((D, D))
        E = E + E.T
        plus = (Cg + h * E, Cn) if which == "g" else (Cg, Cn + h * E)
        minus = (Cg - h * E, Cn) if which == "g" else (Cg, Cn - h * E)
        fd = (dense_lml(K, Y, F, *plus, restricted) - dense_lml(K, Y, F, *minus, restricted))
        assert np.sum(grad * E) == pytest.approx(fd / (2 * h), rel=1e-5, abs=1e-6)


def _set_params(m, Cg, Cn):
    """Put Cg, Cn into a glimix Kron2Sum (it scales G by its largest entry)."""
    D = Cg.shape[0]
    m._cov.C0.L = np.linalg.cholesky(Cg * m._G_norm**2)
    m._cov.C1.L = np.linalg.cholesky(Cn - m._cov.C1._epsilon * np.eye(D))


@pytest.mark.parametrize("restricted", [False, True])
@pytest.mark.parametrize(("D", "full", "S"), [(2, True, 400), (3, False, 120), (4, True, 400)])
def test_null_and_scan_match_glimix(restricted, D, full, S):
    Kron2Sum = require_glimix()
    N = 300
    Y, F, G, eig, rng = simulate(11 + D, N, D, S, 1, full=full)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")              # N < 100 D^2 guidance
        null = fit_lmm_null(Y, F[:, 1:], eig, restricted=restricted)
        m = Kron2Sum(Y, np.eye(D), F, G, rank=D, restricted=restricted)
    assert null.converged, null.message
    _set_params(m, null.Cg, null.Cn)
    np.testing.assert_allclose(m.C0, null.Cg, rtol=1e-12)
    lml_glimix = m.lml()
    print(f"D={D} {'full' if full else 'low'} rank, {'REML' if restricted else 'ML'}: "
          f"lml ours {null.lml:.10f}, glimix at our optimum {lml_glimix:.10f}")
    assert null.lml == pytest.approx(lml_glimix, rel=1e-6)
    # Our optimum is a maximum of glimix's likelihood: no nearby point is better.
    for _ in range(6):
        E = rng.standard_normal((D, D))
        E = 1e-3 * (E + E.T)
        for sign in (1, -1):
            Cg_t, Cn_t = null.Cg + sign * E, null.Cn + sign * E
            if min(np.linalg.eigvalsh(Cg_t)[0], np.linalg.eigvalsh(Cn_t)[0]) <= 0:
                continue
            _set_params(m, Cg_t, Cn_t)
            assert m.lml() <= lml_glimix + 1e-9 * abs(lml_glimix)
    if restricted:
        return
    # The scan: glimix's fast scanner (one free scale, A1 = I_D) vs ours, same Cg and Cn.
    _set_params(m, null.Cg, null.Cn)
    scanner = m.get_fast_scanner()
    Gs = rng.binomial(2, 0.35, size=(N, 40)).astype(float)
    Gs[:, 0] += 0.5 * rng.standard_normal(N)      # a continuous dosage too
    l0 = scanner.null_lml()
    ref = np.array([2 * (scanner.scan(np.eye(D), Gs[:, [j]])["lml"] - l0) for j in range(40)])
    scan = make_lmm_scan(null, Y, F[:, 1:])
    res = lmm.lmm_block_result(scan, Gs, null=null)
    print(f"  scan: max relative LRT difference {np.max(np.abs(res.lrt - ref) / ref):.2e}")
    np.testing.assert_allclose(res.lrt, ref, rtol=1e-6)


# glimix-core (via optimix) passes options that SciPy 1.17 deprecates.
@pytest.mark.filterwarnings("ignore:scipy.optimize.*deprecated:DeprecationWarning")
def test_our_fit_is_at_least_as_good_as_glimix_fit():
    """glimix's own fit, where it succeeds, never beats ours; its best is reported."""
    Kron2Sum = require_glimix()
    Y, F, G, eig, _ = simulate(1, 300, 2, 100, 1, full=False)
    null = fit_lmm_null(Y, F[:, 1:], eig)
    m = Kron2Sum(Y, np.eye(2), F, G, rank=2)
    m.fit(verbose=False)
    print(f"glimix fit lml {m.lml():.6f}, ours {null.lml:.6f} "
          f"(starts: {', '.join(f'{v:.6f}' for v in null.start_lmls)})")
    assert null.lml >= m.lml() - 1e-6 * abs(m.lml())
    # Every start reaches the same optimum here.
    assert max(null.start_lmls) - min(null.start_lmls) < 1e-6 * abs(null.lml)


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
    with pytest.raises(lmm.InputError, match="not positive semi-definite"):
        multitrait_lrt(Y, G, kinship=K)
    K = np.eye(N)
    K[3, 3] = np.nan
    with pytest.raises(lmm.InputError, match="NaN or inf"):
        multitrait_lrt(Y, G, kinship=K)
    with pytest.raises(lmm.InputError, match="expected a square matrix"):
        multitrait_lrt(Y, G, kinship=np.eye(N)[:5])
    with pytest.raises(lmm.InputError, match="too many traits for the LMM"):
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
