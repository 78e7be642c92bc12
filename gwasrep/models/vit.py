"""A Vision Transformer whose attention can drop its strongest relations (MRM's relation masking).

- :func:`relation_mask`: in every row of a (post-softmax) attention matrix, zero the
  ``k = floor(tau * n_keys)`` largest weights, optionally renormalizing the row to sum 1.
- :class:`Attention`: multi-head self- or cross-attention (queries from ``x``, keys and
  values from ``context``) with an optional masking ratio ``tau`` per call.
- :class:`Block`: a pre-norm transformer block ``x + attn(LN(x)), then x + mlp(LN(x))``;
  the MLP is GELU (ViT) unless another one is given (MRM's genome encoder uses SELU).
- :class:`ViT`: patch embedding (a ``patch x patch`` convolution with stride ``patch``), a
  learned CLS token, learned position embeddings (CLS included), pre-norm blocks and a final
  LayerNorm; ``forward`` gives the CLS feature ``(B, dim)``. :meth:`ViT.tokens` takes one
  masking ratio per block (missing ones are 0).
- :func:`vit_for_image`: ``vit`` (a ViT scaled to the image: patch 4 for images up to 64
  pixels a side (7 x 7 = 49 patches at 28 x 28), 8 up to 128, else 16; dim 64, depth 4,
  heads 4, MLP ratio 4) or ``vit-b`` (ViT-B/16: patch 16, dim 768, depth 12, heads 12). The
  image must be divisible by the patch (no padding: a padded border would be patches of
  zeros in every image).

Choices in :func:`relation_mask` (MRM, Yang et al. ICCV 2023, leaves them open):

- **How many**: ``k = floor(tau * n_keys)`` (plus 1e-9 against a product such as
  0.29 * 100 = 28.999...). With ``tau < 1`` this leaves at least one key per row, so the
  renormalized row is always defined (``ceil`` masks every key of a 2-key row at tau 0.75).
  At 28 x 28 (50 keys) tau_I = 0.75 masks 37 keys; tau_G = 0.5 over 65 genome keys, 32.
- **Ties**: broken by position, the lower key index is masked first, so exactly k
  weights go and the result is the same on every run.
- **Per head and per row**, every row and every key, the CLS token's included.
- **Renormalization** (default on in MRM): the kept weights are divided by their sum. The
  masked weights are the largest, so at tau = 0.75 the kept ones often sum to well under
  0.25; without renormalization the attention output (a weighted average of values) would
  shrink by that factor and the residual stream of the masked pass would differ from the
  intact one in scale, not only in which relations it uses. Renormalizing after the softmax
  is exactly a softmax over the kept keys (the standard way attention masks work), so the
  masked pass sees "the same attention without its strongest relations".
  ``renormalize=False`` is the literal "zero out".
- The mask is a selection, not differentiated: gradients flow through the kept weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional

from gwasrep.errors import InputError

__all__ = ["Attention", "Block", "ViT", "init_linear", "relation_mask", "run_blocks",
           "scaled_patch", "vit_for_image"]

#: Image ViT layouts: (patch or None for the scaled rule, dim, depth, heads).
VIT_LAYOUTS = {"vit": (None, 64, 4, 4), "vit-b": (16, 768, 12, 12)}


def relation_mask(attn: torch.Tensor, tau: float, renormalize: bool = True) -> torch.Tensor:
    """Zero the ``floor(tau * n)`` largest weights of each row of ``attn`` (``(..., n)``).

    Ties go to the lower index. With ``renormalize`` the kept weights are divided by their
    sum (rows of a softmax then sum to 1). ``tau = 0`` returns ``attn`` itself.
    """
    if not 0 <= tau < 1:
        raise InputError(f"relation-masking ratio: expected 0 <= tau < 1; found {tau}")
    n = attn.shape[-1]
    k = math.floor(tau * n + 1e-9)
    if k == 0:
        return attn
    with torch.no_grad():
        # The k-th largest value v: every weight above v goes, and of those equal to v the
        # first k - #(> v) by index (kthvalue is ~2x faster than a stable sort on CPU).
        v = torch.kthvalue(attn, n - k + 1, dim=-1, keepdim=True).values
        above, tied = attn > v, attn == v
        drop = above | (tied & (tied.cumsum(-1) <= k - above.sum(-1, keepdim=True)))
    out = attn.masked_fill(drop, 0.0)
    if renormalize:
        out = out / out.sum(-1, keepdim=True).clamp_min(torch.finfo(out.dtype).tiny)
    return out


def init_linear(m: nn.Module, g: torch.Generator | None = None) -> None:
    """ViT init of a Linear: truncated N(0, 0.02^2) weights (at +-2 sd), zero bias."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04, generator=g)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class Attention(nn.Module):
    """Multi-head attention of ``x`` (queries) over ``context`` (keys, values; default ``x``)."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None):
        super().__init__()
        if dim % heads:
            raise InputError(f"attention: dim {dim} is not divisible by {heads} heads")
        self.heads, self.dim = heads, dim
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim or dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, context=None, tau: float = 0.0, renormalize: bool = True):
        context = x if context is None else context
        b, n, _ = x.shape
        h, d = self.heads, self.dim // self.heads
        q = self.q(x).reshape(b, n, h, d).transpose(1, 2)
        k, v = self.kv(context).reshape(b, context.shape[1], 2, h, d).permute(2, 0, 3, 1, 4)
        if tau == 0:
            out = functional.scaled_dot_product_attention(q, k, v)
        else:
            attn = torch.softmax((q @ k.transpose(-2, -1)) * d ** -0.5, dim=-1)
            out = relation_mask(attn, tau, renormalize) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, self.dim))


def gelu_mlp(dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class Block(nn.Module):
    """Pre-norm transformer block; cross-attention when built with ``context_dim``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4, mlp: nn.Module | None = None,
                 context_dim: int | None = None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(context_dim) if context_dim else None
        self.attn = Attention(dim, heads, context_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = mlp if mlp is not None else gelu_mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, context=None, tau: float = 0.0, renormalize: bool = True):
        if self.norm_context is not None:
            if context is None:
                raise ValueError("a cross-attention block needs a context")
            context = self.norm_context(context)
        x = x + self.attn(self.norm1(x), context, tau=tau, renormalize=renormalize)
        return x + self.mlp(self.norm2(x))


