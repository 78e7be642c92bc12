"""The installed ``gwasrep`` console script (``gwasrep_cli.main:run``).

Its fast commands end with ``os._exit`` instead of Python's finalization: their outputs,
printed lines and exit statuses must be exactly those of ``main()`` run in-process.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from gwasrep_cli.main import BY_NAME, FAST_EXIT
from helpers import assert_cli_error


@pytest.fixture(scope="module")
def script() -> str:
    beside = Path(sys.executable).with_name("gwasrep")
    path = str(beside) if beside.is_file() else shutil.which("gwasrep")
    assert path, "the gwasrep console script is not installed (pip install -e .)"
    return path


def _run(args, cwd):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_fast_exit_commands_are_commands():
    assert FAST_EXIT <= set(BY_NAME)
    assert not FAST_EXIT & {"train", "embed", "explain", "mi", "demo", "simulate-emnist",
                            "evaluate"}


def test_fast_exit_keeps_outputs_lines_and_status(script, small_cohort, tmp_path):
    c = small_cohort
    res = _run([script, "assoc", "--emb", str(c.emb), "--bed", str(c.bed), "--covar",
                str(c.covar), "--out", str(tmp_path / "a"), "--no-plots"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip(), res.stdout
    assert len(pd.read_parquet(tmp_path / "a" / "sumstats.parquet")) == c.n_variants
    res = _run([script, "clump", "--sumstats", str(tmp_path / "a" / "sumstats.parquet"),
                "--bed", str(c.bed), "--p1", "0.01", "--out", str(tmp_path / "cl")], tmp_path)
    assert res.returncode == 0, res.stderr
    # The last printed line reaches the pipe, and the files are whole.
    printed = "".join(res.stdout.split())          # rich wraps long lines
    assert printed.endswith(f"->{tmp_path / 'cl'}.clumped"), res.stdout
    assert (tmp_path / "cl.clumped").read_text().endswith("\n\n")
    assert len(pd.read_parquet(tmp_path / "cl.clump_members.parquet")) > 0
    # Bad input keeps its one line and exit status 2; a usage error its own status.
    assert_cli_error(_run([script, "clump", "--sumstats", "nope.tsv", "--bed", str(c.bed),
                           "--out", str(tmp_path / "x")], tmp_path), "file nope.tsv not found")
    res = _run([script, "clump", "--no-such-option"], tmp_path)
    assert res.returncode == 2
    assert "No such option" in res.stderr


def test_other_commands_exit_normally(script, tmp_path):
    res = _run([script, "--help"], tmp_path)
    assert res.returncode == 0
    assert "assoc" in res.stdout
    res = _run([script, "demo", "--help"], tmp_path)
    assert res.returncode == 0
