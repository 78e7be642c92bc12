"""`gwasrep assoc --lmm`: calibration with sibships, equality with the library, GRM files,
low rank, LOCO and bad input."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gwasrep import multitrait_lrt
from gwasrep.assoc import lmm
from gwasrep.assoc.config import AssocConfig, GrmConfig
from gwasrep.assoc.kinship import compute_grm_parts
from gwasrep.assoc.preprocess import preprocess_embeddings
from gwasrep.assoc.run import run_assoc, run_grm
from gwasrep.io.grm import read_grm, write_grm
from gwasrep.io.plink import open_plink, read_dosages
from gwasrep.simulate import simulate_sibships
from gwasrep_cli.main import _bare_flags, app
from helpers import assert_cli_error

runner = CliRunner()


@pytest.mark.slow
def test_sibship_null_calibration(tmp_path):
    """Polygenic traits in sibships; the tested variants have no effect.

    Without kinship the sibling correlation of genotypes and traits inflates
    every test; the LOCO LMM is calibrated. (Without LOCO the tested variant is
    also in the GRM, which deflates its statistic: proximal contamination.)
    """
    c = simulate_sibships(tmp_path, n_families=300, n_sibs=4, n_variants=12_000, n_chrom=20,
                          n_traits=3, h2=0.6, causal_frac=0.25, seed=1)
    causal = tmp_path / "causal.txt"
    causal.write_text("\n".join(c.causal_ids) + "\n")
    lam = {}
    for name, kw in (("linear", {}), ("lmm_loco", {"lmm": "auto", "loco": True})):
        run = run_assoc(AssocConfig(emb=c.emb, bed=c.bed, out=tmp_path / name, exclude=causal,
                                    plots=False, **kw))
        lam[name] = run.lambda_gc
    meta = json.loads((tmp_path / "lmm_loco" / "run.json").read_text())
    print(f"\nsibships N={c.n_samples}, {run.n_variants_tested} null variants; lambda GC "
          f"(multi-trait P, then P_1..P_3): linear {lam['linear']['P']:.3f} "
          f"{[round(lam['linear'][f'P_{k}'], 3) for k in (1, 2, 3)]}, LMM+LOCO "
          f"{lam['lmm_loco']['P']:.3f} {[round(lam['lmm_loco'][f'P_{k}'], 3) for k in (1, 2, 3)]}")
    assert meta["null_model"]["kind"] == "lmm"
    assert meta["null_model"]["loco"] is True
    assert len(meta["null_model"]["null"]) == 20
    assert 0.95 <= lam["lmm_loco"]["P"] <= 1.05
    for k in (1, 2, 3):
        assert 0.93 <= lam["lmm_loco"][f"P_{k}"] <= 1.07
    assert lam["linear"]["P"] > 1.3


@pytest.fixture(scope="module")
def lmm_case(small_cohort):
    """The small cohort (N=400, D=4, missing calls) and its INT-transformed traits."""
    fs = open_plink(small_cohort.bed)
    emb = pd.read_parquet(small_cohort.emb)
    cov = pd.read_csv(small_cohort.covar, sep="\t")
    E = emb.filter(like="emb_").to_numpy()
    F = cov.filter(like="cov_").to_numpy()
    pre = preprocess_embeddings(E, F, names=list(emb.columns[1:]))
    return {"c": small_cohort, "fs": fs, "Y": pre.E, "F": F}


def _config(c, out, **kw):
    return AssocConfig(emb=c.emb, bed=c.bed, covar=c.covar, out=out, plots=False, **kw)


def _scan_under(summary: dict, ref, Y, F, G):
    """The library's scan of G under the null the engine fitted (its run.json summary).

    Two fits of one null stop wherever L-BFGS-B's gradient test is first met, and
    floating-point order alone (BLAS kernels on two copies of K) moves that point: on one
    machine the engine's and the library's Cg differ by 1.4e-7 relative, the LRTs by 3e-7.
    The scans themselves are compared under the same Cg, Cn, to rounding.
    """
    null = dataclasses.replace(ref.lmm, Cg=np.array(summary["Cg"]), Cn=np.array(summary["Cn"]),
                               lml=summary["lml"])
    return lmm.lmm_block_result(lmm.make_lmm_scan(null, Y, F), G, null=null)


def _assert_same_null(summary: dict, ref) -> None:
    """The engine's null fit equals the library's to the optimizer's tolerance."""
    assert summary["lml"] == pytest.approx(ref.lmm.lml, rel=1e-10)
    np.testing.assert_allclose(summary["Cg"], ref.lmm.Cg, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(summary["h2"], ref.lmm.h2, rtol=1e-5, atol=1e-9)


@pytest.mark.filterwarnings("ignore:N=.*may be unstable:UserWarning")
def test_engine_lmm_equals_library(lmm_case, tmp_path):
    c, fs = lmm_case["c"], lmm_case["fs"]
    run = run_assoc(_config(c, tmp_path / "full", lmm="full", threads=2, block_size=700))
    got = pd.read_parquet(run.files["sumstats_parquet"])
    parts = compute_grm_parts(fs, np.arange(fs.n_samples), np.arange(fs.n_variants))
    G = read_dosages(fs)
    ref = multitrait_lrt(lmm_case["Y"], G, covariates=lmm_case["F"], kinship=parts.matrix())
    ok = ref.tested
    assert len(got) == ok.sum()
    meta = json.loads((tmp_path / "full" / "run.json").read_text())
    nm = meta["null_model"]
    assert nm["mode"] == "full"
    assert nm["why"] == "requested with --lmm full"
    _assert_same_null(nm["null"]["all"], ref)
    same = _scan_under(nm["null"]["all"], ref, lmm_case["Y"], lmm_case["F"], G)
    np.testing.assert_array_equal(same.tested, ok)
    np.testing.assert_allclose(got["LRT"], same.lrt[ok], rtol=1e-8)
    np.testing.assert_allclose(got["BETA_2"], same.beta[ok, 1], rtol=1e-8)
    np.testing.assert_allclose(got["P_3"], same.p_dim[ok, 2], rtol=1e-8)
    # variance_components.tsv is written with 8 significant digits.
    vc = pd.read_csv(tmp_path / "full" / "variance_components.tsv", sep="\t")
    np.testing.assert_allclose(vc["H2"], nm["null"]["all"]["h2"], rtol=1e-7)
    assert "## Linear mixed model" in (tmp_path / "full" / "report.md").read_text()
    # The planted effects are still found under the LMM.
    top = set(got.nsmallest(5, "P")["ID"])
    assert len(top & set(c.causal_ids)) >= 3


@pytest.mark.filterwarnings("ignore:N=.*may be unstable:UserWarning")
def test_low_rank_auto_and_grm_file(lmm_case, tmp_path):
    """S < N GRM variants: auto picks low rank, which equals the full-rank scan; a GCTA
    file of the same GRM gives the same results up to its float32 rounding."""
    c, fs = lmm_case["c"], lmm_case["fs"]
    ids = fs.bim["ID"].iloc[::10]                      # 300 < N = 400 variants
    ext = tmp_path / "grm_snps.txt"
    ext.write_text("\n".join(ids) + "\n")
    low = run_assoc(_config(c, tmp_path / "low", lmm="auto", grm_extract=ext))
    full = run_assoc(_config(c, tmp_path / "full", lmm="full", grm_extract=ext))
    a = pd.read_parquet(low.files["sumstats_parquet"])
    b = pd.read_parquet(full.files["sumstats_parquet"])
    meta = json.loads((tmp_path / "low" / "run.json").read_text())["null_model"]
    assert meta["mode"] == "lowrank"
    assert "S=300 < N=400" in meta["why"]
    np.testing.assert_allclose(a["LRT"], b["LRT"], rtol=1e-6)
    np.testing.assert_allclose(a["SE_1"], b["SE_1"], rtol=1e-6)
    run_grm(GrmConfig(bed=c.bed, out=tmp_path / "g", extract=ext))
    viafile = run_assoc(_config(c, tmp_path / "file", lmm="auto", grm=tmp_path / "g"))
    f = pd.read_parquet(viafile.files["sumstats_parquet"])
    np.testing.assert_allclose(-np.log10(f["P"]), -np.log10(b["P"]), rtol=1e-4, atol=1e-5)


@pytest.mark.filterwarnings("ignore:N=.*may be unstable:UserWarning")
def test_loco_uses_one_null_per_chromosome(lmm_case, tmp_path):
    c, fs = lmm_case["c"], lmm_case["fs"]
    run = run_assoc(_config(c, tmp_path / "loco", lmm="full", loco=True, block_size=500))
    got = pd.read_parquet(run.files["sumstats_parquet"])
    meta = json.loads((tmp_path / "loco" / "run.json").read_text())
    parts = compute_grm_parts(fs, np.arange(fs.n_samples), np.arange(fs.n_variants), loco=True)
    chrom = fs.bim["CHROM"].to_numpy()
    for ch in ("1", "3"):
        sel = np.flatnonzero(chrom == ch)
        G = read_dosages(fs, sel)
        ref = multitrait_lrt(lmm_case["Y"], G, covariates=lmm_case["F"],
                             kinship=parts.matrix(exclude_chrom=ch))
        summary = meta["null_model"]["null"][ch]
        _assert_same_null(summary, ref)
        same = _scan_under(summary, ref, lmm_case["Y"], lmm_case["F"], G)
        mine = got[got["CHROM"] == ch]
        np.testing.assert_allclose(mine["LRT"], same.lrt[same.tested], rtol=1e-8)


def test_bare_lmm_flag_means_auto():
    assert _bare_flags(["assoc", "--lmm", "--loco"]) == ["assoc", "--lmm", "auto", "--loco"]
    assert _bare_flags(["assoc", "--lmm"]) == ["assoc", "--lmm", "auto"]
    assert _bare_flags(["assoc", "--lmm", "lowrank"]) == ["assoc", "--lmm", "lowrank"]


def _cli(c, out: Path, *extra):
    return runner.invoke(app, ["assoc", "--emb", str(c.emb), "--bed", str(c.bed), "--out",
                               str(out), "--quiet", "--no-plots", *extra])


def test_bad_grm_files(lmm_case, tmp_path):
    c, fs = lmm_case["c"], lmm_case["fs"]
    K = np.eye(fs.n_samples)
    ids = fs.fam[["FID", "IID"]]
    write_grm(tmp_path / "short", K[:-3, :-3], ids.iloc[:-3], 100)
    res = _cli(c, tmp_path / "o1", "--lmm", "auto", "--grm", str(tmp_path / "short"))
    assert_cli_error(res, r"GRM IDs do not match the samples: 3 of the 400 samples are absent",
                     tmp_path / "o1")
    K[0, 1] = K[1, 0] = 3.0
    write_grm(tmp_path / "npsd", K, ids, 100)
    res = _cli(c, tmp_path / "o2", "--lmm", "auto", "--grm", str(tmp_path / "npsd"))
    assert_cli_error(res, r"not positive semi-definite", tmp_path / "o2")
    K = np.eye(fs.n_samples)
    K[5, 5] = np.nan
    write_grm(tmp_path / "nan", K, ids, 100)
    res = _cli(c, tmp_path / "o3", "--lmm", "auto", "--grm", str(tmp_path / "nan"))
    assert_cli_error(res, r"1 entries are NaN or inf", tmp_path / "o3")
    assert read_grm(tmp_path / "nan")[0].shape == (400, 400)
    res = _cli(c, tmp_path / "o4", "--lmm", "lowrank", "--grm", str(tmp_path / "short"))
    assert_cli_error(res, r"--lmm lowrank needs the GRM built from", tmp_path / "o4")
    res = _cli(c, tmp_path / "o5", "--lmm", "lowrank")
    assert_cli_error(res, r"needs fewer GRM variants than samples", tmp_path / "o5")
    res = _cli(c, tmp_path / "o6", "--loco")
    assert_cli_error(res, r"--grm, --grm-extract, --loco and --reml "
                          "need --lmm", tmp_path / "o6")


@pytest.mark.filterwarnings("ignore:N=.*may be unstable:UserWarning")
def test_nonconverged_null_stops_the_run(lmm_case, tmp_path, monkeypatch):
    c = lmm_case["c"]
    from gwasrep.assoc.engine import lmm_setup

    monkeypatch.setattr(lmm_setup, "fit_lmm_null",
                        functools.partial(lmm.fit_lmm_null, maxiter=1, n_starts=1))
    res = _cli(c, tmp_path / "o", "--lmm", "full")
    assert_cli_error(res, r"LMM null model did not converge .* at "
                          r"lml=.*--allow-nonconverged", tmp_path / "o")
    res = _cli(c, tmp_path / "o", "--lmm", "full", "--allow-nonconverged")
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "o" / "run.json").read_text())
    assert meta["null_model"]["null"]["all"]["converged"] is False
    assert any("did not converge" in n for n in meta["notes"])


