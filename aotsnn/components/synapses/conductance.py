"""Conductance synapses driven by presynaptic spikes (ngclearn semantics, the seed's equations).

Exponential, alpha and double-exponential conductances share the constructor, the ports and
the current i = resist_scale * g * (syn_rest - v) in `ConductanceSynapse`; each class adds
only its time constants and its update of (h,) g.
"""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import ParamRule, Port, Tree, as_param
from aotsnn.components.initializers import DEFAULT_WEIGHT_INIT, Initializer, constant
from aotsnn.components.synapses.dense import WeightedSynapse

INTEGRATIONS = ("euler", "exact")
TAU_RULE = ParamRule(low=0.0, low_open=True, unit="ms")


def decay_factor(dt: float, tau: Any, integration: str) -> Any:
    """Per-step decay of a first-order filter: 1 - dt/tau (euler) or exp(-dt/tau) (exact)."""
    return 1.0 - dt / tau if integration == "euler" else jnp.exp(-dt / tau)


def synaptic_current(params: Tree, g: Any, v: Any, current_based: bool) -> Any:
    """i = resist_scale * g * (syn_rest - v) [pA], or resist_scale * g when current-based."""
    drive = g if current_based else g * (params["syn_rest"] - v)
    return params["resist_scale"] * drive


class ConductanceSynapse(WeightedSynapse):
    """Shared part of the conductance synapses.

    Parameters (scalars or per-output arrays (n_out,)): g_syn_bar (conductance per unit of
    s @ (W*mask)), syn_rest [mV] (absent when `syn_rest=None`: current-based, i = resist_scale*g),
    and the time constants a subclass lists in `time_constants` [ms] > 0.
    Inputs: s (n_in,) spikes, v (n_out,) post-synaptic absolute potential [mV].
    Outputs: i (n_out,) [pA]. `integration` is "euler" (the reference) or "exact".
    tau_decay, g_syn_bar and syn_rest have no defaults (ngclearn requires them too).

    Weights as in ngclearn: with `is_nonplastic=True` (the default) every weight is 1, so g_syn_bar
    alone sets the conductance per spike (ngclearn draws W and then overwrites it with ones; the
    p_conn mask is kept here: docs/components.md, deviation 3); `is_nonplastic=False` draws W from `weight_init`
    (default uniform(0.025, 0.8)). A `weight_init` given with `is_nonplastic=True` would be
    overwritten, so it is refused. Conductance synapses have no bias (ngclearn's `bias_init` is
    unused there), so a `bias_init` is refused rather than silently ignored.
    """

    time_constants: tuple[str, ...] = ()

    def __init__(self, name: str, shape: tuple[int, int], *, taus: dict[str, Any], g_syn_bar: Any,
                 syn_rest: Any | None, integration: str, is_nonplastic: bool = True,
                 weight_init: Initializer | None = None, bias_init: Any = None, **kwargs: Any) -> None:
        chosen = constant(1.0) if is_nonplastic is True else (DEFAULT_WEIGHT_INIT if weight_init is None else weight_init)
        super().__init__(name, shape, weight_init=chosen, **kwargs)
        if not isinstance(is_nonplastic, bool):
            raise ValueError(f"In {self.label}: `is_nonplastic` must be True (unit weights, ngclearn's default) "
                             f"or False (weights from weight_init), got {is_nonplastic!r}.")
        if is_nonplastic and weight_init is not None:
            raise ValueError(f"In {self.label}: `weight_init` is unused while `is_nonplastic=True` (ngclearn then "
                             "sets every weight to 1); pass is_nonplastic=False to draw the weights from weight_init.")
        if bias_init is not None:
            raise ValueError(f"In {self.label}: `bias_init` must be None, got {bias_init!r}; conductance "
                             "synapses have no bias (add a DenseSynapse for a constant drive).")
        if integration not in INTEGRATIONS:
            raise ValueError(f"In {self.label}: `integration` must be one of {INTEGRATIONS}, got {integration!r}.")
        self.integration = integration
        self.current_based = syn_rest is None
        n_out = self.shape[1]
        self.inputs = (Port("s", (self.shape[0],)), Port("v", (n_out,)))
        self.outputs = (Port("i", (n_out,)),)
        for tau_name, value in taus.items():
            self._params[tau_name] = as_param(self.label, tau_name, value, (n_out,))
        self._params["g_syn_bar"] = as_param(self.label, "g_syn_bar", g_syn_bar, (n_out,))
        if not self.current_based:
            self._params["syn_rest"] = as_param(self.label, "syn_rest", syn_rest, (n_out,))
        self.validate_params(self._params)

    def param_rules(self) -> dict[str, ParamRule]:
        return {**super().param_rules(), **{tau: TAU_RULE for tau in self.time_constants}}

    def decay(self, params: Tree, tau_name: str, dt: float) -> Any:
        return decay_factor(dt, params[tau_name], self.integration)

    def current(self, params: Tree, g: Any, inputs: Tree) -> Tree:
        return {"i": synaptic_current(params, g, inputs["v"], self.current_based)}


