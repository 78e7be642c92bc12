"""The package's structure: every module imports in a fresh interpreter, the lazy top-level
names resolve, the import graph keeps its layers and has no cycles (import-linter, the same
contracts `lint-imports` checks in the README's test command), and every subpackage is
listed for installation."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import gwasrep
import gwasrep_cli

ROOT = Path(__file__).resolve().parents[1]


def _modules(package) -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + "."))


def test_every_module_imports_in_a_fresh_interpreter():
    mods = _modules(gwasrep) + _modules(gwasrep_cli)
    code = ("import importlib\n"
            f"for m in {mods!r}:\n"
            "    importlib.import_module(m)\n"
            "print('ok')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
    assert len(mods) > 60, mods


def test_lazy_top_level_names_resolve():
    for name in gwasrep.__all__:
        assert getattr(gwasrep, name) is not None, name


def test_import_contracts_hold(monkeypatch):
    """Layers io -> assoc -> loci | heritability | mi | simulate -> models -> harness, no
    import cycle between siblings at any depth (in-function imports included), and the
    library never imports the CLI."""
    from importlinter.cli import lint_imports

    monkeypatch.chdir(ROOT)
    assert lint_imports(no_cache=True, no_logo=True) == 0


def test_every_subpackage_is_listed_for_installation():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {"gwasrep"} | {m.name for m in pkgutil.walk_packages(gwasrep.__path__, "gwasrep.")
                           if m.ispkg}
    assert found | {"gwasrep_cli"} == listed, (found, listed)
