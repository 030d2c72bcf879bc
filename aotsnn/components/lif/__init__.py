"""Neurons with NIR's equations (the LIF family and Threshold); see neurons.py for the equations,
the step order, the two integration rules and the two resets."""
from .neurons import (CubaLeakyIntegrator, CubaLIF, IntegrateAndFire, Integrator, LeakyIntegrateAndFire,
                      LeakyIntegrator, NIRNeuron, Threshold)

__all__ = ["Integrator", "IntegrateAndFire", "LeakyIntegrator", "LeakyIntegrateAndFire", "CubaLeakyIntegrator",
           "CubaLIF", "Threshold", "NIRNeuron"]
