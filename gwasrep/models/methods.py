"""Trait generators: GEMCONT, its PRS baseline, SimCLR, VAE, autoencoder, supervised.

Each is an ``nn.Module`` with

- ``loss(batch, augment, g)``: the training loss of one batch (a :class:`Batch`);
  ``augment`` is the image augmentation and ``g`` the generator of every random draw;
- ``embed(x, representation)``: ``"backbone"`` features (B, F) or the ``"projection"``
  (B, D) of un-augmented images.

All image models share ``backbone -> projector`` (:mod:`gwasrep.models.encoders`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

from gwasrep.models.augment import scarf_corrupt
from gwasrep.models.encoders import LinearGenotype, MLPGenotype, build_backbone, projector
from gwasrep.models.losses import ClipLoss, nt_xent

__all__ = ["METHODS", "Batch", "build_model"]

#: method -> what its training data needs.
METHODS = {
    "gemcont": {"genotypes": True, "target": False},
    "prs": {"genotypes": True, "target": False},
    "simclr": {"genotypes": False, "target": False},
    "vae": {"genotypes": False, "target": False},
    "autoencoder": {"genotypes": False, "target": False},
    "supervised": {"genotypes": False, "target": True},
}
REPRESENTATIONS = ("projection", "backbone")


@dataclass
class Batch:
    images: torch.Tensor  # (B, C, H, W), normalized
    genotypes: torch.Tensor | None = None  # (B, M) centred dosages, or (B, 1) PRS
    target: torch.Tensor | None = None  # (B,) float (regression) or long (classes)


class ImageModel(nn.Module):
    """``backbone -> projector``: the image half of every method."""

    def __init__(self, encoder: str, shape: tuple[int, int, int], dim: int,
                 proj_out: int | None = None):
        super().__init__()
        self.backbone = build_backbone(encoder, shape[0], tuple(shape[1:]))
        f = self.backbone.out_features
        self.projector = projector(f, proj_out or dim, hidden=max(f, dim))
        self.dim = dim

    def project(self, x):
        return self.projector(self.backbone(x))

    def embed(self, x, representation: str = "projection"):
        if representation == "backbone":
            return self.backbone(x)
        return self.project(x)


class Gemcont(ImageModel):
    """CLIP loss between projected images and linearly projected (SCARF-corrupted) genotypes."""

    def __init__(self, encoder, shape, dim, *, n_variants: int, beta=None, geno_encoder="linear",
                 temperature: float = 0.07, scarf_p: float = 0.1, generator=None):
        super().__init__(encoder, shape, dim)
        if geno_encoder == "linear":
            self.genotype = LinearGenotype(n_variants, dim, beta, generator=generator)
        elif geno_encoder == "mlp":
            self.genotype = MLPGenotype(n_variants, dim)
        else:
            raise ValueError(f"genotype encoder: expected linear or mlp; found {geno_encoder!r}")
        self.clip = ClipLoss(init_temperature=temperature)
        self.scarf_p = scarf_p

    def loss(self, batch: Batch, augment, g):
        gen = batch.genotypes
        if self.training and self.scarf_p > 0 and gen.shape[1] > 1:
            gen, _ = scarf_corrupt(gen, self.scarf_p, generator=g)
        return self.clip(self.project(augment(batch.images, g)), self.genotype(gen))


class SimCLR(ImageModel):
    """NT-Xent between the projections of two augmented views."""

    def __init__(self, encoder, shape, dim, *, temperature: float = 0.2):
        super().__init__(encoder, shape, dim)
        self.temperature = temperature

    def loss(self, batch: Batch, augment, g):
        x = batch.images
        return nt_xent(self.project(augment(x, g)), self.project(augment(x, g)), self.temperature)


class Decoder(nn.Module):
    """``Linear -> (64, h0, w0)`` then stride-2 transposed convolutions up to (C, H, W)."""

    def __init__(self, dim: int, shape: tuple[int, int, int]):
        super().__init__()
        c, h, w = shape
        self.n_up = max(1, min(5, int(math.log2(max(min(h, w), 8) / 4))))
        self.h0, self.w0 = math.ceil(h / 2 ** self.n_up), math.ceil(w / 2 ** self.n_up)
        self.shape = shape
        self.fc = nn.Linear(dim, 64 * self.h0 * self.w0)
        layers, ch = [], 64
        for _ in range(self.n_up):
            nxt = max(16, ch // 2)
            layers += [nn.ConvTranspose2d(ch, nxt, 4, stride=2, padding=1), nn.BatchNorm2d(nxt),
                       nn.ReLU(inplace=True)]
            ch = nxt
        layers.append(nn.Conv2d(ch, c, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        x = self.net(functional.relu(self.fc(z)).reshape(-1, 64, self.h0, self.w0))
        return x[:, :, :self.shape[1], :self.shape[2]]


class Autoencoder(ImageModel):
    """Reconstruction MSE (mean over pixels) through a D-dimensional bottleneck."""

    def __init__(self, encoder, shape, dim):
        super().__init__(encoder, shape, dim)
        self.decoder = Decoder(dim, shape)

    def loss(self, batch: Batch, augment, g):
        x = batch.images
        return functional.mse_loss(self.decoder(self.project(augment(x, g))), x)


class VAE(ImageModel):
    """Gaussian latent N(mu, diag(exp(logvar))) with a N(0, I) prior.

    ``loss = sum_pixels (x - x_hat)^2 / 2 + kl_weight * KL``, each averaged over the
    batch (a unit-variance Gaussian likelihood). The projection is the posterior mean.
    """

    def __init__(self, encoder, shape, dim, *, kl_weight: float = 1.0):
        super().__init__(encoder, shape, dim, proj_out=2 * dim)
        self.decoder = Decoder(dim, shape)
        self.kl_weight = kl_weight

    def embed(self, x, representation: str = "projection"):
        if representation == "backbone":
            return self.backbone(x)
        return self.project(x)[:, :self.dim]

    def loss(self, batch: Batch, augment, g):
        x = batch.images
        mu, logvar = self.project(augment(x, g)).chunk(2, dim=1)
        logvar = logvar.clamp(-10, 10)
        eps = torch.randn(mu.shape, generator=g).to(mu.device, mu.dtype)
        z = mu + eps * torch.exp(0.5 * logvar)
        recon = 0.5 * ((self.decoder(z) - x) ** 2).flatten(1).sum(1).mean()
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1).mean()
        return recon + self.kl_weight * kl


class Supervised(ImageModel):
    """``backbone -> projector (D) -> ReLU -> Linear`` to the target.

    ``task="regress"``: MSE on the standardized target; ``task="classify"``: cross-entropy
    over ``n_classes``. The upper bound of the comparisons.
    """

    def __init__(self, encoder, shape, dim, *, task: str = "regress", n_classes: int = 0):
        super().__init__(encoder, shape, dim)
        if task not in ("regress", "classify"):
            raise ValueError(f"task: expected regress or classify; found {task!r}")
        self.task = task
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(dim, 1 if task == "regress" else n_classes))

    def loss(self, batch: Batch, augment, g):
        out = self.head(self.project(augment(batch.images, g)))
        if self.task == "regress":
            return functional.mse_loss(out[:, 0], batch.target)
        return functional.cross_entropy(out, batch.target)


def build_model(method: str, shape, *, encoder: str, dim: int, n_variants: int = 0, beta=None,
                geno_encoder: str = "linear", temperature: float | None = None,
                scarf_p: float = 0.1, kl_weight: float = 1.0, task: str = "regress",
                n_classes: int = 0, seed: int = 0) -> nn.Module:
    """The model of ``method``; its initial weights depend only on ``seed``."""
    if method not in METHODS:
        raise ValueError(f"method: expected one of {', '.join(METHODS)}; found {method!r}")
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    if method in ("gemcont", "prs"):
        if method == "prs":  # one input, the standardized score: W[0] = 1
            n_variants, beta, geno_encoder = 1, torch.ones(1), "linear"
        return Gemcont(encoder, shape, dim, n_variants=n_variants, beta=beta,
                       geno_encoder=geno_encoder, scarf_p=scarf_p, generator=g,
                       temperature=0.07 if temperature is None else temperature)
    if method == "simclr":
        return SimCLR(encoder, shape, dim, temperature=0.2 if temperature is None else temperature)
    if method == "vae":
        return VAE(encoder, shape, dim, kl_weight=kl_weight)
    if method == "autoencoder":
        return Autoencoder(encoder, shape, dim)
    return Supervised(encoder, shape, dim, task=task, n_classes=n_classes)
