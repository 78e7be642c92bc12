"""Preprocessing against definitions: Blom INT with averaged ties, PCA, covariate regression."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from gwasrep.assoc.preprocess import (
    inverse_normal_transform,
    pca_project,
    preprocess_embeddings,
    regress_out,
)
from gwasrep.errors import InputError


def test_int_blom_with_averaged_ties():
    x = np.array([[3.0], [1.0], [2.0], [2.0], [10.0]])
    n = 5
    ranks = np.array([4, 1, 2.5, 2.5, 5])
    expect = stats.norm.ppf((ranks - 3 / 8) / (n + 1 / 4))
    np.testing.assert_allclose(inverse_normal_transform(x)[:, 0], expect, rtol=1e-12)


def test_average_ranks_match_scipy():
    from gwasrep.assoc.preprocess import average_ranks

    rng = np.random.default_rng(4)
    for x in (rng.integers(0, 5, 200).astype(float), rng.standard_normal(57), np.ones(6),
              np.array([2.0])):
        np.testing.assert_array_equal(average_ranks(x), stats.rankdata(x, method="average"))


def test_pca_scores_match_covariance_eigendecomposition():
    rng = np.random.default_rng(0)
    E = rng.standard_normal((200, 6)) @ rng.standard_normal((6, 6))
    scores, explained = pca_project(E, 3)
    Ec = E - E.mean(axis=0)
    w, V = np.linalg.eigh(Ec.T @ Ec)
    V = V[:, ::-1][:, :3]
    ref = Ec @ V
    for k in range(3):  # equal up to sign
        s = np.sign(ref[:, k] @ scores[:, k])
        np.testing.assert_allclose(scores[:, k], s * ref[:, k], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(explained, w[::-1][:3] / w.sum(), rtol=1e-10)


def test_regress_out_matches_lstsq():
    rng = np.random.default_rng(1)
    E, F = rng.standard_normal((100, 3)), rng.standard_normal((100, 2))
    X = np.column_stack([np.ones(100), F])
    ref = E - X @ np.linalg.lstsq(X, E, rcond=None)[0]
    np.testing.assert_allclose(regress_out(E, F), ref, atol=1e-12)


def test_default_order_and_switches():
    rng = np.random.default_rng(2)
    E, F = rng.standard_normal((120, 5)), rng.standard_normal((120, 2))
    res = preprocess_embeddings(E, F, n_pcs=3)
    assert res.steps == ["pca:3", "regress_covariates", "inverse_normal_transform"]
    assert res.names == ["PC1", "PC2", "PC3"]
    manual = inverse_normal_transform(regress_out(pca_project(E, 3)[0], F))
    np.testing.assert_allclose(res.E, manual, rtol=1e-12)
    off = preprocess_embeddings(E, F, regress_covariates=False, inverse_normal=False)
    assert off.steps == []
    assert np.array_equal(off.E, E)


def test_too_many_pcs_and_constant_column():
    E = np.random.default_rng(3).standard_normal((50, 4))
    with pytest.raises(InputError, match=r"--pcs 5: expected between 1 and .* \(4\)"):
        preprocess_embeddings(E, n_pcs=5)
    E[:, 2] = 1.0
    with pytest.raises(InputError, match="embedding column c constant"):
        preprocess_embeddings(E, names=["a", "b", "c", "d"])
