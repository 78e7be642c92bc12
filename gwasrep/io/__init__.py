"""Readers and writers: PLINK 1 filesets, embeddings, covariates, sample and variant lists."""

from gwasrep.io.plink import PlinkFileset, open_plink, read_dosages, read_packed, write_plink
from gwasrep.io.samples import SampleAlignment, align_samples
from gwasrep.io.tables import (
    Covariates,
    Embeddings,
    read_covariates,
    read_embeddings,
    read_id_list,
    read_table,
)

__all__ = [
    "Covariates",
    "Embeddings",
    "PlinkFileset",
    "SampleAlignment",
    "align_samples",
    "open_plink",
    "read_covariates",
    "read_dosages",
    "read_embeddings",
    "read_id_list",
    "read_packed",
    "read_table",
    "write_plink",
]
