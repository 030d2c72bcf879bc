"""Adaptive exponential integrate-and-fire somas with spark-snn 1.2's options.

spark-snn 1.2 has one `AdaptiveExponentialSoma` whose mechanisms (refractoriness, a potential
clamp, an adaptive threshold, an adaptation current) are options, each off unless its trigger
parameter is given, and `CoupledAdaptiveExponentialSoma`, which adds a coupling current from a
dendrite. spark-snn 1.1's classes are presets of the same step (see `presets.py`).
"""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import ParamRule, Port, Tree, as_param
from aotsnn.components.somas.exponential import ExponentialSoma

RELEASE_DEFAULT = object()   # "not given": the value of the release `defaults` names
RELEASES = ("spark-1.2", "spark-1.1")
# What each release gives a plain AdaptiveExponentialSoma(): 1.2 turns every mechanism off,
# 1.1's class always had the adaptation current (and nothing else).
RELEASE_ADAPTATION_DELTA = {"spark-1.2": None, "spark-1.1": 7.0}
# Parameters read only while their trigger is on, with the defaults they then take (both releases).
DEPENDENT_DEFAULTS = {"threshold_delta": {"threshold_tau": 20.0},
                      "adaptation_delta": {"adaptation_tau": 100.0, "adaptation_subthreshold": 0.5}}
MECHANISM_RULES = {
    "cooldown": ParamRule(low=0.0, unit="ms"),
    "clamp_duration": ParamRule(low=0.0, unit="ms"),
    "threshold_tau": ParamRule(low=0.0, low_open=True, unit="ms"),
    "threshold_delta": ParamRule(low=0.0, unit="mV"),
    "adaptation_tau": ParamRule(low=0.0, low_open=True, unit="ms"),
}


