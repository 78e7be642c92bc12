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
from numba import njit

__all__ = ["clump_greedy", "em_r2_from_table", "genotype_table", "pair_r2"]


@njit(cache=True, nogil=True)
def genotype_table(x, y):  # pragma: no cover - compiled
    """3 x 3 counts of (x, y) genotypes over samples with both calls."""
    t = np.zeros((3, 3), dtype=np.float64)
    for i in range(x.shape[0]):
        a = x[i]
        b = y[i]
        if a >= 0 and b >= 0:
            t[a, b] += 1.0
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


@njit(cache=True)
def em_r2_from_table(t):  # pragma: no cover - compiled
    """r^2 from ML haplotype frequencies; NaN when a variant is monomorphic."""
    # Allele "A" = A1 of the first variant (count 2 = AA), "B" = A1 of the second.
    a = 2 * t[2, 2] + t[2, 1] + t[1, 2]
    b = 2 * t[2, 0] + t[2, 1] + t[1, 0]
    c = 2 * t[0, 2] + t[1, 2] + t[0, 1]
    d = 2 * t[0, 0] + t[0, 1] + t[1, 0]
    h = t[1, 1]
    T = a + b + c + d + 2 * h
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
        pts = np.empty(4)
        n = 0
        pts[n] = 0.0
        n += 1
        disc = c2 * c2 - 3 * c3 * c1
        if disc > 0:
            sq = math.sqrt(disc)
            r1 = (-c2 - sq) / (3 * c3)
            r2 = (-c2 + sq) / (3 * c3)
            lo_r = min(r1, r2)
            hi_r = max(r1, r2)
            if 0.0 < lo_r < 1.0:
                pts[n] = lo_r
                n += 1
            if 0.0 < hi_r < 1.0:
                pts[n] = hi_r
                n += 1
        pts[n] = 1.0
        n += 1
        best_ll = -np.inf
        phi = 0.5
        for k in range(n - 1):
            lo = pts[k]
            hi = pts[k + 1]
            flo = _cubic(lo, c3, c2, c1, c0)
            fhi = _cubic(hi, c3, c2, c1, c0)
            if flo == 0.0:
                cand = lo
            elif fhi == 0.0:
                cand = hi
            elif (flo < 0.0) != (fhi < 0.0):
                cand = _bisect(lo, hi, c3, c2, c1, c0)
            else:
                continue
            ll = _loglik(cand, a, b, c, d, h)
            if ll > best_ll:
                best_ll = ll
                phi = cand
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
def _unphased_r2(x, y):  # pragma: no cover - compiled
    n = 0.0
    sx = sy = sxx = syy = sxy = 0.0
    for i in range(x.shape[0]):
        a = x[i]
        b = y[i]
        if a >= 0 and b >= 0:
            n += 1
            sx += a
            sy += b
            sxx += a * a
            syy += b * b
            sxy += a * b
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
    if phased:
        return em_r2_from_table(genotype_table(x, y))
    return _unphased_r2(x, y)


@njit(cache=True, nogil=True)
def clump_greedy(geno, chrom, pos, order, is_index, window, r2_min, phased,
                 clump_of):  # pragma: no cover - compiled
    """PLINK 1.9's greedy clumping over a pool of variants sorted by (chrom, pos).

    geno : int8 (n_pool, n_samples); chrom : int64 (n_pool,); pos : int64 (n_pool,);
    order : int64, pool rows of the index candidates by increasing p (ties by .bim
    order); is_index : bool (n_pool,), p <= p1; window : int, |bp| <= window joins;
    r2_min : strict threshold; clump_of : int64 (n_pool,) filled with -1, set to
    the clump's index row for the index itself and every member.
    """
    n = pos.shape[0]
    for k in range(order.shape[0]):
        i = order[k]
        if clump_of[i] >= 0 or not is_index[i]:
            continue
        clump_of[i] = i
        # Pool rows are sorted by (chrom, pos): scan left and right until out of window.
        j = i - 1
        while j >= 0 and chrom[j] == chrom[i] and pos[i] - pos[j] <= window:
            if clump_of[j] < 0:
                r2 = pair_r2(geno[i], geno[j], phased)
                if r2 > r2_min:
                    clump_of[j] = i
            j -= 1
        j = i + 1
        while j < n and chrom[j] == chrom[i] and pos[j] - pos[i] <= window:
            if clump_of[j] < 0:
                r2 = pair_r2(geno[i], geno[j], phased)
                if r2 > r2_min:
                    clump_of[j] = i
            j += 1
