"""Portable C99 source bundle, built and run natively here (gcc): no runtime library at all.

TVM's C backend writes the kernels; the bundle adds the driver, `<model>.h` and a Makefile.
The same sources are what the cross targets (aarch64-linux, riscv64-linux, cortex-m) compile.
"""
from aotsnn.targets import Target

TARGET = Target(
    name="c",
    description="portable C99 bundle, no runtime dependency (TVM C backend; built with gcc here)",
    tvm_target={"kind": "c"},
    artifact="c-bundle",
    cc="gcc",
    size_tool="size",
    cflags=("-O2", "-std=c99", "-ffp-contract=off", "-fno-fast-math", "-fno-strict-aliasing"),
    requires={"gcc": "gcc", "make": "make"},
    rtol=1e-5,
    atol=1e-4,
)
