"""LD score regression for SNP heritability, with the algorithm of bulik/ldsc (``--h2``).

Model: ``E[chi2_j] = intercept + N_j h2 l_j / M``.

- **Weights** (the inverse of the conditional variance, with heteroscedasticity
  and overcounting terms): ``w_j = 1 / (2 (a + h2 N_j max(l_j,1) / M)^2)
  / max(lw_j, 1)``, with h2 clipped to [0, 1] and ``a`` the intercept.
- **IRWLS:** weights from an aggregate h2 first, then two reweighting rounds,
  each from the previous weighted least-squares fit; the final fit is block
  jackknifed.
- **Regressors:** ``N_j l_j / mean(N)`` (plus a constant column unless the
  intercept is fixed).
- **Block jackknife:** contiguous blocks with separators
  ``floor(linspace(0, n, n_blocks + 1))``. The estimate and the delete values
  come from the summed block cross-products; pseudovalues are
  ``B est - (B - 1) delete``; the SE is from their covariance / B.
- **Two-step estimator** (default with a free intercept, cutoff 30):
  1. the intercept is estimated on SNPs with chi2 < 30;
  2. h2 is estimated on all SNPs with that intercept fixed;
  3. the jackknife delete values of the slope are corrected by
     ``c (intercept delete value - intercept)``, with
     ``c = sum(w x) / sum(w x^2)`` at the initial weights.

  Step 1's re-weighting uses its N-scaled LD scores, as ldsc does.

Numerics only: arrays in, :class:`H2Result` out. SNPs must be in genome order
(the jackknife blocks are contiguous).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gwasrep.errors import InputError

__all__ = ["H2Result", "ldsc_h2"]


@dataclass(frozen=True)
class H2Result:
    h2: float
    h2_se: float
    intercept: float
    #: NaN when the intercept was fixed.
    intercept_se: float
    #: ``(intercept - 1) / (mean chi2 - 1)``; NaN when mean chi2 <= 1 or fixed intercept.
    ratio: float
    ratio_se: float
    mean_chi2: float
    lambda_gc: float
    n_snps: int
    n_blocks: int
    M: float
    two_step: float | None


def _weights(ld, w_ld, N, M, h2, intercept):
    h2 = min(max(h2, 0.0), 1.0)
    ld = np.fmax(ld, 1.0)
    w_ld = np.fmax(w_ld, 1.0)
    c = h2 * N / M
    return 1.0 / (2 * (intercept + c * ld) ** 2) / w_ld


def _wls(x, y, sw):
    """Least squares on rows scaled by sw / sum(sw) (ldsc's weighting)."""
    s = sw / sw.sum()
    return np.linalg.lstsq(x * s[:, None], y * s, rcond=None)[0]


@dataclass
class _Jackknife:
    est: np.ndarray        # (p,)
    delete: np.ndarray     # (B, p)
    separators: np.ndarray
    cov: np.ndarray = None
    se: np.ndarray = None


def _finish(est: np.ndarray, delete: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    B = delete.shape[0]
    pseudo = B * est[None, :] - (B - 1) * delete
    cov = np.atleast_2d(np.cov(pseudo.T, ddof=1)) / B
    return cov, np.sqrt(np.diag(cov))


def _jackknife(x, y, separators) -> _Jackknife:
    B = len(separators) - 1
    p = x.shape[1]
    xty = np.zeros((B, p))
    xtx = np.zeros((B, p, p))
    for b in range(B):
        sl = slice(separators[b], separators[b + 1])
        xty[b] = x[sl].T @ y[sl]
        xtx[b] = x[sl].T @ x[sl]
    tty, ttx = xty.sum(axis=0), xtx.sum(axis=0)
    est = np.linalg.solve(ttx, tty)
    delete = np.array([np.linalg.solve(ttx - xtx[b], tty - xty[b]) for b in range(B)])
    jk = _Jackknife(est=est, delete=delete, separators=np.asarray(separators))
    jk.cov, jk.se = _finish(est, delete)
    return jk


def _irwls(x, y, update, w0, n_blocks, separators=None) -> _Jackknife:
    sw = np.sqrt(w0)
    for _ in range(2):
        sw = np.sqrt(update(_wls(x, y, sw)))
    s = sw / sw.sum()
    if separators is None:
        separators = np.floor(np.linspace(0, len(y), n_blocks + 1)).astype(int)
    return _jackknife(x * s[:, None], y * s, separators)


def ldsc_h2(chi2: np.ndarray, ld: np.ndarray, w_ld: np.ndarray, N: np.ndarray, M: float, *,
            n_blocks: int = 200, intercept: float | None = None,
            two_step: float | None = 30.0) -> H2Result:
    """SNP heritability by LD score regression (ldsc ``--h2`` with one LD score).

    Parameters
    ----------
    chi2, ld, w_ld, N : ndarray of shape (n_snps,)
        Chi-square statistics, reference LD scores, regression-weight LD scores
        and sample sizes, in genome order.
    M : float
        Number of SNPs behind the LD scores (M_5_50 by default in ``gwasrep h2``).
    intercept : float, optional
        Fix the intercept (``--intercept-h2``; 1 for ``--no-intercept``).
    two_step : float or None
        Chi2 cutoff of the two-step estimator; used only with a free intercept.
    """
    chi2, ld, w_ld, N = (np.asarray(a, dtype=np.float64).ravel() for a in (chi2, ld, w_ld, N))
    n = chi2.size
    if n < n_blocks:
        raise InputError(f"LD score regression needs at least {n_blocks} SNPs for the block "
                         f"jackknife; found {n}")
    for name, a in (("chi2", chi2), ("LD scores", ld), ("weight LD scores", w_ld), ("N", N)):
        if not np.all(np.isfinite(a)):
            raise InputError(f"{name} contain NaN or inf values")
    M = float(M)
    null_int = 1.0 if intercept is None else intercept
    agg = M * (chi2.mean() - null_int) / np.mean(ld * N)
    w0 = _weights(ld, w_ld, N, M, agg, null_int)
    Nbar = N.mean()
    x = (N * ld / Nbar)[:, None]
    fixed = intercept is not None

    if fixed:
        yp = chi2 - intercept
        jk = _irwls(x, yp, lambda c: _weights(ld, w_ld, N, M, M * c[0] / Nbar, intercept), w0,
                    n_blocks)
        h2, h2_se = jk.est[0] * M / Nbar, jk.se[0] * M / Nbar
        icpt, icpt_se = intercept, np.nan
    elif two_step is not None:
        step1 = chi2 < two_step
        x1 = np.hstack([x[step1], np.ones((step1.sum(), 1))])
        w_ld1, N1 = w_ld[step1], N[step1]
        # ldsc re-weights step 1 with the N-scaled LD scores (its x1), kept here.
        jk1 = _irwls(x1, chi2[step1],
                     lambda c: _weights(x1[:, 0], w_ld1, N1, M, M * c[0] / Nbar, c[1]),
                     w0[step1], n_blocks)
        icpt = jk1.est[1]
        yp = chi2 - icpt
        keep = np.flatnonzero(step1)
        sep = np.r_[0, keep[jk1.separators[1:-1]], n]
        jk2 = _irwls(x, yp, lambda c: _weights(ld, w_ld, N, M, M * c[0] / Nbar, icpt), w0,
                     n_blocks, separators=sep)
        c = np.sum(w0 * x[:, 0]) / np.sum(w0 * x[:, 0] ** 2)
        est = np.array([jk2.est[0], icpt])
        delete = np.column_stack([jk2.delete[:, 0] - c * (jk1.delete[:, 1] - icpt),
                                  jk1.delete[:, 1]])
        cov, se = _finish(est, delete)
        h2, h2_se = est[0] * M / Nbar, se[0] * M / Nbar
        icpt_se = se[1]
    else:
        x2 = np.hstack([x, np.ones((n, 1))])
        jk = _irwls(x2, chi2, lambda c: _weights(ld, w_ld, N, M, M * c[0] / Nbar, c[1]), w0,
                    n_blocks)
        h2, h2_se = jk.est[0] * M / Nbar, jk.se[0] * M / Nbar
        icpt, icpt_se = jk.est[1], jk.se[1]
    mean_chi2 = float(chi2.mean())
    if not fixed and mean_chi2 > 1:
        ratio, ratio_se = (icpt - 1) / (mean_chi2 - 1), icpt_se / (mean_chi2 - 1)
    else:
        ratio = ratio_se = np.nan
    return H2Result(h2=float(h2), h2_se=float(h2_se), intercept=float(icpt),
                    intercept_se=float(icpt_se), ratio=float(ratio), ratio_se=float(ratio_se),
                    mean_chi2=mean_chi2, lambda_gc=float(np.median(chi2) / 0.4549),
                    n_snps=n, n_blocks=n_blocks, M=M,
                    two_step=None if fixed else two_step)
