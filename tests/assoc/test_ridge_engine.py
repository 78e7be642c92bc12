"""``gwasrep assoc --lmm ridge`` on files (5-fold and ``--ridge-loocv``): the engine equals
the array API, every executor and a resumed run give identical sumstats, auto picks ridge
when the exact LMM does not fit, and bad input gets one line.

REGENIE step 1 against sgkit: reference/test_sgkit_regenie.py; calibration, power and
BOLT-LMM: test_ridge_calibration.py and reference/test_bolt_ridge.py.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gwasrep import multitrait_lrt, preprocess_embeddings
from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.relatives import find_relatives
from gwasrep.assoc.ridge import fit_loco_predictions
from gwasrep.assoc.run import run_assoc
from gwasrep.errors import ResumeError
from gwasrep.io import open_plink, read_dosages, read_embeddings
from gwasrep.simulate.families import simulate_sibships
from gwasrep_cli.main import app
from helpers import assert_cli_error, sigkill_after

runner = CliRunner()
BLOCK = 250


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """600 unrelated samples and 200 sib pairs, 3,000 variants on 3 chromosomes, 3 traits."""
    d = tmp_path_factory.mktemp("ridge")
    sizes = np.r_[np.ones(600, dtype=int), np.full(200, 2)]
    return simulate_sibships(d, n_families=sizes.size, n_sibs=sizes, n_variants=3000,
                             n_chrom=3, n_traits=3, h2=0.6, causal_frac=0.05, seed=5)


def _cfg(c, out, **kw):
    kw.setdefault("ridge_block_size", BLOCK)
    return AssocConfig(emb=c.emb, bed=c.bed, out=out, plots=False, lmm="ridge", **kw)


@pytest.fixture(scope="module")
def reference(cohort, tmp_path_factory):
    run = run_assoc(_cfg(cohort, tmp_path_factory.mktemp("ref"), threads=1, block_size=256))
    return pd.read_parquet(run.files["sumstats_parquet"]), run


@pytest.fixture(scope="module")
def loocv_reference(cohort, tmp_path_factory):
    run = run_assoc(_cfg(cohort, tmp_path_factory.mktemp("loocv"), threads=2,
                         ridge_loocv=True))
    return pd.read_parquet(run.files["sumstats_parquet"]), run


@pytest.fixture(scope="module")
def arrays(cohort):
    """The preprocessed traits, the decoded dosages and their chromosomes."""
    fs = open_plink(cohort.bed)
    emb = read_embeddings(cohort.emb)
    pre = preprocess_embeddings(emb.values, names=emb.columns)
    return pre, read_dosages(fs), fs.bim["CHROM"].to_numpy()


def test_engine_equals_array_api(reference, arrays):
    """The streamed step 1 (packed kernel, float32 spill, checkpoints) and step 2 equal
    fit_loco_predictions + multitrait_lrt(loco=) on decoded arrays."""
    ss, run = reference
    pre, G, chrom = arrays
    loco = fit_loco_predictions(pre.E, G, chrom, block_size=BLOCK, maf_min=0.01)
    relatives = find_relatives(G)
    res = multitrait_lrt(pre.E, G, loco=loco, chrom=chrom, relatives=relatives)
    assert run.n_variants_tested == res.tested.sum() == len(ss)
    # Level-0 predictions are float32 in both; the genotype standardization differs only in
    # the order of a sum, so the statistics agree far below any reported digit.
    np.testing.assert_allclose(-np.log10(ss["P"]), -np.log10(res.p[res.tested]), rtol=1e-6)
    np.testing.assert_allclose(ss["BETA_2"], res.beta[res.tested, 1], rtol=1e-6, atol=1e-9)
    meta = json.loads(run.files["run_json"].read_text())["null_model"]
    assert meta["kind"] == "ridge"
    assert meta["why"] == "requested with --lmm ridge"
    assert meta["chromosomes"] == ["1", "2", "3"]
    assert meta["n_blocks"] == 12
    assert [meta["level1"][n]["h2"] for n in pre.names] == [loco.h2_grid[b] for b in loco.best]
    # The 200 sib pairs, found from the genotypes as find_relatives finds them.
    rel = meta["relatives"]
    assert rel["n_pairs"] == relatives.n_pairs == 200
    assert rel["source"] == "genotypes"
    assert rel["n_variants"] == relatives.n_variants
    # Leaving a chromosome out matters: the three LOCO null models differ.
    c0 = meta["C0_by_group"]
    assert not np.allclose(c0["1"], c0["2"])
    report = (run.out / "report.md").read_text()
    assert "Whole-genome ridge regression" in report
    assert "cross-validated R2" in report


def test_loocv_engine_equals_array_api(loocv_reference, arrays):
    ss, run = loocv_reference
    pre, G, chrom = arrays
    loco = fit_loco_predictions(pre.E, G, chrom, block_size=BLOCK, maf_min=0.01, loocv=True)
    res = multitrait_lrt(pre.E, G, loco=loco, chrom=chrom, relatives=find_relatives(G))
    assert len(ss) == res.tested.sum()
    np.testing.assert_allclose(-np.log10(ss["P"]), -np.log10(res.p[res.tested]), rtol=1e-6)
    np.testing.assert_allclose(ss["BETA_1"], res.beta[res.tested, 0], rtol=1e-6, atol=1e-9)
    meta = json.loads(run.files["run_json"].read_text())["null_model"]
    assert meta["cross_validation"] == "leave-one-out"
    assert meta["n_folds"] == 1000
    assert [meta["level1"][n]["h2"] for n in pre.names] == [loco.h2_grid[b] for b in loco.best]
    # Not the 5-fold predictions.
    five = fit_loco_predictions(pre.E, G, chrom, block_size=BLOCK, maf_min=0.01)
    assert np.abs(five.loco - loco.loco).max() > 1e-3
    assert "leave-one-out cross-validation" in (run.out / "report.md").read_text()


def test_threads_dask_and_resume_give_identical_sumstats(cohort, reference, tmp_path):
    from distributed import LocalCluster

    ss, _ = reference
    two = run_assoc(_cfg(cohort, tmp_path / "threads", threads=2, block_size=256))
    pd.testing.assert_frame_equal(pd.read_parquet(two.files["sumstats_parquet"]), ss,
                                  check_exact=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        run = run_assoc(_cfg(cohort, tmp_path / "dask", block_size=256,
                             dask_scheduler=cluster.scheduler_address))
    assert json.loads(run.files["run_json"].read_text())["backend"]["kind"] == "dask"
    pd.testing.assert_frame_equal(pd.read_parquet(run.files["sumstats_parquet"]), ss,
                                  check_exact=True)

    # Interrupted in level 0, then in level 1, then in the scan; each time resumed.
    out = tmp_path / "resumed"
    partial = out / ".gwasrep_partial"
    for stage, after in (("ridge level 0", 5), ("ridge level 1", 1), ("scanning", 5)):
        def stop(done, total, name, stage=stage, after=after, **_):
            if name == stage and done >= after:
                raise KeyboardInterrupt

        cfg = _cfg(cohort, out, threads=2, block_size=256, resume=partial.exists())
        with pytest.raises(KeyboardInterrupt):
            run_assoc(cfg, progress=stop)
    n0 = len(list((partial / "ridge").glob("level0_*.npy")))
    n1 = len(list((partial / "ridge").glob("level1_*.npz")))
    assert n0 == 12
    assert 1 <= n1 == 3
    assert list(partial.glob("block_*.npz"))
    with pytest.raises(ResumeError, match="settings changed .*ridge_folds"):
        run_assoc(_cfg(cohort, out, block_size=256, ridge_folds=4, resume=True))
    run = run_assoc(_cfg(cohort, out, threads=1, block_size=256, resume=True))
    pd.testing.assert_frame_equal(pd.read_parquet(run.files["sumstats_parquet"]), ss,
                                  check_exact=True)
    assert not partial.exists()


def test_loocv_threads_dask_and_resume_give_identical_sumstats(cohort, loocv_reference,
                                                              tmp_path):
    """Level 0 runs on one BLAS thread per block whatever the executor: a BLAS product's
    last bits can depend on its thread count, and the eigendecomposition of leave-one-out
    shows it in the float32 predictions."""
    from distributed import LocalCluster

    ss, _ = loocv_reference
    one = run_assoc(_cfg(cohort, tmp_path / "one", threads=1, ridge_loocv=True))
    pd.testing.assert_frame_equal(pd.read_parquet(one.files["sumstats_parquet"]), ss,
                                  check_exact=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        run = run_assoc(_cfg(cohort, tmp_path / "dask", ridge_loocv=True,
                             dask_scheduler=cluster.scheduler_address))
    pd.testing.assert_frame_equal(pd.read_parquet(run.files["sumstats_parquet"]), ss,
                                  check_exact=True)

    out = tmp_path / "resumed"

    def stop(done, total, name, **_):
        if name == "ridge level 0" and done >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_assoc(_cfg(cohort, out, threads=2, ridge_loocv=True), progress=stop)
    with pytest.raises(ResumeError, match="settings changed .*ridge_loocv"):
        run_assoc(_cfg(cohort, out, threads=2, resume=True))
    run = run_assoc(_cfg(cohort, out, threads=1, resume=True, ridge_loocv=True))
    pd.testing.assert_frame_equal(pd.read_parquet(run.files["sumstats_parquet"]), ss,
                                  check_exact=True)


@pytest.mark.slow
def test_sigkilled_ridge_run_resumes_to_identical_sumstats(tmp_path):
    """SIGKILL a CLI ``--lmm ridge`` run in level 0, then ``--resume``: the sumstats equal
    those of an uninterrupted run (level-0 blocks read back, the rest computed)."""
    c = simulate_sibships(tmp_path / "data", n_families=1500, n_sibs=np.r_[np.ones(1000, int),
                                                                         np.full(500, 2)],
                          n_variants=20_000, n_chrom=4, n_traits=2, h2=0.5, seed=9)
    ref = run_assoc(_cfg(c, tmp_path / "ref", ridge_block_size=100, threads=1))
    ss = pd.read_parquet(ref.files["sumstats_parquet"])
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "gwasrep_cli.main", "assoc", "--emb", str(c.emb), "--bed",
           str(c.bed), "--out", str(out), "--lmm", "ridge", "--ridge-block-size", "100",
           "--threads", "1", "--no-plots", "--quiet"]
    level0 = out / ".gwasrep_partial" / "ridge"
    n_done = sigkill_after(cmd, level0, "level0_*.npy", 5)
    print(f"\nkilled after {n_done} of 200 level-0 blocks")
    assert 5 <= n_done < 200
    assert not list(level0.glob("level1_*.npz"))
    run = run_assoc(_cfg(c, out, ridge_block_size=100, threads=1, resume=True))
    pd.testing.assert_frame_equal(pd.read_parquet(run.files["sumstats_parquet"]), ss,
                                  check_exact=True)
    times = json.loads(run.files["run_json"].read_text())["null_model"]["time_s"]
    assert times["level0_blocks_computed"] == 200 - n_done


def test_auto_picks_ridge_when_the_exact_lmm_does_not_fit(cohort, reference, tmp_path,
                                                         monkeypatch):
    import gwasrep.assoc.engine.lmm_setup as lmm_setup

    ss, _ = reference
    # 800 samples in 2 kB: neither the dense eigendecomposition nor N x S fits.
    monkeypatch.setattr(lmm_setup, "physical_memory", lambda: 5_000)
    run = run_assoc(replace(_cfg(cohort, tmp_path, threads=1, block_size=256), lmm="auto"))
    meta = json.loads(run.files["run_json"].read_text())["null_model"]
    assert meta["kind"] == "ridge"
    assert "exact LMM does not fit in memory at N=1,000" in meta["why"]
    assert any("LMM: ridge (the exact LMM does not fit" in n for n in run.notes)
    pd.testing.assert_frame_equal(pd.read_parquet(run.files["sumstats_parquet"]), ss,
                                  check_exact=True)


def _cli(c, out, *extra, emb=None):
    return runner.invoke(app, ["assoc", "--emb", str(emb or c.emb), "--bed", str(c.bed),
                               "--out", str(out), "--quiet", "--no-plots", "--lmm", "ridge",
                               *extra])


def test_bad_input(cohort, tmp_path):
    c = cohort
    res = _cli(c, tmp_path / "o1", "--ridge-block-size", "1001")
    assert_cli_error(res, r"--ridge-block-size 1001: larger than the 1,000 step-1 variants of "
                          r"chromosome 1 \(3 chromosomes with fewer\)", tmp_path / "o1")
    one = tmp_path / "one.txt"
    one.write_text("\n".join(f"v{j}" for j in range(1, 1001)) + "\n")
    res = _cli(c, tmp_path / "o2", "--grm-extract", str(one))
    assert_cli_error(res, r"leave-one-chromosome-out needs variants on at least 2 "
                          r"chromosomes; found 1", tmp_path / "o2")
    res = _cli(c, tmp_path / "o3", "--ridge-h2", "0.5,1.0")
    assert_cli_error(res, r"--ridge-h2 0.5,1: expected a number in \(0, 1\)", tmp_path / "o3")
    res = _cli(c, tmp_path / "o3b", "--ridge-h2", "0.5,x")
    assert_cli_error(res, r"--ridge-h2 0.5,x: expected comma-separated numbers",
                     tmp_path / "o3b")
    few = tmp_path / "few.txt"
    fam = pd.read_csv(f"{c.bed}.fam", sep=" ", header=None)
    fam.iloc[:11, :2].to_csv(few, sep=" ", header=False, index=False)
    res = _cli(c, tmp_path / "o4", "--keep", str(few))
    assert_cli_error(res, r"--ridge-folds 5: needs at least folds x \(covariates \+ 2\) = 5 x 3 "
                          r"= 15 samples; found 11", tmp_path / "o4")
    res = _cli(c, tmp_path / "o5", "--reml")
    assert_cli_error(res, r"--reml applies to the exact LMM", tmp_path / "o5")
    res = _cli(c, tmp_path / "o6", "--ridge-folds", "1")
    assert_cli_error(res, r"--ridge-folds 1: expected an integer >= 2", tmp_path / "o6")
    res = _cli(c, tmp_path / "o6b", "--ridge-folds", "4", "--ridge-loocv")
    assert_cli_error(res, r"--ridge-folds 4 with --ridge-loocv: leave-one-out uses no folds",
                     tmp_path / "o6b")
    # A trait whose level-1 fit fails (no finite cross-validated R^2; finite traits that pass
    # the null model's checks do not get there, so the failure is injected): named, exit 2,
    # and the run leaves nothing behind.
    import gwasrep.assoc.ridge as ridge

    real, calls = ridge.fit_level1, []

    def second_fails(*args):
        calls.append(1)
        fit = real(*args)
        return replace(fit, best=-1) if len(calls) == 2 else fit

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ridge, "fit_level1", second_fails)
        res = _cli(c, tmp_path / "o7")
    assert len(calls) == 2
    assert_cli_error(res, r"--lmm ridge: the level-1 ridge fit of trait 'emb_2' failed",
                     tmp_path / "o7")
