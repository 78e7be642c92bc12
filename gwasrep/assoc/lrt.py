"""Multi-trait likelihood-ratio test and per-dimension OLS tests (no kinship).

Numerics only: arrays in, dataclasses out. File handling lives in
:mod:`gwasrep.assoc.engine`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special

from gwasrep.errors import InputError

__all__ = [
    "AssocResult",
    "BlockMoments",
    "NullModel",
    "block_moments_dense",
    "block_moments_from_packed",
    "covariate_basis",
    "fit_null",
    "multitrait_lrt",
    "scan_statistics",
    "untested_reasons",
]

#: A genotype whose covariate-residual sum of squares is below this fraction of
#: its centred sum of squares is reported as collinear with the covariates.
COLLINEAR_RTOL = 1e-8


def covariate_basis(F: np.ndarray | None, n_samples: int,
                    names: list[str] | None = None) -> np.ndarray:
    """Orthonormal basis of the centred covariates (the intercept is implicit).

    Parameters
    ----------
    F : ndarray of shape (n_samples, n_covariates), float64, or None
        Covariates without an intercept column.
    names : list of str, optional
        Column names, used to name the offending columns in errors.

    Returns
    -------
    Qc : ndarray of shape (n_samples, n_covariates), float64
        Orthonormal columns spanning the centred covariates; together with the
        constant vector they span ``[1, F]``.

    Raises
    ------
    InputError
        If the covariates (with the intercept) are rank deficient; the columns
        that are linear combinations of the others are named.
    """
    if F is None or F.shape[1] == 0:
        return np.zeros((n_samples, 0))
    F = np.asarray(F, dtype=np.float64)
    assert F.shape[0] == n_samples, (F.shape, n_samples)
    names = names or [f"covariate {k + 1}" for k in range(F.shape[1])]
    if not np.all(np.isfinite(F)):
        raise InputError("covariates contain NaN or inf values")
    Fc = F - F.mean(axis=0)
    scale = np.sqrt((Fc**2).sum(axis=0))
    const = scale <= 1e-12 * np.maximum(1.0, np.abs(F).max(axis=0)) * np.sqrt(n_samples)
    if const.any():
        bad = [names[k] for k in np.flatnonzero(const)]
        raise InputError(f"covariates are rank deficient: {', '.join(bad)} constant "
                         "(collinear with the intercept)")
    from scipy.linalg import qr

    Q, R, _ = qr(Fc / scale, mode="economic", pivoting=True)
    diag = np.abs(np.diag(R))
    rank = int((diag > 1e-9 * diag[0]).sum())
    if rank < F.shape[1]:
        # Name every column that takes part in a dependency: the support of the null space.
        _, sv, Vt = np.linalg.svd(Fc / scale, full_matrices=False)
        null_space = Vt[sv <= 1e-9 * sv[0]]
        involved = np.flatnonzero(np.abs(null_space).max(axis=0) > 1e-6)
        bad = [names[k] for k in involved]
        raise InputError(f"covariates are rank deficient (rank {rank + 1} with the intercept, "
                         f"{F.shape[1] + 1} columns): {', '.join(bad)} are linearly dependent; "
                         "drop one of them")
    return Q


@dataclass(frozen=True)
class NullModel:
    """The null model ``E = F A + Psi``, rows of ``Psi ~ N(0, C0)``, fitted by ML."""

    #: Covariate residuals of E, shape (n_samples, n_traits).
    R0: np.ndarray
    #: Orthonormal basis of the centred covariates, shape (n_samples, n_covariates - 1).
    Qc: np.ndarray
    #: ML residual covariance ``R0^T R0 / N``, shape (n_traits, n_traits).
    C0: np.ndarray
    #: Inverse of C0.
    C0_inv: np.ndarray
    #: Residual sum of squares per trait, shape (n_traits,).
    rss0: np.ndarray
    #: Null log-likelihood.
    lml0: float
    #: Number of covariates including the intercept (K).
    n_covariates: int

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
    evals = np.linalg.eigvalsh(C0)
    if evals[0] <= 1e-10 * evals[-1]:
        raise InputError(f"embedding dimensions are linearly dependent (residual covariance "
                         f"has eigenvalue {evals[0]:.3g} vs largest {evals[-1]:.3g}); "
                         "project on fewer principal components with --pcs")
    C0_inv = np.linalg.inv(C0)
    C0_inv = (C0_inv + C0_inv.T) / 2
    _, logdet = np.linalg.slogdet(C0)
    lml0 = -N * D / 2 * np.log(2 * np.pi) - N / 2 * logdet - N * D / 2
    assert R0.shape == (N, D)
    assert C0.shape == (D, D)
    return NullModel(R0=R0, Qc=Qc, C0=C0, C0_inv=C0_inv, rss0=rss0, lml0=float(lml0),
                     n_covariates=K)


@dataclass
class BlockMoments:
    """Per-variant sufficient statistics of a block of mean-imputed genotypes."""

    #: Centred (mean-imputed) genotype cross-products with ``[R0, Qc]``, shape (m, D + K - 1).
    gX: np.ndarray
    #: Centred sum of squares of the genotype, shape (m,).
    gg: np.ndarray
    #: A1 allele frequency among non-missing calls, shape (m,); NaN if none observed.
    a1_freq: np.ndarray
    #: Non-missing calls among the used samples, shape (m,), int64.
    obs_ct: np.ndarray
    #: Fraction of used samples with a missing call, shape (m,).
    missing_frac: np.ndarray


def block_moments_dense(null: NullModel, G: np.ndarray) -> BlockMoments:
    """Moments of a dense genotype block (missing values mean-imputed).

    Parameters
    ----------
    G : ndarray of shape (n_samples, m), float
        A1 dosages; NaN marks a missing call.
    """
    G = np.asarray(G, dtype=np.float64)
    if G.ndim == 1:
        G = G[:, None]
    N = null.n_samples
    if G.shape[0] != N:
        raise InputError(f"genotypes have {G.shape[0]} rows, expected {N} (one per sample)")
    obs = np.isfinite(G)
    obs_ct = obs.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(obs, G, 0.0).sum(axis=0) / obs_ct
    Gc = np.where(obs, G - mu, 0.0)
    gX = Gc.T @ null.design
    gg = (Gc**2).sum(axis=0)
    return BlockMoments(gX=gX, gg=gg, a1_freq=mu / 2, obs_ct=obs_ct.astype(np.int64),
                        missing_frac=1.0 - obs_ct / N)


def block_moments_from_packed(u, s1, s2, nmiss, smiss, colsum_X, n_used) -> BlockMoments:
    """Moments from the outputs of :func:`gwasrep.assoc._scan_kernels.packed_crossprod`.

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


