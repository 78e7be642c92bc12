"""What the tests return: per-variant moments of a block, results, and why a variant is untested.

Shared by the linear tests (:mod:`gwasrep.assoc.linear`) and the LMM scan
(:mod:`gwasrep.assoc.lmm.scan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["AssocResult", "BlockMoments", "untested_reasons"]


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


#: Per-variant arrays of :class:`AssocResult` (first axis: variants).
_PER_VARIANT = ("lrt", "p", "p_bonf", "beta", "se", "t", "p_dim", "a1_freq", "obs_ct",
                "missing_frac", "reason")


def concat_results(parts: list[AssocResult], positions: np.ndarray) -> AssocResult:
    """One result from results on disjoint sets of variants; ``positions`` (the variants'
    indices in the wanted order, concatenated in the order of ``parts``) puts them back.

    The scalars (``df_resid``, ``lml0``, ``C0``) are those of the first part.
    """
    inverse = np.empty_like(positions)
    inverse[positions] = np.arange(positions.size)
    fields = {name: np.concatenate([getattr(p, name) for p in parts])[inverse]
              for name in _PER_VARIANT}
    first = parts[0]
    return AssocResult(**fields, df=first.df, df_resid=first.df_resid, lml0=first.lml0,
                       C0=first.C0)
