"""The covariate design: an orthonormal basis of the centred covariates, with the intercept.

Used by the linear null model, by covariate regression in preprocessing and by the LMM.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import qr

from gwasrep.errors import InputError, preview

__all__ = ["covariate_basis"]


def covariate_basis(F: np.ndarray | None, n_samples: int,
                    names: list[str] | None = None) -> np.ndarray:
    """Orthonormal basis of the centred covariates (the intercept is implicit).

    Parameters
    ----------
    F : ndarray of shape (n_samples, n_covariates), float64, or None
        Covariates without an intercept column.
    names : list of str, optional
        Column names, used to name the offending columns in errors.

    Returns
    -------
    Qc : ndarray of shape (n_samples, n_covariates), float64
        Orthonormal columns spanning the centred covariates; together with the
        constant vector they span ``[1, F]``.

    Raises
    ------
    InputError
        If the covariates (with the intercept) are rank deficient; the columns
        that are linear combinations of the others are named.
    """
    if F is None or F.shape[1] == 0:
        return np.zeros((n_samples, 0))
    F = np.asarray(F, dtype=np.float64)
    assert F.shape[0] == n_samples, (F.shape, n_samples)
    names = names or [f"covariate {k + 1}" for k in range(F.shape[1])]
    if not np.all(np.isfinite(F)):
        raise InputError("covariates contain NaN or inf values")
    Fc = F - F.mean(axis=0)
    scale = np.sqrt((Fc**2).sum(axis=0))
    const = scale <= 1e-12 * np.maximum(1.0, np.abs(F).max(axis=0)) * np.sqrt(n_samples)
    if const.any():
        bad = [names[k] for k in np.flatnonzero(const)]
        raise InputError(f"covariates are rank deficient: {len(bad):,} constant "
                         f"(collinear with the intercept): {preview(bad, 8)}")
    Q, R, _ = qr(Fc / scale, mode="economic", pivoting=True)
    diag = np.abs(np.diag(R))
    rank = int((diag > 1e-9 * diag[0]).sum())
    if rank < F.shape[1]:
        # Name every column that takes part in a dependency: the support of the null space.
        _, sv, Vt = np.linalg.svd(Fc / scale, full_matrices=False)
        null_space = Vt[sv <= 1e-9 * sv[0]]
        involved = np.flatnonzero(np.abs(null_space).max(axis=0) > 1e-6)
        bad = [names[k] for k in involved]
        raise InputError(f"covariates are rank deficient (rank {rank + 1} with the intercept, "
                         f"{F.shape[1] + 1} columns): {len(bad):,} linearly dependent, "
                         f"{preview(bad, 8)}; drop one of them")
    return Q
