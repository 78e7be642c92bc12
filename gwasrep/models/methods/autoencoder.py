"""Autoencoder: reconstruction MSE through a D-dimensional bottleneck.
"""

from __future__ import annotations

from torch.nn import functional

from gwasrep.models.encoders import Decoder
from gwasrep.models.methods.base import Batch, ImageModel, MethodSpec

__all__ = ["SPEC", "Autoencoder"]


class Autoencoder(ImageModel):
    """Reconstruction MSE (mean over pixels) through a D-dimensional bottleneck."""

    def __init__(self, encoder, shape, dim):
        super().__init__(encoder, shape, dim)
        self.decoder = Decoder(dim, shape)

    def loss(self, batch: Batch, augment, g):
        x = batch.images
        return functional.mse_loss(self.decoder(self.project(augment(x, g))), x)


def build(cfg, inputs, g) -> Autoencoder:
    return Autoencoder(cfg.encoder, inputs.image_shape, cfg.dim)


SPEC = MethodSpec(name="autoencoder", build=build)
