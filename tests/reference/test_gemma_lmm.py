"""The LMM against GEMMA 0.98 on mouse_hs1940: kinship, multi-trait p_lrt, Vg/Ve, PVE.

GEMMA and gwasrep both run in the test, on the same files. GEMMA's mvLMM
re-estimates Vg and Ve for every SNP while gwasrep keeps them at the null
(one free scale per SNP), so p-values differ slightly; the largest
|delta -log10 p| is printed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gwasrep import multitrait_lrt
from gwasrep.assoc.kinship import compute_grm_parts
from gwasrep.assoc.lmm import eigen_from_kinship, fit_lmm_null
from gwasrep.io.plink import open_plink, read_dosages
from helpers import require_tool, run_tool


@pytest.fixture(scope="module")
def gemma_hs(hs1940):
    """hs1940 with GEMMA's 11-column .fam (phenotypes 1..6) and GEMMA's -gk 1 kinship."""
    gemma = require_tool("gemma")
    d = hs1940["dir"]
    prefix = d / "gem"
    for ext in ("bed", "bim"):
        target = prefix.with_suffix(f".{ext}")
        if not target.exists():
            target.symlink_to(hs1940["prefix"].with_suffix(f".{ext}"))
    fam = pd.DataFrame({"FID": hs1940["fid"], "IID": hs1940["iid"], "P": 0, "M": 0,
                        "SEX": hs1940["sex"]})
    for k in range(6):
        fam[f"ph{k + 1}"] = hs1940["pheno"][:, k]
    fam.to_csv(prefix.with_suffix(".fam"), sep="\t", header=False, index=False, na_rep="NA")
    run_tool([gemma, "-bfile", "gem", "-gk", "1", "-o", "gk"], cwd=d)
    K = np.loadtxt(d / "output" / "gk.cXX.txt")
    return {"gemma": gemma, "dir": d, "K": K, "fileset": open_plink(hs1940["prefix"]),
            "pheno": hs1940["pheno"]}


def _gemma_matrix(log: str, title: str, D: int) -> np.ndarray:
    """Read a D x D matrix GEMMA prints (lower triangle or full) after ``title``."""
    lines = log.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith(f"## {title}"))
    M = np.zeros((D, D))
    for r in range(D):
        vals = [float(v) for v in lines[i + 1 + r].split()]
        M[r, :len(vals)] = vals
    return np.where(np.tril(np.ones((D, D))) > 0, M, M.T) if np.allclose(np.triu(M, 1), 0) \
        else M


def test_centered_grm_equals_gemma_gk1(gemma_hs):
    """Same SNPs (GEMMA's MAF >= 1% among phenotype-1 samples), all 1,940 mice."""
    fs, pheno = gemma_hs["fileset"], gemma_hs["pheno"]
    X = read_dosages(fs, None, np.flatnonzero(np.isfinite(pheno[:, 0])))
    p = X.mean(axis=0) / 2
    snps = np.flatnonzero(np.minimum(p, 1 - p) >= 0.01)
    parts = compute_grm_parts(fs, np.arange(fs.n_samples), snps, kind="centered", maf_min=0.0,
                              max_missing=1.0)
    K = parts.matrix()
    assert parts.n_variants == 10768  # GEMMA's "number of analyzed SNPs"
    print(f"max |K_gwasrep - K_gemma| = {np.abs(K - gemma_hs['K']).max():.2e}")
    np.testing.assert_allclose(K, gemma_hs["K"], atol=1e-8)


@pytest.mark.slow
def test_multitrait_lrt_vs_gemma_mvlmm(gemma_hs):
    d = gemma_hs["dir"]
    proc = run_tool([gemma_hs["gemma"], "-bfile", "gem", "-k", "output/gk.cXX.txt", "-lmm", "4",
                     "-n", "1", "6", "-o", "mv"], cwd=d)
    assert proc.returncode == 0
    log = (d / "output" / "mv.log.txt").read_text()
    gm = pd.read_csv(d / "output" / "mv.assoc.txt", sep="\t", dtype={"rs": str},
                     keep_default_na=False)
    Y = gemma_hs["pheno"][:, [0, 5]]
    cc = np.isfinite(Y).all(axis=1)
    K = gemma_hs["K"][np.ix_(cc, cc)]
    fs = gemma_hs["fileset"]
    sel = np.flatnonzero(fs.bim["ID"].isin(gm["rs"]).to_numpy())
    G = read_dosages(fs, sel, np.flatnonzero(cc))
    res = multitrait_lrt(Y[cc], G, kinship=K)
    null = res.lmm
    assert null.converged
    assert res.tested.all()
    ours = pd.DataFrame({"rs": fs.bim["ID"].to_numpy()[sel], "p": res.p})
    m = gm.merge(ours, on="rs", validate="1:1")
    assert len(m) == len(gm) > 10_000
    a, b = -np.log10(m["p_lrt"].to_numpy()), -np.log10(m["p"].to_numpy())
    rho = stats.spearmanr(a, b).statistic
    top_g = set(m.nsmallest(20, "p_lrt")["rs"])
    top_o = set(m.nsmallest(20, "p")["rs"])
    worst = int(np.argmax(np.abs(a - b)))
    Vg = _gemma_matrix(log, "MLE estimate for Vg", 2)
    Ve = _gemma_matrix(log, "MLE estimate for Ve", 2)
    print(f"\nhs1940 phenotypes 1 and 6, N={int(cc.sum())}, {len(m)} SNPs: Spearman of -log10 "
          f"p_lrt {rho:.6f}; top-20 overlap {len(top_g & top_o)}/20; largest |delta -log10 p| "
          f"{abs(a - b)[worst]:.3f} at {m['rs'].iloc[worst]} (GEMMA {a[worst]:.3f}, gwasrep "
          f"{b[worst]:.3f}); median |delta| {np.median(np.abs(a - b)):.2e}")
    print(f"Vg GEMMA {Vg.ravel().round(5).tolist()} gwasrep {null.Cg.ravel().round(5).tolist()}")
    print(f"Ve GEMMA {Ve.ravel().round(5).tolist()} gwasrep {null.Cn.ravel().round(5).tolist()}")
    assert rho >= 0.99
    assert top_g == top_o
    np.testing.assert_allclose(null.Cg, Vg, rtol=0.05)
    np.testing.assert_allclose(null.Cn, Ve, rtol=0.05)


@pytest.mark.parametrize("col", [1, 6])
def test_single_trait_h2_vs_gemma_pve(gemma_hs, col):
    d = gemma_hs["dir"]
    # The null model does not depend on the SNPs tested: analyse 5 to keep GEMMA quick.
    snps = d / "five_snps.txt"
    snps.write_text("\n".join(gemma_hs["fileset"].bim["ID"].iloc[:5]) + "\n")
    run_tool([gemma_hs["gemma"], "-bfile", "gem", "-k", "output/gk.cXX.txt", "-lmm", "4",
              "-n", str(col), "-snps", snps.name, "-o", f"st{col}"], cwd=d)
    log = (d / "output" / f"st{col}.log.txt").read_text()
    pve, pve_se = (float(next(line.split("=")[1] for line in log.splitlines()
                              if line.startswith(f"## {key} in the null model")))
                   for key in ("pve estimate", "se(pve)"))
    y = gemma_hs["pheno"][:, [col - 1]]
    ok = np.isfinite(y[:, 0])
    eig = eigen_from_kinship(gemma_hs["K"][np.ix_(ok, ok)])
    null = fit_lmm_null(y[ok], None, eig, restricted=True)
    print(f"phenotype {col}: GEMMA PVE {pve:.6f} (SE {pve_se:.6f}), gwasrep REML h2 "
          f"{null.h2[0]:.6f} (SE {null.h2_se[0]:.6f})")
    assert null.converged
    assert abs(null.h2[0] - pve) < 0.01
    assert null.h2_se[0] == pytest.approx(pve_se, rel=0.005)
