"""`gwasrep explain` (ContIG Integrated Gradients): the explained loss is the query's ContIG
term in the appended batch, attributions are complete (they sum to the loss change within
captum's delta), pure-noise variants rank below the causal ones, and the command writes the
documented files and turns bad input into one error line without an output folder."""

from __future__ import annotations

import json
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from helpers import ROOT, assert_cli_error, require_module, require_torch

torch = require_torch()
require_module("captum")

from torch.nn import functional  # noqa: E402

from gwasrep.io.plink import write_plink  # noqa: E402
from gwasrep.models.config import TrainConfig  # noqa: E402
from gwasrep.models.embed import embed_images  # noqa: E402
from gwasrep.models.explain import (  # noqa: E402
    ExplainConfig,
    integrated_gradients,
    query_loss,
    run_explain,
)
from gwasrep.models.run import run_data, run_train  # noqa: E402
from gwasrep.simulate.rotation import simulate_rotation, write_rotation_task  # noqa: E402
from gwasrep_cli.main import app  # noqa: E402

N_CAUSAL, N_NOISE = 20, 20
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One torch thread: on a shared 2-core machine two OpenMP threads that lose a core
    make the small matrix products here tens of times slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _contig(out, images, bed, pgs_weights, **kw):
    cfg = TrainConfig.from_profile(
        "contig", "quick", images=images, out=out, bed=bed, snp_every=1,
        modalities=["raw", "pgs"], pgs_weights=pgs_weights, batch_size=64, dim=16,
        warmup_epochs=1, device="cpu", **kw)
    return run_train(cfg)


@pytest.fixture(scope="module")
def contig_run(tmp_path_factory):
    """A ContIG run with the default H1 encoders (Linear -> ReLU -> BatchNorm, then the
    projection head) on raw SNPs and a PGS of 600 rotated 16x16 glyphs, 20 variants."""
    d = tmp_path_factory.mktemp("explain_h1")
    task = simulate_rotation(600, size=16, seed=3)
    paths = write_rotation_task(d, task)
    _contig(d / "run", paths["images"], paths["bed"], paths["panel"], epochs=2, lr=2e-3)
    return SimpleNamespace(task=task, paths=paths, run=d / "run", dir=d)


#: Samples whose 20 causal variants are all uncalled: they lack the PGS, not the raw SNPs.
NO_PGS = np.arange(0, 600, 20)


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """A ContIG run (raw SNPs + PGS, ``--missing outer``) on 600 rotated glyphs whose angle
    is driven by the 20 variants of ``simulate_rotation`` (each with an N(0, 1) effect),
    with 20 pure-noise variants appended to the raw SNPs; the samples NO_PGS lack the PGS.

    One glyph and little jitter, so that 20 quick epochs learn the rotation (with 20 glyphs
    the glyph identity drowns it at this size), and the ``none`` genetic encoder (the
    projection head alone), so that they take seconds."""
    d = tmp_path_factory.mktemp("explain_noisy")
    task = simulate_rotation(600, size=16, seed=3, n_glyphs=1, jitter=0.05)
    paths = write_rotation_task(d, task)
    rng = np.random.default_rng(11)
    noise = rng.binomial(2, rng.uniform(0.1, 0.5, N_NOISE), size=(600, N_NOISE))
    G = np.concatenate([task.genotypes, noise.astype(np.int8)], axis=1)
    G[NO_PGS, :N_CAUSAL] = -1
    ids = [f"v{j + 1}" for j in range(N_CAUSAL)] + [f"noise{j + 1}" for j in range(N_NOISE)]
    bim = pd.DataFrame({"CHROM": "1", "ID": ids, "CM": 0.0,
                        "POS": 10_000 * (np.arange(len(ids)) + 1), "A1": "A", "A2": "G"})
    fam = pd.DataFrame({"FID": task.sample_ids, "IID": task.sample_ids, "PAT": "0",
                        "MAT": "0", "SEX": "0", "PHENO": "-9"})
    write_plink(d / "noisy", G, bim, fam)
    res = _contig(d / "run", paths["images"], d / "noisy", paths["panel"], epochs=20,
                  lr=3e-3, geno_encoder="none", missing="outer")
    assert res.metrics[-1]["val_loss"] < res.metrics[0]["val_loss"] - 0.5  # it learned
    return SimpleNamespace(task=task, paths=paths, run=d / "run", dir=d,
                           no_pgs=set(task.sample_ids[NO_PGS]))


