"""The multi-trait LMM likelihood in the eigenbasis of K and the generalized eigenbasis of (Cg, Cn).

``L Cg L^T = diag(lam)`` and ``L Cn L^T = I``: the rotated traits ``Y L^T`` are independent,
trait ``j`` with covariance ``V_j = lam_j K + I``. For any vectors ``a``, ``b``::

    a^T V_j^{-1} b = a^T b + sum_i (w_ij - 1) (U^T a)_i (U^T b)_i,   w_ij = 1 / (s_i lam_j + 1)

This single formula covers full and low rank (the complement of ``U`` has ``w = 1``), so
both share one code path. No (N D) x (N D) matrix is ever formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from gwasrep.assoc.lmm.eigen import KinshipEigen

__all__ = ["RotatedData", "cross_w", "gen_eig", "lml_terms", "lmm_lml", "rotate"]


@dataclass(frozen=True)
class RotatedData:
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


def rotate(eig: KinshipEigen, Y: np.ndarray, F: np.ndarray) -> RotatedData:
    U = eig.U
    FF = F.T @ F
    return RotatedData(N=Y.shape[0], D=Y.shape[1], K=F.shape[1], s=eig.s, Yt=U.T @ Y, Ft=U.T @ F,
                 YY=Y.T @ Y, FY=F.T @ Y, FF=FF, logdet_FF=float(np.linalg.slogdet(FF)[1]))


def gen_eig(Cg: np.ndarray, Cn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``L`` with ``L Cg L^T = diag(lam)``, ``L Cn L^T = I``."""
    lam, V = linalg.eigh(Cg, Cn, check_finite=False)
    return np.clip(lam, 0.0, None), V.T


def lml_terms(dat: RotatedData, Cg: np.ndarray, Cn: np.ndarray, restricted: bool, *,
               grad: bool = False):
    """Log-likelihood (and its gradient with respect to Cg and Cn) at (Cg, Cn)."""
    N, D, K = dat.N, dat.D, dat.K
    lam, L = gen_eig(Cg, Cn)
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
    PtP = EE + cross_w(Et, W)                                 # rho^T rho
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


def cross_w(Et: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``sum_i Et_ij Et_ik (W_ij W_ik - 1)``: the eigenbasis part of ``rho_j^T rho_k``."""
    WE = W * Et
    return WE.T @ WE - Et.T @ Et


def lmm_lml(eig: KinshipEigen, Y: np.ndarray, F: np.ndarray, Cg: np.ndarray, Cn: np.ndarray,
            *, restricted: bool = False) -> float:
    """Log marginal likelihood (ML, or REML with ``restricted``) at given Cg, Cn.

    ``F`` includes the intercept column. Used by the fit and, directly, by the
    tests against glimix-core.
    """
    dat = rotate(eig, np.asarray(Y, float), np.asarray(F, float))
    return lml_terms(dat, np.asarray(Cg, float), np.asarray(Cn, float), restricted)[0]
