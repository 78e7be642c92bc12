"""MI estimator: losses by hand, bounds at the true log density ratio, Gaussian pairs with
known MI, and `gwasrep mi` end to end (resume, determinism, bad input).

How the bounds behave (asserted below):

- JSE (GIM's minus-the-loss) estimates 2 JSD(joint || marginals), not MI: it is
  bounded by 2 log 2 = 1.386 nats whatever the MI, and only increases with it. At the
  true log density ratio it is 0.24 for MI 0.5 and 0.78 for MI 2.
- MI_JSE, the Donsker-Varadhan bound of the JS-trained critic, estimates MI in nats;
  with a learned critic it falls short of the truth (here by about 7-12%).
- MI_INFONCE is a lower bound capped at log K (K evaluation pairs); with K = 1,500 the
  cap (7.3 nats) is far above 2 nats, and it sits a little closer to the truth.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from helpers import assert_cli_error, require_torch

torch = require_torch()

from gwasrep.mi.estimator import CriticConfig, estimate_mi, infonce_loss, jse_loss, mi_bounds  # noqa: E402
from gwasrep_cli.main import app  # noqa: E402

runner = CliRunner()


def gaussian_pairs(n: int, mi: float, *, d_e: int = 8, d_x: int = 20, k: int = 4,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pairs whose MI is ``mi`` nats: k canonical pairs with -1/2 log(1 - rho^2) = mi/k each,
    mixed by random rotations on both sides (MI is invariant to them)."""
    rng = np.random.default_rng(seed)
    rho = math.sqrt(1 - math.exp(-2 * mi / k))
    E = rng.standard_normal((n, d_e))
    X = rng.standard_normal((n, d_x))
    X[:, :k] = rho * E[:, :k] + math.sqrt(1 - rho ** 2) * X[:, :k]
    qe = np.linalg.qr(rng.standard_normal((d_e, d_e)))[0]
    qx = np.linalg.qr(rng.standard_normal((d_x, d_x)))[0]
    return E @ qe, X @ qx


def true_log_ratio(E: np.ndarray, X: np.ndarray, rho: float) -> np.ndarray:
    """log p(e_i, x_j) / (p(e_i) p(x_j)) for unrotated canonical pairs of correlation rho."""
    r2 = rho ** 2
    k = E.shape[1]
    return (-0.5 * k * math.log(1 - r2)
            - (r2 * ((E ** 2).sum(1)[:, None] + (X ** 2).sum(1)[None, :]) - 2 * rho * E @ X.T)
            / (2 * (1 - r2)))


def test_losses_by_hand():
    s = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.5, -0.3], [1.2, 0.4, -0.7]], dtype=torch.float64)
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731
    pos = [math.log(2) - sp(-s[i, i].item()) for i in range(3)]
    neg = [sp(-s[i, j].item()) + s[i, j].item() - math.log(2)
           for i in range(3) for j in range(3) if i != j]
    assert jse_loss(s).item() == pytest.approx(sum(neg) / 6 - sum(pos) / 3, abs=1e-12)
    ce = [-(s[i, i].item() - math.log(sum(math.exp(s[i, j].item()) for j in range(3))))
          for i in range(3)]
    assert infonce_loss(s).item() == pytest.approx(sum(ce) / 3, abs=1e-12)
    b = mi_bounds(s)
    assert b["JSE"] == pytest.approx(-jse_loss(s).item(), abs=1e-12)
    dv = (sum(s[i, i].item() for i in range(3)) / 3
          - math.log(sum(math.exp(s[i, j].item()) for i in range(3) for j in range(3) if i != j)
                     / 6))
    assert b["DV"] == pytest.approx(dv, abs=1e-12)
    assert b["INFONCE"] == pytest.approx(-sum(ce) / 3 + math.log(3), abs=1e-12)


@pytest.mark.parametrize("mi", [0.5, 2.0])
def test_bounds_at_true_critic(mi):
    """At the true log density ratio, DV and InfoNCE (K = 3,000) recover the MI; JSE does not."""
    rng = np.random.default_rng(3)
    k, n = 4, 3000
    rho = math.sqrt(1 - math.exp(-2 * mi / k))
    E = rng.standard_normal((n, k))
    X = rho * E + math.sqrt(1 - rho ** 2) * rng.standard_normal((n, k))
    S = true_log_ratio(E, X, rho)
    b = mi_bounds(torch.from_numpy(S))
    tol = 3 * np.diag(S).std() / math.sqrt(n) + 0.01  # sampling error of the positives' mean
    print(mi, b, tol)
    assert abs(b["DV"] - mi) < tol
    assert abs(b["INFONCE"] - mi) < tol
    assert b["JSE"] < min(mi, 2 * math.log(2))


@pytest.mark.slow
@pytest.mark.parametrize("mi", [0.5, 2.0])
def test_gaussian_mi_within_15_percent(mi):
    """N = 5,000 pairs, 3 seeds, the default architecture and budget except the genotype
    input dropout, which is for wide panels of mostly uninformative variants: here all 20
    inputs are dense Gaussians (with dropout 0.5 the estimates fall to 0.37 and 1.23)."""
    E, X = gaussian_pairs(5000, mi, seed=11)
    res = estimate_mi(E, X, seeds=(0, 1, 2), config=CriticConfig(geno_dropout=0.0))
    s = res.summary
    print(mi, {k: (round(v["mean"], 4), round(v["sd"], 4)) for k, v in s.items()})
    assert abs(s["MI_JSE"]["mean"] - mi) <= 0.15 * mi
    assert abs(s["MI_INFONCE"]["mean"] - mi) <= 0.15 * mi
    assert s["JSE"]["mean"] < 2 * math.log(2)
    assert s["JSE"]["mean"] < s["MI_JSE"]["mean"]  # JSE is not MI in nats
    n_eval = res.seeds[0].n_eval
    assert all(sd.estimates["MI_INFONCE"] <= math.log(n_eval) for sd in res.seeds)
    assert all(all(sd.converged.values()) for sd in res.seeds)


