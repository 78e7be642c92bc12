"""Heritability and mutual information: LD scores, LDSC, GREML, the JSE MI estimator.

Empty until the heritability issue (#5) lands.
"""
