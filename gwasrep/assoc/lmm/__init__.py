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

Numerics only: arrays in, dataclasses out. The names below are imported on first use
(PEP 562): the linear scan imports ``lmm.scan`` without the null fit's scipy.optimize.
"""

from gwasrep._lazy import lazy_exports

_LAZY = {
    "KinshipEigen": ".eigen",
    "eigen_from_kinship": ".eigen",
    "eigen_from_standardized": ".eigen",
    "lmm_lml": ".likelihood",
    "LmmNull": ".null",
    "NonConvergenceError": ".null",
    "describe_nonconvergence": ".null",
    "fit_lmm_null": ".null",
    "LmmBlockStats": ".scan",
    "LmmScan": ".scan",
    "lmm_block_result": ".scan",
    "lmm_scan_statistics": ".scan",
    "make_lmm_scan": ".scan",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
