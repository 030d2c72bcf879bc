"""StableHLO data-movement ops in terms of `Ops` primitives.

    broadcast_in_dim  operand dim i -> result dim dims[i] (dims need not be sorted)
    slice / dynamic_slice           dynamic starts are clamped to [0, dim - size] (StableHLO)
    dynamic_update_slice            the same clamping; the update overwrites a window
    pad               edge padding (negative: cropping) and interior padding between elements
    iota, constant, reshape, transpose, concatenate, reverse

A dynamic start that is statically known (a loop counter of an unrolled scan) gives a static
slice; otherwise the window is gathered with `take` at indices clamp(start) + arange(size).
"""
from __future__ import annotations

import numpy as np

from aotsnn.export.frontend.values import Ops, dtype_name, numpy_dtype, shape_of
from aotsnn.export.frontend.walk import constant_value, int_array, int_attr, result_type


def constant(ops: Ops, op, xs):
    shape, dtype = result_type(op)
    return constant_value(op.attributes["value"], shape, dtype)


def iota(ops: Ops, op, xs):
    shape, dtype = result_type(op)
    axis = int_attr(op, "iota_dimension")
    ramp = np.arange(shape[axis]).astype(numpy_dtype(dtype))
    return np.broadcast_to(ramp.reshape([-1 if d == axis else 1 for d in range(len(shape))]), shape)


def broadcast_in_dim(ops: Ops, op, xs):
    shape, _ = result_type(op)
    dims = int_array(op, "broadcast_dimensions")
    order = sorted(range(len(dims)), key=lambda i: dims[i])      # operand dims by result position
    x = ops.permute(xs[0], order)
    expanded = [1] * len(shape)
    for i in order:
        expanded[dims[i]] = shape_of(xs[0])[i]
    return ops.broadcast_to(ops.reshape(x, expanded), shape)


def slice_op(ops: Ops, op, xs):
    return ops.slice(xs[0], int_array(op, "start_indices"), int_array(op, "limit_indices"),
                     int_array(op, "strides", [1] * len(shape_of(xs[0]))))


def clamped_start(ops: Ops, start, dim: int, size: int):
    """The start index clamped to [0, dim - size], as a known int or an int64 0-d value."""
    if isinstance(start, np.ndarray):
        return int(min(max(int(start.reshape(())), 0), dim - size))
    return ops.clamp(ops.astype(start, "int64"), np.asarray(0, np.int64), np.asarray(dim - size, np.int64))


def dynamic_slice(ops: Ops, op, xs):
    x, starts = xs[0], xs[1:]
    sizes = int_array(op, "slice_sizes")
    shape = shape_of(x)
    begins = [clamped_start(ops, s, d, n) for s, d, n in zip(starts, shape, sizes)]
    static = [b if isinstance(b, int) else 0 for b in begins]
    x = ops.slice(x, static, [b + n if isinstance(b, int) else d for b, n, d in zip(begins, sizes, shape)],
                  [1] * len(shape))
    for axis, (begin, size) in enumerate(zip(begins, sizes)):
        if not isinstance(begin, int):
            x = ops.take(x, ops.binary("add", begin, np.arange(size, dtype=np.int64)), axis)
    return x


def dynamic_update_slice(ops: Ops, op, xs):
    """result = operand with `update` written at the clamped starts.

    Per axis, position p of the result reads update[p - start] where start <= p < start + size:
    the update is gathered to the full shape, and a mask selects it over the operand.
    """
    operand, update, starts = xs[0], xs[1], xs[2:]
    shape, sizes = shape_of(operand), shape_of(update)
    if all(isinstance(s, np.ndarray) for s in starts):       # static window: pad the update
        begins = [clamped_start(ops, s, d, n) for s, d, n in zip(starts, shape, sizes)]
        ends = [d - b - n for b, d, n in zip(begins, shape, sizes)]
        inside = np.pad(np.ones(sizes, bool), list(zip(begins, ends)))
        zero = np.zeros((), numpy_dtype(dtype_name(update)))
        return ops.where(inside, ops.pad(update, begins, ends, zero), operand)
    inside = np.ones((), bool)
    for axis, (start, dim, size) in enumerate(zip(starts, shape, sizes)):
        begin = clamped_start(ops, start, dim, size)
        begin = np.asarray(begin, np.int64) if isinstance(begin, int) else begin
        offset = ops.binary("subtract", np.arange(dim, dtype=np.int64), begin)
        axis_inside = ops.binary("logical_and", ops.binary("greater_equal", offset, np.asarray(0, np.int64)),
                                 ops.binary("less", offset, np.asarray(size, np.int64)))
        rank_shape = [dim if d == axis else 1 for d in range(len(shape))]
        inside = ops.binary("logical_and", inside, ops.reshape(axis_inside, rank_shape))
        if dim != size:
            index = ops.clamp(offset, np.asarray(0, np.int64), np.asarray(size - 1, np.int64))
            update = ops.take(update, index, axis)
    return ops.where(ops.broadcast_to(inside, shape), update, operand)


def interior_pad(ops: Ops, x, axis: int, interior: int, value):
    """`interior` copies of the 0-d `value` between neighbouring elements along `axis`."""
    shape = list(shape_of(x))
    n = shape[axis]
    if interior == 0 or n <= 1:
        return x
    column = shape[:axis + 1] + [1] + shape[axis + 1:]
    filler = ops.broadcast_to(value, shape[:axis + 1] + [interior] + shape[axis + 1:])
    woven = ops.concat([ops.reshape(x, column), filler], axis + 1)
    flat = ops.reshape(woven, shape[:axis] + [n * (interior + 1)] + shape[axis + 1:])
    limits = shape[:axis] + [n + (n - 1) * interior] + shape[axis + 1:]
    return ops.slice(flat, [0] * len(shape), limits, [1] * len(shape))


def pad_general(ops: Ops, x, value, low, high, interior):
    """StableHLO pad: interior padding, then edge padding (negative amounts crop)."""
    for axis, amount in enumerate(interior):
        x = interior_pad(ops, x, axis, amount, value)
    shape = shape_of(x)
    x = ops.slice(x, [max(-lo, 0) for lo in low], [d - max(-hi, 0) for d, hi in zip(shape, high)], [1] * len(shape))
    return ops.pad(x, [max(lo, 0) for lo in low], [max(hi, 0) for hi in high], value)


def pad(ops: Ops, op, xs):
    rank = len(shape_of(xs[0]))
    return pad_general(ops, xs[0], xs[1], int_array(op, "edge_padding_low"), int_array(op, "edge_padding_high"),
                       int_array(op, "interior_padding", [0] * rank))


HANDLERS = {
    "stablehlo.constant": constant,
    "stablehlo.iota": iota,
    "stablehlo.broadcast_in_dim": broadcast_in_dim,
    "stablehlo.reshape": lambda ops, op, xs: ops.reshape(xs[0], result_type(op)[0]),
    "stablehlo.transpose": lambda ops, op, xs: ops.permute(xs[0], int_array(op, "permutation")),
    "stablehlo.concatenate": lambda ops, op, xs: ops.concat(xs, int_attr(op, "dimension")),
    "stablehlo.reverse": lambda ops, op, xs: ops.reverse(xs[0], int_array(op, "dimensions")),
    "stablehlo.slice": slice_op,
    "stablehlo.dynamic_slice": dynamic_slice,
    "stablehlo.dynamic_update_slice": dynamic_update_slice,
    "stablehlo.pad": pad,
}

