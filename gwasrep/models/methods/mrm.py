"""MRM: masked relation modeling (Yang et al., ICCV 2023) with a SNP-sequence genome branch.

The public code (CityU-AIM-Group/MRM) is MAE's script without a genome branch, relation
masking or matching, so this follows the paper; what the paper leaves open is chosen here.

Encoders
    - Image: a ViT (:mod:`gwasrep.models.vit`). ``--encoder vit`` or ``cnn`` (the default,
      read as "the default image encoder") is a ViT scaled to the image (patch 4 up to 64
      pixels a side, 8 up to 128, else 16; dim 64, depth 4, heads 4); ``vit-b`` is ViT-B/16
      (dim 768, depth 12, heads 12). Anything else is an error.
    - Genome (:class:`SNN`): the M SNPs in their given order (chromosome, position) cut into
      T = ceil(M / snp_token) tokens of ``snp_token`` consecutive SNPs (the last zero-padded;
      a padded dosage is 0, the centred mean, like a missing call). Each token is a
      ``Linear(snp_token, dim)`` of its dosages plus a learned position embedding; a learned
      CLS token is the genome summary (CLS rather than mean pooling: symmetric with the ViT,
      and the summary can weigh tokens). Then pre-norm self-attention blocks whose MLPs are
      self-normalizing (``Linear -> SELU -> AlphaDropout(0.1) -> Linear``, LeCun-normal
      weights, zero biases; the LayerNorm before each MLP gives it the zero-mean,
      unit-variance input SELU assumes), and a final LayerNorm. Same width and heads as the
      ViT; depth 2 (scaled) or 4 (vit-b).

Relation masking (:func:`gwasrep.models.vit.relation_mask`: top ``floor(tau * n_keys)``
weights of each attention row zeroed, ties to the lower index, rows renormalized)
    - Every modality has *intact* features (its encoder, no masking) and *masked* features
      (the same encoder, same weights, with masking in its first two blocks).
    - The ratio belongs to the modality of the keys: tau_I = ``tau_image`` (0.75) where the
      keys are image tokens, tau_G = ``tau_genome`` (0.5) where they are genome tokens. So:
      image self-attention tau_I, genome self-attention tau_G.
    - Fusion (the paper's Sec. 3.2): in each of the two masked blocks, after both streams'
      masked self-attention, the image tokens cross-attend (queries) to the genome stream's
      tokens with masking tau_G, and the genome tokens to the image stream's with tau_I
      (both from the block's self-attention output, in parallel); one cross-attention
      block per masked block and direction. The intact features never see the other
      modality, so the embedding needs no genotypes.

Projection
    The CLS feature (intact or masked) passes ``projector(F, D)`` (Linear -> ReLU -> Linear,
    D = ``cfg.dim``), the genome CLS its own projector to D. These D-dim summaries are what
    the relation matching compares (the cross matrix needs one width for both modalities)
    and what the reconstructions take from the other modality, so the projection is trained.

Reconstruction (MAE-style per-token linear decoders; targets of the masked pass)
    - Image: each masked image patch token concatenated with the intact genome
      summary, ``Linear(F + D, patch * patch * C)`` -> the patch's pixels; MSE (mean over
      pixels) against the *augmented* normalized image, i.e. the encoders' input (relation
      masking hides no pixels, so the target is what the encoder saw).
    - Genome: each masked genome token concatenated with the intact image summary,
      ``Linear(F_g + D, snp_token)`` -> its dosages; MSE over the M real SNPs (padding out).
    - Caveat: a token keeps its own content through the residual path (relation masking
      removes relations, not inputs), so these terms can be met partly by autoencoding each
      token; the cross-modal summaries are what carry information between the modalities.

Relation matching (:func:`relation_matching_loss`)
    Unit-normalized D-dim summaries; S = Z Z^T over the whole batch (all B^2 pairs, not the
    paper's 8 random pairs: deterministic, lower variance, and what the 1/B^2 factors
    average over). ``L_self = (||S_I - S_I^m||^2 + ||S_G - S_G^m||^2) / (2 B^2)``,
    ``L_cross = ||S_IG - S_IG^m||^2 / B^2`` (intact image x intact genome vs masked x
    masked). No stop-gradient: both the intact and the masked pass learn from it.

Loss ``L = L_recon_image + L_recon_genome + match_weight * (L_self + L_cross)``; the intact
and masked passes see the same augmented view. ``embed``: ``backbone`` is the intact ViT's
CLS feature (B, F), ``projection`` its projection (B, D). AlphaDropout draws from torch's
global generator (seeded by the trainer per epoch); the augmentation draws from ``g``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from gwasrep.errors import InputError
from gwasrep.models.encoders import projector
from gwasrep.models.methods.base import Batch, ImageModel, MethodSpec
from gwasrep.models.vit import Block, init_linear, run_blocks, vit_for_image

__all__ = ["MRM", "SNN", "SPEC", "relation_matching_loss"]

#: ``--encoder`` -> the ViT layout (``cnn`` is the default encoder: the scaled ViT).
IMAGE_ENCODERS = {"cnn": "vit", "vit": "vit", "vit-b": "vit-b"}
#: Genome SNN depth per image layout.
SNN_DEPTH = {"vit": 2, "vit-b": 4}
#: Blocks of each encoder with relation masking (the paper: the first two).
MASKED_BLOCKS = 2
#: Most genome tokens the SNN's full self-attention takes (memory grows with their square).
MAX_GENOME_TOKENS = 4096


def relation_matching_loss(intact_img: torch.Tensor, masked_img: torch.Tensor,
                           intact_gen: torch.Tensor, masked_gen: torch.Tensor) -> torch.Tensor:
    """``L_self + L_cross`` between the cosine-similarity matrices of (B, D) features."""
    zi, zim, zg, zgm = (functional.normalize(z, dim=1)
                        for z in (intact_img, masked_img, intact_gen, masked_gen))
    b2 = zi.shape[0] ** 2

    def sq(a, b):
        return ((a - b) ** 2).sum()

    l_self = (sq(zi @ zi.T, zim @ zim.T) + sq(zg @ zg.T, zgm @ zgm.T)) / (2 * b2)
    l_cross = sq(zi @ zg.T, zim @ zgm.T) / b2
    return l_self + l_cross


class SelfNormalizingMLP(nn.Sequential):
    """``Linear -> SELU -> AlphaDropout -> Linear`` with LeCun-normal weights, zero biases."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.1,
                 generator: torch.Generator | None = None):
        super().__init__(nn.Linear(dim, hidden), nn.SELU(), nn.AlphaDropout(dropout),
                         nn.Linear(hidden, dim))
        for m in self:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=m.in_features ** -0.5, generator=generator)
                nn.init.zeros_(m.bias)


