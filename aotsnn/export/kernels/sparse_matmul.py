"""Sparse, event-driven `x @ W` over a CSR synapse list, and the sparse Hebbian product.

The synapses are `row_start` (k + 1,) and `cols` (nnz,) int32. For a dense synapse whose mask
is fixed at compile time (topology) they are compile-time constants made from the mask; for a
sparse synapse (aotsnn.components.synapses.csr) they are the synapse's own index parameters,
passed at run time. Three kernels:

    gather (runs once per call, it reads only parameters):
        values[p] = W[r, cols[p]] * mask[r, cols[p]]        for p in row r
    scatter (every step), for each row r with x[i, r] != 0 (found as in event_matmul, by chunks):
        out[i, cols[p]] += x[i, r] * values[p]              for p in row r

    densify (a sparse synapse denser than the threshold: the dense kernel is then faster):
        W[r, j] = sum of values[p] over the synapses p of row r with cols[p] = j   (else 0)
    correlate (plastic sparse synapses), for each synapse p of row r:
        c[p] = sum over i of a[i, r] * z[i, cols[p]]

Per step the scatter reads nnz_row entries per active input instead of n_out. Rows are visited in the same
order as the dense kernel and the skipped terms are exact zeros, so the sums are the same.
"""
from __future__ import annotations

import functools

import numpy as np
from tvm import tirx
from tvm.script import tirx as T

from aotsnn.components.connectivity import row_starts
from aotsnn.export.kernels.event_matmul import EVENT_CHUNK, chunk_has_event
from aotsnn.export.kernels.templates import specialise

OPAQUE = 8       # TVM's kOpaque: FuseOps keeps the kernel as it is (its reads are indirect)

# Above this fraction of non-zeros the dense event-driven kernel is faster (measured in bench/).
MAX_SPARSE_DENSITY = 0.25


def csr_of(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row_start (k + 1,), cols (nnz,)), int32, of the non-zeros of a (k, n) mask."""
    rows, cols = np.nonzero(mask)
    return row_starts(rows, mask.shape[0]).astype(np.int32), cols.astype(np.int32)


def gather_kernel(k: int, n: int, nnz: int, dtype: str) -> tirx.PrimFunc:
    return specialise(_gather(dtype), k=k, n=n, size=max(nnz, 1))


def scatter_kernel(m: int, k: int, n: int, nnz: int, dtype: str) -> tirx.PrimFunc:
    return specialise(_scatter(dtype), m=m, k=k, n=n, size=max(nnz, 1))


def correlate_kernel(m: int, k: int, n: int, nnz: int, dtype: str) -> tirx.PrimFunc:
    return specialise(_correlate(dtype), m=m, k=k, n=n, size=max(nnz, 1))


def densify_kernel(k: int, n: int, nnz: int, dtype: str) -> tirx.PrimFunc:
    return specialise(_densify(dtype), k=k, n=n, size=max(nnz, 1))


# The templates (aotsnn.export.kernels.templates): sizes are trailing int32 parameters; `size`
# is max(nnz, 1), the length of the synapse arrays.

@functools.cache
def _gather(dtype: str) -> tirx.PrimFunc:
    @T.prim_func(private=True)
    def csr_gather(w_h: T.handle, mask_h: T.handle, row_start_h: T.handle, cols_h: T.handle, values_h: T.handle,
                   k: T.int32, n: T.int32, size: T.int32):
        T.func_attr({"tirx.noalias": True})
        w = T.match_buffer(w_h, (k, n), dtype)
        mask = T.match_buffer(mask_h, (k, n), dtype)
        row_start = T.match_buffer(row_start_h, (k + 1,), "int32")
        cols = T.match_buffer(cols_h, (size,), "int32")
        values = T.match_buffer(values_h, (size,), dtype)
        for r in range(k):
            for p in range(row_start[r], row_start[r + 1]):
                values[p] = w[r, cols[p]] * mask[r, cols[p]]

    return csr_gather


@functools.cache
def _scatter(dtype: str) -> tirx.PrimFunc:
    chunk = EVENT_CHUNK

    @T.prim_func(private=True)
    def csr_scatter(x_h: T.handle, values_h: T.handle, row_start_h: T.handle, cols_h: T.handle, out_h: T.handle,
                    m: T.int32, k: T.int32, n: T.int32, size: T.int32):
        T.func_attr({"tirx.noalias": True})
        x = T.match_buffer(x_h, (m, k), dtype)
        values = T.match_buffer(values_h, (size,), dtype)
        row_start = T.match_buffer(row_start_h, (k + 1,), "int32")
        cols = T.match_buffer(cols_h, (size,), "int32")
        out = T.match_buffer(out_h, (m, n), dtype)
        for i in range(m):
            for j in range(n):
                out[i, j] = T.cast(0, dtype)
            for c in range((k + chunk - 1) // chunk):
                if chunk_has_event(x, i, c, k, dtype):
                    for r in range(T.min(chunk, k - c * chunk)):
                        if x[i, c * chunk + r] != T.cast(0, dtype):
                            for p in range(row_start[c * chunk + r], row_start[c * chunk + r + 1]):
                                out[i, cols[p]] = out[i, cols[p]] + x[i, c * chunk + r] * values[p]

    return csr_scatter


@functools.cache
def _correlate(dtype: str) -> tirx.PrimFunc:
    @T.prim_func(private=True)
    def csr_correlate(a_h: T.handle, z_h: T.handle, row_start_h: T.handle, cols_h: T.handle, out_h: T.handle,
                      m: T.int32, k: T.int32, n: T.int32, size: T.int32):
        T.func_attr({"tirx.noalias": True, "op_pattern": OPAQUE})   # never fused into its producers
        a = T.match_buffer(a_h, (m, k), dtype)
        z = T.match_buffer(z_h, (m, n), dtype)
        row_start = T.match_buffer(row_start_h, (k + 1,), "int32")
        cols = T.match_buffer(cols_h, (size,), "int32")
        out = T.match_buffer(out_h, (size,), dtype)
        for r in range(k):
            for p in range(row_start[r], row_start[r + 1]):
                out[p] = T.cast(0, dtype)
                for i in range(m):
                    out[p] = out[p] + a[i, r] * z[i, cols[p]]

    return csr_correlate


@functools.cache
def _densify(dtype: str) -> tirx.PrimFunc:
    @T.prim_func(private=True)
    def csr_densify(values_h: T.handle, row_start_h: T.handle, cols_h: T.handle, w_h: T.handle,
                    k: T.int32, n: T.int32, size: T.int32):
        T.func_attr({"tirx.noalias": True, "op_pattern": OPAQUE})
        values = T.match_buffer(values_h, (size,), dtype)
        row_start = T.match_buffer(row_start_h, (k + 1,), "int32")
        cols = T.match_buffer(cols_h, (size,), "int32")
        w = T.match_buffer(w_h, (k, n), dtype)
        for r in range(k):
            for j in range(n):
                w[r, j] = T.cast(0, dtype)
            for p in range(row_start[r], row_start[r + 1]):
                w[r, cols[p]] = w[r, cols[p]] + values[p]

    return csr_densify
