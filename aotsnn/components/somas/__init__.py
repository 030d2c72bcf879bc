"""Somas: spiking point neurons driven by a current (spark-snn semantics)."""
from .exponential import ExponentialSoma
from .refractory import RefractoryExponentialSoma
from .adaptive import AdaptiveExponentialSoma, SimplifiedAdaptiveExponentialSoma

__all__ = ["ExponentialSoma", "RefractoryExponentialSoma", "AdaptiveExponentialSoma",
           "SimplifiedAdaptiveExponentialSoma"]
