"""Genetic InfoMax (GIM; Xie et al.): the image representation maximizes its mutual
information with the genotypes (JSE estimator) and reconstructs the image.

No public code; implemented from the paper (Sec. 4, Eqs. 7-9, App. B). Choices where the
paper is open are marked *choice*.

- **Image side:** the registry's encoder (2D, or ``resnet3d``: GIM's 3D residual MRI
  encoder) then ``Linear -> ReLU -> Linear`` to the representation f(Y) of D dimensions
  (what ``embed`` returns).
- **Genetic side:** the genetics-informed transformer
  (:class:`~gwasrep.models.gim_encoder.GeneticTransformer`) over the SNP sequence sorted by
  chromosome and position, each SNP a token of its genotype code and chromosome, to D;
  ``--geno-encoder mlp`` is the ablation (ContIG's H1 on the centred dosages, then a
  projector to D).
- **Objective:** ``JSE(f(Y), g(X)) + lambda * MSE(Y, h(f(Y)))`` (lambda = ``recon_weight``,
  1). JSE is :func:`gwasrep.mi.estimator.jse_loss` (the MI estimator's) of the separable
  critic's scores ``u_i . v_j / sqrt(D)`` with ``u = MLP(f(Y))`` and ``v = MLP(g(X))``; the
  batch's other pairs are the negatives. *Choice:* the reconstruction is the mean squared
  error over pixels/voxels (the paper's ``1/|B| sum ||Y - h(f(Y))||^2`` sums over voxels,
  which at 160^3 would outweigh the MI term by six orders of magnitude); its target is the
  (augmented, normalized) input image; h is the project's transposed-convolution decoder
  (2D or 3D).
- **Genetic augmentation** (:func:`~gwasrep.models.gim_encoder.genetic_augment`): per
  batch, a random crop with p = ``crop_p`` (0.2), else an even downsampling with
  p = ``downsample_p`` (0.8), to ``downsample_length`` SNPs (*choice*: default half the
  sequence; the paper downsamples to 65,000). The MLP ablation keeps its input width: the
  SNPs left out are set to 0 (the mean).
- **Staged schedule** (``stages``, epochs): 1. the genetic encoder frozen (no gradient,
  no update), no augmentation; 2. still frozen, with the genetic augmentation; 3. both
  encoders co-trained, with augmentation. The paper's 200 / 100 / 50 epochs are the
  ``paper`` profile; otherwise ``epochs`` is split 4 : 2 : 1 (rounded, the last stage
  taking the rest). The stage follows the epoch, so a resumed run continues its stage.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional

from gwasrep.errors import InputError
from gwasrep.mi.estimator import jse_loss
from gwasrep.models.encoders import Decoder, MLPGenotype, projector
from gwasrep.models.gim_encoder import GeneticTransformer, genetic_augment
from gwasrep.models.methods.base import Batch, ImageModel, MethodSpec

__all__ = ["GIM", "SPEC", "stage_epochs"]


def stage_epochs(epochs: int, stages: list[int] | None) -> tuple[int, int, int]:
    """Epochs of the three stages: ``stages`` as given, else ``epochs`` split 4 : 2 : 1."""
    if stages is not None:
        return tuple(int(s) for s in stages)
    a = round(epochs * 4 / 7)
    b = round(epochs * 2 / 7)
    return a, b, epochs - a - b


class GIM(ImageModel):
    """See the module docstring."""

    def __init__(self, encoder, shape, dim, *, layout: dict, geno_encoder: str = "transformer",
                 window: int = 10, crop_p: float = 0.2, downsample_p: float = 0.8,
                 length: int | None = None, stages=(4, 2, 1), recon_weight: float = 1.0):
        super().__init__(encoder, shape, dim)
        n_snps = len(layout["chrom"])
        if geno_encoder == "transformer":
            self.genetic = GeneticTransformer(layout["chrom"], layout["bp"], layout["cm"],
                                              out_dim=dim, window=window)
        elif geno_encoder == "mlp":
            self.genetic = MLPGenotype(n_snps, dim)
        else:
            raise InputError(f"--geno-encoder: GIM takes transformer or mlp; found "
                             f"{geno_encoder!r}")
        self.kind = geno_encoder
        self.n_snps = n_snps
        self.critic_img = projector(dim, dim)
        self.critic_gen = projector(dim, dim)
        self.decoder = Decoder(dim, tuple(shape))
        self.crop_p, self.downsample_p = crop_p, downsample_p
        self.length = length or max(1, n_snps // 2)
        self.stages = tuple(stages)
        self.recon_weight = recon_weight
        self.stage = 0

    def start_epoch(self, epoch: int) -> None:
        """Set the stage of 0-based ``epoch`` (called by the training loop)."""
        s1, s2, _ = self.stages
        self.stage = 0 if epoch < s1 else 1 if epoch < s1 + s2 else 2
        for p in self.genetic.parameters():
            p.requires_grad_(self.stage == 2)
        self.train(self.training)

    def train(self, mode: bool = True):
        """Training mode, except a frozen genetic encoder (its BatchNorm statistics, if any,
        stay frozen too)."""
        super().train(mode)
        if mode and self.stage < 2:
            self.genetic.eval()
        return self

    def genetic_embedding(self, batch: Batch, g) -> torch.Tensor:
        codes = batch.genetics["snp_codes"]
        index = None
        if self.training and self.stage >= 1 and self.length < self.n_snps:
            index = genetic_augment(self.n_snps, g, crop_p=self.crop_p,
                                    downsample_p=self.downsample_p,
                                    length=self.length).to(codes.device)
        if self.kind == "transformer":
            return self.genetic(codes if index is None else codes[:, index], index)
        x = batch.genetics["snps"]
        if index is not None:
            keep = torch.zeros(self.n_snps, dtype=x.dtype, device=x.device)
            keep[index] = 1.0
            x = x * keep
        return self.genetic(x)

    def loss(self, batch: Batch, augment, g):
        x = augment(batch.images, g)
        f = self.project(x)
        gen = self.genetic_embedding(batch, g)
        scores = self.critic_img(f) @ self.critic_gen(gen).T / math.sqrt(f.shape[1])
        recon = functional.mse_loss(self.decoder(f), x)
        return jse_loss(scores) + self.recon_weight * recon


def build(cfg, inputs, g) -> GIM:
    if not inputs.layout:
        raise InputError("GIM needs the SNP sequence's layout (chromosome, bp, cM) of --bed")
    return GIM(cfg.encoder, inputs.image_shape, cfg.dim, layout=inputs.layout,
               geno_encoder=cfg.geno_encoder, window=cfg.window, crop_p=cfg.crop_p,
               downsample_p=cfg.downsample_p, length=cfg.downsample_length,
               stages=stage_epochs(cfg.epochs, cfg.stages), recon_weight=cfg.recon_weight)


SPEC = MethodSpec(name="gim", build=build, genetic="snps")
