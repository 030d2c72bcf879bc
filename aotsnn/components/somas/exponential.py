"""Exponential integrate-and-fire soma (spark-snn semantics).

Potentials are held relative to rest internally (state leaf `v_rel`); the soma exposes the
absolute membrane potential `v` [mV] as an output so conductance synapses can be wired to it.
"""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import Component, ParamRule, Port, Tree, as_param


def exp_term_ceiling(dtype: Any) -> float:
    """Largest exponent fed to exp() in `dtype`: log(finfo.max) - 2 (86.7 in float32, 9.09 in float16)."""
    return float(np.log(jnp.finfo(dtype).max)) - 2.0


def exp_term_cap(dtype: Any) -> float:
    """Largest value of the term dT * exp(x): finfo.max / e^2, finite in `dtype`."""
    return float(jnp.finfo(dtype).max) * float(np.exp(-2.0))


class ExponentialSoma(Component):
    r"""Exponential integrate-and-fire soma.

    With V and V_rh relative to rest [mV], input current I [pA], R [GOhm], forward Euler:

        V <- V + (dt/tau) * (-V + dT * exp((V - V_rh)/dT) + R*I)
        spike = V > V_th ;  V <- V_reset where spike

    The exponent is clamped at min((V_th - V_rh)/dT, log(finfo.max) - 2) and the term dT*exp(.)
    at finfo.max/e^2 (no log on the hot path). V never starts a
    step above V_th (it would have been reset), so in float32 the clamp never changes a
    trajectory; it only guarantees that exp() cannot overflow to Inf (spark-snn's float16
    default turns V into NaN for good).

    Parameters (scalars or per-unit arrays of shape (n,)):
        potential_rest [mV], potential_reset [mV], potential_tau [ms] > 0,
        resistance [GOhm] > 0, threshold [mV], rheobase_threshold [mV], spike_slope [mV] > 0.
    State: v_rel (batch, n) [mV relative to rest].
    Inputs: i (n,) [pA]. Outputs: spikes (n,), v (n,) absolute [mV].
    """

    def __init__(self, name: str, n: int, *, potential_rest: Any = -70.0,
                 potential_reset: Any = -51.0, potential_tau: Any = 5.0, resistance: Any = 0.5,
                 threshold: Any = -30.0, rheobase_threshold: Any = -50.0,
                 spike_slope: Any = 2.0) -> None:
        super().__init__(name)
        if not (isinstance(n, (int, np.integer)) and n > 0):
            raise ValueError(f"In {self.label}: `n` must be a positive integer, got {n!r}.")
        self.n = int(n)
        self.inputs = (Port("i", (self.n,)),)
        self.outputs = (Port("spikes", (self.n,)), Port("v", (self.n,)))
        given = dict(potential_rest=potential_rest, potential_reset=potential_reset,
                     potential_tau=potential_tau, resistance=resistance, threshold=threshold,
                     rheobase_threshold=rheobase_threshold, spike_slope=spike_slope)
        self._params = {k: as_param(self.label, k, v, (self.n,)) for k, v in given.items()}
        self.validate_params(self._params)

    def param_rules(self) -> dict[str, ParamRule]:
        return {"potential_tau": ParamRule(low=0.0, low_open=True, unit="ms"),
                "resistance": ParamRule(low=0.0, low_open=True, unit="GOhm"),
                "spike_slope": ParamRule(low=0.0, low_open=True, unit="mV")}

    def validate_params(self, params) -> None:
        super().validate_params(params)
        reset, threshold = params.get("potential_reset"), params.get("threshold")
        if reset is not None and threshold is not None and np.any(np.asarray(reset) >= np.asarray(threshold)):
            raise ValueError(f"In {self.label}: `potential_reset` must be below `threshold`, got "
                             f"reset {np.max(reset):g} mV >= threshold {np.min(threshold):g} mV.")

    def default_params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {"v_rel": np.zeros((batch, self.n))}

    def initial_outputs(self, batch: int) -> dict[str, np.ndarray]:
        rest = np.broadcast_to(self._params["potential_rest"], (batch, self.n))
        return {"spikes": np.zeros((batch, self.n)), "v": np.array(rest)}

    def membrane_drive(self, params: Tree, v_rel: Any, current: Any) -> Any:
        """dV/dt * tau: leak + exponential term + R*I, with the clamped exponent."""
        slope = params["spike_slope"]
        rheobase = params["rheobase_threshold"] - params["potential_rest"]
        threshold = params["threshold"] - params["potential_rest"]
        dtype = jnp.asarray(v_rel).dtype          # what jax computes in (numpy float64 -> float32 without x64)
        ceiling = jnp.minimum((threshold - rheobase) / slope, exp_term_ceiling(dtype))
        exponent = jnp.minimum((v_rel - rheobase) / slope, ceiling)
        term = jnp.minimum(slope * jnp.exp(exponent), exp_term_cap(dtype))
        return -v_rel + term + params["resistance"] * current

    def fire_and_reset(self, params: Tree, v_rel: Any) -> tuple[Any, Any]:
        """Strict threshold test and reset: returns (v_rel after reset, spikes as 0/1)."""
        spiked = v_rel > params["threshold"] - params["potential_rest"]
        reset = jnp.broadcast_to(params["potential_reset"] - params["potential_rest"], v_rel.shape)
        return jnp.where(spiked, reset.astype(v_rel.dtype), v_rel), spiked.astype(v_rel.dtype)

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        v_rel = state["v_rel"]
        v_rel = v_rel + (dt / params["potential_tau"]) * self.membrane_drive(params, v_rel, inputs["i"])
        v_rel, spikes = self.fire_and_reset(params, v_rel)
        return {"v_rel": v_rel}, {"spikes": spikes, "v": v_rel + params["potential_rest"]}
