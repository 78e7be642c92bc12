"""Genetic InfoMax's genetics-informed transformer (GIM, Xie et al.), in plain torch.

There is no public code; this module implements the paper's description, and every choice
the paper leaves open is stated here.

**Tokens.** The M SNPs sorted by chromosome and position (the caller sorts); token t is
``Embedding(4, dims[0])(code_t) + Embedding(K, dims[0])(chromosome_t)`` with the codes
0, 1, 2 (copies of the counted allele) and 3 (missing call), and the K distinct chromosome
codes mapped to 0..K-1 in sorted order. A forward may see a subset of the SNPs (an
augmented ``index``, :func:`genetic_augment`); every layout-dependent term follows it.

**Stages.** Three stages of widths ``dims`` (32, 64, 128), ``heads`` heads each, of two
pre-norm blocks ``x += Attn(LN(x)); x += MLP(LN(x))`` (MLP ``Linear(D, 4D) -> GELU ->
Linear(4D, D)``, no dropout). The first block attends within regular windows of ``window``
tokens, the second within windows shifted by ``window // 2`` (Swin). Between stages an
attention pooling downsamples by ``pool``; after the last stage ``n_queries`` learnable
queries read out all tokens (across chromosomes), and their outputs, concatenated, go
through ``LayerNorm -> Linear(n_queries * dims[2], out_dim)``.

**Windows never cross chromosomes.** Implementation: within a stage the tokens are held as
*rows*: each chromosome's run of n tokens is padded to ``ceil(n / window) * window`` rows,
so the regular windows are a reshape of the rows. Padding rows are masked out as keys,
attend to themselves only (a finite softmax) and are never read, so no real token depends
on them. The shifted block permutes each padded run cyclically by ``window // 2`` (Swin's
cyclic shift: slot t of a run of P rows holds row ``(t + window // 2) mod P``), runs, and
permutes back (Swin's shift back); the run's last window then holds the chromosome's end
and its start, and a two-segment mask keeps them apart (Swin's wrap-around mask). So the
shifted windows of a chromosome are its tokens ``[0, w/2), [w/2, w/2 + w), ...``. A
chromosome whose run fits one window is one window in both blocks (no shift; Swin does the
same when the map is not larger than the window); such short runs share windows, packed in
order while they fit, with the mask keeping them apart (the same computation as a padded
window each, without the padding: after two downsamplings most chromosomes are short,
and at the widest stage padding would dominate the cost). Row tables, masks, cM
differences and position encodings are built once per distinct ``index`` (a loop over
stages and chromosomes, in numpy) and cached for the default index; the attention is one
batched computation over all windows of all chromosomes. Row gathers have a backward that is a
gather too (exact: each token row is read by one slot; padding slots get zero gradient).

**Attention score** of query i and key j of a window, per head h::

    s_ij = q_i . k_j / sqrt(d_head)  +  (U_q p_i) . (U_k p_j)  +  rbf_bias(cm_i - cm_j)

- ``p`` is a sinusoidal encoding of the base-pair position, ``pos_dim`` values
  ``[sin(2 pi x / lambda_i), cos(2 pi x / lambda_i)]``, ``x = bp / 1e3`` (kb), with
  ``pos_dim / 2`` wavelengths geometric from 1 kb to 1e5 kb (100 Mb), computed in
  float64. ``W_p = U_q^T U_k`` is low-rank per head: ``U_q, U_k`` map ``pos_dim`` to
  ``d_head`` per head (``Linear(pos_dim, D)`` without bias), one pair per block; the term
  is not divided by ``sqrt(d_head)``.
- ``rbf_bias(stage, d) = sum_k w_k^{sign(d)} exp(-(|d| - mu_k)^2 / (2 sigma^2))`` per
  head (the paper's Eq. 9 lacks the minus sign; we use exp(-...)), with separate weight
  vectors ``rbf_pos`` for ``d >= 0`` (the query lies after the key, or at the same genetic
  position: the paper's Eq. 8 takes W+ for d >= 0) and ``rbf_neg`` for ``d < 0``. The
  weights are per stage, shared by its two blocks. ``n_rbf`` centres
  ``mu_k`` are evenly spaced on ``[0, c_max]`` (both ends), ``sigma`` = their spacing
  (``c_max`` when ``n_rbf = 1``). ``c_max`` of a stage is the largest ``|cm_i - cm_j|``
  between two tokens that may attend to each other in that stage's windows (regular or
  shifted) for the full layout, floored at 1e-6 cM, fixed at construction (buffer
  ``rbf_cmax``). Distances beyond it (sparser augmented layouts) fall on the tail of the
  last centre.
- ``U_q``, ``U_k`` and the RBF weights start as normal(0, 0.02): the two extra terms are
  small but nonzero at initialization.

**Attention pooling** (between stages): each chromosome's token run is split into
``ceil(n / pool)`` groups of ``pool`` consecutive tokens (the last one padded and masked);
tokens go through ``LayerNorm -> Linear(D_s, D_{s+1})`` and one learnable query per stage
(single head, normal(0, 0.02), so pooling starts near the mean) attends over the group's
real tokens with keys = values = the projected tokens. The new token's chromosome is the
group's; its bp and cm are the mean of the group's real tokens (they feed the next stage's
position and RBF terms). A chromosome left with fewer tokens than ``window`` is one window.

**Readout**: ``LayerNorm`` then single-head attention of ``n_queries`` learnable queries
(normal(0, 0.02)) with ``Linear`` keys and values over all last-stage tokens.

The layout tensors (chromosome, bp, cM) are non-persistent buffers: the caller rebuilds
the module with the same layout before loading weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gwasrep.errors import InputError, preview

__all__ = ["GeneticTransformer", "genetic_augment", "sinusoidal_position"]

#: Wavelengths of the position encoding, in kb: geometric from 1 kb to 100 Mb.
MIN_WAVELENGTH_KB = 1.0
MAX_WAVELENGTH_KB = 1e5
#: Floor of a stage's largest within-window genetic distance (cM).
MIN_CMAX = 1e-6
INIT_STD = 0.02


def sinusoidal_position(bp, dim: int) -> torch.Tensor:
    """Sinusoidal encoding ``(len(bp), dim)`` of base-pair positions, in float64.

    ``[sin(2 pi x / lambda_0), .., sin(2 pi x / lambda_{h-1}), cos(..) ..]`` with
    ``x = bp / 1e3`` and ``h = dim / 2`` wavelengths geometric from 1 kb to 1e5 kb.
    """
    x = torch.as_tensor(bp, dtype=torch.float64) / 1e3
    half = dim // 2
    ratio = torch.arange(half, dtype=torch.float64) / max(half - 1, 1)
    lam = MIN_WAVELENGTH_KB * (MAX_WAVELENGTH_KB / MIN_WAVELENGTH_KB) ** ratio
    if half == 1:
        lam = torch.tensor([MAX_WAVELENGTH_KB], dtype=torch.float64)
    angle = 2 * math.pi * x[:, None] / lam[None, :]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


# ------------------------------------------------------------------------------ layout


def _runs(chrom: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each chromosome's run in a sorted chromosome array."""
    cut = np.flatnonzero(np.diff(chrom)) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [len(chrom)]])
    return [(int(s), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def _padded_rows(chrom: np.ndarray, size: int):
    """Rows of a stage, in token order.

    A chromosome run of more than ``size`` tokens takes ``ceil(n / size) * size`` rows of
    its own (the padding at its end); shorter runs, one window each, are packed in order
    into shared windows of ``size`` rows while they fit (the window mask keeps them apart).
    Returns the token and the run of every row (-1 for padding) and the (first row, rows)
    of each long run (the runs the shifted block rolls).
    """
    tok, run_of, long_runs = [], [], []
    row = fill = 0  # fill: rows used in the open shared window

    def pad(k):
        nonlocal row
        tok.append(np.full(k, -1))
        run_of.append(np.full(k, -1))
        row += k

    for r, (start, n) in enumerate(_runs(chrom)):
        if n > size:
            if fill:
                pad(size - fill)
                fill = 0
            P = -(-n // size) * size
            long_runs.append((row, P))
        elif fill + n > size:
            pad(size - fill)
            fill = 0
        tok.append(np.arange(start, start + n))
        run_of.append(np.full(n, r))
        row += n
        if n > size:
            pad(P - n)
        else:
            fill = (fill + n) % size
    if fill:
        pad(size - fill)
    return np.concatenate(tok), np.concatenate(run_of), long_runs


@dataclass(frozen=True)
class _Windows:
    """One block's windows over a stage's rows (nW windows of W slots)."""

    perm: torch.Tensor | None  # (Lp,) row held by each slot (shifted block); None: in order
    inv: torch.Tensor | None  # (Lp,) slot of each row
    mask_t: torch.Tensor  # (nW, 1, W, W) bool: [n, 0, j, i] = query slot i may see key j
    dcm: torch.Tensor  # (nW, W, W) float32: [n, i, j] = cm_i - cm_j (0 where masked)
    pe: torch.Tensor  # (nW * W, pos_dim) position encoding of each slot (0 for padding)


@dataclass(frozen=True)
class _Stage:
    rows: torch.Tensor  # (L_s,) row of each token
    real: torch.Tensor  # (Lp_s,) bool: the row holds a token
    windows: tuple[_Windows, _Windows]  # regular, shifted


@dataclass(frozen=True)
class _Groups:
    """Pooling from stage s's rows to stage s+1's rows (one group per row)."""

    slots: torch.Tensor  # (Lp_{s+1} * pool,) stage-s row of each slot
    real: torch.Tensor  # (Lp_{s+1}, pool) bool: the slot takes part in the pooling
    inverse: torch.Tensor  # (Lp_s,) slot of each token row; Lp_{s+1} * pool for the others


@dataclass(frozen=True)
class _Layout:
    src: torch.Tensor  # (Lp_1,) column of codes of each stage-1 row (0 for padding)
    chrom: torch.Tensor  # (Lp_1,) chromosome id of each stage-1 row
    stages: tuple[_Stage, ...]
    groups: tuple[_Groups, ...]


def _to(obj, device):
    """A layout (nested dataclasses and tuples of tensors) on ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, tuple):
        return tuple(_to(o, device) for o in obj)
    if obj is None:
        return None
    return type(obj)(**{k: _to(v, device) for k, v in obj.__dict__.items()})


def _windows(tok, run_of, long_runs, cm, pe_rows, size: int, shift: int) -> _Windows:
    """Regular (``shift = 0``) or shifted windows over a stage's rows (see the module doc)."""
    Lp = len(tok)
    perm, wrap = np.arange(Lp), np.zeros(Lp, np.int64)
    for row, P in long_runs if shift else ():
        t = np.arange(P)
        perm[row:row + P] = row + (t + shift) % P
        wrap[row:row + P] = t + shift >= P  # the wrapped slots: the run's start
    slot_tok = tok[perm]
    real = (slot_tok >= 0).reshape(-1, size)
    seg = (2 * run_of[perm] + wrap).reshape(-1, size)  # one run, one side of the wrap
    mask = real[:, :, None] & real[:, None, :] & (seg[:, :, None] == seg[:, None, :])
    mask |= np.eye(size, dtype=bool)[None]  # a padding query sees itself only
    c = np.where(slot_tok >= 0, cm[slot_tok], 0.0).reshape(-1, size)
    dcm = np.where(mask, c[:, :, None] - c[:, None, :], 0.0)
    identity = not (shift and long_runs)
    return _Windows(None if identity else torch.from_numpy(perm),
                    None if identity else torch.from_numpy(np.argsort(perm)),
                    torch.from_numpy(mask.transpose(0, 2, 1)[:, None].copy()),
                    torch.from_numpy(dcm).float(), pe_rows[torch.from_numpy(perm)])


def _build_layout(chrom, bp, cm, *, window: int, pool: int, pos_dim: int,
                  n_stages: int) -> tuple[_Layout, list[float]]:
    """Rows, windows and pooling groups of every stage for tokens with these chromosome
    ids, bp and cm (numpy, sorted by chromosome); and each stage's largest |dcm| between
    two tokens that may attend to each other."""
    stages, groups, cmax = [], [], []
    src = chrom_rows = None
    for s in range(n_stages):
        tok, run_of, long_runs = _padded_rows(chrom, window)
        real = tok >= 0
        rows = np.flatnonzero(real)
        if s == 0:
            src = np.maximum(tok, 0)
            chrom_rows = chrom[src]
        pe = sinusoidal_position(np.where(real, bp[np.maximum(tok, 0)], 0.0), pos_dim)
        pe[~torch.from_numpy(real)] = 0.0
        pe = pe.float()
        pair = (_windows(tok, run_of, long_runs, cm, pe, window, 0),
                _windows(tok, run_of, long_runs, cm, pe, window, window // 2))
        stages.append(_Stage(torch.from_numpy(rows), torch.from_numpy(real), pair))
        cmax.append(max(float(w.dcm.abs().max()) for w in pair))
        if s == n_stages - 1:
            break
        # The next stage's tokens: groups of `pool` consecutive tokens per chromosome.
        members = []
        for start, n in _runs(chrom):
            m = -(-n // pool) * pool
            t = np.arange(m)
            members.append(np.where(t < n, start + t, -1).reshape(-1, pool))
        members = np.concatenate(members)  # (L_{s+1}, pool) stage-s tokens, -1 padding
        inside = members >= 0
        safe = np.maximum(members, 0)
        n_in = inside.sum(1)
        bp = np.where(inside, bp[safe], 0.0).sum(1) / n_in
        cm = np.where(inside, cm[safe], 0.0).sum(1) / n_in
        chrom = chrom[safe[:, 0]]
        tok_next = _padded_rows(chrom, window)[0]
        # Slots of each next-stage row: the rows of its group's tokens; a padding row
        # pools stage-s row 0 alone (finite, never read).
        slot_rows = np.zeros((len(tok_next), pool), np.int64)
        slot_real = np.zeros((len(tok_next), pool), bool)
        slot_real[:, 0] = True
        grp = tok_next >= 0
        slot_rows[grp] = rows[safe[tok_next[grp]]]
        slot_real[grp] = inside[tok_next[grp]]
        flat_rows, flat_real = slot_rows.ravel(), (slot_real & grp[:, None]).ravel()
        inverse = np.full(len(tok), flat_rows.size, np.int64)
        inverse[flat_rows[flat_real]] = np.flatnonzero(flat_real)
        groups.append(_Groups(torch.from_numpy(flat_rows), torch.from_numpy(slot_real),
                              torch.from_numpy(inverse)))
    layout = _Layout(torch.from_numpy(src), torch.from_numpy(chrom_rows), tuple(stages),
                     tuple(groups))
    return layout, cmax


# ------------------------------------------------------------------------------ modules


class _Gather(torch.autograd.Function):
    """``x.index_select(1, index)`` whose backward is a gather too: row r of the input
    takes the gradient of slot ``inverse[r]`` (a zero row where ``inverse[r]`` equals
    the number of slots). Exact when every row is gathered once (a permutation), or
    when its other slots carry zero gradient (masked padding, rows never read)."""

    @staticmethod
    def forward(ctx, x, index, inverse):
        ctx.save_for_backward(inverse)
        ctx.n_slots = index.numel()
        return x.index_select(1, index)

    @staticmethod
    def backward(ctx, grad):
        (inverse,) = ctx.saved_tensors
        if bool((inverse == ctx.n_slots).any()):
            grad = torch.cat([grad, grad.new_zeros(grad.shape[0], 1, *grad.shape[2:])], dim=1)
        return grad.index_select(1, inverse), None, None


class _WindowAttention(nn.Module):
    """Multi-head attention within windows, with the position and RBF terms."""

    def __init__(self, dim: int, heads: int, pos_dim: int):
        super().__init__()
        self.heads, self.d_head = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.pos_q = nn.Linear(pos_dim, dim, bias=False)
        self.pos_k = nn.Linear(pos_dim, dim, bias=False)
        nn.init.normal_(self.pos_q.weight, std=INIT_STD)
        nn.init.normal_(self.pos_k.weight, std=INIT_STD)

    def forward(self, x: torch.Tensor, win: _Windows, rbf: torch.Tensor) -> torch.Tensor:
        # Scores are laid out (key, query) so the softmax runs over a middle dimension
        # (several times faster on CPU than over a last dimension of W = 10).
        B, Lp, D = x.shape
        H, dh = self.heads, self.d_head
        nW, W = win.dcm.shape[:2]
        q, k, v = self.qkv(x).view(B, nW, W, 3, H, dh).permute(3, 0, 1, 4, 2, 5)
        pe = win.pe.to(x.dtype)
        pq = self.pos_q(pe).view(nW, W, H, dh).transpose(1, 2)
        pk = self.pos_k(pe).view(nW, W, H, dh).transpose(1, 2)
        bias = pk @ pq.transpose(-1, -2) + rbf.permute(0, 3, 2, 1)  # (nW, H, Wk, Wq)
        bias = bias.masked_fill(~win.mask_t, float("-inf"))
        q = q * (1.0 / math.sqrt(dh))  # also the copy matmul would make of the view
        scores = k @ q.transpose(-1, -2) + bias
        out = torch.softmax(scores, dim=-2).transpose(-1, -2) @ v  # (B, nW, H, Wq, dh)
        return self.proj(out.transpose(2, 3).reshape(B, Lp, D))


class _Block(nn.Module):
    """Pre-norm transformer block: LN -> window attention -> +; LN -> MLP (4x, GELU) -> +.

    With shifted windows the rows are permuted into window order first and back after
    (every step but the attention is per row).
    """

    def __init__(self, dim: int, heads: int, pos_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _WindowAttention(dim, heads, pos_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x, win: _Windows, rbf: torch.Tensor):
        if win.perm is not None:
            x = _Gather.apply(x, win.perm, win.inv)
        x = x + self.attn(self.norm1(x), win, rbf)
        x = x + self.mlp(self.norm2(x))
        if win.perm is not None:
            x = _Gather.apply(x, win.inv, win.perm)
        return x


class _AttentionDownsample(nn.Module):
    """One token per group of ``pool``: a learnable query attends over the group."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.norm = nn.LayerNorm(d_in)
        self.proj = nn.Linear(d_in, d_out)
        self.query = nn.Parameter(torch.randn(d_out) * INIT_STD)

    def forward(self, x: torch.Tensor, grp: _Groups) -> torch.Tensor:
        h = self.proj(self.norm(x))
        B, _, D = h.shape
        n_rows, P = grp.real.shape
        h = _Gather.apply(h, grp.slots, grp.inverse).view(B, n_rows, P, D)
        scores = (h @ self.query) * (1.0 / math.sqrt(D))
        a = torch.softmax(scores.masked_fill(~grp.real, float("-inf")), dim=-1)
        return (a.unsqueeze(-2) @ h).squeeze(-2)


class GeneticTransformer(nn.Module):
    """GIM's genotype encoder: ``(B, L)`` genotype codes -> ``(B, out_dim)``.

    Parameters
    ----------
    chrom, bp, cm
        ``(M,)`` chromosome codes (non-decreasing), base-pair positions and genetic
        positions (cM) of the SNPs, sorted by chromosome and position.
    out_dim
        Width of the embedding.
    window
        Tokens per attention window (the shifted block shifts by ``window // 2``); every
        chromosome needs at least ``window`` SNPs.
    heads
        Attention heads of every stage (divides every width in ``dims``).
    dims
        Widths of the three stages.
    pool
        Downsampling factor between stages (attention pooling over ``pool`` tokens).
    n_rbf
        RBF centres of the genetic-distance term.
    pos_dim
        Size of the sinusoidal base-pair encoding (even).
    n_queries
        Learnable readout queries.

    Notes
    -----
    See the module docstring for the architecture and every choice the paper leaves open.
    """

    def __init__(self, chrom, bp, cm, *, out_dim: int = 128, window: int = 10, heads: int = 4,
                 dims=(32, 64, 128), pool: int = 10, n_rbf: int = 16, pos_dim: int = 128,
                 n_queries: int = 4):
        super().__init__()
        chrom = np.asarray(torch.as_tensor(chrom).cpu().numpy()).astype(np.int64)
        bp = np.asarray(torch.as_tensor(bp).cpu().numpy()).astype(np.float64)
        cm = np.asarray(torch.as_tensor(cm).cpu().numpy()).astype(np.float64)
        dims = tuple(int(d) for d in dims)
        self._check(chrom, bp, cm, out_dim=out_dim, window=window, heads=heads, dims=dims,
                    pool=pool, n_rbf=n_rbf, pos_dim=pos_dim, n_queries=n_queries)
        self.n_snps = len(chrom)
        self.window, self.pool, self.heads, self.dims = int(window), int(pool), int(heads), dims
        self.pos_dim, self.n_rbf, self.out_dim = int(pos_dim), int(n_rbf), int(out_dim)
        codes = np.unique(chrom)
        self.chromosomes = [int(c) for c in codes]
        chrom_id = np.searchsorted(codes, chrom)
        self.register_buffer("chrom", torch.from_numpy(chrom), persistent=False)
        self.register_buffer("chrom_id", torch.from_numpy(chrom_id), persistent=False)
        self.register_buffer("bp", torch.from_numpy(bp.astype(np.int64)), persistent=False)
        self.register_buffer("cm", torch.from_numpy(cm), persistent=False)

        layout, cmax = _build_layout(chrom_id, bp, cm, window=self.window, pool=self.pool,
                                     pos_dim=self.pos_dim, n_stages=len(dims))
        self._layouts = {torch.device("cpu"): layout}
        cmax_t = torch.tensor([max(c, MIN_CMAX) for c in cmax], dtype=torch.float32)
        mu = cmax_t[:, None] * torch.linspace(0, 1, self.n_rbf)[None, :]
        sigma = cmax_t / (self.n_rbf - 1) if self.n_rbf > 1 else cmax_t.clone()
        self.register_buffer("rbf_cmax", cmax_t, persistent=False)
        self.register_buffer("rbf_mu", mu, persistent=False)
        self.register_buffer("rbf_sigma", sigma, persistent=False)

        self.code_embed = nn.Embedding(4, dims[0])
        self.chrom_embed = nn.Embedding(len(codes), dims[0])
        self.stages = nn.ModuleList(
            nn.ModuleList([_Block(d, heads, pos_dim), _Block(d, heads, pos_dim)]) for d in dims)
        self.downsample = nn.ModuleList(
            _AttentionDownsample(dims[s], dims[s + 1]) for s in range(len(dims) - 1))
        self.rbf_pos = nn.Parameter(torch.randn(len(dims), heads, self.n_rbf) * INIT_STD)
        self.rbf_neg = nn.Parameter(torch.randn(len(dims), heads, self.n_rbf) * INIT_STD)
        d_last = dims[-1]
        self.read_norm = nn.LayerNorm(d_last)
        self.read_k = nn.Linear(d_last, d_last)
        self.read_v = nn.Linear(d_last, d_last)
        self.read_q = nn.Parameter(torch.randn(n_queries, d_last) * INIT_STD)
        self.head = nn.Sequential(nn.LayerNorm(n_queries * d_last),
                                  nn.Linear(n_queries * d_last, out_dim))

    @staticmethod
    def _check(chrom, bp, cm, *, out_dim, window, heads, dims, pool, n_rbf, pos_dim,
               n_queries):
        if not (chrom.ndim == bp.ndim == cm.ndim == 1) or not (len(chrom) == len(bp)
                                                              == len(cm)):
            raise InputError(f"chrom, bp, cm: expected 1-D arrays of one length; found shapes "
                             f"{chrom.shape}, {bp.shape}, {cm.shape}")
        if len(chrom) == 0:
            raise InputError("chrom, bp, cm: expected at least one SNP; found none")
        down = np.flatnonzero(np.diff(chrom) < 0)
        if len(down):
            i = int(down[0]) + 1
            raise InputError(f"chrom: expected chromosome codes sorted non-decreasing (by "
                             f"chromosome, then position); found {chrom[i]} after "
                             f"{chrom[i - 1]} at SNP {i}")
        if not np.isfinite(cm).all() or not np.isfinite(bp).all():
            raise InputError(f"bp, cm: expected finite positions; found non-finite values at "
                             f"SNPs {preview(np.flatnonzero(~np.isfinite(cm + bp)))}")
        for name, value, lo in (("--window", window, 1), ("GeneticTransformer pool", pool, 1),
                                ("GeneticTransformer heads", heads, 1),
                                ("GeneticTransformer n_rbf", n_rbf, 1),
                                ("GeneticTransformer n_queries", n_queries, 1),
                                ("GeneticTransformer out_dim", out_dim, 1)):
            if int(value) != value or value < lo:
                raise InputError(f"{name}: expected an integer >= {lo}; found {value}")
        if len(dims) != 3 or any(d < 1 or d % heads for d in dims):
            raise InputError(f"GeneticTransformer dims: expected three widths divisible by "
                             f"heads = {heads}; found {dims}")
        if pos_dim < 2 or pos_dim % 2:
            raise InputError(f"GeneticTransformer pos_dim: expected an even integer >= 2; "
                             f"found {pos_dim}")
        codes, counts = np.unique(chrom, return_counts=True)
        for c, n in zip(codes, counts, strict=True):
            if n < window:
                raise InputError(f"--window {window}: chromosome {c} has only {n} SNPs; "
                                 f"expected at least {window} per chromosome (a smaller "
                                 f"--window, or drop the chromosome)")

    # ------------------------------------------------------------------ layout

    def _layout(self, L: int, index: torch.Tensor | None) -> _Layout:
        device = self.bp.device
        if index is not None:
            index = torch.as_tensor(index)
            if index.dim() != 1 or index.dtype.is_floating_point or index.dtype == torch.bool:
                raise InputError(f"index: expected a 1-D integer tensor; found dtype "
                                 f"{index.dtype}, shape {tuple(index.shape)}")
            if len(index) != L:
                raise InputError(f"index: expected one entry per column of codes ({L}); "
                                 f"found {len(index)}")
            if L == 0:
                raise InputError("index: expected at least one SNP; found none")
            index = index.to(device=device, dtype=torch.int64)
            if index[0] < 0 or index[-1] >= self.n_snps:
                raise InputError(f"index: expected positions in 0..{self.n_snps - 1}; found "
                                 f"{int(index.min())}..{int(index.max())}")
            if L > 1 and not bool((index[1:] > index[:-1]).all()):
                raise InputError("index: expected strictly increasing positions; found a "
                                 "decrease or a repeat")
            if L == self.n_snps:
                index = None  # an increasing index of M distinct positions is arange(M)
        elif L != self.n_snps:
            raise InputError(f"codes: expected {self.n_snps} columns (one per SNP), or an "
                             f"index; found {L}")
        if index is None:
            if device not in self._layouts:
                self._layouts[device] = _to(self._layouts[torch.device("cpu")], device)
            return self._layouts[device]
        idx = index.cpu().numpy()
        layout, _ = _build_layout(self.chrom_id.cpu().numpy()[idx],
                                  self.bp.cpu().numpy()[idx].astype(np.float64),
                                  self.cm.cpu().numpy()[idx], window=self.window,
                                  pool=self.pool, pos_dim=self.pos_dim, n_stages=len(self.dims))
        return _to(layout, device)

    # ------------------------------------------------------------------ terms

    def rbf_bias(self, stage: int, dcm: torch.Tensor) -> torch.Tensor:
        """RBF bias ``(..., heads)`` of signed genetic-distance differences ``dcm`` (cM).

        ``sum_k w_k exp(-(|dcm| - mu_k)^2 / (2 sigma^2))`` with ``w = rbf_pos[stage]`` where
        ``dcm >= 0`` (the paper's Eq. 8) and ``rbf_neg[stage]`` where ``dcm < 0``. ``stage``
        counts from 0.
        """
        if not 0 <= stage < len(self.dims):
            raise InputError(f"rbf_bias stage: expected 0..{len(self.dims) - 1}; found {stage}")
        d = dcm.to(self.rbf_mu.dtype).unsqueeze(-1)
        phi = torch.exp(-(d.abs() - self.rbf_mu[stage]) ** 2
                        / (2 * self.rbf_sigma[stage] ** 2))
        pos = phi @ self.rbf_pos[stage].T
        neg = phi @ self.rbf_neg[stage].T
        return torch.where(d >= 0, pos, neg)  # the paper's Eq. 8: W+ for d >= 0

    # ------------------------------------------------------------------ forward

    def _run(self, codes: torch.Tensor, index, keep: bool):
        if codes.dim() != 2 or codes.dtype.is_floating_point or codes.dtype == torch.bool:
            raise InputError(f"codes: expected a (B, L) integer tensor; found dtype "
                             f"{codes.dtype}, shape {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) > 3):
            raise InputError(f"codes: expected genotype codes 0, 1, 2 or 3 (missing); found "
                             f"values {int(codes.min())}..{int(codes.max())}")
        layout = self._layout(codes.shape[1], index)
        codes = codes.long().index_select(1, layout.src)
        x = self.code_embed(codes) + self.chrom_embed(layout.chrom)[None]
        outs = []
        for s, (blocks, stage) in enumerate(zip(self.stages, layout.stages, strict=True)):
            for block, win in zip(blocks, stage.windows, strict=True):
                x = block(x, win, self.rbf_bias(s, win.dcm))
            if keep:
                outs.append(x.index_select(1, stage.rows))
            if s < len(self.downsample):
                x = self.downsample[s](x, layout.groups[s])
        return x, layout.stages[-1].real, outs

    def forward_tokens(self, codes: torch.Tensor,
                       index: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Token outputs of every stage, ``[(B, L_1, dims[0]), (B, L_2, dims[1]), ..]``.

        Stage 1 has one token per column of ``codes``; each later stage one per pooling
        group (per chromosome, in order). Before the readout nothing mixes chromosomes.
        """
        return self._run(codes, index, keep=True)[2]

    def forward(self, codes: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """Embeddings ``(B, out_dim)`` of genotype codes ``(B, L)`` at SNPs ``index``."""
        x, real, _ = self._run(codes, index, keep=False)
        h = self.read_norm(x)
        scores = self.read_k(h) @ self.read_q.T * (1.0 / math.sqrt(h.shape[-1]))
        a = torch.softmax(scores.masked_fill(~real[:, None], float("-inf")), dim=1)
        out = torch.einsum("blq,bld->bqd", a, self.read_v(h))
        return self.head(out.reshape(out.shape[0], -1))


def genetic_augment(n_snps: int, g: torch.Generator, *, crop_p: float = 0.2,
                    downsample_p: float = 0.8, length: int | None = None) -> torch.Tensor:
    """An increasing int64 index into ``n_snps`` SNPs: a crop, an even downsampling, or all.

    One uniform draw ``u`` from ``g`` picks the view: ``u < crop_p`` a contiguous crop of
    ``length`` SNPs at a random start; ``crop_p <= u < crop_p + downsample_p`` (probability
    ``downsample_p / (1 - crop_p)`` given no crop) the even downsampling
    ``floor(offset + k * n_snps / length)``, ``k = 0..length-1``, with ``offset`` uniform on
    ``[0, n_snps / length)``; else the identity. Every draw comes from ``g``.

    Parameters
    ----------
    n_snps
        SNPs in the full sequence.
    g
        The random generator (CPU).
    crop_p, downsample_p
        Probabilities of the crop and of the downsampling (their sum at most 1).
    length
        SNPs kept (default ``n_snps // 2``, at least 1); ``length >= n_snps`` gives the
        identity without drawing.
    """
    if int(n_snps) != n_snps or n_snps < 1:
        raise InputError(f"genetic_augment n_snps: expected an integer >= 1; found {n_snps}")
    for name, p in (("--crop-p", crop_p), ("--downsample-p", downsample_p)):
        if not 0.0 <= p <= 1.0:
            raise InputError(f"{name}: expected a probability in [0, 1]; found {p}")
    if crop_p + downsample_p > 1.0 + 1e-12:
        raise InputError(f"--crop-p {crop_p} and --downsample-p {downsample_p}: expected a sum "
                         f"of at most 1; found {crop_p + downsample_p:g}")
    if length is None:
        length = max(1, n_snps // 2)
    if int(length) != length or length < 1:
        raise InputError(f"--downsample-length: expected an integer >= 1; found {length}")
    n_snps, length = int(n_snps), int(length)
    if length >= n_snps:
        return torch.arange(n_snps)
    u = float(torch.rand((), generator=g, dtype=torch.float64))
    if u < crop_p:
        start = int(torch.randint(0, n_snps - length + 1, (), generator=g))
        return torch.arange(start, start + length)
    if u < crop_p + downsample_p:
        step = n_snps / length
        offset = float(torch.rand((), generator=g, dtype=torch.float64)) * step
        k = torch.arange(length, dtype=torch.float64)
        # The clamp only guards float rounding at the last index (the true value is < n).
        return torch.floor(offset + k * step).long().clamp_(max=n_snps - 1)
    return torch.arange(n_snps)
