"""Heritability: LD scores (LDSC format), LDSC h2 per embedding dimension.

The MI estimator of issue 5 (torch) is not built yet.
"""
