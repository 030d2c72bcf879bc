"""Reshape: carries a signal between components whose ports have different per-sample shapes
(a convolution's (H, W, C) output into a soma's (n,) input and the spikes back)."""
from __future__ import annotations

from typing import Any

import numpy as np

from aotsnn.components.base import Component, Port, Tree
from aotsnn.components.plasticity.traces import unit_shape


class Reshape(Component):
    """out = x reshaped from `in_shape` to `out_shape` (row-major, per sample; equal sizes).

    Stateless, no parameters. Inputs: x (*in_shape). Outputs: out (*out_shape).
    """

    def __init__(self, name: str, in_shape: Any, out_shape: Any) -> None:
        super().__init__(name)
        self.in_shape = unit_shape(self.label, in_shape, "in_shape")
        self.out_shape = unit_shape(self.label, out_shape, "out_shape")
        if np.prod(self.in_shape) != np.prod(self.out_shape):
            raise ValueError(f"In {self.label}: `in_shape` {self.in_shape} and `out_shape` {self.out_shape} "
                             "must hold the same number of values.")
        self.inputs = (Port("x", self.in_shape),)
        self.outputs = (Port("out", self.out_shape),)

    def default_params(self) -> dict[str, np.ndarray]:
        return {}

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        x = inputs["x"]
        return {}, {"out": x.reshape((x.shape[0], *self.out_shape))}