def _pieces(fx, n_ref=60, n_query=8, seed=0):
    """The tensors integrated_gradients takes, from a trained run (val samples as queries)."""
    _, desc, model, data = run_data(fx.run)
    rng = np.random.default_rng(seed)
    ref = np.sort(rng.choice(data.splits["train"], n_ref, replace=False))
    query = data.splits["val"][:n_query]
    rows = [data.image_rows[p] for p in np.concatenate([ref, query])]
    E = torch.as_tensor(embed_images(model, data.images, rows,
                                     (desc["channel_mean"], desc["channel_sd"])),
                        dtype=torch.float32)
    g = data.genetics
    ref_x = {m: torch.as_tensor(g.arrays[m][ref]) for m in model.genetic}
    with torch.no_grad():
        ref_gen = {m: (torch.as_tensor(g.present[m][ref]),
                       model.genetic[m](ref_x[m][g.present[m][ref]])) for m in model.genetic}
    return SimpleNamespace(model=model, x={m: torch.as_tensor(g.arrays[m][query])
                                           for m in model.genetic},
                           present={m: torch.as_tensor(g.present[m][query])
                                    for m in model.genetic},
                           img=E[n_ref:], ref_img=E[:n_ref], ref_gen=ref_gen, ref_x=ref_x)


# ---------------------------------------------------------------------------- numerics


def test_the_explained_loss_is_the_querys_contig_term_in_the_appended_batch(contig_run):
    p = _pieces(contig_run)
    model, T, lam = p.model, p.model.temperature, p.model.img_weight
    assert (T, lam) == (0.1, 0.75)  # the training values, not the public code's 1.0 and 0.5
    with torch.no_grad():
        got = query_loss(model, p.x, p.img, p.ref_img, p.ref_gen)
        one_by_one = torch.cat([query_loss(model, {m: v[i:i + 1] for m, v in p.x.items()},
                                           p.img[i:i + 1], p.ref_img, p.ref_gen)
                                for i in range(len(p.img))])
        R = len(p.ref_img)
        for i in range(len(p.img)):  # the last row of the (R+1) x (R+1) logits, by hand
            want = 0.0
            for m, branch in model.genetic.items():
                img = functional.normalize(torch.cat([p.ref_img, p.img[i:i + 1]]), dim=1)
                gen = functional.normalize(torch.cat([branch(p.ref_x[m]),
                                                      branch(p.x[m][i:i + 1])]), dim=1)
                logits = img @ gen.T / T
                target = torch.tensor([R])
                want += (lam * functional.cross_entropy(logits[-1:], target)
                         + (1 - lam) * functional.cross_entropy(logits.T[-1:], target)).item()
            assert got[i].item() == pytest.approx(want, rel=1e-5)
        # Eval mode: a query's loss does not depend on the queries explained with it.
        torch.testing.assert_close(got, one_by_one, rtol=1e-5, atol=1e-5)
        # A modality the query lacks adds nothing.
        Q = len(p.img)
        yes, no = torch.ones(Q, dtype=torch.bool), torch.zeros(Q, dtype=torch.bool)
        first_lacks_pgs = {"raw": yes, "pgs": torch.arange(Q) > 0}
        masked = query_loss(model, p.x, p.img, p.ref_img, p.ref_gen,
                            query_present=first_lacks_pgs)
        raw_term = query_loss(model, p.x, p.img, p.ref_img, p.ref_gen,
                              query_present={"raw": yes, "pgs": no})
        assert masked[0].item() == pytest.approx(raw_term[0].item(), rel=1e-6)
        torch.testing.assert_close(masked[1:], got[1:])
        # Reference samples without a modality leave its term (their images included).
        half = torch.arange(R) % 2 == 0
        some_lack_pgs = dict(p.ref_gen, pgs=(half, p.ref_gen["pgs"][1][half]))
        only_half = {m: (torch.ones(int(half.sum()), dtype=torch.bool), e[half])
                     for m, (_, e) in p.ref_gen.items()}
        pgs_only = {"raw": no, "pgs": yes}
        torch.testing.assert_close(
            query_loss(model, p.x, p.img, p.ref_img, some_lack_pgs, query_present=pgs_only),
            query_loss(model, p.x, p.img, p.ref_img[half], only_half, query_present=pgs_only))


