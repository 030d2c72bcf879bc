"""GPU (CUDA) schedules: thread-bound versions of the hand-written kernels, and a rule for the rest.

The event-driven and CSR kernels (aotsnn.export.kernels.event_matmul, sparse_matmul) are plain loops
that dlight cannot schedule; `gpu_version` replaces each by a TVMScript kernel with the same
signature and explicit thread bindings:

    event_matmul  one thread per output (i, j): out[i, j] = sum over k with x[i, k] != 0 of
                  x[i, k] * W[k, j], k ascending (the CPU kernel's order: the same sums)
    csr_scatter   one thread per output (i, j): for each active row r (ascending), binary search
                  j in the row's sorted columns and add every synapse found there (a repeated
                  column is a multapse); no atomics, so deterministic, same order as CPU
    csr_gather    one thread per row (hoisted: runs when parameters change)
    csr_correlate one thread per row r: c[p] = sum over i (ascending) of a[i, r] z[i, cols[p]] for
                  each synapse p of the row (a plastic sparse synapse's Hebbian product)

`serial=True` builds the same kernels with serial loops in place of the thread bindings, so
their arithmetic can be checked against the CPU kernels on a machine without a GPU (tests).

ElementwiseGPU schedules the fused soma/synapse kernels (injective): intermediates inlined,
each output block's loops fused and bound to blocks of min(256, extent rounded up to a warp)
threads (dlight's Fallback rule would always use 1024, mostly idle for small populations).
"""
from __future__ import annotations

from tvm import tirx
from tvm.s_tir.dlight.gpu.base import GPUScheduleRule
from tvm.script import tirx as T

from aotsnn.export.kernels.cpu_schedules import fused_output_loops

MAX_THREADS = 256
WARP = 32


