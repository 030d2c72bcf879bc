"""Sources inside the network: Poisson spikes, given spike times, noise and constant currents."""
from aotsnn.components.sources.constant import ConstantCurrent
from aotsnn.components.sources.generator import SpikeGenerator
from aotsnn.components.sources.noise import GaussianNoise, OUNoise
from aotsnn.components.sources.poisson import PoissonSource

__all__ = ["PoissonSource", "SpikeGenerator", "GaussianNoise", "OUNoise", "ConstantCurrent"]
