"""Trait generators (issue 6): every method trains, GEMCONT recovers a planted signal,
resume is exact, encoders match their published layouts, data are matched and split as
documented, and embeddings average over a sample's images."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from helpers import require_torch

torch = require_torch()

from gwasrep.errors import InputError, ResumeError  # noqa: E402
from gwasrep.harness.metrics import ridge_r2  # noqa: E402
from gwasrep.models.config import TrainConfig  # noqa: E402
from gwasrep.models.data import (  # noqa: E402
    prepare_data,
    random_split,
    read_images,
    read_panel_genotypes,
)
from gwasrep.models.embed import embed_images  # noqa: E402
from gwasrep.models.encoders import (  # noqa: E402
    FrozenBackbone,
    LinearGenotype,
    ResNet,
    SmallCNN,
)
from gwasrep.models.genetics import build_genetics  # noqa: E402
from gwasrep.models.methods import get_method, model_from_config  # noqa: E402
from gwasrep.models.methods.base import ModelInputs  # noqa: E402
from gwasrep.models.run import EmbedConfig, run_embed  # noqa: E402
from gwasrep.models.train import load_run, resolve_device, train  # noqa: E402
from gwasrep.simulate.rotation import simulate_rotation, write_rotation_task  # noqa: E402


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """600 rotated 16x16 glyphs with 20 variants, written as a user would have them."""
    d = tmp_path_factory.mktemp("toy")
    task = simulate_rotation(600, size=16, seed=3)
    return task, write_rotation_task(d, task)


def _quick(method, **kw):
    base = dict(epochs=4, batch_size=64, lr=2e-3, warmup_epochs=1, dim=16, augment=["erasing"])
    base.update(kw)
    return TrainConfig.from_profile(method, "quick", **base)


def _toy_data(toy, method, cfg=None, **kw):
    task, paths = toy
    imgs = read_images(paths["images"])
    if method in ("contig", "gim", "mrm"):
        cfg = cfg if cfg is not None else _quick(method)
        if method == "contig":
            cfg = replace(cfg, pgs_weights=paths["panel"], modalities=["raw", "pgs"])
        return prepare_data(imgs, bed=paths["bed"],
                            genetics=build_genetics(cfg, get_method(method).genetic), **kw)
    if method == "supervised":
        tgt = paths["images"].parent / "latent.tsv"
        return prepare_data(imgs, target=tgt, target_col=kw.pop("target_col", "z"), **kw)
    if method in ("gemcont", "prs"):
        return prepare_data(imgs, bed=paths["bed"], panel=paths["panel"], **kw)
    return prepare_data(imgs, **kw)


# ---------------------------------------------------------------------------- methods


@pytest.mark.parametrize(("method", "extra"), [
    ("gemcont", {}), ("prs", {}), ("simclr", {"augment": ["crop", "erasing"]}), ("vae", {}),
    ("autoencoder", {}), ("supervised", {}), ("supervised", {"task": "classify"}),
    ("contig", {"snp_every": 1}), ("contig", {"snp_every": 1, "geno_encoder": "h12"}),
    ("contig", {"snp_every": 1, "geno_encoder": "none"}), ("gim", {"window": 5}),
    ("gim", {"window": 5, "geno_encoder": "mlp"}), ("mrm", {"snp_token": 4}),
])
def test_method_trains_and_embeds(toy, tmp_path, method, extra):
    kw = {"target_col": "glyph"} if extra.get("task") == "classify" else {}
    cfg = _quick(method, **extra)
    data = _toy_data(toy, method, cfg, **kw)
    res = train(data, cfg, tmp_path / "run")
    losses = [r["train_loss"] for r in res.metrics]
    assert len(losses) == 4
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0], losses
    assert np.isfinite(res.metrics[-1]["val_loss"])
    _, desc, model = load_run(tmp_path / "run")
    if extra.get("task") == "classify":  # the labels, in code order
        assert desc["classes"] == sorted(str(g) for g in np.unique(toy[0].glyph))
    rows = [data.image_rows[p] for p in data.splits["val"]]
    norm = (desc["channel_mean"], desc["channel_sd"])
    proj = embed_images(model, data.images, rows, norm)
    back = embed_images(model, data.images, rows, norm, representation="backbone")
    assert proj.shape == (len(rows), 16)  # the documented D, for the VAE the posterior mean
    assert back.shape == (len(rows), 64 if method == "mrm" else 128)  # ViT / SmallCNN
    assert np.isfinite(proj).all()
    assert proj.std(axis=0).min() > 0


@pytest.mark.slow
def test_gemcont_recovers_planted_rotation(tmp_path):
    """~4,000 glyphs whose angle is linear in 20 variants plus noise (h2 = 0.8)."""
    task = simulate_rotation(4000, size=20, seed=0)
    paths = write_rotation_task(tmp_path / "data", task)
    imgs = read_images(paths["images"])
    data = prepare_data(imgs, bed=paths["bed"], panel=paths["panel"], val_fraction=0.1,
                        test_fraction=0.25, seed=0)
    cfg = TrainConfig.from_profile("gemcont", "quick", epochs=12, batch_size=128, lr=2e-3,
                                   warmup_epochs=1, dim=32, augment=["erasing"])
    train(data, cfg, tmp_path / "run")
    _, desc, model = load_run(tmp_path / "run")
    test = data.splits["test"]
    rows = [data.image_rows[p] for p in test]
    z = pd.read_csv(paths["latent"], sep="\t").set_index("sample_id").loc[
        data.sample_ids[test], "z"].to_numpy()
    norm = (desc["channel_mean"], desc["channel_sd"])
    h = len(test) // 2

    def r2(E):
        return ridge_r2(E[:h], z[:h], E[h:], z[h:], alpha=1e-3)

    trained = r2(embed_images(model, imgs, rows, norm))
    random_model = model_from_config(
        TrainConfig(method="gemcont", encoder="cnn", dim=32, seed=1),
        ModelInputs(image_shape=tuple(desc["image_shape"]), n_variants=20)).eval()
    random_r2 = max(r2(embed_images(random_model, imgs, rows, norm, representation=rep))
                    for rep in ("projection", "backbone"))
    print(f"ridge R2 of z on held-out samples: GEMCONT {trained:.3f}, random encoder "
          f"{random_r2:.3f}")
    assert trained >= 0.5, trained
    assert trained - random_r2 >= 0.3, (trained, random_r2)


def test_resume_reproduces_the_uninterrupted_run(toy, tmp_path):
    data = _toy_data(toy, "gemcont")
    cfg = _quick("gemcont", epochs=3, augment=["rotation", "erasing"])
    train(data, cfg, tmp_path / "full")

    class KilledError(Exception):
        pass

    def kill_after_first_epoch(done, total, stage, **info):
        if stage == "epochs" and done == 1:
            raise KilledError

    with pytest.raises(KilledError):
        train(data, cfg, tmp_path / "cut", progress=kill_after_first_epoch)
    assert not (tmp_path / "cut" / "model.pt").exists()
    with pytest.raises(ResumeError, match="already holds a run; pass --resume"):
        train(data, cfg, tmp_path / "cut")
    res = train(data, cfg, tmp_path / "cut", resume=True)
    assert res.epochs_run == 3
    full = torch.load(tmp_path / "full" / "model.pt", weights_only=True)
    resumed = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)
    assert full.keys() == resumed.keys()
    for k in full:
        assert torch.equal(full[k], resumed[k]), k
    assert (pd.read_csv(tmp_path / "full" / "metrics.csv")["train_loss"].tolist()
            == pd.read_csv(tmp_path / "cut" / "metrics.csv")["train_loss"].tolist())
    # Another method, or other settings, cannot resume this run.
    with pytest.raises(ResumeError, match="holds a gemcont run; cannot resume it as simclr"):
        train(_toy_data(toy, "simclr"), _quick("simclr", epochs=3), tmp_path / "cut", resume=True)
    with pytest.raises(ResumeError, match="lr 0.002 -> 0.001"):
        train(data, _quick("gemcont", epochs=3, lr=1e-3, augment=["rotation", "erasing"]),
              tmp_path / "cut", resume=True)


@pytest.mark.parametrize("kill_after", [1, 2])
def test_gim_resumes_within_its_stages_to_the_uninterrupted_weights(toy, tmp_path, kill_after):
    """Stages 1 / 1 / 1: killed after the frozen stage or after the augmentation stage."""
    cfg = _quick("gim", epochs=3, stages=[1, 1, 1], window=5, downsample_length=12)
    data = _toy_data(toy, "gim", cfg)
    train(data, cfg, tmp_path / "full")

    class KilledError(Exception):
        pass

    def kill(done, total, stage, **info):
        if stage == "epochs" and done == kill_after:
            raise KilledError

    with pytest.raises(KilledError):
        train(data, cfg, tmp_path / "cut", progress=kill)
    train(data, cfg, tmp_path / "cut", resume=True)
    full = torch.load(tmp_path / "full" / "model.pt", weights_only=True)
    cut = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)
    for k in full:
        assert torch.equal(full[k], cut[k]), k


def test_gim_freezes_its_genetic_encoder_until_the_last_stage(toy, tmp_path):
    cfg = _quick("gim", epochs=3, stages=[2, 0, 1], window=5)
    data = _toy_data(toy, "gim", cfg)
    states = []

    def snap(done, total, stage, **info):
        if stage == "epochs":
            m = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["model"] \
                if (tmp_path / "run" / "checkpoint.pt").exists() else None
            states.append(m)

    model0 = model_from_config(cfg, ModelInputs(image_shape=(1, 16, 16),
                                                modalities=data.genetics.sizes,
                                                layout=data.genetics.layout))
    train(data, cfg, tmp_path / "run", progress=snap)
    gen = [k for k in model0.state_dict() if k.startswith("genetic.")]
    img = [k for k in model0.state_dict() if k.startswith("backbone.")]
    assert gen
    assert img
    for k in gen:  # frozen through epochs 1-2: still the initial weights
        assert torch.equal(states[1][k], model0.state_dict()[k]), k
    assert any(not torch.equal(states[2][k], model0.state_dict()[k]) for k in gen)
    assert any(not torch.equal(states[0][k], model0.state_dict()[k]) for k in img)


def test_a_run_from_before_the_new_fields_resumes(toy, tmp_path):
    """config.json written before ContIG/GIM/MRM's fields existed: they take their defaults."""
    data = _toy_data(toy, "gemcont")
    cfg = _quick("gemcont", epochs=2)

    def stop(done, total, stage, **info):
        if stage == "epochs":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(data, cfg, tmp_path / "run", progress=stop)
    path = tmp_path / "run" / "config.json"
    stored = json.loads(path.read_text())
    for k in ("modalities", "missing", "snp_every", "img_weight", "window", "crop_p",
              "downsample_p", "downsample_length", "stages", "recon_weight", "tau_image",
              "tau_genome", "snp_token", "match_weight"):
        stored["config"].pop(k)
    path.write_text(json.dumps(stored))
    assert train(data, cfg, tmp_path / "run", resume=True).epochs_run == 2


