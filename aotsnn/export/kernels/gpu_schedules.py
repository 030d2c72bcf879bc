"""GPU (CUDA) schedules: thread-bound versions of the hand-written kernels, and a rule for the rest.

The event-driven and CSR kernels (aotsnn.export.kernels.event_matmul, sparse_matmul) are plain loops
that dlight cannot schedule; `gpu_version` replaces each by a TVMScript kernel with the same
signature and explicit thread bindings:

    event_matmul  one thread per output (i, j): out[i, j] = sum over k with x[i, k] != 0 of
                  x[i, k] * W[k, j], k ascending (the CPU kernel's order: the same sums); the
                  batched kernel does the same for each entry e (blockIdx.z)
    csr_scatter   one thread per output (i, j): for each active row r (ascending), binary search
                  j in the row's sorted columns and add every synapse found there (a repeated
                  column is a multapse); no atomics, so deterministic, same order as CPU
    csr_gather    one thread per row (hoisted: runs when parameters change)
    csr_densify   one thread per row (hoisted when the weights are parameters)
    csr_correlate one thread per synapse p: its row by binary search in row_start, then the sum
                  over the batch in the CPU kernel's order

`serial=True` builds the same kernels with serial loops in place of the thread bindings, so
their arithmetic can be checked against the CPU kernels on a machine without a GPU (tests).

ElementwiseGPU schedules the fused soma/synapse kernels (injective): intermediates inlined,
each output block's loops fused and bound to blocks of min(256, extent rounded up to a warp)
threads (dlight's Fallback rule would always use 1024, mostly idle for small populations).

RandomBitsGPU schedules the kernels of random bits (threefry2x32, aotsnn.components.random), which
must not be inlined: each thread computes every block of its output element, each intermediate
once, in registers (its docstring says why and how).
"""
from __future__ import annotations

from tvm import s_tir, tirx
from tvm.s_tir.dlight.analysis import normalize_prim_func
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
    return _event_matmul_gpu(0, m, k, n, dtype, serial)


def batched_event_matmul_gpu(b: int, m: int, k: int, n: int, dtype: str, serial: bool = False) -> tirx.PrimFunc:
    return _event_matmul_gpu(b, m, k, n, dtype, serial)


def _event_matmul_gpu(b: int, m: int, k: int, n: int, dtype: str, serial: bool) -> tirx.PrimFunc:
    """2-D (b = 0) or batched (x (b, m, k) @ W (b, k, n), entry e on blockIdx.z, 2-D views)."""
    bind, tpb = _binder(serial), _threads(n)
    blocks, entries = (n + tpb - 1) // tpb, max(b, 1)

    @T.macro
    def output(x, w, out, i, j):
        acc = T.alloc_buffer((1,), dtype, scope="local")
        if j < n:
            acc[0] = T.cast(0, dtype)
            for kk in range(k):
                if x[i, kk] != T.cast(0, dtype):
                    acc[0] = acc[0] + x[i, kk] * w[kk, j]
            out[i, j] = acc[0]

    @T.prim_func(private=True)
    def event_matmul(x: T.Buffer((m, k), dtype), w: T.Buffer((k, n), dtype), out: T.Buffer((m, n), dtype)):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        for i in bind(m, thread="blockIdx.y"):
            for bx in bind(blocks, thread="blockIdx.x"):
                for tx in bind(tpb, thread="threadIdx.x"):
                    output(x, w, out, i, bx * tpb + tx)

    @T.prim_func(private=True)
    def batched_event_matmul(x: T.Buffer((entries, m, k), dtype), w: T.Buffer((entries, k, n), dtype),
                             out: T.Buffer((entries, m, n), dtype)):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        for e in bind(entries, thread="blockIdx.z"):
            for i in bind(m, thread="blockIdx.y"):
                for bx in bind(blocks, thread="blockIdx.x"):
                    for tx in bind(tpb, thread="threadIdx.x"):
                        output(T.decl_buffer((m, k), dtype, data=x.data, elem_offset=e * m * k),
                               T.decl_buffer((k, n), dtype, data=w.data, elem_offset=e * k * n),
                               T.decl_buffer((m, n), dtype, data=out.data, elem_offset=e * m * n), i, bx * tpb + tx)

    return batched_event_matmul if b else event_matmul


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


