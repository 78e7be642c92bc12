"""torch and dask are optional: the association engine, loci and LDSC import and run without
them, and `gwasrep mi` without torch says how to install it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from helpers import assert_cli_error


def _run_without(mods: list[str], body: str) -> subprocess.CompletedProcess:
    # A None entry in sys.modules makes `import torch` raise ImportError.
    code = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in mods) + body
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300)


def test_engine_runs_without_torch_and_dask(small_cohort, tmp_path):
    res = _run_without(["torch", "dask", "distributed"], f"""
import numpy as np
from gwasrep import multitrait_lrt
from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.run import run_assoc
import gwasrep.loci.run, gwasrep.heritability.run, gwasrep.mi.run
rng = np.random.default_rng(0)
r = multitrait_lrt(rng.standard_normal((50, 2)), rng.integers(0, 3, (50, 4)).astype(float))
assert r.p.shape == (4,)
run = run_assoc(AssocConfig(emb={str(small_cohort.emb)!r}, bed={str(small_cohort.bed)!r},
                            out={str(tmp_path / 'out')!r}, plots=False))
print("ok", run.n_variants_tested)
""")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ok 3000"), res.stdout


def test_mi_without_torch_is_one_line(small_cohort, tmp_path):
    res = _run_without(["torch"], f"""
import sys
from gwasrep_cli.main import main
sys.argv = ["gwasrep", "mi", "--emb", {str(small_cohort.emb)!r}, "--bed",
            {str(small_cohort.bed)!r}, "--out", {str(tmp_path / 'm')!r}]
main()
""")
    assert_cli_error(res, "gwasrep mi needs PyTorch")
