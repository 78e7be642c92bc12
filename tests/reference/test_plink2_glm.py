"""Per-dimension BETA, SE and P against plink2 --glm on real genotypes (mouse_hs1940).

Phenotypes: .fam phenotype columns 1 and 6 (real, complete cases) plus two
simulated dimensions; covariates: sex and one simulated column. The reference is
made in the test by

    plink2 --bfile hs --keep keep.txt --pheno pheno.txt --covar covar.txt \
           --glm hide-covar --threads 2 --out ref

and compared on variants with no missing call among the used samples (plink2
drops such samples per variant; gwasrep mean-imputes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.run import run_assoc
from helpers import require_tool, run_tool


def test_per_dimension_tests_match_plink2_glm(hs1940, tmp_path):
    plink2 = require_tool("plink2")
    rng = np.random.default_rng(11)
    ph = hs1940["pheno"]
    used = np.isfinite(ph[:, 0]) & np.isfinite(ph[:, 5])
    fid, iid = hs1940["fid"][used], hs1940["iid"][used]
    n = int(used.sum())
    sim1 = 0.5 * ph[used, 0] + rng.standard_normal(n)
    sim2 = rng.standard_normal(n) * 3.0 + 10.0
    E = np.column_stack([ph[used, 0], ph[used, 5], sim1, sim2])
    names = ["real1", "real6", "sim1", "sim2"]
    emb = pd.DataFrame(E, columns=names)
    emb.insert(0, "IID", iid)
    emb.insert(0, "FID", fid)
    emb.to_parquet(tmp_path / "emb.parquet", index=False)
    emb.to_csv(tmp_path / "pheno.txt", sep="\t", index=False, float_format="%.17g")
    covar = pd.DataFrame({"FID": fid, "IID": iid, "sex": hs1940["sex"][used],
                          "c1": rng.standard_normal(n)})
    covar.to_csv(tmp_path / "covar.txt", sep="\t", index=False, float_format="%.17g")
    covar[["FID", "IID"]].to_csv(tmp_path / "keep.txt", sep="\t", index=False, header=False)

    run_tool([plink2, "--bfile", str(hs1940["prefix"]), "--keep", "keep.txt", "--pheno",
              "pheno.txt", "--covar", "covar.txt", "--glm", "hide-covar", "--threads", "2",
              "--out", "ref"], cwd=tmp_path)
    run = run_assoc(AssocConfig(emb=tmp_path / "emb.parquet", bed=hs1940["prefix"],
                                covar=tmp_path / "covar.txt", out=tmp_path / "ours",
                                regress_covariates=False, inverse_normal=False, plots=False,
                                threads=2))
    ours = pd.read_parquet(run.files["sumstats_parquet"])
    ours = ours[ours["MISSING_FRAC"] == 0].set_index("ID")
    assert len(ours) > 5000, len(ours)
    worst = {}
    for k, name in enumerate(names, start=1):
        ref = pd.read_csv(tmp_path / f"ref.{name}.glm.linear", sep="\t")
        ref = ref[ref["TEST"] == "ADD"].set_index("ID")
        common = ours.index.intersection(ref.index[ref["P"].notna()])
        assert len(common) > 5000, len(common)
        o, r = ours.loc[common], ref.loc[common]
        sign = np.where(o["A1"].to_numpy() == r["A1"].to_numpy(), 1.0, -1.0)
        assert (o["OBS_CT"].to_numpy() == r["OBS_CT"].to_numpy()).all()
        np.testing.assert_allclose(o[f"BETA_{k}"] * sign, r["BETA"], rtol=1e-4, atol=1e-12)
        np.testing.assert_allclose(o[f"SE_{k}"], r["SE"], rtol=1e-4)
        lp_o, lp_r = -np.log10(o[f"P_{k}"]), -np.log10(r["P"])
        np.testing.assert_allclose(lp_o, lp_r, rtol=1e-4, atol=1e-6)
        worst[name] = float(np.max(np.abs(lp_o - lp_r)))
    print(f"\nplink2 --glm vs gwasrep on {len(common):,} hs1940 variants, N={n}: "
          f"max |delta -log10 P| per dimension {worst}")
