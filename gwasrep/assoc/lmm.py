"""Multi-trait linear mixed model: the Kronecker null fit and the rotated scan.

Model (METHODS.md section 1, "LMM")::

    vec(Y) ~ N(vec(F A), Cg (x) K + Cn (x) I)

with ``Y`` (N x D) the traits, ``F`` (N x K) the covariates with the
intercept, ``K`` the kinship (GRM) and ``Cg``, ``Cn`` the D x D genetic and
noise covariances.

Everything works in the eigenbasis of ``K`` and the generalized eigenbasis of
``(Cg, Cn)``; no (N D) x (N D) matrix is ever formed:

- ``K = U diag(s) U^T`` with ``U`` of shape (N, r). Full rank has ``r = N``;
  low rank (FaST-LMM) has ``r = S < N`` from the SVD of the N x S genotype
  matrix, and the complement of ``U`` has eigenvalue 0.
- ``L Cg L^T = diag(lam)`` and ``L Cn L^T = I``. The rotated traits ``Y L^T``
  are independent, trait ``j`` with covariance ``V_j = lam_j K + I``.
- For any vectors ``a``, ``b``:
  ``a^T V_j^{-1} b = a^T b + sum_i (w_ij - 1) (U^T a)_i (U^T b)_i`` with
  ``w_ij = 1 / (s_i lam_j + 1)``. This single formula covers full and low rank
  (the complement has ``w = 1``), so both share one code path.

Numerics only: arrays in, dataclasses out.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize, special

from gwasrep.errors import GwasrepError, InputError

__all__ = [
    "KinshipEigen",
    "LmmNull",
    "LmmScan",
    "NonConvergenceError",
    "eigen_from_kinship",
    "eigen_from_standardized",
    "fit_lmm_null",
    "lmm_block_result",
    "lmm_lml",
    "lmm_scan_statistics",
    "describe_nonconvergence",
    "make_lmm_scan",
]

log = logging.getLogger("gwasrep")

#: Relative tolerance below which a negative GRM eigenvalue counts as rounding.
PSD_RTOL = 1e-6
#: Lower bound of the conditional noise variances (Cholesky diagonal of Cn squared)
#: of the unit-variance traits during the fit. Below it the generalized eigenvalues
#: exceed ~1e4 and the likelihood loses precision that an optimizer would exploit.
CN_FLOOR = 1e-4


class NonConvergenceError(GwasrepError):
    """The null model's optimizer did not converge."""


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
    if not np.all(np.isfinite(K)):
        n_bad = int((~np.isfinite(K)).sum())
        raise InputError(f"{name}: {n_bad:,} entries are NaN or inf; expected a finite matrix")
    scale = max(float(np.abs(np.diag(K)).max()), 1e-300)
    asym = float(np.abs(K - K.T).max())
    if asym > 1e-6 * scale:
        raise InputError(f"{name}: not symmetric (largest |K_ij - K_ji| = {asym:.3g})")
    s, U = linalg.eigh((K + K.T) / 2, driver="evd", overwrite_a=True, check_finite=False)
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


# --------------------------------------------------------------------------------------
# Likelihood in the rotated coordinates


@dataclass(frozen=True)
class _Data:
    """The data in the kinship eigenbasis, computed once per fit."""

    N: int
    D: int
    K: int
    s: np.ndarray        # (r,)
    Yt: np.ndarray       # U^T Y, (r, D)
    Ft: np.ndarray       # U^T F, (r, K)
    YY: np.ndarray       # Y^T Y, (D, D)
    FY: np.ndarray       # F^T Y, (K, D)
    FF: np.ndarray       # F^T F, (K, K)
    logdet_FF: float


def _rotate(eig: KinshipEigen, Y: np.ndarray, F: np.ndarray) -> _Data:
    U = eig.U
    FF = F.T @ F
    return _Data(N=Y.shape[0], D=Y.shape[1], K=F.shape[1], s=eig.s, Yt=U.T @ Y, Ft=U.T @ F,
                 YY=Y.T @ Y, FY=F.T @ Y, FF=FF, logdet_FF=float(np.linalg.slogdet(FF)[1]))


