"""Association testing: the multi-trait LRT, per-dimension tests, the LMM, and the engine that
streams them over PLINK filesets.

Numerics (arrays in, dataclasses out), in import order:

- ``stats``: chi2/t tails and lambda GC; ``genotypes``: mean imputation of dosage blocks;
  ``covariates``: the covariate basis; ``results``: ``AssocResult`` and block moments;
- ``preprocess``: PCA projection, covariate regression, inverse normal transform;
- ``linear``: the linear null model and its scan statistics;
- ``lmm/``: the multi-trait LMM (``eigen -> likelihood -> null -> scan``);
- ``lrt``: :func:`multitrait_lrt`, the entry point on arrays (linear or LMM);
- ``kinship``: GRMs streamed over a .bed (GCTA standardized, GEMMA centred, LOCO parts);
- ``plots``: Manhattan and QQ plots.

Files: ``config`` (:class:`AssocConfig`, :class:`GrmConfig`), ``run`` (the runners of
``gwasrep assoc`` and ``gwasrep grm``) and ``engine/`` (inputs, LMM set-up, the block scan
and its numba kernel, scheduling, checkpoints, outputs).
"""

from gwasrep.assoc.linear import NullModel, block_moments_dense, fit_null, scan_statistics
from gwasrep.assoc.lrt import multitrait_lrt
from gwasrep.assoc.preprocess import (
    PreprocessResult,
    inverse_normal_transform,
    pca_project,
    preprocess_embeddings,
    regress_out,
)
from gwasrep.assoc.results import AssocResult, BlockMoments
from gwasrep.assoc.stats import lambda_gc

__all__ = [
    "AssocResult",
    "BlockMoments",
    "NullModel",
    "PreprocessResult",
    "block_moments_dense",
    "fit_null",
    "inverse_normal_transform",
    "lambda_gc",
    "multitrait_lrt",
    "pca_project",
    "preprocess_embeddings",
    "regress_out",
    "scan_statistics",
]
