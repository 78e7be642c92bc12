"""Heritability and MI: LD scores (LDSC format), LDSC h2 per embedding dimension, and the
mutual-information estimator (``mi``, ``mi_run``; the only modules here that need torch).
"""
