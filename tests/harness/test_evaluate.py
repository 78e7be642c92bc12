"""`gwasrep evaluate` on a simulated cohort with known truth: reference loci found and AUCs
equal values computed by hand; the report and its files; bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats
from sklearn.model_selection import StratifiedKFold
from typer.testing import CliRunner

from gwasrep.harness.evaluate import (
    EvaluateConfig,
    predict_labels,
    prediction_auc,
    read_labels,
    reference_recovery,
)
from gwasrep.io.plink import open_plink
from gwasrep.io.tables import read_embeddings
from gwasrep_cli.main import app
from helpers import assert_cli_error

runner = CliRunner()


@pytest.fixture(scope="module")
def case(small_cohort, tmp_path_factory):
    """Method A: the cohort's embeddings (5 planted variants); method B: noise. A label
    driven by A's first dimension, a biomarker, and the planted variants as reference."""
    d = tmp_path_factory.mktemp("eval")
    emb = pd.read_parquet(small_cohort.emb)
    rng = np.random.default_rng(5)
    noise = emb.copy()
    cols = [c for c in emb.columns if c.startswith("emb_")]
    noise[cols] = rng.standard_normal((len(emb), len(cols)))
    emb.to_parquet(d / "a.parquet")
    noise.to_parquet(d / "b.parquet")
    ids = emb["sample_id"].astype(str).to_numpy()
    liability = emb["emb_1"].to_numpy() + rng.standard_normal(len(emb))
    labels = pd.DataFrame({"sample_id": ids, "disease": (liability > 0.3).astype(int),
                           "marker": liability + rng.standard_normal(len(emb))})
    labels.to_csv(d / "labels.tsv", sep="\t", index=False)
    pd.DataFrame({"ID": small_cohort.causal_ids}).to_csv(d / "reference.tsv", sep="\t",
                                                        index=False)
    return {"dir": d, "labels": labels, "emb": emb, "cols": cols}


