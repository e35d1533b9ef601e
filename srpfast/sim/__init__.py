"""Simulation: many unmodified srpfast engines under virtual time (``memnet``: the modelled
network; ``churn``: scenarios with peers joining and leaving, and what reached whom)."""