def _threads(n: int) -> int:
    """Threads per block for n independent outputs."""
    return max(WARP, min(MAX_THREADS, (n + WARP - 1) // WARP * WARP))


def _binder(serial: bool):
    return (lambda n, thread: T.serial(n)) if serial else T.thread_binding


def event_matmul_gpu(m: int, k: int, n: int, dtype: str, serial: bool = False) -> tirx.PrimFunc:
    bind, tpb = _binder(serial), _threads(n)
    blocks = (n + tpb - 1) // tpb

    @T.prim_func(private=True)
    def event_matmul(x: T.Buffer((m, k), dtype), w: T.Buffer((k, n), dtype), out: T.Buffer((m, n), dtype)):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        for i in bind(m, thread="blockIdx.y"):
            for bx in bind(blocks, thread="blockIdx.x"):
                for tx in bind(tpb, thread="threadIdx.x"):
                    acc = T.alloc_buffer((1,), dtype, scope="local")
                    if bx * tpb + tx < n:
                        acc[0] = T.cast(0, dtype)
                        for kk in range(k):
                            if x[i, kk] != T.cast(0, dtype):
                                acc[0] = acc[0] + x[i, kk] * w[kk, bx * tpb + tx]
                        out[i, bx * tpb + tx] = acc[0]

    return event_matmul


def gather_gpu(k: int, n: int, nnz: int, dtype: str, serial: bool = False) -> tirx.PrimFunc:
    bind, tpb = _binder(serial), _threads(k)
    rows, size, blocks = k + 1, max(nnz, 1), (k + tpb - 1) // tpb

    @T.prim_func(private=True)
    def csr_gather(w: T.Buffer((k, n), dtype), mask: T.Buffer((k, n), dtype), row_start: T.Buffer((rows,), "int32"),
                   cols: T.Buffer((size,), "int32"), values: T.Buffer((size,), dtype)):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        for bx in bind(blocks, thread="blockIdx.x"):
            for tx in bind(tpb, thread="threadIdx.x"):
                if bx * tpb + tx < k:
                    for p in range(row_start[bx * tpb + tx], row_start[bx * tpb + tx + 1]):
                        values[p] = w[bx * tpb + tx, cols[p]] * mask[bx * tpb + tx, cols[p]]

    return csr_gather


def scatter_gpu(m: int, k: int, n: int, nnz: int, dtype: str, serial: bool = False) -> tirx.PrimFunc:
    bind, tpb = _binder(serial), _threads(n)
    rows, size, blocks = k + 1, max(nnz, 1), (n + tpb - 1) // tpb

    @T.prim_func(private=True)
    def csr_scatter(x: T.Buffer((m, k), dtype), values: T.Buffer((size,), dtype),
                    row_start: T.Buffer((rows,), "int32"), cols: T.Buffer((size,), "int32"),
                    out: T.Buffer((m, n), dtype)):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        for i in bind(m, thread="blockIdx.y"):
            for bx in bind(blocks, thread="blockIdx.x"):
                for tx in bind(tpb, thread="threadIdx.x"):
                    acc = T.alloc_buffer((1,), dtype, scope="local")
                    lo = T.alloc_buffer((1,), "int32", scope="local")
                    hi = T.alloc_buffer((1,), "int32", scope="local")
                    if bx * tpb + tx < n:
                        acc[0] = T.cast(0, dtype)
                        for r in range(k):
                            if x[i, r] != T.cast(0, dtype):
                                lo[0] = row_start[r]
                                hi[0] = row_start[r + 1]
                                while lo[0] < hi[0]:        # first p of row r with cols[p] >= j
                                    if cols[(lo[0] + hi[0]) // 2] < bx * tpb + tx:
                                        lo[0] = (lo[0] + hi[0]) // 2 + 1
                                    else:
                                        hi[0] = (lo[0] + hi[0]) // 2
                                hi[0] = row_start[r + 1]
                                while lo[0] < hi[0]:        # every synapse to j (several: multapses)
                                    if cols[lo[0]] == bx * tpb + tx:
                                        acc[0] = acc[0] + x[i, r] * values[lo[0]]
                                        lo[0] = lo[0] + 1
                                    else:
                                        hi[0] = lo[0]
                        out[i, bx * tpb + tx] = acc[0]

    return csr_scatter


def correlate_gpu(m: int, k: int, n: int, nnz: int, dtype: str, serial: bool = False) -> tirx.PrimFunc:
    bind, tpb = _binder(serial), _threads(k)
    rows, size, blocks = k + 1, max(nnz, 1), (k + tpb - 1) // tpb

    @T.prim_func(private=True)
    def csr_correlate(a: T.Buffer((m, k), dtype), z: T.Buffer((m, n), dtype), row_start: T.Buffer((rows,), "int32"),
                      cols: T.Buffer((size,), "int32"), out: T.Buffer((size,), dtype)):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        for bx in bind(blocks, thread="blockIdx.x"):
            for tx in bind(tpb, thread="threadIdx.x"):
                acc = T.alloc_buffer((1,), dtype, scope="local")
                if bx * tpb + tx < k:
                    for p in range(row_start[bx * tpb + tx], row_start[bx * tpb + tx + 1]):
                        acc[0] = T.cast(0, dtype)
                        for i in range(m):
                            acc[0] = acc[0] + a[i, bx * tpb + tx] * z[i, cols[p]]
                        out[p] = acc[0]

    return csr_correlate


def gpu_version(name: str, func: tirx.PrimFunc, serial: bool = False) -> tirx.PrimFunc | None:
    """The thread-bound replacement of the hand-written kernel `name`; None for fused kernels."""
    buffers = list(func.params)
    shape = lambda b: tuple(int(d) for d in b.shape)
    dtype = str(buffers[-1].dtype)
    if name.startswith("event_matmul_"):
        (m, k), (_, n) = shape(buffers[0]), shape(buffers[1])
        return event_matmul_gpu(m, k, n, dtype, serial)
    if name.startswith("csr_gather_"):
        (k, n), nnz = shape(buffers[0]), int(name.split("_")[-2])
        return gather_gpu(k, n, nnz, dtype, serial)
    if name.startswith("csr_scatter_"):
        (m, k), n, nnz = shape(buffers[0]), shape(buffers[-1])[1], int(name.split("_")[-2])
        return scatter_gpu(m, k, n, nnz, dtype, serial)
    if name.startswith("csr_correlate_"):
        (m, k), n, nnz = shape(buffers[0]), shape(buffers[1])[1], int(name.split("_")[-2])
        return correlate_gpu(m, k, n, nnz, dtype, serial)
    return None


class ElementwiseGPU(GPUScheduleRule):
    """Injective kernels: inline intermediates, bind each output block's fused loop to threads."""

    def apply(self, func: tirx.PrimFunc, target, _tunable: bool):
        if not isinstance(func, tirx.PrimFunc) or not self.is_target_available(target):
            return None
        found = fused_output_loops(func, keep_scalar_blocks=True)
        if found is None:
            return None
        sch, loops = found
        for fused, extent in loops:
            block, thread = sch.split(fused, factors=[None, MAX_THREADS if extent is None else _threads(extent)])
            sch.bind(block, "blockIdx.x")
            sch.bind(thread, "threadIdx.x")
        return sch