@dataclass
class AssocResult:
    """Results of the multi-trait and per-dimension tests for m variants.

    Rows of variants that were not tested (see ``reason``) hold NaN in every
    statistic; they are never written as if they were results.
    """

    #: Likelihood-ratio statistic, shape (m,).
    lrt: np.ndarray
    #: Multi-trait p-value from chi2 with ``df`` degrees of freedom, shape (m,).
    p: np.ndarray
    #: Bonferroni aggregate ``min(1, D min_k P_k)``, shape (m,).
    p_bonf: np.ndarray
    #: Per-dimension OLS effect of one A1 allele, shape (m, D).
    beta: np.ndarray
    #: Standard errors of ``beta``, shape (m, D).
    se: np.ndarray
    #: t statistics, shape (m, D).
    t: np.ndarray
    #: Per-dimension two-sided p-values (t with N - K - 1 df), shape (m, D).
    p_dim: np.ndarray
    #: A1 allele frequency among non-missing calls, shape (m,).
    a1_freq: np.ndarray
    #: Non-missing calls, shape (m,).
    obs_ct: np.ndarray
    #: Fraction of missing calls, shape (m,).
    missing_frac: np.ndarray
    #: Why a variant was not tested ("" if it was), shape (m,), object.
    reason: np.ndarray
    #: Degrees of freedom of the multi-trait test (D).
    df: int
    #: Residual degrees of freedom of the per-dimension tests (N - K - 1).
    df_resid: int
    #: Null log-likelihood.
    lml0: float
    #: Null residual covariance, shape (D, D) (the LMM's noise covariance Cn).
    C0: np.ndarray = field(repr=False)
    #: The LMM null model (Cg, Cn, h2, genetic correlations) when a kinship was used.
    lmm: object | None = field(default=None, repr=False)

    @property
    def tested(self) -> np.ndarray:
        """Boolean mask of the variants that were tested, shape (m,)."""
        return self.reason == ""


