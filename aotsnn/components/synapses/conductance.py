"""Conductance synapses driven by presynaptic spikes (ngclearn semantics)."""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import Port, ParamRule, Tree, as_param
from aotsnn.components.synapses.dense import WeightedSynapse

INTEGRATIONS = ("euler", "exact")


def decay_factor(dt: float, tau: Any, integration: str) -> Any:
    """Per-step decay of a first-order filter: 1 - dt/tau (euler) or exp(-dt/tau) (exact)."""
    return 1.0 - dt / tau if integration == "euler" else jnp.exp(-dt / tau)


def synaptic_current(params: Tree, g: Any, v: Any, current_based: bool) -> Any:
    """i = resist_scale * g * (syn_rest - v) [pA], or resist_scale * g when current-based."""
    drive = g if current_based else g * (params["syn_rest"] - v)
    return params["resist_scale"] * drive


class ExponentialSynapse(WeightedSynapse):
    r"""Conductance with exponential decay.

        dg/dt = -g/tau_decay + g_syn_bar * sum_k delta(t - t_k)
        euler: g <- g (1 - dt/tau_decay) + g_syn_bar * (s @ (W*mask))
        exact: g <- g exp(-dt/tau_decay)  + g_syn_bar * (s @ (W*mask))
        i = resist_scale * g * (syn_rest - v)      (syn_rest=None: i = resist_scale * g)

    Units: tau_decay [ms] > 0, syn_rest [mV], v the post-synaptic absolute potential [mV].
    State: g (batch, n_out). Inputs: s (n_in,) spikes, v (n_out,) [mV]. Outputs: i (n_out,) [pA].
    """

    def __init__(self, name: str, shape: tuple[int, int], *, tau_decay: Any = 5.0, g_syn_bar: Any = 1.0,
                 syn_rest: Any | None = 0.0, integration: str = "euler", **kwargs: Any) -> None:
        super().__init__(name, shape, **kwargs)
        if integration not in INTEGRATIONS:
            raise ValueError(f"In {self.label}: `integration` must be one of {INTEGRATIONS}, got {integration!r}.")
        self.integration = integration
        self.current_based = syn_rest is None
        n_out = self.shape[1]
        self.inputs = (Port("s", (self.shape[0],)), Port("v", (n_out,)))
        self.outputs = (Port("i", (n_out,)),)
        self._params["tau_decay"] = as_param(self.label, "tau_decay", tau_decay, (n_out,))
        self._params["g_syn_bar"] = as_param(self.label, "g_syn_bar", g_syn_bar, (n_out,))
        if not self.current_based:
            self._params["syn_rest"] = as_param(self.label, "syn_rest", syn_rest, (n_out,))
        self.validate_params(self._params)

    def param_rules(self) -> dict[str, ParamRule]:
        return {**super().param_rules(), "tau_decay": ParamRule(low=0.0, low_open=True, unit="ms")}

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {"g": np.zeros((batch, self.shape[1]))}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        decay = decay_factor(dt, params["tau_decay"], self.integration)
        g = state["g"] * decay + params["g_syn_bar"] * self.transmit(params, inputs["s"])
        return {"g": g}, {"i": synaptic_current(params, g, inputs["v"], self.current_based)}
