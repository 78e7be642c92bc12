"""``--lmm ridge`` (REGENIE step 1 + the linear multi-trait LRT on LOCO-adjusted traits):
calibration on sibship nulls and power against the linear model with genetic PCs and the
exact LOCO LMM.

Calibration depends on how dense the relatedness is. The LOCO prediction of a sample is
made by models fitted on the other folds, so it uses its relatives' phenotypes, and theirs
use its own: the residuals of relatives become negatively correlated and plain REGENIE
step 2 (``--relatives none``) deflates, to lambda 0.76 for the multi-trait P when every
sample is one of four siblings; without step 1 the shared genetic value correlates them
positively and the statistic inflates. The default calibrates the residual covariance for
the close relatives (gwasrep/assoc/relatives.py) and is calibrated at both densities.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest

from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.run import run_assoc
from gwasrep.io import open_plink, read_dosages
from gwasrep.simulate.families import simulate_sibships
from helpers import plant_effects, require_tool

STATS = ("P", "P_1", "P_2", "P_3")


def _lambdas(c, tmp_path, exclude, modes):
    out = {}
    for name, kw in modes.items():
        run = run_assoc(AssocConfig(emb=c.emb, bed=c.bed, out=tmp_path / name, exclude=exclude,
                                    plots=False, **kw))
        out[name] = run.lambda_gc
    return out, run


def _show(title, lam, run):
    for name, v in lam.items():
        print(f"{title} {name}: lambda GC multi-trait P {v['P']:.3f}, per dimension "
              f"{[round(v[f'P_{k}'], 3) for k in (1, 2, 3)]} ({run.n_variants_tested:,} null "
              "variants)")


MODES = {"linear": {}, "ridge": {"lmm": "ridge"},
         "ridge_uncalibrated": {"lmm": "ridge", "relatives": "none"}}


@pytest.mark.slow
def test_calibrated_when_a_third_of_the_samples_have_a_relative(tmp_path):
    """4,000 samples, 1,334 of them in sib pairs; h2 0.6 over 2,000 of 20,000 variants; the
    18,000 others are tested."""
    sizes = np.r_[np.ones(2666, dtype=int), np.full(667, 2)]
    c = simulate_sibships(tmp_path, n_families=sizes.size, n_sibs=sizes, n_variants=20_000,
                          n_chrom=10, n_traits=3, h2=0.6, causal_frac=0.1, seed=2)
    causal = tmp_path / "causal.txt"
    causal.write_text("\n".join(c.causal_ids) + "\n")
    lam, run = _lambdas(c, tmp_path, causal, MODES)
    print()
    _show("sparse sibships", lam, run)
    for stat in STATS:
        assert 0.97 <= lam["ridge"][stat] <= 1.04, stat
        assert lam["linear"][stat] >= 1.03, stat
        # Slightly conservative without the calibration.
        assert lam["ridge_uncalibrated"][stat] < lam["ridge"][stat], stat
    assert lam["linear"]["P"] >= 1.07


@pytest.mark.slow
def test_calibrated_in_dense_sibships(tmp_path):
    """Every sample one of four siblings (1,000 families): the linear model is far inflated,
    plain REGENIE step 2 deflated, the calibrated ridge mode calibrated, with the relatives
    found from the genotypes or read from plink2's KING table."""
    plink2 = require_tool("plink2")
    c = simulate_sibships(tmp_path, n_families=1000, n_sibs=4, n_variants=15_000, n_chrom=10,
                          n_traits=3, h2=0.6, causal_frac=0.1, seed=3)
    causal = tmp_path / "causal.txt"
    causal.write_text("\n".join(c.causal_ids) + "\n")
    subprocess.run([plink2, "--bfile", str(c.bed), "--make-king-table", "--king-table-filter",
                    "0.05", "--threads", "2", "--out", str(tmp_path / "king")], check=True,
                   capture_output=True)
    modes = {**MODES, "ridge_king": {"lmm": "ridge", "relatives": str(tmp_path / "king.kin0")}}
    lam, run = _lambdas(c, tmp_path, causal, modes)
    print()
    _show("dense sibships", lam, run)
    for stat in STATS:
        assert 0.97 <= lam["ridge"][stat] <= 1.04, stat
        assert 0.97 <= lam["ridge_king"][stat] <= 1.04, stat
        assert lam["linear"][stat] >= 1.3, stat
        assert lam["ridge_uncalibrated"][stat] <= 0.94, stat
    assert lam["ridge_uncalibrated"]["P"] <= 0.85


@pytest.mark.slow
def test_power_against_genetic_pcs_and_the_exact_loco_lmm(tmp_path):
    """Planted multi-trait effects at 40 variants over a polygenic background in related
    samples: the ridge mode finds at least as many of them at 5e-8 as the linear model with
    10 genetic PCs, and at least 95 % of what the exact LOCO LMM finds."""
    sizes = np.r_[np.ones(1400, dtype=int), np.full(400, 2), np.full(100, 4)]
    c = simulate_sibships(tmp_path, n_families=sizes.size, n_sibs=sizes, n_variants=8_000,
                          n_chrom=5, n_traits=3, h2=0.5, causal_frac=0.1, seed=4)
    fs = open_plink(c.bed)
    G = read_dosages(fs)
    emb, planted = plant_effects(c, G, fs.bim["ID"], 40, ["emb_1", "emb_2", "emb_3"],
                                 (0.05, 0.11), seed=40)
    emb_path = tmp_path / "planted.parquet"
    emb.to_parquet(emb_path, index=False)
    # 10 genetic PCs of the standardized genotypes, as covariates of the linear model.
    Z = np.where(np.isnan(G), np.nanmean(G, axis=0), G)
    Z = (Z - Z.mean(axis=0)) / np.maximum(Z.std(axis=0), 1e-12)
    U, S, _ = np.linalg.svd(Z, full_matrices=False)
    pcs = pd.DataFrame(U[:, :10] * S[:10], columns=[f"PC{k}" for k in range(1, 11)])
    pcs.insert(0, "IID", fs.fam["IID"].to_numpy())
    pcs.insert(0, "FID", fs.fam["FID"].to_numpy())
    pcs.to_csv(tmp_path / "pcs.tsv", sep="\t", index=False)
    ids = set(fs.bim["ID"].to_numpy()[planted])
    found = {}
    for name, kw in (("linear_pcs", {"covar": tmp_path / "pcs.tsv"}),
                     ("ridge", {"lmm": "ridge"}),
                     ("lmm_full_loco", {"lmm": "full", "loco": True})):
        run = run_assoc(AssocConfig(emb=emb_path, bed=c.bed, out=tmp_path / name, plots=False,
                                    **kw))
        ss = pd.read_parquet(run.files["sumstats_parquet"], columns=["ID", "P"])
        found[name] = int(ss.loc[ss["P"] < 5e-8, "ID"].isin(ids).sum())
    print(f"\nplanted effects found at 5e-8 (of 40), N={c.n_samples}: {found}")
    assert found["ridge"] >= found["linear_pcs"]
    assert found["ridge"] >= 0.95 * found["lmm_full_loco"]
    assert 10 <= found["lmm_full_loco"] <= 38   # neither trivial nor saturated
