"""Property tests (hypothesis): malformed tables and option values give InputError or valid data.

Every reader of a user's table is fed tables with random columns, cells (numbers, NaN,
infinities, negatives, text, empty) and encodings (TSV, CSV, Parquet, gzip, garbage bytes).
Whatever comes in, the reader either raises :class:`InputError` (which the CLI prints as one
line, exit 2) or returns values that satisfy the column rules of data_specs/README.md.
"""

from __future__ import annotations

import gzip
import math
import os
import tempfile
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwasrep.errors import InputError
from gwasrep.heritability.h2 import trait_z
from gwasrep.io.ldscores import read_ld_scores
from gwasrep.io.sumstats import read_effect_table, read_pvalues
from gwasrep.io.tables import read_covariates, read_embeddings, read_table
from gwasrep.loci.meta import ivw_meta
from gwasrep.loci.recovery import compare_methods
from gwasrep.options import OPTION_RULES, check_options
from helpers import all_configs, base_config, write_random_fileset

CONFIGS = all_configs()

CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(-5, 10**7),
    st.sampled_from(["", "NA", "nan", "abc", "-0.1", "1e400", "0", "rs1", " ", "T", "1,5"]),
)
COLUMNS = ["ID", "SNP", "CHROM", "POS", "BP", "A1", "A2", "BETA", "SE", "P", "N", "EAF", "Z",
           "OBS_CT", "L2", "CHR", "sample_id", "IID", "FID", "emb_1", "cov_1", "junk"]
# Derandomized, so that the suite is the same on every machine; FUZZ_N=5000 explores anew.
SETTINGS = settings(max_examples=int(os.environ.get("FUZZ_N", 70)), deadline=None,
                    suppress_health_check=list(HealthCheck),
                    derandomize="FUZZ_N" not in os.environ)


@st.composite
def tables(draw):
    cols = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=9, unique=True))
    n = draw(st.integers(0, 8))
    data = {c: [draw(CELLS) for _ in range(n)] for c in cols}
    return pd.DataFrame(data, columns=cols)


@st.composite
def table_files(draw, tmp):
    frame = draw(tables())
    kind = draw(st.sampled_from(["tsv", "csv", "space", "parquet", "gz", "garbage", "empty",
                                 "header_only"]))
    path = tmp / f"t{draw(st.integers(0, 10**9))}"
    if kind == "tsv":
        path = path.with_suffix(".tsv")
        frame.to_csv(path, sep="\t", index=False)
    elif kind == "csv":
        path = path.with_suffix(".csv")
        frame.to_csv(path, index=False)
    elif kind == "space":
        path = path.with_suffix(".txt")
        frame.to_csv(path, sep=" ", index=False)
    elif kind == "parquet":
        path = path.with_suffix(".parquet")
        frame.astype(str).to_parquet(path, index=False)
    elif kind == "gz":
        path = path.with_suffix(".tsv.gz")
        with gzip.open(path, "wt") as fh:
            frame.to_csv(fh, sep="\t", index=False)
    elif kind == "garbage":
        path = path.with_suffix(draw(st.sampled_from([".parquet", ".tsv", ".csv", ".gz"])))
        path.write_bytes(draw(st.binary(max_size=64)))
    elif kind == "empty":
        path = path.with_suffix(".tsv")
        path.write_bytes(b"")
    else:
        path = path.with_suffix(".tsv")
        path.write_text("\t".join(frame.columns) + "\n")
    return path


def _valid(values, lo=-math.inf, hi=math.inf, lo_open=False) -> bool:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    return bool(np.all(np.isfinite(v)) and np.all(v <= hi)
                and np.all(v > lo if lo_open else v >= lo))


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("malformed")


@SETTINGS
@given(data=st.data())
def test_sumstats_readers(tmp, data):
    path = data.draw(table_files(tmp))
    try:
        frame, counts, _ = read_pvalues(path)
        assert _valid(frame["P"], 0, 1)
        assert frame["ID"].is_unique
    except InputError:
        pass
    try:
        eff = read_effect_table(path, require=("ID",))
        assert eff["ID"].is_unique
        for col, ok in (("P", (0, 1)), ("EAF", (0, 1))):
            if col in eff:
                assert _valid(eff[col], *ok)
        if "SE" in eff:
            assert _valid(eff["SE"], 0, lo_open=True)
        if "N" in eff:
            assert _valid(eff["N"], 0, lo_open=True)
        if "BETA" in eff:
            assert _valid(eff["BETA"])
    except InputError:
        pass


@SETTINGS
@given(data=st.data())
def test_table_consumers(tmp, data):
    """Loci comparison, h2's Z, meta-analysis, covariates and embeddings on any table."""
    path = data.draw(table_files(tmp))
    try:
        frame = read_table(path)
    except InputError:
        return
    for fn in (lambda: compare_methods({"m": frame}, threshold=0.5),
               lambda: trait_z(frame),
               lambda: ivw_meta([read_effect_table(path), read_effect_table(path)]),
               lambda: read_covariates(path),
               lambda: read_embeddings(path)):
        try:
            fn()
        except InputError:
            pass


@SETTINGS
@given(frame=tables(), m=st.sampled_from(["", "0", "-3", "abc", "12", "nan", "1e3 5"]),
       compress=st.booleans())
