"""GREML h2 next to LDSC in `gwasrep h2`: the LMM null's per-dimension h2 and SE (validated
against GEMMA's pve and se(pve) in test_gemma_lmm.py) recover a simulated h2, and reach the
h2 table unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gwasrep.heritability.h2 import add_greml
from gwasrep.simulate import simulate_sibships
from gwasrep_cli.main import app

runner = CliRunner()


def _ok(args):
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output + res.stderr
    return res


def test_greml_next_to_ldsc(tmp_path):
    c = simulate_sibships(tmp_path, n_families=300, n_sibs=4, n_variants=6_000, n_chrom=10,
                          n_traits=2, h2=0.6, causal_frac=0.25, seed=3)
    out = tmp_path / "assoc"
    _ok(["assoc", "--emb", str(c.emb), "--bed", str(c.bed), "--out", str(out), "--lmm",
         "full", "--reml", "--no-plots", "--quiet"])
    _ok(["ldscore", "--bed", str(c.bed), "--window-kb", "1000", "--out", str(tmp_path / "ld"),
         "--quiet"])
    _ok(["h2", "--sumstats", str(out / "sumstats.parquet"), "--ref-ld", str(tmp_path / "ld"),
         "--out", str(tmp_path / "h2.tsv"), "--n-blocks", "50"])
    t = pd.read_csv(tmp_path / "h2.tsv", sep="\t")
    vc = pd.read_csv(out / "variance_components.tsv", sep="\t")
    print(t[["TRAIT", "H2", "H2_SE", "GREML_H2", "GREML_H2_SE"]])
    np.testing.assert_allclose(t["GREML_H2"], vc["H2"], rtol=1e-7)
    np.testing.assert_allclose(t["GREML_H2_SE"], vc["H2_SE"], rtol=1e-7)
    assert list(t["GREML_METHOD"]) == ["REML", "REML"]
    # The simulated h2 is 0.6: within 3 SE, with an SE that says something (< 0.1).
    assert (t["GREML_H2_SE"] < 0.1).all()
    assert (np.abs(t["GREML_H2"] - 0.6) < 3 * t["GREML_H2_SE"]).all()
    _ok(["h2", "--sumstats", str(out / "sumstats.parquet"), "--ref-ld", str(tmp_path / "ld"),
         "--out", str(tmp_path / "h2b.tsv"), "--n-blocks", "50", "--no-greml"])
    assert "GREML_H2" not in pd.read_csv(tmp_path / "h2b.tsv", sep="\t").columns


def test_add_greml_loco_mean_and_errors():
    table = pd.DataFrame({"TRAIT": ["dimension 1", "dimension 2"], "H2": [0.1, 0.2]})
    vc = pd.DataFrame({"GROUP": ["1", "1", "2", "2"], "DIM": [1, 2, 1, 2],
                       "H2": [0.5, 0.3, 0.7, 0.5], "H2_SE": [0.1, 0.2, 0.3, 0.4],
                       "METHOD": "ML"})
    out, notes = add_greml(table, vc)
    np.testing.assert_allclose(out["GREML_H2"], [0.6, 0.4])
    np.testing.assert_allclose(out["GREML_H2_SE"], [0.2, 0.3])
    assert "mean over 2 LOCO null models" in " ".join(notes)
    vc_all = pd.concat([vc, pd.DataFrame({"GROUP": ["all"], "DIM": [2], "H2": [0.9],
                                          "H2_SE": [0.05], "METHOD": ["ML"]})])
    out, notes = add_greml(table, vc_all)
    assert np.isnan(out["GREML_H2"].iloc[0])
    assert out["GREML_H2"].iloc[1] == 0.9
    assert "1 dimension(s) without a GREML estimate" in " ".join(notes)
    with pytest.raises(ValueError, match="single Z column"):
        add_greml(pd.DataFrame({"TRAIT": ["Z"], "H2": [0.1]}), vc)
    with pytest.raises(ValueError, match="expected columns"):
        add_greml(table, vc.drop(columns="METHOD"))
