"""3D volumes (issue 15, GIM's brain MRI): .npy stacks and NIfTI manifests read as
(C, D, H, W), GIM's 3D residual encoder, training and embedding on volumes, and the bad
inputs (mixed shapes, 2D-only encoders and augmentations)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import require_module, require_torch

torch = require_torch()

from gwasrep.errors import InputError  # noqa: E402
from gwasrep.models.config import TrainConfig  # noqa: E402
from gwasrep.models.data import channel_stats, prepare_data, read_images  # noqa: E402
from gwasrep.models.encoders import Decoder, ResNet3D, build_backbone  # noqa: E402
from gwasrep.models.imageops import ChannelNorm, random_erasing  # noqa: E402
from gwasrep.models.run import EmbedConfig, run_embed  # noqa: E402
from gwasrep.models.train import train  # noqa: E402


def _volumes(n=40, shape=(8, 12, 10), seed=0):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, *shape)).astype(np.float32)
    v[:, 2:5, 3:7, 2:6] += np.linspace(0, 3, n)[:, None, None, None]  # a graded blob
    return v


def test_npy_stack_and_nifti_manifest_read_the_same_volumes(tmp_path):
    nib = require_module("nibabel")  # in the torch extra: CI fails without it
    vols = _volumes(6)
    ids = np.array([f"s{i}" for i in range(6)])
    np.save(tmp_path / "v.npy", vols)
    (tmp_path / "ids.txt").write_text("".join(f"{i}\n" for i in ids))
    stack = read_images(tmp_path / "v.npy", ids=tmp_path / "ids.txt")
    assert stack.shape == (1, 8, 12, 10)
    assert stack.spatial_dims == 3
    paths = []
    for i, v in enumerate(vols):
        p = tmp_path / f"s{i}.nii.gz" if i % 2 else tmp_path / f"s{i}.nii"
        nib.save(nib.Nifti1Image(v, affine=np.eye(4)), str(p))
        paths.append(p.name)
    pd.DataFrame({"sample_id": ids, "path": paths}).to_csv(tmp_path / "m.csv", index=False)
    man = read_images(tmp_path / "m.csv")
    assert man.shape == (1, 8, 12, 10)
    rows = np.array([3, 0, 5])
    np.testing.assert_array_equal(stack.load(rows).numpy(), vols[rows][:, None])
    np.testing.assert_allclose(man.load(rows).numpy(), vols[rows][:, None], rtol=1e-6)
    # --image-size: trilinear to S^3
    small = read_images(tmp_path / "v.npy", ids=tmp_path / "ids.txt", image_size=6)
    assert small.out_shape == (1, 6, 6, 6)
    ref = torch.nn.functional.interpolate(torch.from_numpy(vols[rows][:, None]), size=(6, 6, 6),
                                          mode="trilinear", align_corners=False)
    torch.testing.assert_close(small.load(rows), ref)


def test_volumes_of_mixed_shapes_are_named(tmp_path):
    for i, shape in enumerate([(8, 8, 8), (8, 8, 8), (8, 8, 6)]):
        np.save(tmp_path / f"v{i}.npy", np.zeros(shape, dtype=np.float32))
    pd.DataFrame({"sample_id": ["a", "b", "c"], "path": [f"v{i}.npy" for i in range(3)]}
                 ).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(InputError, match=r"expected every volume to have the shape \(C, D, H, "
                                         r"W\) = \(1, 8, 8, 8\); found 1 volumes of other "
                                         r"shapes, e.g. .*v2.npy \(1, 8, 8, 6\)"):
        read_images(tmp_path / "m.csv")


def test_resnet3d_layout_and_encoder_checks():
    net = ResNet3D(1)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv3d)]
    assert sorted({m.out_channels for m in convs}) == [32, 64, 128]
    assert [m.stride for m in convs if m.stride != (1, 1, 1) and m.kernel_size == (3, 3, 3)] \
        == [(2, 2, 2), (2, 2, 2)]  # two strided downsamplings
    x = torch.randn(2, 1, 16, 16, 16)
    feats = net.features[:-2](x)  # before pooling
    assert feats.shape == (2, 128, 4, 4, 4)
    assert net(x).shape == (2, 128)
    with pytest.raises(InputError, match="the images are 3D volumes"):
        build_backbone("cnn", 1, (8, 8, 8))
    with pytest.raises(InputError, match="resnet3d takes 3D volumes"):
        build_backbone("resnet3d", 1, (28, 28))
    dec = Decoder(16, (1, 12, 10, 9))
    assert dec(torch.randn(3, 16)).shape == (3, 1, 12, 10, 9)


def test_volume_ops_erasing_and_normalization():
    g = torch.Generator().manual_seed(0)
    x = torch.ones(64, 2, 6, 8, 10)
    y = random_erasing(x, g, p=1.0)
    erased = (y == 0).float().mean(dim=(1, 2, 3, 4))
    assert (erased > 0).all()
    assert (erased <= 0.5).all()  # 2-33 % of the volume, sides rounded to whole voxels
    assert 0.12 < float(erased.mean()) < 0.24  # the mean of U(0.02, 0.33) is 0.175
    # one box per volume: the erased voxels of a volume span a full rectangular block
    z = (y[0, 0] == 0).nonzero()
    lo, hi = z.min(0).values, z.max(0).values
    assert int((hi - lo + 1).prod()) == len(z)
    norm = ChannelNorm([1.0, 2.0], [2.0, 4.0])
    out = norm(torch.stack([torch.full((3, 4, 5), 3.0), torch.full((3, 4, 5), 6.0)])[None])
    torch.testing.assert_close(out, torch.ones(1, 2, 3, 4, 5))


def test_vae_trains_and_embeds_on_volumes(tmp_path):
    vols = _volumes(60)
    ids = np.array([f"s{i}" for i in range(60)])
    np.savez(tmp_path / "v.npz", images=vols, sample_id=ids)
    src = read_images(tmp_path / "v.npz")
    data = prepare_data(src, seed=0)
    mean, sd = channel_stats(data)
    assert len(mean) == 1
    assert sd[0] > 0
    cfg = TrainConfig.from_profile("vae", "quick", encoder="resnet3d", epochs=3, batch_size=16,
                                   dim=4, lr=2e-3, warmup_epochs=1, augment=["erasing", "flip"])
    res = train(data, cfg, tmp_path / "run")
    losses = [r["train_loss"] for r in res.metrics]
    assert losses[-1] < losses[0], losses
    emb = run_embed(EmbedConfig(run=tmp_path / "run", images=tmp_path / "v.npz",
                                out=tmp_path / "e.parquet", device="cpu"))
    assert emb.table.filter(like="emb_").shape == (60, 4)
    bad = TrainConfig.from_profile("vae", "quick", encoder="resnet3d", epochs=1, batch_size=16,
                                   augment=["rotation"])
    with pytest.raises(InputError, match="rotation take 2D images only; for 3D volumes use "
                                         "erasing or flip"):
        train(data, bad, tmp_path / "run2")
    assert not (tmp_path / "run2").exists()


def test_gim_trains_on_volumes_with_the_3d_encoder(tmp_path):
    """GIM's data are brain MRI: its 3D residual encoder and the 3D decoder of its
    reconstruction term, against the SNP sequence of a cohort."""
    from gwasrep.models.genetics import build_genetics
    from helpers import write_random_fileset

    n = 48
    write_random_fileset(tmp_path / "c", n, 30, seed=1)
    vols = _volumes(n, shape=(8, 8, 8))
    np.savez(tmp_path / "v.npz", images=vols, sample_id=np.array([f"i{i}" for i in range(n)]))
    cfg = TrainConfig.from_profile("gim", "quick", encoder="resnet3d", epochs=3, batch_size=16,
                                   dim=8, lr=2e-3, warmup_epochs=0, window=5,
                                   stages=[1, 1, 1], augment=["erasing"])
    data = prepare_data(read_images(tmp_path / "v.npz"), bed=tmp_path / "c",
                        genetics=build_genetics(cfg, "snps"), seed=0)
    res = train(data, cfg, tmp_path / "run")
    losses = [r["train_loss"] for r in res.metrics]
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0], losses
    emb = run_embed(EmbedConfig(run=tmp_path / "run", images=tmp_path / "v.npz",
                                out=tmp_path / "e.parquet", device="cpu"))
    assert emb.table.filter(like="emb_").shape == (n, 8)
