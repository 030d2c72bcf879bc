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

import numpy as np
from tvm import tirx
from tvm.script import tirx as T

from aotsnn.components.connectivity import row_starts
from aotsnn.export.kernels.event_matmul import EVENT_CHUNK, chunk_has_event

OPAQUE = 8       # TVM's kOpaque: FuseOps keeps the kernel as it is (its reads are indirect)

# Above this fraction of non-zeros the dense event-driven kernel is faster (measured in bench/).
MAX_SPARSE_DENSITY = 0.25


def csr_of(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row_start (k + 1,), cols (nnz,)), int32, of the non-zeros of a (k, n) mask."""
    rows, cols = np.nonzero(mask)
    return row_starts(rows, mask.shape[0]).astype(np.int32), cols.astype(np.int32)


def gather_kernel(k: int, n: int, nnz: int, dtype: str) -> tirx.PrimFunc:
    rows, size = k + 1, max(nnz, 1)

    @T.prim_func(private=True)
    def csr_gather(w: T.Buffer((k, n), dtype), mask: T.Buffer((k, n), dtype), row_start: T.Buffer((rows,), "int32"),
                   cols: T.Buffer((size,), "int32"), values: T.Buffer((size,), dtype)):
        T.func_attr({"tirx.noalias": True})
        for r in range(k):
            for p in range(row_start[r], row_start[r + 1]):
                values[p] = w[r, cols[p]] * mask[r, cols[p]]

    return csr_gather


def scatter_kernel(m: int, k: int, n: int, nnz: int, dtype: str) -> tirx.PrimFunc:
    rows, size = k + 1, max(nnz, 1)
    chunks, chunk = (k + EVENT_CHUNK - 1) // EVENT_CHUNK, EVENT_CHUNK

    @T.prim_func(private=True)
    def csr_scatter(x: T.Buffer((m, k), dtype), values: T.Buffer((size,), dtype),
                    row_start: T.Buffer((rows,), "int32"), cols: T.Buffer((size,), "int32"),
                    out: T.Buffer((m, n), dtype)):
        T.func_attr({"tirx.noalias": True})
        for i in range(m):
            for j in range(n):
                out[i, j] = T.cast(0, dtype)
            for c in range(chunks):
                if chunk_has_event(x, i, c, k, dtype):
                    for r in range(T.min(chunk, k - c * chunk)):
                        if x[i, c * chunk + r] != T.cast(0, dtype):
                            for p in range(row_start[c * chunk + r], row_start[c * chunk + r + 1]):
                                out[i, cols[p]] = out[i, cols[p]] + x[i, c * chunk + r] * values[p]

    return csr_scatter


def correlate_kernel(m: int, k: int, n: int, nnz: int, dtype: str) -> tirx.PrimFunc:
    rows, size = k + 1, max(nnz, 1)

    @T.prim_func(private=True)
    def csr_correlate(a: T.Buffer((m, k), dtype), z: T.Buffer((m, n), dtype), row_start: T.Buffer((rows,), "int32"),
                      cols: T.Buffer((size,), "int32"), out: T.Buffer((size,), dtype)):
        T.func_attr({"tirx.noalias": True, "op_pattern": OPAQUE})   # never fused into its producers
        for r in range(k):
            for p in range(row_start[r], row_start[r + 1]):
                out[p] = T.cast(0, dtype)
                for i in range(m):
                    out[p] = out[p] + a[i, r] * z[i, cols[p]]

    return csr_correlate


def densify_kernel(k: int, n: int, nnz: int, dtype: str) -> tirx.PrimFunc:
    rows, size = k + 1, max(nnz, 1)

    @T.prim_func(private=True)
    def csr_densify(values: T.Buffer((size,), dtype), row_start: T.Buffer((rows,), "int32"),
                    cols: T.Buffer((size,), "int32"), w: T.Buffer((k, n), dtype)):
        T.func_attr({"tirx.noalias": True, "op_pattern": OPAQUE})
        for r in range(k):
            for j in range(n):
                w[r, j] = T.cast(0, dtype)
            for p in range(row_start[r], row_start[r + 1]):
                w[r, cols[p]] = w[r, cols[p]] + values[p]

    return csr_densify
