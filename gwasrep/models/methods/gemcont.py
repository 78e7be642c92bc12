"""GEMCONT: a CLIP loss between projected images and linearly projected, SCARF-corrupted
panel genotypes (Sec. 3; the linear projector starts from the panel's effect sizes).
"""

from __future__ import annotations

from gwasrep.errors import InputError
from gwasrep.models.augment import scarf_corrupt
from gwasrep.models.encoders import LinearGenotype, MLPGenotype
from gwasrep.models.losses import ClipLoss
from gwasrep.models.methods.base import Batch, ImageModel, MethodSpec

__all__ = ["SPEC", "Gemcont"]


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
            raise InputError(f"--geno-encoder: expected linear or mlp; found {geno_encoder!r}")
        self.clip = ClipLoss(init_temperature=temperature)
        self.scarf_p = scarf_p

    def loss(self, batch: Batch, augment, g):
        gen = batch.genotypes
        if self.training and self.scarf_p > 0 and gen.shape[1] > 1:
            gen, _ = scarf_corrupt(gen, self.scarf_p, generator=g)
        return self.clip(self.project(augment(batch.images, g)), self.genotype(gen))


def build(cfg, inputs, g) -> Gemcont:
    return Gemcont(cfg.encoder, inputs.image_shape, cfg.dim, n_variants=inputs.n_variants,
                   beta=inputs.beta, geno_encoder=cfg.geno_encoder, scarf_p=cfg.scarf_p,
                   generator=g, temperature=0.07 if cfg.temperature is None else cfg.temperature)


SPEC = MethodSpec(name="gemcont", build=build, genetic="dosages")
