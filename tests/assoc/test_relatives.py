"""The relatedness calibration of ``--lmm ridge`` (gwasrep/assoc/relatives.py): relatives
from the genotypes against the dense relationship matrix and against plink2's KING table,
the calibrated covariance and statistics against their definitions, KING tables read from
files, and bad input.

Calibration on sibship nulls (the reason for all this): test_ridge_calibration.py.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from gwasrep.assoc.linear import block_moments_dense, fit_null, scan_statistics
from gwasrep.assoc.relatives import (
    Relatives,
    calibrate_null,
    find_relatives,
    grm_pairs,
    relatedness_covariance,
    relatives_from_table,
)
from gwasrep.errors import InputError
from gwasrep.io import open_plink, read_dosages
from gwasrep.io.relatives import read_kinship_table
from gwasrep.simulate.families import simulate_sibships
from gwasrep_cli.main import app
from helpers import assert_cli_error, require_tool

runner = CliRunner()


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    """300 unrelated samples, 60 sib pairs and 20 sibships of four: 500 samples."""
    d = tmp_path_factory.mktemp("rel")
    sizes = np.r_[np.ones(300, dtype=int), np.full(60, 2), np.full(20, 4)]
    return simulate_sibships(d, n_families=sizes.size, n_sibs=sizes, n_variants=6000,
                             n_chrom=3, n_traits=3, h2=0.6, causal_frac=0.05, seed=8)


def _standardized(G):
    p = np.nanmean(G, axis=0) / 2
    Z = (G - 2 * p) / np.sqrt(2 * p * (1 - p))
    return np.where(np.isnan(Z), 0.0, Z)


def test_pairs_equal_the_dense_relationship_matrix(families):
    G = read_dosages(open_plink(families.bed))
    Z = _standardized(G[:, :3000])
    K = Z @ Z.T / Z.shape[1]
    iu = np.triu_indices(K.shape[0], 1)
    want = K[iu] > 0.15
    # Row blocks of 7 (not a divisor of 500) and one block give the same pairs.
    for chunk in (7, 4096):
        i, j, v = grm_pairs(Z, 0.15, chunk=chunk)
        np.testing.assert_array_equal(i, iu[0][want])
        np.testing.assert_array_equal(j, iu[1][want])
        # float32 products of 3,000 terms against float64.
        np.testing.assert_allclose(v, K[iu][want], atol=2e-6)
    # Exactly the pairs of siblings: 60 + 20 x 6.
    fam = pd.read_csv(f"{families.bed}.fam", sep=r"\s+", header=None)[0].to_numpy()
    assert want.sum() == 180
    assert np.all(fam[iu[0][want]] == fam[iu[1][want]])


def test_relatives_match_plink2_king_table(families, tmp_path):
    """The pairs found from the genotypes are those of plink2 --make-king-table above the
    same relationship; the relationship estimates agree (KING's robust estimator vs the
    GRM: both about 0.5 for siblings)."""
    plink2 = require_tool("plink2")
    subprocess.run([plink2, "--bfile", str(families.bed), "--make-king-table",
                    "--king-table-filter", "0.03", "--threads", "2", "--out",
                    str(tmp_path / "king")], check=True, capture_output=True)
    table = read_kinship_table(tmp_path / "king.kin0")
    fs = open_plink(families.bed)
    ids = fs.fam["IID"].to_numpy().astype(str)
    king = relatives_from_table(table["IID1"], table["IID2"], table["KINSHIP"], ids,
                                source="king.kin0")
    auto = find_relatives(read_dosages(fs))
    assert auto.n_variants == 5000
    assert auto.threshold == pytest.approx(0.1)
    assert king.n_pairs == auto.n_pairs == 180
    order = np.lexsort((king.j, king.i))
    np.testing.assert_array_equal(king.i[order], auto.i)
    np.testing.assert_array_equal(king.j[order], auto.j)
    np.testing.assert_allclose(king.phi[order], auto.phi, atol=0.08)
    assert abs(auto.phi.mean() - 0.5) < 0.02


def test_calibrated_covariance_and_statistics_from_the_definition():
    rng = np.random.default_rng(3)
    N, D = 200, 3
    R = rng.standard_normal((N, D))
    F = rng.standard_normal((N, 2))
    rel = Relatives(i=np.array([0, 0, 5, 40]), j=np.array([1, 2, 9, 41]),
                    phi=np.array([0.5, 0.25, 0.5, 0.13]), n_samples=N, source="test")
    Phi = np.eye(N)
    Phi[rel.i, rel.j] = Phi[rel.j, rel.i] = rel.phi
    np.testing.assert_allclose(relatedness_covariance(R, rel), R.T @ Phi @ R / N, rtol=1e-12)

    G = rng.binomial(2, 0.3, size=(N, 6)).astype(float)
    E = R + 0.3 * G[:, [0]]
    null = fit_null(E, F)
    cal = calibrate_null(null, rel)
    res = scan_statistics(cal, block_moments_dense(cal, G))
    # By hand: residualize on [1, F], then the quadratic form with R0^T Phi R0 / N and the
    # OLS standard errors times sqrt(C_Phi_kk / C0_kk).
    X = np.column_stack([np.ones(N), F])
    H = np.eye(N) - X @ np.linalg.pinv(X)
    R0, g = H @ E, H @ G
    C0, Cp = R0.T @ R0 / N, R0.T @ Phi @ R0 / N
    num, gg = g.T @ R0, (g**2).sum(axis=0)
    q = np.einsum("md,de,me->m", num, np.linalg.inv(Cp), num) / gg
    lrt = -N * D * np.log1p(-q / (N * D))
    np.testing.assert_allclose(res.lrt, lrt, rtol=1e-10)
    np.testing.assert_allclose(res.p, stats.chi2.sf(lrt, D), rtol=1e-8)
    beta = num / gg[:, None]
    rss1 = (R0**2).sum(axis=0)[None, :] - num**2 / gg[:, None]
    se = np.sqrt(rss1 / (N - 4) / gg[:, None] * np.diag(Cp) / np.diag(C0))
    np.testing.assert_allclose(res.beta, beta, rtol=1e-10)
    np.testing.assert_allclose(res.se, se, rtol=1e-10)
    # Without pairs the calibration changes nothing.
    none = Relatives(i=np.zeros(0, np.int64), j=np.zeros(0, np.int64), phi=np.zeros(0),
                     n_samples=N, source="test")
    plain = scan_statistics(null, block_moments_dense(null, G))
    same = scan_statistics(calibrate_null(null, none), block_moments_dense(null, G))
    np.testing.assert_allclose(same.lrt, plain.lrt, rtol=1e-10)
    np.testing.assert_allclose(same.se, plain.se, rtol=1e-12)


def test_table_pairs_are_matched_filtered_and_counted_once():
    ids = ["a", "b", "c", "d"]
    rel = relatives_from_table(["a", "b", "c", "x", "d", "a"], ["b", "a", "d", "a", "d", "c"],
                               [0.25, 0.25, 0.125, 0.25, 0.5, 0.02], ids, source="t")
    # (a, b) listed twice; (c, d) kept; x unknown; (d, d) a self pair; (a, c) unrelated.
    assert rel.i.tolist() == [0, 2]
    assert rel.j.tolist() == [1, 3]
    np.testing.assert_allclose(rel.phi, [0.5, 0.25])
    assert rel.n_related_samples() == 4


def test_bad_kinship_tables(tmp_path):
    p = tmp_path / "t.kin0"
    p.write_text("")
    with pytest.raises(InputError, match=r"--relatives .*t.kin0: the file is empty"):
        read_kinship_table(p)
    p.write_text("ID1 ID2 PI_HAT\na b 0.5\n")
    with pytest.raises(InputError, match=r"expected columns IID1 \(or ID1\), IID2 \(or ID2\) "
                                         r"and KINSHIP.* found ID1, ID2, PI_HAT"):
        read_kinship_table(p)
    p.write_text("ID1 ID2 HetHet IBS0 Kinship\na b 0.1 0.0 high\n")
    with pytest.raises(InputError, match=r"column Kinship: expected numbers; .* 'high'"):
        read_kinship_table(p)
    p.write_text("#IID1 IID2 KINSHIP\na b 0.9\n")
    with pytest.raises(InputError, match=r"expected kinship coefficients <= 0.5; found '0.9'"):
        read_kinship_table(p)
    # UK Biobank's layout reads.
    p.write_text("ID1 ID2 HetHet IBS0 Kinship\na b 0.1 0.0 0.24\n")
    t = read_kinship_table(p)
    assert t["IID1"].tolist() == ["a"]
    assert t["KINSHIP"].tolist() == [0.24]


def test_cli_bad_relatives(families, tmp_path):
    def run(out, *extra):
        return runner.invoke(app, ["assoc", "--emb", str(families.emb), "--bed",
                                   str(families.bed), "--out", str(out), "--quiet",
                                   "--no-plots", "--ridge-block-size", "500", *extra])

    res = run(tmp_path / "o1", "--lmm", "ridge", "--relatives", str(tmp_path / "nope.kin0"))
    assert_cli_error(res, r"--relatives .*nope.kin0: file not found; expected a KING table",
                     tmp_path / "o1")
    bad = tmp_path / "bad.kin0"
    bad.write_text("#FID1 IID1 FID2 IID2 NSNP HETHET IBS0\nf a f b 10 0.1 0\n")
    res = run(tmp_path / "o2", "--lmm", "ridge", "--relatives", str(bad))
    assert_cli_error(res, r"--relatives .*bad.kin0: expected columns IID1", tmp_path / "o2")
    res = run(tmp_path / "o3", "--lmm", "full", "--relatives", str(bad))
    assert_cli_error(res, r"--relatives .*: applies to --lmm ridge", tmp_path / "o3")
