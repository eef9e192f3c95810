"""A simulated year of one country's programme, replayed through the real ingest, case and
review services (see :mod:`fieldapp.simulation.engine`). It fills the demo and drives the
benchmarks and the care screens' tests."""

from fieldapp.simulation.engine import Result, Simulation, Sizes

__all__ = ["Result", "Simulation", "Sizes"]
