"""The harness: phenotype -> embeddings -> loci pipelines over the whole toolkit.

- ``run``: ``gwasrep demo`` (:func:`run_demo`): a simulated cohort scanned end to end;
- ``metrics``: evaluation metrics of learned phenotypes (ridge R^2 of a latent).

``gwasrep simulate-emnist`` (the GEMCONT simulation benchmark) and ``gwasrep evaluate``
(trait generators compared on one benchmark through one engine) are built here next.
"""

from gwasrep.harness.run import DemoConfig, DemoResult, run_demo

__all__ = ["DemoConfig", "DemoResult", "run_demo"]
