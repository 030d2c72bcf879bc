"""64-bit RISC-V Linux (RV64GC: VisionFive 2, Milk-V): the C bundle cross-compiled with Debian's
gcc-riscv64-linux-gnu, run here under qemu-user."""
from aotsnn.targets import Target

TARGET = Target(
    name="riscv64-linux",
    description="64-bit RISC-V Linux, RV64GC (C bundle, gcc-riscv64-linux-gnu; qemu-riscv64 here)",
    tvm_target={"kind": "c"},
    artifact="c-bundle",
    cc="riscv64-linux-gnu-gcc",
    size_tool="riscv64-linux-gnu-size",
    ar="riscv64-linux-gnu-ar",
    cflags=("-O2", "-std=c99", "-ffp-contract=off", "-fno-fast-math", "-fno-strict-aliasing"),
    runner=("qemu-riscv64", "-L", "/usr/riscv64-linux-gnu"),
    requires={"riscv64-linux-gnu-gcc": "gcc-riscv64-linux-gnu",
              "/usr/riscv64-linux-gnu/include/stdio.h": "libc6-dev-riscv64-cross",
              "qemu-riscv64": "qemu-user", "make": "make"},
    rtol=1e-5,
    atol=1e-4,
)
