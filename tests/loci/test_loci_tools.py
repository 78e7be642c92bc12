"""Window loci, recovery/uniqueness, variant panels and IVW meta-analysis on hand-built inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from gwasrep.errors import InputError
from gwasrep.io.plink import open_plink, write_plink
from gwasrep.loci.harmonize import align_alleles
from gwasrep.loci.meta import ivw_meta
from gwasrep.loci.panel import build_panel
from gwasrep.loci.recovery import compare_methods
from gwasrep.loci.run import MetaConfig, run_meta
from gwasrep.loci.windows import significance_threshold, window_loci
from gwasrep_cli.main import app
from helpers import assert_cli_error

runner = CliRunner()


def test_ivw_closed_form_with_flip_strand_and_ambiguous():
    s1 = pd.DataFrame({"ID": ["v1", "v2", "v3", "v4"], "A1": ["A", "C", "A", "A"],
                       "A2": ["G", "T", "T", "C"], "BETA": [0.2, 0.1, 0.3, 0.05],
                       "SE": [0.1, 0.05, 0.1, 0.02], "N": [100, 100, 100, 100],
                       "EAF": [0.3, 0.4, 0.2, 0.1]})
    s2 = pd.DataFrame({"ID": ["v1", "v2", "v3", "v4", "v5"],
                       "A1": ["G", "G", "T", "A", "C"],    # swapped, strand, ambiguous, mismatch
                       "A2": ["A", "A", "A", "G", "T"],
                       "BETA": [-0.1, 0.05, 0.2, 0.3, 0.4], "SE": [0.2, 0.1, 0.1, 0.1, 0.1],
                       "N": [50, 50, 50, 50, 50], "EAF": [0.7, 0.4, 0.8, 0.1, 0.5]})
    res = ivw_meta([s1, s2], ["s1", "s2"])
    t = res.table.set_index("ID")

    def closed(b, se):
        w = 1 / np.asarray(se) ** 2
        beta = (w * b).sum() / w.sum()
        q = (w * (np.asarray(b) - beta) ** 2).sum()
        return beta, 1 / np.sqrt(w.sum()), q

    # v1: alleles swapped in s2 -> its beta flips to +0.1.
    # v2: s2 reports the other strand (C/T -> G/A) in the same order -> kept as is.
    # v3: A/T is strand-ambiguous; s2's T has EAF 0.8 and s1's A has 0.2: opposite
    #     sides of 0.5, so s2's effect allele is s1's other allele -> flips to -0.2.
    for vid, b, se in (("v1", [0.2, 0.1], [0.1, 0.2]), ("v2", [0.1, 0.05], [0.05, 0.1]),
                       ("v3", [0.3, -0.2], [0.1, 0.1])):
        beta, sem, q = closed(np.array(b), se)
        assert t.loc[vid, "BETA"] == pytest.approx(beta, rel=1e-12)
        assert t.loc[vid, "SE"] == pytest.approx(sem, rel=1e-12)
        assert t.loc[vid, "Q"] == pytest.approx(q, rel=1e-12)
        assert t.loc[vid, "I2"] == pytest.approx(max(0.0, (q - 1) / q) if q > 0 else 0.0)
        assert t.loc[vid, "P"] == pytest.approx(2 * stats.norm.sf(abs(beta / sem)), rel=1e-10)
        assert t.loc[vid, "N"] == 150
        assert t.loc[vid, "N_STUDIES"] == 2
    # v4: A/G vs A/C is a mismatch -> only s1; v5 only in s2.
    assert t.loc["v4", "N_STUDIES"] == 1
    assert t.loc["v4", "BETA"] == pytest.approx(0.05)
    assert t.loc["v5", "N_STUDIES"] == 1
    assert t.loc["v3", "DIRECTION"] == "+-"
    dropped = res.dropped.set_index("ID")["REASON"]
    assert dropped["v4"] == "allele_mismatch"


def test_align_alleles_statuses():
    status, sign = align_alleles(["A", "G", "T", "C", "A", "A"], ["G", "A", "C", "T", "T", "C"],
                                 ["A", "A", "A", "A", "A", "G"], ["G", "G", "G", "G", "T", "A"])
    assert list(status) == ["match", "swap", "strand_match", "strand_swap", "ambiguous",
                            "mismatch"]
    assert list(sign) == [1, -1, 1, -1, 0, 0]


def window_loci_slow(s: pd.DataFrame, thr: float, kb: float) -> list[tuple]:
    """Single-linkage clusters by repeated merging, from the definition."""
    sig = s[s["P"] <= thr]
    clusters = [[r] for r in sig.itertuples()]
    merged = True
    while merged:
        merged = False
        for i in range(len(clusters)):
            for j in range(i + 1, len(clusters)):
                if any(a.CHROM == b.CHROM and abs(a.POS - b.POS) <= kb * 1000
                       for a in clusters[i] for b in clusters[j]):
                    clusters[i] += clusters.pop(j)
                    merged = True
                    break
            if merged:
                break
    return sorted((str(c[0].CHROM), min(r.POS for r in c), max(r.POS for r in c),
                   min(c, key=lambda r: (r.P, r.POS)).ID, len(c)) for c in clusters)


def test_window_loci_match_definition():
    rng = np.random.default_rng(3)
    n = 300
    s = pd.DataFrame({"ID": [f"v{i}" for i in range(n)], "CHROM": rng.integers(1, 4, n),
                      "POS": rng.integers(0, 5_000_000, n), "P": 10 ** -rng.uniform(0, 12, n)})
    got = window_loci(s, threshold=1e-6, window_kb=250)
    ref = window_loci_slow(s, 1e-6, 250)
    mine = sorted(zip(got["CHROM"].astype(str), got["START"], got["END"], got["LEAD_ID"],
                      got["N_VARIANTS"], strict=True))
    assert mine == ref
    assert significance_threshold(None, n_dims=10) == pytest.approx(5e-9)
    assert window_loci(s, threshold=1e-30).empty


def test_recovery_and_unique_loci():
    a = pd.DataFrame({"ID": ["a1", "a2", "a3"], "CHROM": ["1", "1", "2"],
                      "POS": [1_000_000, 5_000_000, 3_000_000], "P": [1e-10, 1e-9, 1e-12]})
    b = pd.DataFrame({"ID": ["b1", "b2"], "CHROM": ["1", "3"], "POS": [1_100_000, 7_000_000],
                      "P": [1e-11, 1e-8]})
    ref = pd.DataFrame({"ID": ["r1", "r2", "r3"], "CHROM": ["1", "2", "3"],
                        "POS": [1_200_000, 3_300_000, 9_000_000]})
    res = compare_methods({"A": a, "B": b}, threshold=5e-8, window_kb=250, reference=ref)
    t = res.table.set_index("METHOD")
    # A: loci at 1:1.0M, 1:5.0M, 2:3.0M; r1 (1.2M) within 250 kb of a1 -> recovered; r2
    # (3.3M vs 3.0M) is 300 kb away -> not.
    assert t.loc["A", "N_LOCI"] == 3
    assert t.loc["A", "N_RECOVERED"] == 1
    assert t.loc["B", "N_RECOVERED"] == 1                # b1 at 1.1M is 100 kb from r1
    assert t.loc["A", "RECOVERED_FRACTION"] == pytest.approx(1 / 3)
    # Unique: A's 1:1.0M locus is shared with b1; its other two are unique; B's chr3 locus is.
    assert t.loc["A", "N_UNIQUE"] == 2
    assert t.loc["B", "N_UNIQUE"] == 1


@pytest.fixture
def panel_cohort(tmp_path):
    rng = np.random.default_rng(1)
    N = 400
    g = rng.binomial(2, 0.3, size=(N, 6)).astype(np.int8)
    g[:, 1] = g[:, 0]                                   # v2 in perfect LD with v1
    g[:, 4] = rng.binomial(2, 0.15, size=N)             # A/T variant, A1 frequency 0.15
    bim = pd.DataFrame({"CHROM": "1", "ID": [f"v{j + 1}" for j in range(6)], "CM": 0.0,
                        "POS": [1000, 2000, 900_000, 3_000_000, 4_000_000, 5_000_000],
                        "A1": ["A", "C", "G", "T", "A", "C"],
                        "A2": ["G", "T", "A", "C", "T", "G"]})
    fam = pd.DataFrame({"FID": [f"s{i}" for i in range(N)], "IID": [f"s{i}" for i in range(N)],
                        "PAT": "0", "MAT": "0", "SEX": "1", "PHENO": "-9"})
    write_plink(tmp_path / "c", g, bim, fam)
    return open_plink(tmp_path / "c")


def test_panel_harmonizes_and_clumps(panel_cohort):
    ext = pd.DataFrame({
        "ID": ["v1", "v2", "x3", "v4", "v5", "v6", "v7", "v3b"],
        "A1": ["A", "T", "A", "G", "T", "C", "A", "C"],    # v2 strand+swap, v4 strand_swap...
        "A2": ["G", "C", "G", "A", "A", "G", "G", "T"],
        "BETA": [0.5, 0.4, 0.3, 0.2, 0.1, 0.6, 0.7, 0.8], "SE": 0.05,
        "P": [1e-10, 1e-8, 1e-9, 1e-7, 1e-6, 1e-6, 1e-6, 0.5],
        "EAF": [0.3, 0.3, 0.3, 0.3, 0.85, 0.5, 0.1, 0.3],
        "CHROM": ["1", "1", "1", "1", "1", "1", "1", "1"],
        "POS": [1000, 2000, 900_000, 3_000_000, 4_000_000, 5_000_000, 9_999, 1]})
    res = build_panel(ext, panel_cohort, p=1e-5, r2=0.05, kb=5000)
    panel = res.panel.set_index("ID")
    dropped = res.dropped.set_index("ID")["REASON"]
    # v1 is the lead; v2 (perfect LD) is clumped away.
    assert "v1" in panel.index
    assert dropped["v2"] == "clumped_with_v1"
    # x3 is absent by ID but matches v3 by position with the swapped allele pair.
    assert panel.loc["v3", "BETA"] == pytest.approx(-0.3)
    assert panel.loc["v3", "A1"] == "G"
    # v4: G/A against the cohort's T/C is the other strand, swapped -> sign flips.
    assert panel.loc["v4", "BETA"] == pytest.approx(-0.2)
    # v5: A/T ambiguous; external T has EAF 0.85, cohort A1 (A) has ~0.15 -> flip.
    assert panel.loc["v5", "BETA"] == pytest.approx(-0.1)
    # v6: C/G ambiguous at EAF 0.5 -> cannot be resolved.
    assert dropped["v6"] == "strand_ambiguous"
    assert dropped["v7"] == "not_in_cohort"
    assert "v3b" not in dropped.index                   # above the p threshold: not listed
    assert list(res.panel.columns) == ["ID", "CHROM", "POS", "A1", "A2", "BETA", "SE", "P",
                                       "SOURCE"]


def test_meta_and_loci_cli_errors(tmp_path):
    pd.DataFrame({"ID": ["v1"], "A1": ["A"], "A2": ["G"], "BETA": [0.1]}).to_csv(
        tmp_path / "a.tsv", sep="\t", index=False)
    pd.DataFrame({"ID": ["v1"], "A1": ["A"], "A2": ["G"], "BETA": [0.1], "SE": [0.1]}).to_csv(
        tmp_path / "b.tsv", sep="\t", index=False)
    res = runner.invoke(app, ["meta", str(tmp_path / "a.tsv"), str(tmp_path / "b.tsv"),
                              "--out", str(tmp_path / "m.parquet")])
    assert_cli_error(res, r"error: a\.tsv: missing column SE; found ID, A1, A2, BETA",
                     tmp_path / "m.parquet")
    with pytest.raises(InputError, match="at least 2 studies"):
        run_meta(MetaConfig(studies=[tmp_path / "b.tsv"], out=tmp_path / "m.tsv"))
    res = runner.invoke(app, ["loci", "--sumstats", str(tmp_path / "b.tsv"), "--out",
                              str(tmp_path / "l")])
    assert_cli_error(res, "missing columns CHROM, POS, P")


def test_ld_recovery_rule(panel_cohort):
    """v2 is in perfect LD with v1; v3 (900 kb away) is unrelated to v1."""
    sig = pd.DataFrame({"ID": ["v2", "v3"], "CHROM": ["1", "1"], "POS": [2000, 900_000],
                        "P": [1e-9, 1e-9]})
    ref = pd.DataFrame({"ID": ["v1", "v4"], "CHROM": ["1", "1"], "POS": [1000, 3_000_000]})
    res = compare_methods({"m": sig}, window_kb=1000, reference=ref, ld_r2=0.8,
                          fileset=panel_cohort)
    assert res.reference["RECOVERED_BY_m"].tolist() == [True, False]
    # The window rule alone recovers v1 too, and not v4 (2.1 Mb from v3).
    res = compare_methods({"m": sig}, window_kb=1000, reference=ref)
    assert res.reference["RECOVERED_BY_m"].tolist() == [True, False]
    res = compare_methods({"m": sig.iloc[[1]]}, window_kb=1000, reference=ref, ld_r2=0.8,
                          fileset=panel_cohort)
    assert res.reference["RECOVERED_BY_m"].tolist() == [False, False]
    res = compare_methods({"m": sig.iloc[[1]]}, window_kb=1000, reference=ref)
    assert res.reference["RECOVERED_BY_m"].tolist() == [True, False]
