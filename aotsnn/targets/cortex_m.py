"""Bare-metal Cortex-M4F (single-precision FPU): the C bundle built with gcc-arm-none-eabi and
newlib, run here on qemu's MPS2 AN386 board with semihosting for files and the console.

TVM's argument checks are compiled out of the kernels (`kernel_checks=False`): the driver builds
every tensor itself, and the checks' messages would cost flash.
"""
from aotsnn.targets import Target

TARGET = Target(
    name="cortex-m",
    description="bare-metal Cortex-M4F (C bundle, gcc-arm-none-eabi + newlib; qemu mps2-an386 here)",
    tvm_target={"kind": "c"},
    artifact="c-bundle",
    cc="arm-none-eabi-gcc",
    ar="arm-none-eabi-ar",
    cflags=("-O2", "-std=c99", "-ffp-contract=off", "-fno-fast-math", "-fno-strict-aliasing", "-mcpu=cortex-m4",
            "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-ffunction-sections", "-fdata-sections"),
    ldflags=("-nostartfiles", "-T", "mps2.ld", "--specs=nano.specs", "-Wl,--gc-sections"),
    platform="semihost",
    runner=("qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
            "-semihosting-config", "enable=on,target=native", "-kernel"),
    kernel_checks=False,
    size_tool="arm-none-eabi-size",
    requires={"arm-none-eabi-gcc": "gcc-arm-none-eabi",
              "/usr/lib/arm-none-eabi/newlib/thumb/v7e-m+fp/hard/libc_nano.a": "libnewlib-arm-none-eabi",
              "qemu-system-arm": "qemu-system-arm", "make": "make"},
    rtol=1e-5,
    atol=1e-4,
)
