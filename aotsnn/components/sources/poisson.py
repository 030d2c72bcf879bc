"""PoissonSource: independent Poisson spike trains drawn inside the compiled step."""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components import random
from aotsnn.components.base import Component, ParamRule, Port, Tree, as_param

RATE_RULE = ParamRule(low=0.0, unit="Hz")


class PoissonSource(Component):
    r"""`n` independent Poisson spike trains with rates `rate` [Hz] (Brian2's PoissonGroup).

    In each step of dt [ms] unit j spikes with probability

    $$P(s_j = 1) = r_j\,\mathrm{d}t \cdot 10^{-3},\qquad s_j = [u_j < r_j\,\mathrm{d}t \cdot 10^{-3}],
      \quad u_j \sim U[0, 1)$$

    (a Bernoulli approximation of the Poisson process, exact as r dt -> 0; r dt >= 1000 Hz ms
    spikes every step). u is float32 from jax.random's threefry (aotsnn.components.random), the
    product r dt 1e-3 is taken in float32, so the spike trains of every target equal the JAX
    reference bit for bit. `rate` (scalar or (n,)) is a run-time parameter: set_params changes it
    without recompiling. State: `key` (batch, 2) uint32, one generator per batch row, from `seed`
    and the component's name (two sources with one seed draw independent trains: aotsnn.components.random).
    Outputs: spikes (n,).
    """

    def __init__(self, name: str, n: int, *, rate: Any = 10.0, seed: int = 0) -> None:
        super().__init__(name)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"In {self.label}: `n` must be a positive integer, got {n!r}.")
        self.n, self.seed = int(n), random.check_seed(self.label, seed)
        self.outputs = (Port("spikes", (self.n,)),)
        self._params = {"rate": as_param(self.label, "rate", rate, (self.n,))}
        self.validate_params(self._params)

    def param_rules(self) -> dict[str, ParamRule]:
        return {"rate": RATE_RULE}

    def default_params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {"key": random.initial_keys(self.seed, batch, self.name)}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        key, u = random.uniform(state["key"], (self.n,))
        p = jnp.asarray(params["rate"], jnp.float32) * jnp.float32(dt * 1e-3)
        dtype = jnp.result_type(params["rate"])
        return {"key": key}, {"spikes": (u < p).astype(dtype)}


__all__ = ["PoissonSource"]
