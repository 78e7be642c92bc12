"""Simulated genotypes and cohorts."""

from gwasrep.simulate.cohort import SimulatedCohort, simulate_cohort

__all__ = ["SimulatedCohort", "simulate_cohort"]
