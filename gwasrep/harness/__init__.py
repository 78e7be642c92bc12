"""Evaluation harness: phenotype -> embeddings -> loci (so far: the demo pipeline)."""

from gwasrep.harness.demo import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