def test_same_seed_same_weights(toy, tmp_path):
    data = _toy_data(toy, "simclr")
    cfg = _quick("simclr", epochs=1)
    train(data, cfg, tmp_path / "a")
    train(data, cfg, tmp_path / "b")
    a = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_supervised_early_stopping_keeps_best_epoch(toy, tmp_path):
    # A target unrelated to the images: validation loss stops improving quickly.
    task, paths = toy
    rng = np.random.default_rng(0)
    noise = pd.DataFrame({"sample_id": task.sample_ids, "y": rng.normal(size=len(task.z))})
    noise.to_csv(tmp_path / "y.csv", index=False)
    data = prepare_data(read_images(paths["images"]), target=tmp_path / "y.csv", target_col="y")
    res = train(data, _quick("supervised", epochs=30, patience=2, lr=5e-3), tmp_path / "run")
    best = min(range(len(res.metrics)), key=lambda i: res.metrics[i]["val_loss"])
    assert res.stopped_early
    assert res.epochs_run == best + 1 + 2
    best_w = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    final = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert all(torch.equal(best_w[k], final[k]) for k in final)


# ---------------------------------------------------------------------------- encoders


def test_resnet_layouts_match_published_parameter_counts():
    # torchvision's resnet18 / resnet50 have 11,689,512 / 25,557,032 parameters, of which
    # the 1000-class fc layer holds 513,000 / 2,049,000.
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(ResNet(18, 3)) == 11_689_512 - 513_000
    assert count(ResNet(50, 3)) == 25_557_032 - 2_049_000
    assert ResNet(18, 1)(torch.zeros(2, 1, 64, 64)).shape == (2, 512)
    assert ResNet(50, 3).out_features == 2048
    assert SmallCNN(1)(torch.zeros(2, 1, 28, 28)).shape == (2, 128)


