"""Optimizers that apply a computed update inside the step (ngclearn's `utils.optim`: sgd, adam, nag).

For every learned leaf theta with update g (the rule's dW or db):

    sgd:   theta <- theta - eta * g
    adam:  t <- t + 1
           m <- beta1*m + (1 - beta1)*g ;  v <- beta2*v + (1 - beta2)*g^2
           theta <- theta - eta * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
    nag:   t <- t + 1 ;  phi <- theta - eta * g
           theta <- phi + momentum * (phi - phi_prev) * [t > 1] ;  phi_prev <- phi

(descent on g: a rule that wants ascent flips the sign of g, e.g. Hebbian `sign_value=-1`).
Adam's state: `<leaf>_m`, `<leaf>_v` (the leaf's shape, zeros) and the step count `adam_t`
(shape (), 0); parameters eta, beta1, beta2 in [0, 1), epsilon > 0. In float32 `adam_t` counts
exactly to 2**24 steps; beyond that beta^t has long underflowed to 0 and the correction is 1.
NAG (Nesterov's accelerated gradient as ngclearn's `nag_step` writes it, its mu = 0.9 named
`momentum` here, a run-time parameter in [0, 1)): state `<leaf>_phi` (zeros) and `nag_t` (shape
(), 0); only whether t > 1 matters, so its count never loses precision that matters.
"""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import ParamRule, Tree

OPTIMIZERS = ("sgd", "adam", "nag")
UNIT_INTERVAL = ParamRule(low=0.0, high=1.0, high_open=True)
OPTIMIZER_DEFAULTS = {"sgd": {}, "adam": {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, "nag": {"momentum": 0.9}}
OPTIMIZER_RULES = {"sgd": {},
                   "adam": {"beta1": UNIT_INTERVAL, "beta2": UNIT_INTERVAL, "epsilon": ParamRule(low=0.0, low_open=True)},
                   "nag": {"momentum": UNIT_INTERVAL}}
# Per learned leaf: the suffixes of its optimizer state; and the step counter's name.
MOMENT_SUFFIXES = {"sgd": (), "adam": ("_m", "_v"), "nag": ("_phi",)}


def check_optimizer(label: str, optim_type: str) -> None:
    if optim_type not in OPTIMIZERS:
        raise ValueError(f"In {label}: `optim_type` must be one of {OPTIMIZERS}, got {optim_type!r}.")


def optimizer_params(optim_type: str) -> dict[str, float]:
    """Run-time parameters of the optimizer besides eta (adam: beta1, beta2, epsilon; nag: momentum)."""
    return dict(OPTIMIZER_DEFAULTS[optim_type])


def optimizer_rules(optim_type: str) -> dict[str, ParamRule]:
    return dict(OPTIMIZER_RULES[optim_type])


def optimizer_state(optim_type: str, leaves: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Initial optimizer state for the learned `leaves` (name -> initial value)."""
    if optim_type == "sgd":
        return {}
    state = {f"{optim_type}_t": np.zeros(())}
    for name, value in leaves.items():
        state.update({name + suffix: np.zeros(np.shape(value)) for suffix in MOMENT_SUFFIXES[optim_type]})
    return state


def optimizer_step(optim_type: str, params: Tree, state: Tree, updates: dict[str, Any]) -> Tree:
    """New values of the leaves in `updates` (read from `state`) and of the optimizer state."""
    eta = params["eta"]
    if optim_type == "sgd":
        return {name: state[name] - eta * g for name, g in updates.items()}
    if optim_type == "nag":
        t = state["nag_t"] + 1.0
        momentum = jnp.where(t > 1.0, params["momentum"], jnp.zeros_like(params["momentum"]))
        new = {"nag_t": t}
        for name, g in updates.items():
            phi = state[name] - eta * g
            new[name] = phi + (phi - state[f"{name}_phi"]) * momentum
            new[f"{name}_phi"] = phi
        return new
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
