"""The LMM scan: with Cg and Cn fixed from the null, one free scale per variant (glimix-core's
scanner), and per-dimension GLS tests with that dimension's variance ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from gwasrep.assoc.genotypes import CenteredDosages
from gwasrep.assoc.lmm.likelihood import gen_eig
from gwasrep.assoc.lmm.null import LmmNull
from gwasrep.assoc.results import AssocResult, BlockMoments, untested_reasons
from gwasrep.assoc.stats import chi2_sf, t_two_sided

__all__ = ["LmmBlockStats", "LmmScan", "lmm_block_result", "lmm_scan_statistics",
           "make_lmm_scan"]


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
    #: ``[rho | VinvF]``, (N, 2D (1 + K)), F-contiguous: one product ``Gc^T RV`` per block
    #: gives both ``a`` and ``c`` (built by :func:`make_lmm_scan`; None: concatenated per block).
    RV: np.ndarray | None = None

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
    lam, L = gen_eig(null.Cg, null.Cn)
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
    RV = np.asfortranarray(np.hstack([rho, VinvF]))
    return LmmScan(U=U, Dw=Dw, rho=rho, VinvF=VinvF, chol_A=chol_A, rss0=rss0, n_traits=D,
                   n_covariates=K, lml0=null.lml, RV=RV)


@dataclass
class LmmBlockStats:
    """Raw per-variant statistics of the LMM scan, before filtering."""

    lrt: np.ndarray       # (m,)
    beta: np.ndarray      # (m, D) per-dimension
    se: np.ndarray        # (m, D)
    t: np.ndarray         # (m, D)
    collinear: np.ndarray  # (m,) bool


def lmm_scan_statistics(scan: LmmScan, Gc: np.ndarray,
                        gg: np.ndarray | None = None) -> LmmBlockStats:
    """Multi-trait LRT and per-dimension LMM tests of a block of genotypes.

    Parameters
    ----------
    Gc : ndarray of shape (N, m)
        Centred, mean-imputed dosages (no NaN); F-contiguous float64 avoids a copy.
    gg : ndarray of shape (m,), optional
        ``sum_i Gc_ij^2`` when already known.

    Notes
    -----
    For each column t (weights ``V_t^{-1}``) and variant g:
    ``a_t = g^T V_t^{-1} e_t``, ``c_t = F^T V_t^{-1} g``,
    ``gt_t = g^T V_t^{-1} g - c_t^T (F^T V_t^{-1} F)^{-1} c_t`` and
    ``rss1_t = rss0_t - a_t^2 / gt_t``. The multi-trait LRT with one free
    scale is ``N D log(sum_j rss0_j / sum_j rss1_j)`` over the rotated traits;
    per dimension, ``beta = a / gt`` with ``se^2 = rss1 / (N - K - 1) / gt``.
    The cost is one (r x N) by (N x m) product for the rotation (r N m multiply-adds,
    the only term quadratic in N) plus one (m x N) by (N x 2D(K+1)) product and
    O(m (r D + D K^2)) elementwise work.
    """
    N, D, K = scan.n_samples, scan.n_traits, scan.n_covariates
    T = 2 * D
    m = Gc.shape[1]
    Gt = scan.U.T @ Gc                                          # (r, m): one dgemm
    RV = scan.RV if scan.RV is not None else np.hstack([scan.rho, scan.VinvF])
    ac = Gc.T @ RV                                              # (m, T (1 + K)): one dgemm
    a = ac[:, :T]                                               # (m, T)
    c = ac[:, T:].reshape(m, T, K)                              # (m, T, K)
    if gg is None:
        gg = np.einsum("im,im->m", Gc, Gc)
    np.square(Gt, out=Gt)
    b = gg[:, None] + Gt.T @ scan.Dw                            # (m, T)
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


def lmm_block_result(scan: LmmScan, G: np.ndarray, *, maf: float = 0.0, geno: float = 1.0,
                     null: LmmNull | None = None) -> AssocResult:
    """:class:`~gwasrep.assoc.results.AssocResult` of a dense block under the LMM.

    Parameters
    ----------
    G : ndarray of shape (N, m)
        A1 dosages, NaN for missing calls (mean-imputed).
    """
    N, D, K = scan.n_samples, scan.n_traits, scan.n_covariates
    cd, gg = _center(G, N)
    Gc = cd.Gc
    mom = BlockMoments(gX=np.empty((Gc.shape[1], 0)), gg=gg,
                       a1_freq=cd.a1_freq, obs_ct=cd.obs_ct, missing_frac=cd.missing_frac)
    st = lmm_scan_statistics(scan, Gc, gg)
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


def _center(G: np.ndarray, n_samples: int) -> tuple[CenteredDosages, np.ndarray]:
    """:func:`~gwasrep.assoc.genotypes.center_dosages` in one compiled pass per variant
    (mean imputation, the same numbers), into a new F-contiguous block, with ``gg``."""
    from gwasrep.assoc.genotypes import center_dosages
    from gwasrep.io.plink import center_dense

    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2 or G.shape[0] != n_samples:
        cd = center_dosages(G, n_samples)  # 1-D input, or the error for a wrong shape
        return cd, np.einsum("im,im->m", cd.Gc, cd.Gc)
    m = G.shape[1]
    Gc = np.empty(G.shape, order="F")
    obs_ct, mean, gg = np.empty(m, dtype=np.int64), np.empty(m), np.empty(m)
    center_dense(G, Gc, obs_ct, mean, gg)
    return CenteredDosages(Gc=Gc, mean=mean, obs_ct=obs_ct), gg
