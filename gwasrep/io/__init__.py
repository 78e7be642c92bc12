"""Readers and writers: every file format gwasrep reads or writes (data_specs/).

- ``plink`` (+ numba ``_bed_kernels``, ``_bed_codes``): PLINK 1 filesets;
- ``grm``: GCTA binary GRMs; ``ldscores``: LDSC's LD score files; ``clumped``: PLINK's
  ``.clumped`` layout;
- ``tables``: embeddings, covariates, sample and variant lists, any table;
  ``sumstats``: summary statistics (ID/P pairs, effect tables); ``columns``: the one table
  of accepted column names; ``fast_tables``: a few columns read by pyarrow alone when the
  layout allows (``tables`` reads the rest);
- ``samples``: sample alignment across the .fam and the tables;
- ``atomic``: temporary file, then rename; ``figures``: PNGs; ``fingerprint``: digests
  for resuming runs.

The names below are imported on first use (PEP 562): a process that draws figures or
writes a file atomically does not load pandas.
"""

from gwasrep._lazy import lazy_exports

_LAZY = {
    "PlinkFileset": ".plink",
    "open_plink": ".plink",
    "read_dosages": ".plink",
    "read_packed": ".plink",
    "write_plink": ".plink",
    "SampleAlignment": ".samples",
    "align_samples": ".samples",
    "Covariates": ".tables",
    "Embeddings": ".tables",
    "read_covariates": ".tables",
    "read_embeddings": ".tables",
    "read_id_list": ".tables",
    "read_table": ".tables",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
