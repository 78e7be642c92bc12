"""The PRS baseline: GEMCONT whose genetic input is the z-scored panel-weighted score.
"""

from __future__ import annotations

import torch

from gwasrep.models.methods.base import MethodSpec
from gwasrep.models.methods.gemcont import Gemcont

__all__ = ["SPEC"]


def build(cfg, inputs, g) -> Gemcont:
    # One input, the standardized score: W[0] = 1.
    return Gemcont(cfg.encoder, inputs.image_shape, cfg.dim, n_variants=1, beta=torch.ones(1),
                   geno_encoder="linear", scarf_p=cfg.scarf_p, generator=g,
                   temperature=0.07 if cfg.temperature is None else cfg.temperature)


SPEC = MethodSpec(name="prs", build=build, genetic="score")
