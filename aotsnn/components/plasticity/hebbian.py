"""Two-factor Hebbian plasticity (ngclearn's HebbianSynapse) and its dense synapse."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import NON_NEGATIVE, ParamRule, Port, Tree
from aotsnn.components.plasticity.base import WEIGHT_BOUND, WeightCorrelation, PlasticSynapse, Rule, soft_bound
from aotsnn.components.plasticity.optim import (check_optimizer, optimizer_params, optimizer_rules,
                                                optimizer_state, optimizer_step)
from aotsnn.components.synapses.dense import DenseSynapse

PRIORS = {"l1": "l1", "lasso": "l1", "laplacian": "l1", "l2": "l2", "ridge": "l2", "gaussian": "l2",
          "l1l2": "elastic_net", "elastic_net": "elastic_net"}
NO_PRIOR = (None, "constant")


@dataclass(frozen=True)
class Hebbian(Rule):
    r"""Two-factor Hebbian update with soft bound, prior, sign and an optimizer (ngclearn semantics).

    With pre (batch, *in), post (batch, *out), W the weights before the step:

        dW = correlate(pre*pre_wght, post*post_wght)      (dense: (pre*pre_wght).T @ (post*post_wght))
        dW = dW * (w_bound - |W|)                          if w_bound > 0 (soft bound)
        dW = dW + prior(W)                                 l2: -lmbda*W ; l1: -lmbda*sign(W) ;
                                                           elastic_net: -lmbda*(r*sign(W) + (1 - r)/2*W)
        dW = dW * sign_value * mask ;  db = sum(post*post_wght over all but the last axis) * sign_value
        W, b <- optimizer(W, b; dW, db)                    sgd: W - eta*dW (descent), or adam
        W <- max(W, 0) if is_nonnegative ;  W <- clip(W, -w_bound, w_bound) if w_bound > 0 ;  W <- W*mask

    `sign_value=-1` turns the sgd descent into Hebbian ascent (W grows with pre*post). Note that
    the prior enters before `sign_value`, as in ngclearn: it decays weights under ascent.
    Biases are learned (b <- b - eta*db) when the synapse has biases.

    Options (run-time parameters unless marked static): eta, w_bound >= 0, sign_value,
    pre_wght, post_wght; `prior` = (name, lmbda) or ("elastic_net", (lmbda, l1_ratio)) with a
    static name and run-time `prior_lmbda` >= 0 (and `l1_ratio` in [0, 1]); `w_decay` > 0 is
    ngclearn's shorthand for prior ("l2", w_decay); `optim_type` "sgd" | "adam" (static; adam adds
    run-time beta1, beta2, epsilon); `is_nonnegative` (static).
    Ports: pre (shape of x), post (shape of out).
    """

    eta: float = 0.0
    w_bound: float = 1.0
    is_nonnegative: bool = False
    prior: tuple = (None, 0.0)
    w_decay: float = 0.0
    sign_value: float = 1.0
    optim_type: str = "sgd"
    pre_wght: float = 1.0
    post_wght: float = 1.0

    learns_biases = True

    @property
    def prior_type(self) -> str | None:
        if self.w_decay > 0:
            return "l2"
        return None if self.prior[0] in NO_PRIOR else PRIORS[str(self.prior[0]).lower()]

    def check(self, label: str) -> None:
        check_optimizer(label, self.optim_type)
        if not isinstance(self.is_nonnegative, bool):
            raise ValueError(f"In {label}: `is_nonnegative` must be True or False, got {self.is_nonnegative!r}.")
        if not (isinstance(self.prior, (tuple, list)) and len(self.prior) == 2):
            raise ValueError(f"In {label}: `prior` must be (name, lmbda), got {self.prior!r}.")
        name = self.prior[0]
        if name not in NO_PRIOR and str(name).lower() not in PRIORS:
            raise ValueError(f"In {label}: `prior` name must be None or one of {sorted(PRIORS)}, got {name!r}.")
        if self.w_decay > 0 and name not in NO_PRIOR:
            raise ValueError(f"In {label}: give either `w_decay` (an l2 prior) or `prior`, got w_decay="
                             f"{self.w_decay!r} and prior={self.prior!r}.")
        pair = isinstance(self.prior[1], (tuple, list)) and len(self.prior[1]) == 2
        if self.prior_type == "elastic_net" and not pair:
            raise ValueError(f"In {label}: an elastic_net prior needs (lmbda, l1_ratio), got {self.prior[1]!r}.")

    def ports(self, pre_shape: tuple[int, ...], post_shape: tuple[int, ...]) -> tuple[Port, ...]:
        return Port("pre", pre_shape), Port("post", post_shape)

    def runtime_params(self) -> dict[str, float]:
        params = {"eta": self.eta, "w_bound": self.w_bound, "sign_value": self.sign_value,
                  "pre_wght": self.pre_wght, "post_wght": self.post_wght, **optimizer_params(self.optim_type)}
        if self.w_decay > 0:
            params["prior_lmbda"] = self.w_decay
        elif self.prior_type == "elastic_net":
            params["prior_lmbda"], params["l1_ratio"] = self.prior[1]
        elif self.prior_type is not None:
            params["prior_lmbda"] = self.prior[1]
        return params

    def param_rules(self) -> dict[str, ParamRule]:
        return {"w_bound": WEIGHT_BOUND, "prior_lmbda": NON_NEGATIVE, "l1_ratio": ParamRule(low=0.0, high=1.0),
                **optimizer_rules(self.optim_type)}

    def init_state(self, leaves: dict[str, np.ndarray], batch: int,
                   post_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        return optimizer_state(self.optim_type, leaves)

    def prior_term(self, params: Tree, W: Any) -> Any:
        kind = self.prior_type
        if kind == "l2":
            return -params["prior_lmbda"] * W
        if kind == "l1":
            return -params["prior_lmbda"] * jnp.sign(W)
        if kind == "elastic_net":
            ratio = params["l1_ratio"]
            return -params["prior_lmbda"] * (ratio * jnp.sign(W) + (1.0 - ratio) / 2.0 * W)
        return 0.0

    def constrain(self, W: Any, w_bound: Any) -> Any:
        if self.is_nonnegative:
            W = jnp.maximum(W, 0.0)
        return jnp.where(w_bound > 0, jnp.clip(W, -w_bound, w_bound), W)

    def update(self, host: Any, params: Tree, state: Tree, inputs: Tree, dt: float) -> Tree:
        W, sign = state["weights"], params["sign_value"]
        post = inputs["post"] * params["post_wght"]
        dW = host.correlate(params, inputs["pre"] * params["pre_wght"], post)
        dW = soft_bound(dW, W, params["w_bound"]) + self.prior_term(params, W)
        updates = {"weights": host.keep_topology(params, dW * sign)}
        if "biases" in host.learned_leaves:
            updates["biases"] = host.bias_correlate(post) * sign
        new = optimizer_step(self.optim_type, params, state, updates)
        new["weights"] = self.constrain(new["weights"], params["w_bound"])
        return new


class HebbianSynapse(PlasticSynapse, WeightCorrelation, DenseSynapse):
    """Dense synapse out = (x @ (W*mask)) * resist_scale + b whose weights (and biases) learn by
    the two-factor Hebbian rule `Hebbian` (see there for the equations and options).

    Constructor: DenseSynapse's arguments (shape, weight_init, bias_init, resist_scale, p_conn,
    seed, ...), the options of `Hebbian` (eta, w_bound, is_nonnegative, prior, w_decay,
    sign_value, optim_type, pre_wght, post_wght) and `learning` (see aotsnn.components.plasticity).
    Inputs: x (n_in,), pre (n_in,), post (n_out,). Outputs: out (n_out,).
    State when learning: weights (n_in, n_out), biases (n_out,) if enabled, adam moments.
    """

    rule_type = Hebbian
