"""The sparse synapse's two products, written once in JAX over the CSR synapse list.

With the synapses of aotsnn.components.connectivity (pre_start (n_in + 1,), post_index (n_syn,),
CSR order) and pre(s) the input of synapse s:

    csr_matmul:     out[b, j] = sum over s with post_index[s] = j of x[b, pre(s)] * w[s]
    csr_correlate:  c[s]      = sum over b of a[b, pre(s)] * z[b, post_index[s]]

csr_matmul is `x @ W` for the matrix W whose only non-zeros are the synapses; csr_correlate is
`a.T @ z` read at the synapses (the Hebbian product of a plastic sparse synapse). Both are
jitted under a fixed name: the StableHLO keeps each as a `func.call @aotsnn_csr_*`, and the
compiler puts that call on its event-driven CSR kernels (aotsnn.export.frontend.intrinsics)
instead of inlining this body, which stays the float64 reference.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

CSR_MATMUL = "aotsnn_csr_matmul"
CSR_CORRELATE = "aotsnn_csr_correlate"


def pre_of_synapses(pre_start: Any, n_synapses: int) -> Any:
    """pre(s) for every synapse, (n_syn,) int32, from the row offsets."""
    n_in = pre_start.shape[0] - 1
    return jnp.repeat(jnp.arange(n_in, dtype=jnp.int32), jnp.diff(pre_start), total_repeat_length=n_synapses)


def aotsnn_csr_matmul(x: Any, weights: Any, pre_start: Any, post_index: Any, n_out: int) -> Any:
    contributions = x[..., pre_of_synapses(pre_start, weights.shape[0])] * weights
    return jnp.zeros((*x.shape[:-1], n_out), x.dtype).at[..., post_index].add(contributions)


def aotsnn_csr_correlate(a: Any, z: Any, pre_start: Any, post_index: Any) -> Any:
    pre = pre_of_synapses(pre_start, post_index.shape[0])
    return jnp.sum(a[..., pre] * z[..., post_index], axis=tuple(range(a.ndim - 1)))


csr_matmul = jax.jit(aotsnn_csr_matmul, static_argnames=("n_out",))
csr_correlate = jax.jit(aotsnn_csr_correlate)

__all__ = ["csr_matmul", "csr_correlate", "CSR_MATMUL", "CSR_CORRELATE", "pre_of_synapses"]
