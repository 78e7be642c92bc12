"""Distribution tails and genomic control shared by the linear and the mixed-model tests."""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["chi2_sf", "lambda_gc", "t_two_sided"]


def chi2_sf(x: np.ndarray, df: int) -> np.ndarray:
    """Upper tail of chi2 with ``df`` degrees of freedom."""
    return special.chdtrc(df, x)


def t_two_sided(t: np.ndarray, df: int) -> np.ndarray:
    """Two-sided p-value of Student's t with ``df`` degrees of freedom."""
    return 2 * special.stdtr(df, -np.abs(t))


def lambda_gc(p: np.ndarray) -> float:
    """Genomic control: median of the chi2(1) quantiles of ``p`` over their null median.

    The chi2(1) quantile is decreasing in p, so the median of the quantiles is
    the quantile of the median p (the mean of the two middle ones for even n):
    O(n), without transforming every p-value.
    """
    p = np.asarray(p, dtype=np.float64)
    p = p[np.isfinite(p)]
    n = p.size
    if n == 0:
        return float("nan")
    mid = np.partition(p, [(n - 1) // 2, n // 2])[[(n - 1) // 2, n // 2]]
    return float(special.chdtri(1, mid).mean() / special.chdtri(1, 0.5))
