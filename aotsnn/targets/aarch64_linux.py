"""64-bit Arm Linux (Raspberry Pi 4/5, Jetson CPUs, Graviton): the C bundle cross-compiled with
Debian's gcc-aarch64-linux-gnu, run here under qemu-user."""
from aotsnn.targets import Target

TARGET = Target(
    name="aarch64-linux",
    description="64-bit Arm Linux (C bundle, gcc-aarch64-linux-gnu; qemu-aarch64 here)",
    tvm_target={"kind": "c"},
    artifact="c-bundle",
    cc="aarch64-linux-gnu-gcc",
    size_tool="aarch64-linux-gnu-size",
    ar="aarch64-linux-gnu-ar",
    cflags=("-O2", "-std=c99", "-ffp-contract=off", "-fno-fast-math", "-fno-strict-aliasing"),
    runner=("qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"),
    requires={"aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu",
              "/usr/aarch64-linux-gnu/include/stdio.h": "libc6-dev-arm64-cross",
              "qemu-aarch64": "qemu-user", "make": "make"},
    rtol=1e-5,
    atol=1e-4,
)
