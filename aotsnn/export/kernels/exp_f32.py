"""An accurate, vectorisable float32 exp for the kernels (Cephes `expf`).

TVM lowers `exp` to a scalar libm call, which keeps LLVM from vectorising the soma loops; TVM's
own `fast_exp` vectorises but is off by up to ~70 ulp. This is the Cephes algorithm, pure
arithmetic, within about 1 ulp of the correctly rounded result (the test measures it):

    x = clamp(x, -87.336, 88.376)                         # 2^n stays a normal float32
    n = floor(x * log2(e) + 1/2);  r = x - n*C1 - n*C2    # Cody-Waite: C1 + C2 = ln 2
    p = ((((c5 r + c4) r + c3) r + c2) r + c1) r + c0;  e^r = p r^2 + r + 1
    exp(x) = e^r * 2^n                                     # 2^n built from its exponent bits

Below -87.336 the result is the smallest normal float32 instead of a denormal or zero (relative
error below 1e-38 in absolute terms; spikes and potentials do not see it); above 88.376 it
saturates at ~2.4e38 instead of Inf. Other dtypes keep TVM's exp.
"""
from __future__ import annotations

from tvm import te, tirx

LOG2E = 1.44269504088896341
C1, C2 = 0.693359375, -2.12194440e-4
POLY = (5.0000001201e-1, 1.6666665459e-1, 4.1665795894e-2, 8.3334519073e-3, 1.3981999507e-3, 1.9875691500e-4)
LOW, HIGH = -87.33654, 88.37626  # keep n = floor(x log2 e + 1/2) within [-126, 127]


def exp_f32(x: te.Tensor) -> te.Tensor:
    """Elementwise exp of a float32 tensor (TE), per the module docstring."""
    f32 = lambda v: tirx.const(v, "float32")

    def element(*index):
        v = tirx.max(tirx.min(x(*index), f32(HIGH)), f32(LOW))
        y = v * f32(LOG2E) + f32(0.5)
        truncated = y.astype("int32").astype("float32")      # floor without a libm call:
        n = truncated - tirx.Select(y < truncated, f32(1.0), f32(0.0))   # SSE2 has no vector floor
        r = v - n * f32(C1) - n * f32(C2)
        poly = f32(POLY[-1])
        for c in reversed(POLY[:-1]):
            poly = poly * r + f32(c)
        er = poly * (r * r) + r + f32(1.0)
        scale = tirx.reinterpret("float32", (n.astype("int32") + 127) << 23)
        return er * scale

    return te.compute(x.shape, element, name="exp_f32")
