"""Loci from summary statistics: PLINK 1.9 clumping with EM r^2, window loci, recovery and
uniqueness across methods, variant panels and IVW meta-analysis.

- ``_ld_kernels``: EM haplotype r^2 and the greedy clumping loop (numba);
- ``clump``: PLINK 1.9 ``--clump`` semantics on (ID, P) pairs and a fileset;
- ``windows``: GIM's window loci; ``recovery``: recovered reference loci, unique loci;
- ``harmonize``: allele alignment (swaps, strand flips, ambiguous A/T and C/G);
- ``panel``: GEMCONT's variant panels; ``meta``: fixed-effect IVW meta-analysis;
- ``plots``: the comparison figure; ``run``: the runners of ``gwasrep clump``, ``loci``,
  ``panel`` and ``meta``.

Summary statistics are read by :mod:`gwasrep.io.sumstats`; ``.clumped`` files are written
by :mod:`gwasrep.io.clumped`.
"""
