"""``multitrait_lrt``: the multi-trait likelihood-ratio test on arrays, linear or LMM.

The entry point for users' own studies (``from gwasrep import multitrait_lrt``). It fits
the null model once and tests every column of ``G``: with the linear model of
:mod:`gwasrep.assoc.linear`, or with a kinship the LMM of :mod:`gwasrep.assoc.lmm`.
"""

from __future__ import annotations

import numpy as np

from gwasrep.assoc.linear import block_moments_dense, fit_null, scan_statistics
from gwasrep.assoc.lmm.eigen import KinshipEigen, eigen_from_kinship
from gwasrep.assoc.lmm.null import NonConvergenceError, describe_nonconvergence, fit_lmm_null
from gwasrep.assoc.lmm.scan import lmm_block_result, make_lmm_scan
from gwasrep.assoc.relatives import Relatives, calibrate_null
from gwasrep.assoc.results import AssocResult, concat_results
from gwasrep.assoc.ridge import LocoPredictions
from gwasrep.errors import InputError

__all__ = ["multitrait_lrt"]


def multitrait_lrt(E: np.ndarray, G: np.ndarray, *, covariates: np.ndarray | None = None,
                   maf: float = 0.0, geno: float = 1.0, kinship=None,
                   reml: bool = False, allow_nonconverged: bool = False,
                   loco: LocoPredictions | None = None,
                   chrom: np.ndarray | None = None,
                   relatives: Relatives | None = None) -> AssocResult:
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
    loco : LocoPredictions, optional
        Whole-genome ridge predictions of ``E`` (:func:`gwasrep.assoc.ridge.fit_loco_predictions`
        on the same samples and traits): each variant is tested against ``E`` minus the
        prediction that leaves its chromosome out, with the linear model.
    chrom : ndarray of shape (n_variants,), optional
        Chromosome of each column of ``G``; required with ``loco``.
    relatives : Relatives, optional
        With ``loco``: close relatives among the samples
        (:func:`gwasrep.assoc.relatives.find_relatives`); the tests use the
        relatedness-calibrated residual covariance (see :mod:`gwasrep.assoc.relatives`),
        as ``gwasrep assoc --lmm ridge`` does by default.

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
    if loco is not None:
        return _loco_lrt(E, G, covariates, loco, chrom, maf=maf, geno=geno,
                         relatives=relatives)
    if relatives is not None:
        raise InputError("multitrait_lrt(relatives=...): applies with loco= (the ridge mode)")
    null = fit_null(E, covariates)
    if kinship is None:
        return scan_statistics(null, block_moments_dense(null, G), maf=maf, geno=geno)
    eig = kinship if isinstance(kinship, KinshipEigen) else eigen_from_kinship(kinship)
    lnull = fit_lmm_null(E, covariates, eig, restricted=reml)
    if not lnull.converged and not allow_nonconverged:
        raise NonConvergenceError(describe_nonconvergence(lnull))
    scan = make_lmm_scan(lnull, E, covariates)
    return lmm_block_result(scan, G, maf=maf, geno=geno, null=lnull)


def _loco_lrt(E, G, covariates, loco: LocoPredictions, chrom, *, maf, geno,
              relatives: Relatives | None = None) -> AssocResult:
    E = np.asarray(E, dtype=np.float64)
    if chrom is None:
        raise InputError("multitrait_lrt(loco=...): chrom= (the chromosome of each column of "
                         "G) is required to pick each variant's LOCO prediction")
    chrom = np.asarray(chrom).astype(str)
    if chrom.shape != (G.shape[1],):
        raise InputError(f"chrom has shape {chrom.shape}; expected ({G.shape[1]},), one per "
                         "column of G")
    if loco.loco.shape[1:] != E.shape:
        raise InputError(f"loco predictions are for {loco.n_samples} samples x {loco.n_traits} "
                         f"traits; E has shape {E.shape}")
    parts, where = [], []
    for c in dict.fromkeys(chrom):
        cols = np.flatnonzero(chrom == c)
        null = fit_null(E - loco.for_chromosome(c), covariates)
        if relatives is not None:
            null = calibrate_null(null, relatives)
        parts.append(scan_statistics(null, block_moments_dense(null, G[:, cols]), maf=maf,
                                     geno=geno))
        where.append(cols)
    return concat_results(parts, np.concatenate(where))
