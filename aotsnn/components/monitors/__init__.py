"""Monitors as components: reductions kept in the state, so they work on every target."""
from aotsnn.components.monitors.counts import SpikeCounter

__all__ = ["SpikeCounter"]