class ExponentialSynapse(ConductanceSynapse):
    r"""Conductance with exponential decay.

        dg/dt = -g/tau_decay + g_syn_bar * sum_k delta(t - t_k)
        euler: g <- g (1 - dt/tau_decay) + g_syn_bar * (s @ (W*mask))
        exact: g <- g exp(-dt/tau_decay)  + g_syn_bar * (s @ (W*mask))
        i = resist_scale * g * (syn_rest - v)      (syn_rest=None: i = resist_scale * g)

    "exact" is the closed-form solution for spikes arriving at step boundaries.
    Units: tau_decay [ms] > 0, syn_rest [mV], v the post-synaptic absolute potential [mV].
    State: g (batch, n_out). Inputs: s (n_in,) spikes, v (n_out,) [mV]. Outputs: i (n_out,) [pA].
    """

    time_constants = ("tau_decay",)

    def __init__(self, name: str, shape: tuple[int, int], *, tau_decay: Any, g_syn_bar: Any,
                 syn_rest: Any | None, integration: str = "euler", **kwargs: Any) -> None:
        super().__init__(name, shape, taus={"tau_decay": tau_decay}, g_syn_bar=g_syn_bar,
                         syn_rest=syn_rest, integration=integration, **kwargs)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {"g": np.zeros((batch, self.shape[1]))}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        o = self.transmit(params, inputs["s"])
        g = state["g"] * self.decay(params, "tau_decay", dt) + params["g_syn_bar"] * o
        return {"g": g}, self.current(params, g, inputs)


class AlphaSynapse(ConductanceSynapse):
    r"""Alpha-function conductance: a rise through h, then decay, both with tau_decay.

        dh/dt = -h/tau_decay + g_syn_bar * sum_k delta(t - t_k)
        dg/dt = -g/tau_decay + h/tau_decay
        h <- h a + g_syn_bar * (s @ (W*mask))
        g <- g a + dt * h_new / tau_decay          (h_new: h after this step's update)
        a = 1 - dt/tau_decay (euler) or exp(-dt/tau_decay) (exact)
        i = resist_scale * g * (syn_rest - v)      (syn_rest=None: i = resist_scale * g)

    What "exact" means here: only the decay factors become exp(-dt/tau); the h -> g coupling
    keeps the seed's Euler term dt*h_new/tau. Each filter's free decay is exact, but the pair is
    not the closed-form solution of the coupled system: after one spike at step 0 (o = 1),
    g after step k is g_syn_bar*(dt/tau)*(k+1)*a^k in both modes, whereas the continuous
    solution g(t) = g_syn_bar*(t/tau)*exp(-t/tau) at t = k*dt is g_syn_bar*(dt/tau)*k*exp(-k*dt/tau):
    the O(dt) difference comes from the spike entering g (through h_new) in its own step.
    Units: tau_decay [ms] > 0. State: h, g (batch, n_out). Ports as ExponentialSynapse.
    """

    time_constants = ("tau_decay",)

    def __init__(self, name: str, shape: tuple[int, int], *, tau_decay: Any, g_syn_bar: Any,
                 syn_rest: Any | None, integration: str = "euler", **kwargs: Any) -> None:
        super().__init__(name, shape, taus={"tau_decay": tau_decay}, g_syn_bar=g_syn_bar,
                         syn_rest=syn_rest, integration=integration, **kwargs)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        zeros = np.zeros((batch, self.shape[1]))
        return {"h": zeros, "g": zeros.copy()}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        a = self.decay(params, "tau_decay", dt)
        h = state["h"] * a + params["g_syn_bar"] * self.transmit(params, inputs["s"])
        g = state["g"] * a + dt * h / params["tau_decay"]
        return {"h": h, "g": g}, self.current(params, g, inputs)


