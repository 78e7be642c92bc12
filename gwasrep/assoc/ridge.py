"""Whole-genome ridge regression (REGENIE step 1): leave-one-chromosome-out predictions of
every trait, for the multi-trait test at biobank scale.

Method (Mbatchou et al., Nat. Genet. 2021, step 1; the level names are theirs)
----------------------------------------------------------------------------------
The traits ``Y`` (N x D, after the usual preprocessing: PCA, covariates, INT) and every
genotype are residualized on the covariates (with the intercept); a genotype is
standardized as ``(x - 2p) / sqrt(2p(1 - p))`` with missing calls at the mean, then
residualized. Samples are split into K folds.

- **Level 0.** The genome is cut into blocks of B contiguous variants within a
  chromosome. In block b, for each shrinkage ``lambda_r`` of a grid of R values and each
  fold k, the ridge fit on the other folds, ``beta = (Z_-k^T Z_-k + lambda_r I)^-1
  Z_-k^T Y_-k``, predicts the samples of fold k: ``Z_k beta``. Each block gives R
  out-of-fold predictors per trait, N x (blocks R) in all. The grid comes from
  heritability values ``h2_r`` (default 0.01, 0.25, 0.5, 0.75, 0.99): ``lambda_r = M (1 -
  h2_r) / h2_r`` for M variants in step 1, the ridge penalty of a trait with SNP
  heritability ``h2_r`` spread evenly over M unit-variance variants.
- **Level 1**, per trait: the level-0 predictors of that trait, each standardized over
  the samples (mean 0, variance 1), are the columns of W (N x P, P = blocks R). A ridge
  regression of the trait on W with penalty ``P (1 - h2) / h2`` for the same grid is fitted
  on K - 1 folds and predicts the remaining one; the penalty with the best mean over folds
  of the out-of-fold R^2 is kept. With its fold-specific coefficients ``beta_k``, the
  leave-one-chromosome-out (LOCO) prediction of a sample i of fold k for chromosome c is
  ``W_i,not c beta_k,not c``: the columns of the blocks on chromosome c are dropped.
- **Step 2** (:func:`gwasrep.assoc.lrt.multitrait_lrt` with ``loco=``, and the file
  engine): a variant on chromosome c is tested against ``Y - LOCO_c``. The residual
  covariance, the multi-trait LRT with D degrees of freedom and the per-dimension tests
  are those of the linear engine, so the scan keeps its O(N M) cost. By default (not in
  REGENIE) that covariance is calibrated for close relatives, ``R^T Phi R / N``
  (:mod:`gwasrep.assoc.relatives`): out-of-fold predictions make relatives' residuals
  negatively correlated, which deflates the plain statistic in dense families.

**Leave-one-out** (``loocv``, REGENIE's ``--loocv``): every sample is its own fold at
both levels, in closed form. With ``Z^T Z = V diag(s) V^T`` and ``U = Z V``, the full-data
fit of penalty lambda has leverages ``h_i = sum_j U_ij^2 / (s_j + lambda)`` and the fit
without sample i predicts it as ``(fitted_i - h_i y_i) / (1 - h_i)``; at level 1,
Sherman-Morrison gives the coefficients without sample i, ``beta - (A + lambda I)^-1 w_i
e_i`` (``e_i`` its leave-one-out residual), whose off-chromosome part makes its LOCO
prediction. The penalty is chosen by the pooled leave-one-out R^2. Level 0 costs an
eigendecomposition of the B x B Gram matrix and the N x B^2 product ``Z V`` instead of K R
Cholesky factorizations, and the residuals come closer to the infinitesimal model's BLUP
residuals (BOLT-LMM-inf): out-of-fold predictions from 4/5 of the samples are the larger
part of the difference.

What differs from REGENIE: the folds are a seeded random partition of the samples
(REGENIE cuts them in file order, and files often list relatives together, which would
keep a sample's relatives out of its training folds); the level-0 predictions are stored
in float32 (``dtype``), as REGENIE does on disk. sgkit's ``regenie`` (a port of glow's)
fits the same model with other penalties (``M / h2``); tests/reference/test_sgkit_regenie.py
checks this module against it on the same blocks, penalties and folds.

Numerics only: arrays in, :class:`LocoPredictions` out; the module imports only numpy
(the run configuration takes its defaults from here). The file-level run (blocks read
from a .bed, threads or dask, checkpoints) is :mod:`gwasrep.assoc.engine.ridge_setup`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from gwasrep.errors import InputError, preview

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_FOLDS",
    "DEFAULT_H2_GRID",
    "FOLD_SEED",
    "Level1Fit",
    "LocoPredictions",
    "RidgeBlocks",
    "assign_folds",
    "check_folds",
    "check_h2_grid",
    "covariate_projector",
    "fit_level1",
    "fit_loco_predictions",
    "fold_bounds",
    "fold_sizes",
    "level0_block",
    "level1_all",
    "residualize_columns",
    "residualized_traits",
    "ridge_blocks",
    "ridge_penalties",
    "standardize_genotypes",
]

#: REGENIE's heritability grid of the shrinkage values.
DEFAULT_H2_GRID = (0.01, 0.25, 0.5, 0.75, 0.99)
#: Variants per level-0 block (REGENIE's default).
DEFAULT_BLOCK_SIZE = 1000
#: Folds of the cross-validation (REGENIE's default).
DEFAULT_FOLDS = 5
#: Seed of the fold assignment (fixed: the same samples always get the same folds).
FOLD_SEED = 20210527


def check_h2_grid(h2_grid: Sequence[float], option: str = "--ridge-h2") -> tuple[float, ...]:
    """The grid as a tuple of floats; every value must lie in (0, 1)."""
    grid = tuple(float(h) for h in h2_grid)
    if not grid:
        raise InputError(f"{option}: expected at least one heritability value in (0, 1)")
    bad = [h for h in grid if not 0.0 < h < 1.0]
    if bad:
        raise InputError(f"{option} {','.join(f'{h:g}' for h in grid)}: expected values in "
                         f"(0, 1) (heritabilities of the shrinkage grid); found "
                         f"{', '.join(f'{h:g}' for h in bad)}")
    return grid


def ridge_penalties(n_predictors: int, h2_grid: Sequence[float]) -> np.ndarray:
    """``n (1 - h2) / h2`` per grid value: the ridge penalty of a trait whose heritability
    ``h2`` is spread evenly over ``n`` unit-variance predictors."""
    h = np.asarray(check_h2_grid(h2_grid), dtype=np.float64)
    return n_predictors * (1.0 - h) / h


def assign_folds(n_samples: int, n_folds: int, seed: int = FOLD_SEED) -> np.ndarray:
    """Fold of every sample: a seeded random partition into ``n_folds`` near-equal folds.

    Fold sizes are those of sgkit's ``split_array_chunks`` (the first ``n % K`` folds
    have one sample more).
    """
    sizes = fold_sizes(n_samples, n_folds)
    labels = np.repeat(np.arange(n_folds), sizes)
    return labels[np.random.default_rng(seed).permutation(n_samples)]


def fold_sizes(n_samples: int, n_folds: int) -> np.ndarray:
    """Sizes of ``n_folds`` near-equal folds (the first ``n % K`` one larger)."""
    q, r = divmod(n_samples, n_folds)
    return np.array([q + 1] * r + [q] * (n_folds - r), dtype=np.int64)


def check_folds(n_samples: int, n_folds: int, n_covariates: int,
                option: str = "--ridge-folds") -> None:
    """At least ``folds x (covariates + 2)`` samples, and 2 folds or more.

    ``n_covariates`` counts the intercept.
    """
    if n_folds < 2:
        raise InputError(f"{option} {n_folds}: expected at least 2 folds")
    need = n_folds * (n_covariates + 2)
    if n_samples < need:
        raise InputError(f"{option} {n_folds}: needs at least folds x (covariates + 2) = "
                         f"{n_folds} x {n_covariates + 2} = {need} samples; found {n_samples}")


def covariate_projector(F: np.ndarray | None, n_samples: int,
                        names: list[str] | None = None) -> np.ndarray:
    """Orthonormal basis of ``[1, F]``, shape (N, K)."""
    from gwasrep.assoc.covariates import covariate_basis  # scipy.linalg, on first use

    Qc = covariate_basis(F, n_samples, names)
    return np.hstack([np.full((n_samples, 1), 1.0 / np.sqrt(n_samples)), Qc])


def standardize_genotypes(G: np.ndarray, Q: np.ndarray, *, maf_min: float = 0.0
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Standardized genotypes residualized on the covariates ``Q`` (:func:`covariate_projector`).

    Parameters
    ----------
    G : ndarray of shape (N, m)
        A1 dosages, NaN for missing (mean-imputed).

    Returns
    -------
    Z : ndarray of shape (N, m_used), float64, F-ordered
        ``(x - 2p) / sqrt(2p(1 - p))`` (0 where missing), minus its projection on Q.
    used : ndarray of shape (m,), bool
        Observed, polymorphic variants with MAF >= ``maf_min`` (the others are left out).

    The same numbers as the file path's ``standardize_packed`` kernel followed by
    :func:`residualize_columns`.
    """
    G = np.asarray(G, dtype=np.float64)
    obs = np.isfinite(G)
    n_obs = obs.sum(axis=0)
    Gz = np.where(obs, G, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = Gz.sum(axis=0) / n_obs
        var = (np.where(obs, Gz - mean, 0.0) ** 2).sum(axis=0)
    p = mean / 2
    used = (n_obs > 0) & (var > 0) & (np.minimum(p, 1 - p) >= maf_min)
    Z = np.asfortranarray(np.where(obs[:, used], Gz[:, used] - mean[used], 0.0))
    Z /= np.sqrt(2 * p[used] * (1 - p[used]))
    residualize_columns(Z, Q)
    return Z, used


def residualized_traits(Y: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The traits' residuals on the covariates and the intercept, scaled to unit variance
    (the ridge is fitted on those, as REGENIE does; the predictions are scaled back), and
    the scales."""
    R = Y - Q @ (Q.T @ Y)
    scale = R.std(axis=0)
    scale[~(scale > 0)] = 1.0
    return R / scale, scale


def residualize_columns(Z: np.ndarray, Q: np.ndarray, chunk: int = 128) -> np.ndarray:
    """``Z - Q (Q^T Z)`` in place, ``chunk`` columns at a time (the temporary is N x chunk,
    not N x m)."""
    for lo in range(0, Z.shape[1] if Q.shape[1] else 0, chunk):
        part = Z[:, lo:lo + chunk]
        part -= Q @ (Q.T @ part)
    return Z


@dataclass(frozen=True)
class RidgeBlocks:
    """The level-0 blocks: contiguous runs of at most ``block_size`` variants per chromosome."""

    #: Chromosome of each block.
    chrom: np.ndarray
    #: ``[start, stop)`` of each block in the ordered list of step-1 variants.
    bounds: np.ndarray
    #: Chromosomes in order of first appearance.
    chromosomes: tuple[str, ...]
    block_size: int

    def __len__(self) -> int:
        return int(self.bounds.shape[0])


def ridge_blocks(chrom: np.ndarray, block_size: int, *, option: str = "--ridge-block-size",
                 min_chromosomes: int = 2) -> RidgeBlocks:
    """Cut the step-1 variants (their chromosomes, in .bim order) into level-0 blocks.

    Raises
    ------
    InputError
        If the block size is not positive or exceeds a chromosome's variant count (named),
        or if there are fewer than ``min_chromosomes`` chromosomes (LOCO needs two).
    """
    chrom = np.asarray(chrom).astype(str)
    if block_size < 1:
        raise InputError(f"{option} {block_size}: expected a positive integer")
    starts = np.flatnonzero(np.r_[True, chrom[1:] != chrom[:-1]])
    ends = np.r_[starts[1:], chrom.size]
    names = chrom[starts]
    if len(set(names)) != len(names):
        raise InputError("step-1 variants: chromosomes are not contiguous in the .bim (sort "
                         "it by chromosome: plink2 --make-bed --sort-vars)")
    if len(names) < min_chromosomes:
        raise InputError(f"--lmm ridge: leave-one-chromosome-out needs variants on at least "
                         f"{min_chromosomes} chromosomes; found {len(names)} "
                         f"({preview(list(names))})")
    counts = ends - starts
    small = [(c, int(n)) for c, n in zip(names, counts, strict=True) if n < block_size]
    if small:
        c, n = min(small, key=lambda t: t[1])
        raise InputError(f"{option} {block_size}: larger than the {n:,} step-1 variants of "
                         f"chromosome {c} ({len(small)} chromosome"
                         f"{'s' if len(small) > 1 else ''} with fewer); expected at most "
                         f"{n:,}")
    bounds, bchrom = [], []
    for c, a, b in zip(names, starts, ends, strict=True):
        for lo in range(a, b, block_size):
            bounds.append((lo, min(b, lo + block_size)))
            bchrom.append(c)
    return RidgeBlocks(chrom=np.array(bchrom), bounds=np.array(bounds, dtype=np.int64),
                       chromosomes=tuple(str(c) for c in names), block_size=int(block_size))


def fold_bounds(folds_sorted: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each fold in samples sorted by fold."""
    K = int(folds_sorted.max()) + 1
    edges = np.searchsorted(folds_sorted, np.arange(K + 1))
    return [(int(edges[k]), int(edges[k + 1])) for k in range(K)]


def level0_block(Z: np.ndarray, Y: np.ndarray, bounds: Sequence[tuple[int, int]],
                 penalties: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Out-of-fold ridge predictions of one block, for every penalty and trait.

    Parameters
    ----------
    Z : ndarray of shape (N, B), float64
        Standardized, residualized genotypes, samples sorted by fold.
    Y : ndarray of shape (N, D), float64
        Residualized traits, same sample order.
    bounds : list of (start, stop), or None
        The rows of each fold; None for leave-one-out (every sample is its own fold).
    penalties : ndarray of shape (R,)

    Returns
    -------
    ndarray of shape (D, R, N), ``dtype``
        Row ``[d, r]``: the predictions of trait d with penalty r, each fold predicted by the
        fit on the other folds.
    """
    from scipy.linalg import cho_factor, cho_solve

    N, B = Z.shape
    D, R = Y.shape[1], penalties.size
    out = np.empty((D, R, N), dtype=dtype)
    if B == 0:
        out[...] = 0.0
        return out
    if bounds is None:
        return _level0_loo(Z, Y, penalties, out)
    grams = [Z[a:b].T @ Z[a:b] for a, b in bounds]
    zy = [Z[a:b].T @ Y[a:b] for a, b in bounds]
    A, b_all = sum(grams), sum(zy)
    diag = np.arange(B)
    for k, (a, b) in enumerate(bounds):
        Ak, bk = A - grams[k], b_all - zy[k]
        beta = np.empty((B, R, D))
        for r, lam in enumerate(penalties):
            M = Ak.copy()
            M[diag, diag] += lam
            beta[:, r, :] = cho_solve(cho_factor(M, overwrite_a=True, check_finite=False),
                                      bk, check_finite=False)
        pred = Z[a:b] @ beta.reshape(B, R * D)          # (n_k, R D)
        out[:, :, a:b] = pred.reshape(b - a, R, D).transpose(2, 1, 0)
    return out


def _level0_loo(Z: np.ndarray, Y: np.ndarray, penalties: np.ndarray, out: np.ndarray
                ) -> np.ndarray:
    """Leave-one-out level 0 in closed form: with ``Z^T Z = V diag(s) V^T`` and ``U = Z V``,
    the full-data fit of penalty lambda is ``U diag(1 / (s + lambda)) U^T Y`` and its
    leverages ``h_i = sum_j U_ij^2 / (s_j + lambda)``; the prediction of sample i by the fit
    without it is ``(fitted_i - h_i y_i) / (1 - h_i)``."""
    N, B = Z.shape
    D, R = Y.shape[1], penalties.size
    s, V = np.linalg.eigh(Z.T @ Z)
    s = np.clip(s, 0.0, None)                         # Z^T Z is PSD; clip rounding below 0
    U = Z @ V
    inv = 1.0 / (s[:, None] + penalties[None, :])     # (B, R)
    UtY = U.T @ Y                                     # (B, D)
    coef = (inv[:, :, None] * UtY[:, None, :]).reshape(B, R * D)
    fitted = (U @ coef).reshape(N, R, D)
    lev = (U * U) @ inv                               # (N, R)
    loo = (fitted - lev[:, :, None] * Y[:, None, :]) / (1.0 - lev)[:, :, None]
    out[...] = loo.transpose(2, 1, 0)
    return out


@dataclass(frozen=True)
class Level1Fit:
    """The level-1 ridge of one trait."""

    #: Index of the chosen penalty.
    best: int
    #: Mean over folds of the out-of-fold R^2, per penalty.
    r2: np.ndarray
    #: LOCO predictions, (n_chromosomes, N), samples sorted by fold.
    loco: np.ndarray
    #: Out-of-fold whole-genome prediction, (N,).
    prediction: np.ndarray


def _standardized_rows(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (ddof 0) of each predictor over all samples; a
    constant predictor gets scale inf (its standardized column is 0)."""
    mean = np.empty(W.shape[0])
    sd = np.empty(W.shape[0])
    for lo in range(0, W.shape[0], 256):
        chunk = np.asarray(W[lo:lo + 256], dtype=np.float64)
        mean[lo:lo + 256] = chunk.mean(axis=1)
        sd[lo:lo + 256] = chunk.std(axis=1)
    sd[~(sd > 0)] = np.inf
    return mean, sd


#: Samples per slab of the leave-one-out level 1 (bounds the P x chunk temporaries).
_LOO_CHUNK = 4096


def _r2(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """``1 - RSS / TSS`` of each row of ``pred`` (REGENIE's conventions for 0 / 0)."""
    res = ((y[None, :] - pred) ** 2).sum(axis=1)
    tot = ((y - y.mean()) ** 2).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((res != 0) & (tot != 0), 1 - res / tot,
                        np.where((res != 0) & (tot == 0), 0.0, 1.0))


def fit_level1(W: np.ndarray, y: np.ndarray, bounds: Sequence[tuple[int, int]],
               penalties: np.ndarray, column_chrom: np.ndarray, n_chromosomes: int
               ) -> Level1Fit:
    """Level 1 for one trait: ridge on the standardized level-0 predictors, penalty by CV,
    then the LOCO predictions.

    Parameters
    ----------
    W : ndarray of shape (P, N)
        The trait's level-0 predictors (one per row; float32 or float64), samples sorted by
        fold.
    y : ndarray of shape (N,), float64
    bounds : list of (start, stop), or None
        The samples of each fold; None for leave-one-out.
    column_chrom : ndarray of shape (P,), int
        Chromosome index of each predictor; the predictors of a chromosome are contiguous.
    """
    from scipy.linalg import cho_factor, cho_solve

    P, N = W.shape
    mean, sd = _standardized_rows(W)

    def slab(a: int, b: int) -> np.ndarray:
        return (np.asarray(W[:, a:b], dtype=np.float64) - mean[:, None]) / sd[:, None]

    if bounds is None:
        return _level1_loo(slab, N, P, y, penalties, column_chrom, n_chromosomes)
    grams, wy = [], []
    for a, b in bounds:
        Wk = slab(a, b)
        grams.append(Wk @ Wk.T)
        wy.append(Wk @ y[a:b])
    A, c_all = sum(grams), sum(wy)
    R = penalties.size
    diag = np.arange(P)
    betas = np.empty((len(bounds), R, P))
    for k in range(len(bounds)):
        Ak, ck = A - grams[k], c_all - wy[k]
        for r, lam in enumerate(penalties):
            M = Ak.copy()
            M[diag, diag] += lam
            betas[k, r] = cho_solve(cho_factor(M, overwrite_a=True, check_finite=False), ck,
                                    check_finite=False)
    del grams
    r2 = np.zeros(R)
    preds = np.empty((R, N))
    starts = np.flatnonzero(np.r_[True, column_chrom[1:] != column_chrom[:-1]])
    ends = np.r_[starts[1:], P]
    parts = np.zeros((n_chromosomes, N))
    for k, (a, b) in enumerate(bounds):
        Wk = slab(a, b)
        preds[:, a:b] = betas[k] @ Wk
        r2 += _r2(y[a:b], preds[:, a:b])
    r2 /= len(bounds)
    finite = np.isfinite(r2)
    best = int(np.argmax(np.where(finite, r2, -np.inf))) if finite.any() else -1
    if best < 0 or not np.all(np.isfinite(preds[best])):
        return Level1Fit(best=-1, r2=r2, loco=np.full((n_chromosomes, N), np.nan),
                         prediction=preds[0])
    for k, (a, b) in enumerate(bounds):
        Wk = slab(a, b)
        beta = betas[k, best]
        for s, e in zip(starts, ends, strict=True):
            parts[column_chrom[s], a:b] = beta[s:e] @ Wk[s:e]
    full = preds[best]
    loco = full[None, :] - parts
    return Level1Fit(best=best, r2=r2, loco=loco, prediction=full)


def _level1_loo(slab: Callable[[int, int], np.ndarray], N: int, P: int, y: np.ndarray,
                penalties: np.ndarray, column_chrom: np.ndarray, n_chromosomes: int
                ) -> Level1Fit:
    """Level 1 by leave-one-out, in closed form (see :func:`_level0_loo`).

    With ``A = W W^T = V diag(s) V^T``, ``T = V^T W`` and ``beta = (A + lambda I)^-1 W y``,
    the fit without sample i is ``beta_-i = beta - (A + lambda I)^-1 w_i e_i``, where
    ``e_i = (y_i - w_i^T beta) / (1 - h_i)`` is its leave-one-out residual. Its LOCO
    prediction for chromosome c sums ``w_ij beta_-i,j`` over the predictors j not on c.
    """
    chunks = [(a, min(N, a + _LOO_CHUNK)) for a in range(0, N, _LOO_CHUNK)]
    A = np.zeros((P, P))
    c = np.zeros(P)
    for a, b in chunks:
        Wk = slab(a, b)
        A += Wk @ Wk.T
        c += Wk @ y[a:b]
    s, V = np.linalg.eigh(A)
    s = np.clip(s, 0.0, None)
    inv = 1.0 / (s[:, None] + penalties[None, :])       # (P, R)
    Vc = V.T @ c
    R = penalties.size
    preds = np.empty((R, N))
    lev = np.empty((R, N))
    for a, b in chunks:
        T = V.T @ slab(a, b)                             # (P, n)
        fitted = (inv * Vc[:, None]).T @ T               # (R, n)
        lev[:, a:b] = inv.T @ (T * T)
        preds[:, a:b] = (fitted - lev[:, a:b] * y[a:b]) / (1.0 - lev[:, a:b])
    r2 = _r2(y, preds)
    finite = np.isfinite(r2)
    best = int(np.argmax(np.where(finite, r2, -np.inf))) if finite.any() else -1
    if best < 0 or not np.all(np.isfinite(preds[best])):
        return Level1Fit(best=-1, r2=r2, loco=np.full((n_chromosomes, N), np.nan),
                         prediction=preds[0])
    full = preds[best]
    e = y - full                                         # leave-one-out residuals
    beta = V @ (inv[:, best] * Vc)
    starts = np.flatnonzero(np.r_[True, column_chrom[1:] != column_chrom[:-1]])
    ends = np.r_[starts[1:], P]
    parts = np.zeros((n_chromosomes, N))
    for a, b in chunks:
        Wk = slab(a, b)
        Mx = V @ (inv[:, best, None] * (V.T @ Wk))       # (A + lambda I)^-1 w_i, (P, n)
        terms = Wk * (beta[:, None] - Mx * e[a:b])       # w_ij beta_-i,j
        for s0, e0 in zip(starts, ends, strict=True):
            parts[column_chrom[s0], a:b] = terms[s0:e0].sum(axis=0)
    return Level1Fit(best=best, r2=r2, loco=full[None, :] - parts, prediction=full)


@dataclass(frozen=True)
class LocoPredictions:
    """Leave-one-chromosome-out predictions of every trait (REGENIE step 1)."""

    #: Chromosomes with level-0 blocks, in genome order.
    chromosomes: tuple[str, ...]
    #: ``loco[c]``: the prediction of each trait from every chromosome but
    #: ``chromosomes[c]``, shape (n_chromosomes, N, D), samples in input order.
    loco: np.ndarray
    #: The out-of-fold whole-genome prediction, (N, D).
    prediction: np.ndarray
    #: Heritability grid and the penalties of level 0 and level 1.
    h2_grid: tuple[float, ...]
    penalties0: np.ndarray
    penalties1: np.ndarray
    #: Chosen level-1 penalty per trait (index into the grid), (D,).
    best: np.ndarray
    #: Mean out-of-fold R^2 of each level-1 penalty, (R, D).
    r2: np.ndarray
    #: Fold of every sample, (N,).
    folds: np.ndarray
    n_blocks: int
    block_size: int
    n_variants: int
    trait_names: list[str] = field(default_factory=list)
    #: Leave-one-out cross-validation at both levels (``folds`` is then ``arange(N)``).
    loocv: bool = False

    @property
    def n_folds(self) -> int:
        return int(self.folds.max()) + 1

    @property
    def cross_validation(self) -> str:
        """``"leave-one-out"`` or ``"K-fold"`` with K the number of folds."""
        return "leave-one-out" if self.loocv else f"{self.n_folds}-fold"

    @property
    def n_samples(self) -> int:
        return int(self.loco.shape[1])

    @property
    def n_traits(self) -> int:
        return int(self.loco.shape[2])

    def for_chromosome(self, chrom: str) -> np.ndarray:
        """The (N, D) prediction to subtract for a variant on ``chrom``: the LOCO prediction,
        or the whole-genome one for a chromosome without step-1 variants."""
        chrom = str(chrom)
        if chrom in self.chromosomes:
            return self.loco[self.chromosomes.index(chrom)]
        return self.prediction

    def summary(self) -> dict:
        """For run.json: the settings and, per trait, the level-1 choice and its CV R^2."""
        return {
            "h2_grid": list(self.h2_grid), "n_folds": self.n_folds,
            "cross_validation": self.cross_validation,
            "block_size": self.block_size, "n_blocks": self.n_blocks,
            "n_variants": self.n_variants, "chromosomes": list(self.chromosomes),
            "penalties_level0": self.penalties0.tolist(),
            "penalties_level1": self.penalties1.tolist(),
            "level1": {name: {"h2": self.h2_grid[int(b)], "cv_r2": float(self.r2[int(b), k])}
                       for k, (name, b) in enumerate(zip(self.trait_names, self.best,
                                                         strict=True))},
        }


def level1_all(read_dimension: Callable[[int], np.ndarray], Ys: np.ndarray, order: np.ndarray,
               bounds: Sequence[tuple[int, int]] | None, blocks: RidgeBlocks, n_pred0: int,
               h2_grid: tuple[float, ...], *, folds: np.ndarray, n_variants: int,
               trait_names: list[str], scale: np.ndarray | None = None,
               load: Callable | None = None, save: Callable | None = None,
               progress=None) -> LocoPredictions:
    """Level 1 of every trait from its level-0 predictors, and the :class:`LocoPredictions`.

    ``read_dimension(d)`` returns trait d's predictors, (blocks R, N) in fold order.
    Checkpoints: ``load(d)`` returns a trait's :class:`Level1Fit` saved earlier, or None;
    ``save(d, fit)`` is called after each trait fitted here. ``scale`` (D,) multiplies
    the predictions (the traits' scales, when ``Ys`` has unit-variance columns).
    ``bounds`` None: leave-one-out cross-validation.
    """
    N, D = Ys.shape
    R = len(h2_grid)
    P = len(blocks) * R
    pen1 = ridge_penalties(P, h2_grid)
    chrom_index = {c: i for i, c in enumerate(blocks.chromosomes)}
    column_chrom = np.repeat([chrom_index[c] for c in blocks.chrom], R)
    n_chrom = len(blocks.chromosomes)
    loco = np.empty((n_chrom, N, D))
    pred = np.empty((N, D))
    best = np.empty(D, dtype=np.int64)
    r2 = np.empty((R, D))
    for d in range(D):
        fit = load(d) if load is not None else None
        if fit is None:
            fit = fit_level1(read_dimension(d), Ys[:, d], bounds, pen1, column_chrom, n_chrom)
            if save is not None and fit.best >= 0:
                save(d, fit)
        if fit.best < 0:
            raise InputError(f"--lmm ridge: the level-1 ridge fit of trait "
                             f"{trait_names[d]!r} failed (no penalty gives a finite "
                             "cross-validated R^2: the trait or its level-0 predictions are "
                             "not finite); check its values or drop it")
        s_d = 1.0 if scale is None else float(scale[d])
        loco[:, order, d] = fit.loco * s_d
        pred[order, d] = fit.prediction * s_d
        best[d], r2[:, d] = fit.best, fit.r2
        if progress:
            progress(d + 1, D, "ridge level 1")
    return LocoPredictions(chromosomes=blocks.chromosomes, loco=loco, prediction=pred,
                           h2_grid=tuple(h2_grid), penalties0=ridge_penalties(n_pred0, h2_grid),
                           penalties1=pen1, best=best, r2=r2, folds=folds,
                           n_blocks=len(blocks), block_size=blocks.block_size,
                           n_variants=n_variants, trait_names=list(trait_names),
                           loocv=bounds is None)


def fit_loco_predictions(Y: np.ndarray, G: np.ndarray, chrom: Sequence[str], *,
                         covariates: np.ndarray | None = None,
                         block_size: int = DEFAULT_BLOCK_SIZE,
                         h2_grid: Sequence[float] = DEFAULT_H2_GRID,
                         n_folds: int = DEFAULT_FOLDS, folds: np.ndarray | None = None,
                         loocv: bool = False, maf_min: float = 0.0, dtype=np.float32,
                         trait_names: list[str] | None = None,
                         progress=None) -> LocoPredictions:
    """REGENIE step 1 on arrays: the LOCO predictions of every trait.

    Parameters
    ----------
    Y : ndarray of shape (N, D), float64
        Traits (already preprocessed as wanted); no missing values.
    G : ndarray of shape (N, M)
        A1 dosages of the step-1 variants, NaN for missing, ordered by chromosome.
    chrom : sequence of str, length M
        Chromosome of each column of G (at least two chromosomes).
    covariates : ndarray of shape (N, n_covariates), optional
        Without intercept (always included).
    block_size, h2_grid, n_folds : see the module docstring.
    folds : ndarray of shape (N,), int, optional
        Fold of each sample (default :func:`assign_folds`).
    loocv : bool
        Leave-one-out cross-validation at both levels instead of folds (REGENIE's
        ``--loocv``); ``n_folds`` and ``folds`` are then ignored.
    maf_min : float
        Variants below this MAF (and monomorphic ones) are left out of step 1.
    dtype : numpy dtype
        Precision the level-0 predictions are stored in (the file path uses float32).

    Returns
    -------
    LocoPredictions

    Examples
    --------
    >>> import numpy as np
    >>> from gwasrep.assoc.ridge import fit_loco_predictions
    >>> rng = np.random.default_rng(0)
    >>> G = rng.binomial(2, 0.3, size=(300, 200)).astype(float)
    >>> Y = G[:, :100] @ rng.normal(0, 0.1, (100, 2)) + rng.standard_normal((300, 2))
    >>> loco = fit_loco_predictions(Y, G, ["1"] * 100 + ["2"] * 100, block_size=50)
    >>> loco.loco.shape, loco.chromosomes
    ((2, 300, 2), ('1', '2'))
    """
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2:
        raise InputError(f"traits must be a 2-D array (n_samples, n_traits); got shape {Y.shape}")
    if not np.all(np.isfinite(Y)):
        raise InputError("traits contain NaN or inf values")
    N, D = Y.shape
    G = np.asarray(G)
    chrom = np.asarray(chrom).astype(str)
    if G.shape[0] != N or G.shape[1] != chrom.size:
        raise InputError(f"genotypes of shape {G.shape}: expected ({N}, {chrom.size}) (samples "
                         "of the traits, one column per chromosome label)")
    grid = check_h2_grid(h2_grid, option="h2_grid")
    Q = covariate_projector(covariates, N)
    if loocv:
        folds = np.arange(N, dtype=np.int64)
    elif folds is None:
        check_folds(N, n_folds, Q.shape[1], option="n_folds")
        folds = assign_folds(N, n_folds)
    folds = np.asarray(folds, dtype=np.int64)
    if not loocv:
        check_folds(N, int(folds.max()) + 1, Q.shape[1], option="n_folds")
    blocks = ridge_blocks(chrom, block_size, option="block_size")
    order = np.argsort(folds, kind="stable")
    bounds = None if loocv else fold_bounds(folds[order])
    Ys, scale = residualized_traits(Y, Q)
    Ys = Ys[order]
    Qs = Q[order]
    pen0 = ridge_penalties(G.shape[1], grid)
    R = len(grid)
    W = np.empty((D, len(blocks) * R, N), dtype=dtype)
    for bi, (a, b) in enumerate(blocks.bounds):
        Z, _ = standardize_genotypes(G[order, a:b], Qs, maf_min=maf_min)
        W[:, bi * R:(bi + 1) * R] = level0_block(Z, Ys, bounds, pen0, dtype=dtype)
        if progress:
            progress(bi + 1, len(blocks), "ridge level 0")
    names = trait_names or [f"dimension {k + 1}" for k in range(D)]
    return level1_all(lambda d: W[d], Ys, order, bounds, blocks, G.shape[1], grid,
                      folds=folds, n_variants=int(G.shape[1]), trait_names=names,
                      scale=scale, progress=progress)
