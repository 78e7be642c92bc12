"""Loci: LD, PLINK-exact clumping, window loci, recovery, variant panels, meta-analysis.

Empty until the loci issue (#4) lands.
"""
