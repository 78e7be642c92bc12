"""Malformed tables and options for clump, loci, panel, meta, ldscore, h2 and grm.

Every case: exit 2, one ``error:`` line naming the file or option, what was expected and
what was found, and nothing written into the (empty) output folder. The cases are those a
run of malformed inputs found accepted, crashing or unclear (issue 14), plus the neighbours
of each. ``test_cli_errors.py`` has assoc's, ``test_train_cli.py`` train's and embed's.
"""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.run import run_assoc
from gwasrep.heritability.run import LdscoreConfig, run_ldscore
from gwasrep_cli.main import app
from helpers import assert_cli_error

runner = CliRunner()


@pytest.fixture(scope="module")
def files(small_cohort, tmp_path_factory):
    """The small cohort's sumstats (multi-trait, and one trait as an effect table) and LD
    scores."""
    d = tmp_path_factory.mktemp("badtables")
    run = run_assoc(AssocConfig(emb=small_cohort.emb, bed=small_cohort.bed,
                                covar=small_cohort.covar, out=d / "assoc", plots=False))
    ss = pd.read_parquet(run.files["sumstats_parquet"])
    one = pd.DataFrame({"CHROM": ss["CHROM"], "POS": ss["POS"], "ID": ss["ID"], "A1": ss["A1"],
                        "A2": np.where(ss["A1"] == ss["ALT"], ss["REF"], ss["ALT"]),
                        "BETA": ss["BETA_1"], "SE": ss["SE_1"], "P": ss["P_1"],
                        "N": ss["OBS_CT"]})
    run_ldscore(LdscoreConfig(bed=small_cohort.bed, out=d / "ld", window_kb=1000))
    return {"dir": d, "bed": small_cohort.bed, "ss": ss, "one": one, "ld": d / "ld",
            "sumstats": run.files["sumstats_parquet"]}


@pytest.fixture
def case(files, tmp_path):
    """A fresh output folder (``out``) and a scratch folder for edited inputs."""
    (tmp_path / "o").mkdir()
    return {**files, "tmp": tmp_path, "o": tmp_path / "o"}


def _tsv(frame, path):
    frame.to_csv(path, sep="\t", index=False)
    return path


def _edit(frame, row, **values):
    frame = frame.copy()
    for col, v in values.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            frame[col] = frame[col].astype(object)
        elif isinstance(v, float):
            frame[col] = frame[col].astype(float)
        frame.loc[row, col] = v
    return frame


def _check(case, args, pattern):
    assert_cli_error(runner.invoke(app, [*map(str, args), "--quiet"]), pattern, case["o"])


def _fileset_copy(case, *, magic_byte: int | None = None):
    """An editable copy of the cohort's fileset; ``magic_byte``: zero that byte of the
    .bed's 3-byte magic."""
    copy = case["tmp"] / "c"
    for ext in ("bed", "bim", "fam"):
        shutil.copy(f"{case['bed']}.{ext}", f"{copy}.{ext}")
    if magic_byte is not None:
        raw = bytearray(copy.with_suffix(".bed").read_bytes())
        raw[magic_byte] = 0
        copy.with_suffix(".bed").write_bytes(bytes(raw))
    return copy


# ---------------------------------------------------------------------------------- clump

CLUMP = [
    ("p_negative", {"P": -0.1}, [], r"column P: expected p-values in \[0, 1\]; found 1 row "
                                    r"outside, e\.g\. -0\.1 \(row 11, ID "),
    ("p_above_one", {"P": 1.5}, [], r"column P: expected p-values in \[0, 1\].* 1\.5"),
    ("p_text", {"P": "abc"}, [], r"column P: expected numbers; found 1 non-numeric value, "
                                 r"e\.g\. 'abc' \(row 11"),
    ("duplicated_id", "dup", [], r"1 variant IDs appear more than once"),
    ("kb_zero", None, ["--kb", "0"], r"--kb 0: expected a number > 0"),
    ("kb_negative", None, ["--kb", "-5"], r"--kb -5: expected a number > 0"),
    ("p1_zero", None, ["--p1", "0"], r"--p1 0: expected a number in \(0, 1\]"),
    ("r2_above_one", None, ["--r2", "1.5"], r"--r2 1.5: expected a number in \[0, 1\]"),
    ("p2_nan", None, ["--p2", "nan"], r"--p2 nan: expected a number in \(0, 1\]"),
    ("missing_p_column", "nop", [], r"missing column P; found CHROM, POS, ID"),
    ("csv_as_parquet", "fakepq", [], r"could not read table"),
    ("empty_file", "empty", [], r"could not read table"),
]


