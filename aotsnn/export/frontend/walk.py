"""Walk a StableHLO module (jax.export text) op by op, for any backend.

The module is parsed with jaxlib's own MLIR bindings. `walk_module` hands each op of the public
function `main` to its handler (aotsnn.export.frontend.{elementwise,shape,linalg}), which
computes with `Ops` (aotsnn.export.frontend.values); the backend behind `Ops` builds Relax or
ONNX. Control flow is resolved here, so backends see a straight line of tensor ops:

- `func.call` is inlined, unless `intrinsics` names a handler for the callee (the sparse
  synapse's products: aotsnn.export.frontend.intrinsics), which then takes the call as one op;
- `stablehlo.while` (lax.fori_loop, lax.scan, lax.while_loop) is unrolled when its condition
  is statically known at every iteration (a constant trip count), up to MAX_UNROLL iterations;
  TVM's plan for the C driver must be a straight line of kernel calls, so a data-dependent
  loop raises ExportError;
- `stablehlo.case` (lax.cond, lax.switch) takes its branch when the index is known statically.

An unsupported op raises ExportError naming the op and its source location (jax's
`named_scope` survives there, e.g. "aotsnn.ExponentialSynapse.step").
"""
from __future__ import annotations

import re
from collections import ChainMap
from typing import Callable, Sequence

import numpy as np
from jax._src.interpreters import mlir as jax_mlir
from jaxlib.mlir import ir

from aotsnn.export.errors import ExportError
from aotsnn.export.frontend.values import Ops, Tensor, Value, known, numpy_dtype

MAX_UNROLL = 256           # iterations of one unrolled while loop

ELEMENT_TYPES = {"f64": "float64", "f32": "float32", "f16": "float16", "bf16": "bfloat16",
                 "i1": "bool", "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64",
                 "ui8": "uint8", "ui16": "uint16", "ui32": "uint32", "ui64": "uint64"}

# Ops that only carry values through: sharding annotations and remat barriers.
PASS_THROUGH_CUSTOM_CALLS = ("Sharding", "SPMDFullToShardShape", "SPMDShardToFullShape")

Handler = Callable[[Ops, ir.Operation, list], "Value | list[Value]"]


def tensor_type(mlir_type: ir.Type) -> tuple[tuple[int, ...], str]:
    """(shape, dtype) of a ranked, static MLIR tensor type."""
    ranked = ir.RankedTensorType(mlir_type)
    element = str(ranked.element_type)
    if element not in ELEMENT_TYPES:
        raise ExportError(f"unsupported element type {element} in {mlir_type}")
    if not ranked.has_static_shape:
        raise ExportError(f"dynamic shape {mlir_type}: export with concrete shapes")
    return tuple(ranked.shape), ELEMENT_TYPES[element]


def result_type(op) -> tuple[tuple[int, ...], str]:
    return tensor_type(op.results[0].type)


def operand_type(op, index: int) -> tuple[tuple[int, ...], str]:
    return tensor_type(op.operands[index].type)


def int_array(op, name: str, default: Sequence[int] | None = None) -> list[int]:
    """A DenseI64ArrayAttr (or a legacy dense int elements attr) as a list; `default` if absent."""
    if name not in op.attributes:
        if default is None:
            raise ExportError(f"{op.name} at {describe(op.location)} lacks the attribute '{name}'")
        return list(default)
    attr = op.attributes[name]
    try:
        return [int(v) for v in ir.DenseI64ArrayAttr(attr)]
    except (ValueError, TypeError):
        return [int(v) for v in np.array(ir.DenseIntElementsAttr(attr)).reshape(-1)]


def int_attr(op, name: str, default: int | None = None) -> int:
    if name not in op.attributes:
        if default is None:
            raise ExportError(f"{op.name} at {describe(op.location)} lacks the attribute '{name}'")
        return default
    return int(ir.IntegerAttr(op.attributes[name]).value)


