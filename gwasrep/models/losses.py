"""Contrastive losses of the trait generators (METHODS.md section 4).

- :class:`ClipLoss`: GEMCONT's symmetric CLIP InfoNCE between unit-norm image and
  genotype embeddings, with a learnable temperature (log-parameterized, clamped).
- :func:`nt_xent`: SimCLR's NT-Xent over two augmented views.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

__all__ = ["ClipLoss", "clip_loss", "nt_xent"]


def clip_loss(img: torch.Tensor, gen: torch.Tensor, logit_scale: torch.Tensor | float,
              weight_img: float = 0.5) -> torch.Tensor:
    """``w CE(img -> gen) + (1 - w) CE(gen -> img)`` of ``logits = s * img_n gen_n^T``.

    ``img_n``, ``gen_n`` are the L2-normalized rows and ``s = 1/T`` the logit scale.
    ``weight_img = 0.5`` is CLIP/GEMCONT's symmetric loss; ContIG uses 0.75.
    """
    logits = logit_scale * functional.normalize(img, dim=1) @ functional.normalize(gen, dim=1).T
    target = torch.arange(logits.shape[0], device=logits.device)
    return (weight_img * functional.cross_entropy(logits, target)
            + (1 - weight_img) * functional.cross_entropy(logits.T, target))


class ClipLoss(nn.Module):
    """CLIP loss with a learnable temperature ``T = exp(-log_scale)``.

    The log scale starts at ``log(1/init_temperature)`` (CLIP: T = 0.07) and is
    clamped to ``[0, log(max_scale)]`` in the forward pass (CLIP caps 1/T at 100).
    """

    def __init__(self, init_temperature: float = 0.07, max_scale: float = 100.0,
                 weight_img: float = 0.5):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.max_log = math.log(max_scale)
        self.weight_img = weight_img

    @property
    def temperature(self) -> float:
        return float(torch.exp(-self.log_scale.detach().clamp(0.0, self.max_log)))

    def forward(self, img: torch.Tensor, gen: torch.Tensor) -> torch.Tensor:
        scale = self.log_scale.clamp(0.0, self.max_log).exp()
        return clip_loss(img, gen, scale, self.weight_img)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """NT-Xent (SimCLR): each of the 2B views must pick its partner among the other 2B - 1."""
    z = functional.normalize(torch.cat([z1, z2]), dim=1)
    b = z1.shape[0]
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), -math.inf)
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return functional.cross_entropy(sim, target)
