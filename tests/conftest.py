"""Shared fixtures: real data (mouse_hs1940), simulated cohorts, and real-tool lookup.

A comparison with a real tool fails, not skips, when the tool is missing in CI
(``CI=true``); on a laptop it skips.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gwasrep.simulate import simulate_cohort

IN_CI = os.environ.get("CI", "").lower() == "true"
HS1940 = Path("/usr/share/doc/gemma/example")


def require_tool(name: str) -> str:
    """Path of a reference tool; fail in CI, skip elsewhere, when it is missing."""
    path = shutil.which(name)
    if path is None:
        msg = f"reference tool '{name}' not installed (see .ci/run)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def require_file(path: Path) -> Path:
    if not path.exists():
        msg = f"reference data {path} missing (Debian package gemma-doc; see .ci/run)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


EUR_TARBALL = Path("/usr/share/doc/bolt-lmm/examples/examples.tar.xz")


def extract_eur(d: Path, names: tuple[str, ...]) -> None:
    """Copy EUR_subset files (Debian's bolt-lmm-example) out of their tarball into ``d``."""
    import lzma
    import tarfile

    with lzma.open(require_file(EUR_TARBALL)) as xz, tarfile.open(fileobj=xz) as tar:
        for name in names:
            member = next(m for m in tar.getmembers() if m.name.endswith(name))
            (d / name).write_bytes(tar.extractfile(member).read())


def run_tool(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="session")
def hs1940(tmp_path_factory) -> dict:
    """mouse_hs1940 as a clean PLINK fileset (6-column .fam) plus its 6 phenotype columns."""
    src = HS1940
    d = tmp_path_factory.mktemp("hs1940")
    for ext in ("bed", "bim"):
        with gzip.open(require_file(src / f"mouse_hs1940.{ext}.gz"), "rb") as fi:
            (d / f"hs.{ext}").write_bytes(fi.read())
    with gzip.open(require_file(src / "mouse_hs1940.fam.gz"), "rt") as fi:
        fam = pd.read_csv(fi, sep=r"\s+", header=None, na_values="NA", dtype={0: str, 1: str})
    fam6 = fam.iloc[:, :6].copy()
    fam6[5] = -9
    fam6.to_csv(d / "hs.fam", sep=" ", header=False, index=False)
    pheno = fam.iloc[:, 5:].to_numpy(dtype=float)
    return {"prefix": d / "hs", "dir": d, "fid": fam[0].to_numpy(), "iid": fam[1].to_numpy(),
            "sex": fam[4].to_numpy(dtype=float), "pheno": pheno}


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory):
    """A small simulated cohort with planted effects and missing calls."""
    d = tmp_path_factory.mktemp("small")
    return simulate_cohort(d, n_samples=400, n_variants=3000, n_traits=4, n_covariates=2,
                           n_causal=5, effect_sd=0.3, missing_rate=0.01, seed=7)


def load_sumstats(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, sep="\t")


def random_design(rng: np.random.Generator, N: int, D: int, K: int, M: int):
    """Small random data for the numeric tests: E, G (with NaN), F."""
    F = rng.standard_normal((N, K))
    G = rng.binomial(2, rng.uniform(0.1, 0.5, M), size=(N, M)).astype(float)
    L = rng.standard_normal((D, D))
    E = rng.standard_normal((N, D)) @ L + F @ rng.standard_normal((K, D)) + 0.4 * G[:, [0]]
    return E, G, F
