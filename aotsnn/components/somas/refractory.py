"""Exponential integrate-and-fire soma with an absolute refractory period (spark-snn semantics)."""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import ParamRule, Tree, as_param
from aotsnn.components.somas.exponential import ExponentialSoma


class RefractoryExponentialSoma(ExponentialSoma):
    r"""ExponentialSoma that ignores its input and cannot fire for `cooldown` ms after a spike.

    With cd = round(cooldown/dt) steps, computed inside the step because `cooldown` is a run-time
    parameter, and `refractory` the number of gated steps left (0 = ready):

        ready = refractory == 0
        V <- V + (dt/tau) * (-V + dT * exp((V - V_rh)/dT) + ready * R*I)
        spike = ready and V > V_th ;  V <- V_reset where spike ;  V <- min(V, V_th) where not ready
        refractory <- cd where spike, else max(refractory - 1, 0)

    A spike at step k gates steps k+1 .. k+cd exactly; a fresh soma is ready on step 0 (spark-snn
    1.1.0 ignores the input on step 0 and gates cd+1 steps: deviation 6 of the spec). While gated,
    the leak and the exponential term still act, but V is held at or below V_th: a vetoed
    potential cannot run away (spark-snn lets it grow to dT*exp(exponent ceiling), ~1e38 mV in
    float32 and Inf, then NaN, in float16). V thus starts every step at or below V_th, as in
    ExponentialSoma, and the soma fires on its first ready step if it was held at V_th.

    The countdown holds whole numbers of steps, exactly representable up to 2048 steps in
    float16 and 256 steps in bfloat16; longer refractory periods need float32.

    Parameters: those of ExponentialSoma, plus cooldown [ms] >= 0 (scalar or per-unit (n,)).
    State: v_rel (batch, n) [mV relative to rest], refractory (batch, n) [steps left].
    Inputs: i (n,) [pA]. Outputs: spikes (n,), v (n,) absolute [mV].
    """

    def __init__(self, name: str, n: int, *, cooldown: Any = 2.0, **kwargs: Any) -> None:
        super().__init__(name, n, **kwargs)
        self._params["cooldown"] = as_param(self.label, "cooldown", cooldown, (self.n,))
        self.validate_params(self._params)

    def param_rules(self) -> dict[str, ParamRule]:
        return {**super().param_rules(), "cooldown": ParamRule(low=0.0, unit="ms")}

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {**super().init_state(batch), "refractory": np.zeros((batch, self.n))}

    def gated_update(self, params: Tree, v_rel: Any, refractory: Any, current: Any,
                     dt: float) -> tuple[Any, Any, Any]:
        """One Euler step with refractory gating against `params["threshold"]`.

        Returns (v_rel, refractory, spikes) after the step, in the dtypes of the inputs.
        """
        ready = refractory <= 0
        current = jnp.where(ready, current, jnp.zeros_like(current))
        moved = v_rel + (dt / params["potential_tau"]) * self.membrane_drive(params, v_rel, current)
        fired, spikes = self.fire_and_reset(params, moved)
        spikes = jnp.where(ready, spikes, jnp.zeros_like(spikes))
        steps = jnp.round(params["cooldown"] / dt)
        left = jnp.where(spikes > 0, steps, jnp.maximum(refractory - 1, 0))
        held = jnp.minimum(moved, params["threshold"] - params["potential_rest"])
        return (jnp.where(ready, fired, held).astype(v_rel.dtype), left.astype(refractory.dtype),
                spikes.astype(v_rel.dtype))

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        v_rel, refractory, spikes = self.gated_update(params, state["v_rel"], state["refractory"],
                                                      inputs["i"], dt)
        return ({"v_rel": v_rel, "refractory": refractory},
                {"spikes": spikes, "v": v_rel + params["potential_rest"]})