def _gen_eig(Cg: np.ndarray, Cn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``L`` with ``L Cg L^T = diag(lam)``, ``L Cn L^T = I``."""
    lam, V = linalg.eigh(Cg, Cn, check_finite=False)
    return np.clip(lam, 0.0, None), V.T


def _lml_terms(dat: _Data, Cg: np.ndarray, Cn: np.ndarray, restricted: bool, *,
               grad: bool = False):
    """Log-likelihood (and its gradient with respect to Cg and Cn) at (Cg, Cn)."""
    N, D, K = dat.N, dat.D, dat.K
    lam, L = _gen_eig(Cg, Cn)
    W = 1.0 / (dat.s[:, None] * lam[None, :] + 1.0)          # (r, D)
    Dw = W - 1.0
    Yt = dat.Yt @ L.T                                          # rotated traits, eigenbasis
    FYr = dat.FY @ L.T                                         # F^T y_j, (K, D)
    YYr = L @ dat.YY @ L.T
    # A_j = F^T V_j^{-1} F and b_j = F^T V_j^{-1} y_j for every rotated trait j.
    A = dat.FF[None] + np.einsum("ik,ij,il->jkl", dat.Ft, Dw, dat.Ft)
    b = FYr.T + np.einsum("ik,ij->jk", dat.Ft, Dw * Yt)
    cho = [linalg.cho_factor(A[j], check_finite=False) for j in range(D)]
    B = np.stack([linalg.cho_solve(cho[j], b[j], check_finite=False) for j in range(D)], axis=1)
    q = np.diag(YYr) + (Dw * Yt**2).sum(axis=0)
    rss = q - np.einsum("kj,jk->j", B, b)
    logdet_Cn = float(np.linalg.slogdet(Cn)[1])
    logdet_V = N * logdet_Cn - np.log(W).sum()
    quad = float(rss.sum())
    if restricted:
        logdet_A = sum(2 * np.log(np.diag(c[0])).sum() for c in cho)
        logdet_H = -K * logdet_Cn + logdet_A
        lml = -0.5 * ((N - K) * D * np.log(2 * np.pi) + logdet_V + logdet_H
                      - D * dat.logdet_FF + quad)
    else:
        lml = -0.5 * (N * D * np.log(2 * np.pi) + logdet_V + quad)
    if not grad:
        return float(lml), None, None
    # Gradient: d lml = -1/2 tr(P dV) + 1/2 r^T V^-1 dV V^-1 r, per rotated trait.
    Et = Yt - dat.Ft @ B                                       # residuals, eigenbasis (r, D)
    Rt = W * Et                                                # U^T V^-1 e
    EE = YYr - FYr.T @ B - B.T @ FYr + B.T @ dat.FF @ B        # e_j^T e_k (full space)
    PtKP = Rt.T @ (dat.s[:, None] * Rt)                        # rho^T K rho
    PtP = EE + _cross_w(Et, W)                                 # rho^T rho
    tg = (dat.s[:, None] * W).sum(axis=0)                      # tr(V_j^-1 K)
    tn = W.sum(axis=0) + (N - W.shape[0])                      # tr(V_j^-1)
    if restricted:
        for j in range(D):
            FKF = dat.Ft.T @ ((dat.s * W[:, j] ** 2)[:, None] * dat.Ft)
            FVVF = dat.FF + dat.Ft.T @ ((W[:, j] ** 2 - 1.0)[:, None] * dat.Ft)
            tg[j] -= np.trace(linalg.cho_solve(cho[j], FKF, check_finite=False))
            tn[j] -= np.trace(linalg.cho_solve(cho[j], FVVF, check_finite=False))
    Gg = -0.5 * (L.T @ (np.diag(tg) - PtKP) @ L)
    Gn = -0.5 * (L.T @ (np.diag(tn) - PtP) @ L)
    return float(lml), Gg, Gn


def _cross_w(Et: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``sum_i Et_ij Et_ik (W_ij W_ik - 1)``: the eigenbasis part of ``rho_j^T rho_k``."""
    WE = W * Et
    return WE.T @ WE - Et.T @ Et


def lmm_lml(eig: KinshipEigen, Y: np.ndarray, F: np.ndarray, Cg: np.ndarray, Cn: np.ndarray,
            *, restricted: bool = False) -> float:
    """Log marginal likelihood (ML, or REML with ``restricted``) at given Cg, Cn.

    ``F`` includes the intercept column. Used by the fit and, directly, by the
    tests against glimix-core.
    """
    dat = _rotate(eig, np.asarray(Y, float), np.asarray(F, float))
    return _lml_terms(dat, np.asarray(Cg, float), np.asarray(Cn, float), restricted)[0]


# --------------------------------------------------------------------------------------
# The null fit


@dataclass(frozen=True)
class LmmNull:
    """The fitted null model ``vec(Y) ~ N(vec(F A), Cg (x) K + Cn (x) I)``."""

    #: Genetic covariance, on the scale of the K given, shape (D, D).
    Cg: np.ndarray
    #: Noise covariance, shape (D, D).
    Cn: np.ndarray
    #: Log marginal likelihood at the optimum (REML if ``restricted``).
    lml: float
    restricted: bool
    converged: bool
    #: Optimizer message of the best start.
    message: str
    #: Largest absolute gradient entry of -lml / (N D) at the optimum.
    grad_max: float
    n_iter: int
    #: Log-likelihood reached from every start, best first.
    start_lmls: list[float]
    #: ``tr(K) / N``.
    trace_mean: float
    n_samples: int
    n_covariates: int
    eig: KinshipEigen = field(repr=False)
    #: Standard error of each :attr:`h2` (NaN on the h2 = 0 boundary); see :func:`_h2_se`.
    h2_se: np.ndarray | None = None

    @property
    def n_traits(self) -> int:
        return self.Cg.shape[0]

    @property
    def h2(self) -> np.ndarray:
        """Per-trait heritability ``t Cg_kk / (t Cg_kk + Cn_kk)`` with ``t = tr(K)/N``.

        For a GRM with mean diagonal 1 this is ``diag(Cg) / (diag(Cg) + diag(Cn))``;
        in general it is GEMMA's PVE.
        """
        g = self.trace_mean * np.diag(self.Cg)
        return g / (g + np.diag(self.Cn))

    @property
    def rg(self) -> np.ndarray:
        """Genetic correlations ``Cg_kl / sqrt(Cg_kk Cg_ll)`` (NaN where Cg_kk = 0)."""
        d = np.sqrt(np.diag(self.Cg))
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.Cg / np.outer(d, d)

    def summary(self) -> dict:
        """A JSON-friendly summary for run metadata."""
        return {"method": "REML" if self.restricted else "ML", "lml": self.lml,
                "converged": self.converged, "message": self.message,
                "grad_max": self.grad_max, "n_iter": self.n_iter,
                "start_lmls": self.start_lmls, "Cg": self.Cg.tolist(), "Cn": self.Cn.tolist(),
                "h2": self.h2.tolist(),
                "h2_se": None if self.h2_se is None else
                np.where(np.isfinite(self.h2_se), self.h2_se, None).tolist(),
                "rg": np.where(np.isfinite(self.rg), self.rg, None).tolist(),
                "kinship_trace_mean": self.trace_mean, "kinship": self.eig.kind,
                "kinship_rank": self.eig.rank}


def _tril_index(D: int):
    return np.tril_indices(D)


def _diag_positions(D: int) -> np.ndarray:
    """Positions of the diagonal within the packed lower triangle."""
    r, c = _tril_index(D)
    return np.flatnonzero(r == c)


def _unpack(theta: np.ndarray, D: int) -> tuple[np.ndarray, np.ndarray]:
    """Cholesky parameterization: Cg = Lg Lg^T (free), Cn = Ln Ln^T (log diagonal)."""
    ii = _tril_index(D)
    n = len(ii[0])
    Lg = np.zeros((D, D))
    Lg[ii] = theta[:n]
    Ln = np.zeros((D, D))
    Ln[ii] = theta[n:]
    Ln[np.diag_indices(D)] = np.exp(np.diag(Ln))
    return Lg, Ln


def _pack(Cg: np.ndarray, Cn: np.ndarray) -> np.ndarray:
    D = Cg.shape[0]
    ii = _tril_index(D)
    Lg = np.linalg.cholesky(Cg + 1e-9 * np.trace(Cg) / D * np.eye(D))
    Ln = np.linalg.cholesky(Cn)
    Ln = Ln.copy()
    Ln[np.diag_indices(D)] = np.log(np.diag(Ln))
    return np.concatenate([Lg[ii], Ln[ii]])


def _single_trait_h(dat: _Data, k: int, restricted: bool) -> float:
    """Heritability-like start for trait k: the best of a grid of delta = Cg/Cn."""
    best, best_h = -np.inf, 0.5
    for h in (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95):
        sub = _Data(N=dat.N, D=1, K=dat.K, s=dat.s, Yt=dat.Yt[:, [k]], Ft=dat.Ft,
                    YY=dat.YY[[k]][:, [k]], FY=dat.FY[:, [k]], FF=dat.FF, logdet_FF=dat.logdet_FF)
        v = _lml_terms(sub, np.array([[h]]), np.array([[1 - h]]), restricted)[0]
        if v > best:
            best, best_h = v, h
    return best_h


def fit_lmm_null(Y: np.ndarray, F: np.ndarray | None, eig: KinshipEigen, *,
                 restricted: bool = False, n_starts: int = 4, maxiter: int = 2000,
                 trait_names: list[str] | None = None) -> LmmNull:
    """Fit Cg and Cn by maximum likelihood (or REML) with several starts.

    Parameters
    ----------
    Y : ndarray of shape (N, D)
        Traits, no missing values.
    F : ndarray of shape (N, K) or None
        Covariates **without** intercept; the intercept is added.
    eig : KinshipEigen
        The kinship of the same N samples, in the same order.
    restricted : bool
        REML instead of ML.
    n_starts : int
        Starting points tried (1 to 4): single-trait heritabilities with the
        residual correlations, then Cg = Cn, 0.1/0.9 and 0.9/0.1 splits of the
        residual covariance. The best optimum is kept.

    Returns
    -------
    LmmNull
        ``converged`` is False when the best start's L-BFGS-B run did not
        report success or its gradient is not small; the caller decides.

    Notes
    -----
    L-BFGS-B on -lml / (N D) with the analytic gradient, over Cholesky factors:
    Cg's factor is free (Cg may be singular, e.g. h2 = 0) and Cn's diagonal is
    log-parameterized (Cn stays positive definite). The traits are scaled to
    unit variance and K to mean diagonal 1 during the fit, then scaled back.
    """
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2:
        raise InputError(f"traits must be a 2-D array (N, D); got shape {Y.shape}")
    N, D = Y.shape
    if eig.n_samples != N:
        raise InputError(f"the GRM has {eig.n_samples:,} samples but the traits have {N:,}")
    if not np.all(np.isfinite(Y)):
        raise InputError("traits contain NaN or inf values")
    F1 = np.ones((N, 1)) if F is None or F.shape[1] == 0 else np.hstack([np.ones((N, 1)), F])
    K = F1.shape[1]
    n_par = D * (D + 1)
    if n_par + K * D >= (N - 1) * D or N - K < D + 1:
        raise InputError(f"too many traits for the LMM: D={D} needs {n_par} covariance "
                         f"parameters plus {K * D} fixed effects, but there are only N={N:,} "
                         f"samples x D; use fewer dimensions (--pcs)")
    if N < 100 * D**2:
        warnings.warn(f"N={N:,} < 100 D^2 = {100 * D**2:,}: multi-trait variance components "
                      "may be unstable with this few samples per parameter (GEMMA's guidance)",
                      UserWarning, stacklevel=2)
    names = trait_names or [f"dimension {k + 1}" for k in range(D)]
    # Scale traits to unit variance and K to mean diagonal 1 for conditioning.
    sd = Y.std(axis=0)
    if np.any(sd <= 0):
        raise InputError(f"trait {names[int(np.argmin(sd))]} is constant")
    tm = eig.trace_mean if eig.trace_mean > 0 else 1.0
    eig_n = KinshipEigen(U=eig.U, s=eig.s / tm, trace_mean=1.0, kind=eig.kind)
    dat = _rotate(eig_n, Y / sd, F1)
    Bols = np.linalg.lstsq(F1, Y / sd, rcond=None)[0]
    R = Y / sd - F1 @ Bols
    Ctot = R.T @ R / max(N - K, 1)
    ev = np.linalg.eigvalsh(Ctot)
    if ev[0] <= 1e-10 * ev[-1]:
        raise InputError(f"traits are linearly dependent after the covariates (residual "
                         f"covariance eigenvalue {ev[0]:.3g} vs {ev[-1]:.3g}); use fewer "
                         "dimensions (--pcs)")
    norm = N * D

    def fun(theta):
        Lg, Ln = _unpack(theta, D)
        Cg, Cn = Lg @ Lg.T, Ln @ Ln.T
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                v, Gg, Gn = _lml_terms(dat, Cg, Cn, restricted, grad=True)
        except (np.linalg.LinAlgError, linalg.LinAlgError, FloatingPointError, ValueError):
            return np.inf, np.zeros_like(theta)
        ii = _tril_index(D)
        dLg = 2 * (Gg + Gg.T) / 2 @ Lg
        dLn = 2 * (Gn + Gn.T) / 2 @ Ln
        dLn[np.diag_indices(D)] *= np.diag(Ln)
        g = np.concatenate([dLg[ii], dLn[ii]])
        if not (np.isfinite(v) and np.all(np.isfinite(g))):
            return np.inf, np.zeros_like(theta)
        return -v / norm, -g / norm

    starts = []
    dh = np.sqrt([_single_trait_h(dat, k, restricted) for k in range(D)])
    starts.append((np.outer(dh, dh) * Ctot, np.outer(np.sqrt(1 - dh**2),
                                                     np.sqrt(1 - dh**2)) * Ctot))
    for a in (0.5, 0.1, 0.9):
        starts.append((a * Ctot, (1 - a) * Ctot))
    # The ML likelihood is unbounded when K is singular along the covariates (a centred
    # GRM has K 1 = 0) and Cn becomes singular: a trait direction is then "explained"
    # with zero noise. The Cholesky diagonal of Cn is bounded below (conditional
    # variance >= CN_FLOOR of the unit-scaled traits) and optima on that bound are
    # degenerate: they are used only if no start gives an interior optimum.
    n_g = D * (D + 1) // 2
    diag_pos = n_g + np.flatnonzero(np.isin(np.arange(n_g), _diag_positions(D)))
    lo = 0.5 * np.log(CN_FLOOR)
    # Box bounds far outside any plausible optimum (traits have unit variance and K mean
    # diagonal 1 here) keep line searches from overflowing.
    bounds = [(-100.0, 100.0)] * n_g + [(-100.0, 100.0)] * n_g
    for i in diag_pos:
        bounds[i] = (lo, 0.5 * np.log(100.0))
    results = []
    for Cg0, Cn0 in starts[:max(1, n_starts)]:
        x0 = _pack(Cg0, Cn0)
        x0[diag_pos] = np.maximum(x0[diag_pos], lo + 1.0)
        res = optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                                options={"maxiter": maxiter, "ftol": 1e-15, "gtol": 1e-9,
                                         "maxcor": 30})
        res.degenerate = bool(np.any(res.x[diag_pos] < lo + 1e-3))
        res.stationary = bool(np.isfinite(res.fun) and np.abs(res.jac).max() < 1e-5)
        results.append(res)
    # Prefer interior, stationary optima; among those the highest likelihood.
    results.sort(key=lambda r: (r.degenerate, not r.stationary, r.fun))
    best = results[0]
    Lg, Ln = _unpack(best.x, D)
    Cg_n, Cn_n = Lg @ Lg.T, Ln @ Ln.T
    grad_max = float(np.abs(best.jac).max())
    # L-BFGS-B may stop on "ABNORMAL" line searches at an optimum it cannot improve
    # in floating point; judge convergence by the gradient, not only by the flag.
    converged = bool(np.isfinite(best.fun) and grad_max < 1e-5 and not best.degenerate)
    message = str(best.message)
    if best.degenerate:
        message = ("degenerate: the noise covariance reached its lower bound (a trait "
                   "direction is explained by kinship and covariates without noise)")
    S = np.diag(sd)
    Cg = S @ Cg_n @ S / tm
    Cn = S @ Cn_n @ S
    # lml of the original data: the trait scaling has Jacobian prod(sd)^(N or N-K).
    lml = -best.fun * norm - (N - K if restricted else N) * float(np.log(sd).sum())
    start_lmls = [float(-r.fun * norm - (N - K if restricted else N) * np.log(sd).sum())
                  for r in results]
    return LmmNull(Cg=(Cg + Cg.T) / 2, Cn=(Cn + Cn.T) / 2, lml=float(lml),
                   restricted=restricted, converged=converged, message=message,
                   grad_max=grad_max, n_iter=int(best.nit), start_lmls=start_lmls,
                   trace_mean=eig.trace_mean, n_samples=N, n_covariates=K, eig=eig,
                   h2_se=_h2_se(dat, np.diag(Cg_n), np.diag(Cn_n), restricted))


