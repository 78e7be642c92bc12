"""GIM's genetics-informed transformer and its augmentation (gwasrep.models.gim_encoder).

The vectorized encoder is checked against a loop-over-windows reference written from the
module's documented definition (windows per chromosome, Swin's shift as separate segments,
no padding, no masks); then exact properties: permutation invariance without the position
terms, the sign split of the RBF term, chromosome independence before the readout, the
errors, the augmentation's law, gradients and determinism.
"""

from __future__ import annotations

import copy
import math
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gwasrep.errors import InputError
from helpers import require_torch

torch = require_torch()

from gwasrep.models.gim_encoder import (  # noqa: E402
    GeneticTransformer,
    genetic_augment,
    sinusoidal_position,
)

SMALL = dict(dims=(8, 16, 32), heads=2, pos_dim=16, n_rbf=4, out_dim=8)


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one thread is as fast, and immune to OpenMP stalls on shared cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _snps(sizes, seed=0):
    """chrom, bp, cm for chromosomes 1..K of these sizes: random gaps and local rates."""
    g = torch.Generator().manual_seed(seed)
    chrom = torch.repeat_interleave(torch.arange(1, len(sizes) + 1), torch.tensor(sizes))
    bp, cm = [], []
    for n in sizes:
        gaps = torch.randint(500, 20_000, (n,), generator=g)
        rate = 0.2 + 3 * torch.rand(n, generator=g, dtype=torch.float64)  # cM per Mb
        bp.append(torch.cumsum(gaps, 0))
        cm.append(torch.cumsum(gaps * rate / 1e6, 0))
    return chrom, torch.cat(bp), torch.cat(cm)


def _model(sizes, seed=0, **kw):
    torch.manual_seed(seed)
    return GeneticTransformer(*_snps(sizes, seed), **{**SMALL, **kw})


