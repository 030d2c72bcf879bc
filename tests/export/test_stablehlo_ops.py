"""Every StableHLO op the importer covers, against jax.jit on random inputs, on every backend.

Each case is exported with jax.export, then run by the Relax importer (TVM, llvm), by
onnxruntime on the exported ONNX file, and by TVM's ONNX frontend on the same file
(see stablehlo_harness.py). Cases that jax cannot emit directly (unsorted broadcast dims,
TOTALORDER compares, window reversal) are written as StableHLO text.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from aotsnn.export import ExportError
from aotsnn.export.frontend.to_relax import import_stablehlo
from aotsnn.export.frontend.to_onnx import export_onnx
from aotsnn.export.frontend.walk import MAX_UNROLL

from stablehlo_harness import BACKENDS, check, check_text, run_backend, stablehlo_of

RNG = np.random.default_rng(20261123)
NO_ORT = ("relax", "tvm-onnx")        # onnxruntime has few float16 CPU kernels


def rand(shape, dtype="float32", low=-3.0, high=3.0):
    if dtype == "bool":
        return RNG.uniform(size=shape) < 0.5
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        return RNG.integers(max(info.min, -50), min(info.max, 50), size=shape, endpoint=True).astype(dtype)
    return RNG.uniform(low, high, size=shape).astype(dtype)


def tol(dtype):
    return {"rtol": 2e-3, "atol": 2e-3} if dtype == "float16" else {"rtol": 2e-6, "atol": 1e-6}


def backends_for(dtype):
    return NO_ORT if dtype == "float16" else BACKENDS


# -- elementwise ---------------------------------------------------------------------------------
UNARY = {
    "negate": (jnp.negative, -3, 3), "exponential": (jnp.exp, -3, 3), "log": (jnp.log, 0.01, 5),
    "sqrt": (jnp.sqrt, 0, 9), "rsqrt": (lax.rsqrt, 0.1, 9), "abs": (jnp.abs, -3, 3), "tanh": (jnp.tanh, -3, 3),
    "logistic": (jax.nn.sigmoid, -6, 6), "floor": (jnp.floor, -3, 3), "ceil": (jnp.ceil, -3, 3),
    "sine": (jnp.sin, -3, 3), "cosine": (jnp.cos, -3, 3), "tan": (jnp.tan, -1.4, 1.4),
    "exponential_minus_one": (jnp.expm1, -2, 2), "log_plus_one": (jnp.log1p, -0.9, 3),
}


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, dtype):
    fn, low, high = UNARY[name]
    check(fn, rand((3, 5), dtype, low, high), backends=backends_for(dtype), **tol(dtype))


def test_expm1_and_log1p_are_accurate_near_zero():
    x = np.array([1e-7, -1e-7, 3e-5, -2e-4, 0.0, 0.3, -0.49, 0.6, 20.0, -20.0, 80.0], np.float32)
    check(lambda x: (jnp.expm1(x), jnp.log1p(jnp.abs(x))), x, rtol=3e-7)


def test_rounding_halves():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -0.49999997, 3.7, -3.7, -0.0], np.float32)
    check(lambda x: (jnp.round(x), lax.round(x, lax.RoundingMethod.AWAY_FROM_ZERO),
                     lax.round(x, lax.RoundingMethod.TO_NEAREST_EVEN)), x)


def test_sign_keeps_signed_zero_and_nan():
    x = np.array([-2.0, -0.0, 0.0, 3.0, np.nan, -np.inf], np.float32)
    check(lambda x: jnp.sign(x), x)
    check(lambda x: jnp.sign(x), np.array([-4, 0, 9], np.int32))


def test_is_finite():
    check(jnp.isfinite, np.array([1.0, np.inf, -np.inf, np.nan, -0.0], np.float32))


BINARY = {
    "add": jnp.add, "subtract": jnp.subtract, "multiply": jnp.multiply, "divide": jnp.divide,
    "maximum": jnp.maximum, "minimum": jnp.minimum, "remainder": lax.rem, "atan2": jnp.arctan2,
}


@pytest.mark.parametrize("name,dtype", [(name, dtype) for name in sorted(BINARY)
                                        for dtype in ("float32", "float16", "int32")
                                        if not (name == "atan2" and dtype == "int32")])   # atan2: floats only
def test_binary(name, dtype):
    a, b = rand((4, 3), dtype), rand((4, 3), dtype)
    if name in ("divide", "remainder"):
        b = np.where(b == 0, 3, b).astype(dtype)
    fn = BINARY[name] if not (name == "divide" and dtype == "int32") else lax.div
    check(fn, a, b, backends=backends_for(dtype), **tol(dtype))


def test_integer_division_and_remainder_truncate_toward_zero():
    a = np.array([-7, 7, -7, 7, -1, 0], np.int32)
    b = np.array([2, -2, -2, 2, 3, 5], np.int32)
    check(lambda a, b: (lax.div(a, b), lax.rem(a, b)), a, b)
    check(lambda a, b: lax.rem(a, b), a.astype(np.float32) + 0.5, b.astype(np.float32))


def test_atan2_quadrants_and_axes():
    y = np.array([1, 1, -1, -1, 0, 0, 1, -1, 0, 0, -0.0, -0.0, -0.0, 2.5], np.float32)
    x = np.array([1, -1, 1, -1, 1, -1, 0, 0, 0, -0.0, -1, 0, -0.0, -0.0], np.float32)
    check(jnp.arctan2, y, x, rtol=3e-7, atol=1e-7)


def test_power_on_floats():
    check(jnp.power, rand((3, 4), low=0.1, high=3), rand((3, 4), low=-2, high=2), rtol=3e-6)


@pytest.mark.parametrize("dtype", ["bool", "int32", "uint8"])
def test_logical_and_bitwise(dtype):
    a, b = rand((5,), dtype), rand((5,), dtype)
    check(lambda a, b: (a & b, a | b, a ^ b, ~a), a, b)


@pytest.mark.parametrize("dtype", ["float32", "int32", "uint32", "float16"])
def test_compare_every_direction(dtype):
    a = rand((6,), dtype)
    b = np.where(RNG.uniform(size=6) < 0.3, a, rand((6,), dtype)).astype(dtype)
    if dtype == "uint32":           # values above 2**31 would be negative if compared as signed
        a = np.array([0, 1, 2**31 + 5, 2**32 - 1, 7, 2**31], np.uint32)
        b = np.array([1, 1, 3, 2**31, 2**32 - 1, 2**31], np.uint32)
    if dtype.startswith("float"):
        a[:2], b[1:3] = np.nan, np.nan
    check(lambda a, b: (a == b, a != b, a < b, a <= b, a > b, a >= b), a, b, backends=backends_for(dtype))


TOTALORDER = """
func.func public @main(%a: tensor<7xf32>, %b: tensor<7xf32>) -> (tensor<7xi1>, tensor<7xi1>, tensor<7xi1>,
                                                                  tensor<7xi1>, tensor<7xi1>, tensor<7xi1>) {
  %0 = stablehlo.compare LT, %a, %b, TOTALORDER : (tensor<7xf32>, tensor<7xf32>) -> tensor<7xi1>
  %1 = stablehlo.compare LE, %a, %b, TOTALORDER : (tensor<7xf32>, tensor<7xf32>) -> tensor<7xi1>
  %2 = stablehlo.compare GT, %a, %b, TOTALORDER : (tensor<7xf32>, tensor<7xf32>) -> tensor<7xi1>
  %3 = stablehlo.compare GE, %a, %b, TOTALORDER : (tensor<7xf32>, tensor<7xf32>) -> tensor<7xi1>
  %4 = stablehlo.compare EQ, %a, %b, TOTALORDER : (tensor<7xf32>, tensor<7xf32>) -> tensor<7xi1>
  %5 = stablehlo.compare NE, %a, %b, TOTALORDER : (tensor<7xf32>, tensor<7xf32>) -> tensor<7xi1>
  return %0, %1, %2, %3, %4, %5 : tensor<7xi1>, tensor<7xi1>, tensor<7xi1>, tensor<7xi1>, tensor<7xi1>, tensor<7xi1>
}
"""


def test_total_order_compare():
    a = np.array([-0.0, 0.0, np.nan, 1.0, np.nan, -np.inf, 2.0], np.float32)
    b = np.array([0.0, -0.0, 5.0, np.nan, np.nan, -np.inf, 1.0], np.float32)
    key = lambda x: (np.isnan(x), x, not np.signbit(x))         # NaN above all, -0 below +0
    ka, kb = [key(v) for v in a], [key(v) for v in b]
    lt = np.array([p < q for p, q in zip(ka, kb)])
    eq = np.array([(p[0] and q[0]) or p == q for p, q in zip(ka, kb)])
    gt = ~lt & ~eq
    check_text(TOTALORDER, [a, b], [lt, lt | eq, gt, gt | eq, eq, ~eq])


def test_select_with_scalar_and_tensor_predicates():
    x, y = rand((3, 4)), rand((3, 4))
    check(lambda p, x, y: (jnp.where(p, x, y), lax.select(p[0, 0], x, y), jnp.where(x > 0, x, 0.5)),
          rand((3, 4), "bool"), x, y)


def test_clamp_scalar_and_tensor_bounds():
    x, lo = rand((3, 4)), rand((3, 4), low=-2, high=0)
    check(lambda x, lo, s: (lax.clamp(-1.0, x, 1.5), lax.clamp(lo, x, lo + 1), lax.clamp(s, x, 2.0)),
          x, lo, np.float32(0.25))
    check(lambda x: lax.clamp(np.int32(-3), x, np.int32(4)), rand((6,), "int32"))


CONVERT_INPUT = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, -2.7, 2.7, 0.5, -0.5, 0.0, 255.9, 300.0], np.float32)


@pytest.mark.parametrize("to_dtype", ["int32", "int8", "uint8", "uint32", "int64", "bool", "float16"])
def test_convert_from_float32_saturates_like_xla(to_dtype):
    with jax.enable_x64(to_dtype == "int64"):      # without x64 jax would quietly convert to int32
        check(lambda x: x.astype(to_dtype), CONVERT_INPUT,
              backends=("relax", "tvm-onnx") if to_dtype != "bool" else BACKENDS)


@pytest.mark.parametrize("source,to_dtype", [("int32", "float32"), ("bool", "float32"), ("int32", "int8"),
                                           ("float16", "int32"), ("int32", "bool"), ("float32", "float64")])
def test_convert_other_pairs(source, to_dtype):
    x = rand((7,), source) if source != "int32" else np.array([-300, -1, 0, 1, 127, 128, 70000], np.int32)
    if source == "float16":
        x = np.array([np.nan, np.inf, -np.inf, 65504, -2.5, 2.5, 0], np.float16)
    with jax.enable_x64(to_dtype == "float64"):    # without x64 jax would quietly stay in float32
        check(lambda x: x.astype(to_dtype), x, backends=backends_for(source))


# -- shapes -------------------------------------------------------------------------------------
def test_broadcast_reshape_transpose():
    check(lambda x, s: (jnp.broadcast_to(x[:, None, :], (2, 4, 3)), x.reshape(3, 2).T, jnp.transpose(
        jnp.broadcast_to(x, (5, 2, 3)), (2, 0, 1)), x * s), rand((2, 3)), np.float32(1.5))


UNSORTED_BROADCAST = """
func.func public @main(%x: tensor<2x3xf32>) -> tensor<3x4x2xf32> {
  %0 = stablehlo.broadcast_in_dim %x, dims = [2, 0] : (tensor<2x3xf32>) -> tensor<3x4x2xf32>
  return %0 : tensor<3x4x2xf32>
}
"""


def test_broadcast_in_dim_with_unsorted_dims():
    x = rand((2, 3))
    want = np.broadcast_to(x.T[:, None, :], (3, 4, 2))      # result[i, j, k] = x[k, i]
    check_text(UNSORTED_BROADCAST, [x], [want])


@pytest.mark.parametrize("dtype", ["float32", "int32", "bool"])
def test_slice_concat_reverse_iota(dtype):
    x = rand((4, 6), dtype)
    check(lambda x: (x[1:4:2, ::3], jnp.concatenate([x, x[:, :2]], axis=1), jnp.flip(x, (0, 1)),
                     lax.iota(jnp.int32, 5), lax.broadcasted_iota(jnp.float32, (2, 3), 1)), x)


@pytest.mark.parametrize("start", [2, -3])
def test_dynamic_slice_clamps_dynamic_starts(start):
    x = rand((6, 4))
    check(lambda x, i: (lax.dynamic_slice(x, (i, np.int32(1)), (3, 2)), lax.dynamic_index_in_dim(x, i, 0, False),
                        lax.dynamic_slice(x, (i + 4, i), (3, 2))),
          x, np.int32(start))


@pytest.mark.parametrize("start", [1, -2])
def test_dynamic_update_slice_clamps_dynamic_starts(start):
    x, u = rand((6, 4)), rand((2, 3))
    check(lambda x, u, i: (lax.dynamic_update_slice(x, u, (i, np.int32(1))), lax.dynamic_update_slice(x, u, (i + 7, i)),
                           lax.dynamic_update_slice(x, u, (np.int32(start), i)),
                           lax.dynamic_update_index_in_dim(x, u[0, :1] * 2, i, 1)), x, u, np.int32(start))


def test_pad_edges_negative_interior_and_dynamic_value():
    x = rand((3, 4))
    check(lambda x, v: (lax.pad(x, np.float32(0), ((1, 2, 0), (0, 0, 0))), lax.pad(x, v, ((-1, 2, 1), (2, -1, 2))),
                        jnp.pad(x, ((0, 1), (2, 0)), constant_values=7.0)), x, np.float32(-4.5))
    check(lambda x: lax.pad(x, np.int32(9), ((1, 0, 1),)), rand((4,), "int32"))


# -- contractions and reductions ----------------------------------------------------------------
@pytest.mark.parametrize("spec,shapes", [
    ("ik,kj->ij", [(3, 5), (5, 4)]),              # x @ W: the event-driven kernel
    ("bi,bij->bj", [(2, 5), (2, 5, 3)]),           # batch dims (STPDenseSynapse)
    ("abc,bcd->ad", [(2, 3, 4), (3, 4, 5)]),       # two contracting dims
    ("ki,kj->ij", [(5, 3), (5, 4)]),               # transposed lhs
    ("ik,jk->ij", [(3, 5), (4, 5)]),               # transposed rhs
    ("ibj,bjk->bik", [(3, 2, 4), (2, 4, 5)]),      # batch dim not leading
])
def test_dot_general(spec, shapes):
    check(lambda a, b: jnp.einsum(spec, a, b), *[rand(s) for s in shapes], rtol=1e-5, atol=1e-5)


def test_dot_general_int_and_float16():
    check(lambda a, b: a @ b, rand((3, 4), "int32"), rand((4, 2), "int32"))
    check(lambda a, b: a @ b, rand((3, 4), "float16"), rand((4, 2), "float16"), backends=NO_ORT, rtol=5e-3, atol=5e-3)


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_reduce_kinds_and_axes(dtype):
    x = rand((3, 4, 2), dtype, low=0.5, high=1.5) if dtype != "int32" else RNG.integers(-3, 4, (3, 4, 2), np.int32)
    check(lambda x: (x.sum(axis=(0, 2)), x.max(axis=1), x.min(axis=(0, 1, 2)), x.prod(axis=(1, 2))), x,
          rtol=1e-5)


def test_reduce_bools_and_non_identity_init():
    check(lambda x: (jnp.all(x, axis=0), jnp.any(x, axis=(0, 1))), rand((4, 3), "bool"))
    check(lambda x: (lax.reduce(x, np.float32(5.0), lax.add, (0,)), lax.reduce(x, np.float32(0.5), lax.max, (1,))),
          rand((3, 4), low=-1, high=1), rtol=1e-6)


CONVS = {
    "stride_pad_dilate": dict(window_strides=(2, 1), padding=((1, 1), (0, 2)), rhs_dilation=(1, 2)),
    "same": dict(window_strides=(1, 1), padding="SAME"),
    "lhs_dilation": dict(window_strides=(1, 1), padding=((2, 1), (0, 1)), lhs_dilation=(2, 3)),
    "negative_pad": dict(window_strides=(1, 1), padding=((-1, 0), (1, -2))),
}


@pytest.mark.parametrize("name", sorted(CONVS))
def test_conv_nhwc_hwio(name):
    x, w = rand((2, 7, 6, 3)), rand((3, 2, 3, 4))
    check(lambda x, w: lax.conv_general_dilated(x, w, dimension_numbers=("NHWC", "HWIO", "NHWC"), **CONVS[name]),
          x, w, rtol=1e-5, atol=1e-5)


def test_conv_groups_transpose_and_1d():
    x, w = rand((1, 6, 6, 4)), rand((3, 3, 2, 6))
    check(lambda x, w: (lax.conv_general_dilated(x, w, (1, 1), "VALID", feature_group_count=2,
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC")),
                        lax.conv_transpose(x, w[:, :, :1, :].reshape(3, 3, 6)[..., :4].reshape(3, 3, 4, 1), (2, 2),
                                           "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))),
          x, w, rtol=1e-5, atol=1e-5)
    check(lambda x, w: lax.conv_general_dilated(x, w, (2,), ((1, 2),), dimension_numbers=("NWC", "WIO", "NWC")),
          rand((2, 9, 3)), rand((3, 3, 2)), rtol=1e-5, atol=1e-5)
    check(lambda x, w: lax.conv(x, w, (1, 1), "SAME"), rand((1, 2, 5, 5)), rand((3, 2, 3, 3)), rtol=1e-5, atol=1e-5)


REVERSED_WINDOW = """
func.func public @main(%x: tensor<1x5x1xf32>, %w: tensor<3x1x1xf32>) -> tensor<1x3x1xf32> {
  %0 = stablehlo.convolution(%x, %w) dim_numbers = [b, 0, f]x[0, i, o]->[b, 0, f],
       window = {stride = [1], pad = [[0, 0]], rhs_dilate = [1], reverse = [true]}
       {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (tensor<1x5x1xf32>, tensor<3x1x1xf32>) -> tensor<1x3x1xf32>
  return %0 : tensor<1x3x1xf32>
}
"""


def test_conv_window_reversal():
    x, w = rand((1, 5, 1)), rand((3, 1, 1))
    want = np.array([[np.convolve(x[0, :, 0], w[:, 0, 0], "valid")]], np.float32).transpose(0, 2, 1)
    check_text(REVERSED_WINDOW, [x, w], [want], backends=("relax", "onnxruntime"), rtol=1e-6, atol=1e-6)


# -- control flow -------------------------------------------------------------------------------
def test_fori_loop_and_scan_are_unrolled():
    def fn(x, xs):
        c, ys = lax.scan(lambda c, xi: (c * 0.5 + xi, c.sum()), x, xs)
        return lax.fori_loop(0, 3, lambda i, c: c + i * c, c), ys
    check(fn, rand((2, 3)), rand((4, 2, 3)), rtol=1e-6, atol=1e-6)


def test_cond_with_static_predicate():
    check(lambda x: lax.fori_loop(0, 4, lambda i, c: lax.cond(i % 2 == 0, lambda: c + 1.0, lambda: c * 2.0), x),
          rand((3,)))


def test_dynamic_loop_is_refused_with_the_op_and_location():
    text = stablehlo_of(lambda x: lax.while_loop(lambda c: c.sum() < 10.0, lambda c: c + 1.0, x), rand((3,)))
    for export in (import_stablehlo, export_onnx):
        with pytest.raises(ExportError, match="stablehlo.while at .*trip count is not static"):
            export(text)


def test_too_long_loop_is_refused():
    text = stablehlo_of(lambda x: lax.fori_loop(0, MAX_UNROLL + 1, lambda i, c: c * 0.5, x), rand((3,)))
    with pytest.raises(ExportError, match=f"more than {MAX_UNROLL} iterations"):
        import_stablehlo(text)


def test_runtime_branch_is_refused():
    text = stablehlo_of(lambda p, x: lax.cond(p, lambda: x + 1.0, lambda: x - 1.0), True, rand((3,)))
    with pytest.raises(ExportError, match="stablehlo.case .*jnp.where"):
        import_stablehlo(text)


def test_unsupported_op_names_the_op_and_its_location():
    def fn(x):
        with jax.named_scope("aotsnn.Sorter.step"):
            return jnp.sort(x) + jnp.cumsum(x)
    text = stablehlo_of(fn, rand((4,)))
    for export in (import_stablehlo, export_onnx):
        with pytest.raises(ExportError, match=r"unsupported op 'stablehlo.sort' at sort, inlined from "
                                              r"jit\(fn\)/aotsnn.Sorter.step/jit\(sort\) \(test_stablehlo_ops.py:\d+\)"):
            export(text)


def test_unsupported_custom_call_names_its_target():
    text = stablehlo_of(lambda x: jnp.linalg.cholesky(x @ x.T + 3 * jnp.eye(3)), rand((3, 3)))
    with pytest.raises(ExportError, match="custom_call '.*'"):
        import_stablehlo(text)


# -- integer bit ops: what jax.random's threefry needs --------------------------------------------
BIT_PATTERNS = np.array([0, 1, 0x7F800000, 0xFF800000, 0x7FC00000, 0x00000001, 0x007FFFFF, 0x80000001, 0x3F800000,
                         0xBF7FFFFF, 0x00800000, 0x7F7FFFFF, 0x12345678, 0xFFFFFFFF], np.uint32)
SHIFTS = np.array([0, 1, 5, 31, 32, 33, 200, 3, 7, 8, 9, 13, 2, 4], np.uint32)


def test_bitcast_uint32_and_int32_to_float32_every_field():
    # zero, subnormals, normals, +-inf, NaN, the largest finite: exact on every backend (ONNX by construction)
    check(lambda u: jax.lax.bitcast_convert_type(u, jnp.float32), BIT_PATTERNS)
    check(lambda u: jax.lax.bitcast_convert_type(u, jnp.float32), BIT_PATTERNS.view(np.int32))


def test_bitcast_float32_to_uint32_on_relax_and_refused_on_onnx():
    x = np.array([1.0, -0.0, 3.5e-39, np.inf], np.float32)
    check(lambda v: jax.lax.bitcast_convert_type(v, jnp.uint32), x, backends=("relax",))
    with pytest.raises(ExportError, match="no bitcast from float32 to uint32"):
        run_backend("onnxruntime", stablehlo_of(lambda v: jax.lax.bitcast_convert_type(v, jnp.uint32), x), [x])


@pytest.mark.parametrize("dtype", [np.uint32, np.int32])
def test_shifts_in_and_out_of_range(dtype):
    # amounts >= 32 (and negative ones, as unsigned) give 0, or the sign fill for the arithmetic shift
    x, n = BIT_PATTERNS.view(dtype), SHIFTS.astype(dtype)
    if dtype == np.int32:
        n[3] = -1
    check(lambda a, b: (jax.lax.shift_left(a, b), jax.lax.shift_right_logical(a, b),
                        jax.lax.shift_right_arithmetic(a, b)), x, n)


def test_uint32_arithmetic_wraps_and_constant_shifts():
    check(lambda a: (jax.lax.shift_right_logical(a, np.uint32(9)), a * np.uint32(0x9E3779B9) + np.uint32(0xFFFFFFF0),
                     a - np.uint32(3)), BIT_PATTERNS)


def test_jax_random_threefry_bits_and_uniform_are_bit_exact():
    def draw(key):
        k, sub = jax.random.split(jax.random.wrap_key_data(key))
        return jax.random.key_data(k), jax.random.uniform(sub, (3, 7)), jax.random.bits(sub, (5,))
    check(draw, np.array([0, 42], np.uint32), rtol=0)