def _h2_se(dat: _Data, vg: np.ndarray, ve: np.ndarray, restricted: bool) -> np.ndarray:
    """SE of ``h2_k = vg_k / (vg_k + ve_k)`` per trait (K with mean diagonal 1).

    The observed information of trait k's own likelihood (the univariate LMM that is
    the marginal of the multi-trait model) in (vg_k, ve_k), from central differences of
    the analytic gradient, then the delta method. For one trait at its optimum this is
    the usual GREML standard error (GEMMA's ``se(pve)``, GCTA's SE). NaN when vg_k is
    on the boundary (within 1e-4 of 0), where the curvature does not give an SE.
    """
    out = np.full(dat.D, np.nan)
    for k in range(dat.D):
        dk = _Data(N=dat.N, D=1, K=dat.K, s=dat.s, Yt=dat.Yt[:, [k]], Ft=dat.Ft,
                   YY=dat.YY[np.ix_([k], [k])], FY=dat.FY[:, [k]], FF=dat.FF,
                   logdet_FF=dat.logdet_FF)
        x = np.array([vg[k], ve[k]])
        if x[0] < 1e-4 * x.sum():
            continue

        def grad(v, dk=dk):
            _, gg, gn = _lml_terms(dk, v[:1, None], v[1:, None], restricted, grad=True)
            return np.array([gg[0, 0], gn[0, 0]])

        H = np.empty((2, 2))
        for i in range(2):
            h = 1e-5 * x[i]
            e = np.zeros(2)
            e[i] = h
            H[:, i] = (grad(x + e) - grad(x - e)) / (2 * h)
        info = -(H + H.T) / 2
        try:
            cov = np.linalg.inv(info)
        except np.linalg.LinAlgError:
            continue
        g = np.array([x[1], -x[0]]) / x.sum() ** 2
        var = float(g @ cov @ g)
        out[k] = np.sqrt(var) if var > 0 else np.nan
    return out