class DoubleExpSynapse(ConductanceSynapse):
    r"""Difference-of-exponentials conductance (rise tau_rise, decay tau_decay).

        dh/dt = -h/tau_rise + g_syn_bar * (1/tau_rise - 1/tau_decay) * sum_k delta(t - t_k)
        dg/dt = -g/tau_decay + h
        h <- h a_r + g_syn_bar * (1/tau_rise - 1/tau_decay) * (s @ (W*mask))
        g <- g a_d + dt * h_new                    (h_new: h after this step's update)
        a_r, a_d = 1 - dt/tau (euler) or exp(-dt/tau) (exact), tau = tau_rise, tau_decay
        i = resist_scale * g * (syn_rest - v)      (syn_rest=None: i = resist_scale * g)

    What "exact" means here: only the decay factors become exp(-dt/tau); the h -> g coupling
    keeps the seed's Euler term dt*h_new. After one spike at step 0 (o = 1), g after step k is
    dt*c*(a_r^(k+1) - a_d^(k+1))/(a_r - a_d), c = g_syn_bar*(1/tau_rise - 1/tau_decay), in both
    modes: a right-endpoint Riemann sum of the continuous g(t) = g_syn_bar*(exp(-t/tau_decay)
    - exp(-t/tau_rise)), not its closed form.
    Requires 0 < tau_rise < tau_decay [ms]: equal constants give c = 0 (a silent synapse) and
    swapped ones a negative conductance, so both are refused.
    State: h, g (batch, n_out). Ports as ExponentialSynapse.
    """

    time_constants = ("tau_decay", "tau_rise")

    def __init__(self, name: str, shape: tuple[int, int], *, tau_decay: Any, tau_rise: Any,
                 g_syn_bar: Any, syn_rest: Any | None, integration: str = "euler", **kwargs: Any) -> None:
        super().__init__(name, shape, taus={"tau_decay": tau_decay, "tau_rise": tau_rise},
                         g_syn_bar=g_syn_bar, syn_rest=syn_rest, integration=integration, **kwargs)

    def validate_params(self, params) -> None:
        super().validate_params(params)
        if "tau_rise" not in params or "tau_decay" not in params:
            return
        rise, decay = np.broadcast_arrays(np.asarray(params["tau_rise"], np.float64),
                                          np.asarray(params["tau_decay"], np.float64))
        bad = rise >= decay
        if np.any(bad):
            raise ValueError(f"In {self.label}: `tau_rise` must be below `tau_decay`, got tau_rise "
                             f"{rise[bad].flat[0]:g} ms >= tau_decay {decay[bad].flat[0]:g} ms.")

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        zeros = np.zeros((batch, self.shape[1]))
        return {"h": zeros, "g": zeros.copy()}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        rise, decay = params["tau_rise"], params["tau_decay"]
        kick = params["g_syn_bar"] * (1.0 / rise - 1.0 / decay) * self.transmit(params, inputs["s"])
        h = state["h"] * self.decay(params, "tau_rise", dt) + kick
        g = state["g"] * self.decay(params, "tau_decay", dt) + dt * h
        return {"h": h, "g": g}, self.current(params, g, inputs)
