"""Clumping against plink1.9 --clump on EUR_subset and mouse_hs1940, and `gwasrep assoc`'s TSV
read by plink1.9 --clump as written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.run import run_assoc
from gwasrep.io.plink import open_plink
from gwasrep.io.sumstats import read_pvalues
from gwasrep.loci.clump import clump
from helpers import extract_eur, require_tool, run_tool

#: PLINK's defaults, ContIG's, GEMCONT's r2/kb, a tight r2, and a loose p1.
PARAMS = [(1e-4, 1e-2, 0.5, 250), (5e-8, 1e-7, 0.1, 150), (1e-4, 1e-2, 0.05, 5000),
          (1e-3, 1e-2, 0.8, 250), (1e-2, 5e-2, 0.2, 500)]
COUNTS = ["TOTAL", "NSIG", "S05", "S01", "S001", "S0001"]


@pytest.fixture(scope="module")
def eur(tmp_path_factory):
    """EUR_subset (bolt-lmm-example) and plink2 --glm of its PHENO."""
    plink2 = require_tool("plink2")
    d = tmp_path_factory.mktemp("eur")
    extract_eur(d, ("EUR_subset.bed", "EUR_subset.bim", "EUR_subset.fam",
                     "EUR_subset.pheno.covars"))
    run_tool([plink2, "--bfile", "EUR_subset", "--pheno", "EUR_subset.pheno.covars",
              "--pheno-name", "PHENO", "--glm", "allow-no-covars", "--out", "eg"], cwd=d)
    return {"dir": d, "bed": d / "EUR_subset", "sumstats": d / "eg.PHENO.glm.linear"}


@pytest.fixture(scope="module")
def hs_sorted(hs1940, tmp_path_factory):
    """hs1940 sorted by position (plink1.9 --clump needs a sorted .bim), founders only,
    with gwasrep's linear-model sumstats of phenotype 1."""
    plink19 = require_tool("plink1.9")
    from gwasrep.assoc.config import AssocConfig
    from gwasrep.assoc.run import run_assoc

    d = tmp_path_factory.mktemp("hsclump")
    src = hs1940["prefix"]
    fam = pd.read_csv(src.with_suffix(".fam"), sep=" ", header=None, dtype=str)
    fam[2] = "0"
    fam[3] = "0"
    fam.to_csv(d / "raw.fam", sep=" ", header=False, index=False)
    for ext in ("bed", "bim"):
        (d / f"raw.{ext}").symlink_to(src.with_suffix(f".{ext}"))
    run_tool([plink19, "--bfile", "raw", "--make-bed", "--out", "hs"], cwd=d)
    ok = np.isfinite(hs1940["pheno"][:, 0])
    pd.DataFrame({"FID": hs1940["fid"][ok], "IID": hs1940["iid"][ok],
                  "p1": hs1940["pheno"][ok, 0]}).to_parquet(d / "e1.parquet")
    run_assoc(AssocConfig(emb=d / "e1.parquet", bed=d / "raw", out=d / "assoc",
                          formats=("tsv",), plots=False))
    return {"dir": d, "bed": d / "hs", "sumstats": d / "assoc" / "sumstats.tsv"}


def _compare(case, params):
    plink19 = require_tool("plink1.9")
    d = case["dir"]
    fs = open_plink(case["bed"])
    pv, _, _ = read_pvalues(case["sumstats"])
    lines = []
    for p1, p2, r2, kb in params:
        tag = f"pl_{p1:g}_{r2:g}_{kb:g}"
        run_tool([plink19, "--bfile", case["bed"].name, "--clump", str(case["sumstats"]),
                  "--clump-snp-field", "ID", "--clump-field", "P", "--clump-p1", str(p1),
                  "--clump-p2", str(p2), "--clump-r2", str(r2), "--clump-kb", str(kb),
                  "--out", tag], cwd=d)
        path = d / f"{tag}.clumped"
        ref = (pd.read_csv(path, sep=r"\s+") if path.exists() else
               pd.DataFrame(columns=["SNP", *COUNTS, "SP2"]))  # plink writes none if empty
        ours = clump(pv, fs, p1=p1, p2=p2, r2=r2, kb=kb).clumps
        lines.append(f"p1={p1:g} p2={p2:g} r2={r2:g} kb={kb:g}: plink1.9 {len(ref)} clumps, "
                     f"gwasrep {len(ours)}")
        assert set(ours["SNP"]) == set(ref["SNP"])
        m = ref.merge(ours, on="SNP", suffixes=("_plink", "_ours"))
        for col in COUNTS:
            np.testing.assert_array_equal(m[f"{col}_ours"], m[f"{col}_plink"], err_msg=col)

        def members(s):
            return set() if s == "NONE" else set(s.split(","))

        for a, b in zip(m["SP2_plink"], m["SP2_ours"], strict=True):
            assert members(a) == members(b)
    print("\n" + "\n".join(lines))


def test_clump_equals_plink19_on_eur_subset(eur):
    _compare(eur, PARAMS)


def test_clump_equals_plink19_on_hs1940(hs_sorted):
    _compare(hs_sorted, PARAMS)


# ------------------------------------------------------- the engine's TSV as plink's input


def test_tsv_is_read_by_plink19_clump(small_cohort, tmp_path):
    plink = require_tool("plink1.9")
    run = run_assoc(AssocConfig(emb=small_cohort.emb, bed=small_cohort.bed,
                                covar=small_cohort.covar, out=tmp_path, formats=("tsv",),
                                plots=False))
    # plink 1.9 --clump --clump-snp-field ID --clump-field P reads the header as written.
    run_tool([plink, "--bfile", str(small_cohort.bed), "--clump", str(run.files["sumstats_tsv"]),
              "--clump-snp-field", "ID", "--clump-field", "P", "--clump-p1", "5e-8",
              "--clump-r2", "0.1", "--out", "cl"], cwd=tmp_path)
    clumped = pd.read_csv(tmp_path / "cl.clumped", sep=r"\s+")
    ss = pd.read_csv(run.files["sumstats_tsv"], sep="\t")
    assert set(clumped["SNP"]) == set(ss.loc[ss["P"] <= 5e-8, "ID"])  # unlinked simulation
