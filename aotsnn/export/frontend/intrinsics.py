"""Calls the compiler puts on its own kernels instead of inlining their JAX body.

aotsnn.components.synapses.csr jits the sparse synapse's products under fixed names, so the
StableHLO keeps them as `func.call @aotsnn_csr_matmul` (jax numbers repeats of a name with
different shapes `@aotsnn_csr_matmul_0`, ...). The walk (aotsnn.export.frontend.walk) looks a
callee up here first; a hit hands the call's operands to `Ops` as one primitive, which the Relax
backend emits as the event-driven CSR scatter kernel with the synapse indices as run-time
arguments (so compile time does not grow with the synapses) and the ONNX backend as
Gather/ScatterElements. The body (a gather and a scatter-add) is the reference and never compiled.
"""
from __future__ import annotations

import re

from aotsnn.components.synapses.csr import CSR_CORRELATE, CSR_MATMUL
from aotsnn.export.frontend.values import Ops
from aotsnn.export.frontend.walk import result_type


def csr_matmul(ops: Ops, op, xs):
    """x (..., n_in) over the synapses -> (..., n_out)."""
    x, weights, pre_start, post_index = xs
    return ops.csr_matmul(x, weights, pre_start, post_index, result_type(op)[0][-1])


def csr_correlate(ops: Ops, op, xs):
    """a (..., n_in), z (..., n_out) -> (n_syn,): sum over the leading axes of a[pre(s)] z[post(s)]."""
    a, z, pre_start, post_index = xs
    return ops.csr_correlate(a, z, pre_start, post_index)


INTRINSICS = {CSR_MATMUL: csr_matmul, CSR_CORRELATE: csr_correlate}
_NUMBERED = re.compile(r"^(.*?)(?:_\d+)?$")


def intrinsic(callee: str):
    """The handler of a called function's name, or None to inline the call."""
    return INTRINSICS.get(callee) or INTRINSICS.get(_NUMBERED.match(callee).group(1))
