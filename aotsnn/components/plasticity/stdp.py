"""Spike-timing-dependent plasticity: trace-based (additive or power-law), exponential weight
dependence, and event-driven (ngclearn's TraceSTDPSynapse, ExpSTDPSynapse, EventSTDPSynapse).

The trace rules take spikes and traces as ports; traces come from `VarTrace` components
(aotsnn.components.plasticity.traces). A clean causal wiring, with the synapse added before
its post-synaptic soma and both traces added after the synapse, gives the rule, at step t,
pre_spike(t), pre_trace(t-1), post_spike(t-1) and post_trace(t-1): a pre spike is depressed by
the post spikes strictly before it, and a post spike is potentiated by the pre spikes up to it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import NON_NEGATIVE, ParamRule, Port, Tree
from aotsnn.components.plasticity.base import (POSITIVE_BOUND, WeightCorrelation, PlasticSynapse, Rule,
                                               decay_term)
from aotsnn.components.synapses.dense import DenseSynapse

EXP_STDP_EPS = 0.01      # ngclearn clips ExpSTDP weights to [0.01, w_bound - 0.01] ...
EVENT_STDP_FLOOR = 0.01  # ... and EventSTDP weights to [0.01, w_bound]


def stdp_ports(pre_shape, post_shape) -> tuple[Port, ...]:
    return (Port("pre_spike", pre_shape), Port("post_spike", post_shape),
            Port("pre_trace", pre_shape), Port("post_trace", post_shape))


@dataclass(frozen=True)
class TraceSTDP(Rule):
    r"""Trace-based STDP (Morrison et al. 2007), ngclearn semantics.

    With spikes s and traces z of the pre (batch, *in) and post (batch, *out) sides:

        mu = 0:  dW = correlate(z_pre - target, s_post*A_plus) - correlate(s_pre, z_post*A_minus)
        mu > 0:  dW = A_plus*(w_bound - W)^mu * correlate(z_pre - target, s_post)
                    - A_minus*W^mu * correlate(s_pre, z_post)
        W <- clip(W + eta*dW - W/tau_w, 0, w_bound) ;  W <- W*mask    (no decay term when tau_w = 0)

    (dense: correlate(a, b) = a.T @ b, summed over the batch). `tau_w` counts steps, as in
    ngclearn (the decay is W/tau_w per step, not per ms). The power-law bases are clamped at 0,
    where ngclearn would produce NaN (only reachable if W is written outside [0, w_bound]).
    Whether mu > 0 is static (additive and power-law STDP are different computations); the value
    of mu (> 0) is then a run-time parameter. Other run-time parameters: A_plus >= 0,
    A_minus >= 0, eta, pretrace_target, w_bound > 0, tau_w >= 0.
    Ports: pre_spike, pre_trace (shape of x), post_spike, post_trace (shape of out).
    """

    A_plus: float
    A_minus: float
    eta: float = 1.0
    mu: float = 0.0
    pretrace_target: float = 0.0
    w_bound: float = 1.0
    tau_w: float = 0.0

    def check(self, label: str) -> None:
        if not self.mu >= 0:
            raise ValueError(f"In {label}: `mu` must be >= 0 (0: additive STDP), got {self.mu!r}.")

    def ports(self, pre_shape: tuple[int, ...], post_shape: tuple[int, ...]) -> tuple[Port, ...]:
        return stdp_ports(pre_shape, post_shape)

    def runtime_params(self) -> dict[str, float]:
        params = {"A_plus": self.A_plus, "A_minus": self.A_minus, "eta": self.eta,
                  "pretrace_target": self.pretrace_target, "w_bound": self.w_bound, "tau_w": self.tau_w}
        return {**params, "mu": self.mu} if self.mu > 0 else params

    def param_rules(self) -> dict[str, ParamRule]:
        rules = {"A_plus": NON_NEGATIVE, "A_minus": NON_NEGATIVE, "w_bound": POSITIVE_BOUND, "tau_w": NON_NEGATIVE}
        return {**rules, "mu": POSITIVE_BOUND} if self.mu > 0 else rules

    def stdp_update(self, host, params: Tree, W: Any, inputs: Tree) -> Any:
        """dW of this step, before eta."""
        ltp_pre = inputs["pre_trace"] - params["pretrace_target"]
        if self.mu > 0:
            mu = params["mu"]
            ltp = host.correlate(params, ltp_pre, inputs["post_spike"]) * params["A_plus"]
            ltd = host.correlate(params, inputs["pre_spike"], inputs["post_trace"]) * params["A_minus"]
            room = jnp.maximum(params["w_bound"] - W, 0.0)
            return jnp.power(room, mu) * ltp - jnp.power(jnp.maximum(W, 0.0), mu) * ltd
        return (host.correlate(params, ltp_pre, inputs["post_spike"] * params["A_plus"])
                - host.correlate(params, inputs["pre_spike"], inputs["post_trace"] * params["A_minus"]))

    def update(self, host: Any, params: Tree, state: Tree, inputs: Tree, dt: float) -> Tree:
        W = state["weights"]
        W = W + params["eta"] * self.stdp_update(host, params, W, inputs) - decay_term(W, params["tau_w"])
        return {"weights": jnp.clip(W, 0.0, params["w_bound"])}


@dataclass(frozen=True)
class ExpSTDP(Rule):
    r"""Trace STDP with exponential weight dependence (Nessler et al. 2013), ngclearn semantics.

        dW = A_plus * [exp(-beta*W) * correlate(z_pre, s_post)
                       - exp(-beta*(w_bound - W)) * correlate(target, s_post)]
           - A_minus * exp(-beta*W) * correlate(s_pre, z_post)
        W <- clip(W + eta*dW - W/tau_w, 0.01, w_bound - 0.01) ;  W <- W*mask

    (correlate(target, s_post): the pre-trace target broadcast to the pre shape.) ngclearn
    computes but never applies the decay W/tau_w; aotsnn applies it as documented there
    (tau_w = 0, the default, disables it, which reproduces ngclearn). Run-time parameters:
    A_plus >= 0, A_minus >= 0, exp_beta, eta, pretrace_target, w_bound > 0.02, tau_w >= 0 [steps].
    Ports as TraceSTDP.
    """

    A_plus: float
    A_minus: float
    exp_beta: float
    eta: float = 1.0
    pretrace_target: float = 0.0
    w_bound: float = 1.0
    tau_w: float = 0.0

    def ports(self, pre_shape: tuple[int, ...], post_shape: tuple[int, ...]) -> tuple[Port, ...]:
        return stdp_ports(pre_shape, post_shape)

    def runtime_params(self) -> dict[str, float]:
        return {"A_plus": self.A_plus, "A_minus": self.A_minus, "exp_beta": self.exp_beta, "eta": self.eta,
                "pretrace_target": self.pretrace_target, "w_bound": self.w_bound, "tau_w": self.tau_w}

    def param_rules(self) -> dict[str, ParamRule]:
        return {"A_plus": NON_NEGATIVE, "A_minus": NON_NEGATIVE, "tau_w": NON_NEGATIVE,
                "w_bound": ParamRule(low=2 * EXP_STDP_EPS, low_open=True)}

    def update(self, host: Any, params: Tree, state: Tree, inputs: Tree, dt: float) -> Tree:
        W, beta, bound = state["weights"], params["exp_beta"], params["w_bound"]
        z_pre, s_post = inputs["pre_trace"], inputs["post_spike"]
        target = jnp.ones_like(z_pre) * params["pretrace_target"]
        ltp = (jnp.exp(-beta * W) * host.correlate(params, z_pre, s_post)
               - jnp.exp(-beta * (bound - W)) * host.correlate(params, target, s_post))
        ltd = jnp.exp(-beta * W) * host.correlate(params, inputs["pre_spike"], inputs["post_trace"])
        dW = ltp * params["A_plus"] - ltd * params["A_minus"]
        W = W + params["eta"] * dW - decay_term(W, params["tau_w"])
        return {"weights": jnp.clip(W, EXP_STDP_EPS, bound - EXP_STDP_EPS)}


@dataclass(frozen=True)
class EventSTDP(Rule):
    r"""Event-driven, post-synaptic STDP (Tavanaei et al. 2018), ngclearn semantics.

    The synapse keeps a clock t [ms] (state, shape ()): t after step k (from 0) is (k+1)*dt, the
    convention of `SpikeTimeTracker`, whose `tols` output feeds the `pre_tols` port. A pre
    spike counts when it happened (tols > 0) within the window before t:

        pre = (tols > 0) and (t - presyn_win_len < tols)        (window 0: tols == t)
        dW = where(pre, (w_bound - W*(1 + lmbda))*A_plus, -W*(1 + lmbda)*A_minus) * s_post
        W <- clip(W + eta*dW, 0.01, w_bound) ;  W <- W*mask

    so each post spike potentiates the synapses of recently active inputs and depresses the
    others. With a batch the where/product is summed over samples (dense:
    pos*(pre.T @ s_post) + neg*((1 - pre).T @ s_post); ngclearn handles batch 1 only).
    The clock is float: a window equal to a whole number of steps compares equal times, which
    float32 and float64 may round differently. Run-time parameters: eta, lmbda, A_plus >= 0,
    A_minus >= 0, presyn_win_len [ms] >= 0, w_bound > 0.01. Ports: pre_tols (shape of x) [ms],
    post_spike (shape of out).
    """

    eta: float
    lmbda: float = 0.01
    A_plus: float = 1.0
    A_minus: float = 1.0
    presyn_win_len: float = 2.0
    w_bound: float = 1.0

    def ports(self, pre_shape: tuple[int, ...], post_shape: tuple[int, ...]) -> tuple[Port, ...]:
        return Port("pre_tols", pre_shape), Port("post_spike", post_shape)

    def runtime_params(self) -> dict[str, float]:
        return {"eta": self.eta, "lmbda": self.lmbda, "A_plus": self.A_plus, "A_minus": self.A_minus,
                "presyn_win_len": self.presyn_win_len, "w_bound": self.w_bound}

    def param_rules(self) -> dict[str, ParamRule]:
        return {"A_plus": NON_NEGATIVE, "A_minus": NON_NEGATIVE, "presyn_win_len": ParamRule(low=0.0, unit="ms"),
                "w_bound": ParamRule(low=EVENT_STDP_FLOOR, low_open=True)}

    def init_state(self, leaves: dict[str, np.ndarray], batch: int,
                   post_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        return {"t": np.zeros(())}

    def update(self, host: Any, params: Tree, state: Tree, inputs: Tree, dt: float) -> Tree:
        W, tols, post = state["weights"], inputs["pre_tols"], inputs["post_spike"]
        t, window = state["t"] + dt, params["presyn_win_len"]
        recent = (t - window < tols) | ((window <= 0) & (tols == t))     # window 0: never t - 0 < tols <= t
        pre = (recent & (tols > 0)).astype(W.dtype)
        shrink = W * (1.0 + params["lmbda"])
        potentiate = (params["w_bound"] - shrink) * params["A_plus"]
        depress = -shrink * params["A_minus"]
        dW = potentiate * host.correlate(params, pre, post) + depress * host.correlate(params, 1.0 - pre, post)
        return {"weights": jnp.clip(W + params["eta"] * dW, EVENT_STDP_FLOOR, params["w_bound"]), "t": t}


class TraceSTDPSynapse(PlasticSynapse, WeightCorrelation, DenseSynapse):
    """Dense synapse out = (x @ (W*mask)) * resist_scale + b learning by `TraceSTDP` (see there).
    Constructor: DenseSynapse's arguments, TraceSTDP's options (A_plus, A_minus, eta, mu,
    pretrace_target, w_bound, tau_w) and `learning`. Inputs: x, pre_spike, pre_trace (n_in,);
    post_spike, post_trace (n_out,). Outputs: out (n_out,). State when learning: weights."""

    rule_type = TraceSTDP


class ExpSTDPSynapse(PlasticSynapse, WeightCorrelation, DenseSynapse):
    """Dense synapse learning by `ExpSTDP` (see there); ports and constructor as TraceSTDPSynapse,
    with ExpSTDP's options (A_plus, A_minus, exp_beta, eta, pretrace_target, w_bound, tau_w)."""

    rule_type = ExpSTDP


class EventSTDPSynapse(PlasticSynapse, WeightCorrelation, DenseSynapse):
    """Dense synapse learning by `EventSTDP` (see there). Constructor: DenseSynapse's arguments,
    EventSTDP's options (eta, lmbda, A_plus, A_minus, presyn_win_len, w_bound) and `learning`.
    Inputs: x, pre_tols (n_in,), post_spike (n_out,). Outputs: out (n_out,).
    State when learning: weights, t (the clock, shape ())."""

    rule_type = EventSTDP
