"""`gwasrep simulate-emnist`: the smoke profile end to end (CLI), the signal in the pixels,
a killed sweep resumed to the same table, parallel and dask runs equal to the serial one,
the output lock, and bad input."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gwasrep_cli.main import app
from helpers import assert_cli_error, require_torch

require_torch()

from gwasrep.harness.run import SimulationConfig, run_simulation  # noqa: E402

runner = CliRunner()
#: The numbers of a cell (not its timings).
SAME = ["key", "method", "seed", "setting_key", "r2_z", "frac_causal_P", "frac_causal_P_BONF",
        "null_hits_P", "null_hits_P_BONF", "lambda_gc_null", "epochs", "n_causal_tested",
        "n_null_tested"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke profile through the CLI, one torch thread per cell."""
    out = tmp_path_factory.mktemp("smoke") / "sim"
    res = runner.invoke(app, ["simulate-emnist", "--profile", "smoke", "--out", str(out),
                              "--threads", "1", "--device", "cpu"])
    assert res.exit_code == 0, (res.output, res.stderr)
    return out, res


@pytest.mark.slow
def test_smoke_profile_writes_every_output(smoke):
    out, res = smoke
    for name in ("results.parquet", "results.md", "figure.png", "simulation.json"):
        assert (out / name).stat().st_size > 0, name
    table = pd.read_parquet(out / "results.parquet")
    assert table["method"].tolist() == ["gemcont", "simclr", "supervised"]
    assert (table["n_causal_tested"] == 5).all()
    assert (table["n_null_tested"] == 300).all()
    assert (table["null_hits_P"] <= 2).all()
    doc = json.loads((out / "simulation.json").read_text())
    assert doc["standin"] is True
    assert "stand-in" in doc["pool"]
    assert "embedded stand-in of EMNIST" in " ".join(res.output.split())
    assert "| gemcont | 1 |" in (out / "results.md").read_text()
    # Every cell's files: the run, its embeddings of the test set, the GWAS.
    for key, method in zip(table["key"], table["method"], strict=True):
        cell = out / "cells" / method / key
        assert (cell / "run" / "model.pt").is_file()
        assert len(pd.read_parquet(cell / "embeddings.parquet")) == 400
        assert (cell / "assoc" / "sumstats.parquet").is_file()


@pytest.mark.slow
def test_smoke_profile_runs_contig_gim_and_mrm(tmp_path):
    """Each new method gets its genetic inputs from the simulated cohort: ContIG the raw
    SNPs and the panel's PGS, GIM and MRM the SNP sequence."""
    out = tmp_path / "sim"
    res = runner.invoke(app, ["simulate-emnist", "--profile", "smoke", "--methods",
                              "contig,gim,mrm", "--out", str(out), "--threads", "1",
                              "--device", "cpu", "--quiet"])
    assert res.exit_code == 0, (res.output, res.stderr)
    table = pd.read_parquet(out / "results.parquet")
    assert table["method"].tolist() == ["contig", "gim", "mrm"]
    assert np.isfinite(table["r2_z"]).all()
    for key, method in zip(table["key"], table["method"], strict=True):
        run = json.loads((out / "cells" / method / key / "run" / "config.json").read_text())
        mods = run["data"]["modalities"]
        assert mods == ({"raw": 305, "pgs": 1} if method == "contig" else {"snps": 305})
        emb = pd.read_parquet(out / "cells" / method / key / "embeddings.parquet")
        assert emb.filter(like="emb_").shape == (400, 16)


@pytest.mark.slow
def test_supervised_recovers_the_angle_from_the_pixels(smoke):
    out, _ = smoke
    table = pd.read_parquet(out / "results.parquet").set_index("method")
    # 2 epochs on 600 images: the latent is in the pixels (R^2 of z from the test set's
    # embeddings by cross-validated ridge), and the trained GEMCONT finds it too.
    assert table.loc["supervised", "r2_z"] > 0.3, table["r2_z"]
    assert table.loc["gemcont", "r2_z"] > 0.2, table["r2_z"]


@pytest.mark.slow
def test_killed_sweep_resumes_to_the_same_table(smoke, tmp_path):
    out, _ = smoke
    ref = pd.read_parquet(out / "results.parquet")

    class KilledError(Exception):
        pass

    def kill_after_first_cell(done, total, stage, **info):
        if stage == "cells" and done == 1:
            raise KilledError

    cfg = SimulationConfig(out=tmp_path / "sim", profile="smoke", threads=1, device="cpu")
    with pytest.raises(KilledError):
        run_simulation(cfg, progress=kill_after_first_cell)
    assert not (tmp_path / "sim" / "results.parquet").exists()
    assert not (tmp_path / "sim" / ".gwasrep.lock").exists()
    res = runner.invoke(app, ["simulate-emnist", "--profile", "smoke", "--out",
                              str(tmp_path / "sim"), "--threads", "1", "--device", "cpu"])
    assert res.exit_code == 0, (res.output, res.stderr)
    assert "resumed: 1 of 3 cells" in " ".join(res.output.split())
    got = pd.read_parquet(tmp_path / "sim" / "results.parquet")
    pd.testing.assert_frame_equal(got[SAME], ref[SAME])


