"""Simulated genotypes, cohorts and image tasks."""

from gwasrep.simulate.cohort import SimulatedCohort, simulate_cohort
from gwasrep.simulate.families import simulate_sibships
from gwasrep.simulate.rotation import RotationTask, simulate_rotation, write_rotation_task

__all__ = ["RotationTask", "SimulatedCohort", "simulate_cohort", "simulate_rotation",
           "simulate_sibships", "write_rotation_task"]