class SNN(nn.Module):
    """Genome encoder: SNP tokens + CLS, self-attention blocks with self-normalizing MLPs."""

    def __init__(self, n_snps: int, snp_token: int, dim: int, depth: int, heads: int,
                 mlp_ratio: float = 4, dropout: float = 0.1,
                 generator: torch.Generator | None = None):
        super().__init__()
        if n_snps < 1 or snp_token < 1:
            raise InputError(f"MRM genome encoder: expected at least one SNP and one SNP per "
                             f"token; found {n_snps} SNPs, {snp_token} per token")
        self.n_snps, self.snp_token = n_snps, snp_token
        self.n_tokens = math.ceil(n_snps / snp_token)
        if self.n_tokens > MAX_GENOME_TOKENS:
            raise InputError(f"--snp-token {snp_token}: {n_snps:,} SNPs make {self.n_tokens:,} "
                             f"genome tokens; MRM's self-attention takes at most "
                             f"{MAX_GENOME_TOKENS:,} (raise --snp-token to "
                             f"{math.ceil(n_snps / MAX_GENOME_TOKENS)} or keep fewer SNPs "
                             "with --snp-every)")
        self.embed = nn.Linear(snp_token, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, 1 + self.n_tokens, dim))
        hidden = int(dim * mlp_ratio)
        self.blocks = nn.ModuleList(
            Block(dim, heads, mlp=SelfNormalizingMLP(dim, hidden, dropout, generator))
            for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.out_features = dim
        for name, m in self.named_modules():
            if ".mlp" not in name:
                init_linear(m, generator)
        nn.init.trunc_normal_(self.cls, std=0.02, a=-0.04, b=0.04, generator=generator)
        nn.init.trunc_normal_(self.pos, std=0.02, a=-0.04, b=0.04, generator=generator)

    def tokenize(self, snps: torch.Tensor) -> torch.Tensor:
        """``(B, M)`` dosages to ``(B, T, snp_token)``, the last token zero-padded."""
        if snps.dim() != 2 or snps.shape[1] != self.n_snps:
            raise InputError(f"MRM genome encoder: expected (B, {self.n_snps}) SNP dosages; "
                             f"found shape {tuple(snps.shape)}")
        pad = self.n_tokens * self.snp_token - self.n_snps
        return functional.pad(snps, (0, pad)).reshape(len(snps), self.n_tokens, self.snp_token)

    def embed_tokens(self, snps: torch.Tensor) -> torch.Tensor:
        """``(B, 1 + T, dim)``: CLS and SNP-token embeddings plus positions, before the blocks."""
        t = self.embed(self.tokenize(snps))
        return torch.cat([self.cls.expand(len(t), -1, -1), t], dim=1) + self.pos

    def tokens(self, snps: torch.Tensor, taus=(), renormalize: bool = True) -> torch.Tensor:
        """``(B, 1 + T, dim)``: CLS then SNP tokens after the final LayerNorm."""
        return self.norm(run_blocks(self.blocks, self.embed_tokens(snps), taus, renormalize))

    def forward(self, snps):
        return self.tokens(snps)[:, 0]


class MRM(ImageModel):
    """Relation masking, reconstruction and relation matching (see the module docstring)."""

    def __init__(self, shape: tuple[int, int, int], n_snps: int, dim: int, *,
                 encoder: str = "cnn", snp_token: int = 16, tau_image: float = 0.75,
                 tau_genome: float = 0.5, match_weight: float = 1.0, renormalize: bool = True,
                 generator: torch.Generator | None = None):
        nn.Module.__init__(self)  # its own ViT, not ImageModel's registry backbone
        if encoder not in IMAGE_ENCODERS:
            raise InputError(f"--encoder {encoder}: MRM takes vit or vit-b (cnn, the default, "
                             "is the scaled vit)")
        for name, tau in (("tau_image", tau_image), ("tau_genome", tau_genome)):
            if not 0 <= tau < 1:
                raise InputError(f"{name}: expected 0 <= tau < 1; found {tau}")
        layout = IMAGE_ENCODERS[encoder]
        self.backbone = vit_for_image(layout, shape, generator)
        f = self.backbone.out_features
        heads = self.backbone.blocks[0].attn.heads
        self.genome = SNN(n_snps, snp_token, f, SNN_DEPTH[layout], heads, generator=generator)
        fg = self.genome.out_features
        self.projector = projector(f, dim, hidden=max(f, dim))
        self.genome_projector = projector(fg, dim, hidden=max(fg, dim))
        # One cross-attention block per masked block and direction (the paper's Sec. 3.2).
        self.cross_image = nn.ModuleList(Block(f, heads, context_dim=fg)
                                         for _ in range(MASKED_BLOCKS))
        self.cross_genome = nn.ModuleList(
            Block(fg, heads, context_dim=f,
                  mlp=SelfNormalizingMLP(fg, 4 * fg, generator=generator))
            for _ in range(MASKED_BLOCKS))
        p = self.backbone.patch
        self.image_head = nn.Linear(f + dim, p * p * shape[0])
        self.genome_head = nn.Linear(fg + dim, snp_token)
        for m in (self.cross_image, self.image_head, self.genome_head):
            m.apply(lambda mod: init_linear(mod, generator))
        for blk in self.cross_genome:
            blk.attn.apply(lambda mod: init_linear(mod, generator))
        self.dim, self.n_snps = dim, n_snps
        self.tau_image, self.tau_genome = tau_image, tau_genome
        self.match_weight, self.renormalize = match_weight, renormalize

    def features(self, images: torch.Tensor, snps: torch.Tensor) -> dict[str, torch.Tensor]:
        """Intact and masked tokens and D-dim summaries of both modalities."""
        r = self.renormalize
        vit, snn = self.backbone, self.genome
        img = vit.tokens(images)
        gen = snn.tokens(snps)
        # The masked pass: in each of the first two blocks, both streams' self-attention
        # with relation masking, then each stream's cross-attention over the other (masked)
        # stream, masked too; the later blocks as usual.
        ti, tg = vit.embed_tokens(images), snn.embed_tokens(snps)
        for i in range(MASKED_BLOCKS):
            if i < len(vit.blocks):
                ti = vit.blocks[i](ti, tau=self.tau_image, renormalize=r)
            if i < len(snn.blocks):
                tg = snn.blocks[i](tg, tau=self.tau_genome, renormalize=r)
            ti, tg = (self.cross_image[i](ti, tg, tau=self.tau_genome, renormalize=r),
                      self.cross_genome[i](tg, ti, tau=self.tau_image, renormalize=r))
        img_m = vit.norm(run_blocks(vit.blocks[MASKED_BLOCKS:], ti, (), r))
        gen_m = snn.norm(run_blocks(snn.blocks[MASKED_BLOCKS:], tg, (), r))
        return {"img": img, "gen": gen, "img_m": img_m, "gen_m": gen_m,
                "zi": self.projector(img[:, 0]), "zim": self.projector(img_m[:, 0]),
                "zg": self.genome_projector(gen[:, 0]),
                "zgm": self.genome_projector(gen_m[:, 0])}

    def loss(self, batch: Batch, augment, g):
        if not batch.genetics or "snps" not in batch.genetics:
            raise InputError("MRM needs the SNP input (batch.genetics['snps'])")
        x = augment(batch.images, g)
        s = batch.genetics["snps"].to(x.dtype)
        h = self.features(x, s)
        n, t = self.backbone.n_patches, self.genome.n_tokens
        rec_i = self.image_head(torch.cat([h["img_m"][:, 1:], h["zg"][:, None].expand(-1, n, -1)],
                                          dim=-1))
        l_img = functional.mse_loss(rec_i, self.backbone.patchify(x))
        rec_g = self.genome_head(torch.cat([h["gen_m"][:, 1:], h["zi"][:, None].expand(-1, t, -1)],
                                           dim=-1))
        l_gen = functional.mse_loss(rec_g.flatten(1)[:, :self.n_snps], s)
        match = relation_matching_loss(h["zi"], h["zim"], h["zg"], h["zgm"])
        return l_img + l_gen + self.match_weight * match


def build(cfg, inputs, g) -> MRM:
    mods = inputs.modalities or {}
    if "snps" not in mods:
        raise InputError("MRM needs the SNP sequence input (modalities['snps'])")
    return MRM(tuple(inputs.image_shape), int(mods["snps"]), cfg.dim, encoder=cfg.encoder,
               snp_token=cfg.snp_token, tau_image=cfg.tau_image, tau_genome=cfg.tau_genome,
               match_weight=cfg.match_weight, generator=g)


SPEC = MethodSpec(name="mrm", build=build, genetic="snps")
