"""SpikeCounter: spike counts per unit accumulated in the state, and the population rate per step."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import Component, Port, Tree

EXACT_COUNT = 2 ** 24       # float32 counts are exact below this


class SpikeCounter(Component):
    r"""Counts the spikes of `n` units: a monitor whose memory does not grow with the run.

    $$c_j \leftarrow c_j + s_j,\qquad r = \frac{\sum_j s_j}{n\,\mathrm{d}t} \cdot 10^3\ \text{Hz}$$

    State: `counts` (batch, n), spikes per unit since the start (or since the caller zeroed the
    leaf): read it from the state after a run, of any length, on any target. The counts are
    exact in float32 up to 2^24 spikes per unit. Output: `rate` (1,) [Hz], the population rate of
    this step (record it, or not: a run that records nothing but a small output needs memory
    for that output only). Inputs: s (n,) spikes.
    """

    def __init__(self, name: str, n: int) -> None:
        super().__init__(name)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"In {self.label}: `n` must be a positive integer, got {n!r}.")
        self.n = int(n)
        self.inputs = (Port("s", (self.n,)),)
        self.outputs = (Port("rate", (1,)),)

    def default_params(self) -> dict[str, np.ndarray]:
        return {}

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {"counts": np.zeros((batch, self.n))}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        s = inputs["s"]
        rate = jnp.sum(s, axis=1, keepdims=True) * (1e3 / (self.n * dt))
        return {"counts": state["counts"] + s}, {"rate": rate}
