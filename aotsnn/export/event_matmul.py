"""Event-driven matrix product: the kernel for `x @ W` where x is mostly zeros (spikes).

    out[i, :] = sum_k x[i, k] * W[k, :]        over the k with x[i, k] != 0 only

Written as an axpy over rows of W (j innermost: contiguous, vectorised by LLVM), it reads only
the rows of W whose presynaptic input is non-zero; for spike vectors at a few percent activity
that is a few percent of the weight traffic of a dense product. The k order of accumulation is
the same as a dense row-by-row product, and skipped terms are exact zeros (for finite W), so the
result equals the dense kernel's. Dense x costs one well-predicted branch per row.
"""
from __future__ import annotations

from tvm import tirx
from tvm.script import tirx as T


def event_matmul_kernel(m: int, k: int, n: int, dtype: str) -> tirx.PrimFunc:
    """PrimFunc (x: (m, k), w: (k, n)) -> out: (m, n) in `dtype`."""

    @T.prim_func(private=True)
    def event_matmul(x: T.Buffer((m, k), dtype), w: T.Buffer((k, n), dtype), out: T.Buffer((m, n), dtype)):
        T.func_attr({"tirx.noalias": True})
        for i in range(m):
            for j in range(n):
                out[i, j] = T.cast(0, dtype)
            for kk in range(k):
                if x[i, kk] != T.cast(0, dtype):
                    for j in range(n):
                        out[i, j] = out[i, j] + x[i, kk] * w[kk, j]

    return event_matmul
