"""Bad input: one line on stderr naming what was expected and found, exit 2, no output."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gwasrep_cli.main import app
from helpers import assert_cli_error

runner = CliRunner()


@pytest.fixture
def case(small_cohort, tmp_path):
    """Editable copies of the small cohort's files."""
    for ext in ("bed", "bim", "fam"):
        shutil.copy(small_cohort.bed.with_suffix(f".{ext}"), tmp_path / f"c.{ext}")
    emb = pd.read_parquet(small_cohort.emb)
    cov = pd.read_csv(small_cohort.covar, sep="\t")
    return {"dir": tmp_path, "bed": tmp_path / "c", "emb": emb, "cov": cov,
            "out": tmp_path / "out"}


def _run(case, emb=None, cov=None, extra=()):
    d = case["dir"]
    (emb if emb is not None else case["emb"]).to_parquet(d / "emb.parquet", index=False)
    args = ["assoc", "--emb", str(d / "emb.parquet"), "--bed", str(case["bed"]),
            "--out", str(case["out"]), "--quiet", *extra]
    if cov is not False:
        (cov if cov is not None else case["cov"]).to_csv(d / "cov.tsv", sep="\t", index=False)
        args += ["--covar", str(d / "cov.tsv")]
    return runner.invoke(app, args)


def test_missing_bim(case):
    (case["dir"] / "c.bim").unlink()
    assert_cli_error(_run(case), r"expected .bed, .bim and .fam; missing .*c\.bim", case["out"])


def test_missing_fam(case):
    (case["dir"] / "c.fam").unlink()
    assert_cli_error(_run(case), r"missing .*c\.fam", case["out"])


def test_bed_size_mismatch(case):
    with open(case["dir"] / "c.bed", "ab") as fh:
        fh.write(b"\x00" * 7)
    assert_cli_error(_run(case), r"size .* does not match 3,000 variants", case["out"])


def test_bed_magic(case):
    raw = bytearray((case["dir"] / "c.bed").read_bytes())
    raw[2] = 0
    (case["dir"] / "c.bed").write_bytes(bytes(raw))
    assert_cli_error(_run(case), "magic bytes 6c 1b 01, found 6c 1b 00", case["out"])


def test_no_overlapping_ids(case):
    emb = case["emb"].assign(sample_id="X" + case["emb"]["sample_id"])
    assert_cli_error(_run(case, emb=emb),
                     r"share 0 of 400 sample IDs; first embeddings IDs: XS000001"
                     r".*\.fam IDs: S000001", case["out"])


def test_duplicated_ids(case):
    emb = case["emb"].copy()
    emb.loc[5, "sample_id"] = emb.loc[4, "sample_id"]
    assert_cli_error(_run(case, emb=emb),
                     r"1 duplicated sample IDs in the embeddings, e\.g\. S000005", case["out"])


def test_nan_embeddings_error_and_drop_missing(case):
    emb = case["emb"].copy()
    emb.loc[[3, 10], "emb_2"] = np.nan
    emb.loc[11, "emb_1"] = np.inf
    assert_cli_error(_run(case, emb=emb),
                     r"embeddings: 3 of the 400 shared samples have NaN or inf .*--drop-missing",
                     case["out"])
    res = _run(case, emb=emb, extra=["--drop-missing", "--no-plots"])
    assert res.exit_code == 0, res.stderr
    import json

    meta = json.loads((case["dir"] / "out" / "run.json").read_text())
    assert meta["samples"]["used"] == 397
    assert any("dropped 3 samples: NaN/inf in embeddings" in n for n in meta["notes"])


def test_too_few_samples(case):
    keep = case["dir"] / "keep.txt"
    keep.write_text("\n".join(case["emb"]["sample_id"][:7]) + "\n")
    assert_cli_error(_run(case, extra=["--keep", str(keep)]),
                     r"too few samples: need at least D \+ K \+ 2 = 9 .* found 7", case["out"])


def test_constant_embedding_column(case):
    emb = case["emb"].assign(emb_3=1.5)
    assert_cli_error(_run(case, emb=emb), "embedding column emb_3 constant", case["out"])


def test_rank_deficient_covariates(case):
    cov = case["cov"].assign(cov_3=lambda d: 2 * d["cov_1"] - d["cov_2"])
    assert_cli_error(_run(case, cov=cov),
                     r"covariates are rank deficient \(rank 3 with the intercept, 4 columns\): "
                     "3 linearly dependent, cov_1, cov_2, cov_3", case["out"])


def test_constant_covariate(case):
    cov = case["cov"].assign(batch=7.0)
    assert_cli_error(_run(case, cov=cov), "rank deficient: 1 constant .*: batch", case["out"])


def test_too_many_pcs(case):
    assert_cli_error(_run(case, extra=["--pcs", "9"]),
                     r"--pcs 9: expected between 1 and the number of embedding columns \(4\)",
                     case["out"])


def test_non_numeric_embedding_column(case):
    emb = case["emb"].assign(site=["a", "b"] * 200)
    assert_cli_error(_run(case, emb=emb),
                     r"embedding column 'site' is not numeric .*--meta-cols", case["out"])
    assert _run(case, emb=emb, extra=["--meta-cols", "site", "--no-plots"]).exit_code == 0


def test_categorical_covariate_is_one_hot_encoded(case):
    cov = case["cov"].assign(site=np.array(["A", "B", "C", "A"] * 100))
    res = _run(case, cov=cov, extra=["--no-plots"])
    assert res.exit_code == 0, res.stderr
    import json

    meta = json.loads((case["dir"] / "out" / "run.json").read_text())
    assert meta["covariates"]["names"] == ["cov_1", "cov_2", "site=B", "site=C"]
    assert any("'site' is categorical with 3 levels" in n for n in meta["notes"])


def test_one_text_value_in_a_numeric_covariate(case):
    cov = case["cov"].astype({"cov_1": object})
    cov.loc[7, "cov_1"] = "abc"
    res = _run(case, cov=cov)
    assert_cli_error(res, r"covariate cov_1: non-numeric value 'abc' \(row 8\) in a column of "
                          "numbers", case["out"])
    assert len(res.stderr) < 400


def test_id_like_text_covariate(case):
    cov = case["cov"].assign(code=[f"X{i}" for i in range(len(case["cov"]))])
    assert_cli_error(_run(case, cov=cov), r"covariate code: 400 distinct text values among "
                                          "400 samples", case["out"])


def test_duplicated_bim_ids(case):
    bim = pd.read_csv(case["dir"] / "c.bim", sep="\t", header=None)
    bim.loc[11, 1] = bim.loc[10, 1]
    bim.to_csv(case["dir"] / "c.bim", sep="\t", header=False, index=False)
    assert_cli_error(_run(case), rf"c\.bim: 1 variant IDs appear more than once \(e\.g\. "
                                 rf"{bim.loc[10, 1]}\); give them distinct IDs", case["out"])


def test_file_as_out(case):
    case["out"].write_text("x")
    assert_cli_error(_run(case), r"--out .*out: exists and is not a folder")
    assert case["out"].read_text() == "x"


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--maf", "0.7", r"--maf 0.7: expected a number in \[0, 0.5\]"),
    ("--geno", "nan", r"--geno nan: expected a number in \[0, 1\]"),
    ("--threads", "0", r"--threads 0: expected an integer >= 1"),
    ("--block-size", "0", r"--block-size 0: expected an integer >= 1"),
    ("--pcs", "0", r"--pcs 0: expected an integer >= 1"),
])
def test_out_of_range_options(case, option, value, message):
    assert_cli_error(_run(case, extra=[option, value]), message, case["out"])
