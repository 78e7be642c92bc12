"""The harness: phenotype -> embeddings -> loci pipelines over the whole toolkit.

- ``run``: ``gwasrep demo`` (:func:`run_demo`: a simulated cohort scanned end to end),
  ``gwasrep simulate-emnist`` (:func:`run_simulation`: GEMCONT's simulation benchmark) and
  ``gwasrep evaluate`` (:func:`run_evaluate`: methods compared on a real cohort);
- ``simulation``: its cells (train, embed, GWAS, score), their on-disk cache, the sweep's
  table and figure; the profiles ``smoke``, ``quick`` and ``paper``;
- ``evaluate``: what ``evaluate`` measures (reference loci found, ROC-AUC, PRS), its
  configuration and its report;
- ``metrics``: ridge R^2 of a latent (scikit-learn) and the recovery of causal variants.

Importing the harness does not import torch; a simulation cell (and ``evaluate --mi``) does.
"""

from gwasrep.harness.run import (
    DemoConfig,
    DemoResult,
    EvaluateConfig,
    EvaluateRun,
    SimulationConfig,
    SimulationRun,
    run_demo,
    run_evaluate,
    run_simulation,
)

__all__ = ["DemoConfig", "DemoResult", "EvaluateConfig", "EvaluateRun", "SimulationConfig",
           "SimulationRun", "run_demo", "run_evaluate", "run_simulation"]
