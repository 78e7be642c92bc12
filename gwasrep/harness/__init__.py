"""The harness: phenotype -> embeddings -> loci pipelines over the whole toolkit.

- ``run``: ``gwasrep demo`` (:func:`run_demo`: a simulated cohort scanned end to end) and
  ``gwasrep simulate-emnist`` (:func:`run_simulation`: GEMCONT's simulation benchmark);
- ``simulation``: its cells (train, embed, GWAS, score), their on-disk cache, the sweep's
  table and figure; the profiles ``smoke``, ``quick`` and ``paper``;
- ``metrics``: ridge R^2 of a latent (scikit-learn) and the recovery of causal variants.

Importing the harness does not import torch; a simulation cell does. ``gwasrep evaluate``
(trait generators compared on a real cohort) is built here next.
"""

from gwasrep.harness.run import (
    DemoConfig,
    DemoResult,
    SimulationConfig,
    SimulationRun,
    run_demo,
    run_simulation,
)

__all__ = ["DemoConfig", "DemoResult", "SimulationConfig", "SimulationRun", "run_demo",
           "run_simulation"]
