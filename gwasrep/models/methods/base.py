"""What every trait generator shares: the batch, the image model, and the method spec.

A method is one module in this package that defines an ``nn.Module`` with

- ``loss(batch, augment, g)``: the training loss of one :class:`Batch`; ``augment`` is the
  image augmentation and ``g`` the generator of every random draw;
- ``embed(x, representation)``: ``"backbone"`` features (B, F) or the ``"projection"``
  (B, D) of un-augmented images;

and a ``SPEC`` (:class:`MethodSpec`) saying what the method needs and how its model is
built. All image models share ``backbone -> projector`` (:class:`ImageModel`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gwasrep.errors import InputError
from gwasrep.models.encoders import build_backbone, projector

__all__ = ["GENETIC_INPUTS", "REPRESENTATIONS", "Batch", "ImageModel", "MethodSpec",
           "ModelInputs"]

REPRESENTATIONS = ("projection", "backbone")
#: What a method takes from the genotypes:
#:
#: - ``none``; ``dosages``: the panel's centred dosages; ``score``: the z-scored
#:   panel-weighted score (one column) (GEMCONT, PRS);
#: - ``modalities``: ContIG's named modalities (``raw``, ``pgs``, ``burden``), each with
#:   the rows that have it (:mod:`gwasrep.models.genetics`);
#: - ``snps``: every k-th variant of the .bed sorted by chromosome and position (GIM, MRM),
#:   as centred dosages (``snps``) and genotype codes (``snp_codes``).
GENETIC_INPUTS = ("none", "dosages", "score", "modalities", "snps")


@dataclass
class Batch:
    images: torch.Tensor  # (B, C, H, W) (or (B, C, D, H, W) volumes), normalized
    genotypes: torch.Tensor | None = None  # (B, M) centred dosages, or (B, 1) PRS
    target: torch.Tensor | None = None  # (B,) float (regression) or long (classes)
    #: Named genetic inputs (``modalities`` and ``snps`` methods):
    #:
    #: - ContIG: ``raw`` (B, p) mode-imputed dosages, ``pgs`` (B, S) z-scored scores,
    #:   ``burden`` (B, G) 0/1; a row of a modality the sample lacks is 0 and must not be
    #:   used (see ``present``);
    #: - GIM, MRM: ``snps`` (B, M) float32 centred dosages (missing calls 0, the mean) and
    #:   ``snp_codes`` (B, M) int64: 0, 1, 2 copies of A1, 3 a missing call.
    genetics: dict[str, torch.Tensor] | None = None
    #: Per modality, (B,) bool: the rows that have it (ContIG's outer mode).
    present: dict[str, torch.Tensor] | None = None


@dataclass(frozen=True)
class ModelInputs:
    """What a model is built from besides its :class:`~gwasrep.models.config.TrainConfig`."""

    #: (C, H, W) of the (resized) images.
    image_shape: tuple[int, int, int]
    #: Variants of the panel (a method with a score input ignores it: its input is 1 column).
    n_variants: int = 0
    #: The panel's effect sizes, (n_variants,) (GEMCONT's initialization), or None.
    beta: torch.Tensor | None = None
    #: Classes of a classification target.
    n_classes: int = 0
    #: Features of each named genetic input (``modalities``/``snps`` methods), e.g.
    #: ``{"raw": 7854, "pgs": 3}`` or ``{"snps": 10000}``.
    modalities: dict[str, int] | None = None
    #: The SNP sequence's layout (``snps`` methods): ``chrom`` (M,) int codes in order,
    #: ``bp`` (M,) positions, ``cm`` (M,) genetic positions (cM; 1 cM/Mb when the .bim
    #: has 0). Lists, as stored in config.json.
    layout: dict | None = None


@dataclass(frozen=True)
class MethodSpec:
    """A trait generator: what it needs from the data and how its model is built."""

    name: str
    #: ``build(cfg, inputs, generator) -> nn.Module``; ``cfg`` is the TrainConfig and the
    #: generator is seeded with ``cfg.seed`` (the initial weights depend on the seed only).
    build: Callable[..., nn.Module]
    #: One of :data:`GENETIC_INPUTS`.
    genetic: str = "none"
    #: Needs a target column (``--target``, ``--target-col``).
    target: bool = False
    #: Stops when the validation loss has not improved for ``patience`` epochs, and
    #: model.pt holds the best epoch.
    early_stopping: bool = False
    #: ``prepare_target(data, cfg) -> (target array, class labels or None)`` when
    #: ``target`` is set.
    prepare_target: Callable | None = None

    @property
    def needs_genotypes(self) -> bool:
        return self.genetic != "none"

    def genetic_input(self, X: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """The model's genetic input from the panel's centred dosages ``X`` (n, M)."""
        if self.genetic == "dosages":
            return np.ascontiguousarray(X, dtype=np.float32)
        if self.genetic == "score":
            s = X.astype(np.float64) @ beta.astype(np.float64)
            sd = s.std()
            if sd == 0:
                raise InputError("the panel-weighted score is constant over the samples; the "
                                 f"{self.name} method needs a panel with non-zero BETA and "
                                 "polymorphic variants")
            return ((s - s.mean()) / sd).astype(np.float32)[:, None]
        raise InputError(f"method {self.name} takes no genetic input")


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
