"""Adaptive exponential integrate-and-fire somas (spark-snn semantics).

AdaptiveExponentialSoma adds an adaptation current w (AdEx, Brette & Gerstner 2005);
SimplifiedAdaptiveExponentialSoma adds a spike-triggered threshold to the refractory soma.
"""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import ParamRule, Tree, as_param
from aotsnn.components.somas.exponential import ExponentialSoma
from aotsnn.components.somas.refractory import RefractoryExponentialSoma


class AdaptiveExponentialSoma(ExponentialSoma):
    r"""Exponential integrate-and-fire soma with an adaptation current (AdEx).

    With V relative to rest [mV], adaptation current w [pA], forward Euler:

        V <- V + (dt/tau) * (-V + dT * exp((V - V_rh)/dT) - R*w + R*I)
        spike = V > V_th ;  V <- V_reset where spike
        w <- w + (dt/tau_w) * (-w + a * V) + b * spike       (V after the reset)

    a = adaptation_subthreshold [nS] couples w to the potential (nS * mV = pA), b =
    adaptation_delta [pA] is the spike-triggered increment; both may be of either sign. With b > 0
    the inter-spike intervals under a constant current grow (spike-frequency adaptation).
    The exponent is clamped as in ExponentialSoma.

    Parameters: those of ExponentialSoma, plus adaptation_tau [ms] > 0, adaptation_delta [pA],
    adaptation_subthreshold [nS] (scalars or per-unit (n,)).
    State: v_rel (batch, n) [mV relative to rest], w (batch, n) [pA].
    Inputs: i (n,) [pA]. Outputs: spikes (n,), v (n,) absolute [mV].
    """

    def __init__(self, name: str, n: int, *, adaptation_tau: Any = 100.0, adaptation_delta: Any = 7.0,
                 adaptation_subthreshold: Any = 0.5, **kwargs: Any) -> None:
        super().__init__(name, n, **kwargs)
        given = dict(adaptation_tau=adaptation_tau, adaptation_delta=adaptation_delta,
                     adaptation_subthreshold=adaptation_subthreshold)
        self._params.update({k: as_param(self.label, k, v, (self.n,)) for k, v in given.items()})
        self.validate_params(self._params)

    def param_rules(self) -> dict[str, ParamRule]:
        return {**super().param_rules(), "adaptation_tau": ParamRule(low=0.0, low_open=True, unit="ms")}

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {**super().init_state(batch), "w": np.zeros((batch, self.n))}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        v_rel, w = state["v_rel"], state["w"]
        # R*I - R*w: the adaptation current enters the membrane like a negative input.
        drive = self.membrane_drive(params, v_rel, inputs["i"] - w)
        v_rel, spikes = self.fire_and_reset(params, v_rel + (dt / params["potential_tau"]) * drive)
        w = (w + (dt / params["adaptation_tau"]) * (-w + params["adaptation_subthreshold"] * v_rel)
             + params["adaptation_delta"] * spikes)
        v_rel = v_rel.astype(state["v_rel"].dtype)
        return ({"v_rel": v_rel, "w": w.astype(state["w"].dtype)},
                {"spikes": spikes, "v": v_rel + params["potential_rest"]})


class SimplifiedAdaptiveExponentialSoma(RefractoryExponentialSoma):
    r"""Refractory exponential soma with a spike-triggered, decaying threshold.

    The threshold theta = threshold + threshold_shift moves after each spike and relaxes back:

        (RefractoryExponentialSoma step, tested and clamped against theta)
        theta <- theta + (1 - exp(-dt/tau_th)) * (theta0 - theta) + dtheta * spike

    i.e. threshold_shift <- threshold_shift * exp(-dt/tau_th) + dtheta * spike, with theta0 =
    `threshold`, tau_th = threshold_tau, dtheta = threshold_delta. A spike at step k raises the
    threshold from step k+1 on. The state holds the shift rather than theta so that the initial
    state (0) is right for any run-time value of `threshold`.

    Parameters: those of RefractoryExponentialSoma, plus threshold_tau [ms] > 0 and
    threshold_delta [mV] >= 0 (a negative step could lower theta below the reset potential).
    State: v_rel (batch, n) [mV relative to rest], refractory (batch, n) [steps left],
    threshold_shift (batch, n) [mV, theta - threshold].
    Inputs: i (n,) [pA]. Outputs: spikes (n,), v (n,) absolute [mV].
    """

    def __init__(self, name: str, n: int, *, threshold_tau: Any = 20.0, threshold_delta: Any = 100.0,
                 **kwargs: Any) -> None:
        super().__init__(name, n, **kwargs)
        given = dict(threshold_tau=threshold_tau, threshold_delta=threshold_delta)
        self._params.update({k: as_param(self.label, k, v, (self.n,)) for k, v in given.items()})
        self.validate_params(self._params)

    def param_rules(self) -> dict[str, ParamRule]:
        return {**super().param_rules(),
                "threshold_tau": ParamRule(low=0.0, low_open=True, unit="ms"),
                "threshold_delta": ParamRule(low=0.0, unit="mV")}

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {**super().init_state(batch), "threshold_shift": np.zeros((batch, self.n))}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        shift = state["threshold_shift"]
        # The spike test and the exponent clamp both use this step's theta (before the update).
        moved = {**params, "threshold": params["threshold"] + shift}
        v_rel, refractory, spikes = self.gated_update(moved, state["v_rel"], state["refractory"],
                                                      inputs["i"], dt)
        shift = shift * jnp.exp(-dt / params["threshold_tau"]) + params["threshold_delta"] * spikes
        return ({"v_rel": v_rel, "refractory": refractory,
                 "threshold_shift": shift.astype(state["threshold_shift"].dtype)},
                {"spikes": spikes, "v": v_rel + params["potential_rest"]})
