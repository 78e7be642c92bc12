"""Mutual information between embeddings and genotypes (GIM's protocol; needs the torch extra).

- ``estimator``: the critics (JSE as in GIM, with its Donsker-Varadhan bound in nats, and
  InfoNCE), the training protocol and :func:`~gwasrep.mi.estimator.estimate_mi` on arrays;
- ``run``: ``gwasrep mi`` on files (:class:`~gwasrep.mi.run.MIConfig`,
  :func:`~gwasrep.mi.run.run_mi`), with per-seed resume.

Importing this package does not import torch; :mod:`gwasrep.mi.estimator` does.
"""