def describe_nonconvergence(null: LmmNull) -> str:
    """One line naming what did not converge, the last likelihood and parameters."""
    return (f"the LMM null model did not converge ({null.message}; largest gradient "
            f"{null.grad_max:.2g}) at lml={null.lml:.6g}, h2={np.round(null.h2, 4).tolist()}, "
            f"diag(Cg)={np.round(np.diag(null.Cg), 6).tolist()}, "
            f"diag(Cn)={np.round(np.diag(null.Cn), 6).tolist()}; pass --allow-nonconverged "
            "to scan anyway")


# --------------------------------------------------------------------------------------
# The scan


@dataclass(frozen=True)
class LmmScan:
    """What the scan needs from a null model; 2D weighted regressions per variant.

    Columns ``0..D-1`` are the rotated traits of the multi-trait test; columns
    ``D..2D-1`` are the original traits for the per-dimension tests (weights
    from ``delta_k = Cg_kk / Cn_kk``).
    """

    #: Kinship eigenvectors, (N, r).
    U: np.ndarray
    #: ``w - 1`` per eigenvector and column, (r, 2D).
    Dw: np.ndarray
    #: ``V_t^{-1} e_t``: null GLS residuals premultiplied by V^{-1}, (N, 2D).
    rho: np.ndarray
    #: ``V_t^{-1} F`` for every column, (N, 2D * K) (column-major over t).
    VinvF: np.ndarray
    #: Cholesky factors of ``F^T V_t^{-1} F``, (2D, K, K), lower.
    chol_A: np.ndarray
    #: ``e_t^T V_t^{-1} e_t``, (2D,).
    rss0: np.ndarray
    n_traits: int
    n_covariates: int
    lml0: float

    @property
    def n_samples(self) -> int:
        return self.U.shape[0]


