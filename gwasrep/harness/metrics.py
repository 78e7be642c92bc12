"""Evaluation metrics of learned phenotypes, from scikit-learn (GEMCONT Sec. 3).

- :func:`ridge_r2`: out-of-sample R^2 of a ridge regression of a latent on embeddings,
  fitted on one set and scored on another;
- :func:`cv_ridge_r2`: the same, cross-validated within one set (K folds, the penalty
  chosen by inner leave-one-out within each training fold: ``RidgeCV``);
- :func:`recovery`: the fraction of causal variants at genome-wide significance, the
  null variants that pass, and lambda GC over the null variants.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gwasrep.assoc.stats import lambda_gc

__all__ = ["RIDGE_ALPHAS", "cv_ridge_r2", "recovery", "ridge_r2"]

#: Penalties searched by :func:`cv_ridge_r2` (on standardized embeddings).
RIDGE_ALPHAS = np.logspace(-3, 4, 15)


def ridge_r2(E_fit: np.ndarray, y_fit: np.ndarray, E_eval: np.ndarray, y_eval: np.ndarray,
             alpha: float = 1.0) -> float:
    """Out-of-sample R^2 of a ridge regression of ``y`` on the embeddings.

    Columns are standardized with the fitting set's mean and sd (constant columns
    contribute nothing); the intercept is not penalized. The penalty is ``alpha`` per
    sample: the fit minimizes ``|y - Z w|^2 + alpha n |w|^2`` over the n fitting samples.
    R^2 = 1 - SSE / SST on the evaluation set, with SST around the evaluation mean.
    """
    E_fit = np.asarray(E_fit, float)
    model = make_pipeline(StandardScaler(), Ridge(alpha=alpha * E_fit.shape[0]))
    model.fit(E_fit, np.asarray(y_fit, float))
    return float(r2_score(np.asarray(y_eval, float), model.predict(np.asarray(E_eval, float))))


def cv_ridge_r2(E: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated R^2 of ``y`` from the embeddings ``E`` (n, K) within one set.

    Each of ``folds`` shuffled folds is predicted by a standardize-then-ridge model fitted on
    the others, its penalty chosen from :data:`RIDGE_ALPHAS` by efficient leave-one-out on
    those others; R^2 is computed once over all out-of-fold predictions.
    """
    E, y = np.asarray(E, float), np.asarray(y, float)
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS))
    pred = cross_val_predict(model, E, y, cv=KFold(folds, shuffle=True, random_state=seed))
    return float(r2_score(y, pred))


def recovery(sumstats: pd.DataFrame, causal_ids, null_ids, *, threshold: float = 5e-8
             ) -> dict[str, float]:
    """Genetic recovery of one GWAS of simulated variants.

    Returns the fraction of causal variants with ``P`` (the multi-trait test) and with
    ``P_BONF`` below ``threshold`` (``frac_causal_P``, ``frac_causal_P_BONF``; untested
    causal variants count as missed), the null variants below it (``null_hits_P``,
    ``null_hits_P_BONF``) and lambda GC of ``P`` over the tested null variants.
    """
    ss = sumstats.set_index("ID")
    causal, null = list(causal_ids), list(null_ids)
    out: dict[str, float] = {}
    for col in ("P", "P_BONF"):
        p_c = ss[col].reindex(causal).to_numpy(dtype=float)
        p_n = ss[col].reindex(null).to_numpy(dtype=float)
        out[f"frac_causal_{col}"] = float(np.mean(np.nan_to_num(p_c, nan=1.0) < threshold))
        out[f"null_hits_{col}"] = int(np.sum(np.nan_to_num(p_n, nan=1.0) < threshold))
    out["lambda_gc_null"] = lambda_gc(ss["P"].reindex(null).to_numpy(dtype=float))
    out["n_causal_tested"] = int(ss["P"].reindex(causal).notna().sum())
    out["n_null_tested"] = int(ss["P"].reindex(null).notna().sum())
    return out
