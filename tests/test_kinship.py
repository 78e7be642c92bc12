"""GRMs: the definition, LOCO, GCTA files, and plink2 --make-grm-bin on the same .bed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gwasrep.assoc.kinship import compute_grm_parts, make_grm
from gwasrep.errors import InputError
from gwasrep.io.grm import read_grm, write_grm
from gwasrep.io.plink import open_plink, read_dosages
from helpers import require_tool, run_tool


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


def test_grm_matches_plink2_make_grm_bin(hs1940, tmp_path):
    """Same .bed, same variants: gwasrep's GCTA files equal plink2's."""
    plink2 = require_tool("plink2")
    prefix = hs1940["prefix"]
    run_tool([plink2, "--bfile", str(prefix), "--maf", "0.01", "--nonfounders",
              "--write-snplist", "--make-grm-bin", "--out", str(tmp_path / "p2")], cwd=tmp_path)
    K2, ids2, n2 = read_grm(tmp_path / "p2")
    res = make_grm(prefix, tmp_path / "ours", kind="standardized",
                   extract=tmp_path / "p2.snplist", maf_min=0.0, max_missing=1.0)
    K, ids, n = read_grm(res["paths"]["bin"])
    print(f"{res['n_variants']} variants: max |K_gwasrep - K_plink2| = {np.abs(K - K2).max():.2e}")
    assert res["n_variants"] == int(n2[0, 0])
    pd.testing.assert_frame_equal(ids, ids2)
    np.testing.assert_allclose(K, K2, atol=1e-6)
    np.testing.assert_array_equal(n, n2)


def test_gcta_round_trip_and_bad_files(tmp_path):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((7, 20))
    K = A @ A.T / 20
    ids = pd.DataFrame({"FID": [f"f{i}" for i in range(7)], "IID": [f"i{i}" for i in range(7)]})
    paths = write_grm(tmp_path / "g", K, ids, 20)
    # Layout: row-major lower triangle, float32.
    raw = np.fromfile(paths["bin"], dtype="<f4")
    assert raw[:4].tolist() == pytest.approx([K[0, 0], K[1, 0], K[1, 1], K[2, 0]], rel=1e-6)
    K2, ids2, n2 = read_grm(tmp_path / "g")
    np.testing.assert_allclose(K2, K, rtol=1e-6)
    pd.testing.assert_frame_equal(ids2, ids)
    assert (n2 == 20).all()
    paths["bin"].write_bytes(paths["bin"].read_bytes()[:-4])
    with pytest.raises(InputError, match=r"bytes, expected 112 \(float32 lower triangle"):
        read_grm(tmp_path / "g")
    with pytest.raises(InputError, match="not found"):
        read_grm(tmp_path / "nothing")
