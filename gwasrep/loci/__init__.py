"""Loci from summary statistics: PLINK 1.9 clumping with EM r^2, window loci,
recovery and uniqueness across methods, variant panels and IVW meta-analysis."""
