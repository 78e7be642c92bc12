"""An earlier checkout of gwasrep timed beside the installed one, in the same benchmark run.

    git worktree add /tmp/base <commit>       # the tree to compare with
    python benchmarks/bench_clump.py --before /tmp/base [--before-python /tmp/venv/bin/python]

The earlier tree's ``gwasrep`` and ``cli`` packages are put first on PYTHONPATH (through a
folder of symlinks), so both trees run on the same libraries unless ``--before-python``
names another interpreter (a venv whose packages match that commit's pins, e.g. typer).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

__all__ = ["add_arguments", "gwasrep_commands", "gwasrep_script"]

CLI = "import sys; from gwasrep_cli.main import main; sys.argv[0] = 'gwasrep'; sys.exit(main())"


def gwasrep_script() -> str:
    """The installed ``gwasrep`` console script of this interpreter (not a version manager's
    shim on PATH, such as pyenv's, which adds ~0.1 s to every run)."""
    beside = Path(sys.executable).with_name("gwasrep")
    return str(beside) if beside.is_file() else (shutil.which("gwasrep") or "gwasrep")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--before", type=Path, metavar="DIR",
                    help="checkout of an earlier commit to time as well (git worktree add)")
    ap.add_argument("--before-python", type=Path, metavar="PY",
                    help="the interpreter for --before (default: this one)")


def gwasrep_commands(args) -> dict[str, list[str]]:
    """``{"now": argv prefix, "before": argv prefix}`` (only "now" without ``--before``)."""
    cmds = {"now": [gwasrep_script()]}
    if args.before is not None:
        path = Path(tempfile.mkdtemp(prefix="gwasrep_before_"))
        for name, src in (("gwasrep", "gwasrep"), ("gwasrep_cli", "cli")):
            (path / name).symlink_to((args.before / src).resolve())
        python = str(args.before_python or sys.executable)
        cmds["before"] = ["env", f"PYTHONPATH={path}", python, "-c", CLI]
    return cmds
