"""StableHLO elementwise ops in terms of `Ops` primitives, with StableHLO's semantics.

Where a backend primitive differs from StableHLO, the recipe here closes the gap (it is written
once, for Relax and ONNX alike):

- compare NE is true for NaN (TVM's `!=` on floats is an ordered compare);
- atan2 on 16-bit floats is computed in float32 (TVM's llvm codegen has no 16-bit atan);
- sign(+-0) = +-0 and sign(NaN) = NaN (TVM's sign gives 0 for both);
- exponential_minus_one / log_plus_one are accurate near 0 (Kahan's tricks:
  expm1(x) = (u - 1) x / log u with u = e^x, log1p(x) = log(u) x / (u - 1) with u = 1 + x);
- round_nearest_afz rounds halves away from zero; round_nearest_even is the backend's round;
- convert float -> int saturates like XLA: NaN -> 0, out-of-range -> the type's min/max, else
  truncation toward zero; convert to bool is x != 0;
- remainder is truncated (sign of the dividend, C fmod) and integer divide truncates toward zero,
  which both backends do;
- shifts by an amount outside [0, bits) give 0 (shift_left, shift_right_logical) or the sign fill
  (shift_right_arithmetic), as StableHLO says; the backends' shifts (C's) are undefined there, so
  they are given unsigned operands and in-range amounts only: logical shifts of signed integers
  go through the unsigned type of the same width, and the arithmetic shift is the logical one
  with the sign bits ORed in, ~(~0 >> n) where the top bit is set (unsigned types too, as XLA) (the same recipe for Relax and ONNX);
- uint32/int32 add, subtract and multiply wrap modulo 2^32 (two's complement) in numpy, C and
  LLVM alike, which is what jax.random's threefry relies on;
- bitcast_convert reads the bits as another type of the same width (bitcast_convert between
  widths, which changes the shape, is refused);
- compare with TOTALORDER orders -0 < +0 and puts NaN above +inf (NaNs are equal to each other;
  the sign bit of a NaN is not seen: ONNX has no bitcast).
"""
from __future__ import annotations

import numpy as np

from aotsnn.export.errors import ExportError
from aotsnn.export.frontend.values import Ops, dtype_name, is_float, numpy_dtype
from aotsnn.export.frontend.walk import result_type

DIRECT_UNARY = {"negate": "negative", "exponential": "exp", "log": "log", "sqrt": "sqrt", "rsqrt": "rsqrt",
                "abs": "abs", "tanh": "tanh", "logistic": "sigmoid", "floor": "floor", "ceil": "ceil",
                "round_nearest_even": "round", "sine": "sin", "cosine": "cos", "tan": "tan",
                "is_finite": "isfinite"}
DIRECT_BINARY = {"add": "add", "subtract": "subtract", "multiply": "multiply", "divide": "divide",
                 "maximum": "maximum", "minimum": "minimum", "remainder": "mod"}
COMPARE = {"EQ": "equal", "NE": "not_equal", "LT": "less", "LE": "less_equal", "GT": "greater",
           "GE": "greater_equal"}


def _scalar(value, like) -> np.ndarray:
    return np.asarray(value, dtype=numpy_dtype(dtype_name(like)))


def sign(ops: Ops, x):
    if not is_float(dtype_name(x)):
        return ops.unary("sign", x)
    return ops.where(ops.binary("greater", ops.unary("abs", x), _scalar(0, x)), ops.unary("sign", x), x)


def expm1(ops: Ops, x):
    u = ops.unary("exp", x)
    one = _scalar(1, x)
    um1 = ops.binary("subtract", u, one)
    kahan = ops.where(ops.binary("equal", u, one), x,
                      ops.binary("divide", ops.binary("multiply", um1, x), ops.unary("log", u)))
    return ops.where(ops.binary("less", ops.unary("abs", x), _scalar(0.5, x)), kahan, um1)


def log1p(ops: Ops, x):
    one = _scalar(1, x)
    u = ops.binary("add", x, one)
    log_u = ops.unary("log", u)
    kahan = ops.where(ops.binary("equal", u, one), x,
                      ops.binary("divide", ops.binary("multiply", log_u, x), ops.binary("subtract", u, one)))
    return ops.where(ops.binary("less", ops.unary("abs", x), _scalar(0.5, x)), kahan, log_u)