@pytest.mark.parametrize("run", ["contig_run", "noisy"])
def test_attributions_are_complete(run, request):
    """sum_i a_i = L(x) - L(0), the loss called directly, within captum's delta, which is
    small; for the H1 encoders (BatchNorm) and for the trained ``none`` ones."""
    p = _pieces(request.getfixturevalue(run), n_ref=100, n_query=8)
    n_raw = N_CAUSAL + (N_NOISE if run == "noisy" else 0)

    def change(present=None):
        with torch.no_grad():
            zero = {m: torch.zeros_like(v) for m, v in p.x.items()}
            return (query_loss(p.model, p.x, p.img, p.ref_img, p.ref_gen, query_present=present)
                    - query_loss(p.model, zero, p.img, p.ref_img, p.ref_gen,
                                 query_present=present)).double().numpy()

    for steps, tol in ((50, 0.05), (300, 0.01)):
        attr, delta = integrated_gradients(p.model, p.x, p.img, p.ref_img, p.ref_gen, steps)
        assert set(attr) == {"raw", "pgs"}
        assert attr["raw"].shape == (8, n_raw)
        assert attr["pgs"].shape == (8, 1)
        total = attr["raw"].sum(axis=1) + attr["pgs"].sum(axis=1)
        scale = np.abs(attr["raw"]).sum(axis=1) + np.abs(attr["pgs"]).sum(axis=1)
        np.testing.assert_allclose(total - change(), delta, atol=1e-4 * scale.max())
        assert np.all(np.abs(delta) <= tol * scale), (steps, np.abs(delta) / scale)
        assert np.median(np.abs(total - change()) / np.abs(change())) < tol
    # A query lacking a modality gets attribution 0 there, and completeness still holds.
    present = {"raw": torch.ones(8, dtype=torch.bool), "pgs": torch.arange(8) % 3 != 0}
    attr, delta = integrated_gradients(p.model, p.x, p.img, p.ref_img, p.ref_gen, 50,
                                       query_present=present)
    assert np.all(attr["pgs"][~present["pgs"].numpy()] == 0)
    np.testing.assert_allclose(attr["raw"].sum(1) + attr["pgs"].sum(1) - change(present),
                               delta, atol=1e-4)


def test_noise_variants_rank_below_the_causal_ones(noisy, tmp_path):
    stages = set()
    res = run_explain(ExplainConfig(run=noisy.run, out=tmp_path / "ex", reference_batch=200,
                                    samples=noisy.run / "test.txt", device="cpu"),
                      progress=lambda done, total, stage, **info: stages.add(stage))
    assert stages == {"images", "queries"}
    assert len(res.local) == 120  # the test split: 20% of 600
    imp = res.importance
    raw = imp[imp["modality"] == "raw"].set_index("feature")["mean_abs_attribution"]
    causal = raw[[f"v{j + 1}" for j in range(N_CAUSAL)]]
    noise = raw[[f"noise{j + 1}" for j in range(N_NOISE)]]
    assert noise.mean() < 0.5 * causal.mean(), (noise.mean(), causal.mean())
    assert noise.median() < 0.5 * causal.median(), (noise.median(), causal.median())
    assert noise.max() < causal.max()
    top5 = raw.sort_values(ascending=False).index[:5]
    assert all(f.startswith("v") for f in top5), top5
    # Larger effects, larger importance.
    assert np.corrcoef(np.abs(noisy.task.beta), causal.to_numpy())[0, 1] > 0.3
    # The global table is the local one summarized.
    local = res.local.set_index("sample_id")
    for m, f, v in imp[["modality", "feature", "mean_abs_attribution"]].itertuples(index=False):
        assert v == pytest.approx(local[f"{m}:{f}"].abs().mean(), rel=1e-9)
    assert list(imp["rank"]) == list(range(1, len(imp) + 1))
    assert imp["mean_abs_attribution"].is_monotonic_decreasing
    mods = res.modalities.set_index("modality")
    assert mods.loc["raw", "total_abs_attribution"] == pytest.approx(raw.sum())
    assert mods.loc["raw", "mean_abs_attribution"] == pytest.approx(raw.mean())
    assert not set(res.reference_ids) & set(local.index)
    # Queries without the PGS (--missing outer) have no attribution there and do not count.
    lacking = local.index.isin(list(noisy.no_pgs))
    assert 0 < lacking.sum() < len(local)
    assert local.loc[lacking, "pgs:BETA"].isna().all()
    assert local.loc[~lacking].notna().all().all()
    assert local.loc[lacking, [c for c in local if c.startswith("raw:")]].notna().all().all()
    assert mods.loc["pgs", "n_samples"] == (~lacking).sum()
    assert mods.loc["raw", "n_samples"] == len(local)


# ---------------------------------------------------------------------------- command


def _spec_columns() -> dict[str, list[str]]:
    """file -> the column (or key) names of its table in data_specs/explain.md."""
    out, current = {}, None
    for line in (ROOT / "data_specs" / "explain.md").read_text().splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            out[current] = []
        elif current and line.startswith("| `"):
            out[current] += re.findall(r"`([^`]+)`", line.split("|")[1])
    return out


def _explain(run, out, *extra):
    return runner.invoke(app, ["explain", "--run", str(run), "--out", str(out), "--device",
                               "cpu", "--quiet", *extra])


