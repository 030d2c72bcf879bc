"""StableHLO contractions and reductions in terms of `Ops` primitives.

    dot_general   lhs (batch..., free..., contracting...) x rhs (batch..., contracting..., free...)
                  -> permute + reshape to (B, M, K) @ (B, K, N) -> reshape to (batch..., lhs free...,
                  rhs free...). A plain 2-D x @ W becomes the event-driven kernel later
                  (aotsnn.export.kernels.event_matmul.use_event_matmul); a batched product
                  with K = 1 (an outer product per batch entry) is an elementwise multiply.
    convolution   any dimension numbers -> permute to (N, C, *spatial) x (O, I, *spatial); lhs
                  dilation is interior padding of the input (conv_transpose), negative padding crops
                  it, window reversal flips the kernel; rhs dilation, strides, feature groups go to
                  the backend's conv; 1 to 3 spatial dims.
    reduce        single-input reductions whose body is add / multiply / max / min / and / or;
                  an init value other than the identity is combined once with the result.
"""
from __future__ import annotations

import numpy as np
from jaxlib.mlir import ir
from jaxlib.mlir.dialects import stablehlo

from aotsnn.export.errors import ExportError
from aotsnn.export.frontend.shape import pad_general
from aotsnn.export.frontend.values import Ops, dtype_name, is_float, numpy_dtype, shape_of, uniform_scalar
from aotsnn.export.frontend.walk import int_array, int_attr, result_type

# body op -> (reduction, combining binary op, identity for a dtype)
REDUCERS = {
    "stablehlo.add": ("sum", "add", lambda info: 0),
    "stablehlo.multiply": ("prod", "multiply", lambda info: 1),
    "stablehlo.maximum": ("max", "maximum", lambda info: -np.inf if info is None else info.min),
    "stablehlo.minimum": ("min", "minimum", lambda info: np.inf if info is None else info.max),
    "stablehlo.and": ("min", "logical_and", lambda info: True),
    "stablehlo.or": ("max", "logical_or", lambda info: False),
}


def _size(shape, dims) -> int:
    return int(np.prod([shape[d] for d in dims], dtype=np.int64))


def dot_general(ops: Ops, op, xs):
    numbers = stablehlo.DotDimensionNumbers(op.attributes["dot_dimension_numbers"])
    lhs_b, rhs_b = list(numbers.lhs_batching_dimensions), list(numbers.rhs_batching_dimensions)
    lhs_c, rhs_c = list(numbers.lhs_contracting_dimensions), list(numbers.rhs_contracting_dimensions)
    lhs_shape, rhs_shape = shape_of(xs[0]), shape_of(xs[1])
    out_shape, out_dtype = result_type(op)
    lhs_f = [d for d in range(len(lhs_shape)) if d not in lhs_b + lhs_c]
    rhs_f = [d for d in range(len(rhs_shape)) if d not in rhs_b + rhs_c]
    batch = [_size(lhs_shape, lhs_b)] if lhs_b else []
    m, k, n = _size(lhs_shape, lhs_f), _size(lhs_shape, lhs_c), _size(rhs_shape, rhs_f)
    lhs = ops.reshape(ops.permute(xs[0], lhs_b + lhs_f + lhs_c), batch + [m, k])
    rhs = ops.reshape(ops.permute(xs[1], rhs_b + rhs_c + rhs_f), batch + [k, n])
    if dtype_name(lhs) != out_dtype:
        lhs, rhs = ops.astype(lhs, out_dtype), ops.astype(rhs, out_dtype)
    if batch and k == 1:
        # A batched outer product (the Hebbian products of a per-sample plastic synapse) as one
        # elementwise multiply (the same value: 0 + a*b = a*b). As a reduction over one term,
        # TVM's GPU schedule rules inline the update into it and read the output as the
        # accumulator (opencl: weights doubled); the CPU rule refuses it (cpu_schedules).
        shape = batch + [m, n]
        product = ops.binary("multiply", ops.broadcast_to(lhs, shape), ops.broadcast_to(rhs, shape))
        return ops.reshape(product, out_shape)
    return ops.reshape(ops.matmul(lhs, rhs, out_dtype), out_shape)