@pytest.mark.parametrize(("name", "edit", "extra", "pattern"), CLUMP, ids=[c[0] for c in CLUMP])
def test_clump(case, name, edit, extra, pattern):
    one, path = case["one"], case["tmp"] / "ss.tsv"
    if edit == "dup":
        _tsv(_edit(one, 11, ID=one.loc[10, "ID"]), path)
    elif edit == "nop":
        _tsv(one.drop(columns="P"), path)
    elif edit == "fakepq":
        path = _tsv(one, case["tmp"] / "ss.parquet")
    elif edit == "empty":
        path.write_bytes(b"")
    else:
        _tsv(_edit(one, 10, **(edit or {})), path)
    _check(case, ["clump", "--sumstats", path, "--bed", case["bed"], "--out",
                  case["o"] / "c", *extra], pattern)


# ----------------------------------------------------------------------------------- loci

LOCI = [
    ("p_negative", {"P": -0.1}, [], r"column P: expected p-values in \[0, 1\].* -0\.1"),
    ("p_text", {"P": "x"}, [], r"column P: expected numbers; .* 'x'"),
    ("pos_text", {"POS": "12a"}, [], r"column POS: expected numbers; .* '12a'"),
    ("pos_fraction", {"POS": 12.5}, [], r"column POS: expected integer base-pair positions"),
    ("pos_missing", {"POS": np.nan}, [], r"column POS: expected a position in every row; "
                                         r"found 1 missing \(row 11, ID rs"),
    ("window_negative", None, ["--window-kb", "-1"], r"--window-kb -1: expected a number > 0"),
    ("bonferroni_zero", None, ["--bonferroni-dims", "0"],
     r"--bonferroni-dims 0: expected an integer >= 1"),
    ("bonferroni_negative", None, ["--bonferroni-dims", "-3"],
     r"--bonferroni-dims -3: expected an integer >= 1"),
    ("p_zero", None, ["--p", "0"], r"--p 0: expected a number in \(0, 1\]"),
    ("recovery_r2_zero", None, ["--recovery-r2", "0"],
     r"--recovery-r2 0: expected a number in \(0, 1\]"),
    ("no_pos_column", "nopos", [], r"missing column POS"),
    ("reference_pos_text", "badref", [], r"reference loci: column POS: expected numbers"),
]


@pytest.mark.parametrize(("name", "edit", "extra", "pattern"), LOCI, ids=[c[0] for c in LOCI])
def test_loci(case, name, edit, extra, pattern):
    one, path = case["one"], case["tmp"] / "ss.tsv"
    if edit == "nopos":
        _tsv(one.drop(columns="POS"), path)
    else:
        _tsv(_edit(one, 10, **(edit if isinstance(edit, dict) else {})), path)
    if edit == "badref":
        _tsv(pd.DataFrame({"CHROM": ["1"], "POS": ["far"]}), case["tmp"] / "ref.tsv")
        extra = ["--reference", case["tmp"] / "ref.tsv"]
    _check(case, ["loci", "--sumstats", path, "--out", case["o"] / "l", *extra], pattern)


# ---------------------------------------------------------------------------------- panel

