"""`gwasrep train` / `gwasrep embed` end to end, and their bad-input errors (one line, exit 2)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from helpers import assert_cli_error, require_torch

torch = require_torch()

from gwasrep.simulate.rotation import simulate_rotation, write_rotation_task  # noqa: E402
from gwasrep_cli.main import app  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    d = tmp_path_factory.mktemp("clitoy")
    task = simulate_rotation(400, size=16, seed=5)
    return task, write_rotation_task(d, task)


def _train(paths, out, *extra):
    return runner.invoke(app, ["train", "--method", "gemcont", "--images", str(paths["images"]),
                               "--bed", str(paths["bed"]), "--panel", str(paths["panel"]),
                               "--out", str(out), "--profile", "quick", "--epochs", "2",
                               "--batch-size", "64", "--dim", "8", "--quiet", *extra])


def test_train_embed_assoc(toy, tmp_path):
    _, paths = toy
    res = _train(paths, tmp_path / "run")
    assert res.exit_code == 0, res.stderr
    for f in ("config.json", "metrics.csv", "model.pt", "checkpoint.pt", "train.txt", "val.txt",
              "test.txt"):
        assert (tmp_path / "run" / f).is_file(), f
    assert len(pd.read_csv(tmp_path / "run" / "metrics.csv")) == 2
    res = runner.invoke(app, ["embed", "--run", str(tmp_path / "run"), "--images",
                              str(paths["images"]), "--samples", str(tmp_path / "run" / "test.txt"),
                              "--out", str(tmp_path / "emb.parquet"), "--quiet"])
    assert res.exit_code == 0, res.stderr
    emb = pd.read_parquet(tmp_path / "emb.parquet")
    assert emb.shape == (80, 10)  # 20% test of 400; sample_id, meta_n_images, emb_1..8
    res = runner.invoke(app, ["assoc", "--emb", str(tmp_path / "emb.parquet"), "--bed",
                              str(paths["bed"]), "--out", str(tmp_path / "assoc"), "--quiet"])
    assert res.exit_code == 0, res.stderr
    assert len(pd.read_parquet(tmp_path / "assoc" / "sumstats.parquet")) == 20
    # A finished run resumes to a no-op; without --resume the folder is protected.
    assert_cli_error(_train(paths, tmp_path / "run"), "already holds a run; pass --resume")
    assert _train(paths, tmp_path / "run", "--resume").exit_code == 0
    res = runner.invoke(app, ["train", "--method", "simclr", "--images", str(paths["images"]),
                              "--out", str(tmp_path / "run"), "--profile", "quick", "--epochs",
                              "2", "--dim", "8", "--resume", "--quiet"])
    assert_cli_error(res, "holds a gemcont run; cannot resume it as simclr")


def test_bad_inputs(toy, tmp_path, monkeypatch):
    task, paths = toy
    out = tmp_path / "run"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert_cli_error(_train(paths, out, "--device", "cuda"), "--device cuda: no CUDA GPU")
    assert_cli_error(runner.invoke(app, ["train", "--method", "clip", "--images",
                                         str(paths["images"]), "--out", str(out)]),
                     "method: expected one of gemcont")
    assert_cli_error(runner.invoke(app, ["train", "--method", "gemcont", "--images",
                                         str(paths["images"]), "--out", str(out)]),
                     "needs genotypes: pass --bed and --panel")
    (tmp_path / "empty.txt").write_text("nobody\n")
    assert_cli_error(_train(paths, out, "--split", str(tmp_path / "empty.txt")),
                     "the train split is empty")
    panel = pd.read_parquet(paths["panel"]).assign(ID=lambda d: "x" + d["ID"])
    panel.to_parquet(tmp_path / "panel.parquet")
    p2 = {**paths, "panel": tmp_path / "panel.parquet"}
    assert_cli_error(_train(p2, out), r"none of its 20 variants is usable .*\(20 not in the \.bim")
    np.savez(tmp_path / "other.npz", images=task.images[:30],
             sample_id=np.array([f"Q{i}" for i in range(30)]))
    assert_cli_error(_train({**paths, "images": tmp_path / "other.npz"}, out),
                     "images and the .fam share 0 of 30 sample IDs")
    np.save(tmp_path / "bad.npy", np.zeros((5, 4)))
    assert_cli_error(_train({**paths, "images": tmp_path / "bad.npy"}, out, "--image-ids",
                            str(tmp_path / "empty.txt")), r"expected images of shape \(N, H, W\)")
    assert_cli_error(_train(paths, out, "--augment", "warp"), "unknown augmentation warp")
    assert not out.exists()


@pytest.mark.parametrize(("extra", "message"), [
    (["--test-fraction", "-0.2"], r"--test-fraction -0.2: expected a number in \(0, 1\)"),
    (["--image-size", "0"], r"--image-size 0: expected an integer >= 8"),
    (["--lr", "-1"], r"--lr -1: expected a number > 0"),
    (["--epochs", "0"], r"--epochs 0: expected an integer >= 1"),
    (["--batch-size", "1"], r"--batch-size 1: expected an integer >= 2"),
    (["--encoder", "resnet99"], r"encoder"),
])
def test_bad_option_leaves_no_run_folder(toy, tmp_path, extra, message):
    """A failed set-up leaves nothing, so the corrected command (and --resume) still runs."""
    _, paths = toy
    out = tmp_path / "run"
    assert_cli_error(_train(paths, out, *extra), message)
    assert not out.exists()


def test_file_as_train_out(toy, tmp_path):
    _, paths = toy
    (tmp_path / "run").write_text("x")
    assert_cli_error(_train(paths, tmp_path / "run"), "exists and is not a folder")


def test_damaged_run_and_wrong_suffix_for_embed(toy, tmp_path):
    _, paths = toy
    run = tmp_path / "run"
    assert _train(paths, run).exit_code == 0

    def embed(out="e.parquet"):
        return runner.invoke(app, ["embed", "--run", str(run), "--images", str(paths["images"]),
                                   "--out", str(tmp_path / out), "--quiet"])

    assert_cli_error(embed("e.csv"), r"--out .*e\.csv: the embeddings table \(Parquet\) is "
                                     r"written here; expected a name ending in \.parquet")
    assert not (tmp_path / "e.csv").exists()
    config, model = (run / "config.json").read_text(), (run / "model.pt").read_bytes()
    (run / "config.json").write_text(config[: len(config) // 2])
    assert_cli_error(embed(), r"config\.json: not a readable gwasrep run configuration")
    for key, value in (("dim", '"abc"'), ("dim", "-1"), ("seed", '"abc"')):
        (run / "config.json").write_text(re.sub(rf'"{key}": [^,\n]+', f'"{key}": {value}',
                                                config, count=1))
        assert_cli_error(embed(), r"config\.json: not a (valid|readable) gwasrep run "
                                  r"configuration")
    (run / "config.json").write_text(config)
    (run / "model.pt").write_bytes(model[: len(model) // 2])
    assert_cli_error(embed(), r"model\.pt: could not load the trained weights")
    (run / "model.pt").write_bytes(b"\x00" * 100)
    assert_cli_error(embed(), r"model\.pt: could not load the trained weights")
    assert not (tmp_path / "e.parquet").exists()
    (run / "model.pt").write_bytes(model)
    assert embed().exit_code == 0


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    _, paths = toy
    run = tmp_path_factory.mktemp("trained") / "run"
    assert _train(paths, run).exit_code == 0
    return run


EMBED = [
    ("batch_size_zero", ["--batch-size", "0"], r"--batch-size 0: expected an integer >= 1"),
    ("image_size_small", ["--image-size", "4"], r"--image-size 4: expected an integer >= 8"),
    ("representation", ["--representation", "latent"],
     r"--representation: expected projection or backbone; found 'latent'"),
    ("out_suffix", "csv", r"expected a name ending in \.parquet, found \.csv"),
    ("missing_run", "norun", r"not a gwasrep run directory \(no config\.json\)"),
    ("unfinished_run", "nomodel", r"the run has not finished \(no model\.pt\)"),
    ("missing_images", "noimages", r"none\.npz.*not found|not found.*none\.npz"),
    ("unknown_samples", "samples", r"s\.txt: none of its 2 samples has an image in .*images"
                                   r"\.npz \(e\.g\. nobody1, nobody2 vs R00001"),
    ("empty_samples", "nosamples", r"--samples .*s\.txt: no sample IDs in the file"),
    ("wrong_image_size", "resize", r"images have shape \(C, H, W\) = \(1, 12, 12\); the run "
                                   r"was trained on \(1, 16, 16\) \(use --image-size\)"),
]


@pytest.mark.parametrize(("name", "extra", "message"), EMBED, ids=[c[0] for c in EMBED])
def test_embed_bad_inputs(toy, trained, tmp_path, name, extra, message):
    """Each: one line, exit 2, no embeddings file."""
    _, paths = toy
    run, images, out = trained, paths["images"], tmp_path / "e.parquet"
    if extra == "csv":
        out, extra = tmp_path / "e.csv", []
    elif extra == "norun":
        run, extra = tmp_path / "nowhere", []
    elif extra == "nomodel":
        run = tmp_path / "copy"
        run.mkdir()
        (run / "config.json").write_text((trained / "config.json").read_text())
        extra = []
    elif extra == "noimages":
        images, extra = tmp_path / "none.npz", []
    elif extra == "samples":
        (tmp_path / "s.txt").write_text("nobody1\nnobody2\n")
        extra = ["--samples", str(tmp_path / "s.txt")]
    elif extra == "nosamples":
        (tmp_path / "s.txt").write_text("")
        extra = ["--samples", str(tmp_path / "s.txt")]
    elif extra == "resize":
        extra = ["--image-size", "12"]  # the run was trained on 16x16
    res = runner.invoke(app, ["embed", "--run", str(run), "--images", str(images), "--out",
                              str(out), "--quiet", *extra])
    assert_cli_error(res, message)
    assert not out.exists()


def _train_method(method, paths, out, *extra):
    return runner.invoke(app, ["train", "--method", method, "--images", str(paths["images"]),
                               "--bed", str(paths["bed"]), "--out", str(out), "--profile",
                               "quick", "--epochs", "2", "--batch-size", "64", "--dim", "8",
                               "--quiet", *extra])


@pytest.mark.parametrize(("method", "extra"), [
    ("contig", ["--snp-every", "1", "--modalities", "pgs,raw", "--missing", "outer"]),
    ("gim", ["--window", "5", "--stages", "1,0,1"]),
    ("mrm", ["--snp-token", "4"]),
])
def test_new_methods_train_and_embed_through_the_cli(toy, tmp_path, method, extra):
    _, paths = toy
    if method == "contig":
        extra = [*extra, "--pgs-weights", str(paths["panel"])]
    res = _train_method(method, paths, tmp_path / "run", *extra)
    assert res.exit_code == 0, res.stderr
    cfg = __import__("json").loads((tmp_path / "run" / "config.json").read_text())
    if method == "contig":
        assert cfg["config"]["modalities"] == ["pgs", "raw"]
        assert cfg["data"]["modalities"] == {"pgs": 1, "raw": 20}
    res = runner.invoke(app, ["embed", "--run", str(tmp_path / "run"), "--images",
                              str(paths["images"]), "--out", str(tmp_path / "e.parquet"),
                              "--quiet"])
    assert res.exit_code == 0, res.stderr
    assert pd.read_parquet(tmp_path / "e.parquet").filter(like="emb_").shape == (400, 8)


def test_new_methods_bad_inputs(toy, tmp_path):
    _, paths = toy
    out = tmp_path / "run"
    w = tmp_path / "w.tsv"
    pd.DataFrame({"ID": ["x1", "x2"], "A1": ["A", "A"], "BETA": [1.0, 2.0]}).to_csv(
        w, sep="\t", index=False)
    assert_cli_error(_train_method("contig", paths, out, "--pgs-weights", str(w)),
                     r"none of its 2 weight variants is in .*\(2 not in the .bim")
    pd.DataFrame({"ID": ["v1", "v2"], "A1": ["C", "A"], "BETA": [1.0, 2.0]}).to_csv(
        w, sep="\t", index=False)
    assert_cli_error(_train_method("contig", paths, out, "--pgs-weights", str(w)),
                     "1 of 2 weight variants have alleles that match neither .bim allele")
    genes = tmp_path / "genes.tsv"
    pd.DataFrame({"ID": ["v1", "nope"], "GENE": ["G1", "G1"]}).to_csv(genes, sep="\t",
                                                                      index=False)
    assert_cli_error(_train_method("contig", paths, out, "--burden", str(genes)),
                     "1 of 2 rows name variants that are not in")
    assert_cli_error(_train_method("contig", paths, out, "--modalities", "raw,exome"),
                     "--modalities raw,exome: expected distinct names among raw, pgs, burden")
    assert_cli_error(_train_method("contig", paths, out, "--modalities", "pgs"),
                     "--modalities pgs needs --pgs-weights FILE")
    assert_cli_error(_train_method("contig", paths, out, "--geno-encoder", "transformer"),
                     "--geno-encoder transformer: method contig takes h1, h12, none")
    assert_cli_error(_train_method("contig", paths, out, "--missing", "sideways"),
                     "--missing: expected inner or outer")
    assert_cli_error(_train_method("gim", paths, out, "--window", "30"),
                     "--window 30: chromosome 1 has only 20 SNPs")
    assert_cli_error(_train_method("gim", paths, out, "--stages", "1,1"),
                     "--stages 1,1: expected three epoch counts")
    assert_cli_error(_train_method("gim", paths, out, "--stages", "a,b,c"),
                     "--stages a,b,c: expected comma-separated integers")
    assert_cli_error(_train_method("gim", paths, out, "--crop-p", "0.5", "--downsample-p",
                                   "0.8"), "expected a sum of at most 1")
    assert_cli_error(_train_method("mrm", paths, out, "--tau-image", "1"),
                     r"--tau-image 1: expected a number in \[0, 1\)")
    assert_cli_error(_train_method("gim", paths, out, "--encoder", "resnet3d"),
                     "--encoder resnet3d takes 3D volumes")
    assert not out.exists()
