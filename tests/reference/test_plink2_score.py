"""ContIG's polygenic scores against ``plink2 --score ... cols=scoreavgs`` on mouse_hs1940.

The same weights file (two score columns, 40 % of the weights on the .bim's A2, so the
allele alignment is exercised) on a copy of hs1940 with 3 % of the calls set missing (so
plink2's mean imputation is exercised) and on the original.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gwasrep.io.plink import open_plink, read_dosages, write_plink
from gwasrep.models.genetics import polygenic_scores
from helpers import require_tool, run_tool


@pytest.fixture(scope="module")
def weights(hs1940, tmp_path_factory):
    d = tmp_path_factory.mktemp("pgs")
    fs = open_plink(hs1940["prefix"])
    rng = np.random.default_rng(1)
    usable = np.flatnonzero(fs.bim["POS"].to_numpy() > 0)  # plink2 drops bp <= 0
    sel = np.sort(rng.choice(usable, 2000, replace=False))
    w = fs.bim.iloc[sel][["ID", "A1", "A2"]].reset_index(drop=True)
    swap = rng.random(len(w)) < 0.4
    w.loc[swap, ["A1", "A2"]] = w.loc[swap, ["A2", "A1"]].to_numpy()
    w["W1"] = rng.normal(size=len(w))
    w["W2"] = rng.exponential(size=len(w))
    w.to_csv(d / "weights.tsv", sep="\t", index=False, float_format="%.10g")
    G = read_dosages(fs)
    G = np.where(np.isfinite(G), G, -1).astype(np.int8)
    G[rng.random(G.shape) < 0.03] = -1
    write_plink(d / "hs_missing", G, fs.bim, fs.fam)
    return d


@pytest.mark.parametrize("fileset", ["original", "missing", "missing, a third kept"])
def test_pgs_equals_plink2_score_avg(hs1940, weights, tmp_path, fileset):
    """The last case scores a third of the samples (``--keep``): the mean imputation then
    uses their allele frequencies, in plink2 as in gwasrep."""
    plink2 = require_tool("plink2")
    prefix = hs1940["prefix"] if fileset == "original" else weights / "hs_missing"
    w = weights / "weights.tsv"
    fs = open_plink(prefix)
    rows = np.arange(fs.n_samples)
    keep = []
    if "kept" in fileset:
        rows = rows[::3]
        fs.fam.iloc[rows][["FID", "IID"]].to_csv(tmp_path / "keep.txt", sep="\t",
                                                 header=False, index=False)
        keep = ["--keep", str(tmp_path / "keep.txt")]
    run_tool([plink2, "--bfile", str(prefix), "--nonfounders", *keep, "--score", str(w), "1",
              "2", "header-read", "cols=scoreavgs", "--score-col-nums", "4-5", "--out",
              str(tmp_path / "p2")], cwd=tmp_path)
    ref = pd.read_csv(tmp_path / "p2.sscore", sep="\t")
    assert list(ref["#IID"].astype(str)) == list(fs.fam["IID"].iloc[rows])
    avg, called, cols, notes = polygenic_scores(fs, rows, w)
    assert cols == ["W1", "W2"]
    assert called.all()
    assert notes == []
    for j, c in enumerate(cols):
        p2 = ref[f"{c}_AVG"].to_numpy()
        print(f"{fileset} {c}: max |gwasrep - plink2| = {np.abs(avg[:, j] - p2).max():.2e}")
        # plink2 writes 6 significant digits.
        np.testing.assert_allclose(avg[:, j], p2, rtol=5e-6, atol=1e-12)
        z, zp = (avg[:, j] - avg[:, j].mean()) / avg[:, j].std(), (p2 - p2.mean()) / p2.std()
        np.testing.assert_allclose(z, zp, atol=1e-3)
