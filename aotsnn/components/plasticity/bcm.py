"""BCM (Bienenstock-Cooper-Munro) plasticity with a sliding threshold (ngclearn's BCMSynapse)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import NON_NEGATIVE, POSITIVE, ParamRule, Port, Tree
from aotsnn.components.plasticity.base import WEIGHT_BOUND, WeightCorrelation, PlasticSynapse, Rule, soft_bound
from aotsnn.components.synapses.dense import DenseSynapse

THETA_EPS = 1e-7


@dataclass(frozen=True)
class BCM(Rule):
    r"""BCM rule, forward Euler in dt [ms], with pre x (batch, n_in) and post y (batch, n_out):

        post_term = y * (y - theta) / (theta + 1e-7)            (theta: the value before the step)
        dW = x.T @ post_term                                    (summed over the batch)
        dW = dW * (w_bound - |W|)                               if w_bound > 0 (soft bound)
        W <- W + (dW - w_decay*W) * dt / tau_w ;  W <- W*mask
        theta <- theta + (mean_batch(y^2) - theta) * dt / tau_theta

    i.e. tau_w dW/dt = -w_decay W + x y (y - theta)/theta, tau_theta dtheta/dt = <y^2> - theta.
    Weights are not clipped (as in ngclearn). theta (n_out,) is one threshold per output unit,
    shared by the batch (its drive is the batch mean), starting at `theta0` (ngclearn's
    default -1). Run-time parameters: tau_w, tau_theta [ms] > 0, w_bound >= 0, w_decay >= 0.
    Ports: pre (n_in,), post (n_out,).
    """

    tau_w: float
    tau_theta: float
    theta0: float = -1.0
    w_bound: float = 0.0
    w_decay: float = 0.0

    def ports(self, pre_shape: tuple[int, ...], post_shape: tuple[int, ...]) -> tuple[Port, ...]:
        return Port("pre", pre_shape), Port("post", post_shape)

    def runtime_params(self) -> dict[str, float]:
        return {"tau_w": self.tau_w, "tau_theta": self.tau_theta, "w_bound": self.w_bound, "w_decay": self.w_decay}

    def param_rules(self) -> dict[str, ParamRule]:
        return {"tau_w": POSITIVE, "tau_theta": POSITIVE, "w_bound": WEIGHT_BOUND, "w_decay": NON_NEGATIVE}

    def init_state(self, leaves: dict[str, np.ndarray], batch: int,
                   post_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        return {"theta": np.full(post_shape[-1], float(self.theta0))}

    def update(self, host: Any, params: Tree, state: Tree, inputs: Tree, dt: float) -> Tree:
        W, theta, post = state["weights"], state["theta"], inputs["post"]
        post_term = post * (post - theta) / (theta + THETA_EPS)
        dW = soft_bound(host.correlate(params, inputs["pre"], post_term), W, params["w_bound"])
        W = W + (dW - W * params["w_decay"]) * dt / params["tau_w"]
        theta = theta + (jnp.mean(jnp.square(post), axis=0) - theta) * dt / params["tau_theta"]
        return {"weights": W, "theta": theta}


class BCMSynapse(PlasticSynapse, WeightCorrelation, DenseSynapse):
    """Dense synapse out = (x @ (W*mask)) * resist_scale + b whose weights learn by the BCM rule
    `BCM` (see there). Constructor: DenseSynapse's arguments, BCM's options (tau_w, tau_theta,
    theta0, w_bound, w_decay) and `learning`. Inputs: x (n_in,), pre (n_in,), post (n_out,).
    Outputs: out (n_out,). State when learning: weights (n_in, n_out), theta (n_out,).
    """

    rule_type = BCM
