"""Evaluation metrics of learned phenotypes (GEMCONT Sec. 3: ridge R^2 of the latent)."""

from __future__ import annotations

import numpy as np

__all__ = ["ridge_r2"]


def ridge_r2(E_fit: np.ndarray, y_fit: np.ndarray, E_eval: np.ndarray, y_eval: np.ndarray,
             alpha: float = 1.0) -> float:
    """Out-of-sample R^2 of a ridge regression of ``y`` on the embeddings.

    Columns are standardized with the fitting set's mean and sd (constant columns are
    dropped); the intercept is not penalized. The fit solves
    ``(Z^T Z + alpha n I) w = Z^T (y - mean(y))`` on the fitting set, so ``alpha`` is on
    the scale of the per-sample loss. R^2 = 1 - SSE / SST on the evaluation set, with
    SST around the evaluation mean.
    """
    E_fit, E_eval = np.asarray(E_fit, float), np.asarray(E_eval, float)
    y_fit, y_eval = np.asarray(y_fit, float), np.asarray(y_eval, float)
    mu, sd = E_fit.mean(axis=0), E_fit.std(axis=0)
    keep = sd > 0
    Z = (E_fit[:, keep] - mu[keep]) / sd[keep]
    Ze = (E_eval[:, keep] - mu[keep]) / sd[keep]
    n, k = Z.shape
    w = np.linalg.solve(Z.T @ Z + alpha * n * np.eye(k), Z.T @ (y_fit - y_fit.mean()))
    pred = Ze @ w + y_fit.mean()
    return float(1 - ((y_eval - pred) ** 2).sum() / ((y_eval - y_eval.mean()) ** 2).sum())