PANEL = [
    ("p_negative", {"P": -1e-9}, [], r"column P: expected p-values in \[0, 1\]"),
    ("se_zero", {"SE": 0.0}, [], r"column SE: expected standard errors > 0; found 1 row "
                                 r"outside, e\.g\. 0 \(row 11"),
    ("se_negative", {"SE": -0.2}, [], r"column SE: expected standard errors > 0"),
    ("beta_infinite", {"BETA": np.inf}, [], r"column BETA: expected finite effects"),
    ("beta_text", {"BETA": "big"}, [], r"column BETA: expected numbers; .* 'big'"),
    ("eaf_above_one", "eaf", [], r"column EAF: expected allele frequencies in \[0, 1\]"),
    ("duplicated_id", "dup", [], r"1 variant IDs appear more than once"),
    ("no_a1", "noa1", [], r"missing column A1"),
    ("out_suffix", None, ["--out", "PANEL.tsv"],
     r"--out .*PANEL\.tsv: the panel \(Parquet\) is written here; expected a name ending in "
     r"\.parquet, found \.tsv"),
    ("kb_zero", None, ["--kb", "0"], r"--kb 0: expected a number > 0"),
    ("p_above_one", None, ["--p", "2"], r"--p 2: expected a number in \(0, 1\]"),
]


@pytest.mark.parametrize(("name", "edit", "extra", "pattern"), PANEL, ids=[c[0] for c in PANEL])
def test_panel(case, name, edit, extra, pattern):
    one, path = case["one"], case["tmp"] / "ext.tsv"
    if edit == "dup":
        one = _edit(one, 11, ID=one.loc[10, "ID"])
    elif edit == "noa1":
        one = one.drop(columns="A1")
    elif edit == "eaf":
        one = one.assign(EAF=0.3)
        one.loc[10, "EAF"] = 1.5
    elif edit:
        one = _edit(one, 10, **edit)
    _tsv(one, path)
    extra = [str(case["o"] / "PANEL.tsv") if a == "PANEL.tsv" else a for a in extra]
    args = ["panel", "--sumstats", path, "--bed", case["bed"], "--p", "0.01"]
    if "--out" not in extra:
        args += ["--out", case["o"] / "panel.parquet"]
    _check(case, [*args, *extra], pattern)