def run_blocks(blocks: Sequence[Block], x, taus: Sequence[float], renormalize: bool):
    """``x`` through ``blocks``, block i with masking ratio ``taus[i]`` (0 past the end)."""
    for i, blk in enumerate(blocks):
        x = blk(x, tau=taus[i] if i < len(taus) else 0.0, renormalize=renormalize)
    return x


class ViT(nn.Module):
    """ViT with a CLS token, learned position embeddings and pre-norm blocks; F = ``dim``."""

    def __init__(self, image_shape: tuple[int, int, int], patch: int, dim: int, depth: int,
                 heads: int, mlp_ratio: float = 4, generator: torch.Generator | None = None):
        super().__init__()
        if len(image_shape) != 3:
            raise InputError(f"ViT: expected 2-D images (C, H, W); found shape "
                             f"{tuple(image_shape)}")
        c, h, w = image_shape
        if h % patch or w % patch:
            raise InputError(f"ViT: the image size {h}x{w} is not divisible by the patch size "
                             f"{patch}; resize the images (--image-size) to a multiple of {patch}")
        self.image_shape, self.patch = tuple(image_shape), patch
        self.grid = (h // patch, w // patch)
        self.n_patches = self.grid[0] * self.grid[1]
        self.patch_embed = nn.Conv2d(c, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, 1 + self.n_patches, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.out_features = dim
        for m in self.modules():
            init_linear(m, generator)
        nn.init.xavier_uniform_(self.patch_embed.weight.view(dim, -1), generator=generator)
        nn.init.zeros_(self.patch_embed.bias)
        nn.init.trunc_normal_(self.cls, std=0.02, a=-0.04, b=0.04, generator=generator)
        nn.init.trunc_normal_(self.pos, std=0.02, a=-0.04, b=0.04, generator=generator)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` to ``(B, N, patch * patch * C)``, patches in row-major order."""
        b, c, _, _ = x.shape
        p, (gh, gw) = self.patch, self.grid
        return x.reshape(b, c, gh, p, gw, p).permute(0, 2, 4, 3, 5, 1).reshape(b, gh * gw, -1)

    def embed_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1 + N, dim)``: CLS and patch embeddings plus positions, before the blocks."""
        t = self.patch_embed(x).flatten(2).transpose(1, 2)
        return torch.cat([self.cls.expand(len(t), -1, -1), t], dim=1) + self.pos

    def tokens(self, x: torch.Tensor, taus: Sequence[float] = (),
               renormalize: bool = True) -> torch.Tensor:
        """``(B, 1 + N, dim)``: CLS then patch tokens after the final LayerNorm."""
        return self.norm(run_blocks(self.blocks, self.embed_tokens(x), taus, renormalize))

    def forward(self, x):
        return self.tokens(x)[:, 0]


def scaled_patch(h: int, w: int) -> int:
    """The scaled ViT's patch: the smallest of 4, 8, 16 giving at most 16 patches a side."""
    side = max(h, w)
    return next((p for p in (4, 8) if side <= 16 * p), 16)


def vit_for_image(name: str, image_shape: tuple[int, int, int],
                  generator: torch.Generator | None = None) -> ViT:
    """``vit`` (scaled to the image) or ``vit-b`` (ViT-B/16) for ``image_shape`` (C, H, W)."""
    if name not in VIT_LAYOUTS:
        raise InputError(f"ViT: expected one of {', '.join(VIT_LAYOUTS)}; found {name!r}")
    if len(image_shape) != 3:
        raise InputError(f"--encoder {name}: the ViT takes 2D images (C, H, W); found "
                         f"{tuple(image_shape)} (3D volumes: a method with --encoder resnet3d)")
    patch, dim, depth, heads = VIT_LAYOUTS[name]
    if patch is None:
        patch = scaled_patch(*image_shape[-2:]) if len(image_shape) == 3 else 4
    return ViT(image_shape, patch, dim, depth, heads, generator=generator)
