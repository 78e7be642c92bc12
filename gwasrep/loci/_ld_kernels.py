"""numba kernels for pairwise LD and greedy clumping.

Genotypes are int8 A1 counts (0, 1, 2; -1 missing), one row per variant.
Pairs use the samples with both calls present.

``em_r2`` is r^2 from maximum-likelihood two-locus haplotype frequencies given
the 3 x 3 genotype table (PLINK 1.9's default for ``--clump``): every cell but
the double heterozygote has known haplotypes; the fraction ``phi`` of double
heterozygotes in the AB/ab phase solves the cubic

    phi (b + h - h phi)(c + h - h phi) = (1 - phi)(a + h phi)(d + h phi)

(a, b, c, d: known AB, Ab, aB, ab haplotype counts; h: double heterozygotes),
whose real roots in [0, 1] are found by bisection between the cubic's
critical points; the root with the highest likelihood wins.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["AOT_SIGNATURES", "clump_greedy", "clump_packed", "em_r2_from_table",
           "genotype_bits", "genotype_table", "packed_bits", "packed_rows_bits", "pair_r2",
           "table_r2"]


@intrinsic
def _popcount(typingctx, x):  # pragma: no cover - compiled
    """LLVM's ctpop on a uint64 (one instruction on x86-64 with POPCNT)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@njit(cache=True, nogil=True)
def genotype_bits(geno):  # pragma: no cover - compiled
    """Bit planes of int8 genotypes: (n_var, 3, n_words) uint64 for g == 2, g == 1, called."""
    n_var, n = geno.shape
    W = (n + 63) // 64
    bits = np.zeros((n_var, 3, W), dtype=np.uint64)
    for v in range(n_var):
        for i in range(n):
            g = geno[v, i]
            if g < 0:
                continue
            w = i >> 6
            bit = np.uint64(1) << np.uint64(i & 63)
            bits[v, 2, w] |= bit
            if g == 2:
                bits[v, 0, w] |= bit
            elif g == 1:
                bits[v, 1, w] |= bit
    return bits


_EVEN = np.uint64(0x5555555555555555)