def _logistic_auc_by_hand(X, y, folds=5, seed=0, C=1.0):
    """L2-logistic regression (intercept unpenalized) fitted by BFGS on standardized
    features, AUC by the Mann-Whitney rank formula, on scikit-learn's stratified folds."""
    aucs = []
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        mu, sd = X[tr].mean(0), X[tr].std(0)
        A, B = (X[tr] - mu) / sd, (X[te] - mu) / sd
        s = 2 * y[tr] - 1

        def loss(theta, A=A, s=s):
            m = A @ theta[1:] + theta[0]
            return 0.5 * theta[1:] @ theta[1:] + C * np.logaddexp(0, -s * m).sum()

        theta = optimize.minimize(loss, np.zeros(A.shape[1] + 1), method="BFGS",
                                  options={"gtol": 1e-9}).x
        score = B @ theta[1:] + theta[0]
        r = stats.rankdata(score)
        n1 = y[te].sum()
        n0 = len(te) - n1
        aucs.append((r[y[te] == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
    return np.mean(aucs), np.std(aucs, ddof=1)


def test_auc_equals_the_hand_computation(case):
    X = case["emb"][case["cols"]].to_numpy()
    y = case["labels"]["disease"].to_numpy().astype(float)
    got = prediction_auc(X, y, folds=5, seed=0, C=1.0)
    mean, sd = _logistic_auc_by_hand(X, y)
    assert got.mean == pytest.approx(mean, abs=1e-6)
    assert got.sd == pytest.approx(sd, abs=1e-6)
    assert got.n_cases + got.n_controls == len(y)


def test_evaluate_end_to_end(case, small_cohort):
    d = case["dir"]
    res = runner.invoke(app, [
        "evaluate", "--emb", f"A={d / 'a.parquet'}", "--emb", f"B={d / 'b.parquet'}",
        "--bed", str(small_cohort.bed), "--covar", str(small_cohort.covar), "--pcs", "4",
        "--reference", str(d / "reference.tsv"), "--labels", str(d / "labels.tsv"),
        "--label-cols", "disease", "--biomarker", "marker", "--out", str(d / "out"),
        "--threads", "1"])
    assert res.exit_code == 0, (res.output, res.stderr)
    out = d / "out"
    table = pd.read_parquet(out / "evaluation.parquet").set_index("METHOD")
    # Reference loci found, recomputed from each method's own sumstats by the definition.
    for m in ("A", "B"):
        ss = pd.read_parquet(out / "methods" / m / "assoc" / "sumstats.parquet")
        p = ss.set_index("ID")["P"].reindex(small_cohort.causal_ids).fillna(1.0).to_numpy()
        assert table.loc[m, "REF_SIGNIFICANT_P"] == int((p < 0.05 / 5).sum())
        assert table.loc[m, "REF_FRACTION_P"] == pytest.approx((p < 0.05 / 5).mean())
    assert table.loc["A", "REF_FRACTION_P"] >= 0.6        # the planted variants
    assert table.loc["B", "REF_FRACTION_P"] < table.loc["A", "REF_FRACTION_P"]  # noise
    clumps = pd.read_parquet(out / "methods" / "A" / "loci.clumped.parquet")
    assert table.loc["A", "N_CLUMPED_LOCI"] == len(clumps) >= 1
    assert (clumps["P"] <= 5e-8).all()
    # AUCs: the embeddings that drive the label beat noise; the biomarker is recorded too.
    pred = pd.read_csv(out / "prediction.tsv", sep="\t").set_index("MODEL")
    X = case["emb"][case["cols"]].to_numpy()
    y = case["labels"]["disease"].to_numpy().astype(float)
    mean, _ = _logistic_auc_by_hand(X, y)
    assert pred.loc["A", "AUC"] == pytest.approx(mean, abs=1e-6)
    assert pred.loc["A", "AUC"] > 0.7
    assert abs(pred.loc["B", "AUC"] - 0.5) < 0.1
    assert pred.loc["marker", "KIND"] == "biomarker"
    assert table.loc["A", "AUC_disease"] == pytest.approx(pred.loc["A", "AUC"])
    for name in ("evaluation.md", "evaluation.tsv", "violins.png", "loci.png"):
        assert (out / name).stat().st_size > 0, name
    report = (out / "evaluation.md").read_text()
    assert "| A |" in report
    assert "Disease prediction" in report


def test_reference_recovery_counts_untested_variants_as_missed():
    ss = pd.DataFrame({"ID": ["a", "b", "c"], "P": [1e-5, 0.02, 1e-9]})
    r = reference_recovery(ss, ["a", "b", "c", "d"])
    assert r == {"n_reference": 4, "n_tested": 3, "n_significant": 2, "fraction": 0.5,
                 "threshold": 0.0125}


def test_evaluate_bad_input(case, small_cohort, tmp_path):
    d = case["dir"]
    base = ["evaluate", "--bed", str(small_cohort.bed), "--out", str(tmp_path / "o")]
    other = case["emb"].assign(sample_id=[f"x{i}" for i in range(len(case["emb"]))])
    other.to_parquet(tmp_path / "other.parquet")
    res = runner.invoke(app, base + ["--emb", f"X={tmp_path / 'other.parquet'}"])
    assert_cli_error(res, r"--emb X and the .fam share 0 of 400 sample IDs", out=tmp_path / "o")
    lab = case["labels"].assign(disease=np.arange(len(case["labels"])) % 3)
    lab.to_csv(tmp_path / "lab3.tsv", sep="\t", index=False)
    res = runner.invoke(app, base + ["--emb", f"A={d / 'a.parquet'}", "--labels",
                                     str(tmp_path / "lab3.tsv"), "--label-cols", "disease"])
    assert_cli_error(res, r"label disease: expected a binary column \(two values, e.g. 0/1\); "
                          r"found 3 distinct values", out=tmp_path / "o")
    pd.DataFrame({"CHROM": ["1"], "POS": [5]}).to_csv(tmp_path / "ref.tsv", sep="\t",
                                                       index=False)
    res = runner.invoke(app, base + ["--emb", f"A={d / 'a.parquet'}", "--reference",
                                     str(tmp_path / "ref.tsv")])
    assert_cli_error(res, r"--reference .*ref.tsv: expected an ID \(or SNP\) column",
                     out=tmp_path / "o")
    res = runner.invoke(app, base + ["--emb", str(d / "a.parquet")])
    assert_cli_error(res, r"expected NAME=PATH", out=tmp_path / "o")
    res = runner.invoke(app, base + ["--emb", f"A={d / 'a.parquet'}", "--biomarker", "marker"])
    assert_cli_error(res, r"--biomarker needs --labels", out=tmp_path / "o")


def test_every_model_is_scored_on_the_same_samples(case, small_cohort, tmp_path):
    """Method B lacks 40 people (NaN embeddings): A, B and the biomarker are all scored on
    the other 360, and A's AUC is the hand computation on those."""
    d = case["dir"]
    b = pd.read_parquet(d / "b.parquet")
    b.loc[:39, case["cols"][0]] = np.nan
    b.to_parquet(tmp_path / "b_nan.parquet")
    cfg = EvaluateConfig(embeddings={"A": d / "a.parquet", "B": tmp_path / "b_nan.parquet"},
                         bed=small_cohort.bed, out=tmp_path / "o", labels=d / "labels.tsv",
                         label_cols=["disease"], biomarker="marker")
    embs = {n: read_embeddings(p) for n, p in cfg.embeddings.items()}
    labels, cols = read_labels(cfg)
    pred, pc1, notes = predict_labels(cfg, embs, labels, cols, open_plink(cfg.bed), None)
    pred = pred.set_index("MODEL")
    assert (pred["N_CASES"] + pred["N_CONTROLS"] == 360).all()
    assert pred["N_CASES"].nunique() == 1
    assert any("360 of the 400 labelled samples" in n for n in notes)
    X = case["emb"][case["cols"]].to_numpy()[40:]
    y = case["labels"]["disease"].to_numpy().astype(float)[40:]
    mean, _ = _logistic_auc_by_hand(X, y)
    assert pred.loc["A", "AUC"] == pytest.approx(mean, abs=1e-6)
    assert all(len(s) == 360 for s in pc1.values())


def test_evaluate_bad_input_is_caught_before_any_output(case, small_cohort, tmp_path):
    d = case["dir"]
    base = ["evaluate", "--bed", str(small_cohort.bed), "--out", str(tmp_path / "o"),
            "--emb", f"A={d / 'a.parquet'}"]
    lab = pd.concat([case["labels"], case["labels"].iloc[[3]]])
    lab.to_csv(tmp_path / "dup.tsv", sep="\t", index=False)
    res = runner.invoke(app, base + ["--labels", str(tmp_path / "dup.tsv")])
    assert_cli_error(res, r"--labels .*dup.tsv: sample_id '.*' appears more than once",
                     out=tmp_path / "o")
    bim = pd.read_csv(f"{small_cohort.bed}.bim", sep="\t", header=None)
    pd.DataFrame({"ID": bim[1][:3], "A1": bim[4][:3], "BETA": ["0.1", "big", "0.2"]}).to_csv(
        tmp_path / "panel.tsv", sep="\t", index=False)
    res = runner.invoke(app, base + ["--panel", str(tmp_path / "panel.tsv")])
    assert_cli_error(res, r"--panel: column BETA: expected numbers; found 1 non-numeric "
                          r"value, e\.g\. 'big' \(row 2, ID ",
                     out=tmp_path / "o")
    pd.DataFrame({"ID": ["nope1", "nope2"], "A1": ["A", "C"], "BETA": [0.1, 0.2]}).to_csv(
        tmp_path / "panel2.tsv", sep="\t", index=False)
    res = runner.invoke(app, base + ["--panel", str(tmp_path / "panel2.tsv")])
    assert_cli_error(res, r"--panel: none of its 2 variants is in the .bim", out=tmp_path / "o")
    res = runner.invoke(app, base + ["--clump-kb", "0"])
    assert_cli_error(res, r"--clump-kb 0: expected a number > 0",
                     out=tmp_path / "o")
    res = runner.invoke(app, base + ["--ref-ld", str(tmp_path / "nowhere")])
    assert_cli_error(res, r"nowhere", out=tmp_path / "o")
    res = runner.invoke(app, base + ["--labels", str(tmp_path / "missing.tsv")])
    assert_cli_error(res, r"--labels .*missing.tsv: file not found", out=tmp_path / "o")
    assert not (tmp_path / "o").exists()
