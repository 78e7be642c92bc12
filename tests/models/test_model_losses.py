"""Trait-generator building blocks (issue 6, first part): CLIP loss by hand on a 3x3
example, the learnable temperature, NT-Xent against its definition, and SCARF."""

from __future__ import annotations

import math

import pytest

from helpers import require_torch

torch = require_torch()

from gwasrep.models.augment import scarf_corrupt  # noqa: E402
from gwasrep.models.losses import ClipLoss, clip_loss, nt_xent  # noqa: E402


def _unit(rows):
    return [[v / math.sqrt(sum(a * a for a in r)) for v in r] for r in rows]


def test_clip_loss_3x3_by_hand():
    img = [[1.0, 0.0], [0.6, 0.8], [0.0, 2.0]]
    gen = [[2.0, 0.0], [1.0, 1.0], [-1.0, 1.0]]
    iu, gu = _unit(img), _unit(gen)
    s = 10.0
    logits = [[s * sum(a * b for a, b in zip(iu[i], gu[j], strict=True)) for j in range(3)]
              for i in range(3)]

    def ce(rows):
        return sum(-(rows[i][i] - math.log(sum(math.exp(v) for v in rows[i])))
                   for i in range(3)) / 3

    cols = [[logits[i][j] for i in range(3)] for j in range(3)]
    expected = 0.5 * ce(logits) + 0.5 * ce(cols)
    got = clip_loss(torch.tensor(img), torch.tensor(gen), 10.0)
    assert got.item() == pytest.approx(expected, abs=1e-6)
    contig = clip_loss(torch.tensor(img), torch.tensor(gen), 10.0, weight_img=0.75)
    assert contig.item() == pytest.approx(0.75 * ce(logits) + 0.25 * ce(cols), abs=1e-6)
    # The learnable-temperature module at T = 0.1 gives the same number, and its
    # temperature receives a gradient.
    mod = ClipLoss(init_temperature=0.1)
    loss = mod(torch.tensor(img), torch.tensor(gen))
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    loss.backward()
    assert mod.log_scale.grad is not None
    assert mod.log_scale.grad.item() != 0


def test_temperature_is_clamped():
    mod = ClipLoss(init_temperature=0.07, max_scale=100.0)
    with torch.no_grad():
        mod.log_scale.fill_(10.0)
    assert mod.temperature == pytest.approx(0.01)
    with torch.no_grad():
        mod.log_scale.fill_(-3.0)
    assert mod.temperature == pytest.approx(1.0)


def test_nt_xent_matches_definition():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    t = 0.5
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1).tolist()
    total = 0.0
    for i in range(8):
        partner = (i + 4) % 8
        sims = {k: sum(a * b for a, b in zip(z[i], z[k], strict=True)) / t
                for k in range(8) if k != i}
        total += -(sims[partner] - math.log(sum(math.exp(v) for v in sims.values())))
    assert nt_xent(z1, z2, t).item() == pytest.approx(total / 8, abs=1e-5)


def test_scarf_rate_and_batch_values():
    g = torch.Generator().manual_seed(1)
    # Distinct values per (sample, feature), so the donor of every entry is identifiable.
    B, M = 64, 500
    x = torch.arange(B * M, dtype=torch.float32).reshape(B, M)
    xc, mask = scarf_corrupt(x, 0.1, generator=g)
    frac = mask.float().mean().item()
    se = math.sqrt(0.1 * 0.9 / (B * M))
    assert abs(frac - 0.1) < 4 * se
    assert torch.equal(xc[~mask], x[~mask])
    # Corrupted entries hold the same feature of another sample of the batch.
    rows = (xc[mask] // M).long()
    cols = (xc[mask] % M).long()
    i, j = mask.nonzero(as_tuple=True)
    assert torch.equal(cols, j)
    assert (rows != i).all()
    with pytest.raises(ValueError, match="at least 2 samples"):
        scarf_corrupt(x[:1], 0.1)
