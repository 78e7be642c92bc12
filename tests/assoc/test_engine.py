"""The file-level engine: backends agree, a killed run resumes to the same result, outputs.

plink1.9 --clump reading the TSV: reference/test_plink19_clump.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.run import run_assoc
from gwasrep.errors import InputError, ResumeError
from helpers import sigkill_after


def _cfg(c, out, **kw):
    return AssocConfig(emb=c.emb, bed=c.bed, covar=c.covar, out=out, plots=False, **kw)


@pytest.fixture(scope="module")
def reference_run(small_cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    run = run_assoc(_cfg(small_cohort, out, block_size=256, threads=1))
    return pd.read_parquet(run.files["sumstats_parquet"]), run


def test_engine_matches_in_memory_api(small_cohort, reference_run, tmp_path):
    """The streamed packed-kernel path equals multitrait_lrt on decoded arrays."""
    from gwasrep import multitrait_lrt, preprocess_embeddings
    from gwasrep.io import open_plink, read_covariates, read_dosages, read_embeddings

    ss, run = reference_run
    fs = open_plink(small_cohort.bed)
    emb, cov = read_embeddings(small_cohort.emb), read_covariates(small_cohort.covar)
    pre = preprocess_embeddings(emb.values, cov.values)
    res = multitrait_lrt(pre.E, read_dosages(fs), covariates=cov.values)
    assert run.n_variants_tested == res.tested.sum() == len(ss)
    np.testing.assert_allclose(ss["P"], res.p[res.tested], rtol=1e-9)
    np.testing.assert_allclose(ss["BETA_3"], res.beta[res.tested, 2], rtol=1e-9)
    assert set(small_cohort.causal_ids) <= set(ss.nsmallest(8, "P")["ID"])


def test_threads_give_identical_results(small_cohort, reference_run, tmp_path):
    ss, _ = reference_run
    run = run_assoc(_cfg(small_cohort, tmp_path, block_size=100, threads=2))
    pd.testing.assert_frame_equal(pd.read_parquet(run.files["sumstats_parquet"]), ss,
                                  check_exact=True)


def test_dask_localcluster_equals_local_run(small_cohort, reference_run, tmp_path):
    from distributed import LocalCluster

    ss, _ = reference_run
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        run = run_assoc(_cfg(small_cohort, tmp_path, block_size=256,
                             dask_scheduler=cluster.scheduler_address))
    meta = json.loads(run.files["run_json"].read_text())
    assert meta["backend"]["kind"] == "dask"
    pd.testing.assert_frame_equal(pd.read_parquet(run.files["sumstats_parquet"]), ss,
                                  check_exact=True)


@pytest.mark.slow
def test_killed_run_resumes_to_identical_result(tmp_path, monkeypatch):
    """SIGKILL a CLI run mid-scan, then --resume; the result equals the uninterrupted run."""
    from gwasrep.simulate import simulate_cohort

    c = simulate_cohort(tmp_path / "data", n_samples=300, n_variants=60_000, n_traits=3,
                        n_covariates=1, n_causal=3, missing_rate=0.01, seed=3)
    n_blocks = 60_000 // 64 + 1
    ref = run_assoc(_cfg(c, tmp_path / "ref", block_size=64))
    ss = pd.read_parquet(ref.files["sumstats_parquet"])
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "gwasrep_cli.main", "assoc", "--emb", str(c.emb),
           "--bed", str(c.bed), "--covar", str(c.covar), "--out", str(out),
           "--block-size", "64", "--threads", "1", "--no-plots", "--quiet"]
    partial = out / ".gwasrep_partial"
    n_done = sigkill_after(cmd, partial, "block_*.npz", 3, timeout=120)
    print(f"\nkilled after {n_done} of {n_blocks} blocks")
    assert 3 <= n_done < n_blocks
    assert not (out / "sumstats.parquet").exists()
    # Without --resume the unfinished run is not silently discarded.
    with pytest.raises(ResumeError, match="unfinished run .* pass --resume"):
        run_assoc(_cfg(c, out, block_size=64))
    # A changed setting cannot resume.
    with pytest.raises(ResumeError, match="settings changed .*maf"):
        run_assoc(_cfg(c, out, block_size=64, maf=0.05, resume=True))
    # A .bed edited in place, its size and modification time restored, cannot resume.
    bed = Path(str(c.bed) + ".bed")
    original, st = bed.read_bytes(), bed.stat()
    edited = bytearray(original)
    edited[3 + 10] ^= 0xFF  # a byte of variant 1, which sits in checkpointed block 0
    bed.write_bytes(bytes(edited))
    os.utime(bed, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(ResumeError, match=r"the \.bed .* changed since block 0"):
        run_assoc(_cfg(c, out, block_size=64, resume=True))
    bed.write_bytes(original)
    # The same files by a relative path resume (paths are compared after resolving).
    monkeypatch.chdir(c.emb.parent)
    run = run_assoc(replace(_cfg(c, out, block_size=64, resume=True), emb=Path(c.emb.name)))
    pd.testing.assert_frame_equal(pd.read_parquet(run.files["sumstats_parquet"]), ss,
                                  check_exact=True)
    assert not partial.exists()


def test_second_run_into_a_locked_folder_fails_at_once(small_cohort, tmp_path):
    """Another live process holds OUT's lock: one line naming it, and its files untouched."""
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time\nfrom gwasrep.io.lock import output_lock\n"
                               f"with output_lock({str(out)!r}):\n"
                               "    print('held', flush=True)\n    time.sleep(60)\n"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        (out / "work.txt").write_text("the running job's file")
        t0 = time.perf_counter()
        with pytest.raises(InputError, match=rf"--out {out}: another gwasrep run \(process "
                                             rf"{holder.pid} on .*\) is writing"):
            run_assoc(_cfg(small_cohort, out, overwrite=True))
        assert time.perf_counter() - t0 < 5
        assert sorted(p.name for p in out.iterdir()) == [".gwasrep.lock", "work.txt"]
    finally:
        holder.kill()
        holder.wait()


