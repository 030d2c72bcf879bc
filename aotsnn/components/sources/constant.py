"""A constant current: the drive of benchmark networks such as COBA, as a run-time parameter."""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import Component, Port, Tree, as_param
from aotsnn.components.sources.noise import check_n


class ConstantCurrent(Component):
    r"""A current that does not change from step to step: $i_j = a_j$ (NEST's dc_generator).

    `amplitude` [pA] (scalar or (n,)) is a run-time parameter: `set_params` changes it without
    recompiling, and a `run` needs no input array for it (a COBA run of 10^4 steps of 4,000
    neurons would otherwise pass and check 160 MB of the same value). No state. Outputs:
    i (n,) [pA], the same for every sample (the network broadcasts it over the batch).
    """

    def __init__(self, name: str, n: int, *, amplitude: Any = 0.0) -> None:
        super().__init__(name)
        self.n = check_n(self.label, n)
        self.outputs = (Port("i", (self.n,)),)
        self._params = {"amplitude": as_param(self.label, "amplitude", amplitude, (self.n,))}
        self.validate_params(self._params)

    def default_params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        return {}, {"i": jnp.broadcast_to(params["amplitude"], (self.n,))}
