"""Per-unit layers of imported graphs: Scale (nir.Scale) and Delay (nir.Delay)."""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import Component, ParamRule, Port, Tree, as_param
from aotsnn.components.plasticity.traces import unit_shape


class Scale(Component):
    """out = x * scale, element-wise (nir.Scale). Parameters: scale (scalar or *shape).
    Inputs: x (*shape). Outputs: out (*shape)."""

    def __init__(self, name: str, shape: Any, *, scale: Any) -> None:
        super().__init__(name)
        self.shape = unit_shape(self.label, shape)
        self._params = {"scale": as_param(self.label, "scale", scale, self.shape)}
        self.validate_params(self._params)
        self.inputs, self.outputs = (Port("x", self.shape),), (Port("out", self.shape),)

    def default_params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        return {}, {"out": inputs["x"] * params["scale"]}


class Delay(Component):
    """out[t] = x[t - d] per unit, d = `delays` whole steps in 0..max_steps (nir.Delay; zero before
    anything arrived). d = 0 passes x through in the same step.

    State `history` (batch, max_steps, *shape): slot k holds x from k+1 steps ago. Each step reads
    slot d-1 (or x itself for d = 0) and shifts x into slot 0. `delays` is a run-time parameter
    (whole numbers, rounded in the step); `max_steps` >= 1 fixes the buffer length.
    Inputs: x (*shape). Outputs: out (*shape).
    """

    def __init__(self, name: str, shape: Any, *, delays: Any, max_steps: int | None = None) -> None:
        super().__init__(name)
        self.shape = unit_shape(self.label, shape)
        delays = as_param(self.label, "delays", delays, self.shape)
        longest = int(np.max(delays)) if np.all(np.isfinite(delays)) else 0
        self.max_steps = max(longest, 1) if max_steps is None else max_steps
        if not (isinstance(self.max_steps, (int, np.integer)) and self.max_steps >= 1):
            raise ValueError(f"In {self.label}: `max_steps` must be an integer >= 1, got {max_steps!r}.")
        self._params = {"delays": delays}
        self.validate_params(self._params)
        self.inputs, self.outputs = (Port("x", self.shape),), (Port("out", self.shape),)

    def param_rules(self) -> dict[str, ParamRule]:
        return {"delays": ParamRule(low=0.0, high=float(self.max_steps), unit="steps", integer=True)}

    def default_params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {"history": np.zeros((batch, self.max_steps, *self.shape))}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        x, history = inputs["x"], state["history"]
        window = jnp.concatenate([x[:, None], history], axis=1)            # slot k: x from k steps ago
        ages = jnp.arange(self.max_steps + 1, dtype=x.dtype).reshape((-1,) + (1,) * len(self.shape))
        pick = (ages == jnp.round(params["delays"])).astype(x.dtype)     # (max_steps + 1, *shape)
        out = jnp.sum(window * pick[None], axis=1)
        return {"history": window[:, :-1]}, {"out": out}