def test_command_writes_the_documented_files(noisy, tmp_path):
    out = tmp_path / "explain"
    res = _explain(noisy.run, out, "--reference-batch", "100", "--samples",
                   str(noisy.run / "test.txt"), "--steps", "10", "--top", "8", "--seed", "2")
    assert res.exit_code == 0, res.stderr
    spec = _spec_columns()
    files = {p.name for p in out.iterdir()}
    assert files == {"local.parquet", "global.tsv", "modalities.tsv", "top_features.png",
                     "explain.json"}
    assert files == {name for name in spec}
    feats = [f"raw:v{j + 1}" for j in range(N_CAUSAL)] + \
        [f"raw:noise{j + 1}" for j in range(N_NOISE)] + ["pgs:BETA"]
    local = pd.read_parquet(out / "local.parquet")
    documented = spec["local.parquet"]
    assert documented == ["sample_id", "<modality>:<feature>", "delta", "loss", "baseline_loss"]
    assert list(local.columns) == ["sample_id", *feats, "delta", "loss", "baseline_loss"]
    assert len(local) == 120
    assert local["sample_id"].is_unique
    assert (local.dtypes.drop("sample_id") == np.float64).all()
    glob = pd.read_csv(out / "global.tsv", sep="\t")
    assert list(glob.columns) == spec["global.tsv"]
    assert sorted(glob["modality"] + ":" + glob["feature"]) == sorted(feats)
    mods = pd.read_csv(out / "modalities.tsv", sep="\t")
    assert list(mods.columns) == spec["modalities.tsv"]
    assert list(mods["modality"]) == ["raw", "pgs"]
    assert list(mods["n_features"]) == [N_CAUSAL + N_NOISE, 1]
    assert (out / "top_features.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((out / "explain.json").read_text())
    assert set(meta) == set(spec["explain.json"])
    assert meta["method"] == "contig"
    assert meta["loss"] == {"temperature": 0.1, "img_weight": 0.75}
    assert meta["settings"]["reference_batch"] == 100
    assert meta["settings"]["steps"] == 10
    assert meta["counts"]["n_queries"] == 120
    assert len(meta["reference_samples"]) == 100
    train = set((noisy.run / "train.txt").read_text().split())
    assert set(meta["reference_samples"]) <= train
    assert not (out / ".gwasrep.lock").exists()
    # The same seed draws the same reference batch; the numbers repeat exactly.
    again = _explain(noisy.run, tmp_path / "again", "--reference-batch", "100", "--samples",
                     str(noisy.run / "test.txt"), "--steps", "10", "--seed", "2")
    assert again.exit_code == 0, again.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "again" / "local.parquet"), local)
    # Without --quiet: a summary line naming the top features.
    shown = runner.invoke(app, ["explain", "--run", str(noisy.run), "--out",
                                str(tmp_path / "shown"), "--device", "cpu",
                                "--reference-batch", "50", "--samples",
                                str(noisy.run / "test.txt"), "--steps", "4"])
    assert shown.exit_code == 0, shown.stderr
    assert "120 samples x 41 genetic features" in shown.stdout
    assert "top features: " in shown.stdout


@pytest.fixture(scope="module")
def gemcont_run(noisy):
    cfg = TrainConfig.from_profile("gemcont", "quick", images=noisy.paths["images"],
                                   out=noisy.dir / "gemcont", bed=noisy.paths["bed"],
                                   panel=noisy.paths["panel"], epochs=1, batch_size=64, dim=8,
                                   device="cpu")
    run_train(cfg)
    return noisy.dir / "gemcont"


def test_bad_inputs_are_one_error_line_and_leave_no_output(noisy, gemcont_run, tmp_path):
    out = tmp_path / "explain"
    unfinished = tmp_path / "unfinished"
    shutil.copytree(noisy.run, unfinished, ignore=shutil.ignore_patterns("model.pt"))
    (tmp_path / "nobody.txt").write_text("X1\nX2\n")
    cases = [
        ([str(gemcont_run)], [], r"a gemcont run; gwasrep explain explains ContIG runs only"),
        ([str(unfinished)], [], r"the run has not finished \(no model\.pt\)"),
        ([str(noisy.run)], ["--reference-batch", "5000"],
         r"^error: --reference-batch 5000: expected at most 420 \(the training samples with "
         r"images\)$"),
        ([str(noisy.run)], ["--reference-batch", "1"],
         r"^error: --reference-batch 1: expected an integer >= 2$"),
        ([str(noisy.run)], ["--steps", "0"], r"^error: --steps 0: expected an integer >= 1$"),
        ([str(noisy.run)], ["--top", "0"], r"^error: --top 0: expected an integer >= 1$"),
        ([str(noisy.run)], ["--samples", str(tmp_path / "nobody.txt")],
         r"--samples .*nobody\.txt: none of its 2 samples is among the run's 600 samples"),
    ]
    for (run,), extra, pattern in cases:
        res = _explain(run, out, "--reference-batch", "50", *extra)
        assert_cli_error(res, pattern)
        assert not out.exists(), (extra, list(out.iterdir()))
