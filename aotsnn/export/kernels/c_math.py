"""Math intrinsics for TVM's C backend: every one TVM emits becomes a C99 <math.h> call.

TVM's C codegen lowers most float intrinsics through its "default" rules to the C99 function
(`tirx.exp` -> `expf`/`exp`, `tirx.round` -> `nearbyintf`, ...), but a few have no rule for
target "c" and fail at code generation with `Unresolved call ... name="tirx.fabs"`. Measured on
TVM 0.27 (every float intrinsic of `tvm.tirx`, float32 and float64): `fabs` (also behind
`isinf`/`isfinite`), `fmod` (StableHLO `remainder`), `exp2` and `exp10`. This module registers
lowering rules for target kind "c" (TVM's extension point: `tvm.tirx.op.register_intrin_lowering`,
looked up as `c.FLowerIntrinsic` before the default rules) that turn the C99 ones into calls of
the C99 function of the operand's precision (`fabsf` for float32, `fabs` for float64). `exp10`
is not C99 and stays unresolved: a kernel that needs it is refused at compile time
(aotsnn.export.kernels.c_kernels names the kernel, its component and the op).

`C99_MATH` is also the list of libm symbols a bundle may leave undefined; anything else the
compiled kernels need from outside is refused (aotsnn.export.kernels.c_kernels.check_symbols).
"""
from __future__ import annotations

from tvm import tirx
from tvm.tirx.op import register_intrin_lowering

# C99 <math.h> functions (double names; the float32 variant adds "f") that a bundle may call.
C99_MATH = frozenset((
    "acos", "asin", "atan", "atan2", "cos", "sin", "tan", "acosh", "asinh", "atanh", "cosh", "sinh", "tanh",
    "exp", "exp2", "expm1", "log", "log10", "log1p", "log2", "logb", "ilogb", "frexp", "ldexp", "modf", "scalbn",
    "cbrt", "fabs", "hypot", "pow", "sqrt", "erf", "erfc", "lgamma", "tgamma", "ceil", "floor", "nearbyint",
    "rint", "lrint", "round", "lround", "trunc", "fmod", "remainder", "copysign", "nextafter", "fdim", "fmax",
    "fmin"))
# TIR intrinsics without a rule for target "c" in TVM 0.27 whose C99 function we call instead.
RESOLVED = {"tirx.fabs": "fabs", "tirx.fmod": "fmod", "tirx.exp2": "exp2"}
SUFFIX = {"float32": "f", "float64": ""}
RULE_LEVEL = 20      # above TVM's own registrations (level 10), should a later TVM add one


def c99_name(function: str, dtype: str) -> str | None:
    """The C99 function for `function` on scalars of `dtype` (None: no C99 variant)."""
    return function + SUFFIX[dtype] if dtype in SUFFIX else None


def _rule(function: str):
    def lower(call: tirx.PrimExpr) -> tirx.PrimExpr:
        dtype = str(call.ty.dtype)
        name = c99_name(function, dtype)
        if name is None:      # vector or 16-bit lanes: leave it, the build names it
            return call
        return tirx.call_pure_extern(dtype, name, *call.args)
    return lower


def c99_symbols() -> frozenset[str]:
    """Every libm symbol a C bundle may call: C99_MATH in float32 and float64."""
    return frozenset(name + suffix for name in C99_MATH for suffix in SUFFIX.values())


_registered = False


def register_c_rules() -> None:
    """Register the rules of RESOLVED for target "c" (once per process)."""
    global _registered
    if _registered:
        return
    for op, function in RESOLVED.items():
        register_intrin_lowering(op, "c", f=_rule(function), level=RULE_LEVEL)
    _registered = True
