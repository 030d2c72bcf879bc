"""Put every 2-D (and batched 3-D) floating `x @ W` of a Relax module on aotsnn's hand-written kernels.

    x @ (W * mask), mask a compile-time topology argument with density <= sparse_threshold
        -> csr_gather (reads only parameters: hoisted) + csr_scatter   (aotsnn.export.kernels.sparse_matmul)
    any other x (m, k) @ W (k, n) in one float dtype
        -> event_matmul: skips the rows of W whose input is 0        (aotsnn.export.kernels.event_matmul)
    x (b, m, k) @ W (b, k, n), one W per batch entry (per-sample plastic synapses)
        -> batched_event_matmul: event_matmul per entry

Spike inputs are mostly zeros, so both read only the rows of W that a spike selects; this is
the main performance path of a step. Both compile paths (StableHLO and ONNX) import to Relax
with `relax.matmul` and run this rewrite afterwards, so they get the same kernels.
"""
from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

from aotsnn.export.kernels.event_matmul import batched_event_matmul_kernel, event_matmul_kernel
from aotsnn.export.kernels.sparse_matmul import MAX_SPARSE_DENSITY, csr_of, gather_kernel, scatter_kernel


@relax.expr_functor.mutator
class _MatmulKernels(relax.PyExprMutator):
    def __init__(self, mod: tvm.IRModule, topology: dict[int, np.ndarray], sparse_threshold: float) -> None:
        super().__init__(mod)
        self.topology, self.sparse_threshold = topology, sparse_threshold
        self.kernels: dict[str, relax.GlobalVar] = {}
        self.params: dict = {}

    def rewrite(self, func: relax.Function) -> relax.Function:
        self.params = {p: i for i, p in enumerate(func.params)}
        return self.visit_expr(func)

    def visit_call_(self, call: relax.Call) -> relax.Expr:
        call = super().visit_call_(call)
        if getattr(call.op, "name", "") != "relax.matmul":
            return call
        x, w = call.args
        tx, tw, out = x.ty, w.ty, self.builder_.normalize(call).ty
        if not (tx.dtype == tw.dtype == out.dtype and str(out.dtype).startswith(("float", "bfloat"))):
            return call
        if len(tx.shape) == len(tw.shape) == 3 and int(tx.shape[0]) == int(tw.shape[0]):
            (b, m, k), n, dtype = (int(d) for d in tx.shape), int(tw.shape[2]), str(out.dtype)
            kernel = self._kernel(f"batched_event_matmul_{b}x{m}x{k}x{n}_{dtype}",
                                  lambda: batched_event_matmul_kernel(b, m, k, n, dtype))
            return relax.call_tir(kernel, [x, w], relax.TensorType((b, m, n), dtype))
        if not (len(tx.shape) == 2 and len(tw.shape) == 2):
            return call
        (m, k), n, dtype = (int(d) for d in tx.shape), int(tw.shape[1]), str(out.dtype)
        masked = self._masked_weights(w)
        if masked is not None:
            return self._sparse(x, *masked, m, k, n, dtype)
        kernel = self._kernel(f"event_matmul_{m}x{k}x{n}_{dtype}", lambda: event_matmul_kernel(m, k, n, dtype))
        return relax.call_tir(kernel, [x, w], relax.TensorType((m, n), dtype))

    def _masked_weights(self, w: relax.Expr):
        """(W, mask, pattern) when `w` is W * mask with a sparse enough compile-time mask."""
        value = self.lookup_binding(w) if isinstance(w, relax.Var) else None
        if not (isinstance(value, relax.Call) and getattr(value.op, "name", "") == "relax.multiply"):
            return None
        a, b = value.args
        for weights, mask in ((a, b), (b, a)):
            pattern = self.topology.get(self.params.get(mask, -1))
            if pattern is not None and tuple(pattern.shape) == tuple(int(d) for d in w.ty.shape) \
                    and np.count_nonzero(pattern) <= self.sparse_threshold * pattern.size:
                return weights, mask, pattern
        return None

    def _sparse(self, x, weights, mask, pattern: np.ndarray, m: int, k: int, n: int, dtype: str):
        row_start, cols = csr_of(pattern)
        nnz = len(cols)
        suffix = f"{k}x{n}_{nnz}_{dtype}"
        gather = self._kernel(f"csr_gather_{suffix}", lambda: gather_kernel(k, n, nnz, dtype))
        scatter = self._kernel(f"csr_scatter_{m}x{suffix}", lambda: scatter_kernel(m, k, n, nnz, dtype))
        row_start_c = relax.const(row_start, "int32")
        cols_c = relax.const(cols if nnz else np.zeros(1, np.int32), "int32")
        values = self.builder_.emit(relax.call_tir(gather, [weights, mask, row_start_c, cols_c],
                                                   relax.TensorType((max(nnz, 1),), dtype)))
        return relax.call_tir(scatter, [x, values, row_start_c, cols_c], relax.TensorType((m, n), dtype))

    def _kernel(self, name: str, make) -> relax.GlobalVar:
        if name not in self.kernels:
            self.kernels[name] = self.builder_.add_func(make(), name)
        return self.kernels[name]


def select_matmul_kernels(mod: tvm.IRModule, topology: dict[int, np.ndarray] | None = None,
                          sparse_threshold: float = MAX_SPARSE_DENSITY) -> tvm.IRModule:
    """`mod` with its 2-D floating matmuls on the event-driven (or sparse CSR) kernels.

    `topology` maps indices of main's parameters to their compile-time values (connection masks).
    """
    rewriter = _MatmulKernels(mod, topology or {}, sparse_threshold)
    for gv, func in list(mod.functions_items()):
        if isinstance(func, relax.Function):
            rewriter.builder_.update_func(gv, rewriter.rewrite(func))
    return rewriter.builder_.get()
