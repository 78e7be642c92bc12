"""``--lmm ridge`` against BOLT-LMM 2.4 (``--lmmInfOnly``) on related samples.

5,000 samples (a third in sib pairs), 10,000 variants, two traits with h2 0.5 over 500
variants plus 30 planted multi-trait effects. BOLT tests dimension 1 (the same INT-ed
trait gwasrep tests). The two tools fit different whole-genome models (REGENIE's stacked
block ridge, out of fold; BOLT's infinitesimal BLUP with its REML h2), so their null
statistics differ by the noise of two residual vectors: the -log10 P correlate at
Pearson ~0.97 and Spearman ~0.90 over all variants (the issue asked for Spearman 0.98),
and they find the same hits. The gap is the model, not the test: the residual of the
exact LOCO BLUP at BOLT's own variance ratio, tested with the same linear statistic,
reproduces BOLT at Spearman > 0.99 on chromosome 1, and the ridge residual correlates
with it at ~0.98 (20 folds instead of 5 raise the Spearman only to 0.93). Leave-one-out
cross-validation (``--ridge-loocv``) closes a third of the gap, to Spearman ~0.94 and
Pearson ~0.985: out-of-fold predictions are the larger part of the difference, the
stacked block ridge the rest (the LOO residual of BOLT's own single ridge gives 0.998).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.preprocess import inverse_normal_transform
from gwasrep.assoc.run import run_assoc
from gwasrep.io import open_plink, read_dosages
from gwasrep.simulate.families import simulate_sibships
from helpers import plant_effects, require_tool, run_tool


@pytest.mark.slow
def test_per_dimension_p_follow_bolt_lmm_inf(tmp_path):
    bolt = require_tool("bolt")
    sizes = np.r_[np.ones(3334, dtype=int), np.full(833, 2)]
    c = simulate_sibships(tmp_path, n_families=sizes.size, n_sibs=sizes, n_variants=10_000,
                          n_chrom=5, n_traits=2, h2=0.5, causal_frac=0.05, seed=6)
    fs = open_plink(c.bed)
    G = read_dosages(fs)
    cols = ["emb_1", "emb_2"]
    emb, _ = plant_effects(c, G, fs.bim["ID"], 30, cols, (0.04, 0.1), seed=1)
    emb.to_parquet(tmp_path / "planted.parquet", index=False)
    y = inverse_normal_transform(emb[cols].to_numpy())
    pd.DataFrame({"FID": emb["FID"], "IID": emb["IID"], "y1": y[:, 0]}).to_csv(
        tmp_path / "pheno.txt", sep=" ", index=False)

    run = run_assoc(AssocConfig(emb=tmp_path / "planted.parquet", bed=c.bed,
                                out=tmp_path / "ridge", plots=False, lmm="ridge"))
    proc = run_tool([bolt, f"--bfile={c.bed}", "--phenoFile=pheno.txt", "--phenoCol=y1",
                     "--lmmInfOnly", "--LDscoresUseChip", "--numThreads=2",
                     "--statsFile=bolt.stats"], cwd=tmp_path)
    ref = pd.read_csv(tmp_path / "bolt.stats", sep="\t")
    ss = pd.read_parquet(run.files["sumstats_parquet"], columns=["ID", "P_1"])
    j = ss.merge(ref, left_on="ID", right_on="SNP", validate="one_to_one")
    assert len(j) == 10_000
    a, b = -np.log10(j["P_1"]), -np.log10(j["P_BOLT_LMM_INF"])
    rho = spearmanr(a, b)[0]
    r = np.corrcoef(a, b)[0, 1]
    ours, theirs = set(j.loc[j["P_1"] < 5e-8, "ID"]), set(j.loc[j["P_BOLT_LMM_INF"] < 5e-8, "ID"])
    print(f"\nridge vs BOLT-LMM-inf, dimension 1: Spearman {rho:.4f}, Pearson {r:.4f} of -log10 P; "
          f"hits at 5e-8: gwasrep {len(ours)}, BOLT {len(theirs)}, shared {len(ours & theirs)}")
    assert rho >= 0.88
    assert r >= 0.96
    assert len(theirs) >= 10
    assert len(ours ^ theirs) <= 2

    loo = run_assoc(AssocConfig(emb=tmp_path / "planted.parquet", bed=c.bed,
                                out=tmp_path / "loocv", plots=False, lmm="ridge",
                                ridge_loocv=True))
    j = j.merge(pd.read_parquet(loo.files["sumstats_parquet"], columns=["ID", "P_1"]),
                on="ID", suffixes=("", "_loo"), validate="one_to_one")
    a_loo = -np.log10(j["P_1_loo"])
    rho_loo, r_loo = spearmanr(a_loo, b)[0], np.corrcoef(a_loo, b)[0, 1]
    ours_loo = set(j.loc[j["P_1_loo"] < 5e-8, "ID"])
    print(f"with --ridge-loocv: Spearman {rho_loo:.4f}, Pearson {r_loo:.4f}; hits gwasrep "
          f"{len(ours_loo)}, shared with BOLT {len(ours_loo & theirs)}")
    assert rho_loo >= rho + 0.02
    assert r_loo >= 0.98
    assert len(ours_loo ^ theirs) <= 2

    # The exact LOCO BLUP residual (K + delta I)^-1 y at BOLT's delta, chromosome 1, with
    # gwasrep's linear statistic: BOLT's numbers, so the comparison itself is sound.
    log_delta = float(re.search(r"Variance params: .*logDelta = (\S+),", proc.stdout)[1])
    chrom = fs.bim["CHROM"].astype(str).to_numpy()
    Z = np.where(np.isnan(G), np.nanmean(G, axis=0), G)
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    on = chrom == "1"
    K = Z[:, ~on] @ Z[:, ~on].T / (~on).sum()
    yc = y[:, 0] - y[:, 0].mean()
    v = np.linalg.solve(K + np.exp(log_delta) * np.eye(len(yc)), yc)
    X = Z[:, on]
    chi2_blup = (X.T @ v) ** 2 / ((X**2).sum(axis=0) * (v @ v) / len(v))
    ids = fs.bim["ID"].to_numpy()[on]
    bolt_chr1 = ref.set_index("SNP").loc[ids, "P_BOLT_LMM_INF"].to_numpy()
    rho_blup = spearmanr(chi2_blup, -np.log10(bolt_chr1))[0]
    ours_chr1 = ss.set_index("ID").loc[ids, "P_1"].to_numpy()
    rho_ours = spearmanr(-np.log10(ours_chr1), -np.log10(bolt_chr1))[0]
    print(f"chromosome 1 vs BOLT: exact LOCO BLUP at BOLT's delta {np.exp(log_delta):.3f}: "
          f"Spearman {rho_blup:.4f}; gwasrep ridge {rho_ours:.4f}")
    assert rho_blup >= 0.99
    assert rho_blup > rho_ours + 0.03
