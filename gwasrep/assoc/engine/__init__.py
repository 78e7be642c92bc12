"""The file-level machinery of ``gwasrep assoc`` (used by :func:`gwasrep.assoc.run.run_assoc`).

In import order:

- ``lmm_setup``: the kinship source, full or low rank (and why), LOCO, one null fit per group;
- ``scan``: the per-block scan, a pure function of (scan state, block) that any executor can
  map; ``_scan_kernels``: its numba kernel on packed .bed bytes;
- ``inputs``: read, validate and align every input and fit the null model (writes nothing);
- ``schedule``: blocks of variants, local threads or a dask.distributed cluster;
- ``checkpoint``: one file per finished block, the resume fingerprint;
- ``outputs``: the sumstats schema and writer, excluded variants, variance components,
  run.json and report.md.
"""
