"""Eigendecompositions of the kinship: full rank from a GRM, low rank (FaST-LMM) from genotypes.

``K = U diag(s) U^T`` with ``U`` of shape (N, r). Full rank has ``r = N``; low rank has
``r = S < N`` from the SVD of the N x S genotype matrix, and the complement of ``U`` has
eigenvalue 0 (handled exactly by :mod:`gwasrep.assoc.lmm.likelihood`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from gwasrep.errors import InputError

__all__ = ["PSD_RTOL", "KinshipEigen", "eigen_from_kinship", "eigen_from_standardized"]

#: Relative tolerance below which a negative GRM eigenvalue counts as rounding.
PSD_RTOL = 1e-6


@dataclass(frozen=True)
class KinshipEigen:
    """Eigendecomposition ``K = U diag(s) U^T`` of a kinship matrix."""

    #: Orthonormal eigenvectors, shape (N, r); r < N for a low-rank kinship.
    U: np.ndarray
    #: Eigenvalues (>= 0), shape (r,).
    s: np.ndarray
    #: ``tr(K) / N``, used to report heritability on the scale of GEMMA's PVE.
    trace_mean: float
    #: "full" or "low" rank.
    kind: str

    @property
    def n_samples(self) -> int:
        return self.U.shape[0]

    @property
    def rank(self) -> int:
        return self.U.shape[1]


def eigen_from_kinship(K: np.ndarray, *, name: str = "GRM") -> KinshipEigen:
    """Full-rank eigendecomposition of a kinship matrix, with validation.

    Raises
    ------
    InputError
        If ``K`` is not square, not finite, not symmetric or not positive
        semi-definite (beyond rounding).
    """
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise InputError(f"{name}: expected a square matrix, found shape {K.shape}")
    # One N x N temporary for the checks: K - K^T is NaN or inf wherever K is not finite.
    d = np.subtract(K, K.T)
    if not np.isfinite(d).all():
        n_bad = int((~np.isfinite(K)).sum())
        raise InputError(f"{name}: {n_bad:,} entries are NaN or inf; expected a finite matrix")
    scale = max(float(np.abs(np.diag(K)).max()), 1e-300)
    asym = float(np.abs(d, out=d).max(initial=0.0))
    del d
    if asym > 1e-6 * scale:
        raise InputError(f"{name}: not symmetric (largest |K_ij - K_ji| = {asym:.3g})")
    # numpy's eigh is LAPACK's divide-and-conquer dsyevd, as scipy's driver="evd", but on
    # numpy's OpenBLAS: 12x faster at N = 1,197 and as fast at N = 3,000 on the 2-core VM,
    # with the same eigenvalues to the last bit (benchmarks/bench_eigh.py, RESULTS.md).
    # An exactly symmetric K (a GRM computed here) is its own symmetrization.
    s, U = np.linalg.eigh(K if asym == 0 else (K + K.T) / 2)
    if s[0] < -PSD_RTOL * max(s[-1], 1e-300):
        raise InputError(f"{name}: not positive semi-definite (smallest eigenvalue {s[0]:.3g}, "
                         f"largest {s[-1]:.3g}); expected a genetic relationship matrix")
    s = np.clip(s, 0.0, None)
    return KinshipEigen(U=U, s=s, trace_mean=float(np.trace(K)) / K.shape[0], kind="full")


def eigen_from_standardized(Z: np.ndarray, *, scale: float | None = None) -> KinshipEigen:
    """Low-rank eigendecomposition of ``K = Z Z^T / scale`` from the N x S matrix ``Z``.

    ``scale`` defaults to S, the number of columns (the GRM of standardized or
    centred genotypes). Costs O(N S^2) and never forms K.
    """
    Z = np.asarray(Z, dtype=np.float64)
    N, S = Z.shape
    scale = float(S if scale is None else scale)
    U, sv, _ = linalg.svd(Z, full_matrices=False, check_finite=False, lapack_driver="gesdd")
    s = sv**2 / scale
    keep = s > 1e-10 * max(s.max(initial=0.0), 1e-300)
    tr = float((Z**2).sum()) / scale / N
    return KinshipEigen(U=np.ascontiguousarray(U[:, keep]), s=s[keep], trace_mean=tr,
                        kind="full" if keep.sum() >= N else "low")