class AdaptiveExponentialSoma(ExponentialSoma):
    r"""Exponential integrate-and-fire soma with optional refractoriness, potential clamp,
    adaptive threshold and adaptation current (spark-snn 1.2's AdaptiveExponentialSoma).

    Each mechanism is on when its trigger is given and off (no parameters, no state, no
    operations) when it is None, which is the default in spark-snn 1.2 (`defaults="spark-1.2"`):
    a plain `AdaptiveExponentialSoma()` then behaves like ExponentialSoma. `defaults="spark-1.1"`
    turns the adaptation current on with 1.1's values (adaptation_delta = 7 pA).

    Triggers (scalars or per-unit (n,) arrays; run-time parameters once on):
        cooldown [ms] >= 0        refractory period: input gated off and spikes vetoed
        clamp_duration [ms] >= 0  V held at the reset potential after a spike
        threshold_delta [mV] >= 0 threshold increment per spike (with threshold_tau [ms] > 0, 20)
        adaptation_delta [pA]     adaptation current increment per spike (with adaptation_tau
                                  [ms] > 0, 100, and adaptation_subthreshold [nS], 0.5)
    threshold_tau, adaptation_tau and adaptation_subthreshold are refused without their trigger
    (spark-snn ignores them silently).

    With V, V_reset relative to rest [mV], cd = round(cooldown/dt), cl = round(clamp_duration/dt)
    steps, and L the steps left until full recovery (0 on a fresh soma, max(cd, cl) right after a
    spike; spark-snn's shared counter is max(cd, cl) - L):

        ready    = L <= max(cd, cl) - cd            released = L <= max(cd, cl) - cl
        I_eff    = ready * (I [+ I_coupling]) - w
        V1       = V + (dt/tau) * (-V + dT * exp((V - V_rh)/dT) + R * I_eff)
        V2       = V1 if released else V_reset
        theta    = V_th + theta_off
        spike    = ready and V2 > theta
        V        = V_reset where spike, V2 where ready, min(V2, theta) otherwise
        L        = max(cd, cl) where spike, else max(L - 1, 0)
        theta_off = theta_off - expm1(-dt/threshold_tau) * (0 - theta_off) + threshold_delta * spike
        w        = w + (dt/adaptation_tau) * (-w + a * V) + b * spike      (V after the reset)

    so a spike at step k gates steps k+1 .. k+cd and clamps steps k+1 .. k+cl. Holding a gated V
    at or below theta is ours (spark-snn lets it run away when the reset lies above the rheobase:
    docs/components.md, deviation 12). The exponent is clamped as in ExponentialSoma, against theta.

    State: v_rel (batch, n) [mV relative to rest]; `refractory` (batch, n) [steps, L] with cooldown
    or clamp_duration; `threshold_shift` (batch, n) [mV, theta_off] with threshold_delta;
    `w` (batch, n) [pA] with adaptation_delta.
    Inputs: i (n,) [pA]. Outputs: spikes (n,), v (n,) absolute [mV].
    """

    def __init__(self, name: str, n: int, *, cooldown: Any = None, clamp_duration: Any = None,
                 threshold_delta: Any = None, threshold_tau: Any = None,
                 adaptation_delta: Any = RELEASE_DEFAULT, adaptation_tau: Any = None,
                 adaptation_subthreshold: Any = None, defaults: str = "spark-1.2", **kwargs: Any) -> None:
        super().__init__(name, n, **kwargs)
        if defaults not in RELEASES:
            raise ValueError(f"In {self.label}: `defaults` must be one of {', '.join(map(repr, RELEASES))} "
                             f"(the spark-snn release whose defaults apply), got {defaults!r}.")
        if adaptation_delta is RELEASE_DEFAULT:
            adaptation_delta = RELEASE_ADAPTATION_DELTA[defaults]
        self.defaults = defaults
        triggers = dict(cooldown=cooldown, clamp_duration=clamp_duration, threshold_delta=threshold_delta,
                        adaptation_delta=adaptation_delta)
        dependents = dict(threshold_tau=threshold_tau, adaptation_tau=adaptation_tau,
                          adaptation_subthreshold=adaptation_subthreshold)
        given = {k: v for k, v in triggers.items() if v is not None}
        for trigger, defaults_of in DEPENDENT_DEFAULTS.items():
            for name_, default in defaults_of.items():
                if trigger in given:
                    given[name_] = default if dependents[name_] is None else dependents[name_]
                elif dependents[name_] is not None:
                    raise ValueError(f"In {self.label}: `{name_}` is read only with `{trigger}`, which is "
                                     f"off (None); pass {trigger}=... to turn that mechanism on, or drop "
                                     f"`{name_}`.")
        self.has_refraction, self.has_clamp = cooldown is not None, clamp_duration is not None
        self.has_threshold, self.has_adaptation = threshold_delta is not None, adaptation_delta is not None
        self._params.update({k: as_param(self.label, k, v, (self.n,)) for k, v in given.items()})
        self.validate_params(self._params)

    def param_rules(self) -> dict[str, ParamRule]:
        return {**super().param_rules(), **MECHANISM_RULES}

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        zeros = np.zeros((batch, self.n))
        leaves = {"refractory": self.has_refraction or self.has_clamp, "threshold_shift": self.has_threshold,
                  "w": self.has_adaptation}
        return {**super().init_state(batch), **{k: zeros.copy() for k, on in leaves.items() if on}}

    def input_current(self, inputs: Tree) -> Any:
        """The current the mechanisms act on [pA]."""
        return inputs["i"]

    def recovery(self, params: Tree, left: Any, dt: float) -> tuple[Any, Any, Any]:
        """(ready, released, ceiling) from L = `left`; ready/released are None when that
        mechanism is off; ceiling = max(cd, cl) is the value L takes right after a spike."""
        cd = jnp.round(params["cooldown"] / dt) if self.has_refraction else None
        cl = jnp.round(params["clamp_duration"] / dt) if self.has_clamp else None
        if cd is not None and cl is not None:
            ceiling = jnp.maximum(cd, cl)
            return left <= ceiling - cd, left <= ceiling - cl, ceiling
        return (left <= 0, None, cd) if cd is not None else (None, left <= 0, cl)

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        v_rel, new_state = state["v_rel"], {}
        current = self.input_current(inputs)
        ready = released = None
        if "refractory" in state:
            ready, released, ceiling = self.recovery(params, state["refractory"], dt)
        if ready is not None:
            current = jnp.where(ready, current, jnp.zeros_like(current))
        if self.has_adaptation:
            current = current - state["w"]          # the adaptation current enters like a negative input
        if self.has_threshold:                      # the spike test and the exponent clamp use theta
            params = {**params, "threshold": params["threshold"] + state["threshold_shift"]}
        moved = v_rel + (dt / params["potential_tau"]) * self.membrane_drive(params, v_rel, current)
        if released is not None:
            reset = jnp.broadcast_to(params["potential_reset"] - params["potential_rest"], moved.shape)
            moved = jnp.where(released, moved, reset.astype(moved.dtype))
        fired, spikes = self.fire_and_reset(params, moved)
        if ready is not None:
            spikes = jnp.where(ready, spikes, jnp.zeros_like(spikes))
            held = jnp.minimum(moved, params["threshold"] - params["potential_rest"])
            fired = jnp.where(ready, fired, held)
        v_rel = fired.astype(state["v_rel"].dtype)
        if "refractory" in state:
            left = jnp.where(spikes > 0, ceiling, jnp.maximum(state["refractory"] - 1, 0))
            new_state["refractory"] = left.astype(state["refractory"].dtype)
        if self.has_threshold:
            shift = state["threshold_shift"]
            shift = shift - jnp.expm1(-dt / params["threshold_tau"]) * (0 - shift) + params["threshold_delta"] * spikes
            new_state["threshold_shift"] = shift.astype(state["threshold_shift"].dtype)
        if self.has_adaptation:
            w = state["w"]
            w = (w + (dt / params["adaptation_tau"]) * (-w + params["adaptation_subthreshold"] * v_rel)
                 + params["adaptation_delta"] * spikes)
            new_state["w"] = w.astype(state["w"].dtype)
        return ({"v_rel": v_rel, **new_state},
                {"spikes": spikes.astype(state["v_rel"].dtype), "v": v_rel + params["potential_rest"]})


class CoupledAdaptiveExponentialSoma(AdaptiveExponentialSoma):
    r"""AdaptiveExponentialSoma with a coupling current from another compartment (spark-snn 1.2).

    I_eff = ready * (I + I_coupling) - w: the coupling current is added before the mechanisms
    act, so the refractory gate silences it along with the synaptic input. In spark-snn the
    dendrite writes it as an effect at the end of a step, so the soma integrates the current of
    the previous step; in a Network, wiring `i_coupling` from a component added after the soma
    gives exactly that one step of lag (a component added before it gives this step's current).
    With a Ca-AdEx dendrite, potential_tau = C_m/g_L, resistance = 1/g_L, adaptation_delta =
    g_w*b and adaptation_subthreshold = g_w*a (Pastorelli et al. 2025).

    Inputs: i (n,) [pA], i_coupling (n,) [pA]. Everything else as AdaptiveExponentialSoma.
    """

    def __init__(self, name: str, n: int, **kwargs: Any) -> None:
        super().__init__(name, n, **kwargs)
        self.inputs = (*self.inputs, Port("i_coupling", (self.n,)))

    def input_current(self, inputs: Tree) -> Any:
        return inputs["i"] + inputs["i_coupling"]
