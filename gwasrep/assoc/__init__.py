"""Association testing: the multi-trait LRT, per-dimension tests, the LMM, and the engine that
streams them over PLINK filesets.

Numerics (arrays in, dataclasses out), in import order:

- ``stats``: chi2/t tails and lambda GC; ``genotypes``: mean imputation of dosage blocks;
  ``covariates``: the covariate basis; ``results``: ``AssocResult`` and block moments;
- ``preprocess``: PCA projection, covariate regression, inverse normal transform;
- ``linear``: the linear null model and its scan statistics;
- ``lmm/``: the multi-trait LMM (``eigen -> likelihood -> null -> scan``);
- ``ridge``: whole-genome ridge regression (REGENIE step 1) and its LOCO predictions;
- ``lrt``: :func:`multitrait_lrt`, the entry point on arrays (linear, LMM or ridge LOCO);
- ``kinship``: GRMs streamed over a .bed (GCTA standardized, GEMMA centred, LOCO parts);
- ``plots``: Manhattan and QQ plots.

Files: ``config`` (:class:`AssocConfig`, :class:`GrmConfig`), ``run`` (the runners of
``gwasrep assoc`` and ``gwasrep grm``) and ``engine/`` (inputs, LMM set-up, the block scan
and its numba kernel, scheduling, checkpoints, outputs).

The names below are imported on first use (PEP 562), so that a command importing one
module of the package (``config``, ``run``) does not load the LMM and scipy.linalg.
"""

from gwasrep._lazy import lazy_exports

_LAZY = {
    "AssocResult": "gwasrep.assoc.results",
    "BlockMoments": "gwasrep.assoc.results",
    "LocoPredictions": "gwasrep.assoc.ridge",
    "NullModel": "gwasrep.assoc.linear",
    "PreprocessResult": "gwasrep.assoc.preprocess",
    "block_moments_dense": "gwasrep.assoc.linear",
    "fit_loco_predictions": "gwasrep.assoc.ridge",
    "fit_null": "gwasrep.assoc.linear",
    "inverse_normal_transform": "gwasrep.assoc.preprocess",
    "lambda_gc": "gwasrep.assoc.stats",
    "multitrait_lrt": "gwasrep.assoc.lrt",
    "pca_project": "gwasrep.assoc.preprocess",
    "preprocess_embeddings": "gwasrep.assoc.preprocess",
    "regress_out": "gwasrep.assoc.preprocess",
    "scan_statistics": "gwasrep.assoc.linear",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
