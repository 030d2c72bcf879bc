"""StableHLO -> TVM Relax importer.

Walks a StableHLO module (text, as `jax.export` produces it) with jaxlib's own MLIR bindings
and builds a Relax function `main` with the same positional arguments and a tuple of the same
results. `func.call`s to private functions are inlined. An op that is not supported raises
ExportError naming the op and its source location (the jax `named_scope` survives there).

TVM's bundled StableHLO frontend is not used: it knows ~20 ops and breaks on current jaxlib.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import tvm
from jax._src.interpreters import mlir as jax_mlir
from jaxlib.mlir import ir
from jaxlib.mlir.dialects import stablehlo
from tvm import relax
from tvm.ir.expr import GenericConst as Constant

from aotsnn.export.errors import ExportError
from aotsnn.export.event_matmul import event_matmul_kernel
from aotsnn.export.exp_kernel import exp_f32
from aotsnn.export.sparse_matmul import MAX_SPARSE_DENSITY, csr_of, gather_kernel, scatter_kernel

R = relax.op

ELEMENT_TYPES = {"f64": "float64", "f32": "float32", "f16": "float16", "bf16": "bfloat16",
                 "i1": "bool", "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64",
                 "ui8": "uint8", "ui16": "uint16", "ui32": "uint32", "ui64": "uint64"}

UNARY = {"negate": R.negative, "exponential": R.exp, "log": R.log, "sqrt": R.sqrt,
         "rsqrt": R.rsqrt, "abs": R.abs, "tanh": R.tanh, "logistic": R.sigmoid, "floor": R.floor,
         "ceil": R.ceil, "sign": R.sign, "round_nearest_even": R.round, "sine": R.sin,
         "cosine": R.cos, "not": R.logical_not, "exponential_minus_one": lambda x: R.subtract(R.exp(x), relax.const(1, x.struct_info.dtype if hasattr(x, "struct_info") else "float32"))}
BINARY = {"add": R.add, "subtract": R.subtract, "multiply": R.multiply, "divide": R.divide,
          "maximum": R.maximum, "minimum": R.minimum, "power": R.power, "remainder": R.mod,
          "and": R.logical_and, "or": R.logical_or, "atan2": R.atan2 if hasattr(R, "atan2") else None}
COMPARE = {"EQ": R.equal, "NE": R.not_equal, "GT": R.greater, "GE": R.greater_equal,
           "LT": R.less, "LE": R.less_equal}
REDUCE = {"stablehlo.add": (R.sum, R.add, 0.0), "stablehlo.maximum": (R.max, R.maximum, -np.inf),
          "stablehlo.minimum": (R.min, R.minimum, np.inf), "stablehlo.multiply": (R.prod, R.multiply, 1.0)}


ELEMENTWISE = {*UNARY, *BINARY, "compare", "select", "clamp", "convert"}


class Splat:
    """A scalar constant broadcast to `shape`, not yet emitted."""

    def __init__(self, scalar: Constant, shape: tuple[int, ...]) -> None:
        self.scalar, self.shape = scalar, tuple(shape)


def tensor_type(mlir_type: ir.Type) -> tuple[tuple[int, ...], str]:
    """(shape, dtype) of a ranked MLIR tensor type."""
    ranked = ir.RankedTensorType(mlir_type)
    element = str(ranked.element_type)
    if element not in ELEMENT_TYPES:
        raise ExportError(f"unsupported element type {element} in {mlir_type}")
    return tuple(ranked.shape), ELEMENT_TYPES[element]


def constant_value(attr: ir.Attribute, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """The numpy value of a dense constant attribute."""
    dense = ir.DenseElementsAttr(attr)
    np_dtype = np.float32 if dtype == "bfloat16" else np.dtype(dtype)
    if dense.is_splat:
        return np.full(shape, dense.get_splat_value().value, dtype=np_dtype)
    return np.asarray(np.array(dense), dtype=np_dtype).reshape(shape)


class StableHLOImporter:
    """Translate one StableHLO module into a Relax IRModule with a function `main`."""

    def __init__(self, text: str, topology: dict[int, np.ndarray] | None = None,
                 sparse_threshold: float = MAX_SPARSE_DENSITY) -> None:
        """`topology`: main's argument index -> value, for arguments fixed at compile time (masks);
        a product with a mask whose density is at most `sparse_threshold` uses CSR kernels."""
        self.topology = topology or {}
        self.sparse_threshold = sparse_threshold
        self.values: dict = {}
        self.context = jax_mlir.make_ir_context()
        with self.context:
            try:
                self.module = ir.Module.parse(text)
            except ir.MLIRError as exc:
                raise ExportError(f"cannot parse the StableHLO module: {exc}") from exc
        self.functions = {op.attributes["sym_name"].value: op for op in self.module.body.operations
                          if op.operation.name == "func.func"}
        self.builder = relax.BlockBuilder()
        self.kernels: dict[str, relax.GlobalVar] = {}
        self.handlers: dict[str, Callable] = {
            "stablehlo.constant": self._constant, "stablehlo.broadcast_in_dim": self._broadcast_in_dim,
            "stablehlo.dot_general": self._dot_general, "stablehlo.compare": self._compare,
            "stablehlo.select": self._select, "stablehlo.convert": self._convert,
            "stablehlo.reshape": self._reshape, "stablehlo.transpose": self._transpose,
            "stablehlo.reduce": self._reduce, "stablehlo.concatenate": self._concatenate,
            "stablehlo.slice": self._slice, "stablehlo.clamp": self._clamp, "stablehlo.iota": self._iota,
            "func.call": self._call, "stablehlo.exponential": self._exponential,
        }

    def translate(self) -> tvm.IRModule:
        main = self.functions.get("main")
        if main is None:
            raise ExportError("the StableHLO module has no public function 'main'")
        block = main.regions[0].blocks[0]
        self.topology_args = {block.arguments[i]: value for i, value in self.topology.items()}
        params = []
        for i, arg in enumerate(block.arguments):
            shape, dtype = tensor_type(arg.type)
            params.append(relax.Var(f"arg{i}", relax.TensorType(shape, dtype)))
        with self.context, self.builder.function("main", params):
            with self.builder.dataflow():
                results = self._function_body(main, params)
                out = self.builder.emit_output(relax.Tuple(results))
            self.builder.emit_func_output(out)
        return self.builder.get()

    # -- walking ----------------------------------------------------------------------------
    def _function_body(self, func_op, args: list) -> list:
        block = func_op.regions[0].blocks[0]
        values = {self._key(a): v for a, v in zip(block.arguments, args)}
        outer, self.values = self.values, values
        for op in block.operations:
            name = op.operation.name
            if name == "func.return" or name == "stablehlo.return":
                self.values = outer
                return [self._materialize(values[self._key(o)]) for o in op.operands]
            operands = [values[self._key(o)] for o in op.operands]
            if name.removeprefix("stablehlo.") in ELEMENTWISE:
                operands = self._scalarize(operands)
            else:
                operands = [self._materialize(x) for x in operands]
            handler = self.handlers.get(name)
            if handler is None:
                short = name.removeprefix("stablehlo.")
                if short in UNARY:
                    handler = lambda op, xs, f=UNARY[short]: f(xs[0])
                elif short in BINARY and BINARY[short] is not None:
                    handler = lambda op, xs, f=BINARY[short]: f(xs[0], xs[1])
                else:
                    raise ExportError(f"unsupported op '{name}' at {op.location}; supported: "
                                      f"{sorted(set(self.handlers) | {'stablehlo.' + k for k in (*UNARY, *BINARY)})}")
            try:
                result = handler(op, operands)
            except ExportError:
                raise
            except Exception as exc:  # a TVM op refused the operands: say which StableHLO op
                raise ExportError(f"cannot translate '{name}' at {op.location}: {exc}") from exc
            results = result if isinstance(result, list) else [result]
            for res, value in zip(op.results, results):
                keep = isinstance(value, (relax.Var, Constant)) or self._splat_of(value) is not None
                values[self._key(res)] = value if keep else self.builder.emit(value)
        raise ExportError(f"function {func_op.attributes['sym_name']} has no return")

    @staticmethod
    def _key(value: ir.Value):
        return value

    # A broadcast of a scalar constant is kept as a pending `Splat` rather than emitted: where an
    # elementwise op has a full-shaped operand beside it, it becomes a scalar immediate inside the
    # fused kernel instead of a constant tensor passed to the kernel at run time.
    @staticmethod
    def _splat_of(value):
        return value if isinstance(value, Splat) else None

    def _materialize(self, value):
        if isinstance(value, Splat):
            return self.builder.emit(R.broadcast_to(value.scalar, value.shape))
        return value

    def _scalarize(self, operands: list) -> list:
        if all(isinstance(x, Splat) for x in operands):
            return [self._materialize(x) for x in operands]
        return [x.scalar if isinstance(x, Splat) else x for x in operands]

    @staticmethod
    def _result_type(op) -> tuple[tuple[int, ...], str]:
        return tensor_type(op.results[0].type)

    # -- op handlers --------------------------------------------------------------------------
    def _constant(self, op, xs):
        shape, dtype = self._result_type(op)
        value = constant_value(op.attributes["value"], shape, dtype)
        return relax.const(value, dtype)

    def _broadcast_in_dim(self, op, xs):
        shape, _ = self._result_type(op)
        dims = list(ir.DenseI64ArrayAttr(op.attributes["broadcast_dimensions"]))
        x = xs[0]
        if isinstance(x, Constant) and x.value.numpy().size == 1:
            scalar = x.value.numpy().reshape(())
            return Splat(relax.const(scalar, str(scalar.dtype) if x.value.dtype != "bfloat16" else "bfloat16"), shape)
        if dims != sorted(dims):
            order = sorted(range(len(dims)), key=lambda i: dims[i])
            x = R.permute_dims(x, order)
            dims = sorted(dims)
        in_shape = tensor_type(op.operands[0].type)[0]
        in_shape = [in_shape[i] for i in sorted(range(len(in_shape)), key=lambda i: list(ir.DenseI64ArrayAttr(op.attributes["broadcast_dimensions"]))[i])]
        expanded = [1] * len(shape)
        for d, size in zip(dims, in_shape):
            expanded[d] = size
        if tuple(expanded) != tuple(in_shape):
            x = R.reshape(x, expanded)
        return x if tuple(expanded) == tuple(shape) else R.broadcast_to(x, shape)

    def _dot_general(self, op, xs):
        numbers = stablehlo.DotDimensionNumbers(op.attributes["dot_dimension_numbers"])
        lhs_b, rhs_b = list(numbers.lhs_batching_dimensions), list(numbers.rhs_batching_dimensions)
        lhs_c, rhs_c = list(numbers.lhs_contracting_dimensions), list(numbers.rhs_contracting_dimensions)
        lhs_shape, rhs_shape = tensor_type(op.operands[0].type)[0], tensor_type(op.operands[1].type)[0]
        out_shape, out_dtype = self._result_type(op)
        lhs_f = [d for d in range(len(lhs_shape)) if d not in lhs_b + lhs_c]
        rhs_f = [d for d in range(len(rhs_shape)) if d not in rhs_b + rhs_c]
        size = lambda shape, dims: int(np.prod([shape[d] for d in dims])) if dims else 1
        batch, m, k, n = size(lhs_shape, lhs_b), size(lhs_shape, lhs_f), size(lhs_shape, lhs_c), size(rhs_shape, rhs_f)
        if not lhs_b and lhs_c == [1] and rhs_c == [0] and len(lhs_shape) == 2 and len(rhs_shape) == 2 \
                and out_dtype.startswith(("float", "bfloat")):
            sparse = self._masked_weights(op.operands[1])
            if sparse is not None:
                return self._sparse_matmul(xs[0], *sparse, m, k, n, out_dtype)
            return self._event_matmul(xs[0], xs[1], m, k, n, out_dtype)
        lhs = self._permute_reshape(xs[0], lhs_shape, lhs_b + lhs_f + lhs_c, ([batch] if lhs_b else []) + [m, k])
        rhs = self._permute_reshape(xs[1], rhs_shape, rhs_b + rhs_c + rhs_f, ([batch] if rhs_b else []) + [k, n])
        product = R.matmul(lhs, rhs, out_dtype=out_dtype)
        flat = ([batch] if lhs_b else []) + [m, n]
        return product if list(out_shape) == flat else R.reshape(product, out_shape)

    def _event_matmul(self, x, w, m: int, k: int, n: int, dtype: str):
        """x (m, k) @ w (k, n) through the event-driven kernel (aotsnn.export.event_matmul)."""
        kernel = self._kernel(f"event_matmul_{m}x{k}x{n}_{dtype}", lambda: event_matmul_kernel(m, k, n, dtype))
        return relax.call_tir(kernel, [x, w], relax.TensorType((m, n), dtype))

    def _masked_weights(self, value: ir.Value):
        """(W, mask, mask value) when `value` is W * mask with a compile-time mask sparse enough."""
        owner = value.owner
        if getattr(owner, "name", "") != "stablehlo.multiply":
            return None
        a, b = owner.operands
        for weights, mask in ((a, b), (b, a)):
            if mask in self.topology_args:
                pattern = self.topology_args[mask]
                if np.count_nonzero(pattern) <= self.sparse_threshold * pattern.size:
                    return self.values[weights], self.values[mask], pattern
        return None

    def _sparse_matmul(self, x, weights, mask, pattern: np.ndarray, m: int, k: int, n: int, dtype: str):
        """x @ (W * mask) with the mask's pattern as CSR constants (aotsnn.export.sparse_matmul)."""
        row_start, cols = csr_of(pattern)
        nnz = len(cols)
        suffix = f"{k}x{n}_{nnz}_{dtype}"
        gather = self._kernel(f"csr_gather_{suffix}", lambda: gather_kernel(k, n, nnz, dtype))
        scatter = self._kernel(f"csr_scatter_{m}x{suffix}", lambda: scatter_kernel(m, k, n, nnz, dtype))
        row_start_c = relax.const(row_start, "int32")
        cols_c = relax.const(cols if nnz else np.zeros(1, np.int32), "int32")
        values = self.builder.emit(relax.call_tir(gather, [weights, mask, row_start_c, cols_c],
                                                  relax.TensorType((max(nnz, 1),), dtype)))
        return relax.call_tir(scatter, [x, values, row_start_c, cols_c], relax.TensorType((m, n), dtype))

    def _kernel(self, name: str, make) -> relax.GlobalVar:
        if name not in self.kernels:
            self.kernels[name] = self.builder.add_func(make(), name)
        return self.kernels[name]

    @staticmethod
    def _permute_reshape(x, shape, order, new_shape):
        if order != list(range(len(shape))):
            x = R.permute_dims(x, order)
        permuted = [shape[d] for d in order]
        return x if permuted == list(new_shape) else R.reshape(x, new_shape)

    def _exponential(self, op, xs):
        """float32: the vectorisable ~1 ulp exp of aotsnn.export.exp_kernel; other dtypes: TVM's."""
        if self._result_type(op)[1] == "float32":
            return self.builder.call_te(exp_f32, xs[0])
        return R.exp(xs[0])

    def _compare(self, op, xs):
        direction = stablehlo.ComparisonDirectionAttr(op.attributes["comparison_direction"]).value
        return COMPARE[direction](xs[0], xs[1])

    def _select(self, op, xs):
        return R.where(xs[0], xs[1], xs[2])

    def _convert(self, op, xs):
        return R.astype(xs[0], self._result_type(op)[1])

    def _reshape(self, op, xs):
        return R.reshape(xs[0], self._result_type(op)[0])

    def _transpose(self, op, xs):
        return R.permute_dims(xs[0], list(ir.DenseI64ArrayAttr(op.attributes["permutation"])))

    def _reduce(self, op, xs):
        if len(op.results) != 1:
            raise ExportError(f"variadic stablehlo.reduce at {op.location} is not supported")
        body = [o.operation.name for o in op.regions[0].blocks[0].operations]
        if len(body) != 2 or body[0] not in REDUCE:
            raise ExportError(f"stablehlo.reduce with body {body} at {op.location} is not supported")
        reducer, combine, identity = REDUCE[body[0]]
        axes = list(ir.DenseI64ArrayAttr(op.attributes["dimensions"]))
        reduced = reducer(xs[0], axis=axes)
        init_op = op.operands[1].owner
        if init_op.name == "stablehlo.constant":
            shape, dtype = tensor_type(op.operands[1].type)
            if float(constant_value(init_op.attributes["value"], shape, dtype)) == identity:
                return reduced
        return combine(reduced, xs[1])

    def _concatenate(self, op, xs):
        return R.concat(xs, axis=int(ir.IntegerAttr(op.attributes["dimension"]).value))

    def _slice(self, op, xs):
        starts = list(ir.DenseI64ArrayAttr(op.attributes["start_indices"]))
        limits = list(ir.DenseI64ArrayAttr(op.attributes["limit_indices"]))
        strides = list(ir.DenseI64ArrayAttr(op.attributes["strides"]))
        return R.strided_slice(xs[0], axes=list(range(len(starts))), begin=starts, end=limits, strides=strides)

    def _clamp(self, op, xs):
        low, x, high = xs
        return R.minimum(R.maximum(x, low), high)

    def _iota(self, op, xs):
        shape, dtype = self._result_type(op)
        axis = int(ir.IntegerAttr(op.attributes["iota_dimension"]).value)
        ramp = np.arange(shape[axis]).reshape([-1 if d == axis else 1 for d in range(len(shape))])
        return relax.const(np.broadcast_to(ramp, shape).astype(dtype), dtype)

    def _call(self, op, xs):
        callee = ir.FlatSymbolRefAttr(op.attributes["callee"]).value
        if callee not in self.functions:
            raise ExportError(f"func.call to unknown function '{callee}' at {op.location}")
        return self._function_body(self.functions[callee], xs)


def canonical_text(text: str) -> str:
    """The module printed without source locations: equal programs give equal text (cache keys)."""
    with jax_mlir.make_ir_context():
        return ir.Module.parse(text).operation.get_asm(enable_debug_info=False)


def import_stablehlo(text: str, topology: dict[int, np.ndarray] | None = None,
                     sparse_threshold: float = MAX_SPARSE_DENSITY) -> tvm.IRModule:
    """Relax IRModule with `main(*args) -> tuple` equivalent to the StableHLO module `text`.

    `topology` maps argument indices to values fixed at compile time (connection masks); a
    product with a sparse one becomes CSR kernels.
    """
    return StableHLOImporter(text, topology, sparse_threshold).translate()
