"""SimCLR: NT-Xent between the projections of two augmented views of each image.
"""

from __future__ import annotations

from gwasrep.models.losses import nt_xent
from gwasrep.models.methods.base import Batch, ImageModel, MethodSpec

__all__ = ["SPEC", "SimCLR"]


class SimCLR(ImageModel):
    """NT-Xent between the projections of two augmented views."""

    def __init__(self, encoder, shape, dim, *, temperature: float = 0.2):
        super().__init__(encoder, shape, dim)
        self.temperature = temperature

    def loss(self, batch: Batch, augment, g):
        x = batch.images
        return nt_xent(self.project(augment(x, g)), self.project(augment(x, g)), self.temperature)


def build(cfg, inputs, g) -> SimCLR:
    return SimCLR(cfg.encoder, inputs.image_shape, cfg.dim,
                  temperature=0.2 if cfg.temperature is None else cfg.temperature)


SPEC = MethodSpec(name="simclr", build=build)