def test_auto_mode_choice_and_reason():
    from gwasrep.assoc.engine.lmm_setup import choose_mode

    mode, S, why = choose_mode("auto", 1000, 500, 1)
    assert (mode, S) == ("lowrank", 500)
    assert "S=500 < N=1,000" in why
    mode, S, why = choose_mode("auto", 1000, 5000, 1, memory=8 << 30)
    assert (mode, S) == ("full", 5000)
    assert "fits a dense eigendecomposition" in why
    # 200k samples cannot be eigendecomposed in 8 GB, nor held as N x S with S >= N: the
    # whole-genome ridge regression (memory linear in N).
    mode, S, why = choose_mode("auto", 200_000, 500_000, 1, memory=8 << 30)
    assert (mode, S) == ("ridge", None)
    assert "exact LMM does not fit in memory at N=200,000" in why
    # Low rank only when it is exact (S < N) and its N x S matrices fit the budget.
    mode, S, why = choose_mode("auto", 200_000, 1_000, 1, memory=8 << 30)
    assert (mode, S) == ("lowrank", 1_000)
    mode, S, why = choose_mode("auto", 200_000, 150_000, 1, memory=8 << 30)
    assert 8.0 * 2 * 200_000 * 150_000 > 0.4 * (8 << 30)
    assert mode == "ridge"
    assert choose_mode("ridge", 1000, 500, 1)[0] == "ridge"
    mode, S, why = choose_mode("auto", 1000, None, 1)
    assert mode == "full"
    assert "GRM read from file" in why


@pytest.mark.filterwarnings("ignore:N=.*may be unstable:UserWarning")
def test_lmm_scan_state_survives_serialization(lmm_case, tmp_path):
    """dask ships the scan state to workers: a pickled round trip scans identically."""
    import pickle

    from gwasrep.assoc.engine.inputs import prepare_inputs
    from gwasrep.assoc.engine.scan import scan_block

    prep = prepare_inputs(_config(lmm_case["c"], tmp_path / "x", lmm="full", loco=True))
    state2 = pickle.loads(pickle.dumps(prep.state))
    idx = prep.variant_idx[prep.state.variant_group[prep.variant_idx] == 1][:50]
    a, b = scan_block(prep.state, idx), scan_block(state2, idx)
    for k in ("lrt", "p", "beta", "se"):
        np.testing.assert_array_equal(a[k], b[k])