def test_panel_missing_effect_of_a_candidate(case):
    """A missing BETA is fine where P is above --p, and an error where the variant could
    enter the panel."""
    one = case["one"].astype({"BETA": object})
    top, weak = one["P"].idxmin(), one["P"].idxmax()
    one.loc[weak, "BETA"] = np.nan
    path = _tsv(one, case["tmp"] / "ext.tsv")
    out = case["o"] / "panel.parquet"
    args = ["panel", "--sumstats", str(path), "--bed", str(case["bed"]), "--p", "0.01",
            "--out", str(out), "--quiet"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    assert np.isfinite(pd.read_parquet(out)[["BETA", "SE"]].to_numpy()).all()
    out.unlink()
    (case["o"] / "panel.dropped.tsv").unlink()
    one.loc[top, "BETA"] = np.nan
    _tsv(one, path)
    assert_cli_error(runner.invoke(app, args),
                     rf"ext\.tsv: column BETA: 1 variants with P <= 0\.01 have no BETA "
                     rf"\(e\.g\. ID {one.loc[top, 'ID']}\)", case["o"])


# ----------------------------------------------------------------------------------- meta

META = [
    ("same_study_twice", "twice", [], r"meta: study .*a\.tsv is given twice"),
    ("no_shared_variant", "disjoint", [], r"a\.tsv: shares no variant ID with the other "
                                          r"studies"),
    ("out_xlsx", None, ["--out", "M.xlsx"], r"--out .*M\.xlsx: Parquet \(\.parquet\) or TSV "
                                            r"is written here; expected a name ending in "
                                            r"\.parquet or \.tsv or \.txt, found \.xlsx"),
    ("se_zero", {"SE": 0.0}, [], r"b\.tsv: column SE: expected standard errors > 0"),
    ("p_above_one", {"P": 2.0}, [], r"b\.tsv: column P: expected p-values in \[0, 1\]"),
    ("n_zero", {"N": 0}, [], r"b\.tsv: column N: expected sample sizes > 0"),
    ("beta_text", {"BETA": "abc"}, [], r"b\.tsv: column BETA: expected numbers"),
    ("one_study", "one", [], r"meta-analysis needs at least 2 studies, found 1"),
    ("out_txt_upper", None, ["--out", "M.DOCX"], r"--out .*M\.DOCX: Parquet"),
    ("no_se_column", "nose", [], r"b\.tsv: missing column SE"),
    ("empty_file", "empty", [], r"b\.tsv: could not read table"),
    ("duplicated_id", "dup", [], r"b\.tsv: 1 variant IDs appear more than once"),
]


@pytest.mark.parametrize(("name", "edit", "extra", "pattern"), META, ids=[c[0] for c in META])
def test_meta(case, name, edit, extra, pattern):
    one = case["one"]
    a = _tsv(one, case["tmp"] / "a.tsv")
    b = case["tmp"] / "b.tsv"
    studies = [a, b]
    if edit == "twice":
        studies = [a, case["tmp"] / "." / "a.tsv"]
    elif edit == "disjoint":
        _tsv(one.assign(ID="x" + one["ID"]), b)
    elif edit == "one":
        studies = [a]
    elif edit == "nose":
        _tsv(one.drop(columns="SE"), b)
    elif edit == "empty":
        b.write_bytes(b"")
    elif edit == "dup":
        _tsv(_edit(one, 11, ID=one.loc[10, "ID"]), b)
    else:
        _tsv(_edit(one, 10, **(edit or {})), b)
    extra = [str(case["o"] / a) if a in ("M.xlsx", "M.DOCX") else a for a in extra]
    args = ["meta", *studies] + ([] if extra else ["--out", case["o"] / "m.parquet"])
    _check(case, [*args, *extra], pattern)


# -------------------------------------------------------------------------------- ldscore

LDSCORE = [
    ("window_nan", ["--window-kb", "nan"], r"--window-kb nan: expected a number >= 0"),
    ("window_negative", ["--window-kb", "-1"], r"--window-kb -1: expected a number >= 0"),
    ("window_inf", ["--window-kb", "inf"], r"--window-kb inf: expected a number >= 0"),
    ("cm_negative", ["--window-cm", "-0.5"], r"--window-cm -0.5: expected a number >= 0"),
    ("both_windows", ["--window-cm", "1", "--window-kb", "10"],
     r"give exactly one of --window-kb and --window-cm"),
    ("chunk_zero", ["--chunk-size", "0"], r"--chunk-size 0: expected an integer >= 1"),
    ("missing_bim", "nobim", r"missing .*\.bim"),
    ("bed_magic", "magic", r"magic bytes 6c 1b 01"),
    ("bed_size", "size", r"does not match 3,000 variants"),
    ("missing_fileset", "nofiles", r"not found|missing"),
    ("missing_fam", "nofam", r"missing .*\.fam"),
]


@pytest.mark.parametrize(("name", "extra", "pattern"), LDSCORE, ids=[c[0] for c in LDSCORE])
def test_ldscore(case, name, extra, pattern):
    bed, out = case["bed"], case["o"] / "ld"
    if isinstance(extra, str):
        copy = _fileset_copy(case, magic_byte=1 if extra == "magic" else None)
        if extra == "nobim":
            copy.with_suffix(".bim").unlink()
        elif extra == "size":
            with open(copy.with_suffix(".bed"), "ab") as fh:
                fh.write(b"\x00")
        elif extra == "nofiles":
            copy = case["tmp"] / "nothing"
        elif extra == "nofam":
            copy.with_suffix(".fam").unlink()
        bed, extra = copy, []
    if "--window-kb" not in extra and "--window-cm" not in extra:
        extra = [*extra, "--window-kb", "1000"]
    _check(case, ["ldscore", "--bed", bed, "--out", out, *extra], pattern)


# ------------------------------------------------------------------------------------- h2

H2 = [
    ("ldscore_not_gzip", "plain_gz", [], r"ld\.l2\.ldscore\.gz: could not read LD scores"),
    ("m_text", "m_text", [], r"ld\.l2\.M_5_50: expected the number of variants \(a positive "
                             r"number\); found 'many'"),
    ("m_zero", "m_zero", [], r"ld\.l2\.M_5_50: expected the number of variants .* found '0'"),
    ("l2_text", "l2_text", [], r"column L2: expected numbers; .* 'high'"),
    ("n_blocks_zero", None, ["--n-blocks", "0"], r"--n-blocks 0: expected an integer >= 2"),
    ("n_blocks_one", None, ["--n-blocks", "1"], r"--n-blocks 1: expected an integer >= 2"),
    ("intercept_negative", None, ["--intercept-h2", "-5"],
     r"--intercept-h2 -5: expected a number > 0"),
    ("n_zero", "n_zero", [], r"sumstats: column OBS_CT: expected sample sizes > 0"),
    ("constant_z", "constant_z", [], r"sumstats: Z: every Z equals 2; expected association "
                                     r"statistics that vary"),
    ("se_zero", "se_zero", [], r"sumstats: column SE_1: expected standard errors > 0"),
    ("out_csv", None, ["--out", "H.csv"], r"--out .*H\.csv: the h2 table \(TSV\) is written "
                                          r"here; expected a name ending in \.tsv or \.txt"),
    ("missing_ld", "no_ld", [], r"LD scores .* not found"),
]


@pytest.mark.parametrize(("name", "edit", "extra", "pattern"), H2, ids=[c[0] for c in H2])
def test_h2(case, name, edit, extra, pattern):
    ld = case["tmp"] / "ld"
    for suffix in (".l2.ldscore.gz", ".l2.M", ".l2.M_5_50"):
        shutil.copy(f"{case['ld']}{suffix}", f"{ld}{suffix}")
    ss = case["ss"]
    if edit == "plain_gz":
        with gzip.open(f"{ld}.l2.ldscore.gz", "rt") as fh:
            text = fh.read()
        (case["tmp"] / "ld.l2.ldscore.gz").write_text(text)
    elif edit == "m_text":
        (case["tmp"] / "ld.l2.M_5_50").write_text("many\n")
    elif edit == "m_zero":
        (case["tmp"] / "ld.l2.M_5_50").write_text("0\n")
    elif edit == "l2_text":
        t = pd.read_csv(f"{ld}.l2.ldscore.gz", sep="\t")
        t = _edit(t, 3, L2="high")
        t.to_csv(f"{ld}.l2.ldscore.gz", sep="\t", index=False)
    elif edit == "n_zero":
        ss = _edit(ss, 10, OBS_CT=0)
    elif edit == "constant_z":
        ss = pd.DataFrame({"ID": ss["ID"], "N": 400, "Z": 2.0})
    elif edit == "se_zero":
        ss = _edit(ss, 10, SE_1=0.0)
    elif edit == "no_ld":
        ld = case["tmp"] / "nowhere"
    path = case["tmp"] / "ss.parquet"
    ss.to_parquet(path, index=False)
    extra = [str(case["o"] / "H.csv") if a == "H.csv" else a for a in extra]
    args = ["h2", "--sumstats", path, "--ref-ld", ld, "--no-greml"]
    if "--out" not in extra:
        args += ["--out", case["o"] / "h2.tsv"]
    _check(case, [*args, *extra], pattern)


# ------------------------------------------------------------------------------------ grm

GRM = [
    ("maf_above_half", ["--maf", "0.7"], r"--maf 0.7: expected a number in \[0, 0.5\]"),
    ("geno_above_one", ["--geno", "2"], r"--geno 2: expected a number in \[0, 1\]"),
    ("maf_nan", ["--maf", "nan"], r"--maf nan: expected a number in \[0, 0.5\]"),
    ("kind", ["--kind", "rbf"], r"kind"),
    ("extract_no_hit", "extract", r"--extract .*: none of the 2 IDs is in the \.bim"),
    ("missing_fileset", "nofiles", r"not found|missing"),
    ("missing_keep", "nokeep", r"not found"),
]


GRM += [
    ("geno_negative", ["--geno", "-0.1"], r"--geno -0.1: expected a number in \[0, 1\]"),
    ("bed_magic", "magic", r"magic bytes 6c 1b 01"),
    ("keep_no_match", "keep_none", r"share 0|none of|no sample"),
]


@pytest.mark.parametrize(("name", "extra", "pattern"), GRM, ids=[c[0] for c in GRM])
def test_grm(case, name, extra, pattern):
    bed = case["bed"]
    if extra == "extract":
        (case["tmp"] / "ids.txt").write_text("nope1\nnope2\n")
        extra = ["--extract", case["tmp"] / "ids.txt"]
    elif extra == "nofiles":
        bed, extra = case["tmp"] / "nothing", []
    elif extra == "nokeep":
        extra = ["--keep", case["tmp"] / "nobody.txt"]
    elif extra == "keep_none":
        (case["tmp"] / "keep.txt").write_text("nobody1\nnobody2\n")
        extra = ["--keep", case["tmp"] / "keep.txt"]
    elif extra == "magic":
        bed, extra = _fileset_copy(case, magic_byte=0), []
    _check(case, ["grm", "--bed", bed, "--out", case["o"] / "g", *extra], pattern)


# ------------------------------------------------------------------------------------- mi

MI = [
    ("seeds_zero", ["--seeds", "0"], r"--seeds 0: expected an integer >= 1"),
    ("dropout_one", ["--geno-dropout", "1"], r"--geno-dropout 1: expected a number in \[0, 1\)"),
    ("dropout_negative", ["--geno-dropout", "-0.5"], r"--geno-dropout -0.5: expected"),
    ("dropout_nan", ["--geno-dropout", "nan"], r"--geno-dropout nan: expected"),
    ("estimators", ["--estimators", "mine"], r"--estimators: expected some of"),
    ("missing_emb", "noemb", r"not found"),
    ("missing_fileset", "nofiles", r"not found|missing"),
    ("emb_text_column", "textemb", r"not numeric"),
    ("emb_duplicated_ids", "dupemb", r"1 duplicated sample IDs in the embeddings"),
    ("extract_no_hit", "extract", r"none of its 1 variants is in the \.bim"),
    ("no_shared_samples", "otherids", r"share 0 of 400 sample IDs"),
]


@pytest.mark.parametrize(("name", "extra", "pattern"), MI, ids=[c[0] for c in MI])
def test_mi(case, small_cohort, name, extra, pattern):
    emb, bed = small_cohort.emb, case["bed"]
    frame = pd.read_parquet(small_cohort.emb)
    if extra == "noemb":
        emb, extra = case["tmp"] / "none.parquet", []
    elif extra == "nofiles":
        bed, extra = case["tmp"] / "nothing", []
    elif extra in ("textemb", "dupemb", "otherids"):
        if extra == "textemb":
            frame = frame.assign(site=["a", "b"] * (len(frame) // 2))
        elif extra == "dupemb":
            frame.loc[5, "sample_id"] = frame.loc[4, "sample_id"]
        else:
            frame["sample_id"] = "x" + frame["sample_id"].astype(str)
        emb, extra = case["tmp"] / "e.parquet", []
        frame.to_parquet(emb, index=False)
    elif extra == "extract":
        (case["tmp"] / "ids.txt").write_text("rs_nope\n")
        extra = ["--extract", case["tmp"] / "ids.txt"]
    _check(case, ["mi", "--emb", emb, "--bed", bed, "--out", case["o"] / "m", *extra], pattern)


def test_meta_upper_case_parquet_suffix_writes_parquet(case):
    one = case["one"]
    a, b = _tsv(one, case["tmp"] / "a.tsv"), _tsv(one.iloc[::2], case["tmp"] / "b.tsv")
    out = case["o"] / "m.PARQUET"
    res = runner.invoke(app, ["meta", str(a), str(b), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.stderr
    assert len(pd.read_parquet(out)) == len(one)