def _codes(B, M, seed=0):
    return torch.randint(0, 4, (B, M), generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ loop reference


def _segments(chrom: list[int], size: int, shift: int) -> list[list[int]]:
    """Windows (token lists) per chromosome run; shifted: [0, shift), then every `size`."""
    segs, start = [], 0
    while start < len(chrom):
        n = 1
        while start + n < len(chrom) and chrom[start + n] == chrom[start]:
            n += 1
        if shift and n > size:
            cuts = [0, *range(shift, n, size)]
        else:
            cuts = list(range(0, n, size))
        bounds = [*cuts, n]
        segs += [list(range(start + a, start + b))
                 for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        start += n
    return segs


def _pe(bp, dim):
    x = bp.double() / 1e3
    half = dim // 2
    lam = torch.tensor([1e5 ** (i / (half - 1)) for i in range(half)], dtype=torch.float64)
    angle = 2 * math.pi * x[:, None] / lam
    return torch.cat([torch.sin(angle), torch.cos(angle)], 1).float()


def _rbf(m, s, d):
    """The RBF bias by its formula: centres k * c / (n - 1), sigma = c / (n - 1)."""
    c, n = float(m.rbf_cmax[s]), m.n_rbf
    mu = torch.tensor([k * c / (n - 1) for k in range(n)])
    phi = torch.exp(-(d.abs()[..., None] - mu) ** 2 / (2 * (c / (n - 1)) ** 2))
    wp, wn = phi @ m.rbf_pos[s].T, phi @ m.rbf_neg[s].T
    dd = d[..., None]
    return torch.where(dd >= 0, wp, wn)


def _ref_block(m, s, block, x, segs, pe, cm):
    B, L, D = x.shape
    H = m.heads
    dh = D // H
    qkv = block.attn.qkv(block.norm1(x)).view(B, L, 3, H, dh)
    pq, pk = block.attn.pos_q(pe).view(L, H, dh), block.attn.pos_k(pe).view(L, H, dh)
    att = torch.zeros(B, L, H, dh)
    for seg in segs:
        t = torch.tensor(seg)
        q, k, v = qkv[:, t, 0], qkv[:, t, 1], qkv[:, t, 2]
        sc = (torch.einsum("bihd,bjhd->bhij", q, k) / math.sqrt(dh)
              + torch.einsum("ihd,jhd->hij", pq[t], pk[t])
              + _rbf(m, s, (cm[t][:, None] - cm[t][None, :]).float()).permute(2, 0, 1))
        att[:, t] = torch.einsum("bhij,bjhd->bihd", torch.softmax(sc, -1), v)
    x = x + block.attn.proj(att.reshape(B, L, D))
    return x + block.mlp(block.norm2(x))


def _reference(m, codes, index=None):
    """Stage token outputs and the embedding, one window at a time."""
    index = torch.arange(m.n_snps) if index is None else index
    chrom = m.chrom_id[index]
    bp, cm = m.bp[index].double(), m.cm[index].double()
    x = m.code_embed(codes) + m.chrom_embed(chrom)[None]
    W = m.window
    tokens = []
    for s in range(3):
        pe = _pe(bp, m.pos_dim)
        for block, shift in zip(m.stages[s], (0, W // 2), strict=True):
            x = _ref_block(m, s, block, x, _segments(chrom.tolist(), W, shift), pe, cm)
        tokens.append(x)
        if s == 2:
            break
        ds = m.downsample[s]
        h = ds.proj(ds.norm(x))
        pooled, nbp, ncm, nchrom = [], [], [], []
        for g in _segments(chrom.tolist(), m.pool, 0):
            hg = h[:, g]
            a = torch.softmax(hg @ ds.query / math.sqrt(h.shape[-1]), dim=1)
            pooled.append((a[..., None] * hg).sum(1))
            nbp.append(bp[g].mean())
            ncm.append(cm[g].mean())
            nchrom.append(int(chrom[g[0]]))
        x = torch.stack(pooled, 1)
        bp, cm, chrom = torch.stack(nbp), torch.stack(ncm), torch.tensor(nchrom)
    h = m.read_norm(x)
    a = torch.softmax(m.read_k(h) @ m.read_q.T / math.sqrt(h.shape[-1]), dim=1)
    out = torch.einsum("blq,bld->bqd", a, m.read_v(h)).reshape(len(codes), -1)
    return tokens, m.head(out)


@pytest.mark.parametrize(("sizes", "window", "pool"), [
    ((23, 37, 14), 4, 3), ((23, 37, 14), 5, 2), ((103, 97), 10, 10),
    ((4, 6, 5, 30, 4, 9), 4, 3),  # short chromosomes sharing windows at every stage
])
def test_matches_loop_reference(sizes, window, pool):
    m = _model(sizes, window=window, pool=pool)
    M = sum(sizes)
    codes = _codes(3, M)
    # Full layout; a crop leaving chromosome 1 with fewer SNPs than a window and dropping
    # the last; an even downsampling.
    for index in (None, torch.arange(20, 50), torch.arange(1, M, 3)):
        cols = codes if index is None else codes[:, index]
        with torch.no_grad():
            want_tokens, want = _reference(m, cols, index)
            got_tokens = m.forward_tokens(cols, index)
            got = m(cols, index)
        for w, g in zip(want_tokens, got_tokens, strict=True):
            assert g.shape == w.shape
            torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_gradients_match_loop_reference():
    """The row gathers' custom backward (padding rows get no gradient) is exact."""
    sizes = (23, 37, 14)
    m = _model(sizes, window=4, pool=3)
    codes = _codes(3, sum(sizes))
    for index in (None, torch.arange(20, 50)):
        cols = codes if index is None else codes[:, index]
        grads = []
        for reference in (False, True):
            m.zero_grad()
            out = _reference(m, cols, index)[1] if reference else m(cols, index)
            (out ** 2).sum().backward()
            grads.append({k: p.grad.clone() for k, p in m.named_parameters()
                          if p.grad is not None})
        assert grads[0].keys() == grads[1].keys()
        assert "rbf_neg" in grads[0]
        assert "stages.1.1.attn.pos_k.weight" in grads[0]
        for k, g in grads[0].items():
            torch.testing.assert_close(g, grads[1][k], atol=1e-5, rtol=1e-4, msg=k)


def test_position_encoding_and_cmax_follow_the_docs():
    sizes = (103, 97)
    m = _model(sizes)
    chrom, bp, cm = _snps(sizes)
    # c_max of stage 1: the largest within-window cM span, regular or shifted windows.
    spans = [float(cm[w].max() - cm[w].min()) for shift in (0, 5)
             for w in _segments(chrom.tolist(), 10, shift)]
    assert float(m.rbf_cmax[0]) == pytest.approx(max(spans), rel=1e-6)
    enc = sinusoidal_position(torch.tensor([0, 250, 1_000_000]), 8)
    lam = [1.0, 1e5 ** (1 / 3), 1e5 ** (2 / 3), 1e5]  # kb
    assert enc[1, 0].item() == pytest.approx(math.sin(2 * math.pi * 0.25 / lam[0]))
    assert enc[2, 5].item() == pytest.approx(math.cos(2 * math.pi * 1000 / lam[1]))
    assert enc[0].tolist() == [0.0] * 4 + [1.0] * 4


# ------------------------------------------------------------------ permutation property


def _zero_stage1_terms(m):
    with torch.no_grad():
        for block in m.stages[0]:
            block.attn.pos_q.weight.zero_()
            block.attn.pos_k.weight.zero_()
        m.rbf_pos[0].zero_()
        m.rbf_neg[0].zero_()


@settings(derandomize=True, max_examples=10, deadline=None)
@given(chrom=st.integers(0, 1), block=st.integers(0, 18), perm=st.permutations(range(5)),
       seed=st.integers(0, 1000))
def test_permutation_within_an_aligned_block(chrom, block, perm, seed):
    """Without stage 1's position and RBF terms, permuting the tokens of a half-window
    block that lies in one regular window, one shifted window and one pooling group
    permutes stage 1's outputs the same way and leaves everything after unchanged; with
    those terms (positions stay with their slots) the output changes."""
    sizes = (103, 97)
    W, half = 10, 5
    rel = half * block  # inside the chromosome: 5 * 18 + 5 <= 97
    assert rel + half <= sizes[chrom]
    rel_slots = range(rel, rel + half)
    assert len({t // W for t in rel_slots}) == 1  # one regular window
    assert len({(t - half) // W for t in rel_slots}) == 1  # one shifted window ([0, 5): -1)
    assert len({t // 10 for t in rel_slots}) == 1  # one pooling group (pool = 10)
    cols = torch.arange(rel, rel + half) + (sizes[0] if chrom else 0)
    perm = torch.tensor(perm)
    codes = _codes(3, sum(sizes), seed)
    permuted = codes.clone()
    permuted[:, cols] = codes[:, cols[perm]]
    assume(not torch.equal(permuted, codes))

    m = _model(sizes, seed=seed % 7)
    with torch.no_grad():
        ref_md = copy.deepcopy(m).double()
        _zero_stage1_terms(m)
        a, b = m.forward_tokens(codes), m.forward_tokens(permuted)
        out_a, out_b = m(codes), m(permuted)
        # Stage 1 is equivariant: slot t of the permuted input holds token perm[t].
        torch.testing.assert_close(b[0][:, cols], a[0][:, cols[perm]], atol=1e-5, rtol=0)
        others = torch.ones(sum(sizes), dtype=torch.bool)
        others[cols] = False
        torch.testing.assert_close(b[0][:, others], a[0][:, others], atol=1e-5, rtol=0)
        for x, y in zip(a[1:], b[1:], strict=True):
            torch.testing.assert_close(y, x, atol=1e-5, rtol=0)
        torch.testing.assert_close(out_b, out_a, atol=1e-5, rtol=0)
        # With the position and RBF terms (float64: far from rounding) it changes.
        s1 = ref_md.forward_tokens(codes)[0][:, cols[perm]]
        s1p = ref_md.forward_tokens(permuted)[0][:, cols]
        assert (s1 - s1p).abs().max() > 1e-4
        assert (ref_md(codes) - ref_md(permuted)).abs().max() > 1e-9


# ------------------------------------------------------------------ RBF term


def test_rbf_bias_sign_split_and_hand_value():
    m = _model((103, 97))
    c = float(m.rbf_cmax[1])
    dcm = torch.tensor([-1.3 * c, -0.4 * c, -1e-3 * c, 0.0, 1e-3 * c, 0.37 * c, c, 2.0 * c])
    with torch.no_grad():
        b = m.rbf_bias(1, dcm)
        assert b.shape == (8, m.heads)
        swapped = copy.deepcopy(m)
        swapped.rbf_pos.copy_(m.rbf_neg)
        swapped.rbf_neg.copy_(m.rbf_pos)
        nz = dcm != 0  # swapping the weights mirrors every nonzero difference
        torch.testing.assert_close(swapped.rbf_bias(1, -dcm)[nz], b[nz], atol=0, rtol=0)
        # dcm >= 0 reads rbf_pos only (the paper's Eq. 8), dcm < 0 rbf_neg only.
        only_pos = copy.deepcopy(m)
        only_pos.rbf_neg.zero_()
        bp = only_pos.rbf_bias(1, dcm)
        torch.testing.assert_close(bp[dcm >= 0], b[dcm >= 0], atol=0, rtol=0)
        assert bool((bp[dcm < 0] == 0).all())
        only_neg = copy.deepcopy(m)
        only_neg.rbf_pos.zero_()
        bn = only_neg.rbf_bias(1, dcm)
        torch.testing.assert_close(bn[dcm < 0], b[dcm < 0], atol=0, rtol=0)
        assert bool((bn[dcm >= 0] == 0).all())
    # One value by hand: d = 0.37 c, head 1, stage 2 (index 1).
    w_pos, w_neg = m.rbf_pos.detach(), m.rbf_neg.detach()
    n = m.n_rbf
    sigma = c / (n - 1)
    want = sum(float(w_pos[1, 1, k]) * math.exp(-(0.37 * c - k * sigma) ** 2
                                                    / (2 * sigma ** 2)) for k in range(n))
    assert b[5, 1].item() == pytest.approx(want, rel=1e-5, abs=1e-8)
    want_neg = sum(float(w_neg[1, 0, k]) * math.exp(-(0.4 * c - k * sigma) ** 2
                                                        / (2 * sigma ** 2)) for k in range(n))
    assert b[1, 0].item() == pytest.approx(want_neg, rel=1e-5, abs=1e-8)
    want_zero = sum(float(w_pos[1, 0, k]) * math.exp(-(k * sigma) ** 2 / (2 * sigma ** 2))
                    for k in range(n))
    assert b[3, 0].item() == pytest.approx(want_zero, rel=1e-5, abs=1e-8)
    with pytest.raises(InputError, match="stage"):
        m.rbf_bias(3, dcm)


# ------------------------------------------------------------------ chromosomes


def test_windows_and_pooling_never_cross_chromosomes():
    """Chromosome 1 (15 SNPs: a padded run) keeps its token outputs at every stage when
    chromosome 2's codes change; chromosome 2's tokens and the readout do change."""
    sizes = (15, 25)
    m = _model(sizes)
    codes = _codes(4, 40)
    other = codes.clone()
    other[:, 15:] = (codes[:, 15:] + 1) % 4
    with torch.no_grad():
        a, b = m.forward_tokens(codes), m.forward_tokens(other)
        out_a, out_b = m(codes), m(other)
    n1 = [15, 2, 1]  # chromosome 1's tokens per stage: 15, ceil(15 / 10), ceil(2 / 10)
    assert [x.shape[1] for x in a] == [40, 2 + 3, 1 + 1]
    for x, y, n in zip(a, b, n1, strict=True):
        assert torch.equal(x[:, :n], y[:, :n])
        assert (x[:, n:] - y[:, n:]).abs().min() > 0
    assert (out_a - out_b).abs().max() > 1e-4


def test_shifted_window_does_not_wrap_around_a_chromosome():
    """One chromosome of 40 SNPs, window 10: after stage 1 token t depends on tokens
    [0, 10) for t < 5 (regular [0, 10), then the shifted segment [0, 5)) and tokens
    25..39 are the only ones that see tokens 30..39. Without the wrap-around mask the
    shifted window [35, 40) + [0, 5) would make tokens 0..4 see them."""
    m = _model((40,))
    codes = _codes(3, 40)
    other = codes.clone()
    other[:, 30:] = (codes[:, 30:] + 2) % 4
    with torch.no_grad():
        a, b = m.forward_tokens(codes)[0], m.forward_tokens(other)[0]
    assert torch.equal(a[:, :25], b[:, :25])
    assert (a[:, 25:] - b[:, 25:]).abs().amax(dim=(0, 2)).min() > 0


# ------------------------------------------------------------------ errors


def test_construction_errors():
    chrom, bp, cm = _snps((12, 7))
    msg = ("--window 10: chromosome 2 has only 7 SNPs; expected at least 10 per chromosome "
           "(a smaller --window, or drop the chromosome)")
    with pytest.raises(InputError, match=re.escape(msg)):
        GeneticTransformer(chrom, bp, cm, window=10)
    GeneticTransformer(chrom, bp, cm, window=7, **SMALL)  # fits
    unsorted = chrom.clone()
    unsorted[[3, 15]] = unsorted[[15, 3]]
    with pytest.raises(InputError, match=r"chrom: expected chromosome codes sorted .* found 1 "
                                         r"after 2 at SNP 4"):
        GeneticTransformer(unsorted, bp, cm, window=5)
    with pytest.raises(InputError, match=r"chrom, bp, cm: .*one length.*\(19,\), \(19,\), "
                                         r"\(18,\)"):
        GeneticTransformer(chrom, bp, cm[:-1], window=5)
    with pytest.raises(InputError, match="dims"):
        GeneticTransformer(chrom, bp, cm, window=5, dims=(8, 16, 30), heads=4)


def test_forward_errors():
    m = _model((20, 20), window=5)
    codes = _codes(2, 40)
    with pytest.raises(InputError, match=r"codes: expected genotype codes 0, 1, 2 or 3"):
        m(codes + 1)
    with pytest.raises(InputError, match=r"codes: expected 40 columns"):
        m(codes[:, :30])
    with pytest.raises(InputError, match="strictly increasing"):
        m(codes[:, :3], torch.tensor([4, 2, 9]))
    with pytest.raises(InputError, match=r"positions in 0\.\.39; found 38\.\.40"):
        m(codes[:, :2], torch.tensor([38, 40]))
    with pytest.raises(InputError, match="one entry per column"):
        m(codes[:, :3], torch.tensor([1, 2]))


# ------------------------------------------------------------------ augmentation


def _kind(idx, n, length):
    d = torch.diff(idx)
    if len(idx) == n:
        return "identity"
    assert len(idx) == length
    return "crop" if bool((d == 1).all()) else "downsample"


def test_genetic_augment_law():
    n, length, draws = 100, 30, 4000
    g = torch.Generator().manual_seed(5)
    counts = {"crop": 0, "downsample": 0, "identity": 0}
    step = n / length
    for _ in range(draws):
        idx = genetic_augment(n, g, crop_p=0.3, downsample_p=0.5, length=length)
        assert idx.dtype == torch.int64
        assert int(idx.min()) >= 0
        assert int(idx.max()) < n
        assert bool((torch.diff(idx) > 0).all())
        kind = _kind(idx, n, length)
        counts[kind] += 1
        if kind == "crop":
            assert 0 <= int(idx[0]) <= n - length
        elif kind == "downsample":
            # idx_k = floor(o + k n / length) for one o in [0, n / length): the intervals
            # [idx_k - k step, idx_k - k step + 1) of o meet inside [0, step).
            shifted = idx.double() - torch.arange(length, dtype=torch.float64) * step
            lo, hi = float(shifted.max()), float(shifted.min()) + 1
            assert max(lo, 0.0) < min(hi, step)
            assert set(torch.diff(idx).tolist()) <= {math.floor(step), math.ceil(step)}
        else:
            assert torch.equal(idx, torch.arange(n))
    for kind, p in (("crop", 0.3), ("downsample", 0.5), ("identity", 0.2)):
        sd = math.sqrt(p * (1 - p) / draws)
        assert abs(counts[kind] / draws - p) < 4 * sd, (kind, counts)


def test_genetic_augment_determinism_and_edges():
    a = [genetic_augment(57, g) for g in [torch.Generator().manual_seed(3)] for _ in range(20)]
    g = torch.Generator().manual_seed(3)
    b = [genetic_augment(57, g) for _ in range(20)]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert {len(x) for x in a} == {28}  # default length n // 2; crop 0.2 + downsample 0.8
    g = torch.Generator().manual_seed(0)
    assert all(_kind(genetic_augment(50, g, crop_p=1.0, downsample_p=0.0), 50, 25) == "crop"
               for _ in range(20))
    assert all(_kind(genetic_augment(50, g, crop_p=0.0, downsample_p=1.0), 50, 25)
               == "downsample" for _ in range(20))
    assert torch.equal(genetic_augment(50, g, length=50), torch.arange(50))
    assert torch.equal(genetic_augment(50, g, length=80), torch.arange(50))
    with pytest.raises(InputError, match=r"--crop-p 0\.5 and --downsample-p 0\.8"):
        genetic_augment(50, g, crop_p=0.5, downsample_p=0.8)
    with pytest.raises(InputError, match="--downsample-length"):
        genetic_augment(50, g, length=0)


# ------------------------------------------------------------------ training readiness


def test_shape_gradients_augmented_index_and_determinism():
    sizes = (250, 260)
    chrom, bp, cm = _snps(sizes)
    torch.manual_seed(0)
    m = GeneticTransformer(chrom, bp, cm)  # the defaults
    torch.manual_seed(0)
    twin = GeneticTransformer(chrom, bp, cm)
    codes = _codes(4, sum(sizes))
    out = m(codes)
    assert out.shape == (4, 128)
    assert torch.equal(out, twin(codes))
    assert torch.equal(m(codes, torch.arange(sum(sizes))), out)
    (out ** 2).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        assert bool(p.grad.abs().sum() > 0), name
    for s in range(3):  # both signs of every stage's RBF weights, every head
        assert bool((m.rbf_pos.grad[s].abs().sum(1) > 0).all())
        assert bool((m.rbf_neg.grad[s].abs().sum(1) > 0).all())
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        idx = genetic_augment(sum(sizes), g, crop_p=0.5, downsample_p=0.5)
        aug = m(codes[:, idx], idx)
        assert aug.shape == (4, 128)
        assert bool(torch.isfinite(aug).all())
        assert torch.equal(aug, twin(codes[:, idx], idx))
