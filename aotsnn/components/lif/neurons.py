"""The LIF family with NIR's equations: I, IF, LI, LIF, CubaLI, CubaLIF (one parameterised step).

Equations (NIR 1.0, Nature Communications 15:8122), time in ms, v and thresholds in the graph's
own (dimensionless) unit, input I in the unit the upstream layer delivers:

    I        dv/dt = R I                                   (R per ms)
    IF       dv/dt = R I, spike when v > v_threshold, reset
    LI       tau dv/dt = (v_leak - v) + R I
    LIF      LI + spike and reset
    CubaLI   tau_syn dI_syn/dt = -I_syn + w_in I ;  tau_mem dv/dt = (v_leak - v) + R I_syn
    CubaLIF  CubaLI + spike and reset

One step of dt, in this order: the synaptic current I_syn (Cuba nodes), then v driven by the
*new* I_syn, then the threshold test v > v_threshold (strict), then the reset of the neurons that
spiked. Each first-order ODE is advanced with the input held at this step's value
(`integration`):

    "euler"   x <- x + (dt/tau) * (target - x)                 forward Euler
    "exact"   x <- target + (x - target) * exp(-dt/tau)        the exact solution for a held input

where target = w_in*I (current) or v_leak + R*I_syn (membrane). The integrators (I, IF) have no
leak: v <- v + dt*R*I, exact for a held input under both rules. Reset (`reset`):

    "zero"              v <- v_reset where spiked (NIR's rule; v_reset defaults to 0)
    "subtract"          v <- v - v_threshold where spiked
    "subtract_pending"  as "subtract", but a neuron that ended the last step above threshold owes
                        one threshold: it spikes only if v - v_threshold > v_threshold (snnTorch's
                        reset by subtraction with reset_delay=False, whose reset term comes from
                        the previous membrane; tests/nir reproduce its graphs spike for spike)

State starts at v = 0 and I_syn = 0 (leaves `v_mem` and `i_syn`; the output port is `v`). Parameters are scalars or arrays of the unit shape.
Inputs: i (*shape). Outputs: spikes (*shape) for the spiking ones, v (*shape) for all.
"""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import Component, ParamRule, Port, Tree, as_param
from aotsnn.components.plasticity.traces import unit_shape
from aotsnn.components.synapses.conductance import INTEGRATIONS, TAU_RULE, decay_factor

RESETS = ("zero", "subtract", "subtract_pending")


def choice(label: str, field: str, value: Any, choices: tuple[str, ...]) -> str:
    """`value` when it is one of `choices`, else a ValueError naming the field and the choices."""
    if value not in choices:
        raise ValueError(f"In {label}: `{field}` must be one of {', '.join(map(repr, choices))}, got {value!r}.")
    return value


def relax(x: Any, target: Any, dt: float, tau: Any, integration: str) -> Any:
    """One step of tau dx/dt = target - x with `target` held: Euler or exact exponential decay."""
    if integration == "euler":
        return x + (dt / tau) * (target - x)
    return target + (x - target) * decay_factor(dt, tau, integration)


def fire(v: Any, threshold: Any, v_reset: Any, reset: str, before: Any) -> tuple[Any, Any]:
    """Strict threshold test and reset: (v after reset, spikes as 0/1 in v's dtype). `before` is v
    at the start of the step: with "subtract_pending" a neuron that ended the last step above
    threshold still owes one threshold, so it fires only if v - threshold > threshold."""
    owed = jnp.where(before > threshold, threshold, jnp.zeros_like(v)) if reset == "subtract_pending" else 0.0
    spiked = v - owed > threshold
    after = v - threshold if reset != "zero" else jnp.broadcast_to(v_reset, v.shape).astype(v.dtype)
    return jnp.where(spiked, after, v), spiked.astype(v.dtype)