def make_lmm_scan(null: LmmNull, Y: np.ndarray, F: np.ndarray | None) -> LmmScan:
    """Precompute the scan's per-column quantities from a fitted null model."""
    Y = np.asarray(Y, dtype=np.float64)
    N, D = Y.shape
    F1 = np.ones((N, 1)) if F is None or F.shape[1] == 0 else np.hstack([np.ones((N, 1)), F])
    K = F1.shape[1]
    U, s = null.eig.U, null.eig.s
    lam, L = _gen_eig(null.Cg, null.Cn)
    delta = np.diag(null.Cg) / np.diag(null.Cn)
    ratios = np.concatenate([lam, delta])                       # (2D,)
    Yall = np.hstack([Y @ L.T, Y])                              # (N, 2D)
    Dw = 1.0 / (s[:, None] * ratios[None, :] + 1.0) - 1.0       # (r, 2D)
    Yt, Ft = U.T @ Yall, U.T @ F1
    FF, FY = F1.T @ F1, F1.T @ Yall
    T = 2 * D
    chol_A = np.empty((T, K, K))
    rho = np.empty((N, T))
    VinvF = np.empty((N, T * K))
    rss0 = np.empty(T)
    for t in range(T):
        A = FF + Ft.T @ (Dw[:, [t]] * Ft)
        b = FY[:, t] + Ft.T @ (Dw[:, t] * Yt[:, t])
        c = linalg.cholesky(A, lower=True, check_finite=False)
        chol_A[t] = c
        beta = linalg.cho_solve((c, True), b, check_finite=False)
        e = Yall[:, t] - F1 @ beta
        et = Yt[:, t] - Ft @ beta
        rho[:, t] = e + U @ (Dw[:, t] * et)
        rss0[t] = e @ e + (Dw[:, t] * et) @ et
        VinvF[:, t * K:(t + 1) * K] = F1 + U @ (Dw[:, [t]] * Ft)
    return LmmScan(U=U, Dw=Dw, rho=rho, VinvF=VinvF, chol_A=chol_A, rss0=rss0, n_traits=D,
                   n_covariates=K, lml0=null.lml)


