"""Three-factor plasticity: reward-modulated trace STDP with an eligibility trace (ngclearn's
MSTDPETSynapse; Florian 2007)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import NON_NEGATIVE, ParamRule, Port, Tree
from aotsnn.components.plasticity.base import WeightCorrelation, PlasticSynapse, decay_term
from aotsnn.components.plasticity.stdp import TraceSTDP
from aotsnn.components.synapses.dense import DenseSynapse


@dataclass(frozen=True)
class MSTDPET(TraceSTDP):
    r"""Modulated trace STDP with an eligibility trace (M-STDP-ET), ngclearn semantics.

    With dW_prev the TraceSTDP update computed in the previous step (state `dweights`, from 0),
    e the eligibility (state `eligibility`) and m the modulator (e.g. a reward), per step:

        e <- e*exp(-dt/tau_elg)*elg_decay + dW_prev/tau_elg      (tau_elg > 0: M-STDP-ET)
        e <- dW_prev                                              (tau_elg = 0: plain M-STDP)
        W <- clip(W + eta*m*e - W/tau_w, 0, w_bound) ;  W <- W*mask
        dweights <- TraceSTDP's dW for this step's ports, from the weights before the step

    The modulator port has shape (1,); with a batch, m is its batch mean (ngclearn supports
    batch 1). ngclearn's output mask (`outmask`, all ones) is not modelled. Run-time parameters:
    TraceSTDP's, tau_elg [ms] >= 0, elg_decay >= 0. Ports: TraceSTDP's and modulator (1,).
    """

    tau_elg: float = 0.0
    elg_decay: float = 1.0

    def ports(self, pre_shape: tuple[int, ...], post_shape: tuple[int, ...]) -> tuple[Port, ...]:
        return super().ports(pre_shape, post_shape) + (Port("modulator", (1,)),)

    def runtime_params(self) -> dict[str, float]:
        return {**super().runtime_params(), "tau_elg": self.tau_elg, "elg_decay": self.elg_decay}

    def param_rules(self) -> dict[str, ParamRule]:
        return {**super().param_rules(), "tau_elg": ParamRule(low=0.0, unit="ms"), "elg_decay": NON_NEGATIVE}

    def init_state(self, leaves: dict[str, np.ndarray], batch: int,
                   post_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        shape = leaves["weights"].shape
        return {"eligibility": np.zeros(shape), "dweights": np.zeros(shape)}

    def update(self, host: Any, params: Tree, state: Tree, inputs: Tree, dt: float) -> Tree:
        W, dW_prev, tau = state["weights"], state["dweights"], params["tau_elg"]
        safe_tau = jnp.where(tau > 0, tau, 1.0)
        traced = state["eligibility"] * jnp.exp(-dt / safe_tau) * params["elg_decay"] + dW_prev / safe_tau
        eligibility = jnp.where(tau > 0, traced, dW_prev)
        modulator = jnp.mean(inputs["modulator"])
        W_new = W + eligibility * modulator * params["eta"] - decay_term(W, params["tau_w"])
        return {"weights": jnp.clip(W_new, 0.0, params["w_bound"]), "eligibility": eligibility,
                "dweights": self.stdp_update(host, params, W, inputs)}


class MSTDPETSynapse(PlasticSynapse, WeightCorrelation, DenseSynapse):
    """Dense synapse out = (x @ (W*mask)) * resist_scale + b learning by reward-modulated trace
    STDP `MSTDPET` (see there). Constructor: DenseSynapse's arguments, MSTDPET's options (A_plus,
    A_minus, eta, mu, pretrace_target, w_bound, tau_w, tau_elg, elg_decay) and `learning`.
    Inputs: x, pre_spike, pre_trace (n_in,); post_spike, post_trace (n_out,); modulator (1,).
    Outputs: out (n_out,). State when learning: weights, eligibility, dweights (n_in, n_out)."""

    rule_type = MSTDPET
