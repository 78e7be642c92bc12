"""Clumping: r^2 from its definitions (EM and unphased), bad input and an empty result.

The comparisons with plink1.9 --clump are in reference/test_plink19_clump.py.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from gwasrep.errors import InputError
from gwasrep.io.plink import open_plink
from gwasrep.io.sumstats import read_pvalues
from gwasrep.loci._ld_kernels import em_r2_from_table, genotype_table, pair_r2
from gwasrep.loci.clump import clump
from gwasrep.loci.run import ClumpConfig, run_clump
from helpers import write_random_fileset


def em_r2_slow(t: np.ndarray) -> float:
    """r^2 from the EM algorithm itself, iterated from several phases; best likelihood wins."""
    a = 2 * t[2, 2] + t[2, 1] + t[1, 2]
    b = 2 * t[2, 0] + t[2, 1] + t[1, 0]
    c = 2 * t[0, 2] + t[1, 2] + t[0, 1]
    d = 2 * t[0, 0] + t[0, 1] + t[1, 0]
    h = t[1, 1]
    T = a + b + c + d + 2 * h
    best = (-np.inf, None)
    for phi in (0.01, 0.3, 0.5, 0.7, 0.99):
        for _ in range(20000):
            p = np.array([a + h * phi, b + h * (1 - phi), c + h * (1 - phi), d + h * phi]) / T
            den = p[0] * p[3] + p[1] * p[2]
            phi = p[0] * p[3] / den if den > 0 else phi
        p = np.array([a + h * phi, b + h * (1 - phi), c + h * (1 - phi), d + h * phi]) / T
        with np.errstate(divide="ignore"):
            ll = (np.array([a, b, c, d]) * np.log(p)).sum() + h * np.log(p[0] * p[3] +
                                                                         p[1] * p[2])
        if ll > best[0]:
            best = (ll, p)
    p = best[1]
    pA, pB = p[0] + p[1], p[0] + p[2]
    D = p[0] * p[3] - p[1] * p[2]
    return D * D / (pA * (1 - pA) * pB * (1 - pB))


@pytest.mark.slow
def test_em_r2_matches_em_iterations():
    rng = np.random.default_rng(4)
    for _ in range(200):
        t = rng.integers(0, 30, size=(3, 3)).astype(float)
        t[1, 1] = rng.integers(1, 60)
        assert em_r2_from_table(t) == pytest.approx(em_r2_slow(t), rel=1e-7, abs=1e-10)
    # Perfect LD, and independence.
    x = rng.integers(0, 3, size=500).astype(np.int8)
    assert pair_r2(x, x, True) == pytest.approx(1.0)
    assert em_r2_from_table(np.full((3, 3), 10.0)) == pytest.approx(0.0, abs=1e-12)


def test_unphased_r2_is_squared_genotype_correlation():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, size=300).astype(np.int8)
    y = np.where(rng.random(300) < 0.7, x, rng.integers(0, 3, size=300)).astype(np.int8)
    x[:10] = -1
    y[5:20] = -1
    ok = (x >= 0) & (y >= 0)
    ref = np.corrcoef(x[ok], y[ok])[0, 1] ** 2
    assert pair_r2(x, y, False) == pytest.approx(ref, rel=1e-12)
    t = genotype_table(x, y)
    assert t.sum() == ok.sum()


def test_clump_bad_input_and_empty_result(tmp_path):
    bim = write_random_fileset(tmp_path / "g", 50, 20)
    ss = pd.DataFrame({"ID": bim["ID"], "P": np.linspace(0.2, 0.9, 20)})
    ss.loc[3, "P"] = 1.5
    ss.to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match=r"s: column P: expected p-values in \[0, 1\]; found 1 "
                                         r"row outside, e\.g\. 1\.5 \(row 4, ID v3\)"):
        run_clump(ClumpConfig(sumstats=tmp_path / "s.tsv", bed=tmp_path / "g",
                              out=tmp_path / "o"))
    assert not list(tmp_path.glob("o*"))
    ss.loc[3, "P"] = np.nan  # missing: skipped with a note
    ss.to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    res = run_clump(ClumpConfig(sumstats=tmp_path / "s.tsv", bed=tmp_path / "g",
                                out=tmp_path / "o"))
    assert res.n_loci == 0
    assert any("1 rows with a missing p-value skipped" in n for n in res.notes)
    assert any("no variant with p <=" in n for n in res.notes)
    assert (tmp_path / "o.clumped").exists()
    with pytest.raises(InputError, match=r"missing column P; found ID, PVAL"):
        read_pvalues(ss.rename(columns={"P": "PVAL"}))
    with pytest.raises(InputError, match=r"1 variant IDs appear more than once \(e.g. v1\)"):
        read_pvalues(pd.concat([ss, ss.iloc[[1]]]))
    for ext in ("bed", "bim"):
        shutil.copy(tmp_path / f"g.{ext}", tmp_path / f"nf.{ext}")
    fam = pd.read_csv(tmp_path / "g.fam", sep=r"\s+", header=None, dtype=str)
    fam[2] = "dad"
    fam.to_csv(tmp_path / "nf.fam", sep="\t", header=False, index=False)
    with pytest.raises(InputError, match="no founders"):
        clump(ss.assign(P=1e-6), open_plink(tmp_path / "nf"))
    out = clump(ss.assign(ID=[f"x{j}" for j in range(20)], P=1e-6), open_plink(tmp_path / "g"))
    assert any("20 of 20 IDs are not in the .bim" in n for n in out.notes)