@dataclass
class LmmBlockStats:
    """Raw per-variant statistics of the LMM scan, before filtering."""

    lrt: np.ndarray       # (m,)
    beta: np.ndarray      # (m, D) per-dimension
    se: np.ndarray        # (m, D)
    t: np.ndarray         # (m, D)
    collinear: np.ndarray  # (m,) bool


def lmm_scan_statistics(scan: LmmScan, Gc: np.ndarray) -> LmmBlockStats:
    """Multi-trait LRT and per-dimension LMM tests of a block of genotypes.

    Parameters
    ----------
    Gc : ndarray of shape (N, m)
        Centred, mean-imputed dosages (no NaN).

    Notes
    -----
    For each column t (weights ``V_t^{-1}``) and variant g:
    ``a_t = g^T V_t^{-1} e_t``, ``c_t = F^T V_t^{-1} g``,
    ``gt_t = g^T V_t^{-1} g - c_t^T (F^T V_t^{-1} F)^{-1} c_t`` and
    ``rss1_t = rss0_t - a_t^2 / gt_t``. The multi-trait LRT with one free
    scale is ``N D log(sum_j rss0_j / sum_j rss1_j)`` over the rotated traits;
    per dimension, ``beta = a / gt`` with ``se^2 = rss1 / (N - K - 1) / gt``.
    The cost is one (r x N) by (N x m) product for the rotation plus
    (N x m) by (N x 2D(K+1)) products.
    """
    N, D, K = scan.n_samples, scan.n_traits, scan.n_covariates
    T = 2 * D
    m = Gc.shape[1]
    Gt = scan.U.T @ Gc                                          # (r, m)
    a = Gc.T @ scan.rho                                         # (m, T)
    gg = np.einsum("im,im->m", Gc, Gc)
    b = gg[:, None] + (Gt**2).T @ scan.Dw                        # (m, T)
    c = (Gc.T @ scan.VinvF).reshape(m, T, K)                    # (m, T, K)
    gt = np.empty((m, T))
    for t in range(T):
        z = linalg.solve_triangular(scan.chol_A[t], c[:, t, :].T, lower=True,
                                    check_finite=False)
        gt[:, t] = b[:, t] - (z**2).sum(axis=0)
    collinear = (gt <= 1e-8 * np.maximum(b, 1e-300)).any(axis=1)
    gt_ok = np.where(collinear[:, None], 1.0, gt)
    red = a**2 / gt_ok
    Q0 = scan.rss0[:D].sum()
    Q1 = Q0 - red[:, :D].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lrt = N * D * (np.log(Q0) - np.log(np.maximum(Q1, 1e-300 * Q0)))
        beta = a[:, D:] / gt_ok[:, D:]
        rss1 = np.maximum(scan.rss0[None, D:] - red[:, D:], 0.0)
        se = np.sqrt(rss1 / (N - K - 1) / gt_ok[:, D:])
        tstat = beta / se
    return LmmBlockStats(lrt=np.maximum(lrt, 0.0), beta=beta, se=se, t=tstat,
                         collinear=collinear)


