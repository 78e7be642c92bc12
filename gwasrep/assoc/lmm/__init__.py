"""The multi-trait linear mixed model, in four modules imported one way:
``eigen -> likelihood -> null -> scan``.

Model (METHODS.md section 1, "LMM")::

    vec(Y) ~ N(vec(F A), Cg (x) K + Cn (x) I)

with ``Y`` (N x D) the traits, ``F`` (N x K) the covariates with the intercept, ``K`` the
kinship (GRM) and ``Cg``, ``Cn`` the D x D genetic and noise covariances.

- :mod:`~gwasrep.assoc.lmm.eigen`: ``K = U diag(s) U^T``, full rank or low rank
  (FaST-LMM, from the N x S genotype matrix);
- :mod:`~gwasrep.assoc.lmm.likelihood`: the ML/REML log-likelihood and its gradient in the
  eigenbasis of K and the generalized eigenbasis of (Cg, Cn);
- :mod:`~gwasrep.assoc.lmm.null`: the null fit (Cg, Cn, h2 and its SE);
- :mod:`~gwasrep.assoc.lmm.scan`: the scan with Cg, Cn fixed and one free scale per
  variant, plus the per-dimension GLS tests.

Numerics only: arrays in, dataclasses out.
"""

from gwasrep.assoc.lmm.eigen import KinshipEigen, eigen_from_kinship, eigen_from_standardized
from gwasrep.assoc.lmm.likelihood import lmm_lml
from gwasrep.assoc.lmm.null import (
    LmmNull,
    NonConvergenceError,
    describe_nonconvergence,
    fit_lmm_null,
)
from gwasrep.assoc.lmm.scan import (
    LmmBlockStats,
    LmmScan,
    lmm_block_result,
    lmm_scan_statistics,
    make_lmm_scan,
)

__all__ = [
    "KinshipEigen",
    "LmmBlockStats",
    "LmmNull",
    "LmmScan",
    "NonConvergenceError",
    "describe_nonconvergence",
    "eigen_from_kinship",
    "eigen_from_standardized",
    "fit_lmm_null",
    "lmm_block_result",
    "lmm_lml",
    "lmm_scan_statistics",
    "make_lmm_scan",
]