def _window(op, name: str, rank: int, default: int) -> list[int]:
    return int_array(op, name, [default] * rank)


def convolution(ops: Ops, op, xs):
    numbers = stablehlo.ConvDimensionNumbers(op.attributes["dimension_numbers"])
    spatial_in = list(numbers.input_spatial_dimensions)
    rank = len(spatial_in)
    if not 1 <= rank <= 3:
        raise ExportError(f"convolution with {rank} spatial dimensions is not supported (1 to 3 are)")
    if int_attr(op, "batch_group_count", 1) != 1:
        raise ExportError("convolution with batch_group_count > 1 (a grouped weight gradient) is not supported")
    out_shape, out_dtype = result_type(op)
    x = ops.permute(xs[0], [numbers.input_batch_dimension, numbers.input_feature_dimension, *spatial_in])
    w = ops.permute(xs[1], [numbers.kernel_output_feature_dimension, numbers.kernel_input_feature_dimension,
                            *numbers.kernel_spatial_dimensions])
    if "window_reversal" in op.attributes:
        flips = [bool(v) for v in ir.DenseBoolArrayAttr(op.attributes["window_reversal"])]
        w = ops.reverse(w, [2 + i for i, flip in enumerate(flips) if flip])
    padding = np.asarray(int_array(op, "padding", [0] * (2 * rank))).reshape(rank, 2)
    lhs_dilation = _window(op, "lhs_dilation", rank, 1)
    zero = np.zeros((), numpy_dtype(dtype_name(x)))
    # interior padding (lhs dilation) and negative edges are done on the input; the rest by conv
    x = pad_general(ops, x, zero, [0, 0, *np.minimum(padding[:, 0], 0)], [0, 0, *np.minimum(padding[:, 1], 0)],
                    [0, 0, *(d - 1 for d in lhs_dilation)])
    if dtype_name(x) != out_dtype:
        x, w = ops.astype(x, out_dtype), ops.astype(w, out_dtype)
    y = ops.conv(x, w, _window(op, "window_strides", rank, 1), [tuple(p) for p in np.maximum(padding, 0).tolist()],
                 _window(op, "rhs_dilation", rank, 1), int_attr(op, "feature_group_count", 1), out_dtype)
    canonical = [numbers.output_batch_dimension, numbers.output_feature_dimension,
                 *numbers.output_spatial_dimensions]
    perm = [canonical.index(axis) for axis in range(len(out_shape))]
    return ops.permute(y, perm)


def reduce(ops: Ops, op, xs):
    if len(op.results) != 1:
        raise ExportError(f"variadic stablehlo.reduce ({len(op.results)} results, e.g. argmax) is not supported")
    block = op.regions[0].blocks[0]
    body = list(block.operations)
    if len(body) != 2 or body[0].operation.name not in REDUCERS \
            or set(body[0].operands) != set(block.arguments) or body[1].operands[0] != body[0].results[0]:
        raise ExportError(f"stablehlo.reduce with body {[o.operation.name for o in body]} is not supported; "
                          f"supported bodies: {', '.join(REDUCERS)}")
    kind, combine, identity = REDUCERS[body[0].operation.name]
    x, init = xs
    dtype = dtype_name(x)
    axes = int_array(op, "dimensions")
    if dtype == "bool":          # and/or (and max/min) on bools: reduce 0/1 bytes
        reduced = ops.binary("not_equal", ops.reduce(kind, ops.astype(x, "int8"), axes), np.asarray(0, np.int8))
    else:
        reduced = ops.reduce(kind, x, axes)
    info = None if is_float(dtype) or dtype == "bool" else np.iinfo(numpy_dtype(dtype))
    scalar = uniform_scalar(init) if isinstance(init, np.ndarray) else None
    if scalar is not None and scalar.astype(np.float64) == np.float64(identity(info)):
        return reduced
    return ops.binary(combine, reduced, init)


HANDLERS = {
    "stablehlo.dot_general": dot_general,
    "stablehlo.convolution": convolution,
    "stablehlo.reduce": reduce,
}
