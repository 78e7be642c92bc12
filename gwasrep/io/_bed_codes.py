"""The .bed 2-bit codes (no numba, so small reads need not load the compiled kernels).

Within a byte, sample ``4*b + k`` sits in bits ``2k..2k+1``; the codes are
0 = homozygous A1, 1 = missing, 2 = heterozygous, 3 = homozygous A2.
"""

from __future__ import annotations

import numpy as np

__all__ = ["A1_DOSAGE", "BYTE_DOSAGES"]

#: A1 dosage of each 2-bit code; the missing code (1) maps to NaN where decoded.
A1_DOSAGE = np.array([2.0, np.nan, 1.0, 0.0])
#: The four samples' A1 dosages of every byte value, shape (256, 4).
BYTE_DOSAGES = A1_DOSAGE[(np.arange(256)[:, None] >> (2 * np.arange(4))[None, :]) & 3]