def constant_value(attr: ir.Attribute, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """The numpy value of a dense constant attribute (a splat stays a broadcast view)."""
    dense = ir.DenseElementsAttr(attr)
    np_dtype = numpy_dtype(dtype)
    if dense.is_splat:
        splat = dense.get_splat_value()
        scalar = np.asarray(splat.value if hasattr(splat, "value") else splat).astype(np_dtype)
        return np.broadcast_to(scalar, shape)
    if dtype == "bfloat16":   # the buffer protocol has no bf16: read the 16-bit patterns
        bits = np.frombuffer(bytes(memoryview(dense)), np.uint16)
        return known(bits.view(np_dtype).reshape(shape))
    return known(np.asarray(np.array(dense)).astype(np_dtype).reshape(shape))


def describe(location) -> str:
    """A short form of an MLIR location: the op's jax name scope and the innermost source line."""
    text = str(location)
    name = re.match(r'loc\("([^"]*)"', text)
    line = re.search(r'"([^"]+\.py)":(\d+)', text)
    parts = [name.group(1) if name else text[:120]]
    if line:
        parts.append(f"({line.group(1).rsplit('/', 1)[-1]}:{line.group(2)})")
    return " ".join(parts)


def parse(text: str):
    """(MLIR context, module) for StableHLO text; ExportError if it does not parse."""
    context = jax_mlir.make_ir_context()
    with context:
        try:
            return context, ir.Module.parse(text)
        except ir.MLIRError as exc:
            raise ExportError(f"cannot parse the StableHLO module: {exc}") from exc


def canonical_text(text: str) -> str:
    """The module printed without source locations: equal programs give equal text (cache keys)."""
    context, module = parse(text)
    with context:
        return module.operation.get_asm(enable_debug_info=False)


class Walker:
    """Evaluates the ops of one module with `Ops`; handlers are keyed by op name."""

    def __init__(self, text: str, handlers: dict[str, Handler],
                 intrinsics: Callable[[str], Handler | None] = lambda callee: None) -> None:
        self.context, self.module = parse(text)
        self.handlers, self.intrinsics = handlers, intrinsics
        self.call_sites: list[str] = []
        self.functions = {op.attributes["sym_name"].value: op for op in self.module.body.operations
                          if op.operation.name == "func.func"}
        if "main" not in self.functions:
            raise ExportError("the StableHLO module has no public function 'main'")
        self.control: dict[str, Callable] = {
            "func.call": self._call, "stablehlo.while": self._while, "stablehlo.case": self._case,
            "stablehlo.optimization_barrier": lambda op, xs, scope: xs,
            "stablehlo.custom_call": self._custom_call,
        }

    def where(self, op) -> str:
        """Where `op` is: its location, and the call it was inlined from (which has jax's scope)."""
        inlined = f", inlined from {self.call_sites[-1]}" if self.call_sites else ""
        return describe(op.location) + inlined

    def signature(self) -> tuple[list[tuple[tuple[int, ...], str]], list[tuple[tuple[int, ...], str]]]:
        """(argument types, result types) of main."""
        main = self.functions["main"]
        with self.context:
            ftype = ir.FunctionType(ir.TypeAttr(main.attributes["function_type"]).value)
            return [tensor_type(t) for t in ftype.inputs], [tensor_type(t) for t in ftype.results]

    def run(self, ops: Ops, args: list[Tensor]) -> list[Value]:
        """Values of main's results for the argument tensors `args`."""
        self.ops = ops
        with self.context:
            return self._block(self.functions["main"].regions[0].blocks[0], list(args), ChainMap())

    # -- blocks and control flow ------------------------------------------------------------
    def _block(self, block, args: list, parent: ChainMap) -> list:
        scope = parent.new_child({a: v for a, v in zip(block.arguments, args)})
        for op in block.operations:
            name = op.operation.name
            operands = [scope[o] for o in op.operands]
            if name in ("func.return", "stablehlo.return"):
                return operands
            if name in self.control:
                results = self.control[name](op, operands, scope)
            else:
                results = self._apply(op, operands)
            if len(results) != len(op.results):
                raise ExportError(f"'{name}' at {self.where(op)} gave {len(results)} results, expected {len(op.results)}")
            scope.update(zip(op.results, results))
        raise ExportError("a block of the StableHLO module has no return")

    def _apply(self, op, operands: list) -> list:
        name = op.operation.name
        handler = self.handlers.get(name)
        if handler is None:
            supported = sorted(set(self.handlers) | set(self.control))
            raise ExportError(f"unsupported op '{name}' at {self.where(op)}; supported ops: {', '.join(supported)}")
        return self._apply_handler(handler, op, operands)

    def _apply_handler(self, handler: Handler, op, operands: list) -> list:
        name = op.operation.name
        try:
            result = handler(self.ops, op, operands)
        except ExportError as exc:
            message = str(exc)
            where = self.where(op)
            raise (exc if where in message else ExportError(f"'{name}' at {where}: {message}")) from None
        except Exception as exc:     # a backend op refused the operands: say which StableHLO op
            raise ExportError(f"cannot translate '{name}' at {self.where(op)}: {exc}") from exc
        return result if isinstance(result, list) else [result]

    def _call(self, op, operands: list, scope) -> list:
        callee = ir.FlatSymbolRefAttr(op.attributes["callee"]).value
        handler = self.intrinsics(callee)
        if handler is not None:
            self.call_sites.append(self.where(op))
            try:
                return self._apply_handler(handler, op, operands)
            finally:
                self.call_sites.pop()
        if callee not in self.functions:
            raise ExportError(f"func.call to unknown function '{callee}' at {self.where(op)}")
        self.call_sites.append(self.where(op))
        try:
            return self._block(self.functions[callee].regions[0].blocks[0], operands, ChainMap())
        finally:
            self.call_sites.pop()

    def _while(self, op, operands: list, scope) -> list:
        cond, body = op.regions[0].blocks[0], op.regions[1].blocks[0]
        values = operands
        for iteration in range(MAX_UNROLL + 1):
            (flag,) = self._block(cond, values, scope)
            if not isinstance(flag, np.ndarray):
                raise ExportError(
                    f"stablehlo.while at {self.where(op)}: the loop condition depends on run-time values, so "
                    "the trip count is not static. The compiled step must be a straight line of kernels; "
                    "use lax.fori_loop/lax.scan with constant bounds, or jnp.where instead of the loop.")
            if not bool(flag):
                return values
            if iteration == MAX_UNROLL:
                raise ExportError(f"stablehlo.while at {self.where(op)} runs more than {MAX_UNROLL} iterations; "
                                  f"loops are unrolled into the step and at most {MAX_UNROLL} are allowed.")
            values = self._block(body, values, scope)
        raise AssertionError("unreachable")

    def _case(self, op, operands: list, scope) -> list:
        index = operands[0]
        if not isinstance(index, np.ndarray):
            raise ExportError(f"stablehlo.case at {self.where(op)} (lax.cond/lax.switch) selects its branch at run "
                              "time; the compiled step cannot branch: compute both sides and use jnp.where.")
        branch = int(index.reshape(()))
        if not 0 <= branch < len(op.regions):
            branch = len(op.regions) - 1          # StableHLO: an out-of-range index runs the last branch
        return self._block(op.regions[branch].blocks[0], [], scope)

    def _custom_call(self, op, operands: list, scope) -> list:
        target = ir.StringAttr(op.attributes["call_target_name"]).value
        if target in PASS_THROUGH_CUSTOM_CALLS:
            return operands
        raise ExportError(f"unsupported stablehlo.custom_call '{target}' at {self.where(op)}: jax lowers this "
                          "operation to a library call that aotsnn cannot compile")
