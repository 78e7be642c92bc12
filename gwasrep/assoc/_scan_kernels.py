"""numba kernel of the block scan: genotype cross-products straight from packed .bed bytes.

For each variant ``j`` of a block it returns, without materialising the dosage
matrix in memory,

* ``u[j] = X^T d_j`` where ``d_j`` holds the A1 dosages (missing calls as 0),
* ``s1[j] = sum_i mask_i d_ij`` and ``s2[j] = sum_i mask_i d_ij^2``,
* ``nmiss[j]``, the number of used samples with a missing call, and
  ``smiss[j] = sum over those samples of X_i``,

from which the mean-imputed, centred cross-products follow in closed form
(see :func:`gwasrep.assoc.lrt.block_moments_from_packed`). Samples that are not
used have zero rows in ``X`` and zero ``mask``, so no per-sample gather is
needed: each .bed byte is decoded with one table look-up.

Four variants are decoded at once so that each load of ``X`` feeds four
products. ``fastmath`` lets LLVM vectorise the dot products; the summation
order is fixed by the compiled code, so results are reproducible run to run.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["BYTE_DOSAGE", "BYTE_HAS_MISSING", "packed_crossprod"]


def _byte_tables() -> tuple[np.ndarray, np.ndarray]:
    code_dosage = np.array([2.0, 0.0, 1.0, 0.0])  # missing (code 1) -> 0 here
    dosage = np.zeros((256, 4))
    has_missing = np.zeros(256, dtype=np.bool_)
    for byte in range(256):
        for k in range(4):
            code = (byte >> (2 * k)) & 3
            dosage[byte, k] = code_dosage[code]
            has_missing[byte] |= code == 1
    return dosage, has_missing


#: A1 dosage of each of the 4 samples in a .bed byte (missing -> 0).
#: BYTE_HAS_MISSING: whether a byte holds a missing call.
BYTE_DOSAGE, BYTE_HAS_MISSING = _byte_tables()


@njit(cache=True, nogil=True, fastmath=True)
def packed_crossprod(packed, lut, has_missing, XT, mask, u, s1, s2, nmiss,
                     smiss):  # pragma: no cover
    """Fill u (m, c), s1 (m,), s2 (m,), nmiss (m,) and smiss (m, c) for a block.

    packed : uint8 (m, n_bytes); XT : float64 (c, 4 * n_bytes), zero columns for
    unused and padding samples; mask : float64 (4 * n_bytes,), 1 for used samples.
    smiss must be zero-filled on entry.
    """
    n_var = packed.shape[0]
    n_bytes = packed.shape[1]
    c = XT.shape[0]
    n = XT.shape[1]
    cols = np.zeros((4, n))
    for j0 in range(0, n_var, 4):
        m4 = min(4, n_var - j0)
        for b in range(4):
            col = cols[b]
            if b >= m4:
                col[:] = 0.0
                continue
            j = j0 + b
            row = packed[j]
            nm = 0.0
            for q in range(n_bytes):
                byte = row[q]
                base = 4 * q
                col[base] = lut[byte, 0]
                col[base + 1] = lut[byte, 1]
                col[base + 2] = lut[byte, 2]
                col[base + 3] = lut[byte, 3]
                if has_missing[byte]:
                    for k in range(4):
                        if ((byte >> (2 * k)) & 3) == 1 and mask[base + k] != 0.0:
                            nm += 1.0
                            for r in range(c):
                                smiss[j, r] += XT[r, base + k]
            nmiss[j] = nm
            a1 = 0.0
            a2 = 0.0
            for i in range(n):
                v = col[i] * mask[i]
                a1 += v
                a2 += v * col[i]
            s1[j] = a1
            s2[j] = a2
        c0 = cols[0]
        c1 = cols[1]
        c2 = cols[2]
        c3 = cols[3]
        for r in range(c):
            xr = XT[r]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for i in range(n):
                x = xr[i]
                a0 += c0[i] * x
                a1 += c1[i] * x
                a2 += c2[i] * x
                a3 += c3[i] * x
            u[j0, r] = a0
            if m4 > 1:
                u[j0 + 1, r] = a1
            if m4 > 2:
                u[j0 + 2, r] = a2
            if m4 > 3:
                u[j0 + 3, r] = a3
