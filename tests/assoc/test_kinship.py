"""GRMs against the definition, with LOCO and the low-rank factor.

The GCTA files are checked in io/test_grm_io.py, plink2 --make-grm-bin in
reference/test_plink2_grm.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from gwasrep.assoc.kinship import compute_grm_parts
from gwasrep.io.plink import open_plink, read_dosages


def grm_from_definition(X: np.ndarray, kind: str) -> np.ndarray:
    """Slow GRM: per variant, mean-impute, centre (and standardize), average z z^T."""
    N, M = X.shape
    K = np.zeros((N, N))
    S = 0
    for j in range(M):
        x = X[:, j].copy()
        obs = np.isfinite(x)
        mean = x[obs].mean()
        if np.var(x[obs]) == 0:
            continue
        z = np.where(obs, x - mean, 0.0)
        if kind == "standardized":
            p = mean / 2
            z /= np.sqrt(2 * p * (1 - p))
        K += np.outer(z, z)
        S += 1
    return K / S


@pytest.mark.parametrize("kind", ["standardized", "centered"])
def test_grm_and_loco_match_definition(small_cohort, kind):
    fs = open_plink(small_cohort.bed)
    samples = np.arange(0, fs.n_samples, 2)
    X = read_dosages(fs, None, samples)
    parts = compute_grm_parts(fs, samples, np.arange(fs.n_variants), kind=kind, maf_min=0.0,
                              max_missing=1.0, loco=True, block_size=700)
    np.testing.assert_allclose(parts.matrix(), grm_from_definition(X, kind), rtol=1e-10,
                               atol=1e-12)
    chrom = fs.bim["CHROM"].to_numpy()
    for c in np.unique(chrom):
        ref = grm_from_definition(X[:, chrom != c], kind)
        np.testing.assert_allclose(parts.matrix(exclude_chrom=c), ref, rtol=1e-10, atol=1e-12)
    # The low-rank path keeps Z itself: Z Z^T is the same matrix.
    low = compute_grm_parts(fs, samples, np.arange(fs.n_variants), kind=kind, maf_min=0.0,
                            max_missing=1.0, keep_z=True)
    Z = low.z_matrix(exclude_chrom="2")
    np.testing.assert_allclose(Z @ Z.T, parts.matrix(exclude_chrom="2"), atol=1e-12)