def densify_gpu(k: int, n: int, nnz: int, dtype: str, serial: bool = False) -> tirx.PrimFunc:
    bind, tpb = _binder(serial), _threads(k)
    rows, size, blocks = k + 1, max(nnz, 1), (k + tpb - 1) // tpb

    @T.prim_func(private=True)
    def csr_densify(values: T.Buffer((size,), dtype), row_start: T.Buffer((rows,), "int32"),
                    cols: T.Buffer((size,), "int32"), w: T.Buffer((k, n), dtype)):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        for bx in bind(blocks, thread="blockIdx.x"):
            for tx in bind(tpb, thread="threadIdx.x"):
                if bx * tpb + tx < k:
                    for j in range(n):
                        w[bx * tpb + tx, j] = T.cast(0, dtype)
                    for p in range(row_start[bx * tpb + tx], row_start[bx * tpb + tx + 1]):
                        w[bx * tpb + tx, cols[p]] = w[bx * tpb + tx, cols[p]] + values[p]

    return csr_densify


def correlate_gpu(m: int, k: int, n: int, nnz: int, dtype: str, serial: bool = False) -> tirx.PrimFunc:
    bind, tpb = _binder(serial), _threads(nnz)
    rows, size, blocks = k + 1, max(nnz, 1), (max(nnz, 1) + tpb - 1) // tpb

    @T.prim_func(private=True)
    def csr_correlate(a: T.Buffer((m, k), dtype), z: T.Buffer((m, n), dtype), row_start: T.Buffer((rows,), "int32"),
                      cols: T.Buffer((size,), "int32"), out: T.Buffer((size,), dtype)):
        T.func_attr({"tirx.noalias": True, "tirx.is_scheduled": True})
        for bx in bind(blocks, thread="blockIdx.x"):
            for tx in bind(tpb, thread="threadIdx.x"):
                acc = T.alloc_buffer((1,), dtype, scope="local")
                lo = T.alloc_buffer((1,), "int32", scope="local")
                hi = T.alloc_buffer((1,), "int32", scope="local")
                if bx * tpb + tx < nnz:
                    lo[0] = 0
                    hi[0] = k
                    while lo[0] < hi[0]:            # the row r of synapse p: row_start[r] <= p < row_start[r + 1]
                        if row_start[(lo[0] + hi[0]) // 2 + 1] <= bx * tpb + tx:
                            lo[0] = (lo[0] + hi[0]) // 2 + 1
                        else:
                            hi[0] = (lo[0] + hi[0]) // 2
                    acc[0] = T.cast(0, dtype)
                    for i in range(m):
                        acc[0] = acc[0] + a[i, lo[0]] * z[i, cols[bx * tpb + tx]]
                    out[bx * tpb + tx] = acc[0]

    return csr_correlate


def gpu_version(name: str, func: tirx.PrimFunc, serial: bool = False) -> tirx.PrimFunc | None:
    """The thread-bound replacement of the hand-written kernel `name`; None for fused kernels."""
    buffers = list(func.params)
    shape = lambda b: tuple(int(d) for d in b.shape)
    dtype = str(buffers[-1].dtype)
    if name.startswith("event_matmul_"):
        (m, k), (_, n) = shape(buffers[0]), shape(buffers[1])
        return event_matmul_gpu(m, k, n, dtype, serial)
    if name.startswith("batched_event_matmul_"):
        (b, m, k), (_, _, n) = shape(buffers[0]), shape(buffers[1])
        return batched_event_matmul_gpu(b, m, k, n, dtype, serial)
    if name.startswith("csr_gather_"):
        (k, n), nnz = shape(buffers[0]), int(name.split("_")[-2])
        return gather_gpu(k, n, nnz, dtype, serial)
    if name.startswith("csr_scatter_"):
        (m, k), n, nnz = shape(buffers[0]), shape(buffers[-1])[1], int(name.split("_")[-2])
        return scatter_gpu(m, k, n, nnz, dtype, serial)
    if name.startswith("csr_densify_"):
        (k, n), nnz = shape(buffers[-1]), int(name.split("_")[-2])
        return densify_gpu(k, n, nnz, dtype, serial)
    if name.startswith("csr_correlate_"):
        (m, k), n, nnz = shape(buffers[0]), shape(buffers[1])[1], int(name.split("_")[-2])
        return correlate_gpu(m, k, n, nnz, dtype, serial)
    return None




def _bind_threads(sch: s_tir.Schedule, loop, extent: int | None):
    """Split `loop` into blockIdx.x x threadIdx.x (threads per block: _threads); the thread loop."""
    block, thread = sch.split(loop, factors=[None, MAX_THREADS if extent is None else _threads(extent)])
    sch.bind(block, "blockIdx.x")
    sch.bind(thread, "threadIdx.x")
    return thread


class ElementwiseGPU(GPUScheduleRule):
    """Injective kernels: inline intermediates, bind each output block's fused loop to threads."""

    def apply(self, func: tirx.PrimFunc, target, _tunable: bool):
        if not isinstance(func, tirx.PrimFunc) or not self.is_target_available(target):
            return None
        found = fused_output_loops(func, keep_scalar_blocks=True)
        if found is None:
            return None
        sch, blocks = found
        for (fused,), (extent,) in blocks:
            _bind_threads(sch, fused, extent)
        return sch


class RandomBitsGPU(GPUScheduleRule):
    """Kernels of random bits: one thread per output element computes all the blocks it reads.

    A threefry2x32 round reads its words more than once,

        x0 <- x0 + x1,   x1 <- rotl(x1, r) ^ x0        (rotl(x, r) = (x << r) | (x >> (32 - r)))

    so inlining the blocks into the output (ElementwiseGPU) multiplies the expression at every
    round, exponentially over threefry's 20 rounds. Here no block is inlined. Each output block's
    loops are fused and bound to threads as in ElementwiseGPU; then every other block, consumers first,
    is computed at the thread loop of the output that reads it (compute_at: only the elements that
    thread needs) into a "local" buffer, which TVM compacts to those elements (one, for a chain of
    elementwise blocks) and the device compiler keeps in registers. One kernel per PrimFunc, no
    device scratch memory, and every value is the one the CPU kernels compute (integer ops, and
    float ops in the same order). A block read by the threads of two outputs cannot be placed in
    one of them: such a kernel gets no schedule (None), as does one whose output is a reduction.
    """

    def apply(self, func: tirx.PrimFunc, target, _tunable: bool):
        if not isinstance(func, tirx.PrimFunc) or not self.is_target_available(target):
            return None
        sch = s_tir.Schedule(func)
        infos = normalize_prim_func(sch)
        if not infos:
            return None
        injective = {info.name: info.is_injective() for info in infos}
        root = sch.get_sblock("root")
        threads, home = [], {}                   # thread loops; block name -> index of its thread loop
        for block in sch.get_output_blocks(root):
            name = sch.get(block).name_hint
            if not injective.get(name, False):
                return None
            loops = sch.get_loops(block)
            fused = sch.add_unit_loop(block) if not loops else sch.fuse(*loops) if len(loops) > 1 else loops[0]
            extent = sch.get(fused).extent
            home[name] = len(threads)
            threads.append(_bind_threads(sch, fused, int(extent) if isinstance(extent, tirx.IntImm) else None))
        for block in reversed(sch.get_child_blocks(root)):
            name = sch.get(block).name_hint
            if name in home:
                continue
            readers = {home[sch.get(c).name_hint] for c in sch.get_consumers(block)}
            if len(readers) != 1:
                return None
            (home[name],) = readers
            try:
                sch.compute_at(block, threads[home[name]])
            except s_tir.ScheduleError:
                return None
            sch.set_scope(block, 0, "local")
        return sch
