"""The pyarrow-only readers against pandas' (gwasrep.io.fast_tables, gwasrep.io.plink).

Summary statistics read by pyarrow alone give the (ID, P) pairs, counts, notes and errors of
the pandas reader (property test over TSV, CSV and Parquet files with valid, missing and
invalid cells); files that need pandas (whitespace-aligned, compressed) take its path. The
.bim/.fam read by pyarrow equal pandas' whitespace parser, and layouts pyarrow cannot split
(aligned spaces, mixed delimiters, trailing blanks) go to pandas with the same result.
"""

from __future__ import annotations

import gzip
import os
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gwasrep.io.fast_tables as fast_tables
from gwasrep.errors import InputError
from gwasrep.io.plink import open_plink, read_bim, read_fam
from gwasrep.io.sumstats import read_pvalue_arrays
from gwasrep.io.tables import read_table
from helpers import write_random_fileset

READ_COLUMNS = fast_tables.read_columns
SETTINGS = settings(max_examples=int(os.environ.get("FUZZ_N", 120)), deadline=None,
                    suppress_health_check=list(HealthCheck),
                    derandomize="FUZZ_N" not in os.environ)

P_CELLS = st.one_of(st.floats(0, 1), st.sampled_from(
    [0, 1, "NA", "", "nan", "None", "1e-300", "5e-324", 1.5, -0.1, "abc", "0.5 "]))
ID_CELLS = st.one_of(st.integers(0, 30).map(lambda i: f"rs{i}"),
                     st.sampled_from(["007", "1", "NA", "", "rs 1", "chr1:5:A:G"]))


@st.composite
def sumstats_files(draw, tmp):
    n = draw(st.integers(0, 12))
    ids = draw(st.lists(ID_CELLS, min_size=n, max_size=n))
    ps = draw(st.lists(st.one_of(st.floats(0, 1), P_CELLS) if draw(st.booleans())
                       else st.floats(0, 1), min_size=n, max_size=n))
    cols = {"ID": ids, "P": ps}
    if draw(st.booleans()):
        cols["BETA"] = draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n))
    frame = pd.DataFrame(cols)
    numeric_p = draw(st.booleans())
    if numeric_p:                  # Parquet with a float P column (else text)
        frame["P"] = pd.to_numeric(frame["P"], errors="coerce")
    if draw(st.booleans()):
        frame = frame[list(reversed(frame.columns))]
    if draw(st.booleans()):
        frame = frame.rename(columns={frame.columns[0]: "#" + frame.columns[0]})
    kind = draw(st.sampled_from(["tsv", "csv", "parquet", "parquet_str", "space", "gz"]))
    suffix = {"parquet_str": "parquet", "space": "txt", "gz": "tsv.gz"}.get(kind, kind)
    path = tmp / f"s{draw(st.integers(0, 10**9))}.{suffix}"
    if kind == "tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif kind == "csv":
        frame.to_csv(path, index=False)
    elif kind == "space":
        frame.to_csv(path, sep=" ", index=False)
    elif kind == "gz":
        with gzip.open(path, "wt") as fh:
            frame.to_csv(fh, sep="\t", index=False)
    else:
        (frame.astype(str) if kind == "parquet_str" else frame).to_parquet(path, index=False)
    return path, kind


def _outcome(source):
    try:
        pairs, counts, notes = read_pvalue_arrays(source)
    except InputError as exc:
        return "error", str(exc).split(": ", 1)[1]
    return pairs.ids.to_pylist(), pairs.p.tolist(), counts, notes


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("fast")


@SETTINGS
@given(data=st.data())
def test_pvalues_read_by_pyarrow_equal_pandas(tmp, data):
    path, kind = data.draw(sumstats_files(tmp))
    calls = []
    with mock.patch.object(fast_tables, "read_columns",
                           lambda *a: calls.append(READ_COLUMNS(*a)) or calls[-1]):
        fast = _outcome(path)
    assert len(calls) == 1
    if kind in ("space", "gz"):
        assert calls[0] is None            # these layouts need pandas
    try:
        frame = read_table(path, str_columns=("ID",))
    except InputError:
        assert calls[0] is None
        return
    assert fast == _outcome(frame)


def test_fast_path_is_taken_for_what_gwasrep_and_plink_write(tmp):
    frame = pd.DataFrame({"#ID": ["rs1", "rs2", "rs3"], "P": [0.5, np.nan, 1e-300],
                          "BETA": [0.1, 0.2, 0.3]})
    for name, write in (("a.tsv", lambda p: frame.to_csv(p, sep="\t", index=False)),
                        ("a.csv", lambda p: frame.to_csv(p, index=False)),
                        ("a.parquet", lambda p: frame.to_parquet(p, index=False))):
        write(tmp / name)
        cols = fast_tables.read_columns(tmp / name, {"ID": "string", "P": "number"})
        assert cols is not None, name
        assert cols["ID"].to_pylist() == ["rs1", "rs2", "rs3"]
        np.testing.assert_array_equal(cols["P"].to_numpy(zero_copy_only=False),
                                      [0.5, np.nan, 1e-300])


