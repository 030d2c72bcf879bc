"""Noise currents drawn inside the compiled step: white Gaussian and Ornstein-Uhlenbeck."""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components import random
from aotsnn.components.base import Component, ParamRule, Port, Tree, as_param


def check_n(label: str, n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"In {label}: `n` must be a positive integer, got {n!r}.")
    return int(n)


class GaussianNoise(Component):
    r"""A current drawn afresh every step: $i_j = \mu_j + \sigma_j \xi_j$, $\xi_j \sim N(0, 1)$.

    `mean` [pA] and `std` [pA] (scalars or (n,)) are run-time parameters. ξ is float32 from
    jax.random's threefry (aotsnn.components.random); N(0, 1) goes through erf_inv, so the
    current equals the JAX reference to the target's tolerance (the uniform bits exactly).
    State: `key` (batch, 2) uint32. Outputs: i (n,) [pA].
    """

    def __init__(self, name: str, n: int, *, mean: Any = 0.0, std: Any = 1.0, seed: int = 0) -> None:
        super().__init__(name)
        self.n, self.seed = check_n(self.label, n), random.check_seed(self.label, seed)
        self.outputs = (Port("i", (self.n,)),)
        self._params = {"mean": as_param(self.label, "mean", mean, (self.n,)),
                        "std": as_param(self.label, "std", std, (self.n,))}
        self.validate_params(self._params)

    def param_rules(self) -> dict[str, ParamRule]:
        return {"std": ParamRule(low=0.0, unit="pA")}

    def default_params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {"key": random.initial_keys(self.seed, batch, self.name)}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        key, xi = random.normal(state["key"], (self.n,))
        dtype = jnp.result_type(params["mean"])
        return {"key": key}, {"i": params["mean"] + params["std"] * xi.astype(dtype)}


class OUNoise(Component):
    r"""Ornstein-Uhlenbeck current (coloured noise), integrated exactly:

    $$\tau\,\mathrm{d}x = (\mu - x)\,\mathrm{d}t + \sigma\sqrt{2\tau}\,\mathrm{d}W$$

    $$x_{t+\mathrm{d}t} = \mu + (x_t - \mu)\,e^{-\mathrm{d}t/\tau}
      + \sigma\sqrt{1 - e^{-2\,\mathrm{d}t/\tau}}\;\xi_t,\qquad \xi_t \sim N(0, 1)$$

    so x has stationary mean μ [pA], standard deviation σ [pA] and autocorrelation time τ [ms]
    whatever dt. `mean`, `std`, `tau` (scalars or (n,)) are run-time parameters; x starts at
    `mean`'s initial value. ξ as in GaussianNoise. State: `x` (batch, n) [pA], `key` (batch, 2)
    uint32. Outputs: i (n,) [pA] (the new x).
    """

    def __init__(self, name: str, n: int, *, mean: Any = 0.0, std: Any = 1.0, tau: Any = 10.0,
                 seed: int = 0) -> None:
        super().__init__(name)
        self.n, self.seed = check_n(self.label, n), random.check_seed(self.label, seed)
        self.outputs = (Port("i", (self.n,)),)
        self._params = {"mean": as_param(self.label, "mean", mean, (self.n,)),
                        "std": as_param(self.label, "std", std, (self.n,)),
                        "tau": as_param(self.label, "tau", tau, (self.n,))}
        self.validate_params(self._params)

    def param_rules(self) -> dict[str, ParamRule]:
        return {"std": ParamRule(low=0.0, unit="pA"), "tau": ParamRule(low=0.0, low_open=True, unit="ms")}

    def default_params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {"x": np.broadcast_to(self._params["mean"], (batch, self.n)).copy(),
                "key": random.initial_keys(self.seed, batch, self.name)}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        key, xi = random.normal(state["key"], (self.n,))
        x, mu = state["x"], params["mean"]
        decay = jnp.exp(-dt / params["tau"])
        x = mu + (x - mu) * decay + params["std"] * jnp.sqrt(1.0 - decay * decay) * xi.astype(x.dtype)
        return {"x": x, "key": key}, {"i": x}


__all__ = ["GaussianNoise", "OUNoise"]
