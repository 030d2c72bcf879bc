"""Optimizers that apply a computed update inside the step (ngclearn's `utils.optim`, sgd and adam).

For every learned leaf theta with update g (the rule's dW or db):

    sgd:   theta <- theta - eta * g
    adam:  t <- t + 1
           m <- beta1*m + (1 - beta1)*g ;  v <- beta2*v + (1 - beta2)*g^2
           theta <- theta - eta * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)

(descent on g: a rule that wants ascent flips the sign of g, e.g. Hebbian `sign_value=-1`).
Adam's state: `<leaf>_m`, `<leaf>_v` (the leaf's shape, zeros) and the step count `adam_t`
(shape (), 0); parameters eta, beta1, beta2 in [0, 1), epsilon > 0. In float32 `adam_t` counts
exactly to 2**24 steps; beyond that beta^t has long underflowed to 0 and the correction is 1.
"""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import ParamRule, Tree

OPTIMIZERS = ("sgd", "adam")
ADAM_DEFAULTS = {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
ADAM_RULES = {"beta1": ParamRule(low=0.0, high=1.0, high_open=True),
              "beta2": ParamRule(low=0.0, high=1.0, high_open=True),
              "epsilon": ParamRule(low=0.0, low_open=True)}


def check_optimizer(label: str, optim_type: str) -> None:
    if optim_type not in OPTIMIZERS:
        raise ValueError(f"In {label}: `optim_type` must be one of {OPTIMIZERS}, got {optim_type!r}.")


def optimizer_params(optim_type: str) -> dict[str, float]:
    """Run-time parameters of the optimizer besides eta (adam: beta1, beta2, epsilon)."""
    return dict(ADAM_DEFAULTS) if optim_type == "adam" else {}


def optimizer_rules(optim_type: str) -> dict[str, ParamRule]:
    return dict(ADAM_RULES) if optim_type == "adam" else {}


def optimizer_state(optim_type: str, leaves: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Initial optimizer state for the learned `leaves` (name -> initial value)."""
    if optim_type == "sgd":
        return {}
    state = {"adam_t": np.zeros(())}
    for name, value in leaves.items():
        state[f"{name}_m"] = np.zeros(np.shape(value))
        state[f"{name}_v"] = np.zeros(np.shape(value))
    return state


def optimizer_step(optim_type: str, params: Tree, state: Tree, updates: dict[str, Any]) -> Tree:
    """New values of the leaves in `updates` (read from `state`) and of the optimizer state."""
    eta = params["eta"]
    if optim_type == "sgd":
        return {name: state[name] - eta * g for name, g in updates.items()}
    beta1, beta2, eps = params["beta1"], params["beta2"], params["epsilon"]
    t = state["adam_t"] + 1.0
    correction1, correction2 = 1.0 - jnp.power(beta1, t), 1.0 - jnp.power(beta2, t)
    new = {"adam_t": t}
    for name, g in updates.items():
        m = beta1 * state[f"{name}_m"] + (1.0 - beta1) * g
        v = beta2 * state[f"{name}_v"] + (1.0 - beta2) * jnp.square(g)
        new[name] = state[name] - eta * (m / correction1) / (jnp.sqrt(v / correction2) + eps)
        new[f"{name}_m"], new[f"{name}_v"] = m, v
    return new
