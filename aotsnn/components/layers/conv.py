"""Channels-first convolution and pooling (the PyTorch and NIR layout), for imported graphs.

Per sample x has shape (C, *spatial) (1 or 2 spatial dimensions); the batch axis leads as
everywhere in aotsnn. Weights are (C_out, C_in/groups, *kernel), cross-correlation without a
kernel flip (torch.nn.Conv1d/Conv2d, nir.Conv1d/Conv2d). Padding is "same" or "valid" (lax's
rule: for stride 1 that is PyTorch's 'same'), or an int or one int per spatial dimension added
on both sides (PyTorch's integer padding).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from aotsnn.components.base import Component, Port, Tree, as_param
from aotsnn.components.plasticity.traces import unit_shape

STRING_PADDINGS = ("same", "valid")


def per_dim(label: str, field: str, value: Any, rank: int, low: int = 1) -> tuple[int, ...]:
    """An int or `rank` ints >= `low` (numpy arrays of them too) as a tuple of `rank` ints."""
    values = np.atleast_1d(np.asarray(value))
    if values.size == 1:
        values = np.repeat(values, rank)
    if values.shape != (rank,) or not np.all(values == np.round(values)) or np.any(values < low):
        raise ValueError(f"In {label}: `{field}` must be an int >= {low} or {rank} of them, got {value!r}.")
    return tuple(int(v) for v in values)


def padding_pairs(label: str, padding: Any, rank: int) -> Any:
    """"SAME"/"VALID" for lax, or ((p, p), ...) for integer padding."""
    if isinstance(padding, (str, bytes)):
        text = padding.decode() if isinstance(padding, bytes) else padding
        if text.lower() not in STRING_PADDINGS:
            raise ValueError(f"In {label}: `padding` must be 'same', 'valid' or integers, got {padding!r}.")
        return text.upper()
    return tuple((p, p) for p in per_dim(label, "padding", padding, rank, low=0))


class WindowOp(Component):
    """Shared part of convolution and pooling: layout, stride/padding/dilation and the output shape."""

    def __init__(self, name: str, in_shape: Any, kernel: tuple[int, ...], *, stride: Any, padding: Any,
                 dilation: Any = 1, groups: int = 1) -> None:
        super().__init__(name)
        self.in_shape = unit_shape(self.label, in_shape, "in_shape")
        rank = len(self.in_shape) - 1
        if rank not in (1, 2):
            raise ValueError(f"In {self.label}: `in_shape` must be (C, N) or (C, H, W), got {self.in_shape}.")
        self.kernel = per_dim(self.label, "kernel", kernel, rank)
        self.stride = per_dim(self.label, "stride", stride, rank)
        self.dilation = per_dim(self.label, "dilation", dilation, rank)
        self.padding = padding_pairs(self.label, padding, rank)
        self.groups = int(groups)
        spec = ("NCH", "OIH", "NCH") if rank == 1 else ("NCHW", "OIHW", "NCHW")
        self.dimension_numbers = spec

    def finish_ports(self, out_channels: int, in_channels: int) -> None:
        x = jax.ShapeDtypeStruct((1, *self.in_shape), jnp.float32)
        w = jax.ShapeDtypeStruct((out_channels, in_channels, *self.kernel), jnp.float32)
        out = jax.eval_shape(self.convolve, x, w).shape[1:]
        if min(out) < 1:
            raise ValueError(f"In {self.label}: kernel {self.kernel} with stride {self.stride} and padding "
                             f"{self.padding} leaves no output on an input of shape {self.in_shape}.")
        self.inputs = (Port("x", self.in_shape),)
        self.outputs = (Port("out", tuple(out)),)

    def convolve(self, x: Any, kernel: Any) -> Any:
        return lax.conv_general_dilated(x, kernel.astype(x.dtype), self.stride, self.padding,
                                        rhs_dilation=self.dilation, feature_group_count=self.groups,
                                        dimension_numbers=self.dimension_numbers)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {}


class Conv(WindowOp):
    """out = conv(x, weight) + bias (torch.nn.Conv1d/Conv2d, nir.Conv1d/Conv2d).

    x (C_in, *spatial) -> out (C_out, *spatial_out); parameters `weight` (C_out, C_in/groups,
    *kernel) and `bias` (C_out,) (zeros when None), both run-time parameters.
    """

    def __init__(self, name: str, in_shape: Any, weight: Any, *, bias: Any = None, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1) -> None:
        weight = np.asarray(weight, dtype=np.float64)
        label = f"'{name}' ({type(self).__name__})"
        if weight.ndim not in (3, 4):
            raise ValueError(f"In {label}: `weight` must be (C_out, C_in/groups, *kernel) with 1 or 2 kernel "
                             f"dimensions, got shape {weight.shape}.")
        super().__init__(name, in_shape, weight.shape[2:], stride=stride, padding=padding, dilation=dilation,
                         groups=groups)
        c_in = self.in_shape[0]
        if self.groups < 1 or c_in % self.groups or weight.shape[0] % self.groups or weight.shape[1] * self.groups != c_in:
            raise ValueError(f"In {self.label}: `weight` {weight.shape} with groups={groups} does not fit "
                             f"{c_in} input channels (need C_in/groups = weight.shape[1]).")
        bias = np.zeros(weight.shape[0]) if bias is None else bias
        self._params = {"weight": weight, "bias": as_param(self.label, "bias", bias, (weight.shape[0],))}
        self.validate_params(self._params)
        self.finish_ports(weight.shape[0], weight.shape[1])

    def default_params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        out = self.convolve(inputs["x"], params["weight"])
        bias = jnp.reshape(params["bias"], (-1,) + (1,) * (out.ndim - 2))
        return {}, {"out": out + bias}


class SumPool(WindowOp):
    """out[c] = sum of x[c] over each `kernel` window (nir.SumPool2d); x (C, H, W) or (C, N).
    Computed as a depthwise convolution with a kernel of ones; no parameters."""

    scale_by_area = False

    def __init__(self, name: str, in_shape: Any, kernel: Any, *, stride: Any = None, padding: Any = 0) -> None:
        rank = len(unit_shape(f"'{name}' ({type(self).__name__})", in_shape, "in_shape")) - 1
        kernel = per_dim(f"'{name}' ({type(self).__name__})", "kernel", kernel, max(rank, 1))
        super().__init__(name, in_shape, kernel, stride=kernel if stride is None else stride, padding=padding,
                         groups=unit_shape(self.__class__.__name__, in_shape)[0])
        self.finish_ports(self.in_shape[0], 1)

    def default_params(self) -> dict[str, np.ndarray]:
        return {}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        x = inputs["x"]
        ones = jnp.ones((self.in_shape[0], 1, *self.kernel), x.dtype)
        out = self.convolve(x, ones)
        return {}, {"out": out / float(np.prod(self.kernel)) if self.scale_by_area else out}


class AvgPool(SumPool):
    """out[c] = mean of x[c] over each `kernel` window, padding counted as zeros (nir.AvgPool2d,
    torch.nn.AvgPool2d with count_include_pad=True): SumPool divided by the kernel area."""

    scale_by_area = True