def round_away_from_zero(ops: Ops, x):
    magnitude = ops.unary("abs", x)
    whole = ops.unary("floor", magnitude)
    up = ops.binary("greater_equal", ops.binary("subtract", magnitude, whole), _scalar(0.5, x))
    rounded = ops.where(up, ops.binary("add", whole, _scalar(1, x)), whole)
    return ops.where(ops.binary("less", x, _scalar(0, x)), ops.unary("negative", rounded), rounded)


def atan2(ops: Ops, op, xs):
    dtype = dtype_name(xs[0])
    if dtype not in ("float16", "bfloat16"):
        return ops.binary("atan2", *xs)
    wide = [ops.astype(x, "float32") for x in xs]          # TVM's llvm has no 16-bit atan/atan2
    return ops.astype(ops.binary("atan2", *wide), dtype)


def logical_or_bitwise(name: str):
    def handler(ops: Ops, op, xs):
        kind = "logical" if dtype_name(xs[0]) == "bool" else "bitwise"
        return ops.unary(f"{kind}_not", xs[0]) if name == "not" else ops.binary(f"{kind}_{name}", *xs)
    return handler


def power(ops: Ops, op, xs):
    if not is_float(dtype_name(xs[0])):
        raise ExportError(f"stablehlo.power on {dtype_name(xs[0])} is not supported "
                          "(integer powers): use x * x or a float power")
    return ops.binary("power", *xs)


def convert(ops: Ops, x, dtype: str):
    """StableHLO convert: saturating float -> int, x != 0 for bool, plain casts otherwise."""
    source = dtype_name(x)
    if source == dtype:
        return x
    if dtype == "bool":
        return ops.binary("not_equal", x, _scalar(0, x))
    if not (is_float(source) and not is_float(dtype)):
        return ops.astype(x, dtype)
    info, src = np.iinfo(numpy_dtype(dtype)), numpy_dtype(source)
    with np.errstate(over="ignore"):
        low, high = np.asarray(info.min).astype(src), np.asarray(info.max).astype(src)
    clip_low = low if float(low) >= info.min else np.nextafter(low, np.asarray(0, src))
    clip_high = high if float(high) <= info.max else np.nextafter(high, np.asarray(0, src))
    safe = ops.clamp(ops.where(ops.unary("isnan", x), _scalar(0, x), x), clip_low, clip_high)
    out = ops.astype(safe, dtype)
    if float(high) > info.max:     # e.g. 2**31 in float32: the top of the range is not representable
        out = ops.where(ops.binary("greater_equal", x, high), np.asarray(info.max, numpy_dtype(dtype)), out)
    if float(low) < info.min:
        out = ops.where(ops.binary("less_equal", x, low), np.asarray(info.min, numpy_dtype(dtype)), out)
    return out


UNSIGNED = {"int8": "uint8", "int16": "uint16", "int32": "uint32", "int64": "uint64"}


def shift(ops: Ops, kind: str, x, n):
    """StableHLO shift_left / shift_right_logical / shift_right_arithmetic of integers `x` by `n`."""
    dtype = dtype_name(x)
    if is_float(dtype) or dtype == "bool":
        raise ExportError(f"stablehlo.{kind} on {dtype}: shifts take integers")
    bits = numpy_dtype(dtype).itemsize * 8
    unsigned = UNSIGNED.get(dtype, dtype)
    ux, un = ops.astype(x, unsigned), ops.astype(n, unsigned)        # two's complement: the same bits
    out_of_range = ops.binary("greater_equal", un, np.asarray(bits, numpy_dtype(unsigned)))
    static = isinstance(out_of_range, np.ndarray)
    if static and not np.any(out_of_range):
        amount = un
    else:
        amount = ops.where(out_of_range, np.asarray(0, numpy_dtype(unsigned)), un)
    if kind == "shift_left":
        raw, fill = ops.binary("left_shift", ux, amount), np.asarray(0, numpy_dtype(unsigned))
    else:
        raw, fill = ops.binary("right_shift", ux, amount), np.asarray(0, numpy_dtype(unsigned))
        if kind == "shift_right_arithmetic":      # XLA fills with the top bit for unsigned types too
            ones = np.asarray(np.iinfo(numpy_dtype(unsigned)).max, numpy_dtype(unsigned))
            negative = ops.binary("greater_equal", ux, np.asarray(1 << (bits - 1), numpy_dtype(unsigned)))
            high = ops.unary("bitwise_not", ops.binary("right_shift", ones, amount))
            raw = ops.binary("bitwise_or", raw, ops.where(negative, high, np.asarray(0, numpy_dtype(unsigned))))
            fill = ops.where(negative, ones, np.asarray(0, numpy_dtype(unsigned)))
    if not (static and not np.any(out_of_range)):
        raw = ops.where(out_of_range, fill, raw)
    return ops.astype(raw, dtype)


