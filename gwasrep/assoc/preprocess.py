"""Embedding preprocessing: PCA projection, covariate regression, inverse normal transform.

The default order is the papers': (1) optional projection on the top principal
components, (2) regressing out covariates, (3) the rank-based inverse normal
transform ("adjusted INT" in ContIG/transferGWAS). Each step can be switched off.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special

from gwasrep.assoc.covariates import covariate_basis
from gwasrep.errors import InputError

__all__ = ["PreprocessResult", "average_ranks", "inverse_normal_transform", "pca_project",
           "preprocess_embeddings", "regress_out"]


def pca_project(E: np.ndarray, n_pcs: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the top ``n_pcs`` principal components of the centred columns.

    Returns
    -------
    scores : ndarray of shape (n_samples, n_pcs), float64
    explained : ndarray of shape (n_pcs,), the fraction of variance of each PC.
    """
    n, p = E.shape
    if not 1 <= n_pcs <= p:
        raise InputError(f"--pcs {n_pcs}: expected between 1 and the number of embedding "
                         f"columns ({p})")
    Ec = E - E.mean(axis=0)
    U, S, Vt = np.linalg.svd(Ec, full_matrices=False)
    # Fix signs so that the largest loading of each PC is positive (deterministic output).
    signs = np.sign(Vt[np.arange(Vt.shape[0]), np.abs(Vt).argmax(axis=1)])
    U = U * signs
    scores = U[:, :n_pcs] * S[:n_pcs]
    explained = S[:n_pcs] ** 2 / (S**2).sum()
    return scores, explained


def regress_out(E: np.ndarray, F: np.ndarray | None, names: list[str] | None = None) -> np.ndarray:
    """Residuals of E on an intercept and the covariates F (centred residuals)."""
    Q = covariate_basis(F, E.shape[0], names)
    Ec = E - E.mean(axis=0)
    return Ec - Q @ (Q.T @ Ec)


def inverse_normal_transform(E: np.ndarray) -> np.ndarray:
    """Rank-based inverse normal transform per column.

    Blom: ``(r - 3/8) / (n + 1/4)`` with ranks r of ties averaged.
    """
    E = np.asarray(E, dtype=np.float64)
    n = E.shape[0]
    ranks = np.column_stack([average_ranks(E[:, k]) for k in range(E.shape[1])])
    return special.ndtri((ranks - 0.375) / (n + 0.25))


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with ties given their average rank.

    Same as ``scipy.stats.rankdata(x, method="average")``, without importing
    scipy.stats (half a second of start-up for every CLI run).
    """
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    # Start of each run of equal values, and the average 1-based rank of the run.
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], xs.size]
    avg = (starts + ends + 1) / 2.0
    ranks = np.empty(xs.size)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


@dataclass
class PreprocessResult:
    """Preprocessed embeddings and a record of what was done."""

    #: The traits to test, shape (n_samples, n_traits), float64.
    E: np.ndarray
    #: Names of the traits (``PC1``... after projection, else the input columns).
    names: list[str]
    #: The steps applied, in order.
    steps: list[str] = field(default_factory=list)
    #: Fraction of embedding variance explained by each kept PC (empty without projection).
    explained_variance: list[float] = field(default_factory=list)


def preprocess_embeddings(E: np.ndarray, F: np.ndarray | None = None, *,
                          names: list[str] | None = None,
                          covariate_names: list[str] | None = None, n_pcs: int | None = None,
                          regress_covariates: bool = True, inverse_normal: bool = True
                          ) -> PreprocessResult:
    """Apply the papers' preprocessing in their order: PCA -> covariate regression -> INT.

    Parameters
    ----------
    E : ndarray of shape (n_samples, n_columns), float64
    F : ndarray of shape (n_samples, n_covariates), float64, optional
    n_pcs : int, optional
        Project on this many top principal components first.
    regress_covariates, inverse_normal : bool
        Switch the second and third steps.
    """
    E = np.asarray(E, dtype=np.float64)
    names = list(names) if names is not None else [f"dim{k + 1}" for k in range(E.shape[1])]
    sd = E.std(axis=0)
    if np.any(sd == 0):
        bad = [names[k] for k in np.flatnonzero(sd == 0)]
        raise InputError(f"embedding {'column' if len(bad) == 1 else 'columns'} "
                         f"{', '.join(bad)} constant over the used samples")
    out = PreprocessResult(E=E, names=names)
    if n_pcs is not None:
        out.E, ev = pca_project(out.E, n_pcs)
        out.names = [f"PC{k + 1}" for k in range(n_pcs)]
        out.explained_variance = [float(x) for x in ev]
        out.steps.append(f"pca:{n_pcs}")
    if regress_covariates and F is not None and F.shape[1] > 0:
        out.E = regress_out(out.E, F, covariate_names)
        out.steps.append("regress_covariates")
    if inverse_normal:
        out.E = inverse_normal_transform(out.E)
        out.steps.append("inverse_normal_transform")
    assert out.E.shape[0] == E.shape[0]
    return out