@njit(cache=True, inline="always")
def _even_bits(x):  # pragma: no cover - compiled
    """The 32 even bits of ``x`` packed into the low half (bit 2k -> bit k)."""
    x &= _EVEN
    x = (x | (x >> np.uint64(1))) & np.uint64(0x3333333333333333)
    x = (x | (x >> np.uint64(2))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    x = (x | (x >> np.uint64(4))) & np.uint64(0x00FF00FF00FF00FF)
    x = (x | (x >> np.uint64(8))) & np.uint64(0x0000FFFF0000FFFF)
    return (x | (x >> np.uint64(16))) & np.uint64(0x00000000FFFFFFFF)


@njit(cache=True, inline="always")
def _load64(row, b0, bpv):  # pragma: no cover - compiled
    """Bytes ``row[b0:b0 + 8]`` as a little-endian uint64 (zero past ``bpv``)."""
    x = np.uint64(0)
    if b0 + 8 <= bpv:
        for k in range(8):
            x |= np.uint64(row[b0 + k]) << np.uint64(8 * k)
    else:
        for k in range(max(0, bpv - b0)):
            x |= np.uint64(row[b0 + k]) << np.uint64(8 * k)
    return x


@njit(cache=True, nogil=True)
def packed_bits(packed, dest, sample_idx, all_samples, bits):  # pragma: no cover - compiled
    """Bit planes straight from packed .bed rows, as :func:`genotype_bits` builds them:
    :func:`packed_rows_bits` of every row of ``packed`` in order."""
    src = np.arange(dest.shape[0])
    packed_rows_bits(packed, src, dest, sample_idx, all_samples, bits)


@njit(cache=True, nogil=True)
def packed_rows_bits(packed, src, dest, sample_idx, all_samples,
                     bits):  # pragma: no cover - compiled
    """Bit planes of rows ``packed[src[r]]`` into ``bits[dest[r]]``, as :func:`genotype_bits`
    builds them.

    packed : uint8 (n_rows, bytes_per_variant), .bed codes (0 hom A1, 1 missing, 2 het,
    3 hom A2); src, dest : int64 (n_rows,), the packed row read and the row of ``bits``
    it fills;
    sample_idx : int64 (n,), .fam positions, in the planes' sample order; all_samples :
    True when ``sample_idx`` is ``arange(n_samples)`` (64 samples per step, no gather);
    bits : uint64 (n_var, 3, ceil(n / 64)), planes A1 count == 2, == 1, called.
    """
    bpv = packed.shape[1]
    n_rows = dest.shape[0]
    n = sample_idx.shape[0]
    W = bits.shape[2]
    ones = ~np.uint64(0)
    tail = n & 63
    last = ones if tail == 0 else (np.uint64(1) << np.uint64(tail)) - np.uint64(1)
    for r in range(n_rows):
        row = packed[src[r]]
        out = bits[dest[r]]
        if all_samples:
            for w in range(W):
                x0 = _load64(row, 16 * w, bpv)
                x1 = _load64(row, 16 * w + 8, bpv)
                lo = _even_bits(x0) | (_even_bits(x1) << np.uint64(32))
                hi = (_even_bits(x0 >> np.uint64(1))
                      | (_even_bits(x1 >> np.uint64(1)) << np.uint64(32)))
                m = last if w == W - 1 else ones
                out[0, w] = ~(lo | hi) & m
                out[1, w] = ~lo & hi & m
                out[2, w] = (~lo | hi) & m
        else:
            a2 = a1 = ac = np.uint64(0)
            for i in range(n):
                s = sample_idx[i]
                code = (row[s >> 2] >> ((s & 3) << 1)) & 3
                bit = np.uint64(1) << np.uint64(i & 63)
                if code != 1:
                    ac |= bit
                    if code == 0:
                        a2 |= bit
                    elif code == 2:
                        a1 |= bit
                if (i & 63) == 63 or i == n - 1:
                    w = i >> 6
                    out[0, w] = a2
                    out[1, w] = a1
                    out[2, w] = ac
                    a2 = a1 = ac = np.uint64(0)


@njit(cache=True, nogil=True)
def _bits_table(bx, by, t):  # pragma: no cover - compiled
    """3 x 3 genotype table of two variants from their bit planes (popcounts)."""
    n22 = n21 = n12 = n11 = r2 = r1 = c2 = c1 = nn = 0
    for w in range(bx.shape[1]):
        x2, x1, xc = bx[0, w], bx[1, w], bx[2, w]
        y2, y1, yc = by[0, w], by[1, w], by[2, w]
        n22 += _popcount(x2 & y2)
        n21 += _popcount(x2 & y1)
        n12 += _popcount(x1 & y2)
        n11 += _popcount(x1 & y1)
        r2 += _popcount(x2 & yc)
        r1 += _popcount(x1 & yc)
        c2 += _popcount(y2 & xc)
        c1 += _popcount(y1 & xc)
        nn += _popcount(xc & yc)
    t[2, 2] = n22
    t[2, 1] = n21
    t[1, 2] = n12
    t[1, 1] = n11
    t[2, 0] = r2 - n22 - n21
    t[1, 0] = r1 - n12 - n11
    t[0, 2] = c2 - n22 - n12
    t[0, 1] = c1 - n21 - n11
    t[0, 0] = nn - (r2 + r1 + t[0, 2] + t[0, 1])


@njit(cache=True, nogil=True)
def genotype_table(x, y):  # pragma: no cover - compiled
    """3 x 3 counts of (x, y) genotypes over samples with both calls."""
    t = np.zeros((3, 3), dtype=np.float64)
    for i in range(x.shape[0]):
        if x[i] >= 0 and y[i] >= 0:
            t[x[i], y[i]] += 1.0
    return t


@njit(cache=True)
def _cubic(phi, c3, c2, c1, c0):  # pragma: no cover - compiled
    return ((c3 * phi + c2) * phi + c1) * phi + c0


@njit(cache=True)
def _bisect(lo, hi, c3, c2, c1, c0):  # pragma: no cover - compiled
    flo = _cubic(lo, c3, c2, c1, c0)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        fm = _cubic(mid, c3, c2, c1, c0)
        if fm == 0.0:
            return mid
        if (fm < 0.0) == (flo < 0.0):
            lo, flo = mid, fm
        else:
            hi = mid
        if hi - lo <= 1e-16:
            break
    return 0.5 * (lo + hi)


@njit(cache=True)
def _loglik(phi, a, b, c, d, h):  # pragma: no cover - compiled
    T = a + b + c + d + 2 * h
    p11 = (a + h * phi) / T
    p12 = (b + h * (1 - phi)) / T
    p21 = (c + h * (1 - phi)) / T
    p22 = (d + h * phi) / T
    ll = 0.0
    for cnt, p in ((a, p11), (b, p12), (c, p21), (d, p22)):
        if cnt > 0:
            if p <= 0:
                return -np.inf
            ll += cnt * math.log(p)
    if h > 0:
        s = p11 * p22 + p12 * p21
        if s <= 0:
            return -np.inf
        ll += h * math.log(s)
    return ll


@njit(cache=True, inline="always")
def _haplotype_counts(t):  # pragma: no cover - compiled
    """Known haplotype counts of a 3x3 genotype table, the double heterozygotes h, and
    the haplotype total T. Allele "A" = A1 of the first variant (count 2 = AA), "B" =
    A1 of the second; a = AB, b = Ab, c = aB, d = ab outside the double heterozygotes."""
    a = 2 * t[2, 2] + t[2, 1] + t[1, 2]
    b = 2 * t[2, 0] + t[2, 1] + t[1, 0]
    c = 2 * t[0, 2] + t[1, 2] + t[0, 1]
    d = 2 * t[0, 0] + t[0, 1] + t[1, 0]
    h = t[1, 1]
    return a, b, c, d, h, a + b + c + d + 2 * h


@njit(cache=True)
def em_r2_from_table(t):  # pragma: no cover - compiled
    """r^2 from ML haplotype frequencies; NaN when a variant is monomorphic."""
    a, b, c, d, h, T = _haplotype_counts(t)
    if T <= 0:
        return np.nan
    if h == 0:
        phi = 0.0
    else:
        B = b + h
        C = c + h
        c3 = 2 * h * h
        c2 = -h * (B + C) - h * h + h * (a + d)
        c1 = B * C - h * (a + d) + a * d
        c0 = -a * d
        # Critical points of the cubic split [0, 1] into monotone pieces.
        e1 = -1.0
        e2 = -1.0
        disc = c2 * c2 - 3 * c3 * c1
        if disc > 0:
            sq = math.sqrt(disc)
            r1 = (-c2 - sq) / (3 * c3)
            r2 = (-c2 + sq) / (3 * c3)
            if 0.0 < min(r1, r2) < 1.0:
                e1 = min(r1, r2)
            if 0.0 < max(r1, r2) < 1.0:
                e2 = max(r1, r2)
        best_ll = -np.inf
        phi = 0.5
        lo = 0.0
        for hi in (e1, e2, 1.0):
            if hi < 0.0:
                continue
            flo = _cubic(lo, c3, c2, c1, c0)
            fhi = _cubic(hi, c3, c2, c1, c0)
            cand = -1.0
            if flo == 0.0:
                cand = lo
            elif fhi == 0.0:
                cand = hi
            elif (flo < 0.0) != (fhi < 0.0):
                cand = _bisect(lo, hi, c3, c2, c1, c0)
            if cand >= 0.0:
                ll = _loglik(cand, a, b, c, d, h)
                if ll > best_ll:
                    best_ll = ll
                    phi = cand
            lo = hi
    p11 = (a + h * phi) / T
    p12 = (b + h * (1 - phi)) / T
    p21 = (c + h * (1 - phi)) / T
    p22 = (d + h * phi) / T
    pA = p11 + p12
    pB = p11 + p21
    den = pA * (1 - pA) * pB * (1 - pB)
    if den <= 0:
        return np.nan
    D = p11 * p22 - p12 * p21
    return D * D / den


@njit(cache=True, nogil=True)
def table_r2(t, phased):  # pragma: no cover - compiled
    """r^2 from a 3 x 3 genotype table: EM haplotype or squared allele-count correlation."""
    if phased:
        return em_r2_from_table(t)
    n = sx = sy = sxx = syy = sxy = 0.0
    for a in range(3):
        for b in range(3):
            c = t[a, b]
            n += c
            sx += c * a
            sy += c * b
            sxx += c * a * a
            syy += c * b * b
            sxy += c * a * b
    if n < 2:
        return np.nan
    vx = sxx - sx * sx / n
    vy = syy - sy * sy / n
    if vx <= 0 or vy <= 0:
        return np.nan
    cxy = sxy - sx * sy / n
    return cxy * cxy / (vx * vy)


@njit(cache=True, nogil=True)
def pair_r2(x, y, phased):  # pragma: no cover - compiled
    """r^2 of two int8 genotype rows: EM haplotype (``phased``) or genotype correlation."""
    return table_r2(genotype_table(x, y), phased)


@njit(cache=True, nogil=True)
def _r2_exceeds(t, phased, r2_min):  # pragma: no cover - compiled
    """``table_r2(t, phased) > r2_min``, skipping the EM when it cannot be.

    With the allele frequencies fixed, D is linear in the double-heterozygote
    phase fraction phi, so max(D(0)^2, D(1)^2) / (pA qA pB qB) bounds the EM r^2.
    """
    if phased:
        a, b, c, d, h, T = _haplotype_counts(t)
        if T <= 0:
            return False
        pA = (a + b + h) / T
        pB = (a + c + h) / T
        den = pA * (1 - pA) * pB * (1 - pB)
        if den <= 0:
            return False
        D0 = (a * d - (b + h) * (c + h)) / (T * T)
        D1 = ((a + h) * (d + h) - b * c) / (T * T)
        if max(D0 * D0, D1 * D1) / den <= r2_min * (1 - 1e-12):
            return False
    return table_r2(t, phased) > r2_min


@njit(cache=True, nogil=True)
def clump_greedy(bits, chrom, pos, order, is_index, window, r2_min, phased,
                 clump_of):  # pragma: no cover - compiled
    """PLINK 1.9's greedy clumping over a pool of variants sorted by (chrom, pos).

    bits : uint64 (n_pool, 3, n_words) from :func:`genotype_bits`; chrom : int64
    (n_pool,); pos : int64 (n_pool,); order : int64, pool rows of the index
    candidates by increasing p (ties by .bim order); is_index : bool (n_pool,),
    p <= p1; window : int, |bp| <= window joins; r2_min : strict threshold;
    clump_of : int64 (n_pool,) filled with -1, set to the clump's index row for the
    index itself and every member.
    """
    n = pos.shape[0]
    t = np.empty((3, 3))
    for k in range(order.shape[0]):
        i = order[k]
        if clump_of[i] >= 0 or not is_index[i]:
            continue
        clump_of[i] = i
        # Pool rows are sorted by (chrom, pos): scan left, then right, until out of window.
        for step in (-1, 1):
            j = i + step
            while 0 <= j < n and chrom[j] == chrom[i] and abs(pos[j] - pos[i]) <= window:
                if clump_of[j] < 0:
                    _bits_table(bits[i], bits[j], t)
                    if _r2_exceeds(t, phased, r2_min):
                        clump_of[j] = i
                j += step


@njit(cache=True, nogil=True)
def clump_packed(packed, src, dest, sample_idx, all_samples, bits, chrom, pos, order,
                 is_index, window, r2_min, phased, clump_of):  # pragma: no cover - compiled
    """:func:`packed_rows_bits` of a chunk of packed rows, then, when ``order`` is not empty,
    :func:`clump_greedy` over the whole pool: the one kernel ``clump`` dispatches (chunks
    before the last pass an empty ``order``), so a command loads one cached kernel."""
    packed_rows_bits(packed, src, dest, sample_idx, all_samples, bits)
    if order.shape[0] > 0:
        clump_greedy(bits, chrom, pos, order, is_index, window, r2_min, phased, clump_of)


#: The variants compiled ahead of time (gwasrep.aot): the clumping entry point and the
#: r^2 of two genotype rows (loci's LD recovery rule).
AOT_SIGNATURES = {
    "clump_packed": ["void(uint8[:, ::1], int64[::1], int64[::1], int64[::1], boolean, "
                     "uint64[:, :, ::1], int64[::1], int64[::1], int64[::1], boolean[::1], "
                     "int64, float64, boolean, int64[::1])"],
    "pair_r2": ["float64(int8[:], int8[:], boolean)"],
}