def bitcast_convert(ops: Ops, op, xs):
    shape, dtype = result_type(op)
    source = dtype_name(xs[0])
    if numpy_dtype(source).itemsize != numpy_dtype(dtype).itemsize:
        raise ExportError(f"stablehlo.bitcast_convert from {source} to {dtype} changes the element width "
                          "(and the shape); only bitcasts between types of one width are supported")
    return ops.bitcast(xs[0], dtype)


def total_order_compare(ops: Ops, direction: str, a, b):
    """IEEE totalOrder compare (-0 < +0, NaN above everything) for floats."""
    def negative_zero(x):
        zero = _scalar(0, x)
        return ops.binary("logical_and", ops.binary("equal", x, zero),
                          ops.binary("less", ops.binary("divide", _scalar(1, x), x), zero))

    def less(x, y):
        x_nan, y_nan = ops.unary("isnan", x), ops.unary("isnan", y)
        zeros = ops.binary("logical_and", negative_zero(x), ops.unary("logical_not", negative_zero(y)))
        ordered = ops.binary("logical_or", ops.binary("less", x, y),
                             ops.binary("logical_and", ops.binary("equal", x, y), zeros))
        return ops.binary("logical_and", ops.unary("logical_not", x_nan), ops.binary("logical_or", y_nan, ordered))

    def equal(x, y):
        both_nan = ops.binary("logical_and", ops.unary("isnan", x), ops.unary("isnan", y))
        same = ops.binary("logical_and", ops.binary("equal", x, y),
                          ops.unary("logical_not", ops.binary("logical_xor", negative_zero(x), negative_zero(y))))
        return ops.binary("logical_or", both_nan, same)

    table = {"LT": lambda: less(a, b), "GT": lambda: less(b, a), "EQ": lambda: equal(a, b),
             "NE": lambda: ops.unary("logical_not", equal(a, b)),
             "LE": lambda: ops.binary("logical_or", less(a, b), equal(a, b)),
             "GE": lambda: ops.binary("logical_or", less(b, a), equal(a, b))}
    return table[direction]()


def compare(ops: Ops, op, xs):
    from jaxlib.mlir.dialects import stablehlo
    direction = stablehlo.ComparisonDirectionAttr(op.attributes["comparison_direction"]).value
    kind = stablehlo.ComparisonTypeAttr(op.attributes["compare_type"]).value if "compare_type" in op.attributes \
        else None
    if kind == "TOTALORDER" and is_float(dtype_name(xs[0])):
        return total_order_compare(ops, direction, *xs)
    return ops.binary(COMPARE[direction], *xs)


HANDLERS = {
    **{f"stablehlo.{k}": (lambda ops, op, xs, name=v: ops.unary(name, xs[0])) for k, v in DIRECT_UNARY.items()},
    **{f"stablehlo.{k}": (lambda ops, op, xs, name=v: ops.binary(name, *xs)) for k, v in DIRECT_BINARY.items()},
    "stablehlo.sign": lambda ops, op, xs: sign(ops, xs[0]),
    "stablehlo.exponential_minus_one": lambda ops, op, xs: expm1(ops, xs[0]),
    "stablehlo.log_plus_one": lambda ops, op, xs: log1p(ops, xs[0]),
    "stablehlo.round_nearest_afz": lambda ops, op, xs: round_away_from_zero(ops, xs[0]),
    "stablehlo.not": logical_or_bitwise("not"),
    "stablehlo.and": logical_or_bitwise("and"),
    "stablehlo.or": logical_or_bitwise("or"),
    "stablehlo.xor": logical_or_bitwise("xor"),
    "stablehlo.power": power,
    **{f"stablehlo.{k}": (lambda ops, op, xs, kind=k: shift(ops, kind, *xs))
       for k in ("shift_left", "shift_right_logical", "shift_right_arithmetic")},
    "stablehlo.bitcast_convert": bitcast_convert,
    "stablehlo.atan2": atan2,
    "stablehlo.compare": compare,
    "stablehlo.select": lambda ops, op, xs: ops.where(*xs),
    "stablehlo.clamp": lambda ops, op, xs: ops.clamp(xs[1], xs[0], xs[2]),
    "stablehlo.convert": lambda ops, op, xs: convert(ops, xs[0], result_type(op)[1]),
}
