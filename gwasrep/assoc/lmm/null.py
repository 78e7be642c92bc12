"""The LMM null fit: Cg and Cn by ML or REML (L-BFGS-B, several starts), with h2 and its SE.

Model: ``vec(Y) ~ N(vec(F A), Cg (x) K + Cn (x) I)`` (METHODS.md section 1, "LMM").
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg

from gwasrep.assoc.lmm.eigen import KinshipEigen
from gwasrep.assoc.lmm.likelihood import RotatedData, lml_terms, rotate
from gwasrep.errors import GwasrepError, InputError

__all__ = ["CN_FLOOR", "LmmNull", "NonConvergenceError", "describe_nonconvergence",
           "fit_lmm_null"]

#: Lower bound of the conditional noise variances (Cholesky diagonal of Cn squared)
#: of the unit-variance traits during the fit. Below it the generalized eigenvalues
#: exceed ~1e4 and the likelihood loses precision that an optimizer would exploit.
CN_FLOOR = 1e-4


class NonConvergenceError(GwasrepError):
    """The null model's optimizer did not converge."""


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


def _single_trait_h(dat: RotatedData, k: int, restricted: bool) -> float:
    """Heritability-like start for trait k: the best of a grid of delta = Cg/Cn."""
    best, best_h = -np.inf, 0.5
    for h in (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95):
        sub = RotatedData(N=dat.N, D=1, K=dat.K, s=dat.s, Yt=dat.Yt[:, [k]], Ft=dat.Ft,
                    YY=dat.YY[[k]][:, [k]], FY=dat.FY[:, [k]], FF=dat.FF, logdet_FF=dat.logdet_FF)
        v = lml_terms(sub, np.array([[h]]), np.array([[1 - h]]), restricted)[0]
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
    dat = rotate(eig_n, Y / sd, F1)
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
                v, Gg, Gn = lml_terms(dat, Cg, Cn, restricted, grad=True)
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
        from scipy import optimize  # 0.25 s to import: only when an LMM is fitted

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


def _h2_se(dat: RotatedData, vg: np.ndarray, ve: np.ndarray, restricted: bool) -> np.ndarray:
    """SE of ``h2_k = vg_k / (vg_k + ve_k)`` per trait (K with mean diagonal 1).

    The observed information of trait k's own likelihood (the univariate LMM that is
    the marginal of the multi-trait model) in (vg_k, ve_k), from central differences of
    the analytic gradient, then the delta method. For one trait at its optimum this is
    the usual GREML standard error (GEMMA's ``se(pve)``, GCTA's SE). NaN when vg_k is
    on the boundary (within 1e-4 of 0), where the curvature does not give an SE.
    """
    out = np.full(dat.D, np.nan)
    for k in range(dat.D):
        dk = RotatedData(N=dat.N, D=1, K=dat.K, s=dat.s, Yt=dat.Yt[:, [k]], Ft=dat.Ft,
                   YY=dat.YY[np.ix_([k], [k])], FY=dat.FY[:, [k]], FF=dat.FF,
                   logdet_FF=dat.logdet_FF)
        x = np.array([vg[k], ve[k]])
        if x[0] < 1e-4 * x.sum():
            continue

        def grad(v, dk=dk):
            _, gg, gn = lml_terms(dk, v[:1, None], v[1:, None], restricted, grad=True)
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
