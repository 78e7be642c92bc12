"""torch and dask are optional: the association engine, loci and LDSC import and run without
them, and `gwasrep mi` without torch says how to install it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from helpers import assert_cli_error


def _run_without(mods: list[str], body: str) -> subprocess.CompletedProcess:
    # A meta-path finder that refuses these modules: `import torch` raises
    # ModuleNotFoundError and `"torch" in sys.modules` stays False, as on a machine without
    # it (libraries such as scipy look for torch in sys.modules).
    code = ("import sys\n"
            "class _Block:\n"
            f"    names = {tuple(mods)!r}\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in self.names:\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "        return None\n"
            "sys.meta_path.insert(0, _Block())\n") + body
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300)


def test_engine_runs_without_torch_and_dask(small_cohort, tmp_path):
    res = _run_without(["torch", "dask", "distributed"], f"""
import numpy as np
from gwasrep import multitrait_lrt
from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.run import run_assoc
import gwasrep.loci.run, gwasrep.heritability.run, gwasrep.mi.run, gwasrep.harness
from gwasrep.harness import run_demo, run_evaluate
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


def test_simulate_emnist_without_torch_is_one_line(tmp_path):
    res = _run_without(["torch"], f"""
import sys
from gwasrep_cli.main import main
sys.argv = ["gwasrep", "simulate-emnist", "--profile", "smoke", "--out", {str(tmp_path / 's')!r}]
main()
""")
    assert_cli_error(res, "this command needs PyTorch", out=tmp_path / "s")


def test_package_versions_are_the_installed_ones():
    """run.json's versions: a module's ``__version__`` when it is imported, else the
    package metadata; both name the installed release."""
    from importlib import metadata

    import numpy  # noqa: F401  (imported: read from __version__)

    from gwasrep.system import _PACKAGES, package_versions

    got = package_versions()
    for pkg in _PACKAGES:
        assert got[pkg] == metadata.version(pkg), pkg
