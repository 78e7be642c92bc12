"""The look-up table of the scan kernel: its constants and the numpy side (no numba).

The kernels themselves, and how the table is used, are in
:mod:`gwasrep.assoc.engine._scan_kernels`; they are called through :mod:`gwasrep.aot`, so a
scan on the compiled kernels never imports numba.
"""

from __future__ import annotations

import numpy as np

from gwasrep.aot import kernel

__all__ = ["BYTE_MISSING", "N_PATTERNS", "NIBBLE_INDEX", "PATTERN_DOSAGE", "TILE",
           "build_byte_table", "count_base", "lut_inputs", "new_byte_table",
           "packed_crossprod", "packed_crossprod_lut", "table_width"]

#: Dosage patterns of a .bed nibble (2 samples) once missing calls count as 0.
N_PATTERNS = 9
#: Byte positions per tile of the table (TILE x 2 x 9 x 16 doubles = 18 KB, in L1).
TILE = 8


def _code_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    code_dosage = np.array([2, 0, 1, 0])  # code 1 (missing) -> 0 here
    nibble = np.array([code_dosage[n & 3] + 3 * code_dosage[n >> 2] for n in range(16)],
                      dtype=np.uint8)
    missing = np.array([sum(1 << k for k in range(4) if (byte >> (2 * k)) & 3 == 1)
                        for byte in range(256)], dtype=np.uint8)
    pattern_dosage = np.array([[e % 3, e // 3] for e in range(N_PATTERNS)], dtype=np.float64)
    return nibble, missing, pattern_dosage


#: Dosage pattern (``d_0 + 3 d_1``, missing -> 0) of the 2 samples of each nibble value;
#: bit ``k`` set where sample ``k`` of a byte has a missing call; the dosages of each pattern.
NIBBLE_INDEX, BYTE_MISSING, PATTERN_DOSAGE = _code_tables()


def table_width(c: int) -> int:
    """Doubles per table row: the ``c`` columns of X plus the count column, padded to 16."""
    return 16 * ((c + 1 + 15) // 16)


def count_base(n_used: int) -> float:
    """The power of two ``B > 2 n_used`` that separates ``s1`` from ``B s2`` in one column."""
    base = 1 << int(2 * n_used + 1).bit_length()
    if 4 * n_used * base + 2 * n_used >= 2**53:
        raise ValueError(f"{n_used:,} samples: too many for exact counts in float64")
    return float(base)


def new_byte_table(n_bytes: int, c: int) -> np.ndarray:
    """An uninitialised table of shape (18 n_bytes, table_width(c)), rows 64-byte aligned."""
    width = table_width(c)
    rows = 2 * N_PATTERNS * n_bytes
    raw = np.empty(rows * width + 8)
    start = (-raw.ctypes.data % 64) // 8
    return raw[start:start + rows * width].reshape(rows, width)


build_byte_table = kernel("gwasrep.assoc.engine._scan_kernels", "build_byte_table")
#: The scan kernel (with the JIT fallback compiled as :func:`_scan_kernels.compiled` does).
packed_crossprod_lut = kernel("gwasrep.assoc.engine._scan_kernels", "packed_crossprod_lut",
                              jit="compiled")


def lut_inputs(XT, mask, n_used: int):
    """``(table, X, base)`` for :func:`packed_crossprod_lut`: the look-up table built from
    ``XT`` (c, 4 n_bytes) and ``mask``, X = ``XT`` transposed (rows by .fam position), and
    the count base for ``n_used`` samples."""
    c, n_pad = XT.shape
    base = count_base(n_used)
    table = new_byte_table(n_pad // 4, c)
    build_byte_table(np.ascontiguousarray(XT), mask, base, PATTERN_DOSAGE, table)
    return table, np.ascontiguousarray(XT.T), base


def packed_crossprod(packed, XT, mask, byte_full, u, s1, s2, nmiss, smiss):
    """The whole computation from XT (c, 4 n_bytes) and mask: builds the table, then scans.

    Convenience for one-off blocks (``byte_full`` is not used); the engine builds the
    table once per scan (:class:`gwasrep.assoc.engine.scan.ScanState`).
    """
    table, X, base = lut_inputs(XT, mask, int(mask.sum()))
    out = (np.empty_like(u), np.empty_like(s1), np.empty_like(s2), np.empty_like(nmiss),
           np.empty_like(smiss))
    packed_crossprod_lut(np.ascontiguousarray(packed, dtype=np.uint8), table, X,
                         np.ascontiguousarray(mask, dtype=np.float64), base, *out)
    for dst, src in zip((u, s1, s2, nmiss, smiss), out, strict=True):
        dst[...] = src
