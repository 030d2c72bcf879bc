"""Equivalence of an artifact with the JAX reference (needs jax): `compare`, `render`, and the
cross-target matrix `verify_targets`, `render_matrix`."""
from aotsnn.verify.matrix import TargetMatrix, render_matrix, verify_targets
from aotsnn.verify.report import EquivalenceReport, compare, render

__all__ = ["EquivalenceReport", "TargetMatrix", "compare", "render", "render_matrix", "verify_targets"]
