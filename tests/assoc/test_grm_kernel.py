"""The GRM's packed-bytes kernel gives exactly standardize_block's columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gwasrep.assoc._grm_kernels import standardize_packed
from gwasrep.assoc.kinship import standardize_block
from gwasrep.io.plink import open_plink, read_dosages, read_packed, write_plink


@pytest.fixture(scope="module")
def fileset(tmp_path_factory):
    rng = np.random.default_rng(4)
    n, m = 203, 160  # n not a multiple of 4
    p = rng.uniform(0.0, 0.5, size=m)
    G = rng.binomial(2, p, size=(n, m)).astype(np.int8)
    G[:, 5] = 2                    # monomorphic
    G[:, 6] = 0
    G[rng.uniform(size=(n, m)) < 0.04] = -1
    G[:, 7] = -1                   # all missing
    G[: n // 5, 8] = -1            # 20 % missing
    G[:, 9] = 0
    G[:2, 9] = 1                   # rare (MAF < 0.01 in any subset)
    d = tmp_path_factory.mktemp("grmk")
    bim = pd.DataFrame({"CHROM": "1", "ID": [f"v{j}" for j in range(m)], "CM": 0.0,
                        "POS": np.arange(1, m + 1), "A1": "A", "A2": "G"})
    fam = pd.DataFrame({"FID": [f"s{i}" for i in range(n)], "IID": [f"s{i}" for i in range(n)],
                        "PAT": "0", "MAT": "0", "SEX": "0", "PHENO": "-9"})
    write_plink(d / "g", G, bim, fam)
    return open_plink(d / "g")


@pytest.mark.parametrize("kind", ["standardized", "centered"])
@pytest.mark.parametrize(("maf_min", "max_missing"), [(0.0, 1.0), (0.01, 0.05)])
def test_kernel_equals_standardize_block(fileset, kind, maf_min, max_missing):
    rng = np.random.default_rng(0)
    samples = rng.permutation(fileset.n_samples)[:150]
    idx = np.arange(fileset.n_variants)
    Z_ref, used_ref = standardize_block(read_dosages(fileset, idx, samples), kind,
                                        maf_min=maf_min, max_missing=max_missing)
    Z = np.full((samples.size, idx.size), np.nan, order="F")
    used = np.zeros(idx.size, dtype=np.bool_)
    k = standardize_packed(read_packed(fileset.bed_path, idx, fileset.n_samples),
                           samples.astype(np.int64), kind == "standardized", maf_min,
                           max_missing, Z, used)
    np.testing.assert_array_equal(used, used_ref)
    assert k == used_ref.sum()
    assert not used[[5, 6, 7]].any()  # monomorphic and all-missing variants never
    assert used[8] == (max_missing >= 0.2)
    assert not (maf_min > 0 and used[9])
    np.testing.assert_array_equal(Z[:, :k], Z_ref)  # the same floats, bit for bit
