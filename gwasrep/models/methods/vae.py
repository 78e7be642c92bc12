"""VAE: a Gaussian latent with a N(0, I) prior; the embedding is the posterior mean.
"""

from __future__ import annotations

import torch

from gwasrep.models.encoders import Decoder
from gwasrep.models.methods.base import Batch, ImageModel, MethodSpec

__all__ = ["SPEC", "VAE"]


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


def build(cfg, inputs, g) -> VAE:
    return VAE(cfg.encoder, inputs.image_shape, cfg.dim, kl_weight=cfg.kl_weight)


SPEC = MethodSpec(name="vae", build=build)