def test_existing_file_as_out_is_refused(small_cohort, tmp_path):
    out = tmp_path / "results"
    out.write_text("not a folder")
    with pytest.raises(InputError, match=rf"--out {out}: exists and is not a folder"):
        run_assoc(_cfg(small_cohort, out))
    assert out.read_text() == "not a folder"


def test_outputs_tsv_excluded_and_metadata(small_cohort, tmp_path):
    run = run_assoc(AssocConfig(emb=small_cohort.emb, bed=small_cohort.bed,
                                covar=small_cohort.covar, out=tmp_path, maf=0.1, geno=0.02,
                                formats=("parquet", "tsv")))
    pq_ = pd.read_parquet(run.files["sumstats_parquet"])
    tsv = pd.read_csv(run.files["sumstats_tsv"], sep="\t", dtype={"CHROM": str})
    assert list(tsv.columns[:13]) == ["CHROM", "POS", "ID", "REF", "ALT", "A1", "A1_FREQ",
                                      "OBS_CT", "MISSING_FRAC", "LRT", "DF", "P", "P_BONF"]
    assert list(tsv.columns[13:16]) == ["BETA_1", "SE_1", "P_1"]
    np.testing.assert_allclose(tsv["P"], pq_["P"], rtol=1e-9)
    excl = pd.read_csv(run.files["excluded_variants"], sep="\t")
    assert set(excl["REASON"]) == {"maf", "geno"}
    assert len(excl) + len(pq_) == 3000
    assert (excl.loc[excl.REASON == "geno", "MISSING_FRAC"] > 0.02).all()
    meta = json.loads(run.files["run_json"].read_text())
    assert meta["variants"]["excluded"] == excl["REASON"].value_counts().to_dict()
    assert set(meta["lambda_gc"]) == {"P", "P_BONF", "P_1", "P_2", "P_3", "P_4"}
    assert len(meta["inputs"]["emb"]["sha256"]) == 64
    assert meta["inputs"]["bed"]["blocks_crc32_sha256"]
    for key in ("manhattan", "qq"):
        assert run.files[key].read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*.tmp"))


def test_lmm_resume_refuses_a_bed_edited_outside_the_finished_blocks(small_cohort, tmp_path):
    """The LMM's kinship reads the whole .bed, so an edit of a variant no finished block
    holds still changes the results: its digest is part of the fingerprint."""
    for ext in ("bed", "bim", "fam"):
        shutil.copy(f"{small_cohort.bed}.{ext}", tmp_path / f"c.{ext}")
    cfg = replace(_cfg(small_cohort, tmp_path / "out", lmm="full", block_size=200, threads=1),
                  bed=tmp_path / "c")

    class StopError(Exception):
        pass

    def stop_after_two(done, total, stage, **info):
        if stage == "scanning" and done >= 400:
            raise StopError

    with pytest.raises(StopError):
        run_assoc(cfg, progress=stop_after_two)
    partial = tmp_path / "out" / ".gwasrep_partial"
    assert 2 <= len(list(partial.glob("block_*.npz"))) < 15
    bed = tmp_path / "c.bed"
    raw = bytearray(bed.read_bytes())
    st = bed.stat()
    raw[3 + 2900 * 100] ^= 0xFF  # variant 2,901: in no finished block, but in the kinship
    bed.write_bytes(bytes(raw))
    os.utime(bed, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(ResumeError, match=r"inputs or settings changed \(bed\)"):
        run_assoc(replace(cfg, resume=True))
