"""MRM (METHODS.md section 4): relation masking against a per-row reference (ties included),
relation matching by hand, and the model: it trains, embeds, masks only where documented,
reaches both encoders with its gradient and is reproducible from its seed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers import require_torch

torch = require_torch()

from gwasrep.errors import InputError  # noqa: E402
from gwasrep.models import vit as vit_module  # noqa: E402
from gwasrep.models.config import TrainConfig  # noqa: E402
from gwasrep.models.imageops import build_augment  # noqa: E402
from gwasrep.models.methods import model_from_config  # noqa: E402
from gwasrep.models.methods.base import Batch, ModelInputs  # noqa: E402
from gwasrep.models.methods.mrm import MRM, build, relation_matching_loss  # noqa: E402
from gwasrep.models.vit import relation_mask, scaled_patch, vit_for_image  # noqa: E402

INPUTS = ModelInputs(image_shape=(1, 28, 28), modalities={"snps": 100})


def _reference_mask(a: np.ndarray, tau: float, renormalize: bool) -> np.ndarray:
    """Row by row: sort by (-weight, index), zero the first floor(tau * n), renormalize."""
    out = a.astype(np.float64).copy()
    rows = out.reshape(-1, a.shape[-1])
    n = a.shape[-1]
    k = math.floor(tau * n + 1e-9)
    for r in rows:
        order = np.lexsort((np.arange(n), -r))  # last key is primary: weight descending
        r[order[:k]] = 0.0
        if renormalize:
            r /= r.sum()
    return out


@pytest.mark.parametrize("renormalize", [True, False])
@pytest.mark.parametrize("tau", [0.25, 0.5, 0.75, 0.9])
def test_relation_mask_matches_per_row_reference(tau, renormalize):
    gen = torch.Generator().manual_seed(1)
    smooth = torch.softmax(torch.randn(2, 3, 5, 11, generator=gen), dim=-1)
    # Many ties: weights from 4 levels, so the top-k cut often falls inside a tie.
    levels = torch.randint(1, 5, (4, 7, 12), generator=gen).float()
    tied = levels / levels.sum(-1, keepdim=True)
    for a in (smooth, tied):
        got = relation_mask(a, tau, renormalize)
        ref = _reference_mask(a.numpy(), tau, renormalize)
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6, atol=1e-7)
        k = math.floor(tau * a.shape[-1] + 1e-9)
        assert ((got == 0).sum(-1) == k).all()
        if renormalize:
            np.testing.assert_allclose(got.sum(-1).numpy(), 1.0, rtol=1e-6)


def test_relation_mask_identity_counts_and_range():
    a = torch.softmax(torch.randn(3, 50, generator=torch.Generator().manual_seed(2)), dim=-1)
    assert torch.equal(relation_mask(a, 0.0, True), a)
    assert torch.equal(relation_mask(a, 0.01, True), a)  # floor(0.5) = 0 keys
    assert ((relation_mask(a, 0.75, True) == 0).sum(-1) == 37).all()  # 28x28: 50 keys
    b = torch.softmax(torch.randn(3, 65, generator=torch.Generator().manual_seed(3)), dim=-1)
    assert ((relation_mask(b, 0.5, True) == 0).sum(-1) == 32).all()  # 100 SNPs/16 + CLS: 8
    with pytest.raises(InputError, match="tau"):
        relation_mask(a, 1.0, True)
    # An exact tie resolved by position: keys 1 and 2 tie for the top, key 1 goes.
    row = torch.tensor([[0.1, 0.3, 0.3, 0.2, 0.1]])
    assert torch.equal(relation_mask(row, 0.2, False), torch.tensor([[0.1, 0, 0.3, 0.2, 0.1]]))
    # The kept weights carry the gradient, the masked ones none.
    x = torch.tensor([[0.5, 2.0, -1.0, 0.1], [1.5, -0.3, 0.2, 3.0]], requires_grad=True)
    out = relation_mask(torch.softmax(x, -1), 0.5, False)
    out[out > 0].sum().backward()  # the kept weights: 2 per row
    assert x.grad is not None
    assert x.grad.abs().sum() > 0


def test_relation_matching_loss_by_hand():
    zi = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 2.0]])
    zg = torch.tensor([[2.0, 1.0], [-1.0, 1.0], [1.0, 1.0]])
    assert relation_matching_loss(zi, zi, zg, zg).item() == 0.0
    zim = torch.tensor([[1.0, 1.0], [0.6, 0.8], [1.0, -1.0]])
    zgm = torch.tensor([[2.0, 1.0], [1.0, 1.0], [1.0, 0.0]])

    def unit(rows):
        return [[v / math.hypot(*r) for v in r] for r in rows.tolist()]

    def cos(a, b):
        return [[sum(x * y for x, y in zip(a[i], b[j], strict=True)) for j in range(3)]
                for i in range(3)]

    def sq(s, t):
        return sum((s[i][j] - t[i][j]) ** 2 for i in range(3) for j in range(3))

    ui, uim, ug, ugm = unit(zi), unit(zim), unit(zg), unit(zgm)
    l_self = (sq(cos(ui, ui), cos(uim, uim)) + sq(cos(ug, ug), cos(ugm, ugm))) / (2 * 9)
    l_cross = sq(cos(ui, ug), cos(uim, ugm)) / 9
    got = relation_matching_loss(zi, zim, zg, zgm).item()
    assert got == pytest.approx(l_self + l_cross, rel=1e-6)
    assert got > 0
    # Cosine similarities ignore the features' norms.
    assert relation_matching_loss(3 * zi, zim, zg, 0.5 * zgm).item() == pytest.approx(got,
                                                                                      rel=1e-6)


def _cfg(**kw):
    return TrainConfig(method="mrm", dim=16, **kw)


def _batch(b=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(b, 1, 28, 28, generator=gen)
    snps = (torch.randint(0, 3, (b, 100), generator=gen).float() - 1.0)
    return Batch(images=images, genetics={"snps": snps})


def _identity(x, g):
    return x


def test_mrm_trains_embeds_and_reaches_both_encoders():
    torch.manual_seed(0)
    model = build(_cfg(), INPUTS, torch.Generator().manual_seed(0))
    assert isinstance(model, MRM)
    assert (model.backbone.patch, model.backbone.n_patches) == (4, 49)
    assert (len(model.backbone.blocks), len(model.genome.blocks)) == (4, 2)
    assert model.genome.n_tokens == 7  # ceil(100 / 16), the last padded with 12 zeros
    batch, g = _batch(), torch.Generator().manual_seed(1)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for step in range(12):
        loss = model.loss(batch, _identity, g)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            parts = {"vit patches": model.backbone.patch_embed.weight,
                     "vit last block": model.backbone.blocks[-1].mlp[0].weight,
                     "genome tokens": model.genome.embed.weight,
                     "genome last block": model.genome.blocks[-1].mlp[0].weight,
                     "genome cls": model.genome.cls,
                     "projector": model.projector[0].weight,
                     "genome projector": model.genome_projector[0].weight,
                     **{f"cross image {i}": model.cross_image[i].attn.kv.weight
                        for i in range(2)},
                     **{f"cross genome {i}": model.cross_genome[i].attn.kv.weight
                        for i in range(2)}}
            for name, p in parts.items():
                assert p.grad is not None, name
                assert p.grad.abs().sum() > 0, name
        opt.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0], losses
    model.eval()
    with torch.no_grad():
        assert model.embed(batch.images, "projection").shape == (16, 16)
        assert model.embed(batch.images, "backbone").shape == (16, 64)
        # The embedding is the intact pass: no genotypes, and deterministic in eval mode.
        torch.testing.assert_close(model.embed(batch.images), model.embed(batch.images))


def test_mrm_masks_the_first_two_blocks_only(monkeypatch):
    torch.manual_seed(0)
    model = build(_cfg(), INPUTS, torch.Generator().manual_seed(0))
    seen: dict[str, list[float]] = {}

    def record(name):
        def hook(module, args, kwargs, output):
            seen.setdefault(name, []).append(kwargs.get("tau", 0.0))
        return hook

    named = {**{f"vit{i}": b for i, b in enumerate(model.backbone.blocks)},
             **{f"snn{i}": b for i, b in enumerate(model.genome.blocks)},
             **{f"cross_image{i}": b for i, b in enumerate(model.cross_image)},
             **{f"cross_genome{i}": b for i, b in enumerate(model.cross_genome)}}
    order = []
    for name, blk in named.items():
        blk.register_forward_hook(lambda m, a, k, o, name=name: order.append(name),
                                  with_kwargs=True)
    for name, blk in named.items():
        blk.register_forward_hook(record(name), with_kwargs=True)
    calls = []
    real = vit_module.relation_mask

    def spy(attn, tau, renormalize=True):
        calls.append((tau, attn.shape[-1], renormalize))
        return real(attn, tau, renormalize)

    monkeypatch.setattr(vit_module, "relation_mask", spy)
    model.loss(_batch(4), _identity, torch.Generator().manual_seed(1))
    # Each encoder runs intact (tau 0) then masked; only blocks 1-2 of the masked pass mask.
    assert seen["vit0"] == seen["vit1"] == [0.0, 0.75]
    assert seen["vit2"] == seen["vit3"] == [0.0, 0.0]
    assert seen["snn0"] == seen["snn1"] == [0.0, 0.5]
    for i in range(2):  # image -> genome keys: tau_G; genome -> image keys: tau_I
        assert (seen[f"cross_image{i}"], seen[f"cross_genome{i}"]) == ([0.5], [0.75])
    # The masked pass interleaves the streams inside blocks 1-2 (the paper's Sec. 3.2):
    # self-attention of both, then both cross-attentions, block by block.
    masked = [n for n in order if n not in ("vit2", "vit3")][len(["vit0", "vit1", "snn0",
                                                                 "snn1"]):]
    assert masked == ["vit0", "snn0", "cross_image0", "cross_genome0",
                      "vit1", "snn1", "cross_image1", "cross_genome1"]
    # Image keys: CLS + 49 patches; genome keys: CLS + 7 tokens; every row renormalized.
    assert sorted(calls) == sorted([(0.75, 50, True)] * 2 + [(0.5, 8, True)] * 2
                                   + [(0.5, 8, True), (0.75, 50, True)] * 2)
    # The masking changes the masked pass: with tau = 0 the masked image CLS is the intact
    # one (before fusion).
    x = _batch(4).images
    with torch.no_grad():
        intact = model.backbone.tokens(x)
        masked = model.backbone.tokens(x, (0.75, 0.75))
        unmasked = model.backbone.tokens(x, (0.0, 0.0))
    torch.testing.assert_close(unmasked, intact)
    assert (masked - intact).abs().max() > 1e-3


def test_mrm_same_seed_same_loss():
    augment = build_augment(["erasing"])

    def loss_of(seed):
        model = model_from_config(_cfg(seed=seed), INPUTS)
        model.train()
        torch.manual_seed(7)  # AlphaDropout draws from the global generator
        return model.loss(_batch(8), augment, torch.Generator().manual_seed(3)).item()

    a, b = loss_of(0), loss_of(0)
    assert a == b
    assert loss_of(1) != a


def test_mrm_encoders_and_sizes():
    assert [scaled_patch(s, s) for s in (28, 64, 96, 128, 224)] == [4, 4, 8, 8, 16]
    with torch.device("meta"):  # layouts without allocating ViT-B's 86M weights
        vb = vit_for_image("vit-b", (3, 224, 224))
        scaled = MRM((1, 28, 28), 100, 16, encoder="vit")
    assert (vb.patch, len(vb.blocks), vb.out_features, vb.blocks[0].attn.heads) == \
        (16, 12, 768, 12)
    assert vb.n_patches == 196
    assert (scaled.backbone.patch, scaled.backbone.out_features) == (4, 64)
    with pytest.raises(InputError, match="MRM takes vit or vit-b"):
        build(_cfg(encoder="resnet18"), INPUTS, torch.Generator().manual_seed(0))
    with pytest.raises(InputError, match="not divisible by the patch size 16"):
        build(_cfg(encoder="vit-b"), INPUTS, torch.Generator().manual_seed(0))
    with pytest.raises(InputError, match="not divisible by the patch size 4"):
        build(_cfg(), ModelInputs(image_shape=(1, 30, 30), modalities={"snps": 100}),
              torch.Generator().manual_seed(0))
    with pytest.raises(InputError, match="SNP"):
        build(_cfg(), ModelInputs(image_shape=(1, 28, 28)), torch.Generator().manual_seed(0))
    model = build(_cfg(), INPUTS, torch.Generator().manual_seed(0))
    with pytest.raises(InputError, match=r"expected \(B, 100\) SNP dosages"):
        model.loss(Batch(images=torch.zeros(2, 1, 28, 28),
                         genetics={"snps": torch.zeros(2, 99)}), _identity, None)
    with pytest.raises(InputError, match=r"--snp-token 16: 100,000 SNPs make 6,250 genome "
                                         r"tokens; .* at most 4,096 \(raise --snp-token to 25"):
        build(_cfg(), ModelInputs(image_shape=(1, 28, 28), modalities={"snps": 100_000}),
              torch.Generator().manual_seed(0))
