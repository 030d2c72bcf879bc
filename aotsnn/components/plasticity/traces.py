"""Activity traces that feed plasticity rules: spike traces (ngclearn's VarTrace) and the time of
each unit's last spike (the `tols` that EventSTDP reads)."""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import NON_NEGATIVE, Component, ParamRule, Port, Tree, as_param

DECAY_TYPES = ("exp", "lin", "step")


def unit_shape(label: str, shape: Any, field: str = "shape") -> tuple[int, ...]:
    """`shape` as a tuple of positive ints: n, or a per-sample shape such as (H, W, C)."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    dims = tuple(shape) if isinstance(shape, (tuple, list)) else ()
    if not dims or not all(isinstance(d, (int, np.integer)) and d > 0 for d in dims):
        raise ValueError(f"In {label}: `{field}` must be a positive integer or a tuple of them, got {shape!r}.")
    return tuple(int(d) for d in dims)


class VarTrace(Component):
    r"""A trace (low-pass filter) of a spike train or any signal s, ngclearn's VarTrace.

    With the leak factor d = exp(-dt/tau_tr) ("exp", the default), 1 - dt/tau_tr ("lin") or 0
    ("step"), per step:

        z <- gamma_tr*d*z + a_delta*s                           a_delta > 0 (additive; default)
        z <- gamma_tr*d*z*(1 - s) + P_scale*s                   a_delta = 0 (gated: snaps to P_scale)
        z <- gamma_tr*d*z + s*(a_delta - z_old/n_nearest_spikes)    n_nearest_spikes = k > 0

    With the defaults (exp, a_delta = 1, gamma_tr = 1) this is the classic exponential spike
    trace z <- z*exp(-dt/tau_tr) + s: each spike adds 1, which then decays with tau_tr [ms].
    The trace output is the value after this step's input.

    Parameters: tau_tr [ms] > 0, a_delta >= 0, P_scale, gamma_tr >= 0 (scalars or per unit);
    `decay_type` and `n_nearest_spikes` (an int >= 0) are static.
    State: trace (batch, *shape). Inputs: s (*shape). Outputs: trace (*shape).
    """

    def __init__(self, name: str, shape: Any, *, tau_tr: Any = 20.0, a_delta: Any = 1.0, P_scale: Any = 1.0,
                 gamma_tr: Any = 1.0, decay_type: str = "exp", n_nearest_spikes: int = 0) -> None:
        super().__init__(name)
        self.shape = unit_shape(self.label, shape)
        if decay_type not in DECAY_TYPES:
            raise ValueError(f"In {self.label}: `decay_type` must be one of {DECAY_TYPES}, got {decay_type!r}.")
        if not (isinstance(n_nearest_spikes, (int, np.integer)) and n_nearest_spikes >= 0):
            raise ValueError(f"In {self.label}: `n_nearest_spikes` must be an integer >= 0, "
                             f"got {n_nearest_spikes!r}.")
        self.decay_type, self.n_nearest_spikes = decay_type, int(n_nearest_spikes)
        self.inputs = (Port("s", self.shape),)
        self.outputs = (Port("trace", self.shape),)
        given = {"tau_tr": tau_tr, "a_delta": a_delta, "P_scale": P_scale, "gamma_tr": gamma_tr}
        self._params = {k: as_param(self.label, k, v, self.shape) for k, v in given.items()}
        self.validate_params(self._params)

    def param_rules(self) -> dict[str, ParamRule]:
        return {"tau_tr": ParamRule(low=0.0, low_open=True, unit="ms"), "a_delta": NON_NEGATIVE,
                "gamma_tr": NON_NEGATIVE}

    def default_params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {"trace": np.zeros((batch, *self.shape))}

    def leak(self, params: Tree, dt: float) -> Any:
        if self.decay_type == "exp":
            return jnp.exp(-dt / params["tau_tr"])
        if self.decay_type == "lin":
            return 1.0 - dt / params["tau_tr"]
        return 0.0

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        z, s, a_delta = state["trace"], inputs["s"], params["a_delta"]
        decayed = params["gamma_tr"] * z * self.leak(params, dt)
        if self.n_nearest_spikes:
            new = decayed + s * (a_delta - z / self.n_nearest_spikes)
        else:
            new = jnp.where(a_delta > 0, decayed + s * a_delta, decayed * (1.0 - s) + s * params["P_scale"])
        return {"trace": new}, {"trace": new}


class SpikeTimeTracker(Component):
    """The time of each unit's last spike, `tols` [ms] (0 until the first spike), as ngclearn's
    somas record it, for EventSTDP's `pre_tols` port.

    A clock t (state, shape ()) advances by dt at the start of every step, so step k (from 0)
    happens at t = (k+1)*dt and a spike is never recorded at the "never" value 0:

        t <- t + dt ;  tols <- where(s > 0, t, tols)

    State: t (), tols (batch, *shape). Inputs: s (*shape) spikes. Outputs: tols (*shape) [ms].
    """

    def __init__(self, name: str, shape: Any) -> None:
        super().__init__(name)
        self.shape = unit_shape(self.label, shape)
        self.inputs = (Port("s", self.shape),)
        self.outputs = (Port("tols", self.shape),)

    def default_params(self) -> dict[str, np.ndarray]:
        return {}

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {"t": np.zeros(()), "tols": np.zeros((batch, *self.shape))}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        t = state["t"] + dt
        tols = jnp.where(inputs["s"] > 0, t, state["tols"])
        return {"t": t, "tols": tols}, {"tols": tols}
