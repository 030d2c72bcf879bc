"""Equivalence of an artifact with the JAX reference (needs jax): `compare`, `render`."""
from aotsnn.verify.report import EquivalenceReport, compare, render

__all__ = ["EquivalenceReport", "compare", "render"]
