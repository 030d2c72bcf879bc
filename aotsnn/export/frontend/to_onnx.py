"""StableHLO -> ONNX: the step as an ONNX model, from the same walk as the Relax importer.

    export_onnx(text, input_names, output_names) -> bytes of an ONNX ModelProto (opset 18)

In an artifact (step.onnx) the inputs are the layout's leaves in order (params, state, inputs,
named by leaf) and the outputs the new state ("<leaf>:next") then the outputs (`step_names`).

The walk, control flow and op recipes are aotsnn.export.frontend.walk and the handler
modules; this module is the ONNX backend: each primitive becomes one or a few ONNX nodes
(onnx.helper), constants become initializers. ONNX has no atan2: it is built from Atan and
quadrant corrections. ONNX has no bitcast either: int32/uint32 -> float32 is built from the
fields of the bits (`_bits_to_float32`, exact for every pattern, NaN payloads aside); other
bitcasts are refused (use compile_path="stablehlo"). Uses only the `onnx` package (no jax2onnx, which patches jax.numpy).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from aotsnn.export.errors import ExportError
from aotsnn.export.frontend.lower import Layout
from aotsnn.export.frontend.to_relax import HANDLERS
from aotsnn.export.frontend.values import Ops, Tensor, numpy_dtype
from aotsnn.export.frontend.intrinsics import intrinsic
from aotsnn.export.frontend.walk import Walker

OPSET = 18
ONNX_TYPES = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE, "float16": TensorProto.FLOAT16,
              "bfloat16": TensorProto.BFLOAT16, "bool": TensorProto.BOOL, "int8": TensorProto.INT8,
              "int16": TensorProto.INT16, "int32": TensorProto.INT32, "int64": TensorProto.INT64,
              "uint8": TensorProto.UINT8, "uint16": TensorProto.UINT16, "uint32": TensorProto.UINT32,
              "uint64": TensorProto.UINT64}
UNARY = {"negative": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "abs": "Abs", "tanh": "Tanh",
         "sigmoid": "Sigmoid", "floor": "Floor", "ceil": "Ceil", "round": "Round", "sin": "Sin", "cos": "Cos",
         "tan": "Tan", "atan": "Atan", "sign": "Sign", "logical_not": "Not", "bitwise_not": "BitwiseNot",
         "isnan": "IsNaN"}
BINARY = {"add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div", "maximum": "Max",
          "minimum": "Min", "power": "Pow", "logical_and": "And", "logical_or": "Or", "logical_xor": "Xor",
          "bitwise_and": "BitwiseAnd", "bitwise_or": "BitwiseOr", "bitwise_xor": "BitwiseXor", "equal": "Equal",
          "less": "Less", "less_equal": "LessOrEqual", "greater": "Greater", "greater_equal": "GreaterOrEqual"}
REDUCE = {"sum": "ReduceSum", "prod": "ReduceProd", "max": "ReduceMax", "min": "ReduceMin"}


class OnnxBackend:
    """Builds ONNX nodes (see aotsnn.export.frontend.values.Backend); values are tensor names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.count = 0

    def _name(self, stem: str = "v") -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def node(self, op_type: str, inputs: Sequence[str], **attrs) -> str:
        out = self._name()
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=f"{op_type}_{self.count}", **attrs))
        return out

    def ints(self, values: Sequence[int]) -> str:
        return self.constant(np.asarray(list(values), np.int64))

    def build(self, walker: Walker, input_names: Sequence[str], output_names: Sequence[str],
              graph_name: str) -> onnx.ModelProto:
        arg_types, result_types = walker.signature()
        ops = Ops(self)
        args = [Tensor(name, shape, dtype) for name, (shape, dtype) in zip(input_names, arg_types)]
        results = walker.run(ops, args)
        for name, value in zip(output_names, results):
            self.nodes.append(helper.make_node("Identity", [ops.tensor(value).value], [name], name=f"out_{name}"))
        info = lambda name, shape, dtype: helper.make_tensor_value_info(name, ONNX_TYPES[dtype], list(shape))
        graph = helper.make_graph(self.nodes, graph_name, [info(n, s, d) for n, (s, d) in zip(input_names, arg_types)],
                                  [info(n, s, d) for n, (s, d) in zip(output_names, result_types)], self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="aotsnn")
        model.ir_version = 9
        onnx.checker.check_model(model)
        return model

    # -- primitives ---------------------------------------------------------------------------
    def constant(self, value: np.ndarray) -> str:
        name = self._name("c")
        if value.dtype.name == "bfloat16":
            tensor = helper.make_tensor(name, TensorProto.BFLOAT16, value.shape,
                                        np.array(value, order="C").view(np.uint16).reshape(-1).tolist())
        else:
            tensor = numpy_helper.from_array(np.array(value, order="C"), name)
        self.initializers.append(tensor)
        return name

    def unary(self, name: str, x: Tensor) -> str:
        if name == "rsqrt":
            return self.node("Reciprocal", [self.node("Sqrt", [x.value])])
        if name == "isfinite":
            return self.node("Not", [self.node("Or", [self.node("IsNaN", [x.value]), self.node("IsInf", [x.value])])])
        return self.node(UNARY[name], [x.value])

    def binary(self, name: str, a: Tensor, b: Tensor) -> str:
        if name == "mod":
            return self.node("Mod", [a.value, b.value], fmod=1)
        if name == "not_equal":
            return self.node("Not", [self.node("Equal", [a.value, b.value])])
        if name == "atan2":
            return self._atan2(a, b)
        if name in ("left_shift", "right_shift"):      # unsigned operands (aotsnn.export.frontend.elementwise.shift)
            return self.node("BitShift", [a.value, b.value], direction="LEFT" if name == "left_shift" else "RIGHT")
        return self.node(BINARY[name], [a.value, b.value])

    def _atan2(self, y: Tensor, x: Tensor) -> str:
        """atan(y/x) moved to the right quadrant, with C's atan2 on signed zeros (not on infinities)."""
        const = lambda v: self.constant(np.asarray(v, numpy_dtype(y.dtype)))
        zero = const(0)

        def negative(v: str) -> str:        # v < 0, or v is -0 (1/-0 = -inf)
            signed_zero = self.node("And", [self.node("Equal", [v, zero]),
                                            self.node("Less", [self.node("Div", [const(1), v]), zero])])
            return self.node("Or", [self.node("Less", [v, zero]), signed_zero])

        y_sign = self.node("Where", [negative(y.value), const(-1), const(1)])
        x_negative = negative(x.value)
        base = self.node("Atan", [self.node("Div", [y.value, x.value])])
        half_turn = self.node("Mul", [y_sign, const(np.pi)])
        off_axis = self.node("Where", [x_negative, self.node("Add", [base, half_turn]), base])
        on_axis = self.node("Where", [self.node("Equal", [y.value, zero]),
                                      self.node("Where", [x_negative, half_turn, y.value]),
                                      self.node("Mul", [y_sign, const(np.pi / 2)])])
        return self.node("Where", [self.node("Equal", [x.value, zero]), on_axis, off_axis])

    def bitcast(self, x: Tensor, dtype: str) -> str:
        if x.dtype in ("uint32", "int32") and dtype == "float32":
            return self._bits_to_float32(x)
        raise ExportError(f"the ONNX path has no bitcast from {x.dtype} to {dtype} (ONNX has no bitcast; aotsnn "
                          "builds only int32/uint32 -> float32); compile with compile_path='stablehlo'")

    def _bits_to_float32(self, x: Tensor) -> str:
        """float32 of the bits u: (-1)^s 2^(e-127) (1 + m 2^-23) for 0 < e < 255, (-1)^s m 2^-149 for
        e = 0 (subnormals), +-inf / NaN for e = 255. Every step is exact in float32: m < 2^24, and the
        scale is a power of two (Pow of 2 by an integer, exact in C's powf)."""
        u32 = lambda v: self.constant(np.asarray(v, np.uint32))
        f32 = lambda v: self.constant(np.asarray(v, np.float32))
        bits = x.value if x.dtype == "uint32" else self.node("Cast", [x.value], to=TensorProto.UINT32)
        shifted = lambda n: self.node("BitShift", [bits, u32(n)], direction="RIGHT")
        sign = self.node("Equal", [shifted(31), u32(1)])
        exponent = self.node("BitwiseAnd", [shifted(23), u32(0xFF)])
        mantissa = self.node("Cast", [self.node("BitwiseAnd", [bits, u32(0x7FFFFF)])], to=TensorProto.FLOAT)
        e_float = self.node("Cast", [exponent], to=TensorProto.FLOAT)
        scale = self.node("Pow", [f32(2.0), self.node("Sub", [e_float, f32(127.0)])])
        normal = self.node("Mul", [self.node("Add", [self.node("Mul", [mantissa, f32(2.0 ** -23)]), f32(1.0)]), scale])
        subnormal = self.node("Mul", [mantissa, f32(2.0 ** -149)])
        special = self.node("Where", [self.node("Equal", [mantissa, f32(0.0)]), f32(np.inf), f32(np.nan)])
        magnitude = self.node("Where", [self.node("Equal", [exponent, u32(0)]), subnormal,
                                        self.node("Where", [self.node("Equal", [exponent, u32(255)]), special, normal])])
        return self.node("Where", [sign, self.node("Neg", [magnitude]), magnitude])

    def where(self, cond: Tensor, a: Tensor, b: Tensor) -> str:
        if a.dtype == "bool":       # onnxruntime has no bool Where: (c and a) or (not c and b)
            return self.node("Or", [self.node("And", [cond.value, a.value]),
                                    self.node("And", [self.node("Not", [cond.value]), b.value])])
        if a.dtype in ("int16", "uint16"):     # nor a 16-bit integer one
            wide = [self.node("Cast", [x.value], to=TensorProto.INT32) for x in (a, b)]
            return self.node("Cast", [self.node("Where", [cond.value, *wide])], to=ONNX_TYPES[a.dtype])
        return self.node("Where", [cond.value, a.value, b.value])

    def astype(self, x: Tensor, dtype: str) -> str:
        return self.node("Cast", [x.value], to=ONNX_TYPES[dtype])

    def reshape(self, x: Tensor, shape) -> str:
        return self.node("Reshape", [x.value, self.ints(shape)])

    def permute(self, x: Tensor, perm) -> str:
        return self.node("Transpose", [x.value], perm=list(perm))

    def broadcast_to(self, x: Tensor, shape) -> str:
        return self.node("Expand", [x.value, self.ints(shape)])

    def slice(self, x: Tensor, starts, limits, strides) -> str:
        axes = list(range(len(starts)))
        return self.node("Slice", [x.value, self.ints(starts), self.ints(limits), self.ints(axes), self.ints(strides)])

    def reverse(self, x: Tensor, axes) -> str:
        n = len(axes)
        return self.node("Slice", [x.value, self.ints([-1] * n), self.ints([np.iinfo(np.int64).min] * n),
                                   self.ints(axes), self.ints([-1] * n)])

    def concat(self, xs: Sequence[Tensor], axis: int) -> str:
        return self.node("Concat", [x.value for x in xs], axis=axis)

    def take(self, x: Tensor, indices: Tensor, axis: int) -> str:
        return self.node("Gather", [x.value, indices.value], axis=axis)

    def pad(self, x: Tensor, low, high, value: float) -> str:
        fill = self.constant(np.asarray(value, numpy_dtype(x.dtype)))
        return self.node("Pad", [x.value, self.ints(list(low) + list(high)), fill], mode="constant")

    def matmul(self, a: Tensor, b: Tensor, out_dtype: str) -> str:
        return self.node("MatMul", [a.value, b.value])

    def reduce(self, kind: str, x: Tensor, axes) -> str:
        # keepdims=1 and a reshape: onnxruntime returns shape (1,) for a full int8 reduction otherwise
        kept = self.node(REDUCE[kind], [x.value, self.ints(axes)], keepdims=1)
        return self.node("Reshape", [kept, self.ints([d for i, d in enumerate(x.shape) if i not in axes])])

    def csr_matmul(self, x: Tensor, weights: Tensor, pre_start: Tensor, post_index: Tensor, n_out: int) -> str:
        """Gather the inputs of every synapse, weight them, scatter-add into the outputs."""
        (m, _), nnz = x.shape, weights.shape[0]
        contributions = self.node("Mul", [self.node("Gather", [x.value, self._pre_of_synapses(pre_start, nnz)],
                                                    axis=1), weights.value])
        targets = self.node("Expand", [self.node("Reshape", [self.node("Cast", [post_index.value], to=TensorProto.INT64),
                                                             self.ints([1, nnz])]), self.ints([m, nnz])])
        return self.node("ScatterElements", [self._zeros([m, n_out], x.dtype), targets, contributions],
                         axis=1, reduction="add")

    def csr_correlate(self, a: Tensor, z: Tensor, pre_start: Tensor, post_index: Tensor) -> str:
        pre = self._pre_of_synapses(pre_start, post_index.shape[0])
        product = self.node("Mul", [self.node("Gather", [a.value, pre], axis=1),
                                    self.node("Gather", [z.value, post_index.value], axis=1)])
        return self.node("ReduceSum", [product, self.ints([0])], keepdims=0)

    def _pre_of_synapses(self, pre_start: Tensor, nnz: int) -> str:
        """pre(s) = #{rows i >= 1 starting at or before s}: a cumulative sum of row-start marks."""
        k = pre_start.shape[0] - 1
        starts = self.node("Cast", [self.node("Slice", [pre_start.value, self.ints([1]), self.ints([k])])],
                           to=TensorProto.INT64)
        marks = self.node("ScatterElements", [self._zeros([nnz + 1], "int32"), starts, self._ones([k - 1], "int32")],
                          reduction="add")
        running = self.node("CumSum", [marks, self.constant(np.asarray(0, np.int64))])
        return self.node("Slice", [running, self.ints([0]), self.ints([nnz])])

    def _zeros(self, shape: Sequence[int], dtype: str) -> str:
        return self._filled(shape, dtype, 0)

    def _ones(self, shape: Sequence[int], dtype: str) -> str:
        return self._filled(shape, dtype, 1)

    def _filled(self, shape: Sequence[int], dtype: str, value: int) -> str:
        fill = numpy_helper.from_array(np.asarray([value], numpy_dtype(dtype)))
        return self.node("ConstantOfShape", [self.ints(shape)], value=fill)

    def conv(self, x: Tensor, w: Tensor, strides, padding, dilation, groups: int, out_dtype: str) -> str:
        pads = [lo for lo, _ in padding] + [hi for _, hi in padding]
        return self.node("Conv", [x.value, w.value], strides=list(strides), pads=pads, dilations=list(dilation),
                         group=groups)


def step_names(layout: Layout) -> tuple[list[str], list[str]]:
    """ONNX input and output names of a step: the leaf names, new state as "<leaf>:next"."""
    return ([leaf.name for leaf in layout.arguments],
            [f"{leaf.name}:next" for leaf in layout.state] + [leaf.name for leaf in layout.outputs])


def onnx_model(text: str, input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
               graph_name: str = "step") -> onnx.ModelProto:
    """The ONNX model of the StableHLO module `text` (inputs/outputs named as given, else argN/resultN)."""
    walker = Walker(text, HANDLERS, intrinsic)
    arg_types, result_types = walker.signature()
    input_names = list(input_names or [f"arg{i}" for i in range(len(arg_types))])
    output_names = list(output_names or [f"result{i}" for i in range(len(result_types))])
    return OnnxBackend().build(walker, input_names, output_names, graph_name)


def export_onnx(text: str, input_names: Sequence[str] | None = None,
                output_names: Sequence[str] | None = None, graph_name: str = "step") -> bytes:
    """Serialized ONNX model of the StableHLO module `text` (see `onnx_model`)."""
    return onnx_model(text, input_names, output_names, graph_name).SerializeToString()
