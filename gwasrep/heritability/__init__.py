"""Heritability: LD scores (LDSC format) and LDSC h2 per embedding dimension, with GREML h2
from the LMM null beside it.

- ``ldscore``: LD scores streamed in banded blocks over a .bed;
- ``ldsc``: the LDSC regression (IRWLS, two-step, block jackknife) on arrays;
- ``h2``: per-dimension Z scores from gwasrep sumstats, the h2 table, GREML columns;
- ``run``: the runners of ``gwasrep ldscore`` and ``gwasrep h2``.

LD score files are read and written by :mod:`gwasrep.io.ldscores`. The MI estimator is
:mod:`gwasrep.mi`.
"""