def test_linear_genotype_init_from_effect_sizes():
    beta = torch.tensor([0.5, -0.2, 0.0, 1.5])
    enc = LinearGenotype(4, 6, beta, generator=torch.Generator().manual_seed(0))
    W = enc.linear.weight.detach()
    assert torch.equal(W[0], beta)  # output 0 is the score
    assert torch.equal(W[:, 2], torch.zeros(6))  # no external effect: starts at zero
    e = W[1:, [0, 1, 3]] / beta[[0, 1, 3]]  # the random factors, shared scale per variant
    assert torch.allclose(W[1:, [0, 1, 3]], e * beta[[0, 1, 3]])
    assert torch.linalg.matrix_rank(W[:, [0, 1, 3]]) == 3
    assert torch.equal(enc.linear.bias.detach(), torch.zeros(6))
    x = torch.randn(5, 4)
    assert torch.allclose(enc(x)[:, 0], x @ beta)


def test_frozen_backbone_trains_only_the_pooling(tmp_path):
    class Tokens(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 8, 4, stride=4)

        def forward(self, x):
            return self.conv(x).flatten(2).transpose(1, 2)

    torch.manual_seed(0)
    ep = torch.export.export(Tokens(), (torch.zeros(2, 1, 16, 16),),
                             dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    torch.export.save(ep, tmp_path / "bb.pt2")
    fb = FrozenBackbone(str(tmp_path / "bb.pt2"), 1, (16, 16))
    assert fb.out_features == 8
    assert fb.pool is not None
    assert {n.split(".")[0] for n, _ in fb.named_parameters()} == {"pool"}
    x = torch.randn(3, 1, 16, 16)
    before = [p.clone() for p in fb._script[0].parameters()]
    fb(x).sum().backward()
    assert all(torch.equal(a, b) for a, b in zip(before, fb._script[0].parameters(), strict=True))
    # The pooled output is a convex combination of the backbone's tokens.
    tokens = fb._script[0](x)
    out = fb(x)
    assert ((out >= tokens.min(1).values - 1e-6) & (out <= tokens.max(1).values + 1e-6)).all()


# ---------------------------------------------------------------------------- data


def _png_manifest(tmp_path, ids, shapes, per_sample=1):
    from PIL import Image

    rows = []
    rng = np.random.default_rng(0)
    for i, s in enumerate(ids):
        for k in range(per_sample):
            shape = shapes(i, k)
            p = tmp_path / f"{s}_{k}.png"
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(p)
            rows.append({"sample_id": s, "path": p.name})
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    return tmp_path / "manifest.csv"


def test_manifest_with_two_images_per_sample_averages_embeddings(tmp_path):
    ids = [f"s{i}" for i in range(6)]
    man = _png_manifest(tmp_path, ids, lambda i, k: (12, 12), per_sample=2)
    src = read_images(man)
    assert src.shape == (1, 12, 12)
    assert len(src.sample_ids) == 12
    x = src.load([0, 3])
    from PIL import Image

    assert torch.allclose(x[1, 0], torch.from_numpy(
        np.asarray(Image.open(tmp_path / "s1_1.png"), dtype=np.float32) / 255))
    model = model_from_config(TrainConfig(method="simclr", encoder="cnn", dim=8, seed=0),
                              ModelInputs(image_shape=(1, 12, 12))).eval()
    norm = ([0.5], [0.25])
    rows = [np.array([2 * i, 2 * i + 1]) for i in range(6)]
    both = embed_images(model, src, rows, norm)
    single = embed_images(model, src, [np.array([r]) for r in range(12)], norm)
    assert np.allclose(both, (single[0::2] + single[1::2]) / 2, atol=1e-6)


def test_odd_shaped_and_unreadable_images_are_named(tmp_path):
    ids = [f"s{i}" for i in range(8)]
    man = _png_manifest(tmp_path, ids, lambda i, k: (12, 12) if i not in (2, 5) else (12, 10))
    with pytest.raises(InputError, match=r"found 2 odd images, e\.g\. .*s2_0\.png.*s5_0\.png"):
        read_images(man)
    assert read_images(man, image_size=12).out_shape == (1, 12, 12)  # --image-size resizes
    (tmp_path / "s3_0.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match=r"1 unreadable images, e\.g\. .*s3_0\.png"):
        read_images(man)


def test_panel_genotypes_aligned_to_panel_a1(toy, tmp_path):
    from bed_reader import open_bed

    task, paths = toy
    panel = pd.read_parquet(paths["panel"])
    panel.loc[3, ["A1", "A2"]] = ["G", "A"]  # the panel counts the .bim's A2 here
    panel.loc[5, "ID"] = "absent"
    panel.loc[7, "A1"] = "T"  # neither allele
    fam_idx = np.arange(0, 600, 3)
    X, beta, ids, notes = read_panel_genotypes(paths["bed"], panel, fam_idx)
    with open_bed(str(paths["bed"]) + ".bed") as bed:
        ref = bed.read(dtype="float64")[fam_idx]  # A1 counts (count_A1)
    keep = [j for j in range(20) if j not in (5, 7)]
    assert ids == [f"v{j + 1}" for j in keep]
    ref = ref[:, keep]
    ref[:, keep.index(3)] = 2 - ref[:, keep.index(3)]
    assert np.allclose(X, ref - ref.mean(axis=0), atol=1e-5)
    assert np.array_equal(beta, panel["BETA"].to_numpy(np.float32)[keep])
    assert any("1 of 20 panel variants are not in the .bim" in n for n in notes)
    assert any("1 panel variants have an A1 that is neither" in n for n in notes)
    panel["ID"] = "nowhere"
    with pytest.raises(InputError, match="none of its 20 variants is usable"):
        read_panel_genotypes(paths["bed"], panel, fam_idx)


def test_splits_are_disjoint_seeded_and_checked(toy, tmp_path):
    ids = np.array([f"x{i}" for i in range(100)])
    a = random_split(ids, {"train": 0, "val": 0.1, "test": 0.2}, seed=1)
    b = random_split(ids, {"train": 0, "val": 0.1, "test": 0.2}, seed=1)
    assert [len(a[k]) for k in ("train", "val", "test")] == [70, 10, 20]
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert len(np.unique(np.concatenate(list(a.values())))) == 100
    task, paths = toy
    imgs = read_images(paths["images"])
    (tmp_path / "train.txt").write_text("".join(f"{s}\n" for s in task.sample_ids[:300]))
    (tmp_path / "val.txt").write_text("".join(f"{s}\n" for s in task.sample_ids[290:400]))
    with pytest.raises(InputError, match="10 individuals are in both"):
        prepare_data(imgs, split=tmp_path / "train.txt", val=tmp_path / "val.txt")
    (tmp_path / "val.txt").write_text("".join(f"{s}\n" for s in task.sample_ids[300:400]))
    d = prepare_data(imgs, split=tmp_path / "train.txt", val=tmp_path / "val.txt")
    assert len(d.splits["train"]) == 300
    assert len(d.splits["val"]) == 100
    (tmp_path / "none.txt").write_text("nobody\n")
    with pytest.raises(InputError, match="the train split is empty"):
        prepare_data(imgs, split=tmp_path / "none.txt")


def test_images_without_genotypes_give_counts(toy, tmp_path):
    task, paths = toy
    np.savez(tmp_path / "other.npz", images=task.images[:50],
             sample_id=np.array([f"Q{i}" for i in range(50)]))
    with pytest.raises(InputError, match="share 0 of 50 sample IDs"):
        prepare_data(read_images(tmp_path / "other.npz"), bed=paths["bed"], panel=paths["panel"])
    ids = task.sample_ids[:80].copy()
    ids[:30] = [f"Q{i}" for i in range(30)]
    np.savez(tmp_path / "part.npz", images=task.images[:80], sample_id=ids)
    d = prepare_data(read_images(tmp_path / "part.npz"), bed=paths["bed"], panel=paths["panel"])
    assert "50 of the 80 samples with images have genotypes" in d.notes[0]


def test_cuda_request_without_gpu_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="--device cuda: no CUDA GPU"):
        resolve_device("cuda")
    assert resolve_device("cpu").type == "cpu"


def test_embed_writes_parquet_with_representation_metadata(toy, tmp_path):
    import pyarrow.parquet as pq

    data = _toy_data(toy, "gemcont")
    train(data, _quick("gemcont", epochs=1), tmp_path / "run")
    _, paths = toy
    run_embed(EmbedConfig(run=tmp_path / "run", images=paths["images"],
                          out=tmp_path / "emb.parquet", samples=tmp_path / "run" / "test.txt",
                          representation="backbone"))
    meta = json.loads(pq.read_schema(tmp_path / "emb.parquet").metadata[b"gwasrep"])
    assert meta["representation"] == "backbone"
    assert meta["method"] == "gemcont"
    test_ids = (tmp_path / "run" / "test.txt").read_text().split()
    back = pd.read_parquet(tmp_path / "emb.parquet")
    assert back["sample_id"].tolist() == test_ids
    assert back.shape[1] == 2 + 128
