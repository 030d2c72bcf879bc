"""Short-term plasticity: the Tsodyks-Markram dense synapse (ngclearn's STPDenseSynapse, per the seed)."""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import ParamRule, Port, Tree, as_param
from aotsnn.components.initializers import Initializer, uniform
from aotsnn.components.synapses.dense import WeightedSynapse

DEFAULT_RESOURCES_INIT = uniform(low=0.125, high=0.175)
TAU_STP_RULE = ParamRule(low=0.0, unit="ms")


class STPDenseSynapse(WeightedSynapse):
    r"""Dense synapse whose efficacy follows Tsodyks-Markram short-term plasticity, per synapse.

    With s_i the spike (0/1) of input i this step, U the per-synapse resources (release
    fraction), W = weights*mask, and u, x, Wdyn the state before the step:

        u    <- u - dt*u/tau_f + U*(1 - u)*s_i           (u <- U      when tau_f = 0)
        Wdyn <- W*u_new*x*s_i + Wdyn*(1 - s_i)           (x: the value before this step)
        x    <- x + dt*(1 - x)/tau_d - u_new*x*s_i       (x <- 1      when tau_d = 0)
        out  =  s @ (Wdyn_new*resist_scale) + b

    Forward Euler in dt [ms] (ngclearn ignores dt). Facilitation dominates when tau_f >> tau_d
    (u builds up between spikes), depression when tau_d >> tau_f (x is slow to recover).
    tau_f = 0 / tau_d = 0 switch facilitation / depression off; they are chosen inside the
    step from the parameter values, so they can be changed at run time.

    Parameters: weights, mask (n_in, n_out); resources U (n_in, n_out) in [0, 1], drawn from
    `resources_init` (default uniform(0.125, 0.175)) on the seed's own "resources" stream;
    tau_f, tau_d [ms] >= 0, scalars or per synapse (n_in, n_out); resist_scale (); biases (n_out,)
    when `bias_init` is given.
    State: u, x, Wdyn of shape (batch, n_in, n_out): each sample of a batch has its own
    synapses (initially u = 0, x = 1, Wdyn = 0), since each sees its own spike train.
    Inputs: s (n_in,) spikes. Outputs: out (n_out,).
    """

    def __init__(self, name: str, shape: tuple[int, int], *, tau_f: Any = 750.0, tau_d: Any = 50.0,
                 resources_init: Initializer = DEFAULT_RESOURCES_INIT, **kwargs: Any) -> None:
        super().__init__(name, shape, **kwargs)
        self.inputs = (Port("s", (self.shape[0],)),)
        self.outputs = (Port("out", (self.shape[1],)),)
        self._params["tau_f"] = as_param(self.label, "tau_f", tau_f, self.shape)
        self._params["tau_d"] = as_param(self.label, "tau_d", tau_d, self.shape)
        self._params["resources"] = resources_init(self.shape, self.rng("resources"))
        self.validate_params(self._params)

    def param_rules(self) -> dict[str, ParamRule]:
        return {**super().param_rules(), "tau_f": TAU_STP_RULE, "tau_d": TAU_STP_RULE,
                "resources": ParamRule(low=0.0, high=1.0)}

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        full = (batch, *self.shape)
        return {"u": np.zeros(full), "x": np.ones(full), "Wdyn": np.zeros(full)}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        spikes = inputs["s"]
        s = spikes[:, :, None]                                   # (batch, n_in, 1)
        U, tau_f, tau_d = params["resources"], params["tau_f"], params["tau_d"]
        u, x = state["u"], state["x"]
        # tau = 0 selects the fixed value; the division uses 1 there so no Inf/NaN is formed.
        u_new = jnp.where(tau_f > 0, u - dt * u / jnp.where(tau_f > 0, tau_f, 1.0) + U * (1.0 - u) * s, U)
        wdyn = self.effective_weights(params) * u_new * x * s + state["Wdyn"] * (1.0 - s)
        x_new = jnp.where(tau_d > 0, x + dt * (1.0 - x) / jnp.where(tau_d > 0, tau_d, 1.0) - u_new * x * s, 1.0)
        out = self.add_bias(params, jnp.einsum("bi,bij->bj", spikes, wdyn) * params["resist_scale"])
        return {"u": u_new, "x": x_new, "Wdyn": wdyn}, {"out": out}
