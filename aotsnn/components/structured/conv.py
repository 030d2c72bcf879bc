"""Convolutional and transposed-convolutional (deconvolutional) synapses, static and plastic
(ngclearn's ConvSynapse, DeconvSynapse and their Static, Hebbian and TraceSTDP variants)."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from aotsnn.components.base import Port, Tree
from aotsnn.components.initializers import DEFAULT_WEIGHT_INIT, Initializer
from aotsnn.components.plasticity.base import PlasticSynapse
from aotsnn.components.plasticity.hebbian import Hebbian
from aotsnn.components.plasticity.stdp import TraceSTDP
from aotsnn.components.synapses.dense import WeightedSynapse

PADDINGS = ("SAME", "VALID")
LAYOUT = ("NHWC", "HWIO", "NHWC")


def _positive_ints(label: str, field: str, value: Any, length: int) -> tuple[int, ...]:
    values = (value,) * 2 if field == "stride" and isinstance(value, (int, np.integer)) else value
    if (not isinstance(values, (tuple, list)) or len(values) != length
            or not all(isinstance(v, (int, np.integer)) and v > 0 for v in values)):
        raise ValueError(f"In {label}: `{field}` must be {length} positive integers, got {value!r}.")
    return tuple(int(v) for v in values)


class ConvSynapse(WeightedSynapse):
    r"""2-D convolution synapse: out = conv(x, K*mask) * resist_scale + b.

    x (batch, H, W, c_in) -> out (batch, H_out, W_out, c_out), kernel K of shape
    `shape` = (kh, kw, c_in, c_out), NHWC/HWIO layouts, cross-correlation as lax.conv (no kernel
    flip), `stride` (an int or a pair), `padding` "SAME" (H_out = ceil(H/stride)) or "VALID"
    (H_out = ceil((H - kh + 1)/stride)). `x_shape` = (H, W). Biases (c_out,) when `bias_init`
    is given.

    The kernel, its connection mask (`p_conn` over kernel entries, kept) and biases are drawn as
    a WeightedSynapse of shape (kh*kw*c_in, c_out) and reshaped, so fan-in initializers use the
    true fan-in kh*kw*c_in. Defaults as WeightedSynapse (weight_init uniform(0.025, 0.8), as
    ngclearn's filter_init). Inputs: x (H, W, c_in). Outputs: out (H_out, W_out, c_out).

    Its Hebbian product (for plastic variants) is the kernel gradient of sum(post * conv(pre, K)):
    dK[a, b, i, o] = sum over batch and output positions p of pre_padded[p*stride + (a, b), i] * post[p, o].
    """

    def __init__(self, name: str, shape: tuple[int, int, int, int], x_shape: tuple[int, int], *,
                 stride: Any = 1, padding: str = "SAME", weight_init: Initializer = DEFAULT_WEIGHT_INIT,
                 **kwargs: Any) -> None:
        label = f"'{name}' ({type(self).__name__})"
        kernel = _positive_ints(label, "shape", shape, 4)
        self.x_shape = _positive_ints(label, "x_shape", x_shape, 2)
        self.stride = _positive_ints(label, "stride", stride, 2)
        if padding not in PADDINGS:
            raise ValueError(f"In {label}: `padding` must be one of {PADDINGS}, got {padding!r}.")
        self.padding = padding
        kh, kw, c_in, c_out = kernel
        super().__init__(name, (kh * kw * c_in, c_out), weight_init=weight_init, **kwargs)
        self.shape = kernel
        for key in ("weights", "mask"):
            self._params[key] = self._params[key].reshape(kernel)
        out = jax.eval_shape(self.convolve, jax.ShapeDtypeStruct((1, *self.x_shape, c_in), jnp.float32),
                             jax.ShapeDtypeStruct(kernel, jnp.float32)).shape
        if min(out) < 1:
            raise ValueError(f"In {self.label}: a {kh}x{kw} kernel with stride {self.stride} and {padding} padding "
                             f"leaves no output on a {self.x_shape} input.")
        self.inputs = (Port("x", (*self.x_shape, c_in)),)
        self.outputs = (Port("out", tuple(out[1:])),)

    def convolve(self, x: Any, kernel: Any) -> Any:
        return lax.conv_general_dilated(x, kernel, self.stride, self.padding, dimension_numbers=LAYOUT)

    def transmit(self, params: Tree, x: Any) -> Any:
        return self.convolve(x, self.effective_weights(params))

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        return {}, {"out": self.add_bias(params, self.transmit(params, inputs["x"]) * params["resist_scale"])}

    def correlate(self, params: Tree, pre: Any, post: Any) -> Any:
        """The kernel-shaped Hebbian product: the transpose of K -> convolve(pre, K) applied to post."""
        transpose = jax.linear_transpose(lambda kernel: self.convolve(pre, kernel),
                                         jax.ShapeDtypeStruct(self.shape, pre.dtype))
        return transpose(post.astype(pre.dtype))[0]

    @staticmethod
    def bias_correlate(post: Any) -> Any:
        return jnp.sum(post, axis=tuple(range(post.ndim - 1)))


class DeconvSynapse(ConvSynapse):
    r"""Transposed-convolution synapse: out = conv_transpose(x, K*mask) * resist_scale + b.

    lax.conv_transpose with NHWC/HWIO layouts and no kernel flip (ngclearn's deconv2d): the
    input is dilated by `stride` and correlated with K; kernel `shape` = (kh, kw, c_in, c_out);
    "SAME" gives H_out = H*stride, "VALID" H_out = H*stride + max(kh - stride, 0).
    Everything else as ConvSynapse.
    """

    def convolve(self, x: Any, kernel: Any) -> Any:
        return lax.conv_transpose(x, kernel, self.stride, self.padding, dimension_numbers=LAYOUT)


class StaticConvSynapse(ConvSynapse):
    """A ConvSynapse without plasticity (ngclearn's name for the same computation)."""


class StaticDeconvSynapse(DeconvSynapse):
    """A DeconvSynapse without plasticity (ngclearn's name for the same computation)."""


class HebbianConvSynapse(PlasticSynapse, ConvSynapse):
    """ConvSynapse whose kernel (and biases) learn by the two-factor Hebbian rule
    (aotsnn.components.plasticity.hebbian.Hebbian) with the convolution's Hebbian product.
    `w_bound` defaults to 0 here (no bound), as in ngclearn's conv classes; `w_decay` is the l2
    prior. Inputs: x, pre (H, W, c_in), post (H_out, W_out, c_out). Outputs: out."""

    rule_type = Hebbian
    rule_defaults = {"w_bound": 0.0}


class HebbianDeconvSynapse(PlasticSynapse, DeconvSynapse):
    """DeconvSynapse learning by the Hebbian rule; as HebbianConvSynapse."""

    rule_type = Hebbian
    rule_defaults = {"w_bound": 0.0}


class TraceSTDPConvSynapse(PlasticSynapse, ConvSynapse):
    """ConvSynapse whose kernel learns by trace STDP (aotsnn.components.plasticity.stdp.TraceSTDP)
    with the convolution's Hebbian product. Inputs: x, pre_spike, pre_trace (H, W, c_in);
    post_spike, post_trace (H_out, W_out, c_out). Outputs: out."""

    rule_type = TraceSTDP


class TraceSTDPDeconvSynapse(PlasticSynapse, DeconvSynapse):
    """DeconvSynapse learning by trace STDP; as TraceSTDPConvSynapse."""

    rule_type = TraceSTDP
