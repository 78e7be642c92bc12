"""numba kernels for the PLINK 1 .bed format (variant-major, 2 bits per call).

Within a byte, sample ``4*b + k`` sits in bits ``2k..2k+1``. The 2-bit codes are
0 = homozygous A1 (first .bim allele), 1 = missing, 2 = heterozygous,
3 = homozygous A2. gwasrep counts A1, like bed-reader's ``count_A1=True`` and
PLINK 2's ALT dosage.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gwasrep.io._bed_codes import A1_DOSAGE

__all__ = ["A1_DOSAGE", "AOT_SIGNATURES", "center_dense", "decode_dosages", "encode_bed"]


@njit(cache=True, nogil=True)
def decode_dosages(packed, sample_idx, out):  # pragma: no cover - compiled
    """Decode A1 dosages.

    packed : uint8 (n_variants, bytes_per_variant); sample_idx : int64 (n_samples,),
    positions in the .fam; out : float (n_samples, n_variants), NaN for missing.
    """
    n_var = packed.shape[0]
    n = sample_idx.shape[0]
    lut = A1_DOSAGE
    for j in range(n_var):
        row = packed[j]
        for i in range(n):
            s = sample_idx[i]
            code = (row[s >> 2] >> ((s & 3) << 1)) & 3
            out[i, j] = lut[code]


@njit(cache=True, nogil=True)
def center_dense(G, Gc, obs_ct, mean, gg):  # pragma: no cover - compiled
    """Centre a block of dosages with mean imputation, in one pass per column.

    G : float (N, m), NaN for missing; Gc : float64 (N, m) receives ``x - mean`` (0 where
    missing); obs_ct : int64 (m,); mean : float64 (m,), NaN when nothing is observed;
    gg : float64 (m,), ``sum_i Gc_ij^2``. The numbers of
    :func:`gwasrep.assoc.genotypes.center_dosages`.
    """
    n, m = G.shape
    for j in range(m):
        c = 0
        t = 0.0
        for i in range(n):
            x = G[i, j]
            if np.isfinite(x):
                c += 1
                t += x
        obs_ct[j] = c
        mu = t / c if c > 0 else np.nan
        mean[j] = mu
        sub = mu if c > 0 else 0.0
        q = 0.0
        for i in range(n):
            x = G[i, j]
            if np.isfinite(x):
                v = x - sub
                Gc[i, j] = v
                q += v * v
            else:
                Gc[i, j] = 0.0
        gg[j] = q


@njit(cache=True, nogil=True)
def encode_bed(genotypes, out):  # pragma: no cover - compiled
    """Encode A1 counts into .bed bytes.

    genotypes : int8 (n_samples, n_variants) with values 0, 1, 2 (A1 counts) or
    -1 (missing); out : uint8 (n_variants, ceil(n_samples / 4)), zero-filled.
    """
    n, m = genotypes.shape
    # A1 count -> code: 2 -> 0, 1 -> 2, 0 -> 3; missing -> 1
    for j in range(m):
        for i in range(n):
            g = genotypes[i, j]
            if g == 2:
                code = 0
            elif g == 1:
                code = 2
            elif g == 0:
                code = 3
            else:
                code = 1
            out[j, i >> 2] |= code << ((i & 3) << 1)


_CENTER = "(float64[::1, :], int64[::1], float64[::1], float64[::1])"
#: The variants compiled ahead of time (gwasrep.aot); called from gwasrep.io.plink.
AOT_SIGNATURES = {
    "decode_dosages": ["void(uint8[:, ::1], int64[::1], float64[::1, :])",
                       "void(uint8[:, ::1], int64[::1], float32[::1, :])"],
    "center_dense": ["void(float64[::1, :], " + _CENTER[1:], "void(float64[:, :], " + _CENTER[1:]],
    "encode_bed": ["void(int8[:, ::1], uint8[:, ::1])", "void(int8[::1, :], uint8[:, ::1])"],
}
