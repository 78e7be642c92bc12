"""Association testing: preprocessing, null models, block scan kernels and the engine."""

from gwasrep.assoc.lrt import (
    AssocResult,
    BlockMoments,
    NullModel,
    block_moments_dense,
    fit_null,
    multitrait_lrt,
    scan_statistics,
)
from gwasrep.assoc.preprocess import (
    PreprocessResult,
    inverse_normal_transform,
    pca_project,
    preprocess_embeddings,
    regress_out,
)

__all__ = [
    "AssocResult",
    "BlockMoments",
    "NullModel",
    "PreprocessResult",
    "block_moments_dense",
    "fit_null",
    "inverse_normal_transform",
    "multitrait_lrt",
    "pca_project",
    "preprocess_embeddings",
    "regress_out",
    "scan_statistics",
]
