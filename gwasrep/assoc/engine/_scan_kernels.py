"""numba kernels of the block scan: genotype cross-products straight from packed .bed bytes.

For each variant ``j`` of a block they return, without materialising the dosage
matrix in memory,

* ``u[j] = X^T d_j`` where ``d_j`` holds the A1 dosages (missing calls as 0),
* ``s1[j] = sum_i mask_i d_ij`` and ``s2[j] = sum_i mask_i d_ij^2``,
* ``nmiss[j]``, the number of used samples with a missing call, and
  ``smiss[j] = sum over those samples of X_i``,

from which the mean-imputed, centred cross-products follow in closed form
(see :func:`gwasrep.assoc.linear.block_moments_from_packed`). Samples that are not
used have zero rows in ``X`` and zero ``mask``.

Look-up tables ("method of four Russians")
------------------------------------------
``X`` is fixed for the whole scan, so the contribution of a group of samples to ``u``
depends only on the group's position and its genotypes. The table is per 2-sample group
(one nibble of a .bed byte): with missing calls counted as dosage 0 a nibble takes one of
``3^2 = 9`` dosage patterns (:data:`NIBBLE_INDEX`), and :func:`build_byte_table`
tabulates, once per scan,

    ``T[9 g + e, r] = sum_k dosage(e, k) X[2 g + k, r]``    for ``r < c``,
    ``T[9 g + e, c] = sum_k mask_k (dosage(e, k) + B dosage(e, k)^2)``

(``B`` a power of two above ``max s1``, so that ``s1`` and ``s2`` are both read off one
column of exact integer sums), rows padded to a multiple of 16 doubles. Then
``[u_j, s1_j + B s2_j]`` is the sum of one table row per nibble of the variant's bytes:
per byte two gathers of 16 contiguous doubles (vector loads and adds) instead of decoding
4 dosages and 4 x c multiply-adds. The table is ``n_bytes x 18 x 16`` doubles (11.5 MB
at N = 20,000); the kernel walks it in tiles of :data:`TILE` byte positions (18 KB, so
the tile stays in L1) and, inside a tile, over all variants of the block.

A whole-byte table (81 patterns of 4 samples, 52 MB, one gather per byte) was measured
too: its tiles do not fit in L1, and the L2 -> L1 traffic (128 bytes per .bed byte) made
it 30 % slower than the nibble table on this machine (AMD EPYC, 48 KB L1d, 1 MB L2).

Missing calls (code 1) are rare: the hot loop records, without a branch, the
positions of the bytes holding one, and ``nmiss``/``smiss`` are completed from those
positions after each tile.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit, types
from numba.core import config

from gwasrep.assoc.engine.lut import BYTE_MISSING, N_PATTERNS, NIBBLE_INDEX, TILE

__all__ = ["AOT_SIGNATURES", "LUT_SIGNATURE", "build_byte_table", "compile_with_slp", "compiled",
           "packed_crossprod_lut"]


@njit(cache=True, nogil=True)
def build_byte_table(XT, mask, base, pattern_dosage, table):  # pragma: no cover
    """Fill ``table`` (9 n_groups, width) from XT (c, 2 n_groups) and mask (2 n_groups,).

    Row ``9 g + e``: samples ``2 g, 2 g + 1`` with dosage pattern ``e`` (pattern_dosage).
    """
    c = XT.shape[0]
    n_pat, size = pattern_dosage.shape
    width = table.shape[1]
    for g in range(XT.shape[1] // size):
        for e in range(n_pat):
            row = table[g * n_pat + e]
            for r in range(width):
                row[r] = 0.0
            cnt = 0.0
            for k in range(size):
                d = pattern_dosage[e, k]
                if d != 0.0:
                    i = size * g + k
                    for r in range(c):
                        row[r] += d * XT[r, i]
                    cnt += mask[i] * (d + base * d * d)
            row[c] = cnt


@njit(cache=True, nogil=True, fastmath=True)
def packed_crossprod_lut(packed, table, X, mask, base, u, s1, s2, nmiss, smiss):  # pragma: no cover
    """Fill u (m, c), s1, s2, nmiss (m,) and smiss (m, c) for a block.

    packed : uint8 (m, n_bytes); table : float64 (18 n_bytes, width), C-contiguous, from
    :func:`build_byte_table` with count base ``base``; X : float64 (4 n_bytes, c), zero
    rows for unused and padding samples; mask : float64 (4 n_bytes,), 1 for used samples.

    Compile through :func:`compiled` (the hot loop needs LLVM's SLP vectoriser).
    """
    index = NIBBLE_INDEX
    missing = BYTE_MISSING
    m, n_bytes = packed.shape
    c = X.shape[1]
    width = table.shape[1]
    n_chunks = width // 16
    table3 = table.reshape(table.shape[0], n_chunks, 16)
    acc = np.zeros((m, width))
    pos = np.empty(TILE + 1, dtype=np.int64)
    nmiss[:] = 0.0
    smiss[:, :] = 0.0
    stride = np.uint64(2 * N_PATTERNS)
    hi_off = np.uint64(N_PATTERNS)
    four = np.uint8(4)
    low = np.uint8(15)
    for t0 in range(0, n_bytes, TILE):
        nq = min(TILE, n_bytes - t0)
        for j in range(m):
            row = packed[j, t0:t0 + nq]
            n = 0
            for h in range(n_chunks):
                r0 = 16 * h
                a0, a1, a2, a3 = acc[j, r0], acc[j, r0 + 1], acc[j, r0 + 2], acc[j, r0 + 3]
                a4, a5, a6, a7 = acc[j, r0 + 4], acc[j, r0 + 5], acc[j, r0 + 6], acc[j, r0 + 7]
                a8, a9, a10, a11 = acc[j, r0 + 8], acc[j, r0 + 9], acc[j, r0 + 10], acc[j, r0 + 11]
                a12, a13, a14, a15 = (acc[j, r0 + 12], acc[j, r0 + 13], acc[j, r0 + 14],
                                      acc[j, r0 + 15])
                # The high nibbles' sums: a second set of chains hides the add latency.
                b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = 0.0
                b8 = b9 = b10 = b11 = b12 = b13 = b14 = b15 = 0.0
                n = 0
                t_row = np.uint64(t0) * stride
                for k in range(nq):
                    b = row[np.uint64(k)]
                    tr = table3[t_row + index[b & low], h]
                    ts = table3[t_row + hi_off + index[b >> four], h]
                    t_row += stride
                    # Branch-free record of the bytes with a missing call (this store also
                    # keeps the loop vectoriser from turning the loop into gathers).
                    pos[n] = k
                    n += missing[b] != 0
                    a0 += tr[0]
                    a1 += tr[1]
                    a2 += tr[2]
                    a3 += tr[3]
                    a4 += tr[4]
                    a5 += tr[5]
                    a6 += tr[6]
                    a7 += tr[7]
                    a8 += tr[8]
                    a9 += tr[9]
                    a10 += tr[10]
                    a11 += tr[11]
                    a12 += tr[12]
                    a13 += tr[13]
                    a14 += tr[14]
                    a15 += tr[15]
                    b0 += ts[0]
                    b1 += ts[1]
                    b2 += ts[2]
                    b3 += ts[3]
                    b4 += ts[4]
                    b5 += ts[5]
                    b6 += ts[6]
                    b7 += ts[7]
                    b8 += ts[8]
                    b9 += ts[9]
                    b10 += ts[10]
                    b11 += ts[11]
                    b12 += ts[12]
                    b13 += ts[13]
                    b14 += ts[14]
                    b15 += ts[15]
                acc[j, r0], acc[j, r0 + 1], acc[j, r0 + 2], acc[j, r0 + 3] = (
                    a0 + b0, a1 + b1, a2 + b2, a3 + b3)
                acc[j, r0 + 4], acc[j, r0 + 5], acc[j, r0 + 6], acc[j, r0 + 7] = (
                    a4 + b4, a5 + b5, a6 + b6, a7 + b7)
                acc[j, r0 + 8], acc[j, r0 + 9], acc[j, r0 + 10], acc[j, r0 + 11] = (
                    a8 + b8, a9 + b9, a10 + b10, a11 + b11)
                acc[j, r0 + 12], acc[j, r0 + 13], acc[j, r0 + 14], acc[j, r0 + 15] = (
                    a12 + b12, a13 + b13, a14 + b14, a15 + b15)
            for p in range(n):
                q = t0 + pos[p]
                bits = missing[row[pos[p]]]
                for k in range(4):
                    if (bits >> k) & 1:
                        i = 4 * q + k
                        nmiss[j] += mask[i]
                        for r in range(c):
                            smiss[j, r] += X[i, r]
    for j in range(m):
        for r in range(c):
            u[j, r] = acc[j, r]
        hi = np.floor(acc[j, c] / base)
        s2[j] = hi
        s1[j] = acc[j, c] - hi * base


_F2 = types.float64[:, ::1]
_F1 = types.float64[::1]
LUT_SIGNATURE = (types.uint8[:, ::1], _F2, _F2, _F1, types.float64, _F2, _F1, _F1, _F1, _F2)
_COMPILE_LOCK = threading.Lock()


def compiled():
    """:func:`packed_crossprod_lut` compiled for C-contiguous arrays with LLVM's SLP
    vectoriser on.

    numba turns SLP vectorisation off by default; without it the 16 running sums of the hot
    loop stay scalar (3x slower). The setting is read when a function is compiled (or loaded
    from the on-disk cache), so it is switched on only for this compilation.
    """
    return compile_with_slp(packed_crossprod_lut, LUT_SIGNATURE)


def compile_with_slp(kernel, sig):
    """Compile the numba dispatcher ``kernel`` for ``sig`` with SLP vectorisation on."""
    with _COMPILE_LOCK:
        if sig not in kernel.overloads:
            old = config.SLP_VECTORIZE
            config.SLP_VECTORIZE = 1
            try:
                kernel.compile(sig)
            finally:
                config.SLP_VECTORIZE = old
    return kernel


#: The variants compiled ahead of time (gwasrep.aot), with LLVM's SLP vectoriser on.
AOT_SIGNATURES = {
    "build_byte_table": ["void(float64[:, ::1], float64[::1], float64, float64[:, ::1], "
                         "float64[:, ::1])"],
    "packed_crossprod_lut": ["void(uint8[:, ::1], float64[:, ::1], float64[:, ::1], "
                             "float64[::1], float64, float64[:, ::1], float64[::1], "
                             "float64[::1], float64[::1], float64[:, ::1])"],
}
