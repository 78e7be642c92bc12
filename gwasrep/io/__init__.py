"""Readers and writers: every file format gwasrep reads or writes (data_specs/).

- ``plink`` (+ numba ``_bed_kernels``, ``_bed_codes``): PLINK 1 filesets;
- ``grm``: GCTA binary GRMs; ``ldscores``: LDSC's LD score files; ``clumped``: PLINK's
  ``.clumped`` layout;
- ``tables``: embeddings, covariates, sample and variant lists, any table;
  ``sumstats``: summary statistics (ID/P pairs, effect tables); ``columns``: the one table
  of accepted column names;
- ``samples``: sample alignment across the .fam and the tables;
- ``atomic``: temporary file, then rename; ``figures``: PNGs; ``fingerprint``: digests
  for resuming runs.
"""

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