def test_independent_pairs_near_zero():
    rng = np.random.default_rng(5)
    res = estimate_mi(rng.standard_normal((3000, 6)), rng.standard_normal((3000, 30)), seeds=(0,))
    est = res.seeds[0].estimates
    print(est)
    assert abs(est["MI_JSE"]) < 0.05
    assert abs(est["MI_INFONCE"]) < 0.05
    assert abs(est["JSE"]) < 0.05


def test_same_seed_same_numbers():
    E, X = gaussian_pairs(1200, 1.0, seed=2)
    cfg = CriticConfig(max_epochs=30)
    a = estimate_mi(E, X, seeds=(4,), config=cfg).seeds[0]
    b = estimate_mi(E, X, seeds=(4,), config=cfg).seeds[0]
    assert a.estimates == b.estimates
    assert a.epochs == b.epochs


@pytest.fixture
def mi_case(small_cohort, tmp_path):
    return {"emb": small_cohort.emb, "bed": small_cohort.bed, "out": tmp_path / "m",
            "causal": small_cohort.causal_ids, "dir": tmp_path}


def _mi(case, *extra):
    return runner.invoke(app, ["mi", "--emb", str(case["emb"]), "--bed", str(case["bed"]),
                               "--out", str(case["out"]), "--quiet", *extra])


def test_cli_mi_resume_and_outputs(mi_case):
    """A run whose second seed was lost resumes to the uninterrupted result."""
    mi_case["out"] = mi_case["dir"] / "new_folder" / "m"  # --out into a folder not made yet
    res = _mi(mi_case, "--seeds", "2")
    assert res.exit_code == 0, res.output + res.stderr
    full = pd.read_csv(mi_case["out"].with_name("m.mi.tsv"), sep="\t")
    assert list(full["SEED"]) == [0, 1]
    assert full["N_EVAL"].iloc[0] == 120
    doc = json.loads(mi_case["out"].with_name("m.mi.json").read_text())
    assert doc["config"]["hidden"] == CriticConfig().hidden
    assert doc["inputs"]["n_variants"] == 3000
    assert doc["summary"]["MI_JSE"]["n_seeds"] == 2
    assert not mi_case["out"].with_name("m.mi.partial.jsonl").exists()
    # Simulate a kill after seed 0: keep its record in the partial file and rerun.
    from gwasrep.mi.run import fingerprint, load_pairs

    E, X, _, _ = load_pairs(mi_case["emb"], mi_case["bed"])
    partial = mi_case["out"].with_name("m.mi.partial.jsonl")
    partial.write_text(json.dumps({"fingerprint": fingerprint(E, X, CriticConfig()),
                                   "seed": doc["seeds"][0]}) + "\n{\"cut")
    res = _mi(mi_case, "--seeds", "2")
    assert res.exit_code == 0, res.output + res.stderr
    again = pd.read_csv(mi_case["out"].with_name("m.mi.tsv"), sep="\t")
    pd.testing.assert_frame_equal(full.drop(columns="SECONDS"), again.drop(columns="SECONDS"))
    assert "resumed: 1 seed" in " ".join(json.loads(
        mi_case["out"].with_name("m.mi.json").read_text())["notes"])


def test_cli_mi_extract_panel(mi_case):
    """The planted causal variants carry information; an unrelated set of 5 carries ~none."""
    d = mi_case["dir"]
    pd.DataFrame({"ID": mi_case["causal"]}).to_parquet(d / "panel.parquet")
    res = _mi(mi_case, "--seeds", "1", "--extract", str(d / "panel.parquet"))
    assert res.exit_code == 0, res.output + res.stderr
    t = pd.read_csv(mi_case["out"].with_name("m.mi.tsv"), sep="\t")
    bim = pd.read_csv(str(mi_case["bed"]) + ".bim", sep="\t", header=None)
    other = [v for v in bim[1] if v not in set(mi_case["causal"])][:5]
    (d / "other.txt").write_text("\n".join(other) + "\n")
    mi_case["out"] = d / "o"
    res = _mi(mi_case, "--seeds", "1", "--extract", str(d / "other.txt"))
    assert res.exit_code == 0, res.output + res.stderr
    t0 = pd.read_csv(d / "o.mi.tsv", sep="\t")
    print(t[["MI_JSE", "MI_INFONCE"]], t0[["MI_JSE", "MI_INFONCE"]])
    assert t["MI_INFONCE"].iloc[0] > 0.1
    assert t0["MI_INFONCE"].iloc[0] < 0.05


def test_cli_mi_bad_input(mi_case):
    d = mi_case["dir"]
    emb = pd.read_parquet(mi_case["emb"])
    emb["sample_id"] = "x" + emb["sample_id"].astype(str)
    emb.to_parquet(d / "other.parquet")
    res = runner.invoke(app, ["mi", "--emb", str(d / "other.parquet"), "--bed",
                              str(mi_case["bed"]), "--out", str(d / "z"), "--quiet"])
    assert_cli_error(res, "share 0 of 400 sample IDs")
    assert res.stderr.startswith("error:"), res.stderr  # and nothing before it
    (d / "none.txt").write_text("rs_nope\n")
    assert_cli_error(_mi(mi_case, "--extract", str(d / "none.txt")),
                     r"none of its 1 variants is in the \.bim")
    assert_cli_error(_mi(mi_case, "--estimators", "jse,mine"), "--estimators")
    assert not list(d.glob("z.mi.*"))
    assert not mi_case["out"].with_name("m.mi.tsv").exists()
