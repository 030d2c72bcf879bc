"""Values of a StableHLO walk and the primitive ops both backends (Relax, ONNX) implement.

A value is either a numpy array (statically known: constants, iotas, loop counters, and what
is computed from them alone) or a `Tensor`, a backend value with its static shape and dtype.
`Ops` is the layer the op handlers call: when every operand is known and the op is exact in
numpy it folds the op; otherwise it hands the op to the backend.

Uniform known values (every element equal, e.g. `broadcast_in_dim` of a scalar constant) are
kept as `numpy.broadcast_to` views, so they cost no memory at any shape; next to a full-shaped
tensor in an elementwise op they are passed as 0-d scalars, which TVM turns into immediates
inside the fused kernel rather than constant tensors read at run time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import numpy as np

FOLD_LIMIT = 4096          # largest non-uniform known value computed in numpy (elements)


@dataclass(frozen=True)
class Tensor:
    """A backend value (relax expression, ONNX value name) with its static shape and dtype."""

    value: Any
    shape: tuple[int, ...]
    dtype: str


Value = Tensor | np.ndarray


def numpy_dtype(dtype: str) -> np.dtype:
    """numpy dtype for a TVM dtype name (bfloat16 via ml_dtypes, which jax installs)."""
    if dtype == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(dtype)


def dtype_name(value: Value) -> str:
    if isinstance(value, Tensor):
        return value.dtype
    return "bfloat16" if value.dtype.name == "bfloat16" else value.dtype.name


def shape_of(value: Value) -> tuple[int, ...]:
    return tuple(value.shape)


def is_float(dtype: str) -> bool:
    return dtype.startswith(("float", "bfloat"))


def uniform_scalar(value: np.ndarray) -> np.ndarray | None:
    """The 0-d value of an array whose elements are all equal (by construction), else None."""
    if value.size == 0:
        return None
    if value.ndim == 0 or value.size == 1 or all(s == 0 for s in value.strides):
        return value.reshape(-1)[:1].reshape(())
    return None


def known(value: np.ndarray) -> np.ndarray:
    """Canonical form of a known value: uniform arrays become read-only broadcast views."""
    scalar = uniform_scalar(value)
    return np.broadcast_to(scalar, value.shape) if scalar is not None and value.ndim else value


class Backend(Protocol):
    """What a backend provides. Tensor arguments carry shapes and dtypes; results are raw values."""

    def constant(self, value: np.ndarray) -> Any: ...
    def unary(self, name: str, x: Tensor) -> Any: ...
    def binary(self, name: str, a: Tensor, b: Tensor) -> Any: ...
    def where(self, cond: Tensor, a: Tensor, b: Tensor) -> Any: ...
    def astype(self, x: Tensor, dtype: str) -> Any: ...
    def bitcast(self, x: Tensor, dtype: str) -> Any: ...
    def reshape(self, x: Tensor, shape: tuple[int, ...]) -> Any: ...
    def permute(self, x: Tensor, perm: tuple[int, ...]) -> Any: ...
    def broadcast_to(self, x: Tensor, shape: tuple[int, ...]) -> Any: ...
    def slice(self, x: Tensor, starts: Sequence[int], limits: Sequence[int], strides: Sequence[int]) -> Any: ...
    def reverse(self, x: Tensor, axes: Sequence[int]) -> Any: ...
    def concat(self, xs: Sequence[Tensor], axis: int) -> Any: ...
    def take(self, x: Tensor, indices: Tensor, axis: int) -> Any: ...
    def pad(self, x: Tensor, low: Sequence[int], high: Sequence[int], value: float) -> Any: ...
    def matmul(self, a: Tensor, b: Tensor, out_dtype: str) -> Any: ...
    def csr_matmul(self, x: Tensor, weights: Tensor, pre_start: Tensor, post_index: Tensor, n_out: int) -> Any: ...
    def csr_correlate(self, a: Tensor, z: Tensor, pre_start: Tensor, post_index: Tensor) -> Any: ...
    def reduce(self, kind: str, x: Tensor, axes: Sequence[int]) -> Any: ...
    def conv(self, x: Tensor, w: Tensor, strides: Sequence[int], padding: Sequence[tuple[int, int]],
             dilation: Sequence[int], groups: int, out_dtype: str) -> Any: ...


# Elementwise primitives: name -> numpy implementation with StableHLO semantics, or None where
# numpy's result may differ from the compiled kernel's in the last bit (transcendentals).
def _trunc_divide(a, b):
    if np.issubdtype(a.dtype, np.integer):
        return (a - np.fmod(a, b)) // b      # exact: a - fmod(a, b) is a multiple of b
    return np.divide(a, b)


UNARY_FOLD: dict[str, Callable | None] = {
    "negative": np.negative, "abs": np.abs, "floor": np.floor, "ceil": np.ceil, "round": np.round,
    "logical_not": np.logical_not, "bitwise_not": np.invert, "isfinite": np.isfinite, "isnan": np.isnan,
    "sign": None, "exp": None, "log": None, "sqrt": None, "rsqrt": None, "tanh": None, "sigmoid": None,
    "sin": None, "cos": None, "tan": None, "atan": None,
}
BINARY_FOLD: dict[str, Callable | None] = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": _trunc_divide,
    "maximum": np.maximum, "minimum": np.minimum, "mod": np.fmod,
    "logical_and": np.logical_and, "logical_or": np.logical_or, "logical_xor": np.logical_xor,
    "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor,
    "equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal, "power": None, "atan2": None,
    # on unsigned integers, by amounts in [0, bits) only (aotsnn.export.frontend.elementwise.shift)
    "left_shift": np.left_shift, "right_shift": np.right_shift,
}
COMPARISONS = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal"}
PREDICATES = {"isfinite", "isnan"}


class Ops:
    """Primitive ops on `Value`s: folded in numpy when possible, else emitted by `backend`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # -- moving known values into the backend -------------------------------------------------
    def tensor(self, value: Value) -> Tensor:
        """`value` as a full-shaped backend tensor."""
        if isinstance(value, Tensor):
            return value
        dtype, scalar = dtype_name(value), uniform_scalar(value)
        if scalar is not None and value.ndim:
            return self.broadcast_to(Tensor(self.backend.constant(scalar), (), dtype), value.shape)
        return Tensor(self.backend.constant(np.array(value, order="C")), tuple(value.shape), dtype)

    def _scalar_or_tensor(self, value: Value) -> Tensor:
        """For elementwise operands: a uniform known value as a 0-d constant (an immediate)."""
        if isinstance(value, np.ndarray) and (scalar := uniform_scalar(value)) is not None:
            return Tensor(self.backend.constant(scalar), (), dtype_name(value))
        return self.tensor(value)

    def _elementwise(self, emit: Callable, operands: Sequence[Value], dtype: str) -> Tensor:
        shape = tuple(np.broadcast_shapes(*(shape_of(x) for x in operands)))
        lifted = [self._scalar_or_tensor(x) for x in operands]
        out = Tensor(emit(*lifted), tuple(np.broadcast_shapes(*(t.shape for t in lifted))), dtype)
        return out if out.shape == shape else self.broadcast_to(out, shape)

    @staticmethod
    def _fold(fn: Callable, operands: Sequence[np.ndarray], dtype: str) -> np.ndarray | None:
        """fn on known operands in numpy, or None when the result would be large and not uniform."""
        shape = np.broadcast_shapes(*(x.shape for x in operands))
        scalars = [uniform_scalar(x) for x in operands]
        with np.errstate(all="ignore"):
            if all(s is not None for s in scalars):
                return np.broadcast_to(np.asarray(fn(*scalars)).astype(numpy_dtype(dtype)), shape)
            if int(np.prod(shape)) > FOLD_LIMIT:
                return None
            return known(np.asarray(fn(*operands)).astype(numpy_dtype(dtype)))

    def _all_known(self, operands) -> bool:
        return all(isinstance(x, np.ndarray) for x in operands)

    # -- elementwise --------------------------------------------------------------------------
    def unary(self, name: str, x: Value) -> Value:
        fn = UNARY_FOLD[name]
        dtype = "bool" if name in PREDICATES else dtype_name(x)
        if fn is not None and self._all_known([x]) and (folded := self._fold(fn, [x], dtype)) is not None:
            return folded
        return self._elementwise(lambda t: self.backend.unary(name, t), [x], dtype)

    def binary(self, name: str, a: Value, b: Value) -> Value:
        fn = BINARY_FOLD[name]
        dtype = "bool" if name in COMPARISONS else dtype_name(a)
        if fn is not None and self._all_known([a, b]) \
                and not (name in ("divide", "mod") and not is_float(dtype) and not np.all(b)) \
                and (folded := self._fold(fn, [a, b], dtype)) is not None:
            return folded
        return self._elementwise(lambda p, q: self.backend.binary(name, p, q), [a, b], dtype)

    def where(self, cond: Value, a: Value, b: Value) -> Value:
        if self._all_known([cond, a, b]) and (folded := self._fold(np.where, [cond, a, b], dtype_name(a))) is not None:
            return folded
        return self._elementwise(self.backend.where, [cond, a, b], dtype_name(a))

    def astype(self, x: Value, dtype: str) -> Value:
        """Plain cast: float -> int truncates toward zero (in-range values only)."""
        if dtype_name(x) == dtype:
            return x
        if isinstance(x, np.ndarray):
            with np.errstate(all="ignore"):
                scalar = uniform_scalar(x)
                if scalar is not None:
                    return np.broadcast_to(scalar.astype(numpy_dtype(dtype)), x.shape)
                return x.astype(numpy_dtype(dtype))
        return self._elementwise(lambda t: self.backend.astype(t, dtype), [x], dtype)

    def bitcast(self, x: Value, dtype: str) -> Value:
        """The same bits read as `dtype`, of the same width (StableHLO bitcast_convert)."""
        if dtype_name(x) == dtype:
            return x
        if isinstance(x, np.ndarray):
            scalar = uniform_scalar(x)
            if scalar is not None:
                return np.broadcast_to(np.ascontiguousarray(scalar).view(numpy_dtype(dtype)).reshape(()), x.shape)
            if x.size <= FOLD_LIMIT:
                return known(np.ascontiguousarray(x).view(numpy_dtype(dtype)))
        return self._elementwise(lambda t: self.backend.bitcast(t, dtype), [x], dtype)

    def clamp(self, x: Value, low: Value, high: Value) -> Value:
        return self.binary("minimum", self.binary("maximum", x, low), high)

    def constant(self, value, dtype: str) -> np.ndarray:
        return known(np.asarray(value, dtype=numpy_dtype(dtype)))

    # -- shapes -------------------------------------------------------------------------------
    def _shape_op(self, x: Value, shape: tuple[int, ...], fold: Callable, emit: Callable) -> Value:
        if isinstance(x, np.ndarray) and (uniform_scalar(x) is not None or int(np.prod(shape)) <= FOLD_LIMIT):
            scalar = uniform_scalar(x)
            return np.broadcast_to(scalar, shape) if scalar is not None else known(fold(x))
        t = self.tensor(x)
        return Tensor(emit(t), tuple(shape), t.dtype)

    def reshape(self, x: Value, shape: Sequence[int]) -> Value:
        shape = tuple(int(d) for d in shape)
        if shape_of(x) == shape:
            return x
        return self._shape_op(x, shape, lambda a: a.reshape(shape), lambda t: self.backend.reshape(t, shape))

    def permute(self, x: Value, perm: Sequence[int]) -> Value:
        perm = tuple(int(p) for p in perm)
        if perm == tuple(range(len(perm))):
            return x
        shape = tuple(shape_of(x)[p] for p in perm)
        return self._shape_op(x, shape, lambda a: a.transpose(perm), lambda t: self.backend.permute(t, perm))

    def broadcast_to(self, x: Value, shape: Sequence[int]) -> Value:
        shape = tuple(int(d) for d in shape)
        if shape_of(x) == shape:
            return x
        return self._shape_op(x, shape, lambda a: np.broadcast_to(a, shape),
                              lambda t: self.backend.broadcast_to(t, shape))

    def slice(self, x: Value, starts: Sequence[int], limits: Sequence[int], strides: Sequence[int]) -> Value:
        starts, limits, strides = list(map(int, starts)), list(map(int, limits)), list(map(int, strides))
        in_shape = shape_of(x)
        if starts == [0] * len(in_shape) and limits == list(in_shape) and strides == [1] * len(in_shape):
            return x
        shape = tuple(max(0, -(-(hi - lo) // st)) for lo, hi, st in zip(starts, limits, strides))
        index = tuple(slice(lo, hi, st) for lo, hi, st in zip(starts, limits, strides))
        return self._shape_op(x, shape, lambda a: a[index], lambda t: self.backend.slice(t, starts, limits, strides))

    def reverse(self, x: Value, axes: Sequence[int]) -> Value:
        axes = [int(a) for a in axes]
        if not axes:
            return x
        return self._shape_op(x, shape_of(x), lambda a: np.flip(a, axes), lambda t: self.backend.reverse(t, axes))

    def concat(self, xs: Sequence[Value], axis: int) -> Value:
        if len(xs) == 1:
            return xs[0]
        shape = list(shape_of(xs[0]))
        shape[axis] = sum(shape_of(x)[axis] for x in xs)
        if self._all_known(xs) and int(np.prod(shape)) <= FOLD_LIMIT:
            return known(np.concatenate(xs, axis=axis))
        tensors = [self.tensor(x) for x in xs]
        return Tensor(self.backend.concat(tensors, axis), tuple(shape), tensors[0].dtype)

    def take(self, x: Value, indices: Value, axis: int) -> Value:
        """x gathered along `axis` at 1-D int64 `indices` (in range)."""
        shape = list(shape_of(x))
        shape[axis] = shape_of(indices)[0]
        if self._all_known([x, indices]) and int(np.prod(shape)) <= FOLD_LIMIT:
            return known(np.take(x, indices, axis=axis))
        t = self.tensor(x)
        return Tensor(self.backend.take(t, self.tensor(indices), axis), tuple(shape), t.dtype)

    def pad(self, x: Value, low: Sequence[int], high: Sequence[int], value: Value) -> Value:
        """Edge padding by non-negative amounts with the 0-d `value` (known or not)."""
        low, high = [int(v) for v in low], [int(v) for v in high]
        if not any(low) and not any(high):
            return x
        shape = tuple(d + lo + hi for d, lo, hi in zip(shape_of(x), low, high))
        if isinstance(value, np.ndarray):
            if isinstance(x, np.ndarray) and int(np.prod(shape)) <= FOLD_LIMIT:
                return known(np.pad(x, list(zip(low, high)), constant_values=value.reshape(())))
            t = self.tensor(x)
            return Tensor(self.backend.pad(t, low, high, value.reshape(()).item()), shape, t.dtype)
        inside = np.pad(np.ones(shape_of(x), bool), list(zip(low, high)))
        zero = np.zeros((), numpy_dtype(dtype_name(x)))
        return self.where(inside, self.pad(x, low, high, zero), value)

    # -- contractions -------------------------------------------------------------------------
    def matmul(self, a: Value, b: Value, out_dtype: str) -> Tensor:
        """(..., m, k) @ (..., k, n) -> (..., m, n) with equal leading dims."""
        ta, tb = self.tensor(a), self.tensor(b)
        shape = ta.shape[:-1] + tb.shape[-1:]
        return Tensor(self.backend.matmul(ta, tb, out_dtype), shape, out_dtype)

    def csr_matmul(self, x: Value, weights: Value, pre_start: Value, post_index: Value, n_out: int) -> Tensor:
        """x (..., n_in) @ W (..., n_out) for the W whose non-zeros are the synapses
        (aotsnn.components.synapses.csr); the backend sees x as 2-D (m, n_in)."""
        tx, tw = self.tensor(x), self.tensor(weights)
        _check_per_synapse(tw)
        lead = tx.shape[:-1]
        flat = self.tensor(self.reshape(tx, (int(np.prod(lead, dtype=np.int64)), tx.shape[-1])))
        out = Tensor(self.backend.csr_matmul(flat, tw, self.tensor(pre_start), self.tensor(post_index), n_out),
                     (flat.shape[0], n_out), tx.dtype)
        return self.reshape(out, (*lead, n_out))

    def csr_correlate(self, a: Value, z: Value, pre_start: Value, post_index: Value) -> Tensor:
        """(n_syn,): sum over the leading axes of a[..., pre(s)] * z[..., post_index[s]]."""
        ta, tz, tp = self.tensor(a), self.tensor(z), self.tensor(post_index)
        rows = int(np.prod(ta.shape[:-1], dtype=np.int64))
        flat_a = self.tensor(self.reshape(ta, (rows, ta.shape[-1])))
        flat_z = self.tensor(self.reshape(tz, (rows, tz.shape[-1])))
        return Tensor(self.backend.csr_correlate(flat_a, flat_z, self.tensor(pre_start), tp), tp.shape, ta.dtype)

    def reduce(self, kind: str, x: Value, axes: Sequence[int]) -> Value:
        axes = sorted(int(a) for a in axes)
        if not axes:
            return x
        t = self.tensor(x)
        shape = tuple(d for i, d in enumerate(t.shape) if i not in axes)
        return Tensor(self.backend.reduce(kind, t, axes), shape, t.dtype)

    def conv(self, x: Value, w: Value, strides, padding, dilation, groups: int, out_dtype: str) -> Tensor:
        """Convolution in the canonical layouts x (N, C, *S), w (O, I, *K) -> (N, O, *S')."""
        tx, tw = self.tensor(x), self.tensor(w)
        spatial = tuple((s + lo + hi - ((k - 1) * d + 1)) // st + 1 for s, k, (lo, hi), d, st
                        in zip(tx.shape[2:], tw.shape[2:], padding, dilation, strides))
        shape = (tx.shape[0], tw.shape[0], *spatial)
        return Tensor(self.backend.conv(tx, tw, strides, padding, dilation, groups, out_dtype), shape, out_dtype)


def _check_per_synapse(weights: Tensor) -> None:
    if len(weights.shape) != 1:
        raise ValueError(f"the weights of a sparse synapse must be one vector (n_syn,), got shape {weights.shape}: "
                         "per-sample weights (Network.per_sample) of a sparse synapse are not supported; give the "
                         "samples one weight vector, or make the synapse dense.")
