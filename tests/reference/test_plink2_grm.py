"""The standardized GRM against plink2 --make-grm-bin on the same .bed (mouse_hs1940)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gwasrep.assoc.config import GrmConfig
from gwasrep.assoc.run import run_grm
from gwasrep.io.grm import read_grm
from helpers import require_tool, run_tool


def test_grm_matches_plink2_make_grm_bin(hs1940, tmp_path):
    """Same .bed, same variants: gwasrep's GCTA files equal plink2's."""
    plink2 = require_tool("plink2")
    prefix = hs1940["prefix"]
    run_tool([plink2, "--bfile", str(prefix), "--maf", "0.01", "--nonfounders",
              "--write-snplist", "--make-grm-bin", "--out", str(tmp_path / "p2")], cwd=tmp_path)
    K2, ids2, n2 = read_grm(tmp_path / "p2")
    res = run_grm(GrmConfig(bed=prefix, out=tmp_path / "ours", kind="standardized",
                            extract=tmp_path / "p2.snplist", maf=0.0, geno=1.0))
    K, ids, n = read_grm(res.files["bin"])
    print(f"{res.n_variants} variants: max |K_gwasrep - K_plink2| = {np.abs(K - K2).max():.2e}")
    assert res.n_variants == int(n2[0, 0])
    pd.testing.assert_frame_equal(ids, ids2)
    np.testing.assert_allclose(K, K2, atol=1e-6)
    np.testing.assert_array_equal(n, n2)
