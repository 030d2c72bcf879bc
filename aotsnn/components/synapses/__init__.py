"""Synapses (ngclearn semantics): dense with optional delays, conductance-based, short-term plastic."""
from aotsnn.components.synapses.conductance import (AlphaSynapse, ConductanceSynapse, DoubleExpSynapse,
                                                    ExponentialSynapse)
from aotsnn.components.synapses.dense import DenseSynapse, StaticSynapse, WeightedSynapse
from aotsnn.components.synapses.stp import STPDenseSynapse

__all__ = ["AlphaSynapse", "ConductanceSynapse", "DenseSynapse", "DoubleExpSynapse", "ExponentialSynapse",
           "STPDenseSynapse", "StaticSynapse", "WeightedSynapse"]
