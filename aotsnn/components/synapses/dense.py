"""Weighted synapses: the shared weight/mask/bias machinery and DenseSynapse (ngclearn semantics)."""
from __future__ import annotations

from typing import Any

import numpy as np

from aotsnn.components.base import Component, ParamRule, Port, Tree, check_param
from aotsnn.components.initializers import DEFAULT_WEIGHT_INIT, Initializer

P_CONN_RULE = ParamRule(low=0.0, high=1.0, low_open=True)


class WeightedSynapse(Component):
    """A synapse with weights W of shape (n_in, n_out), a kept connection mask and optional biases.

    `p_conn` in (0, 1] draws a Bernoulli mask once at construction from `seed`; the mask is a
    parameter of the artifact and every use of W is W*mask, so a pruned synapse never conducts
    (and plasticity can never regrow it). `resist_scale` scales the output; `bias_init` None
    disables biases. Parameters: weights (n_in, n_out), mask (n_in, n_out), resist_scale (),
    biases (n_out,) when enabled.
    """

    def __init__(self, name: str, shape: tuple[int, int], *, weight_init: Initializer = DEFAULT_WEIGHT_INIT,
                 bias_init: Initializer | None = None, resist_scale: float = 1.0, p_conn: float = 1.0,
                 seed: int = 0) -> None:
        super().__init__(name)
        if (not isinstance(shape, (tuple, list)) or len(shape) != 2
                or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape)):
            raise ValueError(f"In {self.label}: `shape` must be (n_in, n_out) of positive integers, got {shape!r}.")
        check_param(self.label, "p_conn", p_conn, P_CONN_RULE)
        self.shape = (int(shape[0]), int(shape[1]))
        rng = np.random.default_rng(seed)
        weights = weight_init(self.shape, rng)
        mask = (rng.uniform(size=self.shape) < p_conn).astype(np.float64) if p_conn < 1 else np.ones(self.shape)
        self._params = {"weights": weights * mask, "mask": mask, "resist_scale": np.asarray(float(resist_scale))}
        if bias_init is not None:
            self._params["biases"] = bias_init((self.shape[1],), rng)
        self.validate_params(self._params)

    def param_rules(self) -> dict[str, ParamRule]:
        return {"mask": ParamRule(low=0.0, high=1.0)}

    def default_params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def transmit(self, params: Tree, x: Any) -> Any:
        """x @ (W * mask), the raw weighted input of shape (batch, n_out)."""
        return x @ (params["weights"] * params["mask"])

    def add_bias(self, params: Tree, out: Any) -> Any:
        return out + params["biases"] if "biases" in params else out


class DenseSynapse(WeightedSynapse):
    r"""Dense synapse: out = (x @ (W*mask)) * resist_scale + b.

    Stateless. Inputs: x (n_in,). Outputs: out (n_out,) (a current in pA when wired to a soma).
    """

    def __init__(self, name: str, shape: tuple[int, int], **kwargs: Any) -> None:
        super().__init__(name, shape, **kwargs)
        self.inputs = (Port("x", (self.shape[0],)),)
        self.outputs = (Port("out", (self.shape[1],)),)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        out = self.add_bias(params, self.transmit(params, inputs["x"]) * params["resist_scale"])
        return {}, {"out": out}


StaticSynapse = DenseSynapse
"""StaticSynapse is a DenseSynapse without plasticity; in this library plasticity lives in its
own classes, so the two are the same computation."""
