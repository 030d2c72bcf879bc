"""Somas: spiking point neurons driven by a current (spark-snn semantics).

AdaptiveExponentialSoma and CoupledAdaptiveExponentialSoma follow spark-snn 1.2 (every mechanism
an option, off by default; `defaults="spark-1.1"` for 1.1's adaptation current); the
RefractoryExponentialSoma and SimplifiedAdaptiveExponentialSoma presets keep spark-snn 1.1's classes.
"""
from .exponential import ExponentialSoma
from .adaptive import AdaptiveExponentialSoma, CoupledAdaptiveExponentialSoma
from .spark11 import RefractoryExponentialSoma, SimplifiedAdaptiveExponentialSoma

__all__ = ["ExponentialSoma", "RefractoryExponentialSoma", "AdaptiveExponentialSoma",
           "SimplifiedAdaptiveExponentialSoma", "CoupledAdaptiveExponentialSoma"]