def test_ld_score_reader(tmp, frame, m, compress):
    prefix = tmp / "ld"
    path = tmp / "ld.l2.ldscore.gz"
    if compress:
        with gzip.open(path, "wt") as fh:
            frame.to_csv(fh, sep="\t", index=False)
    else:
        frame.to_csv(path, sep="\t", index=False)  # a .gz that is not gzip
    for suffix in (".l2.M", ".l2.M_5_50"):
        (tmp / f"ld{suffix}").write_text(m + "\n")
    try:
        scores = read_ld_scores(prefix)
    except InputError:
        return
    assert _valid(scores.table["L2"])
    assert not scores.table["L2"].isna().any()
    assert scores.M > 0
    assert scores.M_5_50 > 0


NUMERIC_FIELDS = sorted((name, f) for name, rules in OPTION_RULES.items() for f in rules)


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(NUMERIC_FIELDS),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                       st.integers(-10**6, 10**6)))
def test_option_values(field, value):
    """check_options accepts a value exactly when its rule does, and raises only InputError."""
    name, fname = field
    cfg = base_config(name, Path("/nonexistent"))
    is_tuple = isinstance(getattr(cfg, fname), tuple) or fname == "maf_range"
    cfg = replace(cfg, **{fname: (value, 0.25) if is_tuple else value})
    rule = OPTION_RULES[name][fname]
    if rule.accepts(value):
        check_options(cfg)
    else:
        with pytest.raises(InputError, match=r"^--[a-z0-9-]+ \S+: expected [^\n]+$"):
            check_options(cfg)
    assert fname in {f.name for f in fields(CONFIGS[name])}


@pytest.fixture(scope="module")
def small_fileset(tmp):
    """A 40-sample, 12-variant fileset whose IDs (rs1..rs12) the fuzzed tables may hit, and
    LD scores for it."""
    from gwasrep.heritability.run import LdscoreConfig, run_ldscore

    write_random_fileset(tmp / "g", 40, 12, seed=1, id_prefix="rs", first_id=1)
    run_ldscore(LdscoreConfig(bed=tmp / "g", out=tmp / "gld", window_kb=5))
    return tmp / "g"


@SETTINGS
@given(data=st.data())
def test_command_runners(tmp, small_fileset, data):
    """clump, loci, panel, meta and h2 on any table: a result, or InputError with nothing
    half-written."""
    from gwasrep.heritability.run import H2Config, run_h2
    from gwasrep.loci.run import (
        ClumpConfig,
        LociConfig,
        MetaConfig,
        PanelConfig,
        run_clump,
        run_loci,
        run_meta,
        run_panel,
    )

    path = data.draw(table_files(tmp))
    other = data.draw(table_files(tmp))
    out = Path(tempfile.mkdtemp(dir=tmp))
    bed = small_fileset
    for run in (lambda: run_clump(ClumpConfig(sumstats=path, bed=bed, out=out / "c", p1=0.5,
                                              p2=0.9)),
                lambda: run_loci(LociConfig(sumstats=[path, other], out=out / "l", p=0.5)),
                lambda: run_panel(PanelConfig(sumstats=path, bed=bed, out=out / "p.parquet",
                                              p=0.5)),
                lambda: run_meta(MetaConfig(studies=[path, other], out=out / "m.tsv")),
                lambda: run_h2(H2Config(sumstats=path, ref_ld=bed.with_name("gld"),
                                        out=out / "h.tsv", add_greml=False))):
        before = set(out.iterdir())
        try:
            run()
        except InputError:
            assert set(out.iterdir()) == before  # nothing written by a refused run
        assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("layout", ["trailing_tab", "header_space", "bz2_space", "xz_space",
                                    "bz2_tab_empty", "gz_tab_empty", "plink_padded"])
def test_text_layouts_read_as_written(tmp_path, layout):
    """Each layout gives back the same ID and P columns (an empty cell as NaN)."""
    import bz2
    import lzma

    ids, p = [f"rs{i}" for i in range(60)], [f"{(i + 1) / 100:g}" for i in range(60)]
    p_cells = list(p)
    if layout.endswith("_empty"):
        p_cells[7] = ""
    sep = "\t" if "tab" in layout or layout == "header_space" else " "
    header = "ID\tP \n" if layout == "header_space" else f"ID{sep}P\n"
    if layout == "plink_padded":
        header = "   ID      P \n"
        lines = [f"  {i:>6} {q:>6} \n" for i, q in zip(ids, p_cells, strict=True)]
    else:
        end = "\t\n" if layout == "trailing_tab" else "\n"
        lines = [f"{i}{sep}{q}{end}" for i, q in zip(ids, p_cells, strict=True)]
    text = (header + "".join(lines)).encode()
    suffix, pack = {"bz2": (".tsv.bz2", bz2.compress), "xz": (".tsv.xz", lzma.compress),
                    "gz": (".tsv.gz", gzip.compress)}.get(layout.split("_")[0],
                                                         (".tsv", lambda b: b))
    path = tmp_path / f"t{suffix}"
    path.write_bytes(pack(text))
    frame = read_table(path)
    assert list(frame.columns[:2]) == ["ID", "P"]
    assert frame["ID"].tolist() == ids
    expected = np.array([float(q) if q else np.nan for q in p_cells])
    np.testing.assert_array_equal(frame["P"].to_numpy(dtype=float), expected)