class NIRNeuron(Component):
    """The shared step of the six NIR neuron nodes; a subclass sets three flags:
    `leaky` (a membrane time constant), `synaptic` (a current-based synapse first), `spiking`."""

    leaky = synaptic = spiking = False
    defaults: dict[str, float] = {}

    def __init__(self, name: str, shape: Any, *, integration: str = "euler", reset: str = "zero",
                 **given: Any) -> None:
        super().__init__(name)
        self.shape = unit_shape(self.label, shape)
        self.integration = choice(self.label, "integration", integration, INTEGRATIONS)
        self.reset = choice(self.label, "reset", reset, RESETS) if self.spiking else None
        names = self.param_names()
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise TypeError(f"In {self.label}: unknown parameter(s) {', '.join(unknown)}; "
                            f"{type(self).__name__} takes {', '.join(names)}.")
        missing = [k for k in names if given.get(k) is None and k not in self.defaults]
        if missing:
            raise TypeError(f"In {self.label}: `{missing[0]}` is required ({type(self).__name__} takes "
                            f"{', '.join(names)}).")
        self._params = {k: as_param(self.label, k, self.defaults[k] if given.get(k) is None else given[k], self.shape)
                        for k in names}
        self.validate_params(self._params)
        self.inputs = (Port("i", self.shape),)
        self.outputs = ((Port("spikes", self.shape),) if self.spiking else ()) + (Port("v", self.shape),)

    @property
    def tau_name(self) -> str:
        return "tau_mem" if self.synaptic else "tau"

    def param_names(self) -> tuple[str, ...]:
        names = ("tau_syn", "w_in") if self.synaptic else ()
        names += (self.tau_name, "r", "v_leak") if self.leaky else ("r",)
        return names + (("v_threshold", "v_reset") if self.spiking else ())

    def param_rules(self) -> dict[str, ParamRule]:
        rules = {"tau_syn": TAU_RULE} if self.synaptic else {}
        return {**rules, self.tau_name: TAU_RULE} if self.leaky else rules

    def validate_params(self, params) -> None:
        super().validate_params(params)
        threshold = params.get("v_threshold")
        if threshold is None:
            return
        if self.reset != "zero" and np.any(np.asarray(threshold) <= 0):
            raise ValueError(f"In {self.label}: with reset='subtract', `v_threshold` must be > 0 (subtracting it "
                             f"must lower v), got {np.min(threshold):g}; use reset='zero' for other thresholds.")
        reset = params.get("v_reset")
        if self.reset == "zero" and reset is not None and np.any(np.asarray(reset) >= np.asarray(threshold)):
            raise ValueError(f"In {self.label}: `v_reset` must be below `v_threshold` (or the neuron fires every "
                             f"step), got v_reset {np.max(reset):g} >= v_threshold {np.min(threshold):g}.")

    def default_params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        state = {"i_syn": np.zeros((batch, *self.shape))} if self.synaptic else {}
        return {**state, "v_mem": np.zeros((batch, *self.shape))}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        drive, new_state, outputs = inputs["i"], {}, {}
        if self.synaptic:
            drive = new_state["i_syn"] = relax(state["i_syn"], params["w_in"] * drive, dt, params["tau_syn"],
                                               self.integration)
        if self.leaky:
            v = relax(state["v_mem"], params["v_leak"] + params["r"] * drive, dt, params[self.tau_name], self.integration)
        else:
            v = state["v_mem"] + dt * params["r"] * drive
        if self.spiking:
            v, outputs["spikes"] = fire(v, params["v_threshold"], params["v_reset"], self.reset, state["v_mem"])
        new_state["v_mem"] = outputs["v"] = v
        return new_state, outputs


class Integrator(NIRNeuron):
    """NIR `I`: dv/dt = R I; v <- v + dt*R*I. Parameters: r [v per unit input per ms]. Outputs: v."""


class IntegrateAndFire(NIRNeuron):
    """NIR `IF`: dv/dt = R I, spike when v > v_threshold, reset (`reset`).
    Parameters: r [v per unit input per ms], v_threshold, v_reset (default 0). Outputs: spikes, v."""

    spiking = True
    defaults = {"v_reset": 0.0}


class LeakyIntegrator(NIRNeuron):
    """NIR `LI`: tau dv/dt = (v_leak - v) + R I (`integration` "euler" or "exact").
    Parameters: tau [ms] > 0, r (default 1), v_leak (default 0). Outputs: v."""

    leaky = True
    defaults = {"r": 1.0, "v_leak": 0.0}


class LeakyIntegrateAndFire(NIRNeuron):
    """NIR `LIF`: tau dv/dt = (v_leak - v) + R I, spike when v > v_threshold, reset (`reset`).
    Parameters: tau [ms] > 0, r (default 1), v_leak (default 0), v_threshold, v_reset (default 0).
    Outputs: spikes, v."""

    leaky = spiking = True
    defaults = {"r": 1.0, "v_leak": 0.0, "v_reset": 0.0}


class CubaLeakyIntegrator(NIRNeuron):
    """NIR `CubaLI`: tau_syn dI_syn/dt = -I_syn + w_in I, then tau_mem dv/dt = (v_leak - v) + R I_syn.
    Parameters: tau_syn, tau_mem [ms] > 0, w_in (default 1), r (default 1), v_leak (default 0).
    State: i_syn, v. Outputs: v."""

    leaky = synaptic = True
    defaults = {"w_in": 1.0, "r": 1.0, "v_leak": 0.0}


class CubaLIF(NIRNeuron):
    """NIR `CubaLIF`: CubaLI plus spike when v > v_threshold and reset (`reset`).
    Parameters: tau_syn, tau_mem [ms] > 0, w_in (default 1), r (default 1), v_leak (default 0),
    v_threshold, v_reset (default 0). State: i_syn, v. Outputs: spikes, v."""

    leaky = synaptic = spiking = True
    defaults = {"w_in": 1.0, "r": 1.0, "v_leak": 0.0, "v_reset": 0.0}


class Threshold(Component):
    """NIR `Threshold`: spikes = 1 where x > threshold, else 0 (the Heaviside step; stateless).
    Parameters: threshold (scalar or per unit). Inputs: x (*shape). Outputs: spikes (*shape)."""

    def __init__(self, name: str, shape: Any, *, threshold: Any) -> None:
        super().__init__(name)
        self.shape = unit_shape(self.label, shape)
        self._params = {"threshold": as_param(self.label, "threshold", threshold, self.shape)}
        self.validate_params(self._params)
        self.inputs = (Port("x", self.shape),)
        self.outputs = (Port("spikes", self.shape),)

    def default_params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        x = inputs["x"]
        return {}, {"spikes": (x > params["threshold"]).astype(x.dtype)}
