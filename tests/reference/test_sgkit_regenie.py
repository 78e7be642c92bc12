"""REGENIE step 1 (gwasrep.assoc.ridge) against sgkit 0.10's ``regenie`` stages.

sgkit runs in its own venv (.ci/run builds it: it pins numpy < 2.2). Both get the same
standardized, covariate-residualized genotypes and traits, the same blocks, the same
contiguous folds (sgkit's sample blocks) and the same penalties (gwasrep's grid
``n (1 - h2) / h2``; sgkit's own default is ``n / h2``). What is compared:

- level 0: every out-of-fold prediction (blocks x penalties x samples x traits);
- level 1: the out-of-fold whole-genome prediction of the penalty chosen by the mean
  per-fold R^2 (sgkit's ``_stage_2``);
- LOCO: sgkit's ``_stage_3`` given the standardized level-0 predictions (its
  ``regenie_transform`` passes the unstandardized ones, with coefficients fitted on the
  standardized ones; see tests/reference/tools/sgkit_regenie.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from gwasrep.assoc.ridge import (
    covariate_projector,
    fit_loco_predictions,
    fold_bounds,
    fold_sizes,
    level0_block,
    residualized_traits,
    ridge_blocks,
    ridge_penalties,
    standardize_genotypes,
)
from helpers import sgkit_python

TOOL = Path(__file__).resolve().parent / "tools" / "sgkit_regenie.py"


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(17)
    N, M, D = 420, 900, 3
    chrom = np.repeat(["1", "2", "3"], [400, 300, 200])
    f = rng.uniform(0.05, 0.5, M)
    G = rng.binomial(2, f, size=(N, M)).astype(float)
    G[rng.random((N, M)) < 0.01] = np.nan
    F = rng.standard_normal((N, 2))
    beta = rng.normal(0, 0.08, (M, D)) * (rng.random((M, 1)) < 0.3)
    Gz = np.where(np.isnan(G), 2 * f, G)
    Y = (Gz - 2 * f) @ beta + F @ rng.normal(0, 0.5, (2, D)) + rng.standard_normal((N, D))
    folds = np.repeat(np.arange(5), fold_sizes(N, 5))      # contiguous: sgkit's sample blocks
    return {"G": G, "Y": Y, "F": F, "chrom": chrom, "folds": folds, "block": 100}


def _sgkit(tmp_path, Z, Ys, contigs, blocks, folds, pen0, pen1):
    np.savez(tmp_path / "in.npz", Z=Z, Y=Ys, contigs=contigs,
             variant_block_sizes=np.diff(blocks.bounds, axis=1)[:, 0],
             sample_block_sizes=np.bincount(folds), alphas0=pen0, alphas1=pen1)
    proc = subprocess.run([str(sgkit_python()), str(TOOL), str(tmp_path / "in.npz"),
                           str(tmp_path / "out.npz")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "out.npz") as z:
        return {k: z[k] for k in z.files}


def test_level0_level1_and_loco_match_sgkit(case, tmp_path):
    G, Y, F, chrom, folds = case["G"], case["Y"], case["F"], case["chrom"], case["folds"]
    N, M = G.shape
    Q = covariate_projector(F, N)
    Z, used = standardize_genotypes(G, Q)
    assert used.all()
    Ys, scale = residualized_traits(Y, Q)     # unit variance, as fit_loco_predictions fits
    blocks = ridge_blocks(chrom, case["block"])
    grid = (0.01, 0.25, 0.5, 0.75, 0.99)
    pen0 = ridge_penalties(M, grid)
    pen1 = ridge_penalties(len(blocks) * len(grid), grid)
    bounds = fold_bounds(folds)
    base = np.stack([level0_block(Z[:, a:b], Ys, bounds, pen0, dtype=np.float64)
                     for a, b in blocks.bounds])                    # (blocks, D, R, N)
    contigs = np.unique(chrom, return_inverse=True)[1]
    ref = _sgkit(tmp_path, Z, Ys, contigs, blocks, folds, pen0, pen1)

    # Level 0: sgkit's (blocks, alphas, samples, outcomes).
    np.testing.assert_allclose(base.transpose(0, 2, 3, 1), ref["base"], rtol=0, atol=1e-9)
    assert np.abs(ref["base"]).max() > 0.05

    loco = fit_loco_predictions(Y, G, chrom, covariates=F, block_size=case["block"],
                                folds=folds, dtype=np.float64)
    np.testing.assert_allclose(loco.penalties1, pen1)
    np.testing.assert_allclose(loco.prediction / scale, ref["meta"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(loco.loco / scale, ref["loco"], rtol=0, atol=1e-6)
    # The predictions carry signal, and leaving a chromosome out changes them.
    assert np.abs(ref["loco"][0] - ref["loco"][1]).max() > 0.05
    print(f"\nsgkit 0.10 regenie: level 0 max |diff| "
          f"{np.abs(base.transpose(0, 2, 3, 1) - ref['base']).max():.2e}, meta "
          f"{np.abs(loco.prediction / scale - ref['meta']).max():.2e}, LOCO "
          f"{np.abs(loco.loco / scale - ref['loco']).max():.2e}; level-1 h2 "
          f"{[grid[b] for b in loco.best]}")


def test_float32_storage_stays_within_its_precision(case):
    """The default stores level-0 predictions in float32 (as the file engine does)."""
    G, Y, F, chrom, folds = case["G"], case["Y"], case["F"], case["chrom"], case["folds"]
    kw = {"covariates": F, "block_size": case["block"], "folds": folds}
    exact = fit_loco_predictions(Y, G, chrom, dtype=np.float64, **kw)
    single = fit_loco_predictions(Y, G, chrom, **kw)
    np.testing.assert_array_equal(single.best, exact.best)
    scale = np.abs(exact.loco).max()
    np.testing.assert_allclose(single.loco, exact.loco, rtol=0, atol=1e-5 * scale)
