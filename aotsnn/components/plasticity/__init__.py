"""Plastic synapses (ngclearn semantics): learning rules that run inside the compiled step.

A plastic synapse = a weight structure (dense, patched, convolution) + a rule. With
`learning=True` (default) the weights are state and learn on the device; `learning=False`
compiles the same network for inference (weights are parameters). The batch shares one weight
matrix (updated by the batch-summed product) unless `per_sample_plasticity=True`, which gives
every sample its own weights and rule state. See `base` for the contract.
"""
from aotsnn.components.plasticity.base import WeightCorrelation, PlasticSynapse, Rule
from aotsnn.components.plasticity.bcm import BCM, BCMSynapse
from aotsnn.components.plasticity.hebbian import Hebbian, HebbianSynapse
from aotsnn.components.plasticity.modulated import MSTDPET, MSTDPETSynapse
from aotsnn.components.plasticity.stdp import (EventSTDP, EventSTDPSynapse, ExpSTDP, ExpSTDPSynapse, TraceSTDP,
                                               TraceSTDPSynapse)
from aotsnn.components.plasticity.traces import SpikeTimeTracker, VarTrace

__all__ = ["BCM", "BCMSynapse", "WeightCorrelation", "EventSTDP", "EventSTDPSynapse", "ExpSTDP", "ExpSTDPSynapse",
           "Hebbian", "HebbianSynapse", "MSTDPET", "MSTDPETSynapse", "PlasticSynapse", "Rule", "SpikeTimeTracker",
           "TraceSTDP", "TraceSTDPSynapse", "VarTrace"]
