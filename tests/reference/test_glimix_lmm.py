"""The multi-trait LMM against glimix-core.

glimix-core's ``Kron2Sum`` is the LIMIX team's maintained Kronecker LMM
(METHODS.md section 1). Its own optimizer often stops short of the optimum
(see ``test_our_fit_is_at_least_as_good_as_glimix_fit``), so the likelihood and
the scan are compared at the same parameters, and optimality of our fit is
checked against glimix's likelihood function. The dense implementation from the
definition is in assoc/test_lmm_definition.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gwasrep.assoc import lmm
from gwasrep.assoc.lmm import fit_lmm_null, make_lmm_scan
from helpers import require_glimix, simulate_lmm

# Small test problems are below GEMMA's N >= 100 D^2 guidance on purpose
# (assoc/test_lmm_definition.py::test_small_n_warning checks that the warning is raised).
pytestmark = pytest.mark.filterwarnings("ignore:N=.*may be unstable:UserWarning")


def _factor(C: np.ndarray) -> np.ndarray:
    """A square factor L with L L^T = C, also for a singular C (an ML optimum on the h2 = 0
    boundary), where a Cholesky factorization may fail on some BLAS builds."""
    try:
        return np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh((C + C.T) / 2)
        return V * np.sqrt(np.clip(w, 0.0, None))


def _set_params(m, Cg, Cn):
    """Put Cg, Cn into a glimix Kron2Sum (it scales G by its largest entry)."""
    D = Cg.shape[0]
    m._cov.C0.L = _factor(Cg * m._G_norm**2)
    m._cov.C1.L = _factor(Cn - m._cov.C1._epsilon * np.eye(D))


@pytest.mark.parametrize("restricted", [False, True])
@pytest.mark.parametrize(("D", "full", "S"), [(2, True, 400), (3, False, 120), (4, True, 400)])
def test_null_and_scan_match_glimix(restricted, D, full, S):
    Kron2Sum = require_glimix()
    N = 300
    Y, F, G, eig, rng = simulate_lmm(11 + D, N, D, S, 1, full=full)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")              # N < 100 D^2 guidance
        null = fit_lmm_null(Y, F[:, 1:], eig, restricted=restricted)
        m = Kron2Sum(Y, np.eye(D), F, G, rank=D, restricted=restricted)
    assert null.converged, null.message
    _set_params(m, null.Cg, null.Cn)
    # L L^T reproduces Cg to rounding (a few ulps of its largest entry).
    np.testing.assert_allclose(m.C0, null.Cg, rtol=1e-12, atol=1e-14 * np.abs(null.Cg).max())
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
    Y, F, G, eig, _ = simulate_lmm(1, 300, 2, 100, 1, full=False)
    null = fit_lmm_null(Y, F[:, 1:], eig)
    m = Kron2Sum(Y, np.eye(2), F, G, rank=2)
    m.fit(verbose=False)
    print(f"glimix fit lml {m.lml():.6f}, ours {null.lml:.6f} "
          f"(starts: {', '.join(f'{v:.6f}' for v in null.start_lmls)})")
    assert null.lml >= m.lml() - 1e-6 * abs(m.lml())
    # Every start reaches the same optimum here.
    assert max(null.start_lmls) - min(null.start_lmls) < 1e-6 * abs(null.lml)
