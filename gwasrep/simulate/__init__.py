"""Simulated genotypes and cohorts."""

from gwasrep.simulate.cohort import SimulatedCohort, simulate_cohort
from gwasrep.simulate.families import simulate_sibships

__all__ = ["SimulatedCohort", "simulate_cohort", "simulate_sibships"]