@pytest.mark.slow
def test_two_local_jobs_and_a_dask_cluster_give_the_serial_table(smoke, tmp_path):
    out, _ = smoke
    ref = pd.read_parquet(out / "results.parquet")
    jobs = run_simulation(SimulationConfig(out=tmp_path / "jobs", profile="smoke", jobs=2,
                                           threads=1, device="cpu"))
    pd.testing.assert_frame_equal(jobs.table[SAME], ref[SAME])
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        dask = run_simulation(SimulationConfig(out=tmp_path / "dask", profile="smoke",
                                               dask_scheduler=cluster.scheduler_address,
                                               threads=1, device="cpu"))
    pd.testing.assert_frame_equal(dask.table[SAME], ref[SAME])


def test_a_second_run_into_a_locked_folder_is_refused(tmp_path):
    out = tmp_path / "sim"
    out.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".gwasrep.lock").write_text(json.dumps({"pid": other.pid,
                                                       "host": socket.gethostname()}))
        res = runner.invoke(app, ["simulate-emnist", "--profile", "smoke", "--out", str(out)])
    finally:
        other.kill()
        other.wait()
    assert_cli_error(res, rf"another gwasrep run \(process {other.pid} on .*\) is writing "
                          "into this folder")
    assert sorted(p.name for p in out.iterdir()) == [".gwasrep.lock"]


def _bad(tmp_path, *args):
    return runner.invoke(app, ["simulate-emnist", "--profile", "smoke", "--out",
                               str(tmp_path / "o"), *args])


@pytest.mark.parametrize(("args", "message"), [
    (["--vary", "n_trains=10,20"], r"--vary n_trains=10,20: unknown factor 'n_trains'"),
    (["--vary", "n_train=ten"], r"--vary n_train=ten: the values of n_train must be integers"),
    (["--vary", "h_g"], r"--vary h_g: expected FACTOR=v1,v2"),
    (["--vary", "h_g=0.5,1.5"], r"h_g 1.5: expected a value in \(0, 1\]"),
    (["--h-g", "0"], r"--h-g 0: expected a number in \(0, 1\]"),
    (["--alpha-max", "200"], r"--alpha-max 200: expected a number in \(0, 180\]"),
    (["--n-causal", "0"], r"--n-causal 0: expected an integer >= 1"),
    (["--maf-range", "0.1"], r"--maf-range 0.1: expected two numbers LOW,HIGH"),
    (["--maf-range", "0.2,0.7"], r"--maf-range 0.2,0.7: expected a number in \(0, 0.5\]"),
    (["--maf-range", "0.3,0.2"], r"maf_range 0.3,0.2: expected 0 < low <= high <= 0.5"),
    (["--methods", "gemcont,nosuch"], r"--methods gemcont,nosuch: expected some of gemcont"),
    (["--profile", "huge"], r"--profile huge: expected one of smoke, quick, paper"),
    (["--seeds", "0"], r"--seeds 0: expected an integer >= 1"),
    (["--jobs", "0"], r"--jobs 0: expected an integer >= 1"),
])
def test_bad_options(tmp_path, args, message):
    res = _bad(tmp_path, *args)
    assert_cli_error(res, message, out=tmp_path / "o")


def test_bad_image_sources(tmp_path):
    (tmp_path / "emnist").mkdir()
    (tmp_path / "emnist" / "emnist-byclass-train-images-idx3-ubyte.gz").write_bytes(b"")
    res = _bad(tmp_path, "--emnist-dir", str(tmp_path / "emnist"))
    assert_cli_error(res, r"expected the EMNIST byclass IDX files .*missing\); found "
                          r"emnist-byclass-train-images-idx3-ubyte.gz", out=tmp_path / "o")
    np.savez(tmp_path / "pool.npz", images=np.zeros((50, 8, 8), np.uint8),
             labels=np.arange(50) % 5)
    res = _bad(tmp_path, "--image-pool", str(tmp_path / "pool.npz"))
    assert_cli_error(res, r"n_train \+ n_test = 600 \+ 400 = 1,000 images, but the image pool "
                          r"\(image pool .*pool\.npz \(sha256 [0-9a-f]{12}\)\) has 50")
    res = _bad(tmp_path, "--image-pool", str(tmp_path / "pool.npz"), "--emnist-dir",
               str(tmp_path / "emnist"))
    assert_cli_error(res, "give --emnist-dir or --image-pool, not both", out=tmp_path / "o")