LAYOUTS = {
    "tabs": ("\t", "\n", ""),
    "spaces": (" ", "\n", ""),
    "aligned": ("   ", "\n", ""),
    "crlf": ("\t", "\r\n", ""),
    "trailing tab": ("\t", "\n", "\t"),
    "trailing space": (" ", "\n", "  "),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_bim_and_fam_equal_pandas_whitespace_parser(tmp_path, layout):
    sep, eol, tail = LAYOUTS[layout]
    prefix = tmp_path / "g"
    write_random_fileset(prefix, 9, 7, seed=3)
    for ext, reader in ((".bim", read_bim), (".fam", read_fam)):
        path = prefix.with_suffix(ext)
        rows = [line.split() for line in path.read_text().splitlines()]
        rows[2][0] = "NA" if ext == ".fam" else rows[2][0]      # text, not a missing value
        path.write_text("".join(sep.join(r) + tail + eol for r in rows))
        expected = reader(path)
        fs = open_plink(prefix)
        got = fs.bim if ext == ".bim" else fs.fam
        pd.testing.assert_frame_equal(got, expected)
    assert (fs.n_samples, fs.n_variants) == (9, 7)
    np.testing.assert_array_equal(fs.bim_column("POS"),
                                  read_bim(prefix.with_suffix(".bim"))["POS"])


def test_mixed_delimiters_and_short_lines(tmp_path):
    prefix = tmp_path / "g"
    write_random_fileset(prefix, 8, 5, seed=1)
    bim = prefix.with_suffix(".bim")
    lines = bim.read_text().splitlines()
    lines[3] = lines[3].replace("\t", " ")             # one line with spaces, the rest tabs
    bim.write_text("\n".join(lines) + "\n")
    pd.testing.assert_frame_equal(open_plink(prefix).bim, read_bim(bim))
    bim.write_text("\n".join(lines[:2] + ["1\trs9\t0\t5"] + lines[3:]) + "\n")
    with pytest.raises(InputError, match=r"\.bim: expected 6 whitespace-separated .* line 3 "):
        open_plink(prefix)


@pytest.mark.parametrize("edit", ["trailing blank", "leading blank", "quoted ID"])
def test_blanks_or_quotes_on_a_later_line_go_to_pandas(tmp_path, edit):
    """Only the first line decides the delimiter: a blank or a quote anywhere else must not
    end up inside a field (pandas strips both)."""
    prefix = tmp_path / "g"
    write_random_fileset(prefix, 8, 5, seed=2)
    bim = prefix.with_suffix(".bim")
    lines = bim.read_text().splitlines()
    lines[3] = {"trailing blank": lines[3] + " ", "leading blank": " " + lines[3],
                "quoted ID": lines[3].replace("\tv3\t", '\t"v3"\t')}[edit]
    bim.write_text("\n".join(lines) + "\n")
    got = open_plink(prefix).bim
    pd.testing.assert_frame_equal(got, read_bim(bim))
    assert got["ID"].tolist()[3] == "v3"
    assert got["A2"].tolist()[3] == "G"
    assert got["CHROM"].tolist()[3] == "1"


def test_duplicated_values_against_pandas():
    import pyarrow as pa

    rng = np.random.default_rng(5)
    for n in (0, 1, 50, 400):
        values = [f"s{k}" for k in rng.integers(0, max(n // 2, 1), size=n)]
        expected = pd.Series(values, dtype=object)
        expected = expected[expected.duplicated(keep=False)].unique().tolist()
        assert fast_tables.duplicated_values(pa.array(values, type=pa.string())) == expected
        chunked = pa.chunked_array([values[: n // 3], values[n // 3:]], type=pa.string())
        assert fast_tables.duplicated_values(chunked) == expected


def test_duplicated_fam_and_bim_ids_are_named(tmp_path):
    import pyarrow as pa

    from gwasrep.io.sumstats import PValues
    from gwasrep.loci.clump import clump

    prefix = tmp_path / "g"
    write_random_fileset(prefix, 8, 5, seed=4)
    fam = prefix.with_suffix(".fam")
    good = fam.read_text()
    lines = good.splitlines()
    fam.write_text(good.replace(lines[6], lines[2]))                 # sample 2 twice
    with pytest.raises(InputError, match=r"g\.fam: 1 duplicated sample IDs \(FID IID\), "
                                         r"e\.g\. i2"):
        open_plink(prefix)
    fam.write_text(good)
    bim = prefix.with_suffix(".bim")
    bim.write_text(bim.read_text().replace("\tv4\t", "\tv1\t"))      # v1 twice
    pv = PValues(ids=pa.array(["v0"]), p=np.array([1e-8]))
    with pytest.raises(InputError, match=r"g\.bim: 1 duplicated variant IDs \(e\.g\. v1\); "
                                         "clumping matches by ID"):
        clump(pv, open_plink(prefix))