def untested_reasons(mom: BlockMoments, collinear: np.ndarray, *, maf: float,
                     geno: float) -> np.ndarray:
    """Why each variant of a block is not tested ("" if it is), shape (m,), object.

    Checks in order of precedence; the first that applies is reported:
    all_missing, geno, monomorphic, maf, collinear_with_covariates.
    """
    m = mom.gg.shape[0]
    maf_v = np.minimum(mom.a1_freq, 1 - mom.a1_freq)
    reason = np.full(m, "", dtype=object)
    reason[(reason == "") & (mom.obs_ct == 0)] = "all_missing"
    reason[(reason == "") & (mom.missing_frac > geno)] = "geno"
    reason[(reason == "") & (mom.gg <= 0)] = "monomorphic"
    reason[(reason == "") & (maf_v < maf)] = "maf"
    reason[(reason == "") & collinear] = "collinear_with_covariates"
    return reason


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
    on ``N - K - 1`` degrees of freedom.
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
        t = beta / se
        p_dim = 2 * special.stdtr(df_resid, -np.abs(t))
        q = np.einsum("md,de,me->m", num, null.C0_inv, num) / gt_ok
        frac = np.clip(q / (N * D), 0.0, 1.0)
        lrt = -N * D * np.log1p(-frac)
        p = special.chdtrc(D, lrt)
        p_bonf = np.minimum(1.0, D * p_dim.min(axis=1))
    bad = ~ok
    for arr in (beta, se, t, p_dim):
        arr[bad] = np.nan
    for arr in (lrt, p, p_bonf):
        arr[bad] = np.nan
    return AssocResult(lrt=lrt, p=p, p_bonf=p_bonf, beta=beta, se=se, t=t, p_dim=p_dim,
                       a1_freq=mom.a1_freq, obs_ct=mom.obs_ct, missing_frac=mom.missing_frac,
                       reason=reason, df=D, df_resid=df_resid, lml0=null.lml0, C0=null.C0)


def multitrait_lrt(E: np.ndarray, G: np.ndarray, *, covariates: np.ndarray | None = None,
                   maf: float = 0.0, geno: float = 1.0, kinship=None,
                   reml: bool = False, allow_nonconverged: bool = False) -> AssocResult:
    """Multi-trait LRT, per-dimension tests and their Bonferroni aggregate.

    Parameters
    ----------
    E : ndarray of shape (n_samples, n_traits), float64
        Embeddings (traits), already preprocessed as wanted; no missing values.
    G : ndarray of shape (n_samples, n_variants), float
        A1 dosages; NaN marks a missing call, which is mean-imputed per variant.
    covariates : ndarray of shape (n_samples, n_covariates), float64, optional
        Covariates without intercept; an intercept is always included.
    maf, geno : float
        Variants with minor allele frequency < ``maf`` or missing fraction >
        ``geno`` are reported as untested (``reason`` is set), not dropped.
    kinship : ndarray of shape (n_samples, n_samples) or KinshipEigen, optional
        A GRM: switches to the multi-trait LMM ``Cg (x) K + Cn (x) I``, with
        Cg and Cn fitted under the null (see :mod:`gwasrep.assoc.lmm`). The
        fitted null (h2, genetic correlations) is in ``result.lmm``.
    reml : bool
        Fit Cg and Cn by REML instead of ML (LMM only).
    allow_nonconverged : bool
        Scan even if the LMM null fit did not converge.

    Returns
    -------
    AssocResult
        One row per column of ``G``.

    Notes
    -----
    Model: ``E = F A + g b^T + Psi`` with rows of ``Psi ~ N(0, C)``. ``C = C0`` is
    estimated under the null by ML; under the alternative ``C = s C0`` with one
    free scale ``s`` per variant. ``LRT = 2 (lml1 - lml0)`` and ``P`` comes from
    chi2 with D degrees of freedom. ``P_BONF = min(1, D min_k P_k)`` aggregates
    the per-dimension tests (OLS, or LMM with the null's per-trait variance
    ratio and a per-variant scale).

    Examples
    --------
    >>> import numpy as np
    >>> from gwasrep import multitrait_lrt
    >>> rng = np.random.default_rng(0)
    >>> G = rng.binomial(2, 0.3, size=(500, 3)).astype(float)
    >>> E = rng.standard_normal((500, 4)) + 0.5 * G[:, [0]]
    >>> res = multitrait_lrt(E, G)
    >>> bool(res.p[0] < 1e-20), res.df
    (True, 4)

    References
    ----------
    Lippert et al. (2014), Casale et al. (2015); the scanner of glimix-core.
    """
    null = fit_null(E, covariates)
    if kinship is None:
        return scan_statistics(null, block_moments_dense(null, G), maf=maf, geno=geno)
    from gwasrep.assoc import lmm

    eig = kinship if isinstance(kinship, lmm.KinshipEigen) else lmm.eigen_from_kinship(kinship)
    lnull = lmm.fit_lmm_null(E, covariates, eig, restricted=reml)
    if not lnull.converged and not allow_nonconverged:
        raise lmm.NonConvergenceError(lmm.describe_nonconvergence(lnull))
    scan = lmm.make_lmm_scan(lnull, E, covariates)
    return lmm.lmm_block_result(scan, G, maf=maf, geno=geno, null=lnull)