def chi2_sf(x: np.ndarray, df: int) -> np.ndarray:
    return special.chdtrc(df, x)


def t_two_sided(t: np.ndarray, df: int) -> np.ndarray:
    return 2 * special.stdtr(df, -np.abs(t))



def lmm_block_result(scan: LmmScan, G: np.ndarray, *, maf: float = 0.0, geno: float = 1.0,
                     null: LmmNull | None = None):
    """:class:`~gwasrep.assoc.lrt.AssocResult` of a dense block under the LMM.

    Parameters
    ----------
    G : ndarray of shape (N, m)
        A1 dosages, NaN for missing calls (mean-imputed).
    """
    from gwasrep.assoc.lrt import AssocResult, BlockMoments, untested_reasons

    G = np.asarray(G, dtype=np.float64)
    if G.ndim == 1:
        G = G[:, None]
    N, D, K = scan.n_samples, scan.n_traits, scan.n_covariates
    if G.shape[0] != N:
        raise InputError(f"genotypes have {G.shape[0]} rows, expected {N} (one per sample)")
    obs = np.isfinite(G)
    obs_ct = obs.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(obs, G, 0.0).sum(axis=0) / obs_ct
    Gc = np.where(obs, G - np.where(obs_ct > 0, mu, 0.0), 0.0)
    gg = np.einsum("im,im->m", Gc, Gc)
    mom = BlockMoments(gX=np.empty((G.shape[1], 0)), gg=gg, a1_freq=mu / 2,
                       obs_ct=obs_ct.astype(np.int64), missing_frac=1.0 - obs_ct / N)
    st = lmm_scan_statistics(scan, Gc)
    reason = untested_reasons(mom, st.collinear, maf=maf, geno=geno)
    ok = reason == ""
    df_resid = N - K - 1
    with np.errstate(invalid="ignore"):
        p = chi2_sf(st.lrt, D)
        p_dim = t_two_sided(st.t, df_resid)
        p_bonf = np.minimum(1.0, D * p_dim.min(axis=1))
    for arr in (st.beta, st.se, st.t, p_dim):
        arr[~ok] = np.nan
    for arr in (st.lrt, p, p_bonf):
        arr[~ok] = np.nan
    return AssocResult(lrt=st.lrt, p=p, p_bonf=p_bonf, beta=st.beta, se=st.se, t=st.t,
                       p_dim=p_dim, a1_freq=mom.a1_freq, obs_ct=mom.obs_ct,
                       missing_frac=mom.missing_frac, reason=reason, df=D, df_resid=df_resid,
                       lml0=scan.lml0, C0=null.Cn if null is not None else np.full((D, D), np.nan),
                       lmm=null)
