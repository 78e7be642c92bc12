"""The linear multi-trait test (no kinship): null model by ML, block moments, statistics.

Numerics only: arrays in, dataclasses out. :func:`gwasrep.assoc.lrt.multitrait_lrt` is the
entry point on arrays; :mod:`gwasrep.assoc.engine` streams the same statistics over a .bed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gwasrep.assoc.covariates import covariate_basis
from gwasrep.assoc.genotypes import center_dosages
from gwasrep.assoc.results import AssocResult, BlockMoments, untested_reasons
from gwasrep.assoc.stats import chi2_sf, t_two_sided
from gwasrep.errors import InputError

__all__ = [
    "COLLINEAR_RTOL",
    "NullModel",
    "block_moments_dense",
    "block_moments_from_packed",
    "fit_null",
    "pd_inverse",
    "scan_statistics",
]

#: A genotype whose covariate-residual sum of squares is below this fraction of
#: its centred sum of squares is reported as collinear with the covariates.
COLLINEAR_RTOL = 1e-8


@dataclass(frozen=True)
class NullModel:
    """The null model ``E = F A + Psi``, rows of ``Psi ~ N(0, C0)``, fitted by ML."""

    #: Covariate residuals of E, shape (n_samples, n_traits).
    R0: np.ndarray
    #: Orthonormal basis of the centred covariates, shape (n_samples, n_covariates - 1).
    Qc: np.ndarray
    #: ML residual covariance ``R0^T R0 / N``, shape (n_traits, n_traits).
    C0: np.ndarray
    #: Inverse of the covariance the multi-trait statistic uses: C0, or the
    #: relatedness-calibrated ``C_Phi`` (:mod:`gwasrep.assoc.relatives`).
    C0_inv: np.ndarray
    #: Residual sum of squares per trait, shape (n_traits,).
    rss0: np.ndarray
    #: Null log-likelihood.
    lml0: float
    #: Number of covariates including the intercept (K).
    n_covariates: int
    #: Per trait, the factor on the standard errors of a null model calibrated for
    #: relatives (:func:`gwasrep.assoc.relatives.calibrate_null`), or None.
    se_scale: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return self.R0.shape[0]

    @property
    def n_traits(self) -> int:
        return self.R0.shape[1]

    @property
    def design(self) -> np.ndarray:
        """``X = [R0, Qc]``, shape (n_samples, n_traits + n_covariates - 1)."""
        return np.hstack([self.R0, self.Qc])


def pd_inverse(C: np.ndarray, error) -> np.ndarray:
    """The symmetric inverse of a covariance; ``InputError(error(smallest, largest
    eigenvalue))`` when it is not safely positive definite."""
    evals = np.linalg.eigvalsh(C)
    if evals[0] <= 1e-10 * evals[-1]:
        raise InputError(error(evals[0], evals[-1]))
    inv = np.linalg.inv(C)
    return (inv + inv.T) / 2


def fit_null(E: np.ndarray, F: np.ndarray | None = None, *,
             covariate_names: list[str] | None = None,
             trait_names: list[str] | None = None) -> NullModel:
    """Fit the null model of the multi-trait test by maximum likelihood.

    Parameters
    ----------
    E : ndarray of shape (n_samples, n_traits), float64
        Embeddings (already preprocessed); no missing values.
    F : ndarray of shape (n_samples, n_covariates), float64, optional
        Covariates without intercept; an intercept is always added.

    Returns
    -------
    NullModel

    Notes
    -----
    ``A = (F^T F)^{-1} F^T E``, ``R0 = E - F A``, ``C0 = R0^T R0 / N`` and
    ``lml0 = -N D / 2 log(2 pi) - N / 2 log|C0| - N D / 2``.
    """
    E = np.asarray(E, dtype=np.float64)
    if E.ndim != 2:
        raise InputError("embeddings must be a 2-D array (n_samples, n_traits); "
                         f"got shape {E.shape}")
    N, D = E.shape
    if not np.all(np.isfinite(E)):
        raise InputError("embeddings contain NaN or inf values")
    Qc = covariate_basis(F, N, covariate_names)
    K = Qc.shape[1] + 1
    if N < D + K + 2:
        raise InputError(f"too few samples: need at least D + K + 2 = {D + K + 2} "
                         f"(D={D} traits, K={K} covariates incl. intercept), found {N}")
    Ec = E - E.mean(axis=0)
    R0 = Ec - Qc @ (Qc.T @ Ec)
    rss0 = (R0**2).sum(axis=0)
    trait_names = trait_names or [f"dimension {k + 1}" for k in range(D)]
    const = rss0 <= 1e-12 * np.maximum((Ec**2).sum(axis=0), 1e-300)
    if const.any():
        bad = [trait_names[k] for k in np.flatnonzero(const)]
        raise InputError(f"embedding {'column' if len(bad) == 1 else 'columns'} "
                         f"{', '.join(bad)} constant after regressing out covariates")
    C0 = R0.T @ R0 / N
    C0_inv = pd_inverse(C0, lambda lo, hi: (
        f"embedding dimensions are linearly dependent (residual covariance has eigenvalue "
        f"{lo:.3g} vs largest {hi:.3g}); project on fewer principal components with --pcs"))
    _, logdet = np.linalg.slogdet(C0)
    lml0 = -N * D / 2 * np.log(2 * np.pi) - N / 2 * logdet - N * D / 2
    assert R0.shape == (N, D)
    assert C0.shape == (D, D)
    return NullModel(R0=R0, Qc=Qc, C0=C0, C0_inv=C0_inv, rss0=rss0, lml0=float(lml0),
                     n_covariates=K)


def block_moments_dense(null: NullModel, G: np.ndarray) -> BlockMoments:
    """Moments of a dense genotype block (missing values mean-imputed).

    Parameters
    ----------
    G : ndarray of shape (n_samples, m), float
        A1 dosages; NaN marks a missing call.
    """
    cd = center_dosages(G, null.n_samples)
    return BlockMoments(gX=cd.Gc.T @ null.design, gg=(cd.Gc**2).sum(axis=0), a1_freq=cd.a1_freq,
                        obs_ct=cd.obs_ct, missing_frac=cd.missing_frac)


def block_moments_from_packed(u, s1, s2, nmiss, smiss, colsum_X, n_used) -> BlockMoments:
    """Moments from the outputs of :func:`gwasrep.assoc.engine.lut.packed_crossprod`.

    With missing calls counted as 0 in ``u``, ``s1``, ``s2``, the mean-imputed
    centred genotype ``g_c`` (0 where missing) satisfies
    ``g_c^T X = u - mu (colsum(X) - smiss)`` and ``g_c^T g_c = s2 - s1 mu``,
    where ``mu = s1 / n_obs``.
    """
    obs_ct = np.rint(n_used - nmiss).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = s1 / obs_ct
    mu_safe = np.where(obs_ct > 0, mu, 0.0)
    gX = u - mu_safe[:, None] * (colsum_X[None, :] - smiss)
    gg = s2 - s1 * mu_safe
    return BlockMoments(gX=gX, gg=np.maximum(gg, 0.0), a1_freq=mu / 2, obs_ct=obs_ct,
                        missing_frac=nmiss / n_used)


def scan_statistics(null: NullModel, mom: BlockMoments, *, maf: float = 0.0,
                    geno: float = 1.0) -> AssocResult:
    """Test statistics of a block from its moments.

    Parameters
    ----------
    maf : float
        Variants with minor allele frequency below this are not tested.
    geno : float
        Variants with a missing-call fraction above this are not tested.

    Notes
    -----
    With ``g~`` the genotype residualised on the covariates and
    ``q = (g~^T R0) C0^{-1} (R0^T g~) / (g~^T g~)``, the ML fit with ``C = s C0``
    under the alternative gives ``LRT = N D log(N D / (N D - q))``.
    Per dimension, ``beta_k = g~^T R0_k / g~^T g~`` with the OLS standard error
    on ``N - K - 1`` degrees of freedom. A null model calibrated for relatives
    carries ``C_Phi^{-1}`` as ``C0_inv`` (used in ``q``) and multiplies the standard
    errors by ``se_scale``.
    """
    N, D, K = null.n_samples, null.n_traits, null.n_covariates
    num = mom.gX[:, :D]
    proj = mom.gX[:, D:]
    gt = mom.gg - (proj**2).sum(axis=1)
    reason = untested_reasons(mom, gt <= COLLINEAR_RTOL * mom.gg, maf=maf, geno=geno)
    ok = reason == ""
    gt_ok = np.where(ok, gt, 1.0)
    df_resid = N - K - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = num / gt_ok[:, None]
        rss1 = null.rss0[None, :] - num**2 / gt_ok[:, None]
        se = np.sqrt(np.maximum(rss1, 0.0) / df_resid / gt_ok[:, None])
        if null.se_scale is not None:
            se = se * null.se_scale[None, :]
        t = beta / se
        p_dim = t_two_sided(t, df_resid)
        q = np.einsum("md,de,me->m", num, null.C0_inv, num) / gt_ok
        frac = np.clip(q / (N * D), 0.0, 1.0)
        lrt = -N * D * np.log1p(-frac)
        p = chi2_sf(lrt, D)
        p_bonf = np.minimum(1.0, D * p_dim.min(axis=1))
    bad = ~ok
    for arr in (beta, se, t, p_dim):
        arr[bad] = np.nan
    for arr in (lrt, p, p_bonf):
        arr[bad] = np.nan
    return AssocResult(lrt=lrt, p=p, p_bonf=p_bonf, beta=beta, se=se, t=t, p_dim=p_dim,
                       a1_freq=mom.a1_freq, obs_ct=mom.obs_ct, missing_frac=mom.missing_frac,
                       reason=reason, df=D, df_resid=df_resid, lml0=null.lml0, C0=null.C0)
