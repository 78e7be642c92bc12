"""ContIG (Taleb et al., CVPR 2022): contrastive learning between images and several
genetic modalities (raw SNPs, polygenic scores, gene burdens; :mod:`gwasrep.models.genetics`).

- **Image side:** the registry's backbone -> ``Linear -> ReLU -> Linear`` projection head
  to D (:class:`~gwasrep.models.methods.base.ImageModel`).
- **Genetic side, one branch per modality:** an encoder ``none`` (the input itself),
  ``h1`` (``Linear(p, 2048) -> ReLU -> BatchNorm``) or ``h12`` (two such layers; ContIG's
  ``DietNetworkBasic``), then a ``Linear -> ReLU -> Linear`` projection head to D.
- **Loss:** per modality m, ``lambda CE(img -> gen) + (1 - lambda) CE(gen -> img)`` of the
  logits ``img_n gen_n^T / T`` (unit-norm rows, T = 0.1, lambda = 0.75), over the samples
  of the batch that have m; the modalities' terms are summed (equal weights); a modality
  with fewer than 2 such samples in a batch adds nothing.
- **Missing modalities** ("outer"): masks are looked up by modality *name*, so the order
  of ``--modalities`` does not matter (HealthML/ContIG's ``train_contig.py`` indexes them by
  list position against a dataset that builds them in a fixed order); and the rows that
  lack a modality never enter its encoder, so its BatchNorm statistics (batch and running)
  come from real rows only (the public code zero-fills them, and zeros there mean reference
  homozygote, mean PGS or non-carrier).
- One optimizer over every parameter and one step per batch (the public code keeps one
  optimizer per modality, each holding the shared image encoder).
"""

from __future__ import annotations

import torch
from torch import nn

from gwasrep.errors import InputError
from gwasrep.models.encoders import projector
from gwasrep.models.losses import clip_loss
from gwasrep.models.methods.base import Batch, ImageModel, MethodSpec

__all__ = ["SPEC", "ContIG", "GeneticBranch", "contig_term"]

#: Width of the H1/H12 hidden layers (ContIG: 2048).
HIDDEN = 2048


class GeneticBranch(nn.Module):
    """One modality's encoder (``none``/``h1``/``h12``) and projection head to D."""

    def __init__(self, n_features: int, dim: int, encoder: str = "h1", hidden: int = HIDDEN):
        super().__init__()
        if encoder not in ("none", "h1", "h12"):
            raise InputError(f"--geno-encoder: ContIG takes none, h1 or h12; found {encoder!r}")
        if n_features < 1:
            raise InputError(f"a ContIG modality needs at least 1 feature; found {n_features}")
        layers: list[nn.Module] = []
        width = n_features
        for _ in range({"none": 0, "h1": 1, "h12": 2}[encoder]):
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.BatchNorm1d(hidden)]
            width = hidden
        self.encoder = nn.Sequential(*layers)
        self.head = projector(width, dim, hidden=max(dim, min(width, hidden)))
        self.n_features = n_features

    def forward(self, x):
        if x.shape[-1] != self.n_features:
            raise InputError(f"a ContIG genetic encoder built for {self.n_features} features "
                             f"got {x.shape[-1]}")
        return self.head(self.encoder(x))


def contig_term(img: torch.Tensor, gen: torch.Tensor, temperature: float,
                img_weight: float) -> torch.Tensor:
    """``lambda CE(img -> gen) + (1 - lambda) CE(gen -> img)`` at temperature T."""
    return clip_loss(img, gen, 1.0 / temperature, weight_img=img_weight)


class ContIG(ImageModel):
    """Images against several named genetic modalities (see the module docstring)."""

    def __init__(self, encoder, shape, dim, *, modalities: dict[str, int],
                 geno_encoder: str = "h1", temperature: float = 0.1, img_weight: float = 0.75):
        super().__init__(encoder, shape, dim)
        if not modalities:
            raise InputError("ContIG needs at least one genetic modality (--modalities)")
        self.genetic = nn.ModuleDict({name: GeneticBranch(n, dim, geno_encoder)
                                      for name, n in modalities.items()})
        self.temperature, self.img_weight = temperature, img_weight

    def genetic_embeddings(self, batch: Batch) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per modality: (rows that have it (B,) bool, their embeddings (n_m, D)).

        Rows without the modality are left out before its encoder runs."""
        out = {}
        for name, branch in self.genetic.items():
            x = batch.genetics[name]
            rows = (batch.present or {}).get(name)
            if rows is None:
                rows = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
            if int(rows.sum()) < 2:
                out[name] = (rows, None)
                continue
            out[name] = (rows, branch(x[rows]))
        return out

    def loss(self, batch: Batch, augment, g):
        img = self.project(augment(batch.images, g))
        total = img.sum() * 0.0  # a batch where no modality has 2 rows: zero, with a graph
        for rows, gen in self.genetic_embeddings(batch).values():
            if gen is not None:
                total = total + contig_term(img[rows], gen, self.temperature, self.img_weight)
        return total


def build(cfg, inputs, g) -> ContIG:
    mods = inputs.modalities or {}
    order = cfg.modalities or list(mods)
    missing = [m for m in order if m not in mods]
    if missing:
        raise InputError(f"--modalities {','.join(order)}: the data have no "
                         f"{', '.join(missing)} input")
    return ContIG(cfg.encoder, inputs.image_shape, cfg.dim,
                  modalities={m: mods[m] for m in order}, geno_encoder=cfg.geno_encoder,
                  temperature=0.1 if cfg.temperature is None else cfg.temperature,
                  img_weight=cfg.img_weight)


SPEC = MethodSpec(name="contig", build=build, genetic="modalities")
