"""`gwasrep demo`: the README's first command simulates a cohort and finds its planted loci."""

from __future__ import annotations

from typer.testing import CliRunner

from gwasrep_cli.main import app

runner = CliRunner()


def test_demo_runs(tmp_path):
    res = runner.invoke(app, ["demo", "--out", str(tmp_path), "--n-variants", "3000",
                              "--quiet"])
    assert res.exit_code == 0, res.stderr
    assert "recovered 10 of 10 planted variants" in res.stdout
    assert (tmp_path / "results" / "manhattan.png").exists()
