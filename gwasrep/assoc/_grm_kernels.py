"""numba kernel of the GRM: packed .bed bytes straight to the standardized (or centred) block.

:func:`standardize_packed` gives, for a block of variants, exactly the columns that
``standardize_block(read_dosages(...))`` gives (the same float operations in the same
order: ``x - mean``, then the division by ``sqrt(2p(1 - p))``), without the dense
dosage matrix and its NaN passes. Per-variant counts of the three genotypes decide
which variants are used: observed, polymorphic (two genotypes or more: the variance is
then positive, and exactly zero otherwise), MAF and missing fraction within bounds.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["AOT_SIGNATURES", "standardize_packed"]


@njit(cache=True, nogil=True)
def standardize_packed(packed, sample_idx, standardized, maf_min, max_missing, Z,
                       used):  # pragma: no cover - compiled
    """Fill the first columns of ``Z`` with the used variants of a block; return their count.

    packed : uint8 (m, n_bytes), the block's .bed rows; sample_idx : int64 (N,), .fam
    positions in the GRM's row order; standardized : bool (GCTA's standardization, else
    GEMMA's centring); Z : float64 (N, >= m), F-contiguous, overwritten; used : bool (m,),
    set True for the variants written to Z, in order.
    """
    N = sample_idx.size
    m = packed.shape[0]
    counts = np.zeros(4, dtype=np.int64)
    codes = np.empty(N, dtype=np.uint8)
    value = np.zeros(4)
    k = 0
    for j in range(m):
        row = packed[j]
        counts[:] = 0
        # Branch-free: the codes are random, so a branch per call mispredicts often.
        for i in range(N):
            s = sample_idx[i]
            code = (row[s >> 2] >> ((s & 3) << 1)) & 3
            codes[i] = code
            counts[code] += 1
        n_hom, n_het, n_ref = counts[0], counts[2], counts[3]
        n_obs = n_hom + n_het + n_ref
        used[j] = False
        if n_obs == 0:
            continue
        n_classes = (n_hom > 0) + (n_het > 0) + (n_ref > 0)
        mean = (2.0 * n_hom + 1.0 * n_het) / n_obs
        p = mean / 2
        maf = min(p, 1 - p)
        miss = 1 - n_obs / N
        if n_classes < 2 or maf < maf_min or miss > max_missing:
            continue
        used[j] = True
        # The value of each code: x - mean (divided by the scale), 0 for a missing call.
        value[0] = 2.0 - mean
        value[1] = 0.0
        value[2] = 1.0 - mean
        value[3] = 0.0 - mean
        if standardized:
            scale = math.sqrt(2 * p * (1 - p))
            value[0] /= scale
            value[2] /= scale
            value[3] /= scale
        for i in range(N):
            Z[i, k] = value[codes[i]]
        k += 1
    return k


#: The variant compiled ahead of time (gwasrep.aot).
AOT_SIGNATURES = {
    "standardize_packed": ["int64(uint8[:, ::1], int64[::1], boolean, float64, float64, "
                           "float64[::1, :], boolean[::1])"],
}
