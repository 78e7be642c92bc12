"""Shared fixtures: real data (mouse_hs1940) and a small simulated cohort.

Fixtures only. The helpers (reference-tool guards, ``run_tool``, ``assert_cli_error``,
small random data) are in tests/helpers.py (``from helpers import ...``); a fixture used
by one test file stays in that file. Layout and markers: tests/README.md.
"""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from gwasrep.simulate import simulate_cohort
from helpers import HS1940, require_file


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
