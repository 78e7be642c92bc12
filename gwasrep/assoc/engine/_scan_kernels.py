"""numba kernel of the block scan: genotype cross-products straight from packed .bed bytes.

For each variant ``j`` of a block it returns, without materialising the dosage
matrix in memory,

* ``u[j] = X^T d_j`` where ``d_j`` holds the A1 dosages (missing calls as 0),
* ``s1[j] = sum_i mask_i d_ij`` and ``s2[j] = sum_i mask_i d_ij^2`` (from per-byte
  genotype counts),
* ``nmiss[j]``, the number of used samples with a missing call, and
  ``smiss[j] = sum over those samples of X_i``,

from which the mean-imputed, centred cross-products follow in closed form
(see :func:`gwasrep.assoc.linear.block_moments_from_packed`). Samples that are not
used have zero rows in ``X`` and zero ``mask``, so no per-sample gather is
needed: each .bed byte is decoded with one table look-up.

Four variants are decoded at once so that each load of ``X`` feeds four
products. ``fastmath`` lets LLVM vectorise the dot products; the summation
order is fixed by the compiled code, so results are reproducible run to run.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["BYTE_DOSAGE", "BYTE_HAS_MISSING", "BYTE_N_HET", "BYTE_N_HOM_A1", "packed_crossprod"]


def _byte_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    code_dosage = np.array([2.0, 0.0, 1.0, 0.0])  # missing (code 1) -> 0 here
    dosage = np.zeros((256, 4))
    has_missing = np.zeros(256, dtype=np.bool_)
    n_het = np.zeros(256, dtype=np.int64)
    n_hom_a1 = np.zeros(256, dtype=np.int64)
    for byte in range(256):
        for k in range(4):
            code = (byte >> (2 * k)) & 3
            dosage[byte, k] = code_dosage[code]
            has_missing[byte] |= code == 1
            n_het[byte] += code == 2
            n_hom_a1[byte] += code == 0
    return dosage, has_missing, n_het, n_hom_a1


#: A1 dosage of each of the 4 samples in a .bed byte (missing -> 0);
#: whether a byte holds a missing call; its heterozygous and homozygous-A1 counts.
BYTE_DOSAGE, BYTE_HAS_MISSING, BYTE_N_HET, BYTE_N_HOM_A1 = _byte_tables()


@njit(cache=True, nogil=True, fastmath=True)
def packed_crossprod(packed, XT, mask, byte_full, u, s1, s2, nmiss, smiss):  # pragma: no cover
    """Fill u (m, c), s1 (m,), s2 (m,), nmiss (m,) and smiss (m, c) for a block.

    packed : uint8 (m, n_bytes); XT : float64 (c, 4 * n_bytes), zero columns for
    unused and padding samples; mask : float64 (4 * n_bytes,), 1 for used samples;
    byte_full : bool (n_bytes,), True where all 4 samples of a byte are used.
    smiss must be zero-filled on entry.
    """
    lut = BYTE_DOSAGE
    has_missing = BYTE_HAS_MISSING
    n_het = BYTE_N_HET
    n_hom = BYTE_N_HOM_A1
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
            het = 0
            hom = 0
            for q in range(n_bytes):
                byte = row[q]
                base = 4 * q
                col[base] = lut[byte, 0]
                col[base + 1] = lut[byte, 1]
                col[base + 2] = lut[byte, 2]
                col[base + 3] = lut[byte, 3]
                if byte_full[q]:
                    het += n_het[byte]
                    hom += n_hom[byte]
                else:
                    for k in range(4):
                        if mask[base + k] != 0.0:
                            code = (byte >> (2 * k)) & 3
                            het += code == 2
                            hom += code == 0
                if has_missing[byte]:
                    for k in range(4):
                        if ((byte >> (2 * k)) & 3) == 1 and mask[base + k] != 0.0:
                            nm += 1.0
                            for r in range(c):
                                smiss[j, r] += XT[r, base + k]
            nmiss[j] = nm
            s1[j] = het + 2.0 * hom
            s2[j] = het + 4.0 * hom
        # Two columns of X per pass: 6 loads feed 8 multiply-adds (the loop is load bound).
        c0 = cols[0]
        c1 = cols[1]
        c2 = cols[2]
        c3 = cols[3]
        for r in range(0, c, 2):
            r2 = min(r + 1, c - 1)
            xa = XT[r]
            xb = XT[r2]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            b0 = 0.0
            b1 = 0.0
            b2 = 0.0
            b3 = 0.0
            for i in range(n):
                x = xa[i]
                y = xb[i]
                d0 = c0[i]
                d1 = c1[i]
                d2 = c2[i]
                d3 = c3[i]
                a0 += d0 * x
                a1 += d1 * x
                a2 += d2 * x
                a3 += d3 * x
                b0 += d0 * y
                b1 += d1 * y
                b2 += d2 * y
                b3 += d3 * y
            for b, (va, vb) in enumerate(((a0, b0), (a1, b1), (a2, b2), (a3, b3))):
                if b < m4:
                    u[j0 + b, r] = va
                    u[j0 + b, r2] = vb
