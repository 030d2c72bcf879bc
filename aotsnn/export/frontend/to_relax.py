"""StableHLO -> TVM Relax importer: the primary compile path.

    import_stablehlo(text) -> IRModule with `main(*args) -> tuple` equivalent to the module

The walk (control flow, constant folding, op recipes) is shared with the ONNX exporter:
aotsnn.export.frontend.walk and the handler modules stablehlo_{elementwise,shape,linalg}.
This module is the Relax backend: each primitive becomes one Relax op, emitted in a dataflow
block with a BlockBuilder; the sparse synapse's products (aotsnn.export.frontend.intrinsics)
become the CSR kernels with run-time synapse indices. Afterwards every 2-D floating `x @ W` is put on the event-driven
or sparse CSR kernels (aotsnn.export.kernels.matmul_selection). TVM's bundled StableHLO frontend is not used: it knows
~20 ops and breaks on current jaxlib.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import tvm
from tvm import relax, topi

from aotsnn.export.kernels.exp_f32 import exp_f32
from aotsnn.export.kernels.matmul_selection import select_matmul_kernels
from aotsnn.export.kernels.sparse_matmul import MAX_SPARSE_DENSITY, correlate_kernel, densify_kernel, scatter_kernel
from aotsnn.export.frontend.intrinsics import intrinsic
from aotsnn.export.frontend.elementwise import HANDLERS as ELEMENTWISE
from aotsnn.export.frontend.linalg import HANDLERS as LINALG
from aotsnn.export.frontend.shape import HANDLERS as SHAPE
from aotsnn.export.frontend.values import Ops, Tensor
from aotsnn.export.frontend.walk import Walker, canonical_text

R = relax.op
HANDLERS = {**ELEMENTWISE, **SHAPE, **LINALG}

UNARY = {"negative": R.negative, "exp": R.exp, "log": R.log, "sqrt": R.sqrt, "rsqrt": R.rsqrt, "abs": R.abs,
         "tanh": R.tanh, "sigmoid": R.sigmoid, "floor": R.floor, "ceil": R.ceil, "round": R.round,
         "sin": R.sin, "cos": R.cos, "tan": R.tan, "atan": R.atan, "sign": R.sign,
         "logical_not": R.logical_not, "bitwise_not": R.bitwise_not, "isfinite": R.isfinite, "isnan": R.isnan}
BINARY = {"add": R.add, "subtract": R.subtract, "multiply": R.multiply, "divide": R.divide,
          "maximum": R.maximum, "minimum": R.minimum, "power": R.power, "mod": R.mod, "atan2": R.atan2,
          "logical_and": R.logical_and, "logical_or": R.logical_or, "logical_xor": R.logical_xor,
          "bitwise_and": R.bitwise_and, "bitwise_or": R.bitwise_or, "bitwise_xor": R.bitwise_xor,
          "equal": R.equal, "not_equal": R.not_equal, "less": R.less, "less_equal": R.less_equal,
          "greater": R.greater, "greater_equal": R.greater_equal,
          "left_shift": R.left_shift, "right_shift": R.right_shift}
REDUCE = {"sum": R.sum, "prod": R.prod, "max": R.max, "min": R.min}
CONV = {1: R.nn.conv1d, 2: R.nn.conv2d, 3: R.nn.conv3d}


class RelaxBackend:
    """Emits Relax ops with a BlockBuilder (see aotsnn.export.frontend.values.Backend)."""

    def __init__(self, sparse_threshold: float = MAX_SPARSE_DENSITY) -> None:
        self.bb = relax.BlockBuilder()
        self.sparse_threshold = sparse_threshold          # above it a sparse synapse runs on a dense matrix
        self.kernels: dict[str, relax.GlobalVar] = {}     # hand-written TIR kernels, one per shape

    def build(self, walker: Walker) -> tvm.IRModule:
        """Relax `main` for the walker's module (matmuls still plain `relax.matmul`)."""
        arg_types, _ = walker.signature()
        params = [relax.Var(f"arg{i}", relax.TensorType(shape, dtype)) for i, (shape, dtype) in enumerate(arg_types)]
        ops = Ops(self)
        with self.bb.function("main", params):
            with self.bb.dataflow():
                results = walker.run(ops, [Tensor(p, s, d) for p, (s, d) in zip(params, arg_types)])
                out = self.bb.emit_output(relax.Tuple([ops.tensor(r).value for r in results]))
            self.bb.emit_func_output(out)
        return self.bb.get()

    def _emit(self, expr):
        return self.bb.emit(expr)

    def constant(self, value: np.ndarray):
        dtype = "bfloat16" if value.dtype.name == "bfloat16" else value.dtype.name
        return relax.const(value.astype(np.float32) if dtype == "bfloat16" else value, dtype)

    def unary(self, name: str, x: Tensor):
        if name == "exp" and x.dtype == "float32":     # vectorisable ~1 ulp exp (aotsnn.export.kernels.exp_f32)
            return self.bb.emit(self.bb.call_te(exp_f32, x.value))
        if name == "exp" and x.dtype in ("float16", "bfloat16"):   # the same in float32, rounded once to x's type
            wide = self._emit(R.astype(x.value, "float32"))
            return self._emit(R.astype(self.bb.emit(self.bb.call_te(exp_f32, wide)), x.dtype))
        return self._emit(UNARY[name](x.value))

    def binary(self, name: str, a: Tensor, b: Tensor):
        if name == "not_equal" and a.dtype.startswith(("float", "bfloat")):   # TVM's != is false for NaN
            return self._emit(R.logical_not(self._emit(R.equal(a.value, b.value))))
        return self._emit(BINARY[name](a.value, b.value))

    def where(self, cond: Tensor, a: Tensor, b: Tensor):
        return self._emit(R.where(cond.value, a.value, b.value))

    def astype(self, x: Tensor, dtype: str):
        return self._emit(R.astype(x.value, dtype))

    def bitcast(self, x: Tensor, dtype: str):
        return self.bb.emit(self.bb.call_te(topi.reinterpret, x.value, dtype))

    def reshape(self, x: Tensor, shape):
        return self._emit(R.reshape(x.value, shape))

    def permute(self, x: Tensor, perm):
        return self._emit(R.permute_dims(x.value, list(perm)))

    def broadcast_to(self, x: Tensor, shape):
        return self._emit(R.broadcast_to(x.value, shape))

    def slice(self, x: Tensor, starts, limits, strides):
        return self._emit(R.strided_slice(x.value, axes=list(range(len(starts))), begin=list(starts),
                                          end=list(limits), strides=list(strides)))

    def reverse(self, x: Tensor, axes):
        value = x.value
        for axis in axes:
            value = self._emit(R.flip(value, axis))
        return value

    def concat(self, xs: Sequence[Tensor], axis: int):
        return self._emit(R.concat([x.value for x in xs], axis=axis))

    def take(self, x: Tensor, indices: Tensor, axis: int):
        return self._emit(R.take(x.value, indices.value, axis=axis))

    def pad(self, x: Tensor, low, high, value: float):
        widths = [w for pair in zip(low, high) for w in pair]
        return self._emit(R.nn.pad(x.value, widths, "constant", float(value)))

    def matmul(self, a: Tensor, b: Tensor, out_dtype: str):
        return self._emit(R.matmul(a.value, b.value, out_dtype=out_dtype))

    def reduce(self, kind: str, x: Tensor, axes):
        return self._emit(REDUCE[kind](x.value, axis=list(axes)))

    def csr_matmul(self, x: Tensor, weights: Tensor, pre_start: Tensor, post_index: Tensor, n_out: int):
        (m, k), nnz = x.shape, weights.shape[0]
        if nnz > self.sparse_threshold * k * n_out:     # dense enough that the dense kernel is faster
            densify = self._kernel(f"csr_densify_{k}x{n_out}_{nnz}_{x.dtype}",
                                   lambda: densify_kernel(k, n_out, nnz, x.dtype))
            w = self._emit(relax.call_tir(densify, [weights.value, pre_start.value, post_index.value],
                                          relax.TensorType((k, n_out), x.dtype)))
            return self._emit(R.matmul(x.value, w))
        kernel = self._kernel(f"csr_scatter_{m}x{k}x{n_out}_{nnz}_{x.dtype}",
                              lambda: scatter_kernel(m, k, n_out, nnz, x.dtype))
        return self._emit(relax.call_tir(kernel, [x.value, weights.value, pre_start.value, post_index.value],
                                         relax.TensorType((m, n_out), x.dtype)))

    def csr_correlate(self, a: Tensor, z: Tensor, pre_start: Tensor, post_index: Tensor):
        (m, k), n, nnz = a.shape, z.shape[1], post_index.shape[0]
        kernel = self._kernel(f"csr_correlate_{m}x{k}x{n}_{nnz}_{a.dtype}",
                              lambda: correlate_kernel(m, k, n, nnz, a.dtype))
        return self._emit(relax.call_tir(kernel, [a.value, z.value, pre_start.value, post_index.value],
                                         relax.TensorType((nnz,), a.dtype)))

    def _kernel(self, name: str, make) -> relax.GlobalVar:
        if name not in self.kernels:
            self.kernels[name] = self.bb.add_func(make(), name)
        return self.kernels[name]

    def conv(self, x: Tensor, w: Tensor, strides, padding, dilation, groups: int, out_dtype: str):
        pads = [lo for lo, _ in padding] + [hi for _, hi in padding]
        return self._emit(CONV[len(strides)](x.value, w.value, strides=list(strides), padding=pads,
                                             dilation=list(dilation), groups=groups, out_dtype=out_dtype))


def import_stablehlo(text: str, topology: dict[int, np.ndarray] | None = None,
                     sparse_threshold: float = MAX_SPARSE_DENSITY) -> tvm.IRModule:
    """Relax IRModule with `main(*args) -> tuple` equivalent to the StableHLO module `text`.

    `topology` maps argument indices to values fixed at compile time (connection masks); a
    product with one of at most `sparse_threshold` density becomes CSR kernels. A sparse synapse
    (a list of synapses) denser than `sparse_threshold` is scattered into a dense matrix (hoisted
    when its weights are parameters) and runs on the dense event-driven kernel.
    """
    return select_matmul_kernels(RelaxBackend(sparse_threshold).build(Walker(text, HANDLERS, intrinsic)), topology, sparse_threshold)


__all__ = ["import_stablehlo", "canonical_text", "HANDLERS"]
