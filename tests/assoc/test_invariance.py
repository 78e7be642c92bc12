"""Invariances of the tests (hypothesis): sample order, trait scale, p-values in [0, 1]."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gwasrep import multitrait_lrt
from helpers import random_design

dims = st.tuples(st.integers(30, 80), st.integers(1, 4), st.integers(0, 3), st.integers(0, 10**6))


@settings(max_examples=40, deadline=None)
@given(dims, st.floats(1e-3, 1e3), st.data())
def test_permutation_and_rescaling_leave_p_unchanged(d, scale, data):
    N, D, K, seed = d
    rng = np.random.default_rng(seed)
    E, G, F = random_design(rng, N, D, max(K, 1), 3)
    F = F[:, :K]
    base = multitrait_lrt(E, G, covariates=F)
    assert np.all((base.p >= 0) & (base.p <= 1))
    assert np.all((base.p_bonf >= 0) & (base.p_bonf <= 1))
    assert np.all((base.p_dim >= 0) & (base.p_dim <= 1))
    perm = rng.permutation(N)
    res = multitrait_lrt(E[perm], G[perm], covariates=F[perm])
    np.testing.assert_allclose(res.p, base.p, rtol=1e-8, atol=1e-300)
    np.testing.assert_allclose(res.p_dim, base.p_dim, rtol=1e-8, atol=1e-300)
    k = data.draw(st.integers(0, D - 1))
    E2 = E.copy()
    E2[:, k] *= scale
    res = multitrait_lrt(E2, G, covariates=F)
    np.testing.assert_allclose(res.p, base.p, rtol=1e-7, atol=1e-300)
    np.testing.assert_allclose(res.beta[:, k], base.beta[:, k] * scale, rtol=1e-7)
