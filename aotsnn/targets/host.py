"""The machine that builds the artifact: TVM's LLVM backend for its CPU (vector extensions included)."""
import platform

from aotsnn.targets import Target

TARGET = Target(
    name="host",
    description="this machine's CPU (LLVM)",
    tvm_target={"kind": "llvm"},
    machine=platform.machine(),
    cflags=("-O2", "-fno-fast-math", "-pthread"),
    native_cpu=True,
    rtol=1e-5,
    atol=1e-4,
)
